"""Core timings: numba compile time (empty cache), one steady state, one 1-year time course.

Run:  .venv/bin/python benchmarks/bench_core.py
Compile time is measured in a fresh process with an empty cache (MGFLUX_CACHE_DIR and NUMBA_CACHE_DIR point
to a temporary folder), so it is the cost a new user pays once; the other timings are with a warm cache
(best of several repeats). The baseline in the same run is solve_ivp/optimize.root on the same compiled
model without mgflux's solver choices, so the ratios say what mgflux's numerics add or save.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "scenarios" / "healthy.toml"

YEAR = """
[scenario]
name = "bench: one year"
duration = "365 day"
[diet]
mg_intake = "300 mg/day"
[[perturbation]]
name = "starvation"
dose = 0.7
start = "30 day"
stop = "200 day"
"""


def compile_time() -> float:
    """Seconds for the first steady state + time course in a fresh process with empty caches."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MGFLUX_CACHE_DIR=d, NUMBA_CACHE_DIR=d)
        # numba backend: the plain-Python path of a single steady state would compile nothing
        code = ("import time, mgflux; t = time.perf_counter(); "
                f"mgflux.steady_state({str(HEALTHY)!r}, options=mgflux.SteadyOptions(backend='numba')); "
                "print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])


def best_of(fn, repeat=5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(quick: bool = False) -> list[dict]:
    import numpy as np
    from scipy.optimize import root

    import mgflux
    from mgflux.engine.codegen import compiled

    rows = []
    rows.append({"name": "first steady state, empty numba cache (compile)", "seconds": compile_time()})

    sc = mgflux.load_scenario(HEALTHY)
    mgflux.steady_state(sc)  # warm
    t_ss = best_of(lambda: mgflux.steady_state(sc), 3 if quick else 10)
    model = sc.model
    mod = compiled(model)
    p = mgflux.parameter_sets(sc, steady=False)[0]
    guess = model.guess_vector()

    def scipy_root():
        def f(y):
            dy = np.empty_like(y)
            mod.rhs(y, p, dy)
            return dy

        def jac(y):
            J = np.empty((y.size, y.size))
            mod.jacobian(y, p, J)
            return J

        r = root(f, guess, jac=jac, method="hybr")
        return r

    t_root = best_of(scipy_root, 3 if quick else 10)
    rows.append({"name": "steady state (mgflux.steady_state)", "seconds": t_ss,
                 "baseline": "scipy.optimize.root(hybr) on the same numba RHS+Jacobian", "baseline_seconds": t_root,
                 "ratio": t_ss / t_root})

    import tomllib

    year = mgflux.scenario_from_dict(tomllib.loads(YEAR))
    mgflux.simulate(year)
    t_run = best_of(lambda: mgflux.simulate(year), 2 if quick else 5)
    rows.append({"name": "1-year time course, 2 dosing edges (mgflux.simulate)", "seconds": t_run})
    return rows


def main():
    quick = "--quick" in sys.argv
    rows = run(quick)
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = f"   baseline {r['baseline_seconds'] * 1e3:8.2f} ms  ratio {r['ratio']:.2f}" if "ratio" in r else ""
        print(f"{r['name']:{w}}  {r['seconds'] * 1e3:9.2f} ms{extra}")
    if "--json" in sys.argv:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
