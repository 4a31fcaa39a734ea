"""Numerical and execution options: small frozen config objects, shared by single runs and batches."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import OptionsError


def _check(obj, positive=(), positive_int=(), nonneg_int=(), unit_interval=()) -> None:
    """Refuse NaN, infinite, zero or negative numerical options with a message naming the field."""
    name = type(obj).__name__
    for f in positive:
        v = getattr(obj, f)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or v <= 0:
            raise OptionsError(f"{name}({f}={v!r}): {f} must be positive (a number > 0)")
    for f in unit_interval:
        v = getattr(obj, f)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < 1):
            raise OptionsError(f"{name}({f}={v!r}): {f} must be a number between 0 and 1 (exclusive)")
    for f in positive_int:
        v = getattr(obj, f)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise OptionsError(f"{name}({f}={v!r}): {f} must be a whole number >= 1")
    for f in nonneg_int:
        v = getattr(obj, f)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise OptionsError(f"{name}({f}={v!r}): {f} must be a whole number >= 0")


@dataclass(frozen=True)
class SteadyOptions:
    """Numerical choices of the steady-state search."""

    backend: str = "auto"  # "auto" | "numba" | "python": see kernels()
    residual_tol: float = 1e-11  # max |dy_i/dt| / scale_i, per day
    step_tol: float = 1e-10  # max |dy_i| / scale_i of the last Newton step
    max_newton: int = 60
    max_ptc: int = 400
    integrate_days: float = 20000.0

    def __post_init__(self):
        if self.backend not in ("auto", "numba", "python"):
            raise OptionsError(f"SteadyOptions(backend={self.backend!r}): allowed: auto, numba, python")
        _check(self, positive=("residual_tol", "step_tol", "integrate_days"), nonneg_int=("max_newton", "max_ptc"))


@dataclass(frozen=True)
class RunOptions:
    """Numerical choices of the time integration."""

    # "Rodas4": the numba Rosenbrock loop of the generated module (no Python per step; ~10x faster than LSODA
    # and ~50x faster than Radau on a 1-year course: benchmarks/README.md).
    # Any `solve_ivp` method name ("LSODA", "Radau", "BDF") runs scipy segment by segment instead.
    method: str = "Rodas4"
    # scipy methods tried in turn when `method` fails (a segment that LSODA fails is retried with Radau)
    fallback: tuple[str, ...] | str | None = ("LSODA", "Radau")
    # at 1e-9, Rodas4 agrees with Radau at rtol 1e-10 to 1e-7 on every state and total of every shipped scenario
    # (tests/test_batch_timecourse.py), and closes the mass balance to ~1e-12 mmol
    rtol: float = 1e-9
    max_evaluations: int = 50_000  # per segment and method: shipped scenarios need ~1,000; past it, give up loudly
    atol_scale: float = 1e-12  # absolute tolerance = atol_scale * max(1, |y0|) per state
    max_step: float = np.inf
    # "wait": compile the numba kernels if they are not cached yet (the first run on an empty cache takes
    # ~15 s); "background": answer at once with scipy (`fallback[0]`, then the others) on the plain-Python
    # model and compile for next time in a background process (what `mgflux run` does). Results of the two
    # paths agree to the integration tolerance (~1e-7 relative), not bit for bit.
    compile: str = "wait"

    def __post_init__(self):
        _check(self, positive=("atol_scale", "max_step"), unit_interval=("rtol",), positive_int=("max_evaluations",))
        if not isinstance(self.method, str):
            raise OptionsError(f"RunOptions(method={self.method!r}): must be a method name such as 'Rodas4' or 'LSODA'")
        if self.compile not in ("wait", "background"):
            raise OptionsError(f"RunOptions(compile={self.compile!r}): allowed: wait, background")


@dataclass(frozen=True)
class BatchOptions(SteadyOptions):
    """Numerical choices of the batched steady-state engine: the single run's :class:`SteadyOptions` (same
    tolerances and iteration limits; ``integrate_days`` is not used: batches have no long-integration fallback,
    a set that fails gets a status) plus these. ``backend``: ``"numba"`` the compiled batch kernels,
    ``"python"`` the same strategies one set at a time in plain Python, ``"auto"`` (default) compiled, except
    for a first batch of at most ``engine.batch.PYTHON_BATCH_MAX_SETS`` sets on a cold cache, which answers in
    plain Python while the kernels compile in the background."""

    max_chord: int = 40  # chord iterations with the shared nominal LU before full Newton
    eig_tol: float = 1e-9  # largest eigenvalue real part still called stable (per day)

    def __post_init__(self):
        super().__post_init__()
        _check(self, positive=("eig_tol",), nonneg_int=("max_chord",))


@dataclass(frozen=True)
class TimecourseOptions(RunOptions):
    """Numerical choices of the batched Rosenbrock (Rodas4) integrator: the single run's :class:`RunOptions`
    with looser default tolerances (error per step below atol + rtol |y|, atol = atol_scale * max(1, |y0|) per
    state) and a step budget per set instead of scipy fallbacks (a set that fails gets a status)."""

    rtol: float = 1e-6
    atol_scale: float = 1e-9
    max_steps: int = 200_000

    def __post_init__(self):
        super().__post_init__()
        _check(self, positive_int=("max_steps",))


@dataclass(frozen=True)
class Execution:
    """Where and how a batch runs (numerics do not depend on it: results are identical for any choice).

    ``workers``: threads on this machine (default: numba's thread count); ``scheduler``: a Dask scheduler
    address (``"tcp://HOST:8786"``), ``"local"`` for a LocalCluster, or an open ``distributed.Client``;
    ``chunk_size``: parameter sets per Dask task (default: 2000 steady states, 1000 time courses);
    ``progress``: called with the number of sets each finished chunk did (a progress bar's ``update``).
    """

    workers: int | None = None
    scheduler: object = None
    chunk_size: int | None = None
    progress: Callable[[int], None] | None = None

    def __post_init__(self):
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise OptionsError(f"Execution(workers={self.workers!r}): workers must be a whole number >= 1")
        if self.chunk_size is not None and (isinstance(self.chunk_size, bool) or not isinstance(self.chunk_size, int)
                                            or self.chunk_size < 1):
            raise OptionsError(f"Execution(chunk_size={self.chunk_size!r}): chunk_size must be a whole number >= 1")
