"""Linear algebra for the small systems of one set: LU (the generated sparse one, or dense with partial
pivoting), solves, scaled norms, the fraction-to-boundary rule.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy")
def _bt_lu(A, piv):
    """In-place LU of A (n x n): the generated sparse LU of the model's Jacobian pattern (``_sp_lu``, planned by
    :mod:`mgflux.engine.sparse_lu`) when A is the states' size and its static pivots pass the threshold test,
    marked by piv[0] = -1; else the dense LU with partial pivoting. False if singular or not finite."""
    if A.shape[0] == N_STATES and _sp_lu(A):
        piv[0] = -1
        return True
    return _bt_lu_dense(A, piv)


@nb.njit(cache=True, error_model="numpy")
def _bt_lu_solve(A, piv, b):
    """Solve in place with the factors of _bt_lu (the first A.shape[0] entries of b)."""
    if piv[0] < 0:
        _sp_solve(A, b)
    else:
        _bt_lu_solve_dense(A, piv, b)


@nb.njit(cache=True, error_model="numpy")
def _bt_lu_dense(A, piv):
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
def _bt_lu_solve_dense(A, piv, b):
    """Solve in place with the factors of _bt_lu_dense."""
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
    """Largest alpha <= 1 keeping y + alpha dx > 0 (fraction-to-boundary). Round-off components of *dx* for a
    state resting at its bound (exactly 0, e.g. no drug damage), or pushing one below it, are set to 0 in place:
    they would otherwise stop the step altogether (or leave 1e-18 where the state is exactly 0). A state within
    round-off of 0 that the step takes to 0 or below lands on 0 and does not limit alpha."""
    a = 1.0
    big = 1.0
    for i in range(y.shape[0]):
        if abs(dx[i]) > big:
            big = abs(dx[i])
    thr = 1e-12 * big
    for i in range(y.shape[0]):
        if abs(dx[i]) < thr and (y[i] == 0.0 or y[i] + dx[i] < 0.0):
            dx[i] = 0.0
        if dx[i] < 0.0 and y[i] < thr and y[i] + dx[i] <= 0.0:
            # a state a round-off away from 0 whose solution is 0 (no drug damage): the step lands on 0 rather
            # than 1 % above it each time, which would hold every step at alpha = 0.99 (linear convergence)
            dx[i] = -y[i]
            continue
        if dx[i] < 0.0:
            c = -frac * y[i] / dx[i]
            if c < a:
                a = c
    return max(a, 0.0)
