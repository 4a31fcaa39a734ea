"""Time courses of a batch of parameter sets (chunks on a thread pool), their observables, and the single run.

A kernel template: :mod:`mgflux.engine.codegen` appends this file's text to every generated model module, so
these functions compile and cache with the model and call its ``rhs``, ``jacobian``, ``observe`` and
``param_jacobian`` directly (inlined by numba). Names the generated module or another template defines are
therefore undefined here (ruff's F821 is off for this folder). Nothing allocates per iteration.
"""
import numba as nb
import numpy as np


@nb.njit(cache=True, error_model="numpy", nogil=True)
def timecourse_totals(y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax):
    """One time course of the states and cumulative totals (``rhs_totals``): what ``mgflux.simulate`` runs.
    Yout (n_out, n_states + n_totals). Returns (status, accepted steps, rejected steps, day reached)."""
    return _tc_one_totals(y0.copy(), Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax)


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
    """Time courses of sets lo..hi-1, without the GIL (mgflux runs chunks on a pool of threads): Y0 (N, n)
    initial states, Pseg (N, n_segments, n_parameters) the parameters of each segment [edges[s], edges[s+1]],
    states at t_out into Yout (N, n_out, n); status and steps per set. A failed set has NaN outputs and a
    non-zero status (never an exception)."""
    for k in range(lo, hi):
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
