"""Steady state of one parameter set of a compiled model, on plain float arrays.

Damped Newton with the exact Jacobian and a fraction-to-boundary rule (amounts stay positive); if it fails,
pseudo-transient continuation; if that fails, integrate for a long time and polish with Newton. Converged
means the *scaled residual* (each derivative relative to its state's size, per day) is below tolerance, not
merely that the step became small; the result must also be stable (every Jacobian eigenvalue in the left
half-plane). Anything else raises :class:`SteadyStateError` with the residual, the strategies tried and the
states that drift."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SteadyStateError
from ..options import SteadyOptions


class PythonKernels:
    """The generated model's functions run as plain Python (numba's ``py_func``): the same code, without
    numba's start-up (~1 s to initialise its compiler and load the cache). For one steady state (~60
    right-hand-side calls of ~20 us) this is far faster end to end. A time course on these runs scipy
    (``RunOptions(compile="background")`` while the compiled kernels are not cached yet)."""

    def __init__(self, mod):
        self._mod = mod
        self.rhs = _plain(mod.rhs)
        self.rhs_totals = _plain(mod.rhs_totals)
        self.jacobian = _plain(mod.jacobian)
        self.jacobian_totals = _plain(mod.jacobian_totals)
        self.observe = _plain(mod.observe)
        self.N_STATES = mod.N_STATES
        self.N_TOTALS = mod.N_TOTALS

    def observe_chunk(self, lo, hi, Y, P, O):
        for k in range(lo, hi):
            self.observe(Y[k], P[k], O[k])


def _plain(fn):
    return getattr(fn, "py_func", fn)  # a numba dispatcher's Python function, or the function itself


def kernels(mod, backend: str = "auto"):
    """The functions to evaluate: numba's (``"numba"``), plain Python (``"python"``), or ``"auto"``: numba once
    this process has switched the module to numba, Python before (a single steady state should not pay
    numba's start-up)."""
    if backend == "numba" or (backend == "auto" and mod.NUMBA):
        if not mod.NUMBA:
            from .codegen import _check_numba_cache

            _check_numba_cache(Path(mod.__file__).parent, mod.__name__)
            mod.to_numba()
        return mod
    if backend not in ("python", "auto", "numba"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'python', not {backend!r}")
    return PythonKernels(mod)


def _scale(y: np.ndarray, guess: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(y), 1e-6 * np.maximum(np.abs(guess), 1.0))


def _f(mod, y, p):
    dy = np.empty_like(y)
    mod.rhs(y, p, dy)
    return dy


def _jac(mod, y, p):
    n = y.shape[0]
    J = np.empty((n, n))
    mod.jacobian(y, p, J)
    return J


def _boundary_step(y, dx, frac=0.99):
    """Largest alpha <= 1 keeping y + alpha dx > 0 (fraction-to-boundary rule). Round-off components of *dx*
    for a state resting at exactly its bound, or pushing one below it, are set to 0 in place (as the kernels do)."""
    thr = 1e-12 * max(1.0, float(np.max(np.abs(dx)))) if dx.size else 0.0
    dx[(np.abs(dx) < thr) & ((y == 0) | (y + dx < 0))] = 0.0
    neg = dx < 0
    if not np.any(neg):
        return 1.0
    return float(min(1.0, frac * np.min(-y[neg] / dx[neg])))


def _newton(mod, y, p, guess, opts, log):
    if not isinstance(mod, PythonKernels):  # numba kernels: the same damped Newton as a compiled loop
        y = np.array(y, dtype=np.float64)
        floor = 1e-6 * np.maximum(np.abs(guess), 1.0)  # as _scale
        if mod.newton_one(y, p, floor, opts.residual_tol, opts.step_tol, opts.max_newton) >= 0:
            return y, True
        log.append(f"newton: no convergence within {opts.max_newton} iterations (compiled damped Newton)")
        return y, False
    for it in range(opts.max_newton):
        f = _f(mod, y, p)
        s = _scale(y, guess)
        res = np.max(np.abs(f) / s)
        J = _jac(mod, y, p)
        try:
            dx = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            log.append(f"newton: singular Jacobian at iteration {it}")
            return y, False
        if not np.all(np.isfinite(dx)):
            log.append(f"newton: non-finite step at iteration {it}")
            return y, False
        step = np.max(np.abs(dx) / s)
        if res < opts.residual_tol and step < opts.step_tol:
            return y, True
        alpha = _boundary_step(y, dx)
        # backtracking on the scaled residual norm
        r0 = np.linalg.norm(f / s)
        while alpha > 1e-6:
            y_new = y + alpha * dx
            f_new = _f(mod, y_new, p)
            if np.all(np.isfinite(f_new)) and np.linalg.norm(f_new / _scale(y_new, guess)) <= (1 - 1e-4 * alpha) * r0:
                break
            alpha *= 0.5
        else:
            log.append(f"newton: line search failed at iteration {it} (scaled residual {res:.2e})")
            return y, False
        y = y_new
    f = _f(mod, y, p)
    res = np.max(np.abs(f) / _scale(y, guess))
    log.append(f"newton: {opts.max_newton} iterations, scaled residual {res:.2e}")
    return y, res < opts.residual_tol


def _ptc(mod, y, p, guess, opts, log):
    """Pseudo-transient continuation: implicit Euler steps with growing pseudo time step (SER rule)."""
    dt = 1e-2
    f = _f(mod, y, p)
    r = np.linalg.norm(f / _scale(y, guess))
    n = y.shape[0]
    for it in range(opts.max_ptc):
        J = _jac(mod, y, p)
        try:
            dx = np.linalg.solve(np.eye(n) / dt - J, f)
        except np.linalg.LinAlgError:
            dt *= 0.1
            continue
        alpha = _boundary_step(y, dx)
        y_new = y + alpha * dx
        f_new = _f(mod, y_new, p)
        if not np.all(np.isfinite(f_new)):
            dt *= 0.1
            continue
        r_new = np.linalg.norm(f_new / _scale(y_new, guess))
        y, f = y_new, f_new
        dt = min(dt * max(0.5, min(10.0, r / max(r_new, 1e-300))), 1e8)
        r = r_new
        if np.max(np.abs(f) / _scale(y, guess)) < 1e-6:
            return y, True
    log.append(f"pseudo-transient continuation: {opts.max_ptc} steps, scaled residual {r:.2e}")
    return y, False


def _integrate_long(mod, y, p, guess, opts, log):
    from scipy.integrate import solve_ivp  # imported on use: `mgflux steady` rarely needs it

    try:
        with np.errstate(all="ignore"):  # a failure is logged and reported with the strategies tried
            sol = solve_ivp(lambda t, x: _f(mod, x, p), (0.0, opts.integrate_days), y, method="BDF",
                            jac=lambda t, x: _jac(mod, x, p), rtol=1e-8, atol=1e-10 * np.maximum(1.0, np.abs(y)))
    except (ValueError, np.linalg.LinAlgError) as exc:  # non-finite derivatives (e.g. a division by zero)
        log.append(f"integration for {opts.integrate_days:g} days: {exc}")
        return y, False
    if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
        log.append(f"integration for {opts.integrate_days:g} days: {sol.message}")
        return y, False
    return sol.y[:, -1], True


def steady_state(mod, p: np.ndarray, guess: np.ndarray, state_names, opts: SteadyOptions = SteadyOptions()):
    """Stable steady state of the compiled model *mod* at parameters *p*. Returns (y, info dict)."""
    with np.errstate(all="ignore"):  # non-finite trial points are handled (and a failure reported) below
        return _steady_state(kernels(mod, opts.backend), p, guess, state_names, opts)


def _steady_state(mod, p, guess, state_names, opts):
    log: list[str] = []
    tried = []
    y0 = np.array(guess, dtype=np.float64)
    y, ok = _newton(mod, y0.copy(), p, guess, opts, log)
    tried.append("damped Newton from the guess")
    if not ok:
        y, ok = _ptc(mod, y0.copy(), p, guess, opts, log)
        tried.append("pseudo-transient continuation")
        if ok:
            y, ok = _newton(mod, y, p, guess, opts, log)
            tried.append("Newton polish")
    if not ok:
        y, ok = _integrate_long(mod, y0.copy(), p, guess, opts, log)
        tried.append(f"BDF integration over {opts.integrate_days:g} days")
        if ok:
            y, ok = _newton(mod, y, p, guess, opts, log)
            tried.append("Newton polish")
    f = _f(mod, y, p)
    scaled = np.abs(f) / _scale(y, guess)
    if not ok or not np.all(np.isfinite(y)) or np.any(y < 0):
        order = np.argsort(-np.nan_to_num(scaled, nan=np.inf))[:3]
        drifting = [state_names[i] for i in order]
        raise SteadyStateError(
            "no steady state found: tried " + ", then ".join(tried) + ". "
            + ("; ".join(log) + ". " if log else "")
            + "Largest scaled residuals (per day): "
            + ", ".join(f"{state_names[i]} {scaled[i]:.2e}" for i in order)
            + ". Check that the perturbations keep every flux possible (e.g. some Mg intake or infusion), "
              "or start `run` from the healthy state to see where the states go.",
            residual=scaled, strategies=tried + log, drifting=drifting)
    eig = np.linalg.eigvals(_jac(mod, y, p))
    if np.max(eig.real) > 1e-9:
        raise SteadyStateError(
            f"the steady state found is unstable (largest eigenvalue real part {np.max(eig.real):.3g} per day)",
            residual=scaled, strategies=tried + log)
    return y, {"strategies": tuple(tried), "log": tuple(log), "max_scaled_residual": float(np.max(scaled)),
               "slowest_time_constant_day": float(-1.0 / np.max(eig.real)) if np.max(eig.real) < 0 else np.inf}
