"""Batches of parameter sets: steady states, local sensitivities, sweeps, virtual populations, global indices.

The numerics live in :mod:`mgflux._kernels_batch` (compiled with the model). This module builds parameter
matrices from a scenario plus *factors* (model parameters, or the dose / activity / amount of a catalogue
entry), runs them as chunks of a GIL-free kernel on a pool of threads (the prange kernels in the generated
module do the same work, but numba's parallel lowering costs ~10 s of compilation each on a cold cache), or in
chunks on a Dask cluster, and returns tidy results with a status per set: a set that fails never raises, it
carries a non-OK status and NaN readouts.

Time courses (``timecourse_batch``, ``population(..., days=D)``): every set starts at the steady state of its
own diet, genes and physiology, then a Rodas4 Rosenbrock integrator (order 4(3), L-stable, exact symbolic
Jacobian, step-size control, continuous output at the requested times) runs segment by segment between the
window edges of the scenario, each set with its own parameters per segment (``segment_parameters``).

Factor names:

- a model parameter (``gfr``, ``diet_mg_intake``...): values in the unit written in the model file
  (``gfr`` in mL/min, ``diet_mg_intake`` in mg/day); it replaces the base value before the scenario's
  perturbations act on it (so a drug that multiplies ``gfr_relative`` still does);
- ``ENTRY.dose`` / ``ENTRY.activity`` / ``ENTRY.amount`` for a catalogue entry (``omeprazole.dose``,
  ``SLC12A3.activity``, ``magnesium_citrate.amount`` in mg/day of elemental Mg, IV rates in mmol/day):
  replaces that entry's input in the scenario,
  or adds the entry (on permanently) when the scenario does not have it.
"""
from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _solve
from ._catalogue import Entry, apply_modifiers, get_catalogue
from ._catalogue import evaluate as _catalogue_evaluate
from ._codegen import compiled
from ._model import Model
from ._scenario import Scenario, load_scenario
from ._simulate import EXTRA_READOUTS, READOUTS, _readouts, hypomagnesemia_grade
from .errors import MgfluxError, ScenarioError, unknown_name

STATUS = {0: "ok", 1: "not_converged", 2: "unstable", 3: "nonfinite_parameters", 4: "negative_state"}
STATUS_TEXT = {
    0: "converged, stable, every amount >= 0",
    1: "no steady state: chord/Newton, pseudo-transient continuation and cold-start Newton all failed",
    2: "a steady state was found but a Jacobian eigenvalue has a positive real part",
    3: "a parameter (or the result) is not finite",
    4: "the steady state has a negative amount",
}
STRATEGY = {-1: "none", 0: "chord+Newton (warm)", 1: "Newton (cold)", 2: "PTC+Newton (warm)", 3: "PTC+Newton (cold)"}


@dataclass(frozen=True)
class BatchOptions:
    """Numerical choices of the batched steady-state engine (tolerances as :class:`mgflux.SteadyOptions`)."""

    residual_tol: float = 1e-11
    step_tol: float = 1e-10
    max_newton: int = 60
    max_ptc: int = 400
    max_chord: int = 40  # chord iterations with the shared nominal LU before full Newton
    eig_tol: float = 1e-9  # largest eigenvalue real part still called stable (per day)


def _workers(workers: int | None):
    import numba as nb

    if workers:
        nb.set_num_threads(max(1, min(int(workers), nb.config.NUMBA_NUM_THREADS)))


def _run_chunks(fn, N: int, *args, min_chunk: int = 64, progress=None) -> None:
    """fn(lo, hi, *args) over 0..N in chunks on a pool of threads, as many as numba's thread count (the
    kernels release the GIL). Same results as numba's prange (every set is independent), without its parallel
    lowering, which costs ~10 s of compilation per kernel on a cold cache. The first set runs alone first (it
    compiles or loads the kernel); the rest in ~8 chunks per thread (load balance: hard sets cluster), or in
    ~50 chunks when *progress* (called with the number of sets each finished chunk did) drives a progress bar."""
    import numba as nb

    if N <= 0:
        return
    fn(0, 1, *args)
    if progress:
        progress(1)
    if N == 1:
        return
    T = max(1, nb.get_num_threads())
    n_chunks = max(1, min(50 if progress else 8 * T, (N - 1) // max(min_chunk, 1)))
    bounds = np.linspace(1, N, n_chunks + 1).astype(np.int64)
    spans = [(int(bounds[i]), int(bounds[i + 1])) for i in range(n_chunks) if bounds[i + 1] > bounds[i]]
    if T == 1 or n_chunks == 1:
        for lo, hi in spans:
            fn(lo, hi, *args)
            if progress:
                progress(hi - lo)
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=T) as ex:
        futures = {ex.submit(fn, lo, hi, *args): hi - lo for lo, hi in spans}
        for f in as_completed(futures):
            f.result()
            if progress:
                progress(futures[f])


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
    mod = compiled(model)
    n, m = len(model.states), p.size
    try:
        # numba kernels always (the batch loads them anyway): the warm start, and so every result of the batch,
        # must not depend on whether this process had loaded numba before (the Python kernels' Newton differs
        # from the compiled one within the tolerance, not bit for bit)
        y, _ = _solve.steady_state(mod, p, model.guess_vector(), model.state_names,
                                   _solve.SteadyOptions(backend="numba"))
    except MgfluxError:
        y = model.guess_vector()
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
    if scheduler:
        return _solve_dask(model, P, warm, options, scheduler, chunk_size)
    _workers(workers)
    return _solve_local(model, P, warm, options, progress)


def _solve_local(model, P, warm, options, progress=None):
    mod = compiled(model)
    n = len(model.states)
    N = P.shape[0]
    Y = np.empty((N, n))
    status = np.empty(N, np.int64)
    strategy = np.empty(N, np.int64)
    if N:
        LU0 = np.empty_like(warm.J)
        piv0 = np.empty(n, np.int64)
        max_chord = options.max_chord if mod.lu_factor(np.ascontiguousarray(warm.J), LU0, piv0) else 0
        _run_chunks(mod.steady_chunk, N, P, model.guess_vector(), warm.y, warm.p, np.ascontiguousarray(warm.S),
                    _floor(model), LU0, piv0,
                    options.residual_tol, options.step_tol, options.max_newton, options.max_ptc, max_chord,
                    options.eig_tol, Y, status, strategy, progress=progress)
    return Y, status, strategy


def _chunk_task(model_text, model_name, P, warm, options):
    # the model travels as the text of its file: a worker on another machine has none of the client's paths
    from ._model import model_from_text

    return _solve_local(model_from_text(model_text, model_name), P, warm, options)


@contextlib.contextmanager
def _dask_client(scheduler):
    """A dask.distributed Client for *scheduler*: ``"local"`` (a LocalCluster on this machine, closed after),
    ``"tcp://HOST:PORT"``, or a Client already open (used as it is, left open)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise MgfluxError('the Dask backend needs dask.distributed: pip install "mgflux[dask]"') from None
    if not isinstance(scheduler, str):
        yield scheduler
        return
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_map(scheduler, fn, chunks: list, *shared) -> list:
    """fn(chunk, *shared) for every chunk, as tasks on the cluster; the results in order."""
    with _dask_client(scheduler) as client:
        futures = client.map(fn, chunks, *[[a] * len(chunks) for a in shared], pure=False)
        return client.gather(futures)


def _solve_dask(model, P, warm, options, scheduler, chunk_size):
    chunks = [P[i:i + chunk_size] for i in range(0, P.shape[0], chunk_size)]
    parts = _dask_map(scheduler, _steady_task, chunks, model.source_files(), model.name, warm, options)
    if not parts:
        return np.empty((0, len(model.states))), np.empty(0, np.int64), np.empty(0, np.int64)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def _steady_task(P, model_text, model_name, warm, options):
    return _chunk_task(model_text, model_name, P, warm, options)


@dataclass(frozen=True)
class BatchResult:
    """Steady states of many parameter sets: ``status`` per set (0 = ok, see ``STATUS``), states ``Y``,
    readouts by name (arrays; NaN where the status is not ok), and the factor values that made each set."""

    model: Model
    P: np.ndarray
    Y: np.ndarray
    status: np.ndarray
    strategy: np.ndarray
    readouts: dict
    factors: dict = field(default_factory=dict)  # factor name -> values (N,)
    labels: dict | None = None  # status code -> text (default STATUS; time courses: TC_STATUS)

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def __getitem__(self, name):
        return self.readouts[name]

    def __len__(self):
        return self.status.shape[0]

    def status_counts(self) -> dict:
        lab = self.labels or STATUS
        return {lab[int(s)]: int(np.sum(self.status == s)) for s in np.unique(self.status)}

    def dataframe(self, readouts=None):
        """Tidy pandas DataFrame: one row per set; factor columns, status, readouts."""
        import pandas as pd

        cols = {k: v for k, v in self.factors.items()}
        cols["status"] = [(self.labels or STATUS)[int(s)] for s in self.status]
        for k in (readouts or self.readouts):
            cols[k] = self.readouts[k]
        return pd.DataFrame(cols)

    def save(self, path, readouts=None) -> Path:
        """Write the tidy table by the file's suffix: ``.parquet`` (pandas and pyarrow: ``pip install
        "mgflux[parquet]"``) or anything else as CSV."""
        path = Path(path)
        if path.suffix == ".parquet":
            write_parquet(self.dataframe(readouts), path)
            return path
        return self.to_csv(path, readouts)

    def to_csv(self, path, readouts=None) -> Path:
        """Write the tidy table as CSV (pandas not needed); a non-finite readout is an empty field. Rows are
        formatted in blocks by one format string (a million rows in a few seconds)."""
        import re

        path = Path(path)
        keys = list(readouts or self.readouts)
        names = list(self.factors) + ["status"] + keys
        labels = self.labels or STATUS
        cols = [np.asarray(self.factors[k], dtype=float).tolist() for k in self.factors]
        cols.append([labels[int(s)] for s in self.status])
        cols += [np.asarray(self.readouts[k], dtype=float).tolist() for k in keys]
        fmt = ",".join(["%.10g"] * len(self.factors) + ["%s"] + ["%.10g"] * len(keys))
        nonfinite = re.compile(r"(?<=,)-?(?:nan|inf)(?=,|$)", re.M)
        with path.open("w", newline="") as fh:
            fh.write(",".join(names) + "\n")
            for lo in range(0, len(self), 100_000):
                rows = zip(*(c[lo:lo + 100_000] for c in cols))
                fh.write(nonfinite.sub("", "\n".join(map(fmt.__mod__, rows))) + "\n")
        return path


def write_parquet(df, path) -> Path:
    """A DataFrame as Parquet, or a clear error naming the extra that provides it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MgfluxError(f'cannot write {path}: Parquet needs pandas and pyarrow (pip install "mgflux[parquet]"); '
                          "or use --format csv") from None
    df.to_parquet(path, index=False)
    return Path(path)


def readouts_of(model: Model, Y: np.ndarray, P: np.ndarray, status: np.ndarray | None = None) -> dict:
    """Contract readouts (arrays over sets) for states Y (N, n) and parameters P (N, m); NaN where not ok."""
    mod = compiled(model)
    N = Y.shape[0]
    O = np.empty((N, len(model.observable_names)))
    if N:
        _run_chunks(mod.observe_chunk, N, np.ascontiguousarray(Y), np.ascontiguousarray(P), O)
    with np.errstate(all="ignore"):
        r = _readouts(model, O.T, Y.T)
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
                 progress=None) -> BatchResult:
    """Steady states and readouts of the parameter sets *P*. *progress*: called with the number of sets done as
    chunks finish (a progress bar's ``update``; this machine only)."""
    Y, status, strategy = solve_batch(model, P, warm=warm, options=options, workers=workers, scheduler=scheduler,
                                      progress=progress)
    return BatchResult(model, P, Y, status, strategy, readouts_of(model, Y, P, status), dict(factors or {}))


# -------------------------------------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """Something a sweep varies: a model parameter (``index``) or a catalogue entry's input (``entry``)."""

    name: str
    index: int = -1  # model parameter
    to_internal: float = 1.0  # internal value per display unit (model file unit; mg/day for oral Mg salts)
    unit: str = ""
    entry: Entry | None = None
    documented_range: tuple[float, float] | None = None  # in the display unit

    @property
    def is_parameter(self) -> bool:
        return self.entry is None


def factor(scenario: Scenario, name: str) -> Factor:
    """Resolve a factor name against the scenario's model and catalogue (did-you-mean on errors)."""
    model = scenario.model
    if "." in name:
        ename, var = name.split(".", 1)
        entry = get_catalogue(model).lookup(ename, "--vary")
        if var != entry.variable:
            raise ScenarioError(f"--vary {name}: {entry.name} is a {entry.kind}; its input is "
                                f"{entry.name}.{entry.variable} (not {var!r})")
        lo, hi = entry.activity_range if entry.kind == "gene" else entry.dose_range
        unit = {"activity": "residual activity", "dose": "x standard dose", "amount": entry.amount_unit or "mmol/day"}
        conv = 1.0
        if var == "amount" and entry.route == "oral" and not entry.amount_unit:
            # oral Mg salts are prescribed in mg of elemental Mg per day: sweep in that unit
            from ._units import MG_MOLAR_MASS_G_PER_MOL

            unit["amount"], conv = "mg/day", 1.0 / MG_MOLAR_MASS_G_PER_MOL
        return Factor(name, entry=entry, unit=unit[var], to_internal=conv,
                      documented_range=(lo, hi) if math.isfinite(hi) else None)
    if name not in model.parameter_names:
        raise ScenarioError(unknown_name("parameter or ENTRY.dose/activity/amount", name, model.parameter_names, "--vary"))
    from . import _units

    i = model.parameter_index(name)
    par = model.parameters[i]
    conv = _units.to_internal(_units.registry().Quantity(1.0, par.unit))
    rng = None if par.range is None else (par.range[0] / conv, par.range[1] / conv)
    return Factor(name, index=i, to_internal=conv, unit=par.unit, documented_range=rng)


def _affine(model: Model, mods) -> tuple[np.ndarray, np.ndarray]:
    """apply_modifiers is affine in the base vector: p = base * M + A."""
    m = len(model.parameters)
    A = apply_modifiers(model, np.zeros(m), mods)
    M = apply_modifiers(model, np.ones(m), mods) - A
    return M, A


def _entry_affine(model: Model, entry: Entry, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, A) of shape (len(values), n_parameters): the entry at each input value maps p to p * M + A (as
    ``apply_modifiers``: multipliers, then additions). Vectorised over the values; checked against the scalar
    path on a few of them (any difference: the scalar path for all)."""
    values = np.asarray(values, dtype=float)
    m = len(model.parameters)
    U = values.size
    M = np.ones((U, m))
    A = np.zeros((U, m))
    try:
        env = dict(entry.constants)
        env[entry.variable] = values
        with np.errstate(all="ignore"):
            for e in entry.effects:
                i = model.parameter_index(e.parameter)
                if e.multiply:
                    M[:, i] *= _catalogue_evaluate(e.multiply, env)
                if e.add:
                    A[:, i] += _catalogue_evaluate(e.add, env)
        for u in {0, U // 2, U - 1} if U else ():
            Mu, Au = _affine(model, entry.modifiers(float(values[u])))
            if not (np.allclose(Mu, M[u], rtol=1e-13, atol=0, equal_nan=True)
                    and np.allclose(Au, A[u], rtol=1e-13, atol=1e-300, equal_nan=True)):
                raise ValueError("vectorised modifiers differ")
    except Exception:
        for u, v in enumerate(values):
            M[u], A[u] = _affine(model, entry.modifiers(float(v)))
    return M, A


def parameter_matrix(scenario: Scenario, factors: list[Factor], values: np.ndarray, *, steady: bool = True,
                     window: tuple[float, float] | None = None) -> np.ndarray:
    """Parameter sets (N, n_parameters) of *scenario* with the factors set to *values* (N, k).

    steady=True: every perturbation and continuous treatment on (as ``mgflux.steady_state``); otherwise the
    applications active in *window* (None: the genes only, as the start of ``run``).
    """
    model = scenario.model
    values = np.atleast_2d(np.asarray(values, dtype=float))
    N = values.shape[0]
    base = model.parameter_vector()
    if scenario.mg_intake is not None:
        base[model.parameter_index("diet_mg_intake")] = scenario.mg_intake
    B = np.repeat(base[None, :], N, axis=0)
    varied_entries = {f.entry.name for f in factors if f.entry is not None}
    fixed = []
    for a in scenario.applications:
        if a.entry.name in varied_entries:
            continue
        if a.lifelong:
            fixed.extend(a.modifiers())
        elif steady and not a.one_off:
            fixed.extend(a.modifiers())
        elif not steady and window is not None and a.active(*window):
            fixed.extend(a.modifiers())
    M, A = _affine(model, fixed)
    Mt = np.repeat(M[None, :], N, axis=0)
    At = np.repeat(A[None, :], N, axis=0)
    for j, f in enumerate(factors):
        col = values[:, j]
        if f.is_parameter:
            B[:, f.index] = col * f.to_internal
            continue
        uniq, inv = np.unique(col, return_inverse=True)
        Ms, As = _entry_affine(model, f.entry, uniq * f.to_internal)
        Mt *= Ms[inv]
        At += As[inv]
    return B * Mt + At


# ------------------------------------------------------------------------------------------------ sweeps

_VARY = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*([^:]+):([^:]+)(?::(\d+))?(?::(log|lin))?\s*$")


@dataclass(frozen=True)
class Vary:
    name: str
    lo: float
    hi: float
    n: int = 11
    log: bool = False

    def grid(self) -> np.ndarray:
        if self.log:
            return np.geomspace(self.lo, self.hi, self.n)
        return np.linspace(self.lo, self.hi, self.n)


def parse_vary(text: str, log: bool = False) -> Vary:
    """``NAME=LO:HI:N`` (optionally ``:log``) -> :class:`Vary`."""
    m = _VARY.match(text)
    if not m:
        raise ScenarioError(f"--vary {text!r}: expected NAME=LO:HI:N, e.g. gfr=60:150:10 or omeprazole.dose=0:2:21")
    name, lo, hi, n, scale = m.groups()
    try:
        lo, hi = float(lo), float(hi)
    except ValueError:
        raise ScenarioError(f"--vary {text!r}: LO and HI must be numbers") from None
    n = int(n) if n else 11
    is_log = log or scale == "log"
    if n < 1 or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise ScenarioError(f"--vary {text!r}: need LO <= HI and N >= 1")
    if is_log and lo <= 0:
        raise ScenarioError(f"--vary {text!r}: a log scale needs LO > 0")
    return Vary(name, lo, hi, n, is_log)


def design(varies: list[Vary], samples: int | None = None, method: str = "grid", seed: int = 0) -> np.ndarray:
    """Factor values (N, k): a full factorial grid, or *samples* points by Latin hypercube / Sobol."""
    k = len(varies)
    if samples is None or method == "grid":
        grids = np.meshgrid(*[v.grid() for v in varies], indexing="ij")
        return np.column_stack([g.ravel() for g in grids])
    from scipy.stats import qmc

    if method == "lhs":
        u = qmc.LatinHypercube(d=k, seed=seed).random(samples)
    elif method == "sobol":
        import warnings

        sob = qmc.Sobol(d=k, scramble=True, seed=seed)
        with warnings.catch_warnings():  # a power of two is best balanced; other N are allowed, just less so
            warnings.simplefilter("ignore", UserWarning)
            u = sob.random(samples)
    else:
        raise ScenarioError(unknown_name("sampling method", method, ["grid", "lhs", "sobol"], "--method"))
    out = np.empty_like(u)
    for j, v in enumerate(varies):
        if v.log:
            out[:, j] = np.exp(np.log(v.lo) + u[:, j] * (np.log(v.hi) - np.log(v.lo)))
        else:
            out[:, j] = v.lo + u[:, j] * (v.hi - v.lo)
    return out


def sweep(scenario, varies: list[Vary], *, samples: int | None = None, method: str = "grid", seed: int = 0,
          workers: int | None = None, scheduler: str | None = None, options: BatchOptions = BatchOptions()) -> BatchResult:
    """Steady states over a grid or a sample of factors (model parameters, entry doses/activities)."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    facs = [factor(scenario, v.name) for v in varies]
    X = design(varies, samples, method, seed)
    P = parameter_matrix(scenario, facs, X)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
    res = steady_batch(scenario.model, P, warm=nominal(scenario.model, p0), options=options, workers=workers,
                       scheduler=scheduler, factors={f.name: X[:, j] for j, f in enumerate(facs)})
    return res


# ------------------------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class LocalSensitivity:
    """Normalised local sensitivities d ln(readout) / d ln(parameter) at the steady state of a scenario."""

    scenario: str
    parameters: tuple[str, ...]
    values: np.ndarray  # parameter values (internal units)
    readouts: dict  # readout -> value
    normalised: dict  # readout -> array over parameters
    absolute: dict  # readout -> d readout / d parameter (internal units)

    def ranking(self, readout: str = "serum_mg_total_mM", top: int | None = None) -> list[tuple[str, float]]:
        s = self.normalised[readout]
        order = np.argsort(-np.abs(s))
        rows = [(self.parameters[i], float(s[i])) for i in order if s[i] != 0.0]
        return rows[:top] if top else rows

    def dataframe(self):
        import pandas as pd

        rows = []
        for r, arr in self.normalised.items():
            for i, pn in enumerate(self.parameters):
                rows.append({"readout": r, "parameter": pn, "value": self.values[i], "normalised": arr[i],
                             "absolute": self.absolute[r][i]})
        return pd.DataFrame(rows)


SENSITIVITY_READOUTS = ("serum_mg_total_mM", "serum_mg_ionized_mM", "urine_mg_mmol_per_day", "femg_percent",
                        "absorbed_mmol_per_day", "fractional_absorption_percent", "body_mg_mmol",
                        "reabsorbed_tal_percent", "reabsorbed_dct_percent", "trpm6_relative", "dct_mass_relative")


def sensitivity_matrices(model: Model, Y: np.ndarray, P: np.ndarray):
    """dY/dP (N, n_states, n_parameters) and d(observables)/dP (N, n_obs, n_parameters) at steady states."""
    mod = compiled(model)
    N, n = Y.shape
    m = P.shape[1]
    S = np.zeros((N, n, m))
    OS = np.zeros((N, len(model.observable_names), m))
    st = np.zeros(N, np.int64)
    mod.batch_sensitivity(np.ascontiguousarray(Y), np.ascontiguousarray(P), S, OS, st)
    return S, OS, st


def local_sensitivity(scenario, readouts=SENSITIVITY_READOUTS) -> LocalSensitivity:
    """Normalised sensitivities of readouts to every model parameter, from the LU of the steady-state Jacobian."""
    import warnings

    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = scenario.model
    p = parameter_matrix(scenario, [], np.zeros((1, 0)))
    res = steady_batch(model, p)
    if res.status[0] != 0:
        raise MgfluxError(f"no stable steady state for {scenario.name!r} ({STATUS_TEXT[int(res.status[0])]})")
    S, OS, st = sensitivity_matrices(model, res.Y, p)
    m = p.shape[1]
    mod = compiled(model)
    obs = np.empty(len(model.observable_names))
    mod.observe(res.Y[0], p[0], obs)
    h = 1e-30
    # complex step through the readout formulas (ratios, sums) along every parameter direction at once
    Oc = obs[:, None] + 1j * h * OS[0]
    Yc = res.Y[0][:, None] + 1j * h * S[0]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rc = _readouts(model, Oc, Yc)
    norm, absd, vals = {}, {}, {}
    for r in readouts:
        v = np.asarray(rc[r])
        if r == "hypomagnesemia_grade":
            continue
        d = v.imag / h
        x = float(res.readouts[r][0])
        vals[r] = x
        absd[r] = d
        with np.errstate(all="ignore"):
            norm[r] = np.where(x != 0, d * p[0] / x, 0.0)
    return LocalSensitivity(scenario.name, model.parameter_names, p[0].copy(), vals, norm, absd)


@dataclass(frozen=True)
class GlobalSensitivity:
    scenario: str
    method: str
    readout: str
    parameters: tuple[str, ...]
    indices: dict  # name -> array over parameters (mu_star, sigma, ... or S1, ST, with _conf)
    n_evaluations: int
    failed: int

    def dataframe(self):
        import pandas as pd

        d = {"parameter": list(self.parameters)}
        d.update({k: v for k, v in self.indices.items()})
        return pd.DataFrame(d)

    def ranking(self):
        key = "mu_star" if self.method == "morris" else "ST"
        s = self.indices[key]
        order = np.argsort(-np.abs(s))
        return [(self.parameters[i], float(s[i])) for i in order]


def ranged_factors(scenario: Scenario) -> list[Factor]:
    """Every model parameter with a documented physiological range (adult.toml ``range``)."""
    return [factor(scenario, p.name) for p in scenario.model.parameters if p.range is not None and p.range[1] > p.range[0]]


def global_sensitivity(scenario, method: str = "sobol", readout: str = "serum_mg_total_mM", n: int = 1024,
                       seed: int = 0, workers: int | None = None, scheduler: str | None = None) -> GlobalSensitivity:
    """Morris elementary effects or Sobol indices (SALib) over the documented ranges of the model parameters.

    *n*: base sample size (Sobol: rounded up to a power of two; total runs n (2k + 2); Morris: trajectories).
    """
    try:
        from SALib.analyze import morris as morris_a
        from SALib.analyze import sobol as sobol_a
        from SALib.sample import morris as morris_s
        from SALib.sample import sobol as sobol_s
    except ImportError:
        raise MgfluxError(f'{method} sensitivity needs SALib: pip install "mgflux[sensitivity]" '
                          "(or use --method local, which needs nothing extra)") from None
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    facs = ranged_factors(scenario)
    problem = {"num_vars": len(facs), "names": [f.name for f in facs],
               "bounds": [list(f.documented_range) for f in facs]}
    if method == "sobol":
        n = 1 << max(0, int(math.ceil(math.log2(max(n, 1)))))
        X = sobol_s.sample(problem, n, calc_second_order=False, seed=seed)
    elif method == "morris":
        X = morris_s.sample(problem, n, num_levels=4, seed=seed)
    else:
        raise ScenarioError(unknown_name("global method", method, ["morris", "sobol"], "--method"))
    P = parameter_matrix(scenario, facs, X)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
    res = steady_batch(scenario.model, P, warm=nominal(scenario.model, p0), workers=workers, scheduler=scheduler)
    Yv = np.asarray(res[readout], dtype=float)
    failed = int(np.sum(~res.ok))
    if failed:  # SALib needs every evaluation: a failed set takes the median (reported)
        Yv = np.where(res.ok, Yv, np.nanmedian(Yv))
    if method == "sobol":
        a = sobol_a.analyze(problem, Yv, calc_second_order=False, seed=seed)
        idx = {k: np.asarray(a[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    else:
        a = morris_a.analyze(problem, X, Yv, num_levels=4, seed=seed)
        idx = {k: np.asarray(a[k]) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}
    return GlobalSensitivity(scenario.name, method, readout, tuple(problem["names"]), idx, int(P.shape[0]), failed)


def plot_tornado(names, values, path, title, xlabel, conf=None, top: int = 15) -> Path:
    from ._plot import _plt

    plt = _plt()
    values = np.asarray(values, dtype=float)
    order = np.argsort(-np.abs(values))[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
    colors = ["tab:blue" if values[i] >= 0 else "tab:red" for i in order]
    ax.barh([names[i] for i in order], values[order], color=colors,
            xerr=None if conf is None else np.asarray(conf)[order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------- batched time courses

TC_STATUS = {
    0: "ok",
    1: "integration failed: step size too small or step budget exhausted",
    3: "a parameter or state is not finite",
    4: "a negative amount",
    5: "no initial steady state",
}


@dataclass(frozen=True)
class TimecourseOptions:
    """Numerical choices of the batched Rosenbrock (Rodas4) integrator: error per step below
    atol + rtol |y|, with atol = atol_scale * max(1, |y0|) per state."""

    rtol: float = 1e-6
    atol_scale: float = 1e-9
    max_steps: int = 200_000


def integrate_batch(model: Model, Y0: np.ndarray, Pseg: np.ndarray, edges, t_out, *,
                    options: TimecourseOptions = TimecourseOptions(), workers: int | None = None, progress=None,
                    scheduler=None, chunk_size: int = 1000):
    """Time courses of N parameter sets with the numba Rodas4 kernel (``prange`` over sets).

    *Y0* (N, n_states) initial states; *Pseg* (N, n_segments, n_parameters) the parameters in force on
    [edges[s], edges[s+1]] (or (n_segments, n_parameters), shared); *t_out* sorted output times within the
    edges. Returns (Yout (N, len(t_out), n_states), status (N,), accepted steps (N,)); a failed set has NaN
    outputs and a non-zero status (``TC_STATUS``), never an exception. *scheduler*: as ``solve_batch`` (chunks
    of *chunk_size* sets as Dask tasks; identical results).
    """
    if scheduler:
        Y0 = np.atleast_2d(np.asarray(Y0, dtype=np.float64))
        Pseg = np.asarray(Pseg, dtype=np.float64)
        if Pseg.ndim == 2:
            Pseg = np.broadcast_to(Pseg[None], (Y0.shape[0],) + Pseg.shape)
        chunks = [(Y0[i:i + chunk_size], np.ascontiguousarray(Pseg[i:i + chunk_size]))
                  for i in range(0, Y0.shape[0], chunk_size)]
        parts = _dask_map(scheduler, _timecourse_task, chunks, model.source_files(), model.name,
                          np.asarray(edges, dtype=float), np.asarray(t_out, dtype=float), options)
        if not parts:
            return (np.empty((0, np.size(t_out), len(model.states))), np.empty(0, np.int64), np.empty(0, np.int64))
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
    mod = compiled(model)
    Y0 = np.ascontiguousarray(np.atleast_2d(Y0), dtype=np.float64)
    N, n = Y0.shape
    Pseg = np.asarray(Pseg, dtype=np.float64)
    if Pseg.ndim == 2:
        Pseg = np.broadcast_to(Pseg[None], (N,) + Pseg.shape)
    Pseg = np.ascontiguousarray(Pseg)
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
    _workers(workers)
    if N:
        _run_chunks(mod.timecourse_chunk, N, Y0, Pseg, edges, t_out, float(options.rtol), atol,
                    int(options.max_steps), Yout, status, steps, min_chunk=8, progress=progress)
    return Yout, status, steps


def _timecourse_task(chunk, model_text, model_name, edges, t_out, options):
    from ._model import model_from_text

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
    Pseg = np.asarray(Pseg, dtype=np.float64)
    if Pseg.ndim == 2:
        Pseg = np.broadcast_to(Pseg[None], (Yout.shape[0],) + Pseg.shape)
    O = np.empty((Yout.shape[0], t_out.size, idx.size))
    if Yout.shape[0]:
        _run_chunks(mod.observe_tc_chunk, Yout.shape[0], np.ascontiguousarray(Yout), np.ascontiguousarray(Pseg),
                    seg_of, idx, O)
    return {k: O[:, :, q] for q, k in enumerate(names)}


def run_edges(scenario: Scenario, days: float | None = None) -> np.ndarray:
    """Segment boundaries of a run to day *days* (default: the scenario's duration): 0, every window edge
    inside, the end."""
    end = float(scenario.duration if days is None else days)
    ts = {0.0, end}
    for a in scenario.timed:
        for t in (a.start, a.stop):
            if 0.0 < t < end:
                ts.add(float(t))
    return np.array(sorted(ts))


def run_times(scenario: Scenario, days: float | None = None) -> np.ndarray:
    """Output grid of a run to day *days*: every ``sample_every`` and the end."""
    end = float(scenario.duration if days is None else days)
    step = scenario.sample_every
    n = int(math.floor(end / step + 1e-9))
    t = np.arange(n + 1) * step
    if end - t[-1] > 1e-9 * max(end, 1.0):
        t = np.append(t, end)
    return t


def segment_parameters(scenario: Scenario, factors: list[Factor], values: np.ndarray, edges) -> tuple[np.ndarray, np.ndarray]:
    """(base (N, m), Pseg (N, n_segments, m)): the parameters at the start (diet, genes, varied model
    parameters; no timed application) and in each segment (the applications whose window covers it, a varied
    entry taking its per-set value only where one of its applications is active)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    N = values.shape[0]
    pcols = [j for j, f in enumerate(factors) if f.is_parameter]
    pf = [factors[j] for j in pcols]
    base = parameter_matrix(scenario, pf, values[:, pcols] if pcols else np.zeros((N, 0)), steady=False)
    edges = np.asarray(edges, dtype=float)
    Pseg = np.empty((N, edges.size - 1, base.shape[1]))
    for s in range(edges.size - 1):
        w = (float(edges[s]), float(edges[s + 1]))
        cols = [j for j, f in enumerate(factors)
                if f.is_parameter or any(a.entry.name == f.entry.name and a.active(*w) for a in scenario.applications)]
        Pseg[:, s] = parameter_matrix(scenario, [factors[j] for j in cols], values[:, cols] if cols else np.zeros((N, 0)),
                                      steady=False, window=w)
    return base, Pseg


@dataclass(frozen=True)
class TimecourseResult:
    """Time courses of many parameter sets of one scenario: states ``Y`` (N, n_times, n_states) at ``time_day``,
    ``status`` per set (``TC_STATUS``; 5 when the initial steady state failed), the segment parameters."""

    model: Model
    time_day: np.ndarray
    edges: np.ndarray
    Y: np.ndarray
    Pseg: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    factors: dict = field(default_factory=dict)

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def __len__(self):
        return self.status.shape[0]

    def observables(self, names) -> dict:
        """Model observables (N, n_times) by name; NaN for failed sets."""
        return observe_series(self.model, self.Y, self.Pseg, self.edges, self.time_day, list(names))

    def serum(self) -> np.ndarray:
        return self.observables(["serum_total"])["serum_total"]

    def status_counts(self) -> dict:
        return {TC_STATUS[int(s)]: int(np.sum(self.status == s)) for s in np.unique(self.status)}


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
            scheduler = stack.enter_context(_dask_client(scheduler))
        Y0, st0, _ = solve_batch(model, base, warm=nominal(model, p0), workers=workers, scheduler=scheduler)
        Y0 = np.where((st0 == 0)[:, None], Y0, np.nan)
        Yout, status, steps = integrate_batch(model, Y0, Pseg, edges, t_out, options=options, workers=workers,
                                              progress=None if scheduler else progress, scheduler=scheduler)
    status = np.where(st0 == 0, status, 5)
    return TimecourseResult(model, t_out, edges, Yout, Pseg, status, steps,
                            {f.name: values[:, j] for j, f in enumerate(factors)})


# ------------------------------------------------------------------------------------------- populations


@dataclass(frozen=True)
class Variability:
    """Between-person spread of one model parameter (``models/population.toml``)."""

    name: str
    distribution: str
    cv: float
    bounds: tuple[float, float] | None  # unit of the model file
    source: str


@dataclass(frozen=True)
class RiskFactor:
    """A risk factor of the patients who receive a drug (``[[cohort.DRUG.risk_factor]]``): catalogue entry
    *name* at input *dose*, present in a fraction *prevalence* of them."""

    name: str
    dose: float
    prevalence: float
    source: str


@dataclass(frozen=True)
class PopulationSpec:
    parameters: tuple[Variability, ...]
    drug_cv: float
    path: Path | None = None
    drug_cv_by_entry: dict = field(default_factory=dict)  # entry name -> its own exposure CV
    cohorts: dict = field(default_factory=dict)  # drug name -> tuple[RiskFactor, ...] (population --all-drugs)

    def exposure_cv(self, name: str) -> float:
        return float(self.drug_cv_by_entry.get(name, self.drug_cv))


def load_population_spec(path=None, model: Model | None = None) -> PopulationSpec:
    """Read the variability file (default ``models/population.toml``) and check it against *model*."""
    import tomllib

    from ._model import get_model, models_dir

    path = Path(path) if path else models_dir() / "population.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MgfluxError(f"population file {path} does not exist") from None
    model = model or get_model("adult")
    out = []
    for name, t in raw.get("parameters", {}).items():
        where = f"{path}: [parameters.{name}]"
        if name not in model.parameter_names:
            raise MgfluxError(unknown_name("parameter", name, model.parameter_names, where))
        dist = t.get("distribution", "lognormal")
        if dist not in ("lognormal", "normal"):
            raise MgfluxError(f"{where}: distribution = {dist!r}; allowed: lognormal, normal")
        cv = float(t.get("cv", -1))
        if not 0 <= cv < 2:
            raise MgfluxError(f"{where}: cv must be in [0, 2)")
        if not str(t.get("source", "")).strip():
            raise MgfluxError(f"{where}: needs a source")
        b = t.get("bounds")
        out.append(Variability(name, dist, cv, tuple(map(float, b)) if b else None, t["source"]))
    dr = raw.get("drug_response", {})
    cat = get_catalogue(model)
    by_entry = {}
    for name, t in dr.get("per_entry", {}).items():
        where = f"{path}: [drug_response.per_entry.{name}]"
        e = cat.lookup(name, where)
        cv = float(t.get("cv", -1))
        if not 0 <= cv < 2:
            raise MgfluxError(f"{where}: cv must be in [0, 2)")
        if not str(t.get("source", "")).strip():
            raise MgfluxError(f"{where}: needs a source")
        by_entry[e.name] = cv
    cohorts = {}
    for name, t in raw.get("cohort", {}).items():
        where = f"{path}: [cohort.{name}]"
        drug = cat.lookup(name, where)
        rfs = []
        for r in t.get("risk_factor", []):
            e = cat.lookup(str(r.get("name", "")), where)
            prev = float(r.get("prevalence", -1))
            if not 0 <= prev <= 1:
                raise MgfluxError(f"{where}: risk factor {e.name}: prevalence must be in [0, 1]")
            if not str(r.get("source", "")).strip():
                raise MgfluxError(f"{where}: risk factor {e.name} needs a source")
            rfs.append(RiskFactor(e.name, float(r.get("dose", 1.0)), prev, r["source"]))
        cohorts[drug.name] = tuple(rfs)
    return PopulationSpec(tuple(out), float(dr.get("cv", 0.0)), path, by_entry, cohorts)


def _draw(rng, dist: str, mean: float, cv: float, n: int, lo: float, hi: float) -> np.ndarray:
    """n draws with the given mean and CV, truncated to [lo, hi] by redrawing."""
    out = np.empty(n)
    todo = np.arange(n)
    for _ in range(100):
        if dist == "lognormal":
            s = math.sqrt(math.log1p(cv * cv))
            x = mean * np.exp(rng.normal(-0.5 * s * s, s, todo.size))
        else:
            x = rng.normal(mean, cv * abs(mean), todo.size)
        out[todo] = x
        todo = todo[(x < lo) | (x > hi)]
        if not todo.size:
            break
    out[todo] = np.clip(out[todo], lo, hi)
    return out


def parse_incidence(text: str, name: str = "") -> tuple[float, float] | None:
    """Reported incidence range (percent) from a catalogue string: '10-15%', '~30%', '< 30%',
    '10-50% (cyclosporine), 50-98% (tacrolimus)' (the range naming *name* wins), '70-100% ...'.
    '~X%' is read as X +/- a third of X. None when the text gives no number."""
    t = text.replace("\u2013", "-")
    ranges = []
    for m in re.finditer(r"(<|~)?\s*(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*%(\s*\(([^)]*)\))?", t):
        pre, a, b, _, label = m.groups()
        a = float(a)
        if b is not None:
            r = (a, float(b))
        elif pre == "<":
            r = (0.0, a)
        else:
            r = (a * 2 / 3, a * 4 / 3)
        ranges.append((r, (label or "").lower()))
    if not ranges:
        return None
    for r, label in ranges:
        if name and name.lower() in label:
            return r
    if sum(1 for _, label in ranges if label) > 1:  # a class with per-member ranges: any member
        return (min(r[0] for r, _ in ranges), max(r[1] for r, _ in ranges))
    return ranges[0][0]


@dataclass(frozen=True)
class PopulationResult:
    """Virtual patients: per-person parameters drawn from the population file, their steady state (or state
    at day D of the scenario's time course), hypomagnesemia incidence and CTCAE grade distribution (over the
    sets that converged). With a time course, also each patient's nadir of serum total Mg over days 0-D."""

    scenario: str
    batch: BatchResult
    days: float | None = None
    nadir: np.ndarray | None = None  # (N,) lowest serum total Mg on the output grid, NaN where failed
    nadir_day: np.ndarray | None = None
    timecourse: "TimecourseResult | None" = None

    @property
    def n(self) -> int:
        return len(self.batch)

    @property
    def n_ok(self) -> int:
        return int(self.batch.ok.sum())

    @property
    def incidence(self) -> float:
        """Fraction (0-1) of converged patients with serum total Mg < 0.7 mM (at steady state or at day D)."""
        s = self.batch["serum_mg_total_mM"][self.batch.ok]
        return float(np.mean(s < 0.7)) if s.size else math.nan

    @property
    def nadir_incidence(self) -> float:
        """Fraction (0-1) of patients whose serum total Mg fell below 0.7 mM at some time of the course."""
        if self.nadir is None:
            return math.nan
        s = self.nadir[self.batch.ok]
        return float(np.mean(s < 0.7)) if s.size else math.nan

    def grade_distribution(self) -> dict:
        g = self.batch["hypomagnesemia_grade"][self.batch.ok].astype(int)
        return {k: float(np.mean(g == k)) if g.size else math.nan for k in range(5)}

    def nadir_grade_distribution(self) -> dict:
        if self.nadir is None:
            return {}
        g = hypomagnesemia_grade(self.nadir[self.batch.ok])
        return {k: float(np.mean(g == k)) if g.size else math.nan for k in range(5)}

    def summary(self) -> dict:
        s = self.batch["serum_mg_total_mM"][self.batch.ok]
        q = np.percentile(s, [2.5, 50, 97.5]) if s.size else [math.nan] * 3
        out = {"scenario": self.scenario, "n": self.n, "n_ok": self.n_ok, "status": self.batch.status_counts(),
               "days": self.days, "incidence_percent": 100 * self.incidence,
               "grade_percent": {str(k): 100 * v for k, v in self.grade_distribution().items()},
               "serum_mg_total_mM": {"p2.5": float(q[0]), "median": float(q[1]), "p97.5": float(q[2]),
                                     "mean": float(np.mean(s)) if s.size else math.nan}}
        if self.nadir is not None:
            m = self.nadir[self.batch.ok]
            qn = np.percentile(m, [2.5, 50, 97.5]) if m.size else [math.nan] * 3
            d = self.nadir_day[self.batch.ok]
            out["nadir"] = {"incidence_percent": 100 * self.nadir_incidence,
                            "grade_percent": {str(k): 100 * v for k, v in self.nadir_grade_distribution().items()},
                            "serum_mg_total_mM": {"p2.5": float(qn[0]), "median": float(qn[1]), "p97.5": float(qn[2])},
                            "median_day": float(np.median(d)) if d.size else math.nan}
        return out


def population_design(scenario: Scenario, n: int, seed: int = 0, spec: PopulationSpec | None = None,
                      steady: bool = True, cohort: tuple[RiskFactor, ...] = ()):
    """(factors, values (n, k)) for *n* virtual patients of *scenario*: model parameters drawn from *spec*,
    and every drug / condition / treatment input scaled by a per-person exposure factor (one draw per person;
    an entry with its own CV in *spec* gets the same quantile of its own lognormal). *cohort*: risk factors
    of the treated patients, each present (on permanently) in a random fraction *prevalence* of them."""
    model = scenario.model
    spec = spec or load_population_spec(model=model)
    rng = np.random.default_rng(seed)
    facs, cols = [], []
    for v in spec.parameters:
        f = factor(scenario, v.name)
        i = f.index
        mean = model.parameters[i].value / f.to_internal
        if v.name == "diet_mg_intake" and scenario.mg_intake is not None:
            mean = scenario.mg_intake / f.to_internal
        lo, hi = v.bounds or f.documented_range or (0.0, math.inf)
        cols.append(_draw(rng, v.distribution, mean, v.cv, n, lo, hi))
        facs.append(f)
    exposure = _draw(rng, "lognormal", 1.0, spec.drug_cv, n, 0.0, math.inf) if spec.drug_cv > 0 else np.ones(n)
    s0 = math.sqrt(math.log1p(spec.drug_cv ** 2))
    if s0 > 0:  # the person's standard-normal quantile of exposure, shared by every entry
        z = (np.log(exposure) + 0.5 * s0 * s0) / s0
    else:
        z = rng.standard_normal(n) if spec.drug_cv_by_entry else np.zeros(n)

    def exposure_of(name: str) -> np.ndarray:
        cv = spec.exposure_cv(name)
        if cv == spec.drug_cv:
            return exposure
        s = math.sqrt(math.log1p(cv * cv))
        return np.exp(s * z - 0.5 * s * s)

    seen = {r.name for r in cohort}
    for a in scenario.timed:
        if a.one_off or a.entry.name in seen:
            continue
        if a.entry.kind in ("drug", "condition"):
            seen.add(a.entry.name)
            f = factor(scenario, f"{a.entry.name}.{a.entry.variable}")
            facs.append(f)
            cols.append(a.value * exposure_of(a.entry.name))
    for r in cohort:  # drawn last: the persons and their exposures are the same with or without a cohort
        e = get_catalogue(model).lookup(r.name, "cohort")
        facs.append(factor(scenario, f"{e.name}.{e.variable}"))
        cols.append(np.where(rng.random(n) < r.prevalence, r.dose, 0.0))
    return facs, (np.column_stack(cols) if cols else np.zeros((n, 0))), exposure


def population(scenario, n: int = 10000, seed: int = 0, *, days: float | None = None, spec: PopulationSpec | None = None,
               workers: int | None = None, scheduler: str | None = None,
               options: TimecourseOptions = TimecourseOptions(), cohort: tuple[RiskFactor, ...] = (),
               progress=None) -> PopulationResult:
    """Virtual population of *scenario*: at steady state with every perturbation on (*days* None), or at day
    *days* of its time course (each patient from the steady state of their own diet, genes and physiology,
    drugs in their windows; batched Rodas4), with each patient's nadir over days 0-D. *cohort*: risk factors
    present in a fraction of the patients (see ``population_design``); in a time course a risk factor acts
    where the scenario applies that entry (``drug_incidence_table`` adds it for the whole run)."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    facs, X, _ = population_design(scenario, n, seed, spec, cohort=tuple(cohort))
    model = scenario.model
    factors = {f.name: X[:, j] for j, f in enumerate(facs)}
    if days is None:
        P = parameter_matrix(scenario, facs, X)
        p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
        res = steady_batch(model, P, warm=nominal(model, p0), workers=workers, scheduler=scheduler, factors=factors,
                           progress=None if scheduler else progress)
        return PopulationResult(scenario.name, res, None)
    days = float(days)
    if not (days > 0 and math.isfinite(days)):
        raise ScenarioError(f"--days must be a positive number of days, not {days:g}")
    tc = timecourse_batch(scenario, facs, X, days=days, options=options, workers=workers, progress=progress,
                          scheduler=scheduler)
    serum = tc.serum()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(serum).all(axis=1)
    status = np.where(bad & (tc.status == 0), 3, tc.status)
    nadir = np.where(status == 0, np.nanmin(np.where(np.isfinite(serum), serum, np.inf), axis=1), np.nan)
    nadir_day = np.where(status == 0, tc.time_day[np.argmin(np.where(np.isfinite(serum), serum, np.inf), axis=1)], np.nan)
    seg = int(np.clip(np.searchsorted(tc.edges, days, side="right") - 1, 0, tc.edges.size - 2))
    P_end = tc.Pseg[:, seg]
    Y_end = tc.Y[:, -1]
    rd = readouts_of(model, Y_end, P_end, status)
    rd["nadir_serum_mg_total_mM"] = nadir
    rd["nadir_day"] = nadir_day
    res = BatchResult(model, P_end, Y_end, status, np.full(status.shape, -1), rd, factors, TC_STATUS)
    return PopulationResult(scenario.name, res, days, nadir, nadir_day, tc)


def drug_scenario_file(name: str) -> Path | None:
    """The shipped course of a drug (``scenarios/drugs/NAME.toml``), if there is one."""
    from ._model import scenarios_dir

    d = scenarios_dir()
    path = d / "drugs" / f"{name}.toml" if d else None
    return path if path and path.exists() else None


def _time_limited(scenario: Scenario, name: str) -> bool:
    """Whether every application of entry *name* in the scenario stops before the end of the run."""
    apps = [a for a in scenario.timed if a.entry.name == name]
    return bool(apps) and all(a.stop < scenario.duration for a in apps)


MEASURES = ("auto", "steady", "course")


def drug_incidence_table(n: int = 2000, seed: int = 0, intake: str = "300 mg/day", spec=None, workers=None,
                         scheduler=None, progress=None, measure: str = "auto", drugs=None) -> list[dict]:
    """For every drug of the catalogue: simulated incidence of hypomagnesemia in a virtual population, the
    reported incidence (review Table 2) and whether it falls inside. The same virtual persons (seed) for every drug.

    Two measures per drug: ``steady`` (the standard dose on permanently, steady state) and ``course`` (the
    shipped course ``scenarios/drugs/NAME.toml``: patients below 0.7 mM at any time, i.e. by their nadir).
    *measure* ``auto`` uses the course for drugs given for a limited time (aminoglycosides, amphotericin B,
    cisplatin, EGFR antibodies, beta-agonists: their hypomagnesemia is a course's, and the steady state with
    the drug on for ever overstates or misses it) and the steady state for drugs taken indefinitely.
    """
    from ._model import get_model
    from ._scenario import scenario_from_dict

    if measure not in MEASURES:
        raise ScenarioError(unknown_name("measure", measure, list(MEASURES), "--measure"))
    model = get_model("adult")
    cat = get_catalogue(model)
    spec = spec or load_population_spec(model=model)
    rows = []
    only = None if drugs is None else set(drugs)
    drugs = sorted((e for e in cat.entries.values() if e.kind == "drug" and (only is None or e.name in only)),
                   key=lambda e: e.name)
    it = progress(drugs) if progress else drugs
    for e in it:
        sc = scenario_from_dict({"scenario": {"name": f"{e.name} at the standard dose"}, "diet": {"mg_intake": intake},
                                 "perturbation": [{"name": e.name, "dose": 1.0}]}, where=f"population --all-drugs ({e.name})")
        steady_pct = course_pct = math.nan
        course_desc = ""
        path = drug_scenario_file(e.name)
        course_sc = load_scenario(path) if path is not None else None
        cohort = spec.cohorts.get(e.name, ())
        if cohort:
            # the treated patients' risk factors: on permanently at steady state; over the whole course run
            extra = [{"name": r.name, "dose": r.dose} for r in cohort]
            sc = scenario_from_dict({"scenario": {"name": f"{e.name} at the standard dose"}, "diet": {"mg_intake": intake},
                                     "perturbation": [{"name": e.name, "dose": 1.0}] + extra},
                                    where=f"population --all-drugs ({e.name})")
            if course_sc is not None:
                import tomllib

                raw = tomllib.loads(path.read_text())
                raw["perturbation"] = list(raw.get("perturbation", [])) + extra
                course_sc = scenario_from_dict(raw, where=str(path))
        limited = course_sc is not None and _time_limited(course_sc, e.name)
        use = "steady" if measure == "steady" or course_sc is None else (
            "course" if measure == "course" or limited else "steady")
        pr = None
        if measure != "course" or course_sc is None:
            pr = population(sc, n, seed, spec=spec, workers=workers, scheduler=scheduler, cohort=cohort)
            steady_pct = 100 * pr.incidence
        if course_sc is not None and (measure != "steady" or limited):
            prc = population(course_sc, n, seed, days=course_sc.duration, spec=spec, workers=workers, cohort=cohort)
            course_pct = 100 * prc.nadir_incidence
            apps = [a for a in course_sc.timed if a.entry.name == e.name]
            win = ", ".join(f"days {a.start:g}-{a.stop:g}" if math.isfinite(a.stop) else f"from day {a.start:g}"
                            for a in apps[:3]) + (" ..." if len(apps) > 3 else "")
            course_desc = f"{path.stem}.toml: {win} of {course_sc.duration:g}"
            if use == "course" or pr is None:
                pr = prc
        rep = parse_incidence(e.incidence, e.name)
        note = "; ".join(f"{r.name} in {100 * r.prevalence:g}%" for r in cohort)
        note = f"treated patients: {note}" if note else ""
        if rep is None and "risk factor" in e.incidence:
            rep = (0.0, 10.0)
            note = "; ".join(x for x in (note, "no number ('only with additional risk factors'): read as < 10%") if x)
        sim = course_pct if use == "course" else steady_pct
        inside = None if rep is None or not math.isfinite(sim) else bool(rep[0] <= sim <= rep[1])
        rows.append({"drug": e.name, "simulated_percent": sim, "measure": use, "steady_percent": steady_pct,
                     "course_nadir_percent": course_pct, "course": course_desc, "reported": e.incidence,
                     "reported_range": rep, "inside": inside, "n_ok": pr.n_ok, "n": pr.n, "note": note,
                     "median_serum_mM": pr.summary()["serum_mg_total_mM"]["median"]})
    return rows

