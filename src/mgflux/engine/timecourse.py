"""Time course of one parameter set through its segments: Rodas4 (Hairer & Wanner's stiffly accurate,
L-stable Rosenbrock method with the exact Jacobian) as one compiled loop over every segment between the edges
of the dosing windows, so that a short infusion is never stepped over. If it fails, ``scipy.integrate.solve_ivp``
takes over (LSODA, then Radau for a segment LSODA fails); the status of every segment is checked, and a course
nothing can integrate raises an error that says what was tried."""
from __future__ import annotations

import numpy as np

from ..errors import IntegrationError
from ..options import RunOptions

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
            from ..errors import unknown_name

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
        why = {6: f"the step size collapsed or the budget of {max_steps} steps ran out",
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
