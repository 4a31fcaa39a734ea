"""Numerics: steady states and time courses of a compiled model, on plain float arrays.

Steady state: damped Newton with the exact Jacobian and a fraction-to-boundary rule (amounts stay positive);
if it fails, pseudo-transient continuation; if that fails, integrate for a long time and polish with Newton.
Converged means the *scaled residual* (each derivative relative to its state's size, per day) is below
tolerance, not merely that the step became small; the result must also be stable (every Jacobian eigenvalue
in the left half-plane). Anything else raises :class:`SteadyStateError` with the residual, the strategies
tried and the states that drift.

Time course: Rodas4 (Hairer & Wanner's stiffly accurate, L-stable Rosenbrock method with the exact Jacobian) as one
compiled loop over every segment between the edges of the dosing windows, so that a short infusion is never stepped
over. If it fails, ``scipy.integrate.solve_ivp`` takes over (LSODA, then Radau for a segment LSODA fails); the
status of every segment is checked, and a course nothing can integrate raises an error that says what was tried.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import IntegrationError, SteadyStateError


class PythonKernels:
    """The generated model's functions run as plain Python (numba's ``py_func``): the same code, without
    numba's start-up (~1 s to initialise its compiler and load the cache). For one steady state (~60
    right-hand-side calls of ~20 us) this is far faster end to end; time courses always use numba."""

    def __init__(self, mod):
        self._mod = mod
        self.rhs = mod.rhs.py_func
        self.jacobian = mod.jacobian.py_func
        self.observe = mod.observe.py_func
        self.N_TOTALS = mod.N_TOTALS


def kernels(mod, backend: str = "auto"):
    """The functions to evaluate: numba's (``"numba"``), plain Python (``"python"``), or ``"auto"``: numba once
    this process has loaded it, Python before (a single steady state should not pay numba's start-up)."""
    if backend == "numba" or (backend == "auto" and mod.rhs.signatures):
        return mod
    if backend not in ("python", "auto", "numba"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'python', not {backend!r}")
    return PythonKernels(mod)


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
    that would push a state resting at exactly its bound below it are set to 0 in place (as the kernels do)."""
    thr = 1e-12 * max(1.0, float(np.max(np.abs(dx)))) if dx.size else 0.0
    dx[(dx < 0) & (dx > -thr) & (y + dx < 0)] = 0.0
    neg = dx < 0
    if not np.any(neg):
        return 1.0
    return float(min(1.0, frac * np.min(-y[neg] / dx[neg])))


def _newton(mod, y, p, guess, opts, log):
    if hasattr(mod, "newton_one"):  # numba kernels: the same damped Newton as a compiled loop
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
            + f"Largest scaled residuals (per day): "
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


METHODS = ("Rodas4", "LSODA", "Radau", "BDF", "RK45", "RK23", "DOP853")


def integrate(mod, segments, y0: np.ndarray, t_out: np.ndarray, opts: RunOptions = RunOptions(), state_names=()):
    """Integrate through *segments* [(t0, t1, p), ...] (contiguous) with cumulative totals.

    *y0* holds the states; the totals start at zero. Returns the extended state (states + totals) at every
    time of *t_out* (which must lie within the segments), as an array of shape (n_states + n_totals, len(t_out)),
    and the solver statistics.
    """
    y = np.concatenate([np.asarray(y0, dtype=np.float64), np.zeros(mod.N_TOTALS)])
    atol = opts.atol_scale * np.maximum(1.0, np.abs(y))
    fallback = (opts.fallback,) if isinstance(opts.fallback, str) else tuple(opts.fallback or ())
    for m in (opts.method, *fallback):
        if m not in METHODS:
            from .errors import unknown_name

            raise ValueError(unknown_name("integration method", m, METHODS, "RunOptions"))
    if "Rodas4" in fallback:
        raise ValueError("RunOptions.fallback takes scipy methods (LSODA, Radau, BDF, ...); Rodas4 is the "
                         "default `method`")
    if opts.method != "Rodas4":
        return _integrate_scipy(mod, segments, y, t_out, opts, (opts.method, *fallback), atol, state_names)
    out, stats, failure = _integrate_rodas(mod, segments, y, t_out, opts, atol)
    if failure is None:
        return out, stats
    if not fallback:
        raise IntegrationError(f"time integration failed: {failure}; no fallback was allowed (RunOptions.fallback). "
                               "Check the doses and windows of the scenario.")
    out, stats = _integrate_scipy(mod, segments, y, t_out, opts, fallback, atol, state_names, tried_first=failure)
    stats["fallback_reason"] = failure
    return out, stats


def _integrate_rodas(mod, segments, y, t_out, opts, atol):
    """The compiled Rodas4 loop over every segment: (out, stats, None), or (None, None, why it failed)."""
    if not opts.max_step > 0:
        raise ValueError(f"RunOptions.max_step must be positive, not {opts.max_step!r}")
    edges = np.array([segments[0][0]] + [t1 for _, t1, _ in segments], dtype=np.float64)
    P = np.ascontiguousarray(np.array([p for _, _, p in segments], dtype=np.float64))
    Yout = np.empty((t_out.shape[0], y.shape[0]))
    max_steps = max(1, opts.max_evaluations // 6) * max(1, len(segments))  # 6 right-hand sides per step
    if np.isfinite(opts.max_step):  # the steps max_step forces come on top
        max_steps += int(np.ceil((edges[-1] - edges[0]) / opts.max_step))
    status, nacc, nrej, t_reached = mod.timecourse_totals(y, P, edges, np.ascontiguousarray(t_out, dtype=np.float64),
                                                          opts.rtol, atol, max_steps, Yout, float(opts.max_step))
    if status != 0 or not np.all(np.isfinite(Yout)):
        why = {1: f"the step size collapsed or the budget of {max_steps} steps ran out",
               3: "a state, parameter or derivative became non-finite (a division by zero?)"}.get(
            int(status), f"status {int(status)}")
        return None, None, f"Rodas4 (stopped at day {t_reached:.6g} after {nacc} steps, {nrej} rejected: {why})"
    evals = 6 * (nacc + nrej)
    stats = {"method": "Rodas4", "steps": int(nacc), "rejected_steps": int(nrej), "nfev": int(evals),
             "njev": int(nacc + nrej), "nlu": int(nacc + nrej), "segments": len(segments)}
    return Yout.T.copy(), stats, None


def _integrate_scipy(mod, segments, y, t_out, opts, methods, atol, state_names, tried_first=None):
    """``solve_ivp`` segment by segment, each *methods* in turn until one succeeds."""
    from scipy.integrate import solve_ivp

    n_tot = mod.N_TOTALS
    out = np.full((y.shape[0], t_out.shape[0]), np.nan)
    stats = {"method": methods[0], "nfev": 0, "njev": 0, "nlu": 0, "segments": len(segments)}
    names = list(state_names) + [f"total_{i}" for i in range(n_tot)]
    for k, (t0, t1, p) in enumerate(segments):
        if t1 <= t0:
            continue
        last = k == len(segments) - 1
        mask = (t_out >= t0) & ((t_out < t1) | (last & (t_out <= t1)))
        te = np.unique(np.concatenate([t_out[mask], [t1]]))  # the end point seeds the next segment

        calls = [0]

        def f(t, x, p=p):
            calls[0] += 1
            if calls[0] > opts.max_evaluations:
                raise _OverBudget(t)
            dx = np.empty_like(x)
            mod.rhs_totals(x, p, dx)
            return dx

        def jac(t, x, p=p):
            J = np.empty((x.shape[0], x.shape[0]))
            mod.jacobian_totals(x, p, J)
            return J

        tried = [tried_first] if tried_first else []
        ok = False
        for method in dict.fromkeys(methods):  # in order, each once
            tried.append(method)
            calls[0] = 0
            try:
                with np.errstate(all="ignore"):  # a failure is reported below, with what was tried
                    sol = solve_ivp(f, (t0, t1), y, method=method, jac=jac, t_eval=te,
                                    rtol=opts.rtol, atol=atol, max_step=opts.max_step)
            except _OverBudget as exc:
                tried[-1] += f" (gave up after {opts.max_evaluations} evaluations at day {exc.args[0]:.6g})"
                continue
            except (ValueError, np.linalg.LinAlgError) as exc:  # scipy on non-finite derivatives or Jacobians
                tried[-1] += f" ({exc})"
                continue
            ok = sol.status == 0 and sol.y.shape[1] == te.shape[0] and np.all(np.isfinite(sol.y))
            if ok:
                stats["method"] = method
                break
            tried[-1] += f" ({sol.message.rstrip('.')})"
        if not ok:
            calls[0] = -10 * opts.max_evaluations  # the diagnostic re-run below may take its own budget
            raise IntegrationError(_failure_message(f, (t0, t1, y), k, opts, atol, names, tried, methods[-1]))
        if mask.any():
            out[:, mask] = sol.y[:, np.searchsorted(te, t_out[mask])]
        y = sol.y[:, -1].copy()
        stats["nfev"] += int(sol.nfev)
        stats["njev"] += int(sol.njev or 0)
        stats["nlu"] += int(sol.nlu or 0)
    return out, stats


class _OverBudget(Exception):
    """Raised inside the right-hand side when a segment exceeds its evaluation budget."""


def _failure_message(f, span, k, opts, atol, names, tried, probe_method) -> str:
    """Say where and how a segment failed: the last state reached and which derivatives are not finite."""
    from scipy.integrate import solve_ivp

    t0, t1, y_start = span
    # with t_eval, a failed solve_ivp may return no state at all: re-run to the failure to see it
    detail = ""
    try:
        with np.errstate(all="ignore"):
            probe = solve_ivp(f, (t0, t1), y_start, method=probe_method, rtol=opts.rtol, atol=atol,
                              max_step=opts.max_step)
    except (_OverBudget, ValueError, np.linalg.LinAlgError):
        probe = None
    if probe is not None and probe.y.size:
        yl = probe.y[:, -1]
        dyl = f(probe.t[-1], yl)
        nonfinite = [names[i] for i in range(len(dyl)) if not np.isfinite(dyl[i])]
        detail = (f" Last state at day {probe.t[-1]:.6g}: "
                  + ", ".join(f"{names[i]}={yl[i]:.4g}" for i in range(len(yl)))
                  + (f". Non-finite derivatives: {', '.join(nonfinite)}" if nonfinite else ""))
    head = (f"time integration failed in segment {k + 1} (day {t0:g} to {t1:g}); tried {' then '.join(tried)} "
            f"at rtol {opts.rtol:g}.")
    return head + (detail + "." if detail else "") + " Check the doses and windows of the scenario."
