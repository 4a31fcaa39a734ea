"""Batched steady states (issue 4): timings against a loop of scipy.optimize.root on the same numba model.

Run:  .venv/bin/python benchmarks/bench_batch.py [--quick] [--json]
``run(quick)`` returns rows (name, seconds, baseline_seconds, ratio = baseline / mgflux, n, note) for
``run_all.py``. Timings are with a warm numba cache (best of repeats); the first call with an empty cache is
measured in a fresh process (its own row). Rows:

- population-like batch: 100,000 virtual adults (models/population.toml spreads) at steady state;
- robustness batch: 100,000 sets with every ranged parameter uniform over its documented range at once (far
  from the nominal state: more Newton iterations); the status counts are in the note;
- baseline: ``scipy.optimize.root`` (hybr) with the same numba ``rhs`` and exact ``jacobian``, one set at
  a time from the model's guess, on a subsample, extrapolated per set;
- population time courses: 10,000 virtual patients x 1 year (ppi.toml) with the batched Rodas4 integrator,
  against a loop of ``solve_ivp`` (Radau, numba rhs + jacobian, same tolerances), see ``timecourse_rows``.
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


def _best(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def compile_time() -> tuple[float, float]:
    """A first sweep (10 points) in a fresh process with empty caches: (seconds until it answers, seconds until
    the batch kernels it compiles in the background are cached). The second is the compile cost a large first
    batch would wait for; the benchmark waits for it so that no compile loads the machine during the next rows."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MGFLUX_CACHE_DIR=d, NUMBA_CACHE_DIR=d)
        env.pop("MGFLUX_NO_BACKGROUND_COMPILE", None)
        code = ("import time; t = time.perf_counter(); import mgflux; "
                f"mgflux.sweep({str(HEALTHY)!r}, ['gfr=60:150:10']); "
                "print(time.perf_counter() - t)")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        answer = float(out.stdout.strip().splitlines()[-1])
        while list(Path(d).glob("compiling-*.lock")) and time.perf_counter() - t0 < 1800:
            time.sleep(0.2)
        return answer, time.perf_counter() - t0


def run(quick: bool = False) -> list[dict]:
    import numpy as np
    from scipy.optimize import root

    import mgflux
    from mgflux.engine import batch as engine_batch  # the batch kernels themselves (internal)
    from mgflux.engine.codegen import compiled
    from mgflux.studies.sensitivity import sensitivity_matrices  # the local-sensitivity kernel (internal)

    answer, compiled_after = compile_time()
    rows = [{"name": "first sweep, empty caches (answers in plain Python; batch kernels compile in the background)",
             "seconds": answer, "n": None},
            {"name": "batch kernels compiled and cached, empty caches (the background compile of that sweep)",
             "seconds": compiled_after, "n": None}]
    sc = mgflux.load_scenario(HEALTHY)
    model = sc.model
    mod = compiled(model)
    N = 20_000 if quick else 100_000
    reps = 2 if quick else 3
    p0 = mgflux.parameter_sets(sc)[0]
    warm = engine_batch.nominal(model, p0)

    facs, X, _ = mgflux.population_design(sc, N, seed=1)
    P_pop = mgflux.parameter_sets(sc, dict(zip(facs, X.T)))
    engine_batch.solve_batch(model, P_pop[:100], warm=warm)  # compile / load from cache
    t_pop, (Y, st, _) = _best(lambda: engine_batch.solve_batch(model, P_pop, warm=warm), reps)

    rng = np.random.default_rng(0)
    rf = [mgflux.factor(sc, p.name) for p in model.parameters if p.range is not None and p.range[1] > p.range[0]]
    Xr = np.column_stack([rng.uniform(*f.documented_range, N) for f in rf])
    P_rand = mgflux.parameter_sets(sc, dict(zip(rf, Xr.T)))
    t_rand, (Yr, str_, sg) = _best(lambda: engine_batch.solve_batch(model, P_rand, warm=warm), 1 if quick else 2)
    counts = {mgflux.Status(int(k)).label: int(v) for k, v in zip(*np.unique(str_, return_counts=True))}
    nan_ok = int(np.isnan(Yr[str_ == 0]).sum())

    # baseline: scipy.optimize.root (hybr) with the numba rhs and jacobian, one set at a time
    guess = model.guess_vector()
    nb_ = 300 if quick else 1000

    def one(p):
        def f(y):
            dy = np.empty_like(y)
            mod.rhs(y, p, dy)
            return dy

        def jac(y):
            J = np.empty((y.size, y.size))
            mod.jacobian(y, p, J)
            return J

        return root(f, guess, jac=jac, method="hybr")

    def root_loop(PP):
        """Seconds per N sets (extrapolated from nb_ timed) and how many of the timed sets converged."""
        one(PP[0])
        t0 = time.perf_counter()
        ok = sum(bool(one(PP[i]).success) for i in range(nb_))
        return (time.perf_counter() - t0) / nb_ * N, ok

    t_root, conv = root_loop(P_pop)
    t_root_r, conv_r = root_loop(P_rand)

    rows.append({"name": f"{N:,} steady states, virtual population (steady_chunk on a thread pool)", "seconds": t_pop, "n": N,
                 "baseline": "loop of scipy.optimize.root(hybr), same numba rhs + jacobian",
                 "baseline_seconds": t_root, "ratio": t_root / t_pop,
                 "note": f"all ok: {bool((st == 0).all())}; root loop timed on {nb_} sets "
                         f"({conv} converged), extrapolated"})
    rows.append({"name": f"{N:,} steady states, every ranged parameter uniform over its range", "seconds": t_rand,
                 "n": N, "baseline": "loop of scipy.optimize.root(hybr), same numba rhs + jacobian",
                 "baseline_seconds": t_root_r, "ratio": t_root_r / t_rand,
                 "note": f"status {counts}; NaN in ok states: {nan_ok}; root loop timed on {nb_} of these sets "
                         f"({conv_r} converged: hybr from the model's guess has no fallback), extrapolated"})
    t_sens, _ = _best(lambda: sensitivity_matrices(model, Y[:10000], P_pop[:10000]), reps)
    rows.append({"name": "10,000 local sensitivity matrices (states and observables x 56 parameters)",
                 "seconds": t_sens, "n": 10000})
    rows += timecourse_rows(quick)
    return rows


def timecourse_rows(quick: bool = False) -> list[dict]:
    """Population time courses: 10,000 virtual patients x 1 year of the PPI scenario (drug from day 30), with
    the batched Rodas4 kernel (`population(..., days=365)`: initial steady states, time courses, serum at every
    day, nadir) against a loop of solve_ivp (Radau, the numba rhs and jacobian, same rtol/atol, same segments and
    output grid) on a subsample, extrapolated per patient."""
    import numpy as np
    from scipy.integrate import solve_ivp

    import mgflux
    from mgflux.engine import batch as engine_batch  # the batch kernels themselves (internal)
    from mgflux.engine.codegen import compiled

    sc = mgflux.load_scenario(ROOT / "scenarios" / "drugs" / "ppi.toml")
    model = sc.model
    mod = compiled(model)
    N = 10_000
    days = 365.0
    mgflux.population(sc, 50, seed=1, days=days)  # load the kernels
    t_pop, pr = _best(lambda: mgflux.population(sc, N, seed=1, days=days), 1 if quick else 2)
    tc = pr.timecourse
    opts = mgflux.TimecourseOptions()
    t_int, (Yb, stb, steps) = _best(lambda: engine_batch.integrate_batch(model, tc.Y[:, 0], tc.Pseg, tc.edges, tc.time_day,
                                                                   options=opts), 1 if quick else 2)
    # baseline: one patient at a time with solve_ivp Radau, numba rhs + jacobian, same tolerances
    nb_ = 20 if quick else 60
    ref = np.nanmax(np.abs(tc.Y[:, 0]), axis=0)
    atol = opts.atol_scale * np.maximum(1.0, ref)

    def one(k):
        y = tc.Y[k, 0].copy()
        out = []
        for s in range(tc.edges.size - 1):
            p = tc.Pseg[k, s]
            t0, t1 = tc.edges[s], tc.edges[s + 1]
            te = tc.time_day[(tc.time_day >= t0) & (tc.time_day <= t1)]

            def f(t, x, p=p):
                dx = np.empty_like(x)
                mod.rhs(x, p, dx)
                return dx

            def jac(t, x, p=p):
                J = np.empty((x.size, x.size))
                mod.jacobian(x, p, J)
                return J

            sol = solve_ivp(f, (t0, t1), y, method="Radau", jac=jac, t_eval=te, rtol=opts.rtol, atol=atol)
            out.append(sol.y)
            y = sol.y[:, -1].copy()
        return np.concatenate(out, axis=1)

    one(0)
    t0 = time.perf_counter()
    worst = 0.0
    for k in range(nb_):
        yk = one(k)
        worst = max(worst, float(np.max(np.abs(yk[:, -1] - Yb[k, -1]) / np.maximum(np.abs(Yb[k, -1]), 1e-9))))
    t_loop = (time.perf_counter() - t0) / nb_ * N
    s = pr.summary()
    return [
        {"name": f"{N:,} virtual patients x 1 year time courses (population --days 365, ppi.toml)", "seconds": t_pop,
         "n": N, "baseline": "loop of solve_ivp(Radau), numba rhs + jacobian, same tolerances",
         "baseline_seconds": t_loop, "ratio": t_loop / t_pop,
         "note": f"status {s['status']}; mean {steps.mean():.0f} Rodas4 steps per patient; incidence at day 365 "
                 f"{s['incidence_percent']:.1f}%, by the nadir {s['nadir']['incidence_percent']:.1f}%; solve_ivp "
                 f"loop timed on {nb_} patients, extrapolated (final states agree to {worst:.1e})"},
        {"name": f"{N:,} x 1 year: the Rodas4 integration alone (integrate_batch)", "seconds": t_int, "n": N,
         "baseline_seconds": t_loop, "ratio": t_loop / t_int, "note": f"rtol {opts.rtol:g}"},
    ]


def main():
    quick = "--quick" in sys.argv
    rows = timecourse_rows(quick) if "--timecourse" in sys.argv else run(quick)
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = f"   baseline {r['baseline_seconds']:8.2f} s  ratio {r['ratio']:.1f}x" if r.get("ratio") else ""
        print(f"{r['name']:{w}}  {r['seconds']:8.3f} s{extra}  {r.get('note', '')}")
    if "--json" in sys.argv:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
