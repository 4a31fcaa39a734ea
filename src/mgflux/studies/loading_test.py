"""The IV magnesium tolerance (loading) test, simulated at any time of a scenario.

An IV dose (elemental Mg) is infused evenly over *duration*; urine is collected for the 24 h from the start
of the infusion. Retention is the share of the dose not excreted over the patient's own baseline urine of the
same 24 h (the same course without the infusion):

    retention_percent = 100 * (dose - (urine_24h_with_infusion - urine_24h_baseline)) / dose

Interpretation (Ryzen 1985; IOM 1997 p. 193): > 50 % retained = Mg deficiency; 20-50 % = possible deficiency;
< 20 % = no deficiency (replete adults retain 6 +- 10 %, Gullestad 1994).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..engine import steady as _steady
from ..engine import timecourse as _timecourse
from ..engine.codegen import compiled
from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model import units as _units
from ..model.catalogue import apply_modifiers, get_catalogue
from ..model.parameters import base_parameters, parameters_between, steady_parameters
from ..model.scenario import Application, Scenario, load_scenario
from ..options import RunOptions, SteadyOptions

#: Standard protocols: (dose in mmol, or mmol per kg of body weight; infusion duration in hours; source).
PROTOCOLS = {
    "30mmol-8h": {"dose_mmol": 30.0, "per_kg": False, "hours": 8.0,
                  "source": "Gullestad L et al. Scand J Clin Lab Invest 1994;54:23-31 (30 mmol MgSO4 over 8 h; "
                            "24-h urine from the start)"},
    "0.1mmol/kg-4h": {"dose_mmol": 0.1, "per_kg": True, "hours": 4.0,
                      "source": "Ryzen E et al. Magnesium 1985;4:137-147 (0.2 mEq = 0.1 mmol/kg lean body weight "
                                "over 4 h; 24-h urine)"},
    "0.2mmol/kg-4h": {"dose_mmol": 0.2, "per_kg": True, "hours": 4.0,
                      "source": "IOM 1997 Dietary Reference Intakes, p. 193 (loading tests of 0.1-0.2 mmol/kg "
                                "given over 4 h)"},
}
DEFAULT_WEIGHT_KG = 70.0
INTERPRETATION_SOURCE = ("Ryzen E et al. Magnesium 1985;4:137-147 and IOM 1997 p. 193 (> 50 % retained: "
                         "deficiency; 20-50 %: possible); Gullestad 1994 (replete 6 +- 10 %)")


def interpret(retention_percent: float) -> str:
    """The clinical interpretation of a 24-h retention (percent of the dose)."""
    if retention_percent > 50:
        return "Mg deficiency (retention > 50 %)"
    if retention_percent >= 20:
        return "possible Mg deficiency (retention 20-50 %)"
    return "no deficiency (retention < 20 %)"


@dataclass(frozen=True)
class LoadingTestResult:
    """Outcome of a simulated IV Mg tolerance test. ``to_dict()`` is the ``--json`` object."""

    scenario: str
    at_day: float | None  # None: at the scenario's steady state
    protocol: str | None
    dose_mmol: float
    duration_hour: float
    weight_kg: float
    urine_24h_mmol: float
    baseline_urine_24h_mmol: float
    retention_percent: float
    interpretation: str
    serum_before_mM: float
    serum_peak_mM: float
    serum_24h_mM: float
    time_hour: np.ndarray = field(repr=False)  # 0..24 h from the start of the infusion
    serum_mM: np.ndarray = field(repr=False)
    excess_urine_mmol: np.ndarray = field(repr=False)  # cumulative, over baseline
    notes: tuple[str, ...] = ()

    @property
    def excreted_percent(self) -> float:
        return 100.0 - self.retention_percent

    def dataframe(self):
        """The 24 h of the test as a tidy pandas DataFrame (time from the start of the infusion)."""
        import pandas as pd

        return pd.DataFrame({"scenario": self.scenario, "time_hour": self.time_hour, "serum_mg_total_mM": self.serum_mM,
                             "excess_urine_mmol": self.excess_urine_mmol})

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario, "at_day": self.at_day, "protocol": self.protocol,
            "dose_mmol": self.dose_mmol, "duration_hour": self.duration_hour, "weight_kg": self.weight_kg,
            "urine_24h_mmol": self.urine_24h_mmol, "baseline_urine_24h_mmol": self.baseline_urine_24h_mmol,
            "excess_urine_24h_mmol": self.urine_24h_mmol - self.baseline_urine_24h_mmol,
            "retention_percent": self.retention_percent, "interpretation": self.interpretation,
            "interpretation_source": INTERPRETATION_SOURCE,
            "serum_mg_total_mM": {"before": self.serum_before_mM, "peak": self.serum_peak_mM,
                                  "at_24h": self.serum_24h_mM},
            "timecourse": {"time_hour": self.time_hour.tolist(), "serum_mg_total_mM": self.serum_mM.tolist(),
                           "excess_urine_mmol": self.excess_urine_mmol.tolist()},
            "notes": list(self.notes),
        }


def _patient_weight(scenario: Scenario) -> tuple[float, bool]:
    """The patient's weight (kg) from ``[patient]`` when the scenario has one; else the 70 kg adult."""
    patient = getattr(scenario, "patient", None)
    w = getattr(patient, "weight_kg", None) if patient is not None else None
    if w is None and isinstance(patient, dict):
        w = patient.get("weight_kg")
    if w is None:
        return DEFAULT_WEIGHT_KG, False
    return float(w), True


def _quantity(text, unit: str, key: str) -> float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        example = '"30 mmol"' if unit == "mmol" else '"8 hour"'
        raise ScenarioError(f"loading test: {key} = {text!r} needs a unit (e.g. {example})")
    return _units.convert(text, unit, where="loading test", key=key)


def _course(scenario: Scenario, p_start: np.ndarray, edges: list[float], params, t_out: np.ndarray):
    """Urine (cumulative from time 0) and serum total Mg at *t_out*, from the steady state of *p_start*;
    *params(t0, t1)* gives each segment's parameters."""
    model = scenario.model
    mod = compiled(model)
    y0, _ = _steady.steady_state(mod, p_start, model.guess_vector(), model.state_names, SteadyOptions())
    segments = [(a, b, params(a, b)) for a, b in itertools.pairwise(edges)]
    ys, _ = _timecourse.integrate(mod, segments, y0, t_out, RunOptions(), model.state_names)
    n = len(model.states)
    iu = [f.name for f in model.boundary_fluxes].index("urinary_excretion")
    urine = ys[n + iu]
    seg_of = np.clip(np.searchsorted(edges, t_out, side="right") - 1, 0, len(segments) - 1)
    P = np.array([p for _, _, p in segments])[seg_of]
    obs = np.empty((t_out.shape[0], len(model.observable_names)))
    mod.observe_chunk(0, t_out.shape[0], np.ascontiguousarray(ys[:n].T), np.ascontiguousarray(P), obs)
    serum = obs[:, model.observable_names.index("serum_total")]
    return urine, serum


def loading_test(scenario, *, at=None, dose="30 mmol", duration="8 hour", protocol: str | None = None
                 ) -> LoadingTestResult:
    """Simulate the IV Mg tolerance test on *scenario* (a Scenario or a path).

    *at*: when the infusion starts ("60 day"; a number is days): the patient at that day of the scenario's
    course (drugs and treatments in their windows). None: at the steady state with every perturbation on (as
    ``steady``). *dose*, *duration*: elemental Mg and infusion time; *protocol* (``PROTOCOLS``) overrides
    both: "30mmol-8h", or "0.1mmol/kg-4h" / "0.2mmol/kg-4h" scaled by the weight of ``[patient]``
    (70 kg without one).
    """
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = scenario.model
    notes = []
    weight, from_patient = _patient_weight(scenario)
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise ScenarioError(unknown_name("loading-test protocol", protocol, PROTOCOLS, "--protocol"))
        pr = PROTOCOLS[protocol]
        dose_mmol = pr["dose_mmol"] * (weight if pr["per_kg"] else 1.0)
        dur_day = pr["hours"] / 24.0
        if pr["per_kg"]:
            notes.append(f"dose {pr['dose_mmol']:g} mmol/kg x {weight:g} kg"
                         + ("" if from_patient else " (no [patient] weight: the 70 kg adult)"))
        notes.append(f"protocol {protocol}: {pr['source']}")
    else:
        dose_mmol = _quantity(dose, "mmol", "dose")
        dur_day = _quantity(duration, "day", "duration")
    if not dose_mmol > 0:
        raise ScenarioError(f"loading test: dose must be > 0 mmol, not {dose_mmol:g}")
    if not 0 < dur_day <= 1.0:
        raise ScenarioError(f"loading test: duration must be > 0 and at most 24 hour (urine is collected for the "
                            f"24 h from the start of the infusion), not {24 * dur_day:g} hour")
    if dose_mmol > 200:
        raise ScenarioError(f"loading test: dose = {dose_mmol:g} mmol is far above any protocol (30 mmol; "
                            "0.1-0.2 mmol/kg); give at most 200 mmol")
    iv = get_catalogue(model).lookup("iv_magnesium_sulfate")
    rate = dose_mmol / dur_day
    if at is None:
        t0 = 0.0
        p_steady, _ = steady_parameters(scenario)
        p_iv = apply_modifiers(model, p_steady, iv.modifiers(rate))

        def with_iv(a, b):
            return p_iv if b <= dur_day + 1e-12 else p_steady

        def without(a, b):
            return p_steady

        edges = [0.0, dur_day, 1.0]
        p_start = p_steady
        sc_name = scenario.name
    else:
        t0 = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else \
            _units.convert(at, "day", where="loading test", key="at")
        if not 0 <= t0 <= 100 * 365:
            raise ScenarioError(f"loading test: at = {at!r} must lie between 0 and 100 years")
        app = Application(iv, rate, start=t0, stop=t0 + dur_day, one_off=True, label="loading test")
        sc_iv = dataclasses.replace(scenario, duration=t0 + 1.0, applications=scenario.applications + (app,))
        sc_base = dataclasses.replace(scenario, duration=t0 + 1.0)
        edges = sc_iv.edges()
        base_iv, base_0 = base_parameters(sc_iv), base_parameters(sc_base)

        def with_iv(a, b):
            return parameters_between(sc_iv, a, b, base_iv)

        def without(a, b):
            return parameters_between(sc_base, a, b, base_0)

        p_start = base_parameters(scenario)
        sc_name = scenario.name
        if t0 > scenario.duration:
            notes.append(f"at day {t0:g} is after the scenario's duration ({scenario.duration:g} days): "
                         "its windows are used as written")
    hours = np.unique(np.concatenate([np.linspace(0.0, 24.0, 97), [24.0 * dur_day]]))
    t_out = np.unique(np.concatenate([[0.0], t0 + hours / 24.0]))
    u1, s1 = _course(scenario, p_start, edges, with_iv, t_out)
    u0, s0 = _course(scenario, p_start, edges, without, t_out)
    k0 = int(np.searchsorted(t_out, t0))
    excess = (u1 - u0)[k0:] - (u1 - u0)[k0]
    urine_with = float(u1[-1] - u1[k0])
    urine_base = float(u0[-1] - u0[k0])
    retention = 100.0 * (dose_mmol - (urine_with - urine_base)) / dose_mmol
    if not math.isfinite(retention):
        raise MgfluxError("loading test: the simulation gave a non-finite urine total")
    serum = s1[k0:]
    return LoadingTestResult(
        scenario=sc_name, at_day=None if at is None else t0, protocol=protocol, dose_mmol=float(dose_mmol),
        duration_hour=24.0 * dur_day, weight_kg=weight, urine_24h_mmol=urine_with,
        baseline_urine_24h_mmol=urine_base, retention_percent=float(retention),
        interpretation=interpret(retention), serum_before_mM=float(s0[k0]), serum_peak_mM=float(serum.max()),
        serum_24h_mM=float(serum[-1]), time_hour=(t_out[k0:] - t0) * 24.0, serum_mM=serum,
        excess_urine_mmol=excess, notes=tuple(notes))


def loading_test_text(r: LoadingTestResult) -> str:
    when = "at steady state" if r.at_day is None else f"at day {r.at_day:g}"
    lines = [f"IV Mg tolerance test: {r.scenario} ({when})",
             f"  dose {r.dose_mmol:.4g} mmol elemental Mg ({r.dose_mmol * 24.305:.0f} mg) over {r.duration_hour:g} h"
             + (f", protocol {r.protocol}" if r.protocol else ""),
             (f"  24-h urine from the start: {r.urine_24h_mmol:.3g} mmol; baseline (same 24 h without the infusion) "
              f"{r.baseline_urine_24h_mmol:.3g} mmol"),
             f"  retention_percent {r.retention_percent:.1f} %  ->  {r.interpretation}",
             (f"  serum total Mg {r.serum_before_mM:.3f} mM before, peak {r.serum_peak_mM:.3f}, "
              f"{r.serum_24h_mM:.3f} at 24 h"),
             f"  interpretation: {INTERPRETATION_SOURCE}"]
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
