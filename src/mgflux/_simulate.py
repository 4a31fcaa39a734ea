"""Public entry points: ``steady_state(scenario)`` and ``simulate(scenario)``, and their immutable results.

Both are pure functions of the scenario. Readouts (DESIGN.md names, units in the names) come from the
generated ``observe`` function: the same formulas that drive the right-hand side.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from . import _solve
from ._catalogue import apply_modifiers
from ._codegen import compiled
from ._model import Model
from ._scenario import Scenario, load_scenario

#: Contract readouts (DESIGN.md), in display order, with units for tables and plots.
READOUTS = {
    "serum_mg_total_mM": "mM",
    "serum_mg_ionized_mM": "mM",
    "urine_mg_mmol_per_day": "mmol/day",
    "femg_percent": "%",
    "filtered_load_mmol_per_day": "mmol/day",
    "reabsorbed_pt_percent": "% of filtered",
    "reabsorbed_tal_percent": "% of filtered",
    "reabsorbed_dct_percent": "% of filtered",
    "intake_mmol_per_day": "mmol/day",
    "absorbed_mmol_per_day": "mmol/day (net)",
    "fractional_absorption_percent": "% of intake",
    "faecal_mg_mmol_per_day": "mmol/day",
    "body_mg_mmol": "mmol",
    "bone_pool_mmol": "mmol",
    "intracellular_pool_mmol": "mmol",
    "trpm6_relative": "1 = baseline",
    "dct_mass_relative": "1 = baseline",
    "hypomagnesemia_grade": "0-4 (CTCAE)",
    "hypermagnesemia_grade": "0-4 (CTCAE)",
    # calcium, PTH, calcitriol (DESIGN.md "New readouts"; models/modules/calcium.toml)
    "serum_ca_total_mM": "mM",
    "serum_ca_ionized_mM": "mM",
    "pth_pM": "pM",
    "pth_pg_per_mL": "pg/mL",
    "calcitriol_pM": "pM",
    "urine_ca_mmol_per_day": "mmol/day",
    "feca_percent": "%",
    "urine_ca_creatinine_ratio": "mmol/mmol",
    "reabsorbed_ca_pt_percent": "% of filtered Ca",
    "reabsorbed_ca_tal_percent": "% of filtered Ca",
    "reabsorbed_ca_dct_percent": "% of filtered Ca",
    "hypocalcemia_grade": "0-4 (CTCAE)",
}
#: Readouts that are grades (integers).
GRADES = ("hypomagnesemia_grade", "hypermagnesemia_grade", "hypocalcemia_grade")
#: Further readouts mgflux adds (not part of the contract, but stable).
EXTRA_READOUTS = {
    "serum_mg_total_mg_dL": "mg/dL",
    "serum_mg_ultrafiltrable_mM": "mM",
    "iv_mmol_per_day": "mmol/day",
    "tal_delivery_mmol_per_day": "mmol/day",
    "dct_delivery_mmol_per_day": "mmol/day",
    "serum_ca_total_mg_dL": "mg/dL",
    "ca_filtered_load_mmol_per_day": "mmol/day",
    "ca_absorbed_mmol_per_day": "mmol/day (net)",
    "ca_bone_balance_mmol_per_day": "mmol/day (net skeletal uptake)",
    "body_ca_exchangeable_mmol": "mmol",
    "pth_gland_relative": "1 = baseline",
    "pth_responsiveness_relative": "1 = baseline",
}
MG_DL_PER_MM = 2.4305  # 1 mM = 24.305 mg/L = 2.43 mg/dL
GRADE_THRESHOLDS_MM = (0.7, 0.5, 0.4, 0.3)  # CTCAE v5 grades 1-4, serum total Mg
HYPERMG_GRADES_MM = ((1.05, 1), (1.23, 3), (3.30, 4))  # CTCAE v5: > ULN 1; > 1.23 grade 3; > 3.30 grade 4 (no 2)
HYPOCA_THRESHOLDS_MM = (2.10, 2.0, 1.75, 1.5)  # CTCAE v5 grades 1-4, serum total Ca
CA_MG_DL_PER_MM = 4.008  # 1 mM Ca = 40.08 mg/L
PTH_PG_ML_PER_PM = 9.43  # intact PTH(1-84), 9.4 kDa
PM_PER_MM = 1e9  # hormone concentrations are held in the internal unit mM


def hypermagnesemia_grade(serum_total_mM):
    """CTCAE v5 grade by serum total Mg: > 1.05 (ULN) grade 1, > 1.23 grade 3, > 3.30 grade 4 (0 otherwise)."""
    s = np.asarray(serum_total_mM, dtype=float)
    g = np.zeros(s.shape, dtype=np.int64)
    for thr, grade in HYPERMG_GRADES_MM:
        g = np.where(s > thr, grade, g)
    return g if g.shape else int(g)


def hypocalcemia_grade(serum_ca_total_mM):
    """CTCAE v5 grade (0-4) by serum total Ca: < 2.10 (LLN), < 2.0, < 1.75, < 1.5 mM."""
    s = np.asarray(serum_ca_total_mM, dtype=float)
    g = np.zeros(s.shape, dtype=np.int64)
    for thr in HYPOCA_THRESHOLDS_MM:
        g += s < thr
    return g if g.shape else int(g)


def hypomagnesemia_grade(serum_total_mM):
    """CTCAE v5 grade (0-4) by serum total Mg: < 0.7, < 0.5, < 0.4, < 0.3 mM."""
    s = np.asarray(serum_total_mM, dtype=float)
    g = np.zeros(s.shape, dtype=np.int64)
    for thr in GRADE_THRESHOLDS_MM:
        g += s < thr
    return g if g.shape else int(g)


def _readouts(model: Model, obs: np.ndarray, y: np.ndarray) -> dict:
    """Readouts for observables *obs* (n_obs, ...) and states *y* (n_states, ...): arrays or scalars."""
    o = dict(zip(model.observable_names, obs))
    s = dict(zip(model.state_names, y))
    pools = sum(s[n] for n in model.pools_of("mg"))
    filtered = o["filtered_load"]
    intake = o["intake_total"]
    absorbed_true = o["flux_si_absorption"] + o["flux_colon_absorption"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # isotope fractional absorption: the tracer fraction of the soluble part, times its share of intake
        soluble_share = np.where(intake > 0, o["oral_intake"] / np.where(intake > 0, intake, 1.0), 1.0)
    r = {
        "serum_mg_total_mM": o["serum_total"],
        "serum_mg_ionized_mM": o["serum_ionized"],
        "urine_mg_mmol_per_day": o["urine_rate"],
        "femg_percent": 100.0 * o["urine_rate"] / filtered,
        "filtered_load_mmol_per_day": filtered,
        "reabsorbed_pt_percent": 100.0 * o["pt_reabsorption"] / filtered,
        "reabsorbed_tal_percent": 100.0 * o["tal_reabsorption"] / filtered,
        "reabsorbed_dct_percent": 100.0 * o["dct_reabsorption"] / filtered,
        "intake_mmol_per_day": intake,
        "absorbed_mmol_per_day": absorbed_true - o["flux_endogenous_secretion"],
        "fractional_absorption_percent": 100.0 * o["fraction_absorbed"] * soluble_share,
        "faecal_mg_mmol_per_day": o["flux_faecal_excretion"] + o["flux_supplement_unabsorbed"],
        "body_mg_mmol": pools,
        "bone_pool_mmol": s["bone"],
        "intracellular_pool_mmol": s["intracellular_fast"] + s["intracellular_slow"],
        "trpm6_relative": s["trpm6"],
        "dct_mass_relative": s["dct_mass"],
        "hypomagnesemia_grade": hypomagnesemia_grade(o["serum_total"]),
        "serum_mg_total_mg_dL": o["serum_total"] * MG_DL_PER_MM,
        "serum_mg_ultrafiltrable_mM": o["serum_ultrafiltrable"],
        "iv_mmol_per_day": o["flux_iv_infusion"],
        "tal_delivery_mmol_per_day": o["tal_delivery"],
        "dct_delivery_mmol_per_day": o["dct_delivery"],
        "hypermagnesemia_grade": hypermagnesemia_grade(o["serum_total"]),
    }
    if "serum_ca_total" in o:  # the calcium module (models/modules/calcium.toml)
        r.update(_ca_readouts(model, o, s))
    return r


def _ca_readouts(model: Model, o: dict, s: dict) -> dict:
    filtered = o["ca_filtered_load"]
    pi = {p.name: p.value for p in model.parameters}
    creatinine = o["creatinine_excretion_now"] if "creatinine_excretion_now" in o else pi["creatinine_excretion"]
    return {
        "serum_ca_total_mM": o["serum_ca_total"],
        "serum_ca_ionized_mM": o["serum_ca_ionized"],
        "pth_pM": o["pth_plasma"] * PM_PER_MM,
        "pth_pg_per_mL": o["pth_plasma"] * PM_PER_MM * PTH_PG_ML_PER_PM,
        "calcitriol_pM": o["calcitriol_plasma"] * PM_PER_MM,
        "urine_ca_mmol_per_day": o["ca_urine_rate"],
        "feca_percent": 100.0 * o["ca_urine_rate"] / filtered,
        "urine_ca_creatinine_ratio": o["ca_urine_rate"] / creatinine,
        "reabsorbed_ca_pt_percent": 100.0 * o["ca_pt_reabsorption"] / filtered,
        "reabsorbed_ca_tal_percent": 100.0 * o["ca_tal_reabsorption"] / filtered,
        "reabsorbed_ca_dct_percent": 100.0 * o["ca_dct_reabsorption"] / filtered,
        "hypocalcemia_grade": hypocalcemia_grade(o["serum_ca_total"]),
        "serum_ca_total_mg_dL": o["serum_ca_total"] * CA_MG_DL_PER_MM,
        "ca_filtered_load_mmol_per_day": filtered,
        "ca_absorbed_mmol_per_day": o["ca_absorption"] - o["flux_ca_endogenous_secretion"],
        "ca_bone_balance_mmol_per_day": -o["flux_ca_bone_remodelling"],
        "body_ca_exchangeable_mmol": sum(s[n] for n in model.pools_of("ca")),
        "pth_gland_relative": s["pth_gland"],
        "pth_responsiveness_relative": o["pth_responsiveness"],
    }


def _observe(mod, model: Model, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    out = np.empty(len(model.observable_names))
    mod.observe(y, p, out)
    return out


# ------------------------------------------------------------------------------------------------ params


def base_parameters(scenario: Scenario) -> np.ndarray:
    """Model parameters with the diet and lifelong gene variants applied."""
    model = scenario.model
    p = model.parameter_vector()
    if scenario.mg_intake is not None:
        p[model.parameter_index("diet_mg_intake")] = scenario.mg_intake
    mods = [m for a in scenario.genes for m in a.modifiers()]
    return apply_modifiers(model, p, mods)


def parameters_between(scenario: Scenario, t0: float, t1: float, base: np.ndarray | None = None) -> np.ndarray:
    """Parameters in force during [t0, t1): base plus every timed application whose window covers it."""
    base = base_parameters(scenario) if base is None else base
    mods = [m for a in scenario.timed if a.active(t0, t1) for m in a.modifiers()]
    return apply_modifiers(scenario.model, base, mods)


def steady_parameters(scenario: Scenario) -> tuple[np.ndarray, list[str]]:
    """Parameters with every perturbation and continuous treatment on permanently; notes on what was dropped."""
    notes = []
    mods = []
    for a in scenario.timed:
        if a.one_off:
            notes.append(f"steady ignores the one-off infusion {a.label!r} ({a.value * (a.stop - a.start):.4g} mmol "
                         f"over {24 * (a.stop - a.start):.4g} h): it has no steady state; use `run` to see it")
            continue
        mods.extend(a.modifiers())
    if any(not a.one_off and (a.start > 0 or math.isfinite(a.stop)) for a in scenario.timed):
        notes.append("steady applies every perturbation and treatment permanently (windows ignored)")
    return apply_modifiers(scenario.model, base_parameters(scenario), mods), notes


# ----------------------------------------------------------------------------------------------- results


def _freeze(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SteadyResult:
    """Steady state of a scenario: readouts by name (``result["serum_mg_total_mM"]``), states, solver info."""

    scenario: str
    readouts: MappingProxyType
    states: MappingProxyType
    parameters: MappingProxyType
    notes: tuple[str, ...] = ()
    solver: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    observables: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # every model expression and flux

    def __getitem__(self, name: str) -> float:
        return self.readouts[name]

    def to_dict(self) -> dict:
        """Readouts at the top level (DESIGN.md), plus scenario, notes and solver statistics."""
        d = {k: (int(v) if k in GRADES else float(v)) for k, v in self.readouts.items()}
        d["scenario"] = self.scenario
        d["notes"] = list(self.notes)
        d["solver"] = dict(self.solver)
        return d

    def dataframe(self):
        """One-row tidy pandas DataFrame of the readouts."""
        import pandas as pd

        return pd.DataFrame([{"scenario": self.scenario, **{k: v for k, v in self.readouts.items()}}])


@dataclass(frozen=True)
class RunResult:
    """Time course of a scenario: readouts as arrays over ``time_day``, the final values, cumulative totals."""

    scenario: str
    time_day: np.ndarray
    timecourse: MappingProxyType  # readout name -> array
    states: MappingProxyType  # state name -> array
    totals: MappingProxyType  # cumulative boundary fluxes (mmol) -> array
    notes: tuple[str, ...] = ()
    solver: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.timecourse[name]

    @property
    def final(self) -> dict:
        return {k: (int(v[-1]) if k in GRADES else float(v[-1])) for k, v in self.timecourse.items()}

    @property
    def initial(self) -> dict:
        return {k: (int(v[0]) if k in GRADES else float(v[0])) for k, v in self.timecourse.items()}

    def time_below(self, threshold_mM: float = 0.7, readout: str = "serum_mg_total_mM") -> dict:
        """Days the readout spends below *threshold_mM* (on the output grid, linear between samples) and the
        first day it is below."""
        t, v = self.time_day, self.timecourse[readout]
        below = v < threshold_mM
        if not below.any():
            return {"days": 0.0, "first_day": None}
        # fraction of each interval below the threshold, by linear interpolation
        days = 0.0
        for i in range(len(t) - 1):
            a, b = v[i] - threshold_mM, v[i + 1] - threshold_mM
            dt = t[i + 1] - t[i]
            if a < 0 and b < 0:
                days += dt
            elif (a < 0) != (b < 0):
                days += dt * (-a if a < 0 else -b) / abs(b - a)
        i = int(np.argmax(below))
        first = t[0] if i == 0 else t[i - 1] + (t[i] - t[i - 1]) * (v[i - 1] - threshold_mM) / (v[i - 1] - v[i])
        return {"days": float(days), "first_day": float(first)}

    def mass_balance_error(self) -> np.ndarray:
        """intake + IV - faeces - urine - change in body Mg (mmol), over time: zero up to the solver tolerance."""
        t = self.totals
        inflow = t["cumulative_intake_mmol"] + t["cumulative_iv_mmol"]
        outflow = t["cumulative_faecal_mmol"] + t["cumulative_urine_mmol"]
        body = self.timecourse["body_mg_mmol"]
        return inflow - outflow - (body - body[0])

    def ca_mass_balance_error(self) -> np.ndarray:
        """Ca intake + net skeletal release - faeces - urine - change in ECF and exchangeable bone Ca (mmol):
        zero up to the solver tolerance (the large skeletal store is a boundary of the model)."""
        t = self.totals
        inflow = t["cumulative_ca_intake_mmol"] + t["cumulative_ca_bone_release_mmol"]
        outflow = t["cumulative_ca_faecal_mmol"] + t["cumulative_ca_urine_mmol"]
        body = self.timecourse["body_ca_exchangeable_mmol"]
        return inflow - outflow - (body - body[0])

    def to_dict(self) -> dict:
        tc = {"time_day": self.time_day.tolist()}
        for k, v in self.timecourse.items():
            tc[k] = v.tolist()
        for k, v in self.totals.items():
            tc[k] = v.tolist()
        return {"scenario": self.scenario, "final": self.final, "initial": self.initial,
                "timecourse": tc, "notes": list(self.notes), "solver": dict(self.solver)}

    def dataframe(self):
        """Tidy pandas DataFrame: one row per time point, one column per readout."""
        import pandas as pd

        cols = {"scenario": self.scenario, "time_day": self.time_day}
        cols.update({k: v for k, v in self.timecourse.items()})
        cols.update({k: v for k, v in self.totals.items()})
        return pd.DataFrame(cols)

    def to_csv(self, path: str | Path) -> Path:
        """Write the time course as CSV (no pandas needed)."""
        path = Path(path)
        names = ["time_day", *self.timecourse, *self.totals]
        cols = [self.time_day, *self.timecourse.values(), *self.totals.values()]
        data = np.column_stack(cols)
        np.savetxt(path, data, delimiter=",", header=",".join(names), comments="", fmt="%.10g")
        return path


def _as_scenario(scenario) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def _solve_steady(scenario: Scenario, p: np.ndarray, options: _solve.SteadyOptions):
    model = scenario.model
    mod = compiled(model)
    y, info = _solve.steady_state(mod, p, model.guess_vector(), model.state_names, options)
    return mod, y, info


def steady_state(scenario, *, options: _solve.SteadyOptions = _solve.SteadyOptions()) -> SteadyResult:
    """Steady state with every perturbation and continuous treatment on (windows ignored).

    *scenario* is a :class:`Scenario` or a path to a scenario file.
    """
    scenario = _as_scenario(scenario)
    model = scenario.model
    p, notes = steady_parameters(scenario)
    mod, y, info = _solve_steady(scenario, p, options)
    obs = _observe(_solve.kernels(mod, options.backend), model, y, p)
    r = _readouts(model, obs, y)
    return SteadyResult(
        scenario=scenario.name,
        readouts=MappingProxyType({k: (int(v) if k in GRADES else float(v)) for k, v in r.items()}),
        states=MappingProxyType(dict(zip(model.state_names, map(float, y)))),
        parameters=MappingProxyType(dict(zip(model.parameter_names, map(float, p)))),
        notes=tuple(notes), solver=MappingProxyType(info),
        observables=MappingProxyType(dict(zip(model.observable_names, map(float, obs)))))


def output_times(scenario: Scenario) -> np.ndarray:
    n = int(math.floor(scenario.duration / scenario.sample_every + 1e-9))
    t = np.arange(n + 1) * scenario.sample_every
    if scenario.duration - t[-1] > 1e-9 * scenario.duration:
        t = np.append(t, scenario.duration)
    return t


def simulate(scenario, *, options: _solve.RunOptions = _solve.RunOptions(),
             steady_options: _solve.SteadyOptions = _solve.SteadyOptions()) -> RunResult:
    """Time course from the steady state of the model, diet and gene variants; drugs, conditions and
    treatments act within their windows. *scenario* is a :class:`Scenario` or a path."""
    scenario = _as_scenario(scenario)
    model = scenario.model
    base = base_parameters(scenario)
    if steady_options.backend == "auto":  # the time course loads numba anyway: its kernels are the fast ones
        steady_options = dataclasses.replace(steady_options, backend="numba")
    mod, y0, sinfo = _solve_steady(scenario, base, steady_options)
    edges = scenario.edges()
    segments = [(t0, t1, parameters_between(scenario, t0, t1, base)) for t0, t1 in zip(edges[:-1], edges[1:])]
    t_out = output_times(scenario)
    ys, stats = _solve.integrate(mod, segments, y0, t_out, options, model.state_names)
    n = len(model.states)
    # observables at each output time with the parameters in force there (the later segment at an edge)
    seg_of = np.clip(np.searchsorted(edges, t_out, side="right") - 1, 0, len(segments) - 1)
    P_out = np.array([p for _, _, p in segments])[seg_of]
    obs = np.empty((t_out.shape[0], len(model.observable_names)))
    mod.observe_chunk(0, t_out.shape[0], np.ascontiguousarray(ys[:n].T), P_out, obs)
    r = _readouts(model, obs.T, ys[:n])
    totals = {}
    for i, fl in enumerate(model.boundary_fluxes):
        totals[fl.name] = ys[n + i]
    cumulative = {
        "cumulative_intake_mmol": totals["oral_intake"] + totals["supplement_unabsorbed"],
        "cumulative_iv_mmol": totals["iv_infusion"],
        "cumulative_faecal_mmol": totals["faecal_excretion"] + totals["supplement_unabsorbed"],
        "cumulative_urine_mmol": totals["urinary_excretion"],
    }
    if "ca_urinary_excretion" in totals:
        cumulative.update({
            "cumulative_ca_intake_mmol": totals["ca_absorption"] + totals["ca_unabsorbed"],
            "cumulative_ca_faecal_mmol": totals["ca_unabsorbed"] + totals["ca_endogenous_secretion"],
            "cumulative_ca_urine_mmol": totals["ca_urinary_excretion"],
            "cumulative_ca_bone_release_mmol": totals["ca_bone_remodelling"],
        })
    solver = dict(stats)
    solver["initial_steady_state"] = sinfo["strategies"]
    return RunResult(
        scenario=scenario.name,
        time_day=_freeze(t_out),
        timecourse=MappingProxyType({k: _freeze(v) for k, v in r.items()}),
        states=MappingProxyType({s: _freeze(ys[i]) for i, s in enumerate(model.state_names)}),
        totals=MappingProxyType({k: _freeze(v) for k, v in cumulative.items()}),
        notes=scenario.notes, solver=MappingProxyType(solver))


def citations(scenario) -> list[str]:
    """The sources behind a scenario's result: the model's cited references and every applied entry's source."""
    import re

    scenario = _as_scenario(scenario)
    model = scenario.model
    keys = []
    for p in model.parameters:
        for k in re.findall(r"\b([A-Z][A-Za-z]+\d{4})\b", p.source):
            if k in model.references and k not in keys:
                keys.append(k)
    out = [f"{k}: {model.references[k]}" for k in sorted(keys)]
    seen = set()
    for a in scenario.applications:
        if a.entry.name not in seen:
            seen.add(a.entry.name)
            out.append(f"{a.entry.name}: {a.entry.source}")
    return out
