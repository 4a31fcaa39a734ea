"""Numba kernels for batches of parameter sets, compiled *with* each generated model module.

``SOURCE`` is appended to the generated module by :mod:`mgflux._codegen` (``EXTENSIONS``), so these kernels call
that module's ``rhs``, ``jacobian``, ``observe`` and ``param_jacobian`` directly (inlined by numba, cached on
disk with the model). Nothing here allocates per Newton iteration; every set is independent (``prange``).

Steady state of one set (the algorithm of :mod:`mgflux._solve`, made cheap for a batch):

1. chord iterations from the warm start (the nominal solution) with the LU of the nominal Jacobian, shared by
   the whole batch: a right-hand side and a triangular solve per iteration, while they contract fast;
2. damped Newton with the exact (complex-step) Jacobian at every iterate, fraction-to-boundary rule (amounts
   stay positive), backtracking on the scaled residual; converged only when the scaled residual *and* the
   scaled Newton step are both below tolerance, the step taken with the Jacobian at the final point;
3. if that fails: pseudo-transient continuation (implicit Euler with growing pseudo time step), then Newton;
   then the same from the model's guess (cold start);
4. stability of the Jacobian at the solution: Routh-Hurwitz on its characteristic polynomial (Householder
   Hessenberg reduction, Hyman recurrence), confirmed by ``np.linalg.eigvals`` whenever Routh-Hurwitz is not
   clearly positive (so eigenvalues are computed only for doubtful sets).

Status codes (one per set; a bad set never raises): see ``STATUS`` in :mod:`mgflux._batch`.
"""

SOURCE = r'''
# ------------------------------------------------------------------- batch kernels (mgflux._kernels_batch)
BT_OK = 0
BT_NOT_CONVERGED = 1
BT_UNSTABLE = 2
BT_NONFINITE = 3
BT_NEGATIVE = 4


@nb.njit(cache=True)
def _bt_lu(A, piv):
    """In-place LU with partial pivoting (L unit lower, U upper in A). False if singular or not finite."""
    n = A.shape[0]
    for k in range(n):
        p = k
        amax = abs(A[k, k])
        for i in range(k + 1, n):
            v = abs(A[i, k])
            if v > amax:
                amax = v
                p = i
        piv[k] = p
        if not (amax > 0.0) or not np.isfinite(amax):
            return False
        if p != k:
            for j in range(n):
                t = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = t
        inv = 1.0 / A[k, k]
        for i in range(k + 1, n):
            l = A[i, k] * inv
            A[i, k] = l
            if l != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= l * A[k, j]
    return True


@nb.njit(cache=True)
def _bt_lu_solve(A, piv, b):
    """Solve in place with the factors of _bt_lu."""
    n = A.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            t = b[k]
            b[k] = b[p]
            b[p] = t
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= A[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= A[i, j] * b[j]
        b[i] = s / A[i, i]


@nb.njit(cache=True)
def _bt_scaled_max(v, y, floor):
    m = 0.0
    for i in range(v.shape[0]):
        s = max(abs(y[i]), floor[i])
        r = abs(v[i]) / s
        if not (r <= 1e300):  # NaN or inf
            return np.inf
        if r > m:
            m = r
    return m


@nb.njit(cache=True)
def _bt_scaled_norm(v, y, floor):
    m = 0.0
    for i in range(v.shape[0]):
        s = max(abs(y[i]), floor[i])
        m += (v[i] / s) ** 2
    if not (m <= 1e300):
        return np.inf
    return np.sqrt(m)


@nb.njit(cache=True)
def _bt_boundary(y, dx, frac):
    """Largest alpha <= 1 keeping y + alpha dx > 0 (fraction-to-boundary)."""
    a = 1.0
    for i in range(y.shape[0]):
        if dx[i] < 0.0:
            c = -frac * y[i] / dx[i]
            if c < a:
                a = c
    return max(a, 0.0)


@nb.njit(cache=True)
def _bt_newton(y, p, floor, res_tol, step_tol, max_it, J, Jraw, piv, f, dx, yt, ft):
    """Damped Newton with the exact Jacobian, reused while the steps contract fast (Shamanskii); y updated in
    place. Converged only on a step taken with the Jacobian at the final point, whose copy is left in Jraw.
    Returns the number of Jacobians evaluated, or -1."""
    n = y.shape[0]
    fresh = False
    need = True
    prev = np.inf
    njac = 0
    for it in range(max_it):
        rhs(y, p, f)
        res = _bt_scaled_max(f, y, floor)
        if res == np.inf:
            return -1
        if need:
            jacobian(y, p, Jraw)
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
            rhs(yt, p, ft)
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
        fresh = False
        prev = step if alpha == 1.0 else np.inf
        if alpha < 1.0:
            need = True
    return -1


@nb.njit(cache=True)
def _bt_chord(y, p, floor, LU0, piv0, max_it, f, dx, yt):
    """Chord iterations with the shared nominal LU while they contract; y is left at the best iterate."""
    n = y.shape[0]
    prev = np.inf
    for it in range(max_it):
        rhs(y, p, f)
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


@nb.njit(cache=True)
def _bt_ptc(y, p, floor, max_it, J, piv, f, dx, yt, ft):
    """Pseudo-transient continuation (implicit Euler, switched evolution relaxation). True if the scaled
    residual fell below 1e-6 per day (Newton polishes after)."""
    n = y.shape[0]
    dt = 1e-2
    rhs(y, p, f)
    r = _bt_scaled_norm(f, y, floor)
    if r == np.inf:
        return False
    for it in range(max_it):
        jacobian(y, p, J)
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
        rhs(yt, p, ft)
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


@nb.njit(cache=True)
def _bt_hurwitz_stable(A, H, c, cn, routh):
    """Routh-Hurwitz on the characteristic polynomial of A: 1 = every eigenvalue in the open left
    half-plane, 0 = not, -1 = undecided (a zero or rounding-level pivot). H, c, cn, routh are work arrays."""
    n = A.shape[0]
    for i in range(n):
        for j in range(n):
            H[i, j] = A[i, j]
    # Householder reduction to upper Hessenberg form (a similarity: same eigenvalues)
    v = c  # reuse as a vector of length >= n
    for k in range(n - 2):
        alpha = 0.0
        for i in range(k + 1, n):
            alpha += H[i, k] * H[i, k]
        alpha = np.sqrt(alpha)
        if alpha == 0.0:
            continue
        if H[k + 1, k] > 0:
            alpha = -alpha
        vn = 0.0
        for i in range(n):
            v[i] = 0.0
        for i in range(k + 1, n):
            v[i] = H[i, k]
        v[k + 1] -= alpha
        for i in range(k + 1, n):
            vn += v[i] * v[i]
        if vn == 0.0:
            continue
        for j in range(n):  # H = (I - 2vv'/v'v) H
            s = 0.0
            for i in range(k + 1, n):
                s += v[i] * H[i, j]
            s *= 2.0 / vn
            for i in range(k + 1, n):
                H[i, j] -= s * v[i]
        for i in range(n):  # H = H (I - 2vv'/v'v)
            s = 0.0
            for j in range(k + 1, n):
                s += H[i, j] * v[j]
            s *= 2.0 / vn
            for j in range(k + 1, n):
                H[i, j] -= s * v[j]
    # characteristic polynomial det(x I - H) by Hyman's recurrence; polys[k] has degree k (ascending coefs)
    P = routh  # (n + 1) x (n + 1) work array, row k = coefficients of p_k
    for i in range(n + 1):
        for j in range(n + 1):
            P[i, j] = 0.0
    P[0, 0] = 1.0
    for k in range(1, n + 1):
        hk = H[k - 1, k - 1]
        for j in range(k + 1):
            a = P[k - 1, j - 1] if j >= 1 else 0.0
            b = P[k - 1, j] if j <= k - 1 else 0.0
            P[k, j] = a - hk * b
        prod = 1.0
        for i in range(k - 1, 0, -1):  # i = k-1 .. 1 (1-based row i of column k)
            prod *= H[i, i - 1]
            coef = H[i - 1, k - 1] * prod
            if coef != 0.0:
                for j in range(i):
                    P[k, j] -= coef * P[i - 1, j]
    for j in range(n + 1):
        cn[j] = P[n, n - j]  # descending: cn[0] = 1 (x^n), cn[n] = constant
    # Routh array: first column must stay positive
    m = n // 2 + 1
    for i in range(n + 1):
        for j in range(n + 1):
            P[i, j] = 0.0
    for j in range(m):
        if 2 * j <= n:
            P[0, j] = cn[2 * j]
        if 2 * j + 1 <= n:
            P[1, j] = cn[2 * j + 1]
    if not (P[1, 0] > 0.0):
        return -1
    for i in range(2, n + 1):
        piv = P[i - 1, 0]
        for j in range(m - 1):
            P[i, j] = (piv * P[i - 2, j + 1] - P[i - 2, 0] * P[i - 1, j + 1]) / piv
        big = 0.0
        for j in range(m):
            big = max(big, abs(P[i - 2, j]))
        if not (P[i, 0] > 1e-13 * big):
            return -1
    return 1


@nb.njit(cache=True)
def _bt_stable(J, H, c, cn, routh, tol):
    s = _bt_hurwitz_stable(J, H, c, cn, routh)
    if s == 1:
        return True
    n = J.shape[0]
    Jc = np.empty((n, n), np.complex128)
    for i in range(n):
        for j in range(n):
            Jc[i, j] = J[i, j]
    ev = np.linalg.eigvals(Jc)
    mx = -np.inf
    for i in range(n):
        if ev[i].real > mx:
            mx = ev[i].real
    return mx <= tol


@nb.njit(cache=True)
def _bt_steady_one(y, p, guess, y_warm, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc, max_chord,
                   eig_tol, J, Jraw, piv, f, dx, yt, ft, H, c, cn, routh):
    """Steady state of one set into y. Returns (status, strategy): strategy 0 chord + Newton from the warm
    start, 1 Newton from the guess (cold), 2 PTC + Newton from the warm start, 3 PTC + Newton from the guess."""
    n = y.shape[0]
    for j in range(p.shape[0]):
        if not np.isfinite(p[j]):
            for i in range(n):
                y[i] = np.nan
            return BT_NONFINITE, -1
    strategy = -1
    for attempt in range(4):
        src = y_warm if attempt % 2 == 0 else guess
        for i in range(n):
            y[i] = src[i]
        if attempt == 0 and max_chord > 0:
            _bt_chord(y, p, floor, LU0, piv0, max_chord, f, dx, yt)
        elif attempt >= 2:
            if not _bt_ptc(y, p, floor, max_ptc, J, piv, f, dx, yt, ft):
                continue
        it = _bt_newton(y, p, floor, res_tol, step_tol, max_newton, J, Jraw, piv, f, dx, yt, ft)
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
    if not _bt_stable(Jraw, H, c, cn, routh, eig_tol):
        return BT_UNSTABLE, strategy
    return BT_OK, strategy


@nb.njit(cache=True, parallel=True)
def batch_steady(P, guess, y_warm, floor, J0, res_tol, step_tol, max_newton, max_ptc, max_chord, eig_tol,
                 Y, status, strategy):
    """Steady states of the parameter sets P (N, n_parameters) into Y (N, n_states); status and strategy per set."""
    N = P.shape[0]
    n = guess.shape[0]
    LU0 = J0.copy()
    piv0 = np.empty(n, np.int64)
    if not _bt_lu(LU0, piv0):
        max_chord = 0
    for k in nb.prange(N):
        J = np.empty((n, n))
        Jraw = np.empty((n, n))
        piv = np.empty(n, np.int64)
        f = np.empty(n)
        dx = np.empty(n)
        yt = np.empty(n)
        ft = np.empty(n)
        H = np.empty((n, n))
        c = np.empty(n + 1)
        cn = np.empty(n + 1)
        routh = np.empty((n + 1, n + 1))
        y = np.empty(n)
        st, sg = _bt_steady_one(y, P[k], guess, y_warm, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                                max_chord, eig_tol, J, Jraw, piv, f, dx, yt, ft, H, c, cn, routh)
        for i in range(n):
            Y[k, i] = y[i]
        status[k] = st
        strategy[k] = sg


@nb.njit(cache=True, parallel=True)
def batch_observe(Y, P, O):
    """Observables (every expression and flux) of each set: O (N, n_observables)."""
    for k in nb.prange(Y.shape[0]):
        observe(Y[k], P[k], O[k])


@nb.njit(cache=True, parallel=True)
def batch_residual(Y, P, F):
    for k in nb.prange(Y.shape[0]):
        rhs(Y[k], P[k], F[k])


@nb.njit(cache=True, parallel=True)
def batch_eig_max(Y, P, out):
    """Largest real part of the Jacobian eigenvalues of each set (for tests and diagnostics)."""
    n = Y.shape[1]
    for k in nb.prange(Y.shape[0]):
        J = np.empty((n, n))
        jacobian(Y[k], P[k], J)
        Jc = np.empty((n, n), np.complex128)
        for i in range(n):
            for j in range(n):
                Jc[i, j] = J[i, j]
        ev = np.linalg.eigvals(Jc)
        mx = -np.inf
        for i in range(n):
            if ev[i].real > mx:
                mx = ev[i].real
        out[k] = mx


@nb.njit(cache=True, parallel=True)
def batch_hurwitz(Y, P, out):
    n = Y.shape[1]
    for k in nb.prange(Y.shape[0]):
        J = np.empty((n, n))
        H = np.empty((n, n))
        c = np.empty(n + 1)
        cn = np.empty(n + 1)
        routh = np.empty((n + 1, n + 1))
        jacobian(Y[k], P[k], J)
        out[k] = _bt_hurwitz_stable(J, H, c, cn, routh)


@nb.njit(cache=True, parallel=True)
def batch_sensitivity(Y, P, S, OS, status):
    """Local sensitivities at steady states: S[k] = dY/dP = -J^-1 df/dp (n_states, n_parameters) and the total
    derivative of every observable OS[k] (n_obs, n_parameters) by complex step along (dY/dp_j, e_j)."""
    N = Y.shape[0]
    n = Y.shape[1]
    m = P.shape[1]
    n_obs = OS.shape[1]
    for k in nb.prange(N):
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
'''
