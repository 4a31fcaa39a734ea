"""The Rodas4 step loop of one set through its parameter segments (tableau: ``rodas4.py``).

Written once against ``rhs_q`` and ``rhs_jacobian_q`` (prep once per segment); :mod:`mgflux.engine.codegen`
appends a copy named ``_tc_one_totals`` that calls ``rhs_totals_q`` and ``rhs_jacobian_totals_q`` (states plus
cumulative totals: the single run's mass balance).

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy")
def _tc_one(y, Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax):
    """Integrate one set through the segments (parameters Pseg[s] on [edges[s], edges[s+1]]), writing the
    states at t_out (sorted, within [edges[0], edges[-1]]) into Yout. y: initial state (overwritten).
    Returns (status, accepted steps, rejected steps, day reached)."""
    n = y.shape[0]
    m = N_STATES  # states in the LU; rows m..n-1 (if any) are quadratures (see _tc_solve)
    J = np.empty((n, n))
    E = np.empty((m, m))
    piv = np.empty(m, np.int64)
    K = np.empty((6, n))
    f = np.empty(n)
    f0 = np.empty(n)  # f(y) of the current step, kept for a retry after a rejection
    q = np.empty(N_Q)  # prep(p, q) of the current segment
    yt = np.empty(n)
    y1 = np.empty(n)
    D2 = np.empty(n)
    D3 = np.empty(n)
    n_out = t_out.shape[0]
    nseg = Pseg.shape[0]
    io = 0
    t = edges[0]
    while io < n_out and t_out[io] <= t:
        for i in range(n):
            Yout[io, i] = y[i]
        io += 1
    nacc = 0
    nrej = 0
    h_carry = 1e-3
    for sg in range(nseg):
        p = Pseg[sg]
        t1 = edges[sg + 1]
        t = edges[sg]
        if not (t1 > t):
            continue
        for j in range(p.shape[0]):
            if not np.isfinite(p[j]):
                return TC_NONFINITE, nacc, nrej, t
        prep(p, q)  # the parameter-only subexpressions, once per segment
        h = min(h_carry, 1e-3, t1 - t, hmax)  # parameters jump at an edge: restart small
        fresh = False  # f0 and J hold f(y) and the Jacobian at (y, p) of this segment
        last_rejected = False
        first = True
        while t < t1:
            if nacc + nrej >= max_steps:
                return TC_FAILED, nacc, nrej, t
            if h < 1e-13 * max(1.0, abs(t)):
                return TC_FAILED, nacc, nrej, t
            final = False
            if t + h >= t1 * (1.0 - 1e-14) or t1 - (t + h) < 1e-12 * max(1.0, abs(t1)):
                h = t1 - t
                final = True
            if fresh:  # after a rejected step y and p are unchanged: f(y) and J are too
                for i in range(n):
                    f[i] = f0[i]
            else:
                rhs_jacobian_q(y, p, q, f, J)  # f(y) and J in one pass over the expressions
                for i in range(n):
                    if not np.isfinite(f[i]):  # e.g. a division by zero: no step size can help
                        return TC_NONFINITE, nacc, nrej, t
                    f0[i] = f[i]
                fresh = True
            fac = 1.0 / (h * _R_GAMMA)
            for i in range(m):
                for j in range(m):
                    E[i, j] = -J[i, j]
                E[i, i] += fac
            ok = _bt_lu(E, piv)
            if ok:
                # six stages; stage s evaluates f at y + sum_j A[s, j] k_j (one call site: short compilation)
                for sg_ in range(6):
                    if sg_ > 0:
                        for i in range(n):
                            v = y[i]
                            for j in range(sg_):
                                v += _R_A[sg_, j] * K[j, i]
                            yt[i] = v
                        rhs_q(yt, p, q, f)
                    _tc_stage(E, piv, J, f, K, sg_, h)
                err = 0.0
                for i in range(n):
                    y1[i] = yt[i] + K[5, i]
                    sk = atol[i] + rtol * max(abs(y[i]), abs(y1[i]))
                    err += (K[5, i] / sk) ** 2
                    if i < N_STATES and y1[i] < -atol[i]:  # states stay non-negative (totals may fall)
                        err = np.inf
                err = np.sqrt(err / n)
                if not (err <= 1e300):
                    err = np.inf
            else:
                err = np.inf
            if err == np.inf:
                nrej += 1
                h *= 0.2
                last_rejected = True
                continue
            fct = max(1.0 / 6.0, min(5.0, err ** 0.25 / 0.9))
            hnew = min(h / fct, hmax)
            if err <= 1.0:
                nacc += 1
                tn = t + h
                if final:
                    tn = t1
                # dense output for the output times inside (t, tn]
                if io < n_out and t_out[io] <= tn:
                    for i in range(n):
                        D2[i] = _R_D[0, 0] * K[0, i] + _R_D[0, 1] * K[1, i] + _R_D[0, 2] * K[2, i] + _R_D[0, 3] * K[3, i] + _R_D[0, 4] * K[4, i]
                        D3[i] = _R_D[1, 0] * K[0, i] + _R_D[1, 1] * K[1, i] + _R_D[1, 2] * K[2, i] + _R_D[1, 3] * K[3, i] + _R_D[1, 4] * K[4, i]
                    while io < n_out and t_out[io] <= tn:
                        th = (t_out[io] - t) / h
                        if th > 1.0:
                            th = 1.0
                        for i in range(n):
                            Yout[io, i] = y[i] + th * (y1[i] - y[i] + (1.0 - th) * (D2[i] + th * D3[i]))
                        io += 1
                for i in range(n):
                    y[i] = y1[i]
                fresh = False
                t = tn
                if last_rejected:
                    hnew = min(hnew, h)
                last_rejected = False
                first = False
                if not final:
                    h_carry = hnew
                h = hnew
            else:
                nrej += 1
                h = h * 0.1 if first else hnew
                last_rejected = True
    while io < n_out:  # times at the very end (rounding)
        for i in range(n):
            Yout[io, i] = y[i]
        io += 1
    for i in range(n):
        if not np.isfinite(y[i]):
            return TC_NONFINITE, nacc, nrej, t
    return TC_OK, nacc, nrej, t
