"""Forward sensitivities of a time course: the states y and S = dy/dtheta integrated together.

For inputs theta that set the parameters of each segment, p_s(theta) (s = 0, 1, ...: the scenario's windows),

    y' = f(y, p_s)                 S' = J(y, p_s) S + df/dp(y, p_s) V_s,   V_s = dp_s/dtheta,

segment by segment. The window edges do not depend on theta and the state is continuous there, so S is too;
the parameters and V change at an edge. The sensitivity right-hand side of column j is the directional
derivative of f along (S_j, V_j), computed by complex step, exact to rounding (Squire & Trapp 1998, SIAM Rev
40:110): Im f(y + i h S_j, p + i h V_j) / h, h = 1e-30; its real part is f(y, p) itself (the generated ``rhs``
accepts complex arrays). The Jacobian of the augmented system: diagonal blocks J (exact, symbolic), lower blocks
d/de J(y + e S_j, p + e V_j) by central differences of J (it only shapes the Rosenbrock matrix; a complex step
of J is not safe at a power of a base that is exactly 0, where the second derivative is unbounded).

The augmented system (n (1 + k) equations) is integrated by the same Rodas4 step loop as the time courses
(``engine/kernels/rodas4_step.py``), compiled with the augmented right-hand side and its Jacobian (one n x n LU per step: the blocks share J) into a
module of its own (``mgflux_sens_<hash>.py`` in the cache folder, beside the model's; any number of columns).
The error of S is controlled as that of y (absolute tolerance per column scaled by the input's size), so the
sensitivities are accurate to about the integration tolerance, not to a difference step. scipy's Radau IIA
(``method="Radau"``, plain Python around the compiled kernels, ~20x slower) is the fallback.
"""
from __future__ import annotations

import numpy as np

from ..errors import IntegrationError

_H = 1e-30


def forward_sensitivities(mod, y0, S0, segments, t_out, *, rtol=1e-9, atol=None, s_atol=None,
                          method: str = "Rodas4", model=None):
    """Integrate y and S = dy/dtheta through *segments* [(t0, t1, p (m,), V (m, k)), ...] (contiguous).

    *mod*: the compiled model (``codegen.compiled``); *y0* (n,), *S0* (n, k) at segments[0][0]; *t_out* sorted
    times within the segments (at an edge: the state there, which both segments share). *atol*: absolute
    tolerance of the states (n,); *s_atol* (k,) scales it for column j of S (default 1). Returns
    (Y (len(t_out), n), S (len(t_out), n, k), stats)."""
    from scipy.integrate import solve_ivp

    if method == "Rodas4":
        out = _rodas(model, y0, S0, segments, t_out, rtol, atol, s_atol)
        if out is not None:
            return out
        method = "Radau"
    y0 = np.asarray(y0, dtype=np.float64)
    n = y0.size
    S0 = np.asarray(S0, dtype=np.float64).reshape(n, -1)
    k = S0.shape[1]
    t_out = np.asarray(t_out, dtype=np.float64)
    atol = np.full(n, 1e-12) if atol is None else np.broadcast_to(np.asarray(atol, float), (n,))
    s_atol = np.ones(k) if s_atol is None else np.asarray(s_atol, float)
    tol = np.concatenate([atol] + [atol * s_atol[j] for j in range(k)])
    Y = np.full((t_out.size, n), np.nan)
    S = np.full((t_out.size, n, k), np.nan)
    z = np.concatenate([y0, S0.T.ravel()])  # column j of S at z[n (1 + j): n (2 + j)]
    stats = {"method": method, "nfev": 0, "njev": 0, "nlu": 0, "segments": len(segments)}
    yc = np.empty(n, np.complex128)
    dyc = np.empty(n, np.complex128)
    for s, (t0, t1, p, V) in enumerate(segments):
        p = np.ascontiguousarray(p, dtype=np.float64)
        V = np.asarray(V, dtype=np.float64).reshape(p.size, k)
        pcs = [np.ascontiguousarray(p + 1j * _H * V[:, j]) for j in range(k)]
        last = s == len(segments) - 1
        mask = (t_out >= t0) & ((t_out < t1) | (last & (t_out <= t1)))
        if not t1 > t0:
            continue

        def f(t, x, p=p, pcs=pcs):
            dx = np.empty_like(x)
            y = x[:n]
            if k == 0:
                mod.rhs(y, p, dx)
                return dx
            for j in range(k):
                yc.real = y
                yc.imag = _H * x[n * (1 + j):n * (2 + j)]
                mod.rhs(yc, pcs[j], dyc)
                if j == 0:
                    dx[:n] = dyc.real
                dx[n * (1 + j):n * (2 + j)] = dyc.imag / _H
            return dx

        def jac(t, x, p=p, pcs=pcs):
            y = x[:n]
            A = np.zeros((n * (1 + k), n * (1 + k)))
            J = np.empty((n, n))
            mod.jacobian(y, p, J)
            for j in range(k + 1):
                A[n * j:n * (j + 1), n * j:n * (j + 1)] = J
            Jp, Jm = np.empty((n, n)), np.empty((n, n))
            for j in range(k):
                sj, vj = x[n * (1 + j):n * (2 + j)], V[:, j]
                r = max(np.max(np.abs(sj) / np.maximum(np.abs(y), 1e-6)), np.max(np.abs(vj) / np.maximum(np.abs(p), 1e-6)))
                if not (r > 0 and np.isfinite(r)):
                    continue
                e = 1e-6 / r
                mod.jacobian(y + e * sj, p + e * vj, Jp)
                mod.jacobian(y - e * sj, p - e * vj, Jm)
                A[n * (1 + j):n * (2 + j), :n] = np.nan_to_num((Jp - Jm) / (2 * e), nan=0.0, posinf=0.0, neginf=0.0)
            return A

        te = np.unique(np.concatenate([t_out[mask], [t1]]))
        with np.errstate(all="ignore"):
            sol = solve_ivp(f, (t0, t1), z, method=method, jac=jac, t_eval=te, rtol=rtol, atol=tol)
        if sol.status != 0 or sol.y.shape[1] != te.size or not np.all(np.isfinite(sol.y)):
            raise IntegrationError(f"forward sensitivities: {method} failed in segment {s + 1} (day {t0:g} to "
                                   f"{t1:g}): {sol.message}")
        if mask.any():
            zz = sol.y[:, np.searchsorted(te, t_out[mask])]
            Y[mask] = zz[:n].T
            S[mask] = zz[n:].reshape(k, n, -1).transpose(2, 1, 0)
        z = sol.y[:, -1].copy()
        stats["nfev"] += int(sol.nfev)
        stats["njev"] += int(sol.njev or 0)
        stats["nlu"] += int(sol.nlu or 0)
    return Y, S, stats


def steady_sensitivity(mod, y, p, V) -> np.ndarray:
    """dy/dtheta at a steady state f(y, p(theta)) = 0: -J^-1 df/dp V (exact; df/dp V by complex step)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    V = np.atleast_2d(np.asarray(V, dtype=np.float64).reshape(p.size, -1))
    J = np.empty((n, n))
    mod.jacobian(y, np.ascontiguousarray(p, dtype=np.float64), J)
    B = np.empty((n, V.shape[1]))
    dyc = np.empty(n, np.complex128)
    yc = y.astype(np.complex128)
    for j in range(V.shape[1]):
        mod.rhs(yc, np.ascontiguousarray(p + 1j * _H * V[:, j]), dyc)
        B[:, j] = dyc.imag / _H
    return -np.linalg.solve(J, B)


# ------------------------------------------------------------------- the compiled augmented system (Rodas4)

_AUG = '''

# ---------------------------------------- forward sensitivities (mgflux/engine/forward.py)
# z = (y, S_0, ..., S_{k-1}), P = (p, V_0, ..., V_{k-1}): k from the sizes, so one compilation serves every k


@nb.njit(cache=True, error_model="numpy")
def _aug_rhs(z, P, dz):
    """States and k sensitivity columns: Im rhs(y + i h S_j, p + i h V_j) / h (P = p, V_0, V_1, ...)."""
    n = N_STATES
    m = N_PARAMETERS
    k = z.shape[0] // n - 1
    yc = np.empty(n, np.complex128)
    pc = np.empty(m, np.complex128)
    dyc = np.empty(n, np.complex128)
    for j in range(k):
        for i in range(n):
            yc[i] = complex(z[i], _H * z[n * (1 + j) + i])
        for i in range(m):
            pc[i] = complex(P[i], _H * P[m * (1 + j) + i])
        rhs(yc, pc, dyc)
        for i in range(n):
            if j == 0:
                dz[i] = dyc[i].real
            dz[n * (1 + j) + i] = dyc[i].imag / _H


@nb.njit(cache=True, error_model="numpy")
def _aug_jacobian(z, P, A):
    """The Jacobian of _aug_rhs: J on the diagonal blocks; below, d/de J(y + e S_j, p + e V_j) by central
    differences of the exact J (relative step 1e-6 of the states and parameters): the second derivatives only
    shape the Rosenbrock matrix, and a complex step of J is not safe where a power's base is exactly 0."""
    n = N_STATES
    m = N_PARAMETERS
    k = z.shape[0] // n - 1
    J = np.empty((n, n))
    Jp = np.empty((n, n))
    Jm = np.empty((n, n))
    yp = np.empty(n)
    ym = np.empty(n)
    pp = np.empty(m)
    pm = np.empty(m)
    for a in range(A.shape[0]):
        for b in range(A.shape[1]):
            A[a, b] = 0.0
    jacobian(z[:n], P[:m], J)
    for j in range(k + 1):
        for a in range(n):
            for b in range(n):
                A[n * j + a, n * j + b] = J[a, b]
    for j in range(k):
        r = 0.0
        for i in range(n):
            r = max(r, abs(z[n * (1 + j) + i]) / max(abs(z[i]), 1e-6))
        for i in range(m):
            r = max(r, abs(P[m * (1 + j) + i]) / max(abs(P[i]), 1e-6))
        if not (r > 0.0) or not np.isfinite(r):
            continue
        e = 1e-6 / r
        for i in range(n):
            yp[i] = z[i] + e * z[n * (1 + j) + i]
            ym[i] = z[i] - e * z[n * (1 + j) + i]
        for i in range(m):
            pp[i] = P[i] + e * P[m * (1 + j) + i]
            pm[i] = P[i] - e * P[m * (1 + j) + i]
        jacobian(yp, pp, Jp)
        jacobian(ym, pm, Jm)
        for a in range(n):
            for b in range(n):
                d = (Jp[a, b] - Jm[a, b]) / (2.0 * e)
                A[n * (1 + j) + a, b] = d if np.isfinite(d) else 0.0


@nb.njit(cache=True, error_model="numpy")
def _sens_solve(E, piv, A, b, h):
    """b = (1/(h gamma) - A)^-1 b for the block lower triangular A of the augmented system: its diagonal blocks
    are all J, so E (the LU of 1/(h gamma) - J, n x n) serves every block: the states first, then each column
    with its coupling to them, x_j = E^-1 (b_j + A_j0 x_0). One n x n LU per step, not one of n (1 + k)."""
    m = E.shape[0]
    k = b.shape[0] // m - 1
    _bt_lu_solve(E, piv, b)  # the first m entries: the states' block
    t = np.empty(m)
    for j in range(k):
        o = m * (1 + j)
        for a in range(m):
            acc = b[o + a]
            for c in range(m):
                acc += A[o + a, c] * b[c]
            t[a] = acc
        _bt_lu_solve(E, piv, t)
        for a in range(m):
            b[o + a] = t[a]


@nb.njit(cache=True, error_model="numpy")
def _sens_stage(E, piv, J, f, K, s, h):
    """_tc_stage with the block solve (rodas4.py)."""
    n = f.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            acc += _R_C[s, j] * K[j, i]
        K[s, i] = f[i] + acc / h
    _sens_solve(E, piv, J, K[s], h)


@nb.njit(cache=True, error_model="numpy")
def sens_course(y0, Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax):
    """One course of the augmented system (Yout (n_out, n (1 + k))): (status, accepted, rejected, day reached)."""
    return _sens_one(y0.copy(), Pseg, edges, t_out, rtol, atol, max_steps, Yout, hmax)
'''

_MODULES: dict = {}


def augmented_module(model):
    """The generated module of *model* plus the augmented system (any number of sensitivity columns; numba)."""
    import hashlib
    import importlib.util
    import re
    import sys

    from .._paths import cache_dir
    from .codegen import _write_module, generate_source
    from .kernels import _text

    key = id(model)
    hit = _MODULES.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    step = re.sub(r"(?m)^import (numba as nb|numpy as np)\n", "", _text("rodas4_step"))
    step = re.sub(r"\b_tc_one\b", "_sens_one", step)
    # the template's hoisted calls (prep once per segment, then rhs_q / rhs_jacobian_q) on the augmented system:
    # its right-hand side and Jacobian take the parameters and their directions whole
    joint = r"\brhs_jacobian_q\((\w+), p, q, (\w+), (\w+)\)"
    calls = len(re.findall(joint, step)), len(re.findall(r"\brhs_q\(\w+, p, q, \w+\)", step))
    step = re.sub(joint, r"_aug_rhs(\1, p, \2)\n                _aug_jacobian(\1, p, \3)", step)
    step = re.sub(r"\brhs_q\((\w+), p, q, (\w+)\)", r"_aug_rhs(\1, p, \2)", step)
    step = re.sub(r"(?m)^(\s*)prep\(p, q\).*$", r"\1pass  # no prep: the augmented functions compute everything",
                  step)
    # the LU of the states' block only (m = N_STATES), solved blockwise (_sens_solve); only the states must stay
    # non-negative (the check of the template is on i < N_STATES)
    if (step.count("_tc_stage(") != 1 or "m = N_STATES  #" not in step or calls[0] != 1 or calls[1] < 1
            or re.search(r"\b(rhs|jacobian|rhs_q|jacobian_q|rhs_jacobian_q)\(", step)):
        raise RuntimeError("forward sensitivities: the Rodas4 step template changed (_tc_stage, m = N_STATES, "
                           "its rhs_q / rhs_jacobian_q calls)")
    step = step.replace("_tc_stage(", "_sens_stage(")
    extra = _AUG + "\n\n" + step
    src = generate_source(model) + "\n" + re.sub(r"(?m)^@nb\.njit\(", "@_jit(", extra)
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    modname = f"mgflux_sens_{digest}"
    if modname in sys.modules:
        mod = sys.modules[modname]
    else:
        path = _write_module(cache_dir(), modname, src)
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        mod.to_numba()
    _MODULES[key] = (model, mod)
    return mod


def _rodas(model, y0, S0, segments, t_out, rtol, atol, s_atol):
    """The compiled Rodas4 on the augmented system; None if it fails (the caller falls back to Radau)."""
    y0 = np.asarray(y0, dtype=np.float64)
    n = y0.size
    S0 = np.asarray(S0, dtype=np.float64).reshape(n, -1)
    k = S0.shape[1]
    t_out = np.ascontiguousarray(t_out, dtype=np.float64)
    atol = np.full(n, 1e-12) if atol is None else np.broadcast_to(np.asarray(atol, float), (n,))
    s_atol = np.ones(k) if s_atol is None else np.asarray(s_atol, float)
    if np.all(np.isinf(s_atol)):
        # S outside the error test: the step loop's RMS norm runs over n (1 + k) rows, k n of them zero; scaled
        # so that the states are held to *rtol* and *atol* exactly as in a plain course
        rtol, atol = rtol / np.sqrt(1 + k), atol / np.sqrt(1 + k)
    tol = np.ascontiguousarray(np.concatenate([atol] + [atol * s_atol[j] for j in range(k)]))
    mod = augmented_module(model)
    edges = np.array([segments[0][0]] + [t1 for _, t1, _, _ in segments], dtype=np.float64)
    P = np.ascontiguousarray(np.array([np.concatenate([p] + [np.asarray(V).reshape(len(p), k)[:, j]
                                                             for j in range(k)]) for _, _, p, V in segments]))
    z = np.ascontiguousarray(np.concatenate([y0, S0.T.ravel()]))
    Z = np.empty((t_out.size, z.size))
    max_steps = 200000 * len(segments)
    from pathlib import Path

    from .codegen import is_cached, note

    if not mod.sens_course.signatures and not is_cached(mod, ("sens_course",)):
        note("compiling the fit's sensitivity kernels once (a minute or more); later fits load them from "
             f"{Path(mod.__file__).parent}")
    status, nacc, nrej, _ = mod.sens_course(z, P, edges, t_out, float(rtol), tol, max_steps, Z, np.inf)
    if status != 0 or not np.all(np.isfinite(Z)):
        return None
    Y = Z[:, :n].copy()
    S = Z[:, n:].reshape(t_out.size, k, n).transpose(0, 2, 1).copy()
    return Y, S, {"method": "Rodas4", "steps": int(nacc), "rejected_steps": int(nrej), "segments": len(segments)}
