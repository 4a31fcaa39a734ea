"""Batches of parameter sets on the compiled kernels: steady states (warm-started from a nominal solution,
status per set), their readouts, and time courses (Rodas4, each set with its own parameters per segment).

The numerics are the kernel templates in :mod:`mgflux.engine.kernels` (compiled with the model). Sets run as
chunks of a GIL-free kernel on a pool of threads (:mod:`mgflux.engine.executors`), or in chunks on a Dask
cluster; a set that fails never raises, it carries a non-OK status and NaN readouts."""
from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import MgfluxError
from ..model.model import Model
from ..model.readouts import evaluate_readouts
from ..options import BatchOptions, SteadyOptions, TimecourseOptions
from ..results import BatchResult, Status
from . import steady as _solve
from .codegen import compiled, is_cached, note
from .executors import Dask, Threads, executor, run_chunks, set_workers

# ------------------------------------------------------------------------------------------ the engine


@dataclass(frozen=True)
class Nominal:
    """The warm start shared by a batch: the nominal parameters, their steady state and Jacobian, and the
    tangent dy/dp there (each set starts from y + S (p_set - p), the first-order prediction of its steady state:
    about one Newton iteration fewer than starting from y itself)."""

    p: np.ndarray
    y: np.ndarray
    J: np.ndarray
    S: np.ndarray  # (n_states, n_parameters)


def nominal(model: Model, p: np.ndarray) -> Nominal:
    """Steady state of *p* with mgflux's single-set solver (Newton, PTC, long integration): the warm start."""
    # numba kernels whenever the batch will run them: the warm start, and so every result of a compiled batch,
    # must not depend on whether this process had loaded numba before (the Python kernels' Newton differs from
    # the compiled one within the tolerance, not bit for bit). On a cold cache, where a first small batch
    # answers in plain Python (``plain_batch``), the warm start does too.
    backend = "python" if _cold(model) else "numba"
    mod = compiled(model, numba=backend == "numba")
    n, m = len(model.states), p.size
    try:
        from ..model.patient import steady_guess

        y, _ = _solve.steady_state(mod, p, steady_guess(model, p), model.state_names,
                                   SteadyOptions(backend=backend))
    except MgfluxError:
        y = model.guess_vector()
    mod = _solve.kernels(mod, backend)
    J = np.empty((n, n))
    mod.jacobian(y, p, J)
    # tangent S = -J^-1 df/dp, df/dp by central differences of the rhs: only a starting point, which Newton
    # then solves exactly (the exact complex-step param_jacobian would cost a compilation on a cold cache)
    Fp = np.zeros((n, m))
    f0, f1, f2 = np.empty(n), np.empty(n), np.empty(n)
    mod.rhs(y, p, f0)
    for j in range(m):
        h = 1e-6 * max(abs(p[j]), 1e-6)
        q = p.copy()
        q[j] = p[j] + h
        mod.rhs(y, q, f1)
        q[j] = p[j] - h
        mod.rhs(y, q, f2)
        col = (f1 - f2) / (2 * h)
        if not np.all(np.isfinite(col)):  # p - h outside a formula's domain (a power of 0): one-sided
            col = (f1 - f0) / h
        if np.all(np.isfinite(col)):
            Fp[:, j] = col  # else: no prediction along this parameter
    try:
        S = -np.linalg.solve(J, Fp)
    except np.linalg.LinAlgError:
        S = np.zeros((n, m))  # a singular nominal Jacobian: every set starts from y itself
    if not np.all(np.isfinite(S)):
        S = np.zeros((n, m))
    return Nominal(p.copy(), y, J, S)


def _floor(model: Model) -> np.ndarray:
    g = model.guess_vector()
    return 1e-6 * np.maximum(np.abs(g), 1.0)


def solve_batch(model: Model, P: np.ndarray, *, warm: Nominal | None = None, options: BatchOptions = BatchOptions(),
                workers: int | None = None, scheduler: str | None = None, chunk_size: int = 2000, progress=None):
    """Steady states of the rows of *P* (N, n_parameters). Returns (Y, status, strategy).

    *scheduler*: None (this process, numba threads), ``"local"`` (a dask LocalCluster) or ``"tcp://HOST:PORT"``
    (a dask.distributed scheduler); the chunks run the same kernel, so the results are identical.
    """
    P = np.ascontiguousarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != len(model.parameters):
        raise MgfluxError(f"parameter matrix must be (N, {len(model.parameters)}), got {P.shape}")
    if warm is None:
        warm = nominal(model, P[0] if len(P) else model.parameter_vector())
    ex = executor(scheduler, workers)
    if isinstance(ex, Dask):
        return _no_empty_body(model, P, *_solve_dask(model, P, warm, options, ex, chunk_size))
    if plain_batch(model, P.shape[0], options.backend):
        return _no_empty_body(model, P, *_solve_python(model, P, warm, options, progress))
    return _no_empty_body(model, P, *_solve_local(model, P, warm, options, progress, ex))


# ------------------------------------------------------------------------- a first batch on a cold cache

#: kernels a batch of steady states calls (the warm start's rhs, Jacobian and LU, the batch Newton, the
#: observables): their cache files say whether the batch engine is compiled
BATCH_KERNELS = ("rhs", "jacobian", "lu_factor", "steady_chunk", "observe_chunk")
#: a batch of at most this many sets, while its kernels are neither loaded nor cached, answers with the plain-Python
#: solver (~1-3 ms a set: at most a few seconds) and the kernels compile in the background for next time: their
#: compilation (COMPILE_SECONDS) takes longer than such an answer. Larger batches compile first, and say so.
PYTHON_BATCH_MAX_SETS = 2000


def _cold(model: Model) -> bool:
    """True when this process has not loaded numba for *model*, its batch kernels are not cached, and a
    background compilation may be started (not under MGFLUX_NO_BACKGROUND_COMPILE)."""
    import os

    if os.environ.get("MGFLUX_NO_BACKGROUND_COMPILE"):
        return False
    mod = compiled(model, numba=False)
    return not mod.NUMBA and not is_cached(mod, BATCH_KERNELS)


def plain_batch(model: Model, n_sets: int, backend: str = "auto") -> bool:
    """Whether a batch of *n_sets* steady states runs the plain-Python solver (``BatchOptions.backend``:
    ``"python"`` always, ``"numba"`` never, ``"auto"`` for a small first batch on a cold cache, which then starts
    the background compilation of the batch kernels and says so on stderr)."""
    if backend == "python":
        return True
    if backend == "numba" or n_sets > PYTHON_BATCH_MAX_SETS or not _cold(model):
        return False
    from .warmup import start_background_compile

    if not start_background_compile(model, family="batch"):
        return False
    note(f"the batch kernels are not compiled yet: these {n_sets} sets use the plain-Python solver; compiling "
         f"them in the background for next time (about {COMPILE_SECONDS['steady_chunk']} s)")
    return True


def _solve_python(model, P, warm, options, progress=None):
    """Steady states of the rows of *P* one by one with the plain-Python kernels: the batch kernel's strategies
    (Newton from the warm start's prediction y + S (p - p0), then from the guess, then pseudo-transient
    continuation from each), its stability test and its status codes, without numba."""
    mod = _solve.kernels(compiled(model, numba=False), "python")
    guess = model.guess_vector()
    opts = SteadyOptions(backend="python", residual_tol=options.residual_tol, step_tol=options.step_tol,
                         max_newton=options.max_newton, max_ptc=options.max_ptc)
    N, n = P.shape[0], len(model.states)
    Y = np.full((N, n), np.nan)
    status = np.full(N, int(Status.NONFINITE), np.int64)
    strategy = np.full(N, -1, np.int64)
    with np.errstate(all="ignore"):
        for k in range(N):
            if np.all(np.isfinite(P[k])):
                st, strategy[k], y = _python_one(mod, P[k], warm, guess, opts, options.eig_tol)
                status[k] = int(st)
                if y is not None:
                    Y[k] = y
            if progress is not None:
                progress(1)
    return Y, status, strategy


def _python_one(mod, p, warm, guess, opts, eig_tol):
    """(status, strategy, y) of one set, as ``_bt_steady_one`` decides them: the first strategy that converges
    gives the state, which must then be finite, non-negative and stable."""
    # the tangent prediction, kept within a factor 10 of the warm start (so positive), as _bt_steady_rows does
    pred = warm.y + warm.S @ (p - warm.p)
    pred = np.where(~(pred >= 0.1 * warm.y), 0.1 * warm.y, pred)
    pred = np.where((warm.y > 0) & (pred > 10.0 * warm.y), 10.0 * warm.y, pred)
    for attempt, src in ((0, pred), (4, None), (1, guess), (2, pred), (3, guess)):
        if attempt == 4:  # continuation from the nominal solution, as _bt_continuation
            y, ok = _continuation(mod, p, warm, guess, opts)
            if not ok:
                continue
            return _verdict(mod, y, p, eig_tol, 4)
        y = np.array(src, dtype=np.float64)
        if attempt >= 2:
            y, ok = _solve._ptc(mod, y, p, guess, opts, [])
            if not ok:
                continue
        y, ok = _solve._newton(mod, y, p, guess, opts, [])
        if not ok:
            continue
        return _verdict(mod, y, p, eig_tol, attempt)
    return Status.NOT_CONVERGED, -1, None


def _verdict(mod, y, p, eig_tol, strategy):
    """(status, strategy, y) of a converged state: finite, non-negative and stable, or why not."""
    if not np.all(np.isfinite(y)):
        return Status.NONFINITE, strategy, y
    if np.any(y < 0):
        return Status.NEGATIVE, strategy, y
    J = np.empty((y.size, y.size))
    mod.jacobian(y, p, J)
    eig = np.linalg.eigvals(J)
    stable = np.all(np.isfinite(eig)) and np.max(eig.real) <= eig_tol
    return (Status.OK if stable else Status.UNSTABLE), strategy, y


def _continuation(mod, p, warm, guess, opts):
    """Natural-parameter continuation from the nominal solution (the rule of the kernels' _bt_continuation:
    secant prediction, step in s doubled after a success and halved after a failure, loose tolerance on the
    way, the full one at s = 1)."""
    gen = getattr(mod, "_mod", mod)  # the generated module (its constants), under plain-Python kernels too
    loose = replace(opts, residual_tol=gen.CONT_TOL, step_tol=10.0 * gen.CONT_TOL, max_newton=gen.CONT_NEWTON)
    last_opts = replace(opts, max_newton=gen.CONT_NEWTON)
    y = yprev = np.array(warm.y, dtype=np.float64)
    s, ds, ds_prev = 0.0, gen.CONT_FIRST, 0.0
    for _ in range(60):
        s1 = min(1.0, s + ds)
        last = s1 >= 1.0
        r = ds / ds_prev if ds_prev > 0.0 else 0.0
        v = y + r * (y - yprev)
        ytry = np.where(v > 0.1 * y, v, 0.1 * y)
        pt = p if last else warm.p + s1 * (p - warm.p)
        ytry, ok = _solve._newton(mod, ytry, pt, guess, last_opts if last else loose, [])
        if ok:
            yprev, y = y, ytry
            if last:
                return y, True
            ds_prev, s = s1 - s, s1
            ds = min(2.0 * ds, 1.0)
        else:
            ds *= 0.5
            if ds < 1e-3:
                return y, False
    return y, False


def _no_empty_body(model, P, Y, status, strategy):
    """An all-empty body (no Mg input: every exchangeable pool drained) is a balance, but no steady state of a
    person: status 1, as the single solver raises (run.py)."""
    if "ecf" in model.state_names and "ecf_volume" in model.parameter_names and len(status):
        with np.errstate(divide="ignore", invalid="ignore"):  # bad sets carry their own status already
            serum = Y[:, model.state_index("ecf")] / P[:, model.parameter_index("ecf_volume")]
        status = np.where((status == 0) & ~(serum > 1e-6), 1, status)
    return Y, status, strategy


#: seconds numba takes to compile each family of batch kernels on a cold cache (measured on 2 busy cores:
#: benchmarks/README.md); said before the wait, so that a first batch never looks hung
COMPILE_SECONDS = {"steady_chunk": 25, "timecourse_chunk": 10, "sensitivity_chunk": 8}
#: what each family is, in the note (single runs, batches of steady states and of time courses compile apart)
_FAMILY = {"steady_chunk": "batch steady-state", "timecourse_chunk": "batch time-course",
           "sensitivity_chunk": "sensitivity"}


def announce_compile(mod, kernel: str) -> None:
    """Say "compiling the model once (about N s: its batch steady-state kernels)" when *kernel* is neither loaded
    nor cached: each family of kernels compiles once, the first time a command needs it."""
    fn = getattr(mod, kernel)
    if not fn.signatures and not is_cached(mod, (kernel,)):
        note(f"compiling the model once (about {COMPILE_SECONDS.get(kernel, 15)} s: its "
             f"{_FAMILY.get(kernel, kernel)} kernels); later runs load them from "
             f"{Path(mod.__file__).parent}")


def _solve_local(model, P, warm, options, progress=None, ex: Threads | None = None):
    mod = compiled(model)
    announce_compile(mod, "steady_chunk")
    n = len(model.states)
    N = P.shape[0]
    Y = np.empty((N, n))
    status = np.empty(N, np.int64)
    strategy = np.empty(N, np.int64)
    if N:
        LU0 = np.empty_like(warm.J)
        piv0 = np.empty(n, np.int64)
        max_chord = options.max_chord if mod.lu_factor(np.ascontiguousarray(warm.J), LU0, piv0) else 0
        (ex or Threads()).run(mod.steady_chunk, N, P, model.guess_vector(), warm.y, warm.p, np.ascontiguousarray(warm.S),
                    _floor(model), LU0, piv0,
                    options.residual_tol, options.step_tol, options.max_newton, options.max_ptc, max_chord,
                    options.eig_tol, Y, status, strategy, progress=progress)
    return Y, status, strategy


def _chunk_task(model_text, model_name, P, warm, options):
    # the model travels as the text of its file: a worker on another machine has none of the client's paths
    from ..model.model import model_from_text

    return _solve_local(model_from_text(model_text, model_name), P, warm, options)


def _solve_dask(model, P, warm, options, ex: Dask, chunk_size):
    chunks = [P[i:i + chunk_size] for i in range(0, P.shape[0], chunk_size)]
    parts = ex.map(_steady_task, chunks, model.source_files(), model.name, warm, options)
    if not parts:
        return np.empty((0, len(model.states))), np.empty(0, np.int64), np.empty(0, np.int64)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def _steady_task(P, model_text, model_name, warm, options):
    return _chunk_task(model_text, model_name, P, warm, options)


def readouts_of(model: Model, Y: np.ndarray, P: np.ndarray, status: np.ndarray | None = None) -> dict:
    """Contract readouts (arrays over sets) for states Y (N, n) and parameters P (N, m); NaN where not ok."""
    N = Y.shape[0]
    O = np.empty((N, len(model.observable_names)))
    mod = compiled(model, numba=False)
    if N and N <= PYTHON_BATCH_MAX_SETS and not mod.NUMBA and not is_cached(mod, ("observe_chunk",)):
        # a small batch on a cold cache (plain_batch): compiling observe would take longer than this
        _solve.kernels(mod, "python").observe_chunk(0, N, np.ascontiguousarray(Y), np.ascontiguousarray(P), O)
    elif N:
        run_chunks(compiled(model).observe_chunk, N, np.ascontiguousarray(Y), np.ascontiguousarray(P), O)
    with np.errstate(all="ignore"):
        r = evaluate_readouts(model, O.T, Y.T)
    out = {}
    bad = None if status is None else status != 0
    for k, v in r.items():
        v = np.asarray(v, dtype=float).copy()
        if bad is not None:
            v[bad] = np.nan
        out[k] = v
    return out


def steady_batch(model: Model, P: np.ndarray, *, warm: Nominal | None = None, options: BatchOptions = BatchOptions(),
                 workers: int | None = None, scheduler: str | None = None, factors: dict | None = None,
                 progress=None, chunk_size: int | None = None) -> BatchResult:
    """Steady states and readouts of the parameter sets *P*. *progress*: called with the number of sets done as
    chunks finish (a progress bar's ``update``; this machine only)."""
    Y, status, strategy = solve_batch(model, P, warm=warm, options=options, workers=workers, scheduler=scheduler,
                                      progress=progress, chunk_size=chunk_size or 2000)
    return BatchResult(model, P, Y, status, strategy, readouts_of(model, Y, P, status), dict(factors or {}))


def integrate_batch(model: Model, Y0: np.ndarray, Pseg: np.ndarray, edges, t_out, *,
                    options: TimecourseOptions = TimecourseOptions(), workers: int | None = None, progress=None,
                    scheduler=None, chunk_size: int = 1000):
    """Time courses of N parameter sets with the numba Rodas4 kernel (``prange`` over sets).

    *Y0* (N, n_states) initial states; *Pseg* (N, n_segments, n_parameters) the parameters in force on
    [edges[s], edges[s+1]] (or (n_segments, n_parameters), shared); *t_out* sorted output times within the
    edges. Returns (Yout (N, len(t_out), n_states), status (N,), accepted steps (N,)); a failed set has NaN
    outputs and a non-zero status (:class:`mgflux.results.Status`), never an exception. *scheduler*: as ``solve_batch`` (chunks
    of *chunk_size* sets as Dask tasks; identical results).
    """
    if scheduler:
        Y0 = np.atleast_2d(np.asarray(Y0, dtype=np.float64))
        Pseg = _compact(Pseg, Y0.shape[0])
        chunks = [(Y0[i:i + chunk_size], Pseg.rows(i, i + chunk_size)) for i in range(0, Y0.shape[0], chunk_size)]
        parts = Dask(scheduler).map(_timecourse_task, chunks, model.source_files(), model.name,
                          np.asarray(edges, dtype=float), np.asarray(t_out, dtype=float), options)
        if not parts:
            return (np.empty((0, np.size(t_out), len(model.states))), np.empty(0, np.int64), np.empty(0, np.int64))
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
    mod = compiled(model)
    announce_compile(mod, "timecourse_chunk")
    Y0 = np.ascontiguousarray(np.atleast_2d(Y0), dtype=np.float64)
    N, n = Y0.shape
    Pseg = _compact(Pseg, N)
    edges = np.ascontiguousarray(edges, dtype=np.float64)
    t_out = np.ascontiguousarray(t_out, dtype=np.float64)
    if Pseg.shape != (N, edges.size - 1, len(model.parameters)):
        raise MgfluxError(f"segment parameters must be (N, {edges.size - 1}, {len(model.parameters)}), got {Pseg.shape}")
    if t_out.size and (np.any(np.diff(t_out) < 0) or t_out[0] < edges[0] or t_out[-1] > edges[-1]):
        raise MgfluxError("output times must be sorted and lie within the segments")
    # absolute tolerance from the model's typical state sizes, not from this batch: a set's course must not
    # depend on which other sets share its batch (or its Dask chunk)
    atol = options.atol_scale * np.maximum(1.0, np.abs(model.guess_vector()))
    Yout = np.empty((N, t_out.size, n))
    status = np.empty(N, np.int64)
    steps = np.empty(N, np.int64)
    set_workers(workers)
    if N:
        kernel = mod.timecourse_chunk
        if Pseg.unique.shape[1] == Pseg.index.shape[0] and np.array_equal(Pseg.index, np.arange(Pseg.index.shape[0])):
            run_chunks(kernel, N, Y0, np.ascontiguousarray(Pseg.unique), edges, t_out, float(options.rtol), atol,
                        int(options.max_steps), Yout, status, steps, min_chunk=8, progress=progress)
        else:  # repeated segments (pulsed drugs): each block of sets gets its full segment array only while it runs
            def run(lo, hi, *args):
                for a in range(lo, hi, _EXPAND_BLOCK):
                    b = min(hi, a + _EXPAND_BLOCK)
                    P = np.ascontiguousarray(Pseg.unique[a:b][:, Pseg.index])
                    kernel(0, b - a, Y0[a:b], P, edges, t_out, float(options.rtol), atol, int(options.max_steps),
                           Yout[a:b], status[a:b], steps[a:b])

            run_chunks(run, N, min_chunk=8, progress=progress)
    return Yout, status, steps


#: sets whose segment parameters are expanded at once (a year of daily pulses: 32 x 730 x m doubles, ~25 MB)
_EXPAND_BLOCK = 32


def _compact(Pseg, N: int):
    """Any segment parameters ((n_segments, m) shared, (N, n_segments, m), or SegmentParameters) as
    SegmentParameters of N sets."""
    from ..model.parameters import SegmentParameters

    if isinstance(Pseg, SegmentParameters):
        return SegmentParameters(np.asarray(Pseg.unique, dtype=np.float64), np.asarray(Pseg.index, dtype=np.int64))
    Pseg = np.asarray(Pseg, dtype=np.float64)
    if Pseg.ndim == 2:
        return SegmentParameters(np.broadcast_to(Pseg[None], (N,) + Pseg.shape), np.arange(Pseg.shape[0]))
    return SegmentParameters(Pseg, np.arange(Pseg.shape[1]))


def _timecourse_task(chunk, model_text, model_name, edges, t_out, options):
    from ..model.model import model_from_text

    Y0, Pseg = chunk
    return integrate_batch(model_from_text(model_text, model_name), Y0, Pseg, edges, t_out, options=options)


def observe_series(model: Model, Yout, Pseg, edges, t_out, names) -> dict:
    """Model observables *names* (expressions or ``flux_*``) at every output time, with the parameters of the
    segment in force there (the later segment at an edge, as ``simulate``): name -> (N, len(t_out))."""
    mod = compiled(model)
    edges = np.asarray(edges, dtype=float)
    t_out = np.asarray(t_out, dtype=float)
    nseg = edges.size - 1
    seg_of = np.clip(np.searchsorted(edges, t_out, side="right") - 1, 0, nseg - 1).astype(np.int64)
    idx = np.array([model.observable_names.index(k) for k in names], dtype=np.int64)
    Pseg = _compact(Pseg, Yout.shape[0])
    seg_of = np.ascontiguousarray(Pseg.index[seg_of], dtype=np.int64)  # into the distinct segment parameters
    lines = _needed_lines(model, tuple(names))
    if len(lines) <= _NUMPY_LINES:  # a few formulas (serum total: one division): numpy over every point at once
        return _observe_numpy(model, lines, Yout, Pseg.unique, seg_of, names)
    O = np.empty((Yout.shape[0], t_out.size, idx.size))
    if Yout.shape[0]:
        run_chunks(mod.observe_tc_chunk, Yout.shape[0], np.ascontiguousarray(Yout),
                    np.ascontiguousarray(Pseg.unique), seg_of, idx, O)
    return {k: O[:, :, q] for q, k in enumerate(names)}


#: at most this many formulas needed: observe_series evaluates them with numpy (each formula once over every set
#: and time) rather than the compiled ``observe``, which computes all of the model's (~200) at every point
_NUMPY_LINES = 24
_POINTS = 1 << 18  # points (set x time) per numpy chunk: a few MB per temporary


def _names_in(formula: str) -> set[str]:
    from ..model.formula import parse

    return {n.id for n in ast.walk(parse(formula)) if isinstance(n, ast.Name)}


def _needed_lines(model: Model, names: tuple) -> list[tuple[str, str]]:
    """The formulas (name, formula) that *names* depend on, in the model's order: the dependency closure."""
    formulas = [(e.name, e.formula) for e in model.expressions] + [("flux_" + f.name, f.rate) for f in model.fluxes]
    uses = {k: _names_in(f) for k, f in formulas}
    want, stack = set(), list(names)
    while stack:
        k = stack.pop()
        if k in uses and k not in want:
            want.add(k)
            stack.extend(uses[k])
    return [(k, f) for k, f in formulas if k in want]


def _observe_numpy(model: Model, lines, Yout, unique, seg_of, names) -> dict:
    """observe_series for a few formulas: numpy arrays of (sets, times) in chunks of sets. The states of a failed
    set are NaN, and so are its observables (as with ``observe``)."""
    from ..model.formula import evaluate

    N, T = Yout.shape[0], Yout.shape[1]
    used = set().union(*(_names_in(f) for _, f in lines))
    states = [(i, s) for i, s in enumerate(model.state_names) if s in used]
    params = [(j, q) for j, q in enumerate(model.parameter_names) if q in used]
    out = {k: np.empty((N, T)) for k in names}
    step = max(1, _POINTS // max(T, 1))
    with np.errstate(all="ignore"):  # as the compiled code (error_model numpy): inf and nan, never an exception
        for lo in range(0, N, step):
            hi = min(N, lo + step)
            env = {s: Yout[lo:hi, :, i] for i, s in states}
            env.update({q: unique[lo:hi, :, j][:, seg_of] for j, q in params})
            for k, f in lines:
                env[k] = evaluate(f, env)
            for k in names:
                out[k][lo:hi] = env[k]
    return out


class _Observer:
    """The engine's side of :class:`mgflux.results.Observer`: a TimecourseResult computes its observables and
    readouts through this object, so results.py never imports the engine (arrows point down)."""

    observe_series = staticmethod(observe_series)
    readouts_of = staticmethod(readouts_of)

    def __reduce__(self):  # one object: unpickled (a result sent between processes) as the module's own
        return "OBSERVER"


OBSERVER = _Observer()
