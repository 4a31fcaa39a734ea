
"""The benchmark suite: mgflux against a plain scipy baseline and libRoadRunner, on the same model, in one run.

    .venv/bin/python benchmarks/run_all.py            # full run (< 10 min on 2 cores), table + results.json
    .venv/bin/python benchmarks/run_all.py --quick    # fewer repeats and points, for a smoke test

What is compared (benchmarks/README.md has the why):

- mgflux: the package as users call it (``mgflux.steady_state``, ``mgflux.simulate``, the ``mgflux`` command);
- baseline: the same model formulas as a pure-Python right-hand side with ``scipy.integrate.solve_ivp`` (LSODA)
  and ``scipy.optimize.root`` (hybr), Jacobians by finite differences (``baseline.py``): what a modeller writes
  by hand;
- libRoadRunner: the SBML file ``mgflux export-sbml`` writes, loaded with ``conservedMoieties=True``; CVODE
  time courses, NLEQ2 steady states. States are mapped by id, never by position.

Every comparison first checks that the three engines agree (steady states 1e-6, time courses 1e-5 relative, on
every state at every output time); a disagreement stops the run before any time is reported. Times are the
best of several repeats with warm caches; compile time is its own row (fresh process, empty caches).
Rows from ``bench_core.py`` (the lead's core timings), ``bench_batch.py`` (batched steady states and
populations) and ``bench_web.py`` (the web page's answer to a steady-state change) are included when those files
are present.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import baseline  # noqa: E402
import mgflux  # noqa: E402
from mgflux.engine import steady as engine_steady  # noqa: E402 (benches of the internal kernels)
from mgflux.engine.codegen import compiled  # noqa: E402

SCENARIOS = ROOT / "scenarios"
MGFLUX_CLI = Path(sys.executable).with_name("mgflux")
STEADY_REL = 1e-6
COURSE_REL = 1e-5
RTOL, ATOL = 1e-9, 1e-12  # mgflux's defaults (RunOptions); the other engines get the same


class Disagreement(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------- utilities


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def agree(label: str, values: dict, rel: float) -> float:
    """Largest relative difference of each engine from mgflux; raise if any exceeds *rel*."""
    ref = np.asarray(values["mgflux"], float)
    worst = 0.0
    for engine, v in values.items():
        v = np.asarray(v, float)
        if v.shape != ref.shape:
            raise Disagreement(f"{label}: {engine} returned shape {v.shape}, mgflux {ref.shape}")
        err = float(np.max(np.abs(v - ref) / np.maximum(np.abs(ref), 1e-12)))
        if not err <= rel:
            raise Disagreement(f"{label}: {engine} differs from mgflux by {err:.3g} (relative; allowed {rel:g})")
        worst = max(worst, err)
    return worst


def constant(name: str, days: float = 365) -> mgflux.Scenario:
    """A scenario file with its windows removed: everything acts from day 0 for *days*."""
    raw = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    raw["scenario"]["duration"] = f"{days} day"
    for key in ("perturbation", "treatment"):
        for item in raw.get(key, []):
            item.pop("start", None)
            item.pop("stop", None)
    return mgflux.scenario_from_dict(raw, where=name)


MEAL_HOURS = ((7, 8), (12, 13), (18, 19))


def meals(days: int = 365) -> mgflux.Scenario:
    """300 mg/day eaten in three 1-hour meals: the diet runs at 8 x 300 mg/day during meals and is off between
    them (``starvation`` dose 1 in every gap): 3 gaps a day, 6 window edges a day, ~2200 segments a year.
    It starts from the steady state of a continuous 2400 mg/day, so the first weeks are a washout."""
    gaps = []
    t = 0.0
    for d in range(days):
        for h0, h1 in MEAL_HOURS:
            gaps.append((t, d + h0 / 24))
            t = d + h1 / 24
    gaps.append((t, float(days)))
    raw = {"scenario": {"name": f"three 1-hour meals a day for {days} days", "duration": f"{days} day"},
           "diet": {"mg_intake": f"{300 * 24 / sum(h1 - h0 for h0, h1 in MEAL_HOURS):g} mg/day"},
           "perturbation": [{"name": "starvation", "dose": 1.0, "start": f"{a!r} day", "stop": f"{b!r} day"}
                            for a, b in gaps if b > a]}
    return mgflux.scenario_from_dict(raw, where="<meals>")


# ---------------------------------------------------------------------------------------- machine, versions


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable, "memory": mem,
            "os": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    import importlib.metadata as md

    v = {}
    for pkg in ("mgflux", "numpy", "scipy", "numba", "libroadrunner", "python-libsbml"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    try:
        v["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                         text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        v["git_commit"] = None
    return v


# -------------------------------------------------------------------------------------------- roadrunner


def roadrunner_for(scenario, steady: bool = False):
    """libRoadRunner on the exported file: with *steady*, the all-on document (``export-sbml --steady``: no events,
    NLEQ2 refuses models with events); otherwise the scenario's windows are SBML events, as a user would run it."""
    import roadrunner

    roadrunner.Config.setValue(roadrunner.Config.LOADSBMLOPTIONS_CONSERVED_MOIETIES, True)
    r = roadrunner.RoadRunner(mgflux.to_sbml(scenario, steady=steady))
    r.integrator.relative_tolerance = RTOL
    r.integrator.absolute_tolerance = ATOL
    r.timeCourseSelections = ["time", *scenario.model.state_names]
    return r


def rr_course(r, scenario, t_out) -> np.ndarray:
    """libRoadRunner time course of the exported file from its initial state (the windows are its events)."""
    r.reset()
    return r.simulate(times=list(t_out))[:, 1:].T


def rr_steady(r, model, p, guess) -> np.ndarray:
    """NLEQ2 steady state from the model's guess (as mgflux and the baseline start)."""
    for name, v in zip(model.parameter_names, p):
        r[name] = float(v)
    for name, v in zip(model.state_names, guess):
        r[name] = float(v)
    r.steadyState()
    return np.array([r[n] for n in model.state_names])


# ------------------------------------------------------------------------------------------- benchmarks


def row(name, mg, bl=None, rr=None, agreement=None, note="", **extra) -> dict:
    d = {"benchmark": name, "mgflux_s": mg, "baseline_s": bl, "roadrunner_s": rr,
         "mgflux_over_baseline": mg / bl if mg and bl else None,
         "mgflux_over_roadrunner": mg / rr if mg and rr else None,
         "max_rel_difference": agreement, "note": note}
    d.update(extra)
    return d


NUMBA = mgflux.SteadyOptions(backend="numba")
PYTHON = mgflux.SteadyOptions(backend="python")


def bench_steady(name: str, reps: int, options=NUMBA) -> dict:
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    model = sc.model
    p = mgflux.parameter_sets(sc)[0]
    guess = model.guess_vector()
    rhs = baseline.python_rhs(model)
    r = roadrunner_for(sc, steady=True)
    ss = mgflux.steady_state(sc, options=options)
    mg_y = np.array([ss.states[n] for n in model.state_names])
    err = agree(f"steady state {name}", {"mgflux": mg_y, "baseline": baseline.steady_state(rhs, p, guess),
                                         "roadrunner": rr_steady(r, model, p, guess)}, STEADY_REL)
    t_mg = best_of(lambda: mgflux.steady_state(sc, options=options), reps)
    t_bl = best_of(lambda: baseline.steady_state(rhs, p, guess), reps)
    t_rr = best_of(lambda: rr_steady(r, model, p, guess), reps)
    return row(f"one steady state ({name}), mgflux backend {options.backend}", t_mg, t_bl, t_rr, err,
               f"mgflux.steady_state (scenario in memory, {options.backend} kernels) | root(hybr) | NLEQ2; all from "
               "the model's guess")


def bench_points(n: int, seed: int = 0) -> dict:
    """Steady states of *n* parameter sets one at a time (ranged parameters drawn within their ranges):
    the per-point cost of each engine, the yardstick for batched steady states."""
    sc = mgflux.load_scenario(SCENARIOS / "healthy.toml")
    model = sc.model
    p0 = mgflux.parameter_sets(sc, steady=False)[0]
    rng = np.random.default_rng(seed)
    ranged = [(i, par.range) for i, par in enumerate(model.parameters) if par.range and par.range[0] > 0]
    P = np.repeat(p0[None, :], n, axis=0)
    for i, (lo, hi) in ranged:
        P[:, i] = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    guess = model.guess_vector()
    mod = compiled(model)
    rhs = baseline.python_rhs(model)
    r = roadrunner_for(sc, steady=True)
    opts = NUMBA

    def mg_all():
        return np.array([engine_steady.steady_state(mod, p, guess, model.state_names, opts)[0] for p in P])

    baseline_failed = []

    def bl_one(k, p):
        # the hand-written baseline can fail where mgflux does not (hybr wanders off, its long LSODA overflows
        # math.exp far from the nominal point): a finding, counted in the note, the set left out of the check
        try:
            return baseline.steady_state(rhs, p, guess)
        except (RuntimeError, OverflowError, ValueError, ZeroDivisionError):
            baseline_failed.append(k)
            return np.full(guess.shape, np.nan)

    def bl_all():
        baseline_failed.clear()
        return np.array([bl_one(k, p) for k, p in enumerate(P)])

    def rr_all():
        return np.array([rr_steady(r, model, p, guess) for p in P])

    ok = []
    results = {}
    for engine, fn in (("mgflux", mg_all), ("baseline", bl_all), ("roadrunner", rr_all)):
        try:
            t = time.perf_counter()
            results[engine] = fn()
            results[engine + "_s"] = time.perf_counter() - t
        except Exception as exc:  # a failing point is a finding, reported, not a crash of the suite
            raise Disagreement(f"steady states of {n} random parameter sets: {engine} failed: {exc}") from exc
        ok.append(engine)
    keep = np.ones(n, bool)
    keep[baseline_failed] = False
    if keep.sum() < 0.9 * n:
        raise Disagreement(f"steady states of {n} random parameter sets: the baseline failed on {n - keep.sum()}")
    err = agree(f"{n} random parameter sets", {k: results[k][keep] for k in ok}, STEADY_REL)
    per = {k: results[k + "_s"] / n for k in ok}
    failed = f"; the baseline failed on {n - keep.sum()} of the {n} sets (left out of the agreement check)" \
        if not keep.all() else ""
    return row(f"steady state per point, {n} random parameter sets one by one", per["mgflux"], per["baseline"],
               per["roadrunner"], err, f"{len(ranged)} ranged parameters drawn log-uniformly within their ranges; "
               "mgflux's scalar solver in a Python loop (no batching)" + failed, points=n)


def bench_course(label: str, sc, reps: int, bl_reps: int) -> dict:
    model = sc.model
    rhs = baseline.python_rhs(model)
    t_out = mgflux.output_times(sc)
    edges = sc.edges()
    segments = [(t0, t1, mgflux.parameter_sets(sc, steady=False, window=(t0, t1))[0]) for t0, t1 in zip(edges[:-1], edges[1:])]
    r = roadrunner_for(sc)  # initial values in the file: the steady state of `run`'s start

    t0 = time.perf_counter()
    run = mgflux.simulate(sc)  # warm: this model's machine code is cached by the earlier rows
    t_mg_first = time.perf_counter() - t0
    mg = np.array([run.states[n] for n in model.state_names])
    y0 = mg[:, 0]

    def bl():
        return baseline.simulate(rhs, segments, y0, t_out, rtol=RTOL, atol_scale=ATOL)

    t0 = time.perf_counter()
    bl_y = bl()
    t_bl_first = time.perf_counter() - t0
    err = agree(label, {"mgflux": mg, "baseline": bl_y, "roadrunner": rr_course(r, sc, t_out)}, COURSE_REL)
    t_mg = min(t_mg_first, best_of(lambda: mgflux.simulate(sc), reps - 1)) if reps > 1 else t_mg_first
    t_bl = min(t_bl_first, best_of(bl, bl_reps - 1)) if bl_reps > 1 else t_bl_first
    t_rr = best_of(lambda: rr_course(r, sc, t_out), reps)
    return row(label, t_mg, t_bl, t_rr, err,
               f"{len(segments)} segment(s), {len(t_out)} output times; mgflux.simulate includes its initial steady "
               "state; baseline and libRoadRunner start from it", segments=len(segments))


def warm_up() -> list:
    """Load every numba kernel from the cache (the state of a session that has run anything), so in-process rows
    time warm code; the fresh-process rows (compile, command line) measure the cold costs."""
    sc = constant("healthy", days=2)
    mgflux.simulate(sc)
    mgflux.steady_state(sc, options=NUMBA)
    return []


def bench_cli(reps: int) -> list[dict]:
    """`mgflux steady` from the shell (a new process: imports, model load, cached machine code)."""
    healthy = SCENARIOS / "healthy.toml"
    cmd = [str(MGFLUX_CLI), "steady", str(healthy), "--json"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the cache
    t_mg = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True), reps)
    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / "healthy.xml"
        subprocess.run([str(MGFLUX_CLI), "export-sbml", str(healthy), "-o", str(xml)], check=True, capture_output=True)
        code = ("import roadrunner; roadrunner.Config.setValue(roadrunner.Config.LOADSBMLOPTIONS_CONSERVED_MOIETIES, "
                f"True); r = roadrunner.RoadRunner({str(xml)!r}); r.steadyState(); print(r['ecf'])")
        rr_cmd = [sys.executable, "-c", code]
        subprocess.run(rr_cmd, check=True, capture_output=True)
        t_rr = best_of(lambda: subprocess.run(rr_cmd, check=True, capture_output=True), reps)
    return [row("`mgflux steady scenarios/healthy.toml --json` end to end (warm cache)", t_mg, None, t_rr, None,
                "vs a fresh `python -c` that loads the exported SBML in libRoadRunner (JIT) and solves the steady "
                "state; goal (issue 9): mgflux/libRR <= 1.0 (warm load cache: no pint, scipy or numba imported)")]


def bench_cli_run(reps: int) -> list[dict]:
    """`mgflux run` from the shell, first ever (empty caches: scipy answers, nothing waits for numba) and warm,
    each against a fresh libRoadRunner process that loads the exported SBML (events) and integrates it."""
    sc_path = SCENARIOS / "drugs" / "omeprazole.toml"
    cmd = [str(MGFLUX_CLI), "run", str(sc_path), "--json"]

    def cold():
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, MGFLUX_CACHE_DIR=d, NUMBA_CACHE_DIR=d, MGFLUX_NO_BACKGROUND_COMPILE="1")
            subprocess.run(cmd, check=True, capture_output=True, env=env)

    t_cold = best_of(cold, max(2, reps // 2))
    subprocess.run([sys.executable, "-m", "mgflux.engine.warmup", str(mgflux.models_dir() / "adult.toml")],
                   check=True, capture_output=True)  # the background compile of a first run, done
    subprocess.run(cmd, check=True, capture_output=True)
    t_warm = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True), reps)
    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / "omeprazole.xml"
        subprocess.run([str(MGFLUX_CLI), "export-sbml", str(sc_path), "-o", str(xml)], check=True, capture_output=True)
        code = ("import numpy as np, roadrunner; roadrunner.Config.setValue("
                "roadrunner.Config.LOADSBMLOPTIONS_CONSERVED_MOIETIES, True); "
                f"r = roadrunner.RoadRunner({str(xml)!r}); r.integrator.relative_tolerance = 1e-9; "
                "r.integrator.absolute_tolerance = 1e-12; tc = r.simulate(0, 365, 366); print(tc[-1, 1])")
        rr_cmd = [sys.executable, "-c", code]
        subprocess.run(rr_cmd, check=True, capture_output=True)
        t_rr = best_of(lambda: subprocess.run(rr_cmd, check=True, capture_output=True), reps)
    return [row("`mgflux run drugs/omeprazole.toml --json` end to end, first ever (empty caches)", t_cold, None, t_rr,
                None, f"nothing waits for numba: scipy (LSODA) on the plain-Python model answers, the kernels compile "
                f"in the background for next time (switched off here); cold/warm = {t_cold / t_warm:.2f} "
                "(goal, issue 9: <= 3); vs a fresh libRoadRunner process loading the SBML and integrating the year",
                cold_over_warm=t_cold / t_warm),
            row("`mgflux run drugs/omeprazole.toml --json` end to end (warm cache)", t_warm, None, t_rr, None,
                "compiled Rodas4 loaded from the cache; vs the same libRoadRunner process")]


def bench_compile() -> dict:
    """Fresh process, empty mgflux and numba caches: first steady state, then first 1-year time course."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MGFLUX_CACHE_DIR=d, NUMBA_CACHE_DIR=d)
        code = ("import time, json, mgflux, tomllib\n"
                f"sc = mgflux.load_scenario({str(SCENARIOS / 'drugs/omeprazole.toml')!r})\n"
                "t = time.perf_counter(); mgflux.steady_state(sc); a = time.perf_counter() - t\n"
                "t = time.perf_counter(); mgflux.simulate(sc); b = time.perf_counter() - t\n"
                "print(json.dumps([a, b]))")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        a, b = json.loads(out.stdout.strip().splitlines()[-1])
    return row("numba compile, empty cache: first steady state + first time course", a + b, None, None, None,
               f"fresh process; steady state {a:.1f} s (mgflux runs plain-Python kernels until numba is loaded: "
               f"nothing compiled), then time course {b:.1f} s (numba compiles the Newton and Rodas4 loops with rhs, jacobian and their totals variants, observe); "
               "paid once per model change", steady_s=a, course_s=b)


def rr_load_time(reps: int) -> dict:
    sc = mgflux.load_scenario(SCENARIOS / "healthy.toml")
    text = mgflux.to_sbml(sc)
    import roadrunner

    t = best_of(lambda: roadrunner.RoadRunner(text), reps)
    return row("libRoadRunner load + JIT of the exported SBML", None, None, t, None,
               "its compile cost, paid at every load (not cached across processes)")


# ------------------------------------------------------------------------------------------------- main


def _fmt_s(v):
    if v is None:
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:.0f} us"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    return f"{v:.2f} s"


def _fmt_r(v):
    return "-" if v is None else (f"{v:.3g}" if v < 10 else f"{v:.0f}")


def table(rows: list[dict]) -> str:
    head = ["benchmark", "mgflux", "baseline", "libRoadRunner", "mgflux/baseline", "mgflux/libRR", "agree (rel)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        ag = r.get("max_rel_difference")
        lines.append("| " + " | ".join([
            r["benchmark"], _fmt_s(r.get("mgflux_s")), _fmt_s(r.get("baseline_s")), _fmt_s(r.get("roadrunner_s")),
            _fmt_r(r.get("mgflux_over_baseline")), _fmt_r(r.get("mgflux_over_roadrunner")),
            "-" if ag is None else f"{ag:.1e}"]) + " |")
    lines.append("")
    lines += [f"- {r['benchmark']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines)


def _import_optional(name):
    try:
        return __import__(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    # a quick run is a smoke test: its numbers never replace the recorded ones
    out_path = Path(tempfile.gettempdir()) / "mgflux_results_quick.json" if quick else HERE / "results.json"
    started = time.perf_counter()
    reps = 2 if quick else 5
    rows = []
    sections = []

    def section(title, fn, *a):
        t = time.perf_counter()
        print(f"... {title}", file=sys.stderr, flush=True)
        got = fn(*a)
        got = got if isinstance(got, list) else [got]
        rows.extend(got)
        sections.append({"section": title, "seconds": time.perf_counter() - t})
        return got

    try:
        section("compile time", bench_compile)
        section("warm-up", warm_up)
        section("steady state, healthy", bench_steady, "healthy", reps)
        section("steady state, healthy (python backend)", bench_steady, "healthy", reps, PYTHON)
        section("steady state, Gitelman on PPI + thiazide", bench_steady, "combinations/ppi_plus_thiazide", reps)
        (r_pts,) = section("steady states one by one", bench_points, 20 if quick else 200)
        rr_per_point = r_pts["roadrunner_s"]
        section("1-year course, constant", bench_course,
                "1-year time course, constant intake, omeprazole from day 0", constant("drugs/omeprazole"), reps,
                2 if quick else 3)
        days = 30 if quick else 365
        section("course with meals", bench_course, f"{days}-day time course, 3 one-hour meals a day", meals(days),
                1 if quick else 2, 1)
        section("command line", bench_cli, reps)
        section("command line, run", bench_cli_run, reps)
        section("libRoadRunner load", rr_load_time, reps)
    except Disagreement as exc:
        print(f"ENGINES DISAGREE, no times reported: {exc}", file=sys.stderr)
        return 1

    for prefix in ("bench_core", "bench_batch", "bench_web"):
        mod = _import_optional(prefix)
        if mod is None:
            print(f"note: benchmarks/{prefix}.py not present; its rows are skipped", file=sys.stderr)
            continue
        t = time.perf_counter()
        print(f"... {prefix}.py", file=sys.stderr, flush=True)
        rows.extend(_other_row(prefix, r, rr_per_point) for r in mod.run(quick))
        sections.append({"section": prefix, "seconds": time.perf_counter() - t})

    result = {"command": "python benchmarks/run_all.py" + (" --quick" if quick else ""), "quick": quick,
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), "versions": versions(),
              "tolerances": {"rtol": RTOL, "atol": ATOL, "steady_agreement": STEADY_REL,
                             "course_agreement": COURSE_REL},
              "total_seconds": time.perf_counter() - started, "sections": sections, "rows": rows}
    out_path.write_text(json.dumps(result, indent=1, default=float))
    m = result["machine"]
    print(f"\nmachine: {m['cpu']}, {m['usable_cores']} usable cores; "
          + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    print(table(rows))
    print(f"\n(total {result['total_seconds']:.0f} s; wrote {out_path})")
    return 0


def _other_row(prefix: str, r: dict, rr_per_point: float | None = None) -> dict:
    """A row of bench_core.py / bench_batch.py (name, seconds, optional n, baseline, baseline_seconds, note) in
    this table. Their baselines are scipy on mgflux's *numba* functions, not the pure-Python baseline, so they go
    to the note, not the baseline column. With *n*, the per-point time is set against libRoadRunner's steady
    state per point (one by one, from the steady-state row of this suite)."""
    secs, n = r.get("seconds"), r.get("n")
    notes = [r.get("note", "")]
    if r.get("baseline_seconds"):
        notes.append(f"{r.get('baseline') or 'their baseline'}: {_fmt_s(r['baseline_seconds'])} "
                     f"({r['baseline_seconds'] / secs:.3g}x mgflux's time)")
    d = row(f"[{prefix}] {r.get('name', '?')}", secs, None, None, None, "")
    if n and secs and rr_per_point and "steady states" in r.get("name", ""):
        d.update(points=n, mgflux_per_point_s=secs / n, roadrunner_per_point_s=rr_per_point,
                 roadrunner_s=rr_per_point * n, mgflux_over_roadrunner=secs / (rr_per_point * n))
        notes.append(f"libRoadRunner column: its one-by-one steady state per point x {n:,} (extrapolated); per point "
                     f"mgflux {_fmt_s(secs / n)}, libRoadRunner {_fmt_s(rr_per_point)}")
    d["note"] = "; ".join(x for x in notes if x)
    d["source_row"] = r
    return d


if __name__ == "__main__":
    sys.exit(main())
