"""The web page's answer to a steady-state change (issue 14: under 0.3 s on this machine).

Run:  .venv/bin/python benchmarks/bench_web.py [--quick] [--json]
``run(quick)`` returns rows for ``run_all.py``. It starts ``mgflux serve --no-browser`` in its own process (as a
user does), waits until the page answers, then moves a "slider": the Gitelman patient's diet from 100 to 1000
mg/day, one request per step, over real HTTP on 127.0.0.1 (each value new to the load cache, as a slider's are).
Each step is what the page sends on a change: POST /api/steady and POST /api/compare (the tiles and the
waterfall). Rows: the median and the slowest step.
"""
from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

MGFLUX = Path(sys.executable).with_name("mgflux")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(quick: bool = False) -> list[dict]:
    import httpx

    port = _port()
    proc = subprocess.Popen([str(MGFLUX), "serve", "--no-browser", "--port", str(port)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 600:
                raise RuntimeError(f"mgflux serve did not start: {proc.stderr.read().decode()}")
            time.sleep(0.1)
        startup = time.perf_counter() - t0
        steps = range(100, 1001, 50 if quick else 10)
        times = []
        with httpx.Client(base_url=base) as c:
            offset = random.random()  # values this cache has not seen: mgflux keeps unit conversions on disk
            for mg in steps:
                body = {"diet": {"mg_intake": f"{mg + offset:.6f} mg/day"}, "perturbation": [{"name": "SLC12A3"}]}
                t = time.perf_counter()
                a = c.post("/api/steady", json=body)
                b = c.post("/api/compare", json=body)
                times.append(time.perf_counter() - t)
                assert a.status_code == b.status_code == 200, (a.text, b.text)
        first = times[0]
        times = times[1:]
    finally:
        proc.terminate()
        proc.wait(10)
    note = (f"POST /api/steady + /api/compare over HTTP to `mgflux serve`, Gitelman patient, diet 100-1000 mg/day "
            f"({len(times)} steps after the first; first {first * 1e3:.1f} ms; server start {startup:.1f} s); "
            "target < 0.3 s")
    return [{"name": "web page: steady-state change, median", "seconds": statistics.median(times), "n": None,
             "note": note},
            {"name": "web page: steady-state change, slowest", "seconds": max(times), "n": None, "note": note}]


if __name__ == "__main__":
    rows = run("--quick" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['name']:45s} {r['seconds'] * 1e3:8.1f} ms")
        print(rows[0]["note"])
