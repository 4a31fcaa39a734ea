"""Numba kernels for batches of parameter sets, compiled *with* each generated model module.

``SOURCE`` is appended to the generated module by :mod:`mgflux._codegen` (``EXTENSIONS``), so these kernels call
that module's ``rhs``, ``jacobian``, ``observe`` and ``param_jacobian`` directly (inlined by numba, cached on
disk with the model). Nothing here allocates per Newton iteration; every set is independent (``prange``).

Steady state of one set (the algorithm of :mod:`mgflux._solve`, made cheap for a batch):

1. chord iterations from the warm start (the nominal solution) with the LU of the nominal Jacobian, shared by
   the whole batch: a right-hand side and a triangular solve per iteration, while they contract fast;
2. damped Newton with the exact (symbolic) Jacobian at every iterate, fraction-to-boundary rule (amounts
   stay positive), backtracking on the scaled residual; converged only when the scaled residual *and* the
   scaled Newton step are both below tolerance, the step taken with the Jacobian at the final point;
3. if that fails: pseudo-transient continuation (implicit Euler with growing pseudo time step), then Newton;
   then the same from the model's guess (cold start);
4. stability of the Jacobian at the solution: Routh-Hurwitz on its characteristic polynomial (Householder
   Hessenberg reduction, Hyman recurrence), confirmed by ``np.linalg.eigvals`` whenever Routh-Hurwitz is not
   clearly positive (so eigenvalues are computed only for doubtful sets).

Status codes (one per set; a bad set never raises): see ``STATUS`` in :mod:`mgflux._batch`.
"""

_STEADY = r'''
# ------------------------------------------------------------------- batch kernels (mgflux._kernels_batch)
BT_OK = 0
BT_NOT_CONVERGED = 1
BT_UNSTABLE = 2
BT_NONFINITE = 3
BT_NEGATIVE = 4


@nb.njit(cache=True, error_model="numpy")
def _bt_lu(A, piv):
    """In-place LU with partial pivoting (L unit lower, U upper in A, with 1/U[k, k] on the diagonal). False if
    singular or not finite."""
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
        A[k, k] = inv  # stored inverted: the solves multiply (a division in their dependency chain is slow)
    return True


@nb.njit(cache=True, error_model="numpy")
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
        b[i] = s * A[i, i]


@nb.njit(cache=True, error_model="numpy")
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


@nb.njit(cache=True, error_model="numpy")
def _bt_scaled_norm(v, y, floor):
    m = 0.0
    for i in range(v.shape[0]):
        s = max(abs(y[i]), floor[i])
        m += (v[i] / s) ** 2
    if not (m <= 1e300):
        return np.inf
    return np.sqrt(m)


@nb.njit(cache=True, error_model="numpy")
def _bt_boundary(y, dx, frac):
    """Largest alpha <= 1 keeping y + alpha dx > 0 (fraction-to-boundary). Round-off components of *dx* that
    would push a state resting at its bound (exactly 0, e.g. no drug damage) below it are set to 0 in place:
    they would otherwise stop the step altogether."""
    a = 1.0
    big = 1.0
    for i in range(y.shape[0]):
        if abs(dx[i]) > big:
            big = abs(dx[i])
    thr = 1e-12 * big
    for i in range(y.shape[0]):
        if dx[i] < 0.0 and dx[i] > -thr and y[i] + dx[i] < 0.0:
            dx[i] = 0.0
        if dx[i] < 0.0:
            c = -frac * y[i] / dx[i]
            if c < a:
                a = c
    return max(a, 0.0)


@nb.njit(cache=True, error_model="numpy")
def _bt_newton(y, p, floor, res_tol, step_tol, max_it, J, Jraw, piv, f, dx, yt, ft):
    """Damped Newton with the exact Jacobian, reused while the steps contract fast (Shamanskii); y updated in
    place. Converged only on a step taken with the Jacobian at the final point, whose copy is left in Jraw.
    Returns the number of Jacobians evaluated, or -1."""
    n = y.shape[0]
    fresh = False
    need = True
    prev = np.inf
    njac = 0
    have_f = False  # f holds rhs(y) (an accepted step leaves it from the line search: never evaluated twice)
    for it in range(max_it):
        if not have_f:
            rhs(y, p, f)
            have_f = True
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


@nb.njit(cache=True, error_model="numpy")
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


@nb.njit(cache=True, error_model="numpy")
def _bt_hurwitz_stable(A, n, H, c, cn, routh):
    """Routh-Hurwitz on the characteristic polynomial of A[:n, :n]: 1 = every eigenvalue in the open left
    half-plane, 0 = not, -1 = undecided (a zero or rounding-level pivot). H, c, cn, routh are work arrays at
    least that large."""
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


@nb.njit(cache=True, error_model="numpy")
def _bt_stable(J, B, H, c, cn, routh, tol):
    """Every eigenvalue of J has a real part <= tol. J is block triangular once its states are ordered by the
    strongly connected components of its sparsity (STAB_INDEX, STAB_BOUNDS: from the generated module), so each
    diagonal block is checked alone: a single state by its diagonal entry, a larger block by Routh-Hurwitz, and
    by its eigenvalues only where Routh-Hurwitz cannot decide. B is a work array like J."""
    for b in range(STAB_BOUNDS.shape[0] - 1):
        lo = STAB_BOUNDS[b]
        k = STAB_BOUNDS[b + 1] - lo
        if k == 1:
            i = STAB_INDEX[lo]
            if not (J[i, i] <= tol):
                return False
            continue
        for r in range(k):
            for q in range(k):
                B[r, q] = J[STAB_INDEX[lo + r], STAB_INDEX[lo + q]]
        if _bt_hurwitz_stable(B, k, H, c, cn, routh) == 1:
            continue
        Bc = np.empty((k, k), np.complex128)
        for r in range(k):
            for q in range(k):
                Bc[r, q] = B[r, q]
        ev = np.linalg.eigvals(Bc)
        for r in range(k):
            if not (ev[r].real <= tol):
                return False
    return True


@nb.njit(cache=True, error_model="numpy")
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
    for k in range(lo, hi):
        p = P[k]
        for i in range(n):
            v = y_warm[i]
            for j in range(m):
                d = p[j] - p_warm[j]
                if d != 0.0:
                    v += S[i, j] * d
            if not (v >= 0.1 * y_warm[i]):  # also NaN (a non-finite parameter: caught in _bt_steady_one)
                v = 0.1 * y_warm[i]
            elif y_warm[i] > 0.0 and v > 10.0 * y_warm[i]:
                v = 10.0 * y_warm[i]
            y_pred[i] = v
        st, sg = _bt_steady_one(y, p, guess, y_pred, floor, LU0, piv0, res_tol, step_tol, max_newton, max_ptc,
                                max_chord, eig_tol, J, Jraw, piv, f, dx, yt, ft, H, c, cn, routh)
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


@nb.njit(cache=True, error_model="numpy")
def newton_one(y, p, floor, res_tol, step_tol, max_it):
    """Damped Newton for one set (``mgflux.steady_state`` and ``simulate`` on numba kernels); y updated in place.
    Returns the number of Jacobians evaluated, or -1 if it did not converge."""
    n = y.shape[0]
    J, Jraw, piv, f, dx, yt, ft = _bt_newton_work(n)
    return _bt_newton(y, p, floor, res_tol, step_tol, max_it, J, Jraw, piv, f, dx, yt, ft)


@nb.njit(cache=True, error_model="numpy")
def lu_factor(J0, LU0, piv0):
    """LU0 = the in-place LU of a copy of J0; False if singular."""
    for i in range(J0.shape[0]):
        for j in range(J0.shape[1]):
            LU0[i, j] = J0[i, j]
    return _bt_lu(LU0, piv0)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_steady(P, guess, y_warm, p_warm, S, floor, J0, res_tol, step_tol, max_newton, max_ptc, max_chord, eig_tol,
                 Y, status, strategy):
    """Steady states of the parameter sets P (N, n_parameters) into Y (N, n_states); status and strategy per set."""
    N = P.shape[0]
    n = guess.shape[0]
    LU0 = J0.copy()
    piv0 = np.empty(n, np.int64)
    if not _bt_lu(LU0, piv0):
        max_chord = 0
    for k in nb.prange(N):
        _bt_steady_rows(k, k + 1, P, guess, y_warm, p_warm, S, floor, LU0, piv0, res_tol, step_tol, max_newton,
                        max_ptc, max_chord, eig_tol, Y, status, strategy)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_observe(Y, P, O):
    """Observables (every expression and flux) of each set: O (N, n_observables)."""
    for k in nb.prange(Y.shape[0]):
        observe(Y[k], P[k], O[k])


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_residual(Y, P, F):
    for k in nb.prange(Y.shape[0]):
        rhs(Y[k], P[k], F[k])


@nb.njit(cache=True, error_model="numpy", parallel=True)
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


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_hurwitz(Y, P, out):
    n = Y.shape[1]
    for k in nb.prange(Y.shape[0]):
        J = np.empty((n, n))
        H = np.empty((n, n))
        c = np.empty(n + 1)
        cn = np.empty(n + 1)
        routh = np.empty((n + 1, n + 1))
        jacobian(Y[k], P[k], J)
        out[k] = _bt_hurwitz_stable(J, n, H, c, cn, routh)


@nb.njit(cache=True, error_model="numpy", parallel=True)
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
# ----------------------------------------------------------------- batched time courses (Rodas4, Hairer-Wanner)
# RODAS (Hairer & Wanner 1996, Solving ODEs II, sec. IV.7; coefficients of rodas.f): 6 stages, order 4 with an
# embedded order 3 solution (error = last stage), L-stable, stiffly accurate, continuous output of order 3.
# Needs the exact Jacobian at every step: the symbolic `jacobian` of this module (`jacobian_totals` for the
# single-run variant, whose cumulative totals are quadratures solved outside the LU: `_tc_solve`).
TC_OK = 0
TC_FAILED = 1
TC_NONFINITE = 3
TC_NEGATIVE = 4

_R_A21 = 1.544
_R_A31 = 0.9466785280815826
_R_A32 = 0.2557011698983284
_R_A41 = 3.314825187068521
_R_A42 = 2.896124015972201
_R_A43 = 0.9986419139977817
_R_A51 = 1.221224509226641
_R_A52 = 6.019134481288629
_R_A53 = 12.53708332932087
_R_A54 = -0.6878860361058950
_R_C21 = -5.6688
_R_C31 = -2.430093356833875
_R_C32 = -0.2063599157091915
_R_C41 = -0.1073529058151375
_R_C42 = -9.594562251023355
_R_C43 = -20.47028614809616
_R_C51 = 7.496443313967647
_R_C52 = -10.24680431464352
_R_C53 = -33.99990352819905
_R_C54 = 11.70890893206160
_R_C61 = 8.083246795921522
_R_C62 = -7.981132988064893
_R_C63 = -31.52159432874371
_R_C64 = 16.31930543123136
_R_C65 = -6.058818238834054
_R_GAMMA = 0.25
# stage tables: row s holds the coefficients of stage s (row 5: the last stage adds k_4 in full, so that
# y + sum_j A[5, j] k_j + k_5 is the new solution)
_R_A = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [_R_A21, 0.0, 0.0, 0.0, 0.0],
    [_R_A31, _R_A32, 0.0, 0.0, 0.0],
    [_R_A41, _R_A42, _R_A43, 0.0, 0.0],
    [_R_A51, _R_A52, _R_A53, _R_A54, 0.0],
    [_R_A51, _R_A52, _R_A53, _R_A54, 1.0],
])
_R_C = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [_R_C21, 0.0, 0.0, 0.0, 0.0],
    [_R_C31, _R_C32, 0.0, 0.0, 0.0],
    [_R_C41, _R_C42, _R_C43, 0.0, 0.0],
    [_R_C51, _R_C52, _R_C53, _R_C54, 0.0],
    [_R_C61, _R_C62, _R_C63, _R_C64, _R_C65],
])
_R_D21 = 10.12623508344586
_R_D22 = -7.487995877610167
_R_D23 = -34.80091861555747
_R_D24 = -7.992771707568823
_R_D25 = 1.025137723295662
_R_D31 = -0.6762803392801253
_R_D32 = 6.087714651680015
_R_D33 = 16.43084320892478
_R_D34 = 24.76722511418386
_R_D35 = -6.594389125716872


@nb.njit(cache=True, error_model="numpy")
def _tc_solve(E, piv, J, b, h):
    """b = (1/(h gamma) - J)^-1 b. Rows past E's size are quadratures (cumulative totals: nothing depends on
    them, so their block of the matrix is 1/(h gamma) I): solved by substitution, never mixed into the LU of the
    states by pivoting (which would put the totals' rounding into states resting at zero)."""
    m = E.shape[0]
    _bt_lu_solve(E, piv, b)
    for i in range(m, b.shape[0]):
        acc = b[i]
        for j in range(m):
            acc += J[i, j] * b[j]
        b[i] = acc * h * _R_GAMMA


@nb.njit(cache=True, error_model="numpy")
def _tc_stage(E, piv, J, f, K, s, h):
    """k_s = (1/(h gamma) - J)^-1 (f(yt) + sum_j C_sj k_j / h); f(yt) must already be in f."""
    n = f.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            acc += _R_C[s, j] * K[j, i]
        K[s, i] = f[i] + acc / h
    _tc_solve(E, piv, J, K[s], h)


'''

_RODAS_ONE = r'''
@nb.njit(cache=True, error_model="numpy")
def __NAME__(y, Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax):
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
        h = min(h_carry, 1e-3, t1 - t, hmax)  # parameters jump at an edge: restart small
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
            __RHS__(y, p, f)
            for i in range(n):
                if not np.isfinite(f[i]):  # e.g. a division by zero: no step size can help
                    return TC_NONFINITE, nacc, nrej, t
            __JAC__(y, p, J)
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
                        __RHS__(yt, p, f)
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
                        D2[i] = _R_D21 * K[0, i] + _R_D22 * K[1, i] + _R_D23 * K[2, i] + _R_D24 * K[3, i] + _R_D25 * K[4, i]
                        D3[i] = _R_D31 * K[0, i] + _R_D32 * K[1, i] + _R_D33 * K[2, i] + _R_D34 * K[3, i] + _R_D35 * K[4, i]
                    while io < n_out and t_out[io] <= tn:
                        th = (t_out[io] - t) / h
                        if th > 1.0:
                            th = 1.0
                        for i in range(n):
                            Yout[io, i] = y[i] + th * (y1[i] - y[i] + (1.0 - th) * (D2[i] + th * D3[i]))
                        io += 1
                for i in range(n):
                    y[i] = y1[i]
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


'''

_TAIL = r'''
@nb.njit(cache=True, error_model="numpy")
def _tc_row(k, Y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, status, nsteps):
    n = Y0.shape[1]
    y = np.empty(n)
    bad = False
    for i in range(n):
        y[i] = Y0[k, i]
        if not np.isfinite(y[i]):
            bad = True
    st = TC_NONFINITE
    na = 0
    if not bad:
        st, na, nr, tr = _tc_one(y, Pseg[k], edges, t_out, rtol, atol, max_steps, Yout[k], np.inf)
    status[k] = st
    nsteps[k] = na
    if st != TC_OK:
        for j in range(Yout.shape[1]):
            for i in range(n):
                Yout[k, j, i] = np.nan


@nb.njit(cache=True, error_model="numpy", nogil=True)
def timecourse_chunk(lo, hi, Y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, status, nsteps):
    """Sets lo..hi-1 of ``batch_timecourse``, without the GIL (mgflux runs chunks on a pool of threads)."""
    for k in range(lo, hi):
        _tc_row(k, Y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, status, nsteps)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_timecourse(Y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, status, nsteps):
    """Time courses of N sets: Y0 (N, n) initial states, Pseg (N, n_segments, n_parameters) the parameters of
    each segment [edges[s], edges[s+1]], states at t_out into Yout (N, n_out, n); status and steps per set.
    A failed set has NaN outputs and a non-zero status (never an exception)."""
    for k in nb.prange(Y0.shape[0]):
        _tc_row(k, Y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, status, nsteps)


@nb.njit(cache=True, error_model="numpy", nogil=True)
def observe_tc_chunk(lo, hi, Yout, Pseg, seg_of, idx, O):
    buf = np.empty(N_OBSERVABLES)
    for k in range(lo, hi):
        for j in range(Yout.shape[1]):
            observe(Yout[k, j], Pseg[k, seg_of[j]], buf)
            for q in range(idx.shape[0]):
                O[k, j, q] = buf[idx[q]]


@nb.njit(cache=True, error_model="numpy", nogil=True)
def observe_chunk(lo, hi, Y, P, O):
    for k in range(lo, hi):
        observe(Y[k], P[k], O[k])


@nb.njit(cache=True, error_model="numpy", parallel=True)
def batch_observe_tc(Yout, Pseg, seg_of, idx, O):
    """Observables idx at every output time with the parameters of its segment: O (N, n_out, len(idx))."""
    for k in nb.prange(Yout.shape[0]):
        buf = np.empty(N_OBSERVABLES)
        for j in range(Yout.shape[1]):
            observe(Yout[k, j], Pseg[k, seg_of[j]], buf)
            for q in range(idx.shape[0]):
                O[k, j, q] = buf[idx[q]]
'''

_RODAS_TOTALS = r'''
@nb.njit(cache=True, error_model="numpy", nogil=True)
def timecourse_totals(y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax):
    """One time course of the states and cumulative totals (``rhs_totals``): what ``mgflux.simulate`` runs.
    Yout (n_out, n_states + n_totals). Returns (status, accepted steps, rejected steps, day reached)."""
    return _tc_one_totals(y0.copy(), Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax)
'''

SOURCE = (_STEADY
          + _RODAS_ONE.replace("__NAME__", "_tc_one").replace("__RHS__", "rhs").replace("__JAC__", "jacobian")
          + _RODAS_ONE.replace("__NAME__", "_tc_one_totals").replace("__RHS__", "rhs_totals")
          .replace("__JAC__", "jacobian_totals")
          + _RODAS_TOTALS + _TAIL)
