"""Stability of a steady state: Routh-Hurwitz on the characteristic polynomial (Hessenberg reduction by stabilised
elementary similarities, Hyman recurrence), confirmed by eigenvalues when doubtful.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy")
def _bt_hurwitz_stable(A, n, H, c, cn, routh):
    """Routh-Hurwitz on the characteristic polynomial of A[:n, :n]: 1 = every eigenvalue in the open left
    half-plane, -1 = not shown (a sign change, a zero or a rounding-level pivot: an eigenvalue in the right
    half-plane or too close to tell; ``_bt_stable`` then asks LAPACK). It never returns 0: an unstable
    verdict always comes from the eigenvalues. H, c, cn, routh are work arrays at least that large."""
    for i in range(n):
        for j in range(n):
            H[i, j] = A[i, j]
    # Hessenberg form by stabilised elementary similarity transformations (EISPACK's ELMHES: Gaussian
    # elimination with partial pivoting, each row operation undone on the columns), half the operations of
    # Householder reflections, and a zero multiplier costs nothing: the Jacobian's sparsity is kept where it
    # can be (Wilkinson, "The algebraic eigenvalue problem", 1965, ch. 6; Martin & Wilkinson 1968)
    for k in range(n - 2):
        m = k + 1
        p = m
        amax = abs(H[m, k])
        for i in range(m + 1, n):
            if abs(H[i, k]) > amax:
                amax = abs(H[i, k])
                p = i
        if amax == 0.0:
            continue
        if p != m:
            for j in range(k, n):
                t = H[p, j]
                H[p, j] = H[m, j]
                H[m, j] = t
            for i in range(n):
                t = H[i, p]
                H[i, p] = H[i, m]
                H[i, m] = t
        x = H[m, k]
        for i in range(m + 1, n):
            y = H[i, k]
            if y != 0.0:
                y /= x
                H[i, k] = 0.0
                for j in range(m, n):
                    H[i, j] -= y * H[m, j]
                for j in range(n):
                    H[j, m] += y * H[j, i]
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
