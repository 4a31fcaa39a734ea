"""A/B of the batch rows against another checkout (issues 10 and 11: "within 1.3x / 1.5x of today's rows").

Run:  .venv/bin/python benchmarks/ab.py /path/to/other/checkout [--rounds 3] [--timecourse] [--full]

Each round runs ``benchmarks/bench_batch.py``'s own rows (``run(quick)``: steady states of a virtual population
and of full-range sets, sensitivities, 10,000 patients x 1 year) of the other checkout *A* with its own venv
(``A/.venv/bin/python``), then of this checkout *B* with this interpreter, back to back, in fresh processes,
each with its own MGFLUX/NUMBA cache folders (kept between rounds: warm). The empty-cache compile row is
skipped (``--compile`` measures it too). Times are the CPU seconds of the process over all its threads (``--wall``:
bench_batch's wall-clock seconds), the measure a shared machine disturbs least. Rows are matched by name; the table shows the best time of each side
over the rounds and the ratio B/A per row, i.e. per set (every row has the same number of sets in both).
Read the ratios: on a shared machine the absolute times move by 2x, the ratios of back-to-back runs much less.

``--quick`` is the default (20,000 steady states per set row); ``--full`` runs the 100,000 of the README table.
``--timecourse``: only the 10,000 x 1 year rows. Cache folders: ``--cache DIR`` (default: the system's temporary
folder), one subfolder per checkout.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@AB@@"

SNIPPET = r"""
import json, math, sys
sys.path.insert(0, "benchmarks")
import bench_batch as b
import mgflux
if not {compile}:
    # skipped: NaN in the shape each checkout's compile_time returns (one number, or answer and compile)
    b.compile_time = (lambda: (math.nan, math.nan)) if "tuple" in str(b.compile_time.__annotations__.get("return")) else (lambda: math.nan)
if {cpu}:  # CPU seconds of the whole process (every thread): what a loaded machine disturbs least
    import time
    def _best(fn, repeat):
        best, out = float("inf"), None
        for _ in range(repeat):
            t = time.process_time()
            out = fn()
            best = min(best, time.process_time() - t)
        return best, out
    b._best = _best
rows = b.timecourse_rows({quick}) if {tc} else b.run({quick})
m = mgflux.load_scenario(b.HEALTHY).model
print({mark!r} + json.dumps({{"rows": rows, "mgflux": mgflux.__file__, "states": len(m.states), "parameters": len(m.parameters),
                              "observables": len(m.observable_names)}}, default=float))
"""


def _one(checkout: Path, python: str, cache: Path, quick: bool, tc: bool, compile_: bool, cpu: bool) -> dict:
    tag = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:8]
    env = dict(os.environ, MGFLUX_CACHE_DIR=str(cache / f"{checkout.name}-{tag}-mgflux"),
               NUMBA_CACHE_DIR=str(cache / f"{checkout.name}-{tag}-numba"))
    env["PYTHONPATH"] = str(checkout / "src")  # its own source, whatever its venv's editable install points to
    code = SNIPPET.format(compile=compile_, quick=quick, tc=tc, mark=MARK, cpu=cpu)
    out = subprocess.run([python, "-c", code], cwd=checkout, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ab: {checkout} failed:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith(MARK)][-1]
    return json.loads(line[len(MARK):])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="checkout A (the reference), with its own .venv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timecourse", action="store_true", help="only the 10,000 x 1 year rows")
    ap.add_argument("--full", action="store_true", help="100,000 sets per steady row (default: --quick's 20,000)")
    ap.add_argument("--compile", action="store_true", help="also the empty-cache first-sweep row")
    ap.add_argument("--wall", action="store_true",
                    help="wall-clock seconds (bench_batch's own); default: CPU seconds of the process, all threads, "
                         "which other processes on a shared machine disturb far less")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mgflux-ab")
    args = ap.parse_args(argv)
    a_py = args.other / ".venv" / "bin" / "python"
    if not a_py.exists():
        ap.error(f"{a_py} not found (checkout A needs its own venv)")
    sides = {"A": (args.other, str(a_py)), "B": (ROOT, sys.executable)}
    best: dict = {"A": {}, "B": {}}
    info: dict = {}
    for r in range(args.rounds):
        for side, (path, py) in sides.items():
            res = _one(path, py, args.cache, not args.full, args.timecourse, args.compile, not args.wall)
            info[side] = res
            for row in res["rows"]:
                s = row["seconds"]
                old = best[side].get(row["name"])
                best[side][row["name"]] = s if old is None or not (old <= s) else old
                print(f"round {r + 1} {side} {s:8.3f} s  {row['name']}", flush=True)
    print()
    for side, (path, _) in sides.items():
        i = info[side]
        print(f"{side}: {path} ({i['mgflux']})  model: {i['states']} states, {i['parameters']} parameters, "
              f"{i['observables']} observables")
    what = "wall-clock" if args.wall else "CPU (all threads)"
    print(f"\n{what} seconds, best of {args.rounds} rounds; ratio = B / A (per set: same number of sets on both sides)\n")
    w = max(len(n) for n in best["B"])
    print(f"{'row':{w}}  {'A':>9}  {'B':>9}  {'B/A':>6}")
    for name, tb in best["B"].items():
        ta = best["A"].get(name)
        ratio = f"{tb / ta:6.2f}" if ta and ta == ta and tb == tb else "     -"
        fa = f"{ta:8.3f}s" if ta is not None else "        -"
        print(f"{name:{w}}  {fa}  {tb:8.3f}s  {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
