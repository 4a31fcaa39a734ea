"""Steady state of one set: damped Newton with the exact Jacobian, chord iterations, pseudo-transient continuation.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy")
def _bt_newton(y, p, q, floor, res_tol, step_tol, max_it, J, Jraw, piv, f, dx, yt, ft):
    """Damped Newton with the exact Jacobian, reused while the steps contract fast (Shamanskii); y updated in
    place. Converged only on a step taken with the Jacobian at the final point, whose copy is left in Jraw.
    q: prep(p, q) of this set. Returns the number of Jacobians evaluated, or -1."""
    n = y.shape[0]
    fresh = False
    need = True
    prev = np.inf
    njac = 0
    have_f = False  # f holds rhs(y) (an accepted step leaves it from the line search: never evaluated twice)
    for it in range(max_it):
        if not have_f:
            rhs_q(y, p, q, f)
            have_f = True
        res = _bt_scaled_max(f, y, floor)
        if res == np.inf:
            return -1
        if need:
            rhs_jacobian_q(y, p, q, ft, Jraw)  # ft: scratch here (f already holds rhs(y))
            njac += 1
            for i in range(n):
                for j in range(n):
                    J[i, j] = Jraw[i, j]
            if not _bt_lu(J, piv):
                return -1
            fresh = True
            need = False
        for i in range(n):
            dx[i] = -f[i]
        _bt_lu_solve(J, piv, dx)
        step = _bt_scaled_max(dx, y, floor)
        if step == np.inf:
            if fresh:
                return -1
            need = True
            continue
        if not fresh and step > 0.3 * prev:  # slow contraction: a new Jacobian here
            need = True
            continue
        if res < res_tol and step < step_tol:
            if fresh:
                return njac
            need = True
            continue
        alpha = _bt_boundary(y, dx, 0.99)
        r0 = _bt_scaled_norm(f, y, floor)
        ok = False
        while alpha > 1e-6:
            for i in range(n):
                yt[i] = y[i] + alpha * dx[i]
            rhs_q(yt, p, q, ft)
            r1 = _bt_scaled_norm(ft, yt, floor)
            if r1 <= (1.0 - 1e-4 * alpha) * r0:
                ok = True
                break
            alpha *= 0.5
        if not ok:
            if fresh:
                return -1
            need = True
            continue
        for i in range(n):
            y[i] = yt[i]
            f[i] = ft[i]
        fresh = False
        prev = step if alpha == 1.0 else np.inf
        if alpha < 1.0:
            need = True
    return -1


@nb.njit(cache=True, error_model="numpy")
def _bt_newton_work(n):
    """The work arrays of _bt_newton: J, Jraw (n, n), piv, f, dx, yt, ft (n)."""
    return (np.empty((n, n)), np.empty((n, n)), np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n),
            np.empty(n))


@nb.njit(cache=True, error_model="numpy")
def _bt_chord(y, p, q, floor, LU0, piv0, max_it, f, dx, yt):
    """Chord iterations with the shared nominal LU while they contract; y is left at the best iterate."""
    n = y.shape[0]
    prev = np.inf
    for it in range(max_it):
        rhs_q(y, p, q, f)
        for i in range(n):
            dx[i] = -f[i]
        _bt_lu_solve(LU0, piv0, dx)
        step = _bt_scaled_max(dx, y, floor)
        if step == np.inf or step > 0.25 * prev or step > 0.5:
            return
        alpha = _bt_boundary(y, dx, 0.99)
        if alpha < 1.0:
            return
        for i in range(n):
            y[i] += dx[i]
        if step < 1e-12:
            return
        prev = step


#: natural-parameter continuation: first step, Newton iterations per step, tolerance of the intermediate points
CONT_FIRST = 0.25
CONT_NEWTON = 15
CONT_TOL = 1e-7


@nb.njit(cache=True, error_model="numpy")
def _bt_continuation(y, p, q, y_nom, p_nom, floor, res_tol, step_tol, J, Jraw, piv, f, dx, yt, ft, pt, qt, yprev,
                     ytry):
    """Steady state of p by continuation from the nominal solution (y_nom at p_nom) along p(s) = p_nom + s (p -
    p_nom): Newton at each s from a secant prediction of the last two points, the step in s doubled after a
    success and halved after a failure (loose tolerance on the way, the full one at s = 1, computed with p and q
    themselves). For sets far from the nominal, where the tangent prediction fails, this costs a fraction of
    pseudo-transient continuation. True with y the steady state (Jraw the Jacobian there)."""
    n = y.shape[0]
    m = p.shape[0]
    for i in range(n):
        y[i] = y_nom[i]
        yprev[i] = y_nom[i]
    s = 0.0
    ds = CONT_FIRST
    ds_prev = 0.0
    for it in range(60):
        s1 = min(1.0, s + ds)
        last = s1 >= 1.0
        if not last:
            for j in range(m):
                pt[j] = p_nom[j] + s1 * (p[j] - p_nom[j])
            prep(pt, qt)
        r = ds / ds_prev if ds_prev > 0.0 else 0.0
        for i in range(n):
            v = y[i] + r * (y[i] - yprev[i])
            ytry[i] = v if v > 0.1 * y[i] else 0.1 * y[i]
        if last:
            k = _bt_newton(ytry, p, q, floor, res_tol, step_tol, CONT_NEWTON, J, Jraw, piv, f, dx, yt, ft)
        else:
            k = _bt_newton(ytry, pt, qt, floor, CONT_TOL, 10.0 * CONT_TOL, CONT_NEWTON, J, Jraw, piv, f, dx, yt,
                           ft)
        if k >= 0:
            for i in range(n):
                yprev[i] = y[i]
                y[i] = ytry[i]
            if last:
                return True
            ds_prev = s1 - s
            s = s1
            ds = min(2.0 * ds, 1.0)
        else:
            ds *= 0.5
            if ds < 1e-3:
                return False
    return False


@nb.njit(cache=True, error_model="numpy")
def _bt_ptc(y, p, q, floor, max_it, J, piv, f, dx, yt, ft):
    """Pseudo-transient continuation (implicit Euler, switched evolution relaxation). True if the scaled
    residual fell below 1e-6 per day (Newton polishes after)."""
    n = y.shape[0]
    dt = 1e-2
    rhs_q(y, p, q, f)
    r = _bt_scaled_norm(f, y, floor)
    if r == np.inf:
        return False
    for it in range(max_it):
        rhs_jacobian_q(y, p, q, ft, J)  # ft: scratch here (f holds rhs(y))
        for i in range(n):
            for j in range(n):
                J[i, j] = -J[i, j]
            J[i, i] += 1.0 / dt
        if not _bt_lu(J, piv):
            dt *= 0.1
            continue
        for i in range(n):
            dx[i] = f[i]
        _bt_lu_solve(J, piv, dx)
        alpha = _bt_boundary(y, dx, 0.99)
        for i in range(n):
            yt[i] = y[i] + alpha * dx[i]
        rhs_q(yt, p, q, ft)
        r1 = _bt_scaled_norm(ft, yt, floor)
        if r1 == np.inf:
            dt *= 0.1
            continue
        for i in range(n):
            y[i] = yt[i]
            f[i] = ft[i]
        dt = min(dt * max(0.5, min(10.0, r / max(r1, 1e-300))), 1e8)
        r = r1
        if _bt_scaled_max(f, y, floor) < 1e-6:
            return True
    return False


@nb.njit(cache=True, error_model="numpy")
def newton_one(y, p, floor, res_tol, step_tol, max_it):
    """Damped Newton for one set (``mgflux.steady_state`` and ``simulate`` on numba kernels); y updated in place.
    Returns the number of Jacobians evaluated, or -1 if it did not converge."""
    n = y.shape[0]
    J, Jraw, piv, f, dx, yt, ft = _bt_newton_work(n)
    q = np.empty(N_Q)
    prep(p, q)
    return _bt_newton(y, p, q, floor, res_tol, step_tol, max_it, J, Jraw, piv, f, dx, yt, ft)


@nb.njit(cache=True, error_model="numpy")
def lu_factor(J0, LU0, piv0):
    """LU0 = the in-place LU of a copy of J0; False if singular."""
    for i in range(J0.shape[0]):
        for j in range(J0.shape[1]):
            LU0[i, j] = J0[i, j]
    return _bt_lu(LU0, piv0)
