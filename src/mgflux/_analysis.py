"""Questions users ask: where is Mg gained and lost against a healthy adult, and what dose restores a target.

``compare(scenario)`` puts the scenario's steady state beside the healthy adult on the same diet: the renal
waterfall (filtered, PT, TAL, DCT, urine) and the gut (intake, absorbed, secreted, faeces), and says which
segment compensates (reabsorbs a larger fraction of what reaches it) and by how much.
``find_dose(scenario, treatment, target)`` is the smallest continuous daily dose of a treatment that brings
steady serum Mg to the target, or a clear statement that no dose up to the limit can.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from . import _units
from ._scenario import Application, Scenario
from ._simulate import SteadyResult, steady_state
from .errors import MgfluxError, ScenarioError

SEGMENTS = (("PT", "pt_reabsorption", "filtered_load"), ("TAL", "tal_reabsorption", "tal_delivery"),
            ("DCT", "dct_reabsorption", "dct_delivery"))


@dataclass(frozen=True)
class Comparison:
    scenario: str
    healthy: SteadyResult
    patient: SteadyResult
    rows: tuple  # (label, unit, healthy value, patient value)
    findings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "findings": list(self.findings),
                "rows": [{"quantity": r[0], "unit": r[1], "healthy": r[2], "scenario": r[3], "change": r[3] - r[2]}
                         for r in self.rows]}


def healthy_reference(scenario: Scenario) -> Scenario:
    """The same model, diet and grid without any perturbation or treatment."""
    return dataclasses.replace(scenario, name="healthy adult (same diet)", applications=())


def compare(scenario: Scenario) -> Comparison:
    healthy = steady_state(healthy_reference(scenario))
    patient = steady_state(scenario)
    h, p = healthy.observables, patient.observables
    rows = [
        ("serum total Mg", "mM", healthy["serum_mg_total_mM"], patient["serum_mg_total_mM"]),
        ("serum ionised Mg", "mM", healthy["serum_mg_ionized_mM"], patient["serum_mg_ionized_mM"]),
        ("filtered load", "mmol/day", h["filtered_load"], p["filtered_load"]),
        ("PT reabsorbed", "mmol/day", h["pt_reabsorption"], p["pt_reabsorption"]),
        ("TAL reabsorbed", "mmol/day", h["tal_reabsorption"], p["tal_reabsorption"]),
        ("DCT reabsorbed", "mmol/day", h["dct_reabsorption"], p["dct_reabsorption"]),
        ("urine", "mmol/day", h["urine_rate"], p["urine_rate"]),
        ("FEMg", "%", healthy["femg_percent"], patient["femg_percent"]),
        ("intake", "mmol/day", healthy["intake_mmol_per_day"], patient["intake_mmol_per_day"]),
        ("absorbed (true)", "mmol/day", h["flux_si_absorption"] + h["flux_colon_absorption"],
         p["flux_si_absorption"] + p["flux_colon_absorption"]),
        ("  small intestine", "mmol/day", h["flux_si_absorption"], p["flux_si_absorption"]),
        ("  colon (TRPM6/7)", "mmol/day", h["flux_colon_absorption"], p["flux_colon_absorption"]),
        ("secreted into gut", "mmol/day", h["flux_endogenous_secretion"], p["flux_endogenous_secretion"]),
        ("faeces", "mmol/day", healthy["faecal_mg_mmol_per_day"], patient["faecal_mg_mmol_per_day"]),
        ("fractional absorption", "%", healthy["fractional_absorption_percent"], patient["fractional_absorption_percent"]),
        ("TRPM6 expression", "relative", healthy["trpm6_relative"], patient["trpm6_relative"]),
        ("DCT mass", "relative", healthy["dct_mass_relative"], patient["dct_mass_relative"]),
        ("body Mg", "mmol", healthy["body_mg_mmol"], patient["body_mg_mmol"]),
    ]
    return Comparison(scenario.name, healthy, patient, tuple(rows), tuple(_findings(healthy, patient)))


def _findings(healthy: SteadyResult, patient: SteadyResult) -> list[str]:
    h, p = healthy.observables, patient.observables
    out = []
    ds = patient["serum_mg_total_mM"] - healthy["serum_mg_total_mM"]
    out.append(f"serum total Mg {patient['serum_mg_total_mM']:.3f} mM ({ds:+.3f} against healthy; "
               f"grade {patient['hypomagnesemia_grade']})")
    changes = []
    for name, reab, delivered in SEGMENTS:
        fh, fp = h[reab] / h[delivered], p[reab] / p[delivered]
        changes.append((name, fh, fp, p[reab] - h[reab]))
    for name, fh, fp, damount in changes:
        if fp - fh > 0.005:
            out.append(f"{name} compensates: reabsorbs {100 * fp:.1f}% of what reaches it (healthy {100 * fh:.1f}%), "
                       f"{damount:+.2f} mmol/day")
        elif fh - fp > 0.005:
            out.append(f"{name} reabsorbs less: {100 * fp:.1f}% of what reaches it (healthy {100 * fh:.1f}%), "
                       f"{damount:+.2f} mmol/day")
    fa_h, fa_p = healthy["fractional_absorption_percent"], patient["fractional_absorption_percent"]
    if fa_p - fa_h > 0.5:
        out.append(f"the gut compensates: fractional absorption {fa_p:.1f}% (healthy {fa_h:.1f}%)")
    elif fa_h - fa_p > 0.5:
        out.append(f"the gut absorbs less: fractional absorption {fa_p:.1f}% (healthy {fa_h:.1f}%)")
    fe = patient["femg_percent"]
    if ds < -0.02:
        kind = "renal wasting (FEMg inappropriately high for the serum level)" if fe > 4 else \
            "renal conservation (low FEMg): the loss is extrarenal or intake is low" if fe < 2 else \
            "FEMg in the normal range"
        out.append(f"FEMg {fe:.1f}%: {kind}")
    return out


def format_comparison(c: Comparison) -> str:
    lines = [f"Compare: {c.scenario} against a healthy adult on the same diet", ""]
    lines.append(f"{'':24s} {'healthy':>10} {'scenario':>10} {'change':>10}")
    for label, unit, a, b in c.rows:
        lines.append(f"{label:24s} {a:10.3f} {b:10.3f} {b - a:+10.3f}  {unit}")
    lines.append("")
    lines += [f"- {f}" for f in c.findings]
    return "\n".join(lines)


def plot_comparison(c: Comparison, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    h, p = c.healthy.observables, c.patient.observables
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [5, 3]})
    labels = ["filtered", "PT", "TAL", "DCT", "urine"]
    keys = ["filtered_load", "pt_reabsorption", "tal_reabsorption", "dct_reabsorption", "urine_rate"]
    x = np.arange(len(labels))
    axes[0].bar(x - 0.2, [h[k] for k in keys], 0.4, label="healthy")
    axes[0].bar(x + 0.2, [p[k] for k in keys], 0.4, label=c.scenario)
    axes[0].set_xticks(x, labels)
    axes[0].set_ylabel("mmol/day")
    axes[0].set_title("kidney: filtered and reabsorbed per segment")
    axes[0].legend()
    glabels = ["intake", "absorbed", "secreted", "faeces"]
    gh = [c.healthy["intake_mmol_per_day"], h["flux_si_absorption"] + h["flux_colon_absorption"],
          h["flux_endogenous_secretion"], c.healthy["faecal_mg_mmol_per_day"]]
    gp = [c.patient["intake_mmol_per_day"], p["flux_si_absorption"] + p["flux_colon_absorption"],
          p["flux_endogenous_secretion"], c.patient["faecal_mg_mmol_per_day"]]
    xg = np.arange(len(glabels))
    axes[1].bar(xg - 0.2, gh, 0.4, label="healthy")
    axes[1].bar(xg + 0.2, gp, 0.4, label=c.scenario)
    axes[1].set_xticks(xg, glabels)
    axes[1].set_title("gut")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- dose finder


@dataclass(frozen=True)
class DoseResult:
    treatment: str
    target_mM: float
    dose_mmol_per_day: float | None  # None: no dose up to the limit reaches the target
    serum_at_dose_mM: float | None
    limit_mmol_per_day: float
    serum_at_limit_mM: float
    message: str

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dose_mg_per_day"] = None if self.dose_mmol_per_day is None else self.dose_mmol_per_day * _units.MG_MOLAR_MASS_G_PER_MOL
        return d


#: Tolerable upper intake of supplemental Mg (IOM 1997): above it, osmotic diarrhoea becomes common.
UL_SUPPLEMENT_MMOL_PER_DAY = 350 / _units.MG_MOLAR_MASS_G_PER_MOL


def find_dose(scenario: Scenario, treatment: str, target_mM: float, limit_mmol_per_day: float = 5000 / 24.305,
              readout: str = "serum_mg_total_mM", rtol: float = 1e-3) -> DoseResult:
    """Smallest continuous daily dose of *treatment* (oral: elemental Mg; IV: rate) whose steady state brings
    *readout* to *target_mM*; the scenario's own perturbations and treatments stay on."""
    from ._catalogue import get_catalogue

    entry = get_catalogue(scenario.model).lookup(treatment, "dose-finder --treatment")
    if entry.kind != "treatment" or entry.amount_unit:
        raise ScenarioError(f"dose-finder --treatment: {entry.name!r} is not a Mg treatment (a {entry.kind}); "
                            "use magnesium_citrate, magnesium_oxide, magnesium_chloride, magnesium_gluconate or iv_magnesium_sulfate")

    def serum(amount: float) -> float:
        app = Application(entry, amount, label=entry.name)
        sc = dataclasses.replace(scenario, applications=scenario.applications + (app,))
        return steady_state(sc)[readout]

    unit = "mg/day" if entry.route == "oral" else "mmol/day"
    to_unit = (lambda x: x * _units.MG_MOLAR_MASS_G_PER_MOL) if entry.route == "oral" else (lambda x: x)
    s0 = serum(0.0)
    if s0 >= target_mM:
        return DoseResult(entry.name, target_mM, 0.0, s0, limit_mmol_per_day, math.nan,
                          f"no {entry.name} needed: {readout} is already {s0:.3f} mM (target {target_mM:.3f} mM)")
    s_hi = serum(limit_mmol_per_day)
    if s_hi < target_mM:
        return DoseResult(entry.name, target_mM, None, None, limit_mmol_per_day, s_hi,
                          f"no dose of {entry.name} up to {to_unit(limit_mmol_per_day):.0f} {unit} reaches "
                          f"{target_mM:.3f} mM: the highest it gives is {s_hi:.3f} mM (from {s0:.3f} without it). "
                          + ("Oral absorption saturates and high doses cause diarrhoea; consider IV Mg or treating "
                             "the cause." if entry.route == "oral" else "Treat the cause of the loss."))
    lo, hi = 0.0, limit_mmol_per_day
    while hi - lo > rtol * max(hi, 1e-9):
        mid = 0.5 * (lo + hi)
        if serum(mid) >= target_mM:
            hi = mid
        else:
            lo = mid
    s = serum(hi)
    note = ""
    own = [a for a in scenario.applications if a.entry.name == entry.name and not a.one_off]
    if own:
        given = sum(a.value for a in own)
        note += (f" This is on top of the {to_unit(given):.0f} {unit} of {entry.name} the scenario already gives "
                 f"(every treatment of the scenario stays on).")
    if entry.route == "oral" and hi > UL_SUPPLEMENT_MMOL_PER_DAY:
        note = f" This is above the tolerable upper intake of supplemental Mg (350 mg/day, IOM 1997): expect diarrhoea."
    return DoseResult(entry.name, target_mM, hi, s, limit_mmol_per_day, s_hi,
                      f"{entry.name}: {to_unit(hi):.0f} {unit} brings {readout} from {s0:.3f} to {s:.3f} mM "
                      f"(target {target_mM:.3f} mM).{note}")


def parse_target(text: str) -> float:
    try:
        return _units.convert(text, "mM", where="dose-finder", key="--target")
    except MgfluxError:
        raise
