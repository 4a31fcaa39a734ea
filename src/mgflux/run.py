"""Scenario -> parameters -> engine -> results: ``steady_state`` and ``simulate`` for one scenario, and the batch
of time courses of many parameter sets.

Both single-run functions are pure functions of the scenario. Readouts (DESIGN.md names, units in the names)
come from the generated ``observe`` function: the same formulas that drive the right-hand side."""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .engine import steady as _solve
from .engine import timecourse as _timecourse
from .engine.batch import OBSERVER, integrate_batch, nominal, solve_batch, steady_batch
from .engine.codegen import compiled, is_cached, note
from .engine.executors import dask_client
from .engine.warmup import SINGLE_RUN_KERNELS, start_background_compile
from .model.parameters import (
    Factor,
    base_parameters,
    factor,
    parameter_matrix,
    run_edges,
    run_times,
    segment_parameters,
    steady_parameters,
)
from .model.readouts import as_number, evaluate_readouts, observe
from .model.scenario import Scenario, fine_sampling_notes, load_scenario, output_times
from .model.validate import domain_warnings
from .options import BatchOptions, Execution, RunOptions, SteadyOptions, TimecourseOptions
from .results import BatchResult, RunResult, Status, SteadyResult, TimecourseResult, freeze


def _as_scenario(scenario) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def _solve_steady(scenario: Scenario, p: np.ndarray, options: SteadyOptions):
    model = scenario.model
    mod = compiled(model, numba=False)  # plain Python unless numba is asked for or already in use (kernels())
    from .model.patient import steady_guess

    y, info = _solve.steady_state(mod, p, steady_guess(model, p), model.state_names, options)
    if "ecf" in model.state_names and "ecf_volume" in model.parameter_names:
        serum = y[model.state_index("ecf")] / p[model.parameter_index("ecf_volume")]
        if not serum > 1e-6:  # saturable, depletable pools: without any Mg input the only balance is an empty body
            from .errors import SteadyStateError

            raise SteadyStateError(
                f"no steady state with magnesium in the body: tried {', '.join(info['strategies'])}; the only balance "
                f"found has every exchangeable pool empty (serum {serum:.2g} mM), because nothing replaces the losses. "
                "Give some Mg intake or an infusion, or use `run` to follow the depletion over time.",
                residual=np.zeros(len(y)), strategies=list(info["strategies"]), drifting=["ecf"])
    return mod, y, info


def initial_state(scenario, options: SteadyOptions = SteadyOptions()) -> dict[str, float]:
    """The state ``mgflux run`` starts from, by state name (internal units): the steady state with the diet,
    the patient and the gene variants, before any windowed drug or treatment (the SBML export's initial values)."""
    scenario = _as_scenario(scenario)
    _, y, _ = _solve_steady(scenario, base_parameters(scenario), options)
    return dict(zip(scenario.model.state_names, map(float, y)))


def steady_state(scenario, *, options: SteadyOptions = SteadyOptions()) -> SteadyResult:
    """Steady state with every perturbation and continuous treatment on (windows ignored).

    *scenario* is a :class:`Scenario` or a path to a scenario file.
    """
    scenario = _as_scenario(scenario)
    model = scenario.model
    p, notes = steady_parameters(scenario)
    mod, y, info = _solve_steady(scenario, p, options)
    obs = observe(_solve.kernels(mod, options.backend), model, y, p)
    r = evaluate_readouts(model, obs, y)
    return SteadyResult(
        scenario=scenario.name,
        readouts=MappingProxyType({k: as_number(v) for k, v in r.items()}),
        states=MappingProxyType(dict(zip(model.state_names, map(float, y)))),
        parameters=MappingProxyType(dict(zip(model.parameter_names, map(float, p)))),
        notes=tuple(scenario.notes) + tuple(notes), solver=MappingProxyType(info),
        observables=MappingProxyType(dict(zip(model.observable_names, map(float, obs)))),
        warnings=tuple(scenario.warnings) + tuple(domain_warnings(r, "steady state")))


def simulate(scenario, *, options: RunOptions = RunOptions(),
             steady_options: SteadyOptions = SteadyOptions()) -> RunResult:
    """Time course from the steady state of the model, diet and gene variants; drugs, conditions and
    treatments act within their windows. *scenario* is a :class:`Scenario` or a path."""
    scenario = _as_scenario(scenario)
    model = scenario.model
    base = base_parameters(scenario)
    notes = list(scenario.notes)
    if options.compile not in ("wait", "background"):
        raise ValueError(f"RunOptions.compile must be 'wait' or 'background', not {options.compile!r}")
    python = False
    if options.compile == "background" and options.method == "Rodas4":
        mod = compiled(model, numba=False)
        python = not ((mod.NUMBA and mod.timecourse_totals.signatures) or is_cached(mod, SINGLE_RUN_KERNELS))
    if python:  # answer now with scipy on the plain-Python model; compile for next time in the background
        started = start_background_compile(model)
        note("the compiled model is not cached yet: this run uses scipy on the plain-Python model"
             + ("; compiling it in the background for next time" if started else ""))
        fallback = (options.fallback,) if isinstance(options.fallback, str) else tuple(options.fallback or ())
        options = dataclasses.replace(options, method=(fallback or ("LSODA",))[0], fallback=fallback[1:])
        steady_options = dataclasses.replace(steady_options, backend="python")
    elif steady_options.backend == "auto":  # the time course loads numba anyway: its kernels are the fast ones
        steady_options = dataclasses.replace(steady_options, backend="numba")
    mod, y0, sinfo = _solve_steady(scenario, base, steady_options)
    mod = _solve.kernels(mod, "python" if python else "numba")
    edges = scenario.edges()  # windows and the phases of pulsed drugs (each distinct parameter set built once)
    _, seg_p = segment_parameters(scenario, [], np.zeros((1, 0)), edges)
    segments = [(t0, t1, seg_p[0, s]) for s, (t0, t1) in enumerate(zip(edges[:-1], edges[1:]))]
    t_out = output_times(scenario)
    # a denser grid (dense output of the same integration: no extra steps) for the extremes between samples
    k = max(1, min(8, 2_000_000 // max(1, t_out.shape[0])))
    t_dense = np.unique(np.concatenate([t_out, (t_out[:-1, None] + np.diff(t_out)[:, None]
                                                * (np.arange(1, k) / k)[None, :]).ravel()]))
    ys_dense, stats = _timecourse.integrate(mod, segments, y0, t_dense, options, model.state_names)
    n = len(model.states)

    def readouts_at(t, ys):
        # observables at each time with the parameters in force there (the later segment at an edge)
        seg_of = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(segments) - 1)
        P_out = np.array([p for _, _, p in segments])[seg_of]
        obs = np.empty((t.shape[0], len(model.observable_names)))
        mod.observe_chunk(0, t.shape[0], np.ascontiguousarray(ys[:n].T), P_out, obs)
        return evaluate_readouts(model, obs.T, ys[:n])

    r_dense = readouts_at(t_dense, ys_dense)
    pick = np.searchsorted(t_dense, t_out)
    ys = ys_dense[:, pick]
    r = {key: np.asarray(v)[pick] for key, v in r_dense.items()}
    extremes = {}
    for key in EXTREME_READOUTS:
        v = np.asarray(r_dense[key], dtype=float)
        i, j = int(np.nanargmin(v)), int(np.nanargmax(v))
        extremes[key] = MappingProxyType({"min": float(v[i]), "min_day": float(t_dense[i]),
                                          "max": float(v[j]), "max_day": float(t_dense[j])})
    totals = {}
    for i, fl in enumerate(model.boundary_fluxes):
        totals[fl.name] = ys[n + i]
    cumulative = {
        "cumulative_intake_mmol": totals["oral_intake"] + totals["supplement_unabsorbed"],
        "cumulative_iv_mmol": totals["iv_infusion"],
        "cumulative_faecal_mmol": totals["faecal_excretion"] + totals["supplement_unabsorbed"],
        "cumulative_urine_mmol": totals["urinary_excretion"],
    }
    if "ca_urinary_excretion" in totals:
        cumulative.update({
            "cumulative_ca_intake_mmol": totals["ca_absorption"] + totals["ca_unabsorbed"],
            "cumulative_ca_faecal_mmol": totals["ca_unabsorbed"] + totals["ca_endogenous_secretion"],
            "cumulative_ca_urine_mmol": totals["ca_urinary_excretion"],
            "cumulative_ca_bone_release_mmol": totals["ca_bone_remodelling"],
        })
    solver = dict(stats)
    solver["initial_steady_state"] = sinfo["strategies"]
    warnings = list(scenario.warnings) + domain_warnings(r_dense, "run")
    return RunResult(
        scenario=scenario.name,
        time_day=freeze(t_out),
        timecourse=MappingProxyType({k: freeze(v) for k, v in r.items()}),
        states=MappingProxyType({s: freeze(ys[i]) for i, s in enumerate(model.state_names)}),
        totals=MappingProxyType({k: freeze(v) for k, v in cumulative.items()}),
        notes=tuple(notes) + tuple(fine_sampling_notes(scenario)), solver=MappingProxyType(solver),
        warnings=tuple(warnings), extremes=MappingProxyType(extremes))


#: readouts whose lowest and highest value ``simulate`` reports from the dense solution
EXTREME_READOUTS = ("serum_mg_total_mM", "serum_mg_ionized_mM", "urine_mg_mmol_per_day")


def citations(scenario) -> list[str]:
    """The sources behind a scenario's result: the model's cited references and every applied entry's source."""
    import re

    scenario = _as_scenario(scenario)
    model = scenario.model
    keys = []
    for p in model.parameters:
        for k in re.findall(r"\b([A-Z][A-Za-z]+\d{4})\b", p.source):
            if k in model.references and k not in keys:
                keys.append(k)
    out = [f"{k}: {model.references[k]}" for k in sorted(keys)]
    seen = set()
    for a in scenario.applications:
        if a.entry.name not in seen:
            seen.add(a.entry.name)
            out.append(f"{a.entry.name}: {a.entry.source}")
    return out


def timecourse_batch(scenario, factors: list[Factor] | None = None, values: np.ndarray | None = None, *,
                     n: int = 1, days: float | None = None, t_out: np.ndarray | None = None,
                     options: TimecourseOptions = TimecourseOptions(), workers: int | None = None,
                     progress=None, scheduler=None) -> TimecourseResult:
    """Time courses of *scenario* for N sets of factor values (or *n* identical copies with no factors): each
    starts at the steady state of its own diet, genes and parameters (batched Newton), then integrates the
    scenario's segments (windows) to day *days* (default: its duration)."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = scenario.model
    factors = list(factors or [])
    values = np.zeros((n, 0)) if values is None else np.atleast_2d(np.asarray(values, dtype=float))
    edges = run_edges(scenario, days)
    t_out = run_times(scenario, days) if t_out is None else np.asarray(t_out, dtype=float)
    base, Pseg = segment_parameters(scenario, factors, values, edges)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)), steady=False)[0]
    with contextlib.ExitStack() as stack:
        if scheduler:  # one cluster for the initial steady states and the courses
            scheduler = stack.enter_context(dask_client(scheduler))
        Y0, st0, _ = solve_batch(model, base, warm=nominal(model, p0), workers=workers, scheduler=scheduler)
        Y0 = np.where((st0 == 0)[:, None], Y0, np.nan)
        Yout, status, steps = integrate_batch(model, Y0, Pseg, edges, t_out, options=options, workers=workers,
                                              progress=None if scheduler else progress, scheduler=scheduler)
    status = np.where(st0 == Status.OK, status, Status.NO_INITIAL_STEADY_STATE)
    return TimecourseResult(model, t_out, edges, Yout, Pseg, status, steps,
                            {f.name: values[:, j] for j, f in enumerate(factors)}, observer=OBSERVER)


ScenarioLike = Scenario | str | Path


def _factor_values(scenario: Scenario, factors: Mapping[str, object] | None) -> tuple[list[Factor], np.ndarray]:
    """Factors and their values (N, k) from ``{name: values}``; a scalar or a 1-element array is broadcast."""
    if not factors:
        return [], np.zeros((1, 0))
    facs = [factor(scenario, name) for name in factors]
    cols = np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, dtype=float)) for v in factors.values()])
    for name, c in zip(factors, cols):
        if c.ndim != 1:
            raise ValueError(f"factor {name!r}: values must be one-dimensional (one per parameter set)")
    # a factor twice (also by alias) would silently replace the other: refused. Values are not checked here: a
    # batch gives each set its own status, and the studies built on it (virtual patients, diagnose) draw values
    # beyond the documented ranges on purpose; `sweep` and `sweep --vary` check them (mgflux.model.validate)
    from .model.validate import check_factor_names

    check_factor_names([(f.name if f.entry is None else f"{f.entry.name}.{f.entry.variable}", name)
                        for f, name in zip(facs, factors)], "factors")
    return facs, np.column_stack(cols)


def steady_states(scenario: ScenarioLike, factors: Mapping[str, object] | None = None, *,
                  options: BatchOptions = BatchOptions(), execution: Execution = Execution()) -> BatchResult:
    """Steady states of many parameter sets of *scenario*, every perturbation on (as :func:`steady_state`).

    *factors* maps factor names (what ``sweep --vary`` accepts: a model parameter such as ``"gfr"`` in the unit
    of the model file, or ``"ENTRY.dose"`` / ``"ENTRY.activity"`` / ``"ENTRY.amount"``) to arrays of values, one
    per set (scalars are broadcast). Without factors: one set, the scenario itself. Every set gets its own
    :class:`~mgflux.results.Status`; a set that fails never raises, its readouts are NaN.

    >>> res = mgflux.steady_states("scenarios/healthy.toml", {"gfr": [60, 90, 120]})
    >>> res["serum_mg_total_mM"], res.dataframe()
    """
    scenario = _as_scenario(scenario)
    facs, X = _factor_values(scenario, factors)
    P = parameter_matrix(scenario, facs, X)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
    return steady_batch(scenario.model, P, warm=nominal(scenario.model, p0), options=options,
                        workers=execution.workers, scheduler=execution.scheduler, chunk_size=execution.chunk_size,
                        factors={f.name: X[:, j] for j, f in enumerate(facs)},
                        progress=None if execution.scheduler else execution.progress)


def timecourses(scenario: ScenarioLike, factors: Mapping[str, object] | None = None, *, days: float | None = None,
                times=None, options: TimecourseOptions = TimecourseOptions(),
                execution: Execution = Execution()) -> TimecourseResult:
    """Time courses of many parameter sets of *scenario* (as :func:`simulate`, batched): each set starts at the
    steady state of its own diet, genes and parameters, then drugs and treatments act in their windows.

    *factors* as :func:`steady_states`; *days* the end (default: the scenario's duration); *times* the output
    grid (default: the scenario's ``sample_every``). Integrated by the compiled Rodas4 kernel with tolerances
    *options*; a set that fails has a non-OK status and NaN states.
    """
    scenario = _as_scenario(scenario)
    facs, X = _factor_values(scenario, factors)
    return timecourse_batch(scenario, facs, X if facs else None, n=X.shape[0], days=days, t_out=times,
                            options=options, workers=execution.workers, progress=execution.progress,
                            scheduler=execution.scheduler)
