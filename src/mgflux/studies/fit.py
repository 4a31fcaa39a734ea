"""Fit a patient: estimate scenario inputs or model parameters from measurements over time.

``fit(scenario, data, estimate=[...])`` minimises the weighted sum of squares

    chi2(theta) = sum_i ((y_i - f_i(theta)) / sd_i)^2

over the named inputs (the names ``sweep --vary`` accepts: ``gfr``, ``cetuximab.dose``, ``TRPM6.activity``),
within bounds from their documented ranges, by trust-region least squares (scipy ``least_squares``, 'trf': a
bounded Gauss-Newton / Levenberg-Marquardt) with the Jacobian of the residuals from forward sensitivities
(:mod:`mgflux.engine.forward`): S = dy/dtheta integrated with the states, S' = J S + df/dp dp/dtheta, segment
by segment over the scenario's windows, from the initial steady state's dy0/dtheta = -J^-1 df/dp dp/dtheta;
df/dp, the readouts' derivatives and the augmented Jacobian by complex step (exact). Only the algebraic map
dp/dtheta of the catalogue formulas is a central difference (~1e-10 relative). The objective and the profiles
use the batched Rodas4 courses (rtol 1e-9), the same integrator as the Jacobian's states.
95 % intervals are profile-likelihood intervals: the set of theta_j whose profile (chi2 minimised over the other
parameters) stays within 3.84 (chi2 quantile, 1 dof) of the minimum. A profile that reaches a bound without
crossing is reported as not identifiable on that side; a sensitivity that vanishes (or two that are collinear)
is reported before any interval is computed.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.batch import readouts_of
from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model.parameters import factor
from ..model.readouts import READOUTS
from ..model.scenario import Scenario, load_scenario
from ..options import TimecourseOptions

CHI2_95_1DOF = 3.841458820694124
SENSITIVITY_METHOD = ("forward sensitivities (S' = J S + df/dp dp/dtheta through the windows, Rodas4; "
                      "complex-step df/dp and readout derivatives)")
_OPTIONS = TimecourseOptions(rtol=1e-9, atol_scale=1e-12)


@dataclass(frozen=True)
class Measurement:
    time_day: np.ndarray
    readout: tuple
    value: np.ndarray
    sd: np.ndarray
    source: str = "<data>"


def load_data(data, readouts=None) -> Measurement:
    """A tidy measurement table (``time_day,readout,value,sd``): a CSV path, or a list of row dicts."""
    where = "<data>"
    if isinstance(data, Measurement):
        return data
    if isinstance(data, (str, Path)):
        where = str(data)
        try:
            with open(data, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            raise ScenarioError(f"data file {data} does not exist") from None
    elif hasattr(data, "to_dict"):  # a pandas DataFrame
        rows = data.to_dict("records")
    else:
        rows = list(data)
    need = ("time_day", "readout", "value", "sd")
    if not rows:
        raise ScenarioError(f"{where}: no measurements (need columns {', '.join(need)})")
    missing = [c for c in need if c not in rows[0]]
    if missing:
        raise ScenarioError(f"{where}: missing column(s) {', '.join(missing)}; the table needs {', '.join(need)}")
    names = set(readouts or READOUTS)
    t, r, v, s = [], [], [], []
    for i, row in enumerate(rows, start=2):
        name = str(row["readout"]).strip()
        if name not in names:
            raise ScenarioError(unknown_name("readout", name, names, f"{where}: line {i}"))
        try:
            ti, vi, si = float(row["time_day"]), float(row["value"]), float(row["sd"])
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}: line {i}: time_day, value and sd must be numbers") from None
        if not (math.isfinite(ti) and ti >= 0):
            raise ScenarioError(f"{where}: line {i}: time_day = {row['time_day']!r} must be a finite day >= 0")
        if not math.isfinite(vi):
            raise ScenarioError(f"{where}: line {i}: value = {row['value']!r} is not finite")
        if not (math.isfinite(si) and si > 0):
            raise ScenarioError(f"{where}: line {i}: sd = {row['sd']!r} must be > 0 (the measurement's standard "
                                "deviation, in the readout's unit)")
        t.append(ti)
        r.append(name)
        v.append(vi)
        s.append(si)
    return Measurement(np.array(t), tuple(r), np.array(v), np.array(s), where)


@dataclass(frozen=True)
class FitResult:
    """Estimates with 95 % profile-likelihood intervals; ``to_dict()`` is the ``--json`` object."""

    scenario: str
    names: tuple
    units: tuple
    value: np.ndarray
    ci95: tuple  # ((lo, hi), ...) None where a side is not identifiable
    bounds: tuple
    identifiable: tuple  # per name: True, or a sentence why not
    objective: float
    data: Measurement
    fitted: np.ndarray
    profiles: dict = field(default_factory=dict)  # name -> (values, chi2)
    messages: tuple = ()
    interval_method: str = "profile likelihood (chi2 within 3.84 of the minimum, 1 dof)"
    converged: bool = True
    jacobian: np.ndarray | None = None  # d(weighted residual)/dtheta at the estimate (n_data, k)
    sensitivity_method: str = SENSITIVITY_METHOD

    def dataframe(self):
        """Data, fit and weighted residuals as a tidy pandas DataFrame (one row per measurement)."""
        import pandas as pd

        return pd.DataFrame(self.to_dict()["residuals"])

    def to_dict(self) -> dict:
        est = {}
        for j, n in enumerate(self.names):
            lo, hi = self.ci95[j]
            est[n] = {"value": float(self.value[j]), "ci95": [lo, hi], "unit": self.units[j],
                      "bounds": list(self.bounds[j]), "identifiable": self.identifiable[j] is True,
                      **({} if self.identifiable[j] is True else {"why": self.identifiable[j]})}
        res = [{"time_day": float(t), "readout": r, "value": float(v), "sd": float(s), "fitted": float(f),
                "weighted_residual": float((v - f) / s)}
               for t, r, v, s, f in zip(self.data.time_day, self.data.readout, self.data.value, self.data.sd,
                                        self.fitted)]
        return {"scenario": self.scenario, "estimates": est, "objective": float(self.objective),
                "n_data": len(res), "interval_method": self.interval_method,
                "sensitivity_method": self.sensitivity_method, "converged": self.converged,
                "residuals": res, "messages": list(self.messages)}


class _Problem:
    """The model as a function of the estimated inputs: batched predictions (Rodas4) for the objective and the
    profiles, forward sensitivities for the Jacobian of the residuals."""

    def __init__(self, scenario: Scenario, factors, data: Measurement):
        self.sc = scenario
        self.factors = factors
        self.data = data
        self.times = np.unique(data.time_day)
        self.t_index = np.searchsorted(self.times, data.time_day)
        self.end = max(float(self.times[-1]), 1e-9)
        self.calls = 0
        self._warm = None

    def warm(self):
        """The nominal steady state that warm-starts every set's initial steady state (once per problem)."""
        if self._warm is None:
            from ..engine.batch import nominal
            from ..model.parameters import parameter_matrix

            p0 = parameter_matrix(self.sc, [], np.zeros((1, 0)), steady=False)[0]
            self._warm = nominal(self.sc.model, p0)
        return self._warm

    def predict(self, thetas: np.ndarray) -> np.ndarray:
        """Predicted data (N, n_data) for parameter sets *thetas* (N, k) in display units; NaN where failed."""
        thetas = np.atleast_2d(thetas)
        self.calls += 1
        t_out = self.times if self.times[-1] > 0 else np.array([0.0, 1e-9])
        tc = _courses(self.sc, self.factors, thetas, t_out, max(self.end, t_out[-1]), warm=self.warm())
        out = np.full((thetas.shape[0], self.data.value.size), np.nan)
        seg = np.clip(np.searchsorted(tc.edges, tc.time_day, side="right") - 1, 0, tc.edges.size - 2)
        for it in range(self.times.size):
            rows = np.flatnonzero(self.t_index == it)
            if not rows.size:
                continue
            rd = readouts_of(self.sc.model, tc.Y[:, it], tc.Pseg[:, seg[it]], tc.status)
            for q in rows:
                out[:, q] = rd[self.data.readout[q]]
        return out

    def residuals(self, theta) -> np.ndarray:
        f = self.predict(np.asarray(theta, float)[None, :])[0]
        return (f - self.data.value) / self.data.sd

    def sensitivities(self, theta, bounds, cols=None):
        """(f (n_data,), dF/dtheta (n_data, k)) by forward sensitivities (:mod:`mgflux.engine.forward`): the
        initial steady state's dy0/dtheta = -J^-1 df/dp dp/dtheta, then S' = J S + df/dp dp_s/dtheta segment by
        segment, then the readouts' total derivative along (S, dp_s/dtheta) by complex step. dp/dtheta (the
        algebraic map of the catalogue formulas) by central differences. NaN where the model fails. *cols*: the
        inputs to differentiate (default all; the others' columns are 0: a profile's fixed input)."""
        from ..engine.codegen import compiled
        from ..engine.forward import forward_sensitivities, steady_sensitivity
        from ..errors import MgfluxError as _E

        self.calls += 1
        theta = np.asarray(theta, dtype=float)
        k = theta.size
        model = self.sc.model
        mod = compiled(model)
        t_out = self.times if self.times[-1] > 0 else np.array([0.0, 1e-9])
        days = max(self.end, t_out[-1])
        nan = (np.full(self.data.value.size, np.nan), np.full((self.data.value.size, k), np.nan))
        edges, base, Vb, Pseg, Vs = _parameter_maps(self.sc, self.factors, theta, bounds, days)
        y0, ok = _initial_state(model, base[None, :], self.warm())
        if not ok[0] or not np.all(np.isfinite(Vb)) or not np.all(np.isfinite(Vs)):
            return nan
        cols = list(range(k)) if cols is None else list(cols)
        full_k, k = k, len(cols)
        Vb, Vs = Vb[:, cols], Vs[:, :, cols]
        try:
            S0 = steady_sensitivity(mod, y0[0], base, Vb)
            atol = _OPTIONS.atol_scale * np.maximum(1.0, np.abs(model.guess_vector()))
            segs = [(edges[s], edges[s + 1], Pseg[s], Vs[s]) for s in range(edges.size - 1)]
            # partial error control (CVODES's errconS = false): the steps are the states' (rtol 1e-9), S is
            # integrated on them by the same L-stable method; tests/test_fit.py checks S against differences
            Y, S, _ = forward_sensitivities(mod, y0[0], S0, segs, t_out, rtol=_OPTIONS.rtol, atol=atol,
                                            s_atol=np.full(k, np.inf), model=model)
        except (_E, np.linalg.LinAlgError):
            return nan
        seg = np.clip(np.searchsorted(edges, t_out, side="right") - 1, 0, edges.size - 2)
        names = sorted(set(self.data.readout))
        # all output times in one evaluation of the readout formulas: columns (time, j)
        T = self.times.size
        val, der = readout_derivatives(model, np.repeat(Y[:T], k, axis=0).T,
                                       S[:T].transpose(1, 0, 2).reshape(Y.shape[1], T * k),
                                       np.repeat(Pseg[seg[:T]], k, axis=0).T,
                                       Vs[seg[:T]].transpose(1, 0, 2).reshape(Pseg.shape[1], T * k), names)
        f, F = np.full(self.data.value.size, np.nan), np.zeros((self.data.value.size, full_k))
        for q in range(self.data.value.size):
            it, r = self.t_index[q], self.data.readout[q]
            f[q] = val[r][it * k]
            F[q, cols] = der[r][it * k:(it + 1) * k]
        return f, F


_H = 1e-30


def readout_derivatives(model, y, S, p, V, names):
    """Readouts *names* and their derivatives along columns: column c is the state y[:, c] and parameters
    p[:, c], differentiated along (S[:, c] = dy/dtheta_j, V[:, c] = dp/dtheta_j); complex step through
    ``observe`` and the readout formulas (exact). Returns ({name: values (C,)}, {name: derivatives (C,)})."""
    import warnings

    from ..engine.codegen import compiled
    from ..model.readouts import evaluate_readouts

    mod = compiled(model)
    C = S.shape[1]
    n_obs = len(model.observable_names)
    O = np.empty((n_obs, C), np.complex128)
    Yc = np.asarray(y, dtype=float) + 1j * _H * S
    Pc = np.asarray(p, dtype=float) + 1j * _H * V
    oc = np.empty(n_obs, np.complex128)
    for c in range(C):
        mod.observe(np.ascontiguousarray(Yc[:, c]), np.ascontiguousarray(Pc[:, c]), oc)
        O[:, c] = oc
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rc = evaluate_readouts(model, O, Yc)
    return ({r: np.real(np.asarray(rc[r], dtype=np.complex128)) for r in names},
            {r: np.imag(np.asarray(rc[r], dtype=np.complex128)) / _H for r in names})


def _lifelong(factors):
    """Factors that set the initial steady state: model parameters and genes (an estimated gene activity is part
    of the lifelong start, not switched on at time 0)."""
    return [j for j, f in enumerate(factors) if f.is_parameter or f.entry.kind == "gene"]


def _initial_state(model, base, warm):
    from ..engine.batch import solve_batch

    Y0, st0, _ = solve_batch(model, base, warm=warm)
    return np.where((st0 == 0)[:, None], Y0, np.nan), st0 == 0


def _parameter_maps(scenario, factors, theta, bounds, days):
    """(edges, p_base, dp_base/dtheta (m, k), Pseg (n_seg, m), dPseg/dtheta (n_seg, m, k)) at *theta*.

    The map from the inputs to the parameters is algebraic (the catalogue's formulas, affine in the base
    vector): its derivative by central differences, step 1e-5 of the input's scale (one-sided second order at a
    bound), truncation and rounding errors ~1e-10 relative; it is not an ODE solution."""
    from ..model.parameters import parameter_matrix, run_edges, segment_parameters

    k = theta.size
    edges = run_edges(scenario, days)
    sets, how = [theta], []
    for j, (lo, hi) in enumerate(bounds):
        h = 1e-5 * _scale(theta[j], lo, hi)
        e = np.zeros(k)
        e[j] = h
        if theta[j] - h < lo:
            sets += [theta + e, theta + 2 * e]
            how.append((h, +1))
        elif theta[j] + h > hi:
            sets += [theta - e, theta - 2 * e]
            how.append((h, -1))
        else:
            sets += [theta + e, theta - e]
            how.append((h, 0))
    X = np.array(sets)
    life = _lifelong(factors)
    B = parameter_matrix(scenario, [factors[j] for j in life], X[:, life], steady=False)
    _, P = segment_parameters(scenario, factors, X, edges)

    def d(A):
        out = np.empty(A.shape[1:] + (k,))
        for j, (h, side) in enumerate(how):
            a, b = A[1 + 2 * j], A[2 + 2 * j]
            out[..., j] = (a - b) / (2 * h) if side == 0 else side * (-3 * A[0] + 4 * a - b) / (2 * h)
        return out

    return edges, B[0], d(B), P[0], d(P)


def _courses(scenario: Scenario, factors, values, t_out, days, warm=None):
    """Batched time courses (as ``run.timecourse_batch``), each from the steady state of its own diet, genes
    and parameters: an estimated gene activity is part of that lifelong start, not switched on at time 0."""
    import types

    from ..engine.batch import integrate_batch, nominal
    from ..model.parameters import parameter_matrix, run_edges, segment_parameters

    model = scenario.model
    edges = run_edges(scenario, days)
    _, Pseg = segment_parameters(scenario, factors, values, edges)
    lifelong = _lifelong(factors)
    base = parameter_matrix(scenario, [factors[j] for j in lifelong], values[:, lifelong], steady=False)
    if warm is None:
        warm = nominal(model, parameter_matrix(scenario, [], np.zeros((1, 0)), steady=False)[0])
    Y0, ok = _initial_state(model, base, warm)
    Yout, status, _ = integrate_batch(model, Y0, Pseg, edges, t_out, options=_OPTIONS)
    return types.SimpleNamespace(Y=Yout, Pseg=Pseg, edges=edges, time_day=np.asarray(t_out, float),
                                 status=np.where(ok, status, 5))


def _with_genes(scenario: Scenario, factors) -> Scenario:
    """The scenario with every estimated gene present (wild type, activity 1, unless the scenario has it)."""
    import dataclasses

    from ..model.scenario import Application

    have = {a.entry.name for a in scenario.applications}
    add = tuple(Application(f.entry, 1.0, label=f.entry.name) for f in factors
                if not f.is_parameter and f.entry.kind == "gene" and f.entry.name not in have)
    return dataclasses.replace(scenario, applications=scenario.applications + add) if add else scenario


def _scale(x, lo, hi):
    """The size of an input for difference steps: its value, or a hundredth of its range near zero."""
    span = hi - lo if math.isfinite(hi - lo) else 0.0
    return max(abs(x), 1e-2 * span, 1e-6)


def _steps(theta, bounds):
    return np.array([max(1e-4 * _scale(x, lo, hi), 1e-8) for x, (lo, hi) in zip(theta, bounds)])


def _jacobian(prob: _Problem, theta, bounds, cols=None):
    """Weighted residuals r and dr/dtheta by forward sensitivities (exact to the integration tolerance); only
    the columns *cols* (default all; the others 0)."""
    f, F = prob.sensitivities(theta, bounds, cols)
    return (f - prob.data.value) / prob.data.sd, F / prob.data.sd[:, None]


def _fd_jacobian(prob: _Problem, theta, bounds, cols=None):
    """Weighted residuals r and dr/dtheta by central differences of the batched Rodas4 courses (one-sided at a
    bound): the check of the forward sensitivities (``fit_sensitivities(method="differences")``)."""
    k = theta.size
    h = _steps(theta, bounds)
    sets = [theta]
    for j in range(k):
        lo, hi = bounds[j]
        up = theta.copy()
        dn = theta.copy()
        up[j] = min(theta[j] + h[j], hi)
        dn[j] = max(theta[j] - h[j], lo)
        sets += [up, dn]
    F = prob.predict(np.array(sets))
    R = (F - prob.data.value) / prob.data.sd
    J = np.empty((R.shape[1], k))
    for j in range(k):
        J[:, j] = (R[1 + 2 * j] - R[2 + 2 * j]) / (sets[1 + 2 * j][j] - sets[2 + 2 * j][j])
    return R[0], J


def _minimise(prob: _Problem, x0, bounds, fixed: dict | None = None):
    """Least squares over the free parameters (the others fixed); returns (theta, chi2, ok)."""
    from scipy.optimize import least_squares

    fixed = fixed or {}
    k = len(bounds)
    free = [j for j in range(k) if j not in fixed]

    def full(z):
        th = np.array(x0, dtype=float)
        for j, v in fixed.items():
            th[j] = v
        th[free] = z
        return th

    if not free:
        r = prob.residuals(full(np.zeros(0)))
        return full(np.zeros(0)), float(np.sum(r * r)) if np.all(np.isfinite(r)) else math.inf, True
    cache = {}

    def both(z):
        key = tuple(np.round(z, 15))
        if key not in cache:
            th = full(z)
            r, J = _jacobian(prob, th, bounds, free)
            cache.clear()
            cache[key] = (np.where(np.isfinite(r), r, 1e6), np.where(np.isfinite(J), J, 0.0)[:, free])
        return cache[key]

    lo = np.array([bounds[j][0] for j in free])
    hi = np.array([bounds[j][1] for j in free])
    z0 = np.clip(np.asarray(x0, float)[free], lo, hi)
    sol = least_squares(lambda z: both(z)[0], z0, jac=lambda z: both(z)[1], bounds=(lo, hi), method="trf",
                        x_scale="jac", xtol=1e-10, ftol=1e-12, gtol=1e-10, max_nfev=100)
    th = full(sol.x)
    r = prob.residuals(th)
    return th, float(np.sum(r * r)), bool(sol.success)


def _profile_side(prob, theta, chi2_min, j, bounds, direction, se):
    """Walk theta_j from the optimum towards one bound, re-optimising the others, until chi2 rises by 3.84.
    Returns (crossing value or None, the walked (values, chi2))."""
    lo, hi = bounds[j]
    edge = hi if direction > 0 else lo
    span = hi - lo
    step = se / 2 if math.isfinite(se) and se > 0 else span / 40
    step = min(max(step, span * 1e-4), span / 8)
    vals, chis = [theta[j]], [chi2_min]
    x = theta.copy()
    k = len(bounds)

    def prof(v):
        nonlocal x
        if k == 1:
            r = prob.residuals(np.array([v]))
            return float(np.sum(r * r)) if np.all(np.isfinite(r)) else math.inf
        x, c, _ = _minimise(prob, x, bounds, fixed={j: v})
        return c

    for _ in range(60):
        v = float(np.clip(vals[-1] + direction * step, lo, hi))
        if v == vals[-1]:
            break
        c = prof(v)
        vals.append(v)
        chis.append(c)
        if c - chi2_min >= CHI2_95_1DOF:
            # the crossing by root finding on the profile (a chord of the convex profile would cut it short)
            from scipy.optimize import brentq

            a, b = vals[-2], vals[-1]

            def g(u):
                cu = prof(u)
                return (cu - chi2_min - CHI2_95_1DOF) if math.isfinite(cu) else 1e6

            try:
                return float(brentq(g, a, b, xtol=1e-6 * span, maxiter=30)), (vals, chis)
            except ValueError:  # no sign change after all (a non-finite end): the last point inside
                return a, (vals, chis)
        if v == edge:
            break
        step *= 1.6
    return None, (vals, chis)


def fit(scenario, data, estimate, *, start: dict | None = None, bounds: dict | None = None,
        profile: bool = True) -> FitResult:
    """Estimate the inputs *estimate* (names as ``sweep --vary``) of *scenario* from *data* (a tidy table:
    ``time_day,readout,value,sd``; CSV path or rows). Returns a :class:`FitResult` with 95 % profile-likelihood
    intervals; a parameter the data cannot determine is reported as such (not given a number it does not have)."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    data = load_data(data)
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    if not names:
        raise MgfluxError("fit needs at least one --estimate NAME (e.g. --estimate cetuximab.dose)")
    if len(set(names)) != len(names):
        raise MgfluxError(f"fit: a name is given twice in --estimate: {', '.join(names)}")
    facs = [factor(scenario, n, flag="--estimate") for n in names]
    bnds, x0, msgs = [], [], []
    for f in facs:
        b = (bounds or {}).get(f.name) or f.documented_range
        if b is None:
            raise MgfluxError(f"fit: {f.name} has no documented range in the model; give bounds "
                              f"(--bounds {f.name}=LO:HI, in {f.unit})")
        lo, hi = float(b[0]), float(b[1])
        if not lo < hi:
            raise MgfluxError(f"fit: bounds of {f.name} must have LO < HI, not {lo:g}:{hi:g}")
        bnds.append((lo, hi))
        if start and f.name in start:
            s = float(start[f.name])
        elif f.is_parameter:
            s = scenario.model.parameters[f.index].value / f.to_internal
        elif f.entry.kind == "gene" and not any(a.entry.name == f.entry.name for a in scenario.applications):
            s = 1.0  # wild type
        else:
            apps = [a.value for a in scenario.applications if a.entry.name == f.entry.name]
            if not apps:
                raise MgfluxError(f"fit: {f.name}: the scenario has no {f.entry.name} entry to estimate; add it as a "
                                  "[[perturbation]] (with its window) and estimate its input")
            s = apps[0] / f.to_internal
        x0.append(min(max(s, lo), hi))
    if data.time_day.max() > scenario.duration + 1e-9:
        msgs.append(f"data reach day {data.time_day.max():g}, after the scenario's duration "
                    f"({scenario.duration:g} days): the course is integrated to the last measurement")
    scenario = _with_genes(scenario, facs)
    prob = _Problem(scenario, facs, data)
    theta, chi2, ok = _minimise(prob, np.array(x0), bnds)
    if not math.isfinite(chi2):
        raise MgfluxError("fit: the model could not be integrated at the start values; check the scenario")
    _, J = _jacobian(prob, theta, bnds)
    r = prob.residuals(theta)  # the objective's courses (Rodas4), so that chi2 is the sum of these squares
    fitted = r * data.sd + data.value
    ident = [True] * len(names)
    # structural check: a vanishing or collinear sensitivity column cannot be estimated from these data
    col = np.linalg.norm(J, axis=0)
    for j, n in enumerate(names):
        if not col[j] > 1e-6 * math.sqrt(len(r)):
            ident[j] = (f"not identifiable: the data do not depend on {n} (zero sensitivity at the estimate; "
                        f"measure a readout it moves, or at times it acts)")
    try:
        fim = J.T @ J
        cov = np.linalg.inv(fim) if np.linalg.cond(fim) < 1e12 else None
    except np.linalg.LinAlgError:
        cov = None
    if cov is None and all(i is True for i in ident):
        for j in range(len(names)):
            ident[j] = "not identifiable: the sensitivities of the estimated inputs are collinear for these data"
    se = [math.sqrt(cov[j, j]) if cov is not None and cov[j, j] > 0 else math.nan for j in range(len(names))]
    cis, profiles = [], {}
    for j, n in enumerate(names):
        if ident[j] is not True or not profile:
            cis.append((None, None))
            continue
        lo_c, lo_p = _profile_side(prob, theta, chi2, j, bnds, -1, se[j])
        hi_c, hi_p = _profile_side(prob, theta, chi2, j, bnds, +1, se[j])
        profiles[n] = (np.array(lo_p[0][::-1] + hi_p[0][1:]), np.array(lo_p[1][::-1] + hi_p[1][1:]))
        if lo_c is None and hi_c is None:
            ident[j] = (f"not identifiable from these data: the profile likelihood stays within 3.84 of the "
                        f"minimum over the whole range {bnds[j][0]:g}-{bnds[j][1]:g} {facs[j].unit}")
        elif lo_c is None or hi_c is None:
            side = "lower" if lo_c is None else "upper"
            ident[j] = (f"practically not identifiable: no {side} 95 % limit inside the range "
                        f"{bnds[j][0]:g}-{bnds[j][1]:g} {facs[j].unit} (the interval reaches the bound)")
        cis.append((lo_c, hi_c))
    for j, n in enumerate(names):
        if ident[j] is not True:
            msgs.append(f"{n}: {ident[j]}")
    return FitResult(scenario.name, tuple(names), tuple(f.unit for f in facs), theta, tuple(cis), tuple(bnds),
                     tuple(ident), chi2, data, fitted, profiles, tuple(msgs), converged=ok, jacobian=J)


def fit_sensitivities(scenario, data, estimate, values, *, method: str = "forward"):
    """The model's predictions of *data* (a tidy table; values and sd are not used) at the inputs *values*
    (name -> value, or a sequence in the order of *estimate*) and their derivatives: (f (n_data,),
    dF/dtheta (n_data, k)). *method*: ``"forward"`` (the forward sensitivities ``fit`` uses) or
    ``"differences"`` (central differences of the batched Rodas4 courses, rtol 1e-9: the check)."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    data = load_data(data)
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    facs = [factor(scenario, n, flag="--estimate") for n in names]
    theta = np.array([values[n] for n in names] if isinstance(values, dict) else values, dtype=float)
    bnds = [f.documented_range or (-math.inf, math.inf) for f in facs]
    prob = _Problem(_with_genes(scenario, facs), facs, data)
    if method == "forward":
        return prob.sensitivities(theta, bnds)
    if method == "differences":
        r, J = _fd_jacobian(prob, theta, bnds)
        return r * data.sd + data.value, J * data.sd[:, None]
    raise MgfluxError(unknown_name("method", method, ("forward", "differences"), "fit_sensitivities"))


def fit_text(r: FitResult) -> str:
    lines = [(f"Fit: {r.scenario}: {r.data.value.size} measurements, chi2 = {r.objective:.4g} "
              f"({'converged' if r.converged else 'NOT converged'})"),
             f"95 % intervals: {r.interval_method}"]
    for j, n in enumerate(r.names):
        lo, hi = r.ci95[j]
        ci = f"[{'open' if lo is None else f'{lo:.4g}'}, {'open' if hi is None else f'{hi:.4g}'}]"
        lines.append(f"  {n:28s} {r.value[j]:.4g} {r.units[j]}  95 % CI {ci}  (range {r.bounds[j][0]:g}-"
                     f"{r.bounds[j][1]:g})")
    lines += [f"note: {m}" for m in r.messages]
    return "\n".join(lines)


def plot_fit(r: FitResult, scenario, out) -> list[Path]:
    """Data (with sd bars) and the fitted course for every readout measured, and the profiles: PNGs in *out*."""
    from ..io.plots import _plt
    from ..model.parameters import factor as _factor

    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    plt = _plt()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    facs = [_factor(scenario, n) for n in r.names]
    end = max(float(r.data.time_day.max()), 1.0)
    t = np.linspace(0.0, end, 300)
    scenario = _with_genes(scenario, facs)
    tc = _courses(scenario, facs, r.value[None, :], t, end)
    seg = np.clip(np.searchsorted(tc.edges, t, side="right") - 1, 0, tc.edges.size - 2)
    readouts = sorted(set(r.data.readout))
    fig, axes = plt.subplots(len(readouts), 1, figsize=(7, 2.8 * len(readouts)), squeeze=False)
    for ax, name in zip(axes[:, 0], readouts):
        curve = [readouts_of(scenario.model, tc.Y[:, i], tc.Pseg[:, seg[i]])[name][0] for i in range(t.size)]
        ax.plot(t, curve, color="C0", label="fit")
        m = np.array([x == name for x in r.data.readout])
        ax.errorbar(r.data.time_day[m], r.data.value[m], yerr=r.data.sd[m], fmt="o", color="C3", ms=4, label="data")
        ax.set_ylabel(name)
        ax.legend(loc="best", fontsize=8)
    axes[-1, 0].set_xlabel("time (day)")
    est = ", ".join(f"{n} = {r.value[j]:.3g}" for j, n in enumerate(r.names))
    fig.suptitle(f"{r.scenario}: {est}", fontsize=9)
    fig.tight_layout()
    paths = [out / "fit.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    if r.profiles:
        fig, axes = plt.subplots(1, len(r.profiles), figsize=(4 * len(r.profiles), 3), squeeze=False)
        for ax, (n, (v, c)) in zip(axes[0], r.profiles.items()):
            ax.plot(v, np.asarray(c) - r.objective, "o-", ms=3)
            ax.axhline(CHI2_95_1DOF, color="grey", ls="--", lw=0.8)
            ax.set_xlabel(n)
            ax.set_ylabel("delta chi2 (profile)")
        fig.tight_layout()
        paths.append(out / "profiles.png")
        fig.savefig(paths[1], dpi=110)
        plt.close(fig)
    return paths


def simulated_data(scenario, truth: dict, times, readout: str = "serum_mg_total_mM", sd: float = 0.02,
                   seed: int = 0, replicates: int = 1) -> list[list[dict]]:
    """Measurement tables made by the model at *truth* (name -> value) with normal noise of *sd*."""
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    names = list(truth)
    times = np.asarray(times, dtype=float)
    rows = [{"time_day": float(t), "readout": readout, "value": 0.0, "sd": sd} for t in times]
    facs = [factor(scenario, n) for n in names]
    scenario = _with_genes(scenario, facs)
    prob = _Problem(scenario, facs, load_data(rows))
    f = prob.predict(np.array([[truth[n] for n in names]]))[0]
    rng = np.random.default_rng(seed)
    return [[{**row, "value": float(v + rng.normal(0.0, sd))} for row, v in zip(rows, f)] for _ in range(replicates)]


def coverage(scenario, truth: dict, times, *, readout: str = "serum_mg_total_mM", sd: float = 0.02,
             replicates: int = 100, seed: int = 0) -> dict:
    """Share of replicate fits (model-made data with noise) whose 95 % interval covers the truth, per name."""
    tables = simulated_data(scenario, truth, times, readout, sd, seed, replicates)
    hits = {n: 0 for n in truth}
    errors = {n: [] for n in truth}
    for tab in tables:
        r = fit(scenario, tab, list(truth))
        for j, n in enumerate(r.names):
            lo, hi = r.ci95[j]
            lo = r.bounds[j][0] if lo is None else lo
            hi = r.bounds[j][1] if hi is None else hi
            hits[n] += lo <= truth[n] <= hi
            errors[n].append(r.value[j] - truth[n])
    return {"replicates": replicates, "coverage": {n: hits[n] / replicates for n in truth},
            "bias": {n: float(np.mean(e)) for n, e in errors.items()},
            "rmse": {n: float(np.sqrt(np.mean(np.square(e)))) for n, e in errors.items()}}
