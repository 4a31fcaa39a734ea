"""Sensitivity: exact local sensitivities at a steady state (complex step through the kernels) and global
indices (Sobol, Morris with SALib) over the documented parameter ranges."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.batch import announce_compile, nominal, steady_batch
from ..engine.codegen import compiled
from ..engine.executors import run_chunks
from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model.model import Model
from ..model.parameters import Factor, factor, parameter_matrix
from ..model.readouts import evaluate_readouts
from ..model.scenario import Scenario, load_scenario
from ..options import Execution
from ..results import STATUS_TEXT

# ------------------------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class LocalSensitivity:
    """Normalised local sensitivities d ln(readout) / d ln(parameter) at the steady state of a scenario."""

    scenario: str
    parameters: tuple[str, ...]
    values: np.ndarray  # parameter values (internal units)
    readouts: dict  # readout -> value
    normalised: dict  # readout -> array over parameters
    absolute: dict  # readout -> d readout / d parameter (internal units)

    def ranking(self, readout: str = "serum_mg_total_mM", top: int | None = None) -> list[tuple[str, float]]:
        s = self.normalised[readout]
        order = np.argsort(-np.abs(s))
        rows = [(self.parameters[i], float(s[i])) for i in order if s[i] != 0.0]
        return rows[:top] if top else rows

    def to_dict(self, readout: str | None = None) -> dict:
        """What ``mgflux sensitivity --method local --json`` prints (for *readout*, default serum total Mg)."""
        readout = readout or "serum_mg_total_mM"
        if readout not in self.normalised:
            raise MgfluxError(unknown_name("readout", readout, self.normalised, "--readout"))
        return {"scenario": self.scenario, "method": "local", "readout": readout, "value": self.readouts[readout],
                "normalised": {k: dict(zip(self.parameters, map(float, v))) for k, v in self.normalised.items()}}

    def dataframe(self):
        import pandas as pd

        rows = []
        for r, arr in self.normalised.items():
            for i, pn in enumerate(self.parameters):
                rows.append({"readout": r, "parameter": pn, "value": self.values[i], "normalised": arr[i],
                             "absolute": self.absolute[r][i]})
        return pd.DataFrame(rows)


SENSITIVITY_READOUTS = ("serum_mg_total_mM", "serum_mg_ionized_mM", "urine_mg_mmol_per_day", "femg_percent",
                        "absorbed_mmol_per_day", "fractional_absorption_percent", "body_mg_mmol",
                        "reabsorbed_tal_percent", "reabsorbed_dct_percent", "trpm6_relative", "dct_mass_relative")


def sensitivity_matrices(model: Model, Y: np.ndarray, P: np.ndarray):
    """dY/dP (N, n_states, n_parameters) and d(observables)/dP (N, n_obs, n_parameters) at steady states."""
    mod = compiled(model)
    N, n = Y.shape
    m = P.shape[1]
    S = np.zeros((N, n, m))
    OS = np.zeros((N, len(model.observable_names), m))
    st = np.zeros(N, np.int64)
    announce_compile(mod, "sensitivity_chunk")
    run_chunks(mod.sensitivity_chunk, N, np.ascontiguousarray(Y), np.ascontiguousarray(P), S, OS, st)
    return S, OS, st


def local_sensitivity(scenario, readouts=SENSITIVITY_READOUTS) -> LocalSensitivity:
    """Normalised sensitivities of readouts to every model parameter, from the LU of the steady-state Jacobian."""
    import warnings

    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = scenario.model
    p = parameter_matrix(scenario, [], np.zeros((1, 0)))
    res = steady_batch(model, p)
    if res.status[0] != 0:
        raise MgfluxError(f"no stable steady state for {scenario.name!r} ({STATUS_TEXT[int(res.status[0])]})")
    S, OS, st = sensitivity_matrices(model, res.Y, p)
    mod = compiled(model)
    obs = np.empty(len(model.observable_names))
    mod.observe(res.Y[0], p[0], obs)
    h = 1e-30
    # complex step through the readout formulas (ratios, sums) along every parameter direction at once
    Oc = obs[:, None] + 1j * h * OS[0]
    Yc = res.Y[0][:, None] + 1j * h * S[0]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rc = evaluate_readouts(model, Oc, Yc)
    norm, absd, vals = {}, {}, {}
    for r in readouts:
        v = np.asarray(rc[r])
        if r == "hypomagnesemia_grade":
            continue
        d = v.imag / h
        x = float(res.readouts[r][0])
        vals[r] = x
        absd[r] = d
        with np.errstate(all="ignore"):
            norm[r] = np.where(x != 0, d * p[0] / x, 0.0)
    return LocalSensitivity(scenario.name, model.parameter_names, p[0].copy(), vals, norm, absd)


@dataclass(frozen=True)
class GlobalSensitivity:
    scenario: str
    method: str
    readout: str
    parameters: tuple[str, ...]
    indices: dict  # name -> array over parameters (mu_star, sigma, ... or S1, ST, with _conf)
    n_evaluations: int
    failed: int

    def to_dict(self) -> dict:
        """What ``mgflux sensitivity --method sobol|morris --json`` prints."""
        return {"scenario": self.scenario, "method": self.method, "readout": self.readout,
                "n_evaluations": self.n_evaluations, "failed": self.failed,
                "indices": {k: dict(zip(self.parameters, map(float, v))) for k, v in self.indices.items()}}

    def dataframe(self):
        import pandas as pd

        d = {"parameter": list(self.parameters)}
        d.update({k: v for k, v in self.indices.items()})
        return pd.DataFrame(d)

    def ranking(self):
        key = "mu_star" if self.method == "morris" else "ST"
        s = self.indices[key]
        order = np.argsort(-np.abs(s))
        return [(self.parameters[i], float(s[i])) for i in order]


def ranged_factors(scenario: Scenario) -> list[Factor]:
    """Every model parameter with a documented physiological range (adult.toml ``range``)."""
    return [factor(scenario, p.name) for p in scenario.model.parameters if p.range is not None and p.range[1] > p.range[0]]


def global_sensitivity(scenario, method: str = "sobol", readout: str = "serum_mg_total_mM", n: int = 1024,
                       seed: int = 0, workers: int | None = None, scheduler: str | None = None) -> GlobalSensitivity:
    """Morris elementary effects or Sobol indices (SALib) over the documented ranges of the model parameters.

    *n*: base sample size (Sobol: rounded up to a power of two; total runs n (2k + 2); Morris: trajectories).
    """
    try:
        from SALib.analyze import morris as morris_a
        from SALib.analyze import sobol as sobol_a
        from SALib.sample import morris as morris_s
        from SALib.sample import sobol as sobol_s
    except ImportError:
        raise MgfluxError(f'{method} sensitivity needs SALib: pip install "mgflux[sensitivity]" '
                          "(or use --method local, which needs nothing extra)") from None
    from ..model.validate import check_count

    check_count(n, "n", {"morris": 2, "sobol": 8}.get(method, 1), where=f"{method} sensitivity")
    check_count(seed, "seed", 0, where=f"{method} sensitivity")
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    facs = ranged_factors(scenario)
    problem = {"num_vars": len(facs), "names": [f.name for f in facs],
               "bounds": [list(f.documented_range) for f in facs]}
    if method == "sobol":
        n = 1 << max(0, int(math.ceil(math.log2(max(n, 1)))))
        X = sobol_s.sample(problem, n, calc_second_order=False, seed=seed)
    elif method == "morris":
        X = morris_s.sample(problem, n, num_levels=4, seed=seed)
    else:
        raise ScenarioError(unknown_name("global method", method, ["morris", "sobol"], "--method"))
    P = parameter_matrix(scenario, facs, X)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
    res = steady_batch(scenario.model, P, warm=nominal(scenario.model, p0), workers=workers, scheduler=scheduler)
    Yv = np.asarray(res[readout], dtype=float)
    failed = int(np.sum(~res.ok))
    if failed:  # SALib needs every evaluation: a failed set takes the median (reported)
        Yv = np.where(res.ok, Yv, np.nanmedian(Yv))
    if method == "sobol":
        a = sobol_a.analyze(problem, Yv, calc_second_order=False, seed=seed)
        idx = {k: np.asarray(a[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    else:
        a = morris_a.analyze(problem, X, Yv, num_levels=4, seed=seed)
        idx = {k: np.asarray(a[k]) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}
    return GlobalSensitivity(scenario.name, method, readout, tuple(problem["names"]), idx, int(P.shape[0]), failed)


def sensitivity(scenario, method: str = "local", readout: str = "serum_mg_total_mM", *, n: int = 1024, seed: int = 0,
                execution: Execution = Execution()) -> LocalSensitivity | GlobalSensitivity:
    """Sensitivity of readouts to the model parameters at the scenario's steady state.

    ``method="local"``: exact normalised sensitivities d ln(readout) / d ln(parameter) of every contract readout
    to every parameter (complex step through the LU of the steady-state Jacobian; *readout* only picks the
    default of ``ranking``). ``"sobol"`` or ``"morris"``: global indices of *readout* over the documented
    parameter ranges with *n* base samples (needs ``mgflux[sensitivity]``: SALib).
    """
    if method == "local":
        return local_sensitivity(scenario)
    if method not in ("sobol", "morris"):
        raise MgfluxError(unknown_name("sensitivity method", method, ["local", "sobol", "morris"], "--method"))
    return global_sensitivity(scenario, method, readout, n, seed, workers=execution.workers,
                              scheduler=execution.scheduler)
