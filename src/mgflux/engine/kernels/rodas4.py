"""Rodas4 (Hairer & Wanner 1996, Solving ODEs II, sec. IV.7; coefficients of rodas.f): the tableau as data, the
linear solve and the stage of one step.

6 stages, order 4 with an embedded order 3 solution (error = last stage), L-stable, stiffly accurate,
continuous output of order 3. Needs the exact Jacobian at every step: the symbolic ``jacobian`` of the model
module (``jacobian_totals`` for the single-run variant, whose cumulative totals are quadratures solved outside
the LU: ``_tc_solve``). The step loop is ``rodas4_step.py``.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np

# the numbers of mgflux.results.Status
TC_OK = 0
TC_FAILED = 6
TC_NONFINITE = 3
TC_NEGATIVE = 4

_R_GAMMA = 0.25
# stage tables: row s holds the coefficients of stage s (row 5: the last stage adds k_4 in full, so that
# y + sum_j A[5, j] k_j + k_5 is the new solution)
_R_A = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1.544, 0.0, 0.0, 0.0, 0.0],
    [0.9466785280815826, 0.2557011698983284, 0.0, 0.0, 0.0],
    [3.314825187068521, 2.896124015972201, 0.9986419139977817, 0.0, 0.0],
    [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 0.0],
    [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0],
])
_R_C = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [-5.6688, 0.0, 0.0, 0.0, 0.0],
    [-2.430093356833875, -0.2063599157091915, 0.0, 0.0, 0.0],
    [-0.1073529058151375, -9.594562251023355, -20.47028614809616, 0.0, 0.0],
    [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160, 0.0],
    [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054],
])
# dense output: y(t + th h) = y + th (y1 - y + (1 - th) (D[0] K + th D[1] K)), K the first five stages
_R_D = np.array([
    [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662],
    [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872],
])


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
