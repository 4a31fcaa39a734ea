"""Timings of the clinic's commands (issue 13): `diagnose` cold (empty diagnose cache) and warm (the goal:
about a second), one loading test, one fit. Compiled model kernels are warm in both cases.

    .venv/bin/python benchmarks/bench_clinic.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "examples" / "clinic" / "gitelman_labs.toml"


def _cli(*args, env=None) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mgflux.cli.main", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def main() -> None:
    import shutil

    cache = os.environ.get("MGFLUX_CACHE_DIR")
    _cli("steady", str(ROOT / "scenarios" / "healthy.toml"))  # compiled kernels in the cache
    if cache:
        shutil.rmtree(Path(cache) / "diagnose", ignore_errors=True)
    rows = [("diagnose, cold (simulates ~70 causes x 1000 patients)", _cli("diagnose", str(LABS))),
            ("diagnose, warm (cached patients; whole process)", min(_cli("diagnose", str(LABS)) for _ in range(3))),
            ("loading-test at steady state (whole process)",
             min(_cli("loading-test", str(ROOT / "scenarios" / "healthy.toml")) for _ in range(3))),
            ("fit cetuximab.dose, 13 values (whole process)",
             min(_cli("fit", str(ROOT / "scenarios" / "combinations" / "cetuximab_course_with_stop.toml"), "--data",
                      str(ROOT / "examples" / "clinic" / "cetuximab_serum.csv"), "--estimate", "cetuximab.dose")
                 for _ in range(3)))]
    rows.append(("steady healthy.toml (whole process: start-up reference)",
                 min(_cli("steady", str(ROOT / "scenarios" / "healthy.toml")) for _ in range(3))))
    import mgflux

    mgflux.diagnose(LABS)
    t = time.perf_counter()
    mgflux.diagnose(LABS)
    rows.append(("mgflux.diagnose warm, in process", time.perf_counter() - t))
    for name, s in rows:
        print(f"{name:60s} {s:7.2f} s")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
