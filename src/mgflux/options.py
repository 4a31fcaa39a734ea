"""Numerical and execution options: small frozen config objects, shared by single runs and batches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SteadyOptions:
    """Numerical choices of the steady-state search."""

    backend: str = "auto"  # "auto" | "numba" | "python": see kernels()
    residual_tol: float = 1e-11  # max |dy_i/dt| / scale_i, per day
    step_tol: float = 1e-10  # max |dy_i| / scale_i of the last Newton step
    max_newton: int = 60
    max_ptc: int = 400
    integrate_days: float = 20000.0


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


@dataclass(frozen=True)
class BatchOptions:
    """Numerical choices of the batched steady-state engine (tolerances as :class:`mgflux.SteadyOptions`)."""

    residual_tol: float = 1e-11
    step_tol: float = 1e-10
    max_newton: int = 60
    max_ptc: int = 400
    max_chord: int = 40  # chord iterations with the shared nominal LU before full Newton
    eig_tol: float = 1e-9  # largest eigenvalue real part still called stable (per day)


@dataclass(frozen=True)
class TimecourseOptions:
    """Numerical choices of the batched Rosenbrock (Rodas4) integrator: error per step below
    atol + rtol |y|, with atol = atol_scale * max(1, |y0|) per state."""

    rtol: float = 1e-6
    atol_scale: float = 1e-9
    max_steps: int = 200_000
