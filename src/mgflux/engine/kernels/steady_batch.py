"""Steady states, observables and local sensitivities of a batch of parameter sets (chunks on a thread pool).

Steady state of one set (the algorithm of :mod:`mgflux.engine.steady`, made cheap for a batch):

1. chord iterations from the warm start (the nominal solution) with the LU of the nominal Jacobian, shared by
   the whole batch: a right-hand side and a triangular solve per iteration, while they contract fast;
2. damped Newton with the exact (symbolic) Jacobian at every iterate, fraction-to-boundary rule (amounts
   stay positive), backtracking on the scaled residual; converged only when the scaled residual *and* the
   scaled Newton step are both below tolerance, the step taken with the Jacobian at the final point;
3. if that fails: natural-parameter continuation from the nominal solution to the set's parameters (secant
   predictor, adaptive step); then Newton from the model's guess (cold start); then pseudo-transient
   continuation (implicit Euler with growing pseudo time step) and Newton, from the warm start and from the
   guess;
4. stability of the Jacobian at the solution: Routh-Hurwitz on its characteristic polynomial (elementary
   Hessenberg reduction, Hyman recurrence), confirmed by ``np.linalg.eigvals`` whenever Routh-Hurwitz is not
   clearly positive (so eigenvalues are computed only for doubtful sets).

Status codes (one per set; a bad set never raises): ``mgflux.results.Status``; the BT_* values below are its
numbers.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np

# status codes, the numbers of mgflux.results.Status
BT_OK = 0
BT_NOT_CONVERGED = 1
BT_UNSTABLE = 2
BT_NONFINITE = 3
BT_NEGATIVE = 4


@nb.njit(cache=True, error_model="numpy")
def _bt_steady_one(y, p, q, guess, y_warm, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc, max_chord,
                   eig_tol, J, Jraw, piv, f, dx, yt, ft, H, c, cn, routh, y_nom, p_nom, pt, qt, yprev, ytry):
    """Steady state of one set into y. Returns (status, strategy), tried in this order: strategy 0 chord +
    Newton from the warm start (y_warm: the tangent prediction), 4 continuation from the nominal solution (y_nom
    at p_nom), 1 Newton from the guess (cold), 2 PTC + Newton from the warm start, 3 PTC + Newton from the
    guess."""
    n = y.shape[0]
    for j in range(p.shape[0]):
        if not np.isfinite(p[j]):
            for i in range(n):
                y[i] = np.nan
            return BT_NONFINITE, -1
    strategy = -1
    for k in range(5):
        attempt = (0, 4, 1, 2, 3)[k]
        if attempt == 4:
            if _bt_continuation(y, p, q, y_nom, p_nom, floor, res_tol, step_tol, J, Jraw, piv, f, dx, yt, ft, pt,
                                qt, yprev, ytry):
                strategy = 4
                break
            continue
        src = y_warm if attempt % 2 == 0 else guess
        for i in range(n):
            y[i] = src[i]
        if attempt == 0 and max_chord > 0:
            _bt_chord(y, p, q, floor, LU0, piv0, max_chord, f, dx, yt)
        elif attempt >= 2:
            if not _bt_ptc(y, p, q, floor, max_ptc, J, piv, f, dx, yt, ft):
                continue
        it = _bt_newton(y, p, q, floor, res_tol, step_tol, max_newton, J, Jraw, piv, f, dx, yt, ft)
        if it >= 0:
            strategy = attempt
            break
    if strategy < 0:
        return BT_NOT_CONVERGED, -1
    for i in range(n):
        if not np.isfinite(y[i]):
            return BT_NONFINITE, strategy
        if y[i] < 0.0:
            return BT_NEGATIVE, strategy
    if not _bt_stable(Jraw, J, H, c, cn, routh, eig_tol):  # J: scratch now
        return BT_UNSTABLE, strategy
    return BT_OK, strategy


@nb.njit(cache=True, error_model="numpy")
def _bt_steady_rows(lo, hi, P, guess, y_warm, p_warm, S, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                    max_chord, eig_tol, Y, status, strategy):
    """Sets lo..hi-1 of a batch, with one set of work arrays (nothing is allocated per set). Each set's warm
    start is the tangent prediction y_warm + S (p - p_warm), kept within a factor 10 of y_warm (so positive)."""
    n = guess.shape[0]
    m = p_warm.shape[0]
    y_pred = np.empty(n)
    J, Jraw, piv, f, dx, yt, ft = _bt_newton_work(n)
    H = np.empty((n, n))
    c = np.empty(n + 1)
    cn = np.empty(n + 1)
    routh = np.empty((n + 1, n + 1))
    y = np.empty(n)
    q = np.empty(N_Q)
    qt = np.empty(N_Q)
    pt = np.empty(m)
    yprev = np.empty(n)
    ytry = np.empty(n)
    dp = np.empty(m)
    jp = np.empty(m, np.int64)
    for k in range(lo, hi):
        p = P[k]
        prep(p, q)  # the parameter-only subexpressions of rhs and jacobian, once per set
        nd = 0  # the parameters this set changes (a population varies a few of them)
        for j in range(m):
            d = p[j] - p_warm[j]
            if d != 0.0:
                dp[nd] = d
                jp[nd] = j
                nd += 1
        for i in range(n):
            v = y_warm[i]
            for r in range(nd):
                v += S[i, jp[r]] * dp[r]
            if not (v >= 0.1 * y_warm[i]):  # also NaN (a non-finite parameter: caught in _bt_steady_one)
                v = 0.1 * y_warm[i]
            elif y_warm[i] > 0.0 and v > 10.0 * y_warm[i]:
                v = 10.0 * y_warm[i]
            y_pred[i] = v
        st, sg = _bt_steady_one(y, p, q, guess, y_pred, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                                max_chord, eig_tol, J, Jraw, piv, f, dx, yt, ft, H, c, cn, routh, y_warm, p_warm, pt,
                                qt, yprev, ytry)
        for i in range(n):
            Y[k, i] = y[i]
        status[k] = st
        strategy[k] = sg


@nb.njit(cache=True, error_model="numpy", nogil=True)
def steady_chunk(lo, hi, P, guess, y_warm, p_warm, S, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                 max_chord, eig_tol, Y, status, strategy):
    """Sets lo..hi-1 of a batch, without the GIL: mgflux runs chunks on a pool of threads (the same work as
    ``batch_steady``'s prange loop, whose parallel lowering takes ~10 s to compile on a cold cache).
    LU0/piv0: the LU of the nominal Jacobian (``lu_factor``); max_chord 0 if it is singular."""
    _bt_steady_rows(lo, hi, P, guess, y_warm, p_warm, S, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                    max_chord, eig_tol, Y, status, strategy)


@nb.njit(cache=True, error_model="numpy", nogil=True)
def sensitivity_chunk(lo, hi, Y, P, S, OS, status):
    """Local sensitivities at steady states: S[k] = dY/dP = -J^-1 df/dp (n_states, n_parameters) and the total
    derivative of every observable OS[k] (n_obs, n_parameters) by complex step along (dY/dp_j, e_j).
    Sets lo..hi-1, without the GIL (run in chunks on a pool of threads)."""
    n = Y.shape[1]
    m = P.shape[1]
    n_obs = OS.shape[1]
    for k in range(lo, hi):
        J = np.empty((n, n))
        piv = np.empty(n, np.int64)
        Jp = np.empty((n, m))
        jacobian(Y[k], P[k], J)
        if not _bt_lu(J, piv):
            status[k] = BT_NOT_CONVERGED
            continue
        param_jacobian(Y[k], P[k], Jp)
        b = np.empty(n)
        yc = np.empty(n, np.complex128)
        pc = np.empty(m, np.complex128)
        oc = np.empty(n_obs, np.complex128)
        for j in range(m):
            for i in range(n):
                b[i] = -Jp[i, j]
            _bt_lu_solve(J, piv, b)
            for i in range(n):
                S[k, i, j] = b[i]
                yc[i] = complex(Y[k, i], _H * b[i])
            for i in range(m):
                pc[i] = P[k, i]
            pc[j] = complex(P[k, j], _H)
            observe(yc, pc, oc)
            for i in range(n_obs):
                OS[k, i, j] = oc[i].imag / _H
