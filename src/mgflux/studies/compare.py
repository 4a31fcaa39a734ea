"""Questions users ask: where is Mg gained and lost against a healthy adult, and what dose restores a target.

``compare(scenario)`` puts the scenario's steady state beside the healthy adult on the same diet: the renal
waterfall (filtered, PT, TAL, DCT, urine) and the gut (intake, absorbed, secreted, faeces), and says which
segment compensates (reabsorbs a larger fraction of what reaches it) and by how much.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..model.scenario import Scenario, load_scenario
from ..results import SteadyResult
from ..run import steady_state

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

    def dataframe(self):
        """Tidy pandas DataFrame: one row per quantity (healthy, scenario, change)."""
        import pandas as pd

        return pd.DataFrame(self.to_dict()["rows"])


def healthy_reference(scenario: Scenario) -> Scenario:
    """The same model, diet and grid without any perturbation or treatment."""
    return dataclasses.replace(scenario, name="healthy adult (same diet)", applications=())


def compare(scenario: Scenario | str | Path) -> Comparison:
    """The scenario's steady state beside the healthy adult on the same diet: renal waterfall, gut, and which
    segment fails and which compensates (``findings``; ``to_dict()`` is ``mgflux compare --json``)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
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
    if "ca_filtered_load" in h:  # the Ca waterfall beside the Mg one
        rows += [
            ("serum total Ca", "mM", healthy["serum_ca_total_mM"], patient["serum_ca_total_mM"]),
            ("serum ionised Ca", "mM", healthy["serum_ca_ionized_mM"], patient["serum_ca_ionized_mM"]),
            ("PTH", "pM", healthy["pth_pM"], patient["pth_pM"]),
            ("calcitriol", "pM", healthy["calcitriol_pM"], patient["calcitriol_pM"]),
            ("Ca filtered load", "mmol/day", h["ca_filtered_load"], p["ca_filtered_load"]),
            ("Ca PT reabsorbed", "mmol/day", h["ca_pt_reabsorption"], p["ca_pt_reabsorption"]),
            ("Ca TAL reabsorbed", "mmol/day", h["ca_tal_reabsorption"], p["ca_tal_reabsorption"]),
            ("Ca DCT/CNT reabsorbed", "mmol/day", h["ca_dct_reabsorption"], p["ca_dct_reabsorption"]),
            ("urine Ca", "mmol/day", h["ca_urine_rate"], p["ca_urine_rate"]),
            ("FECa", "%", healthy["feca_percent"], patient["feca_percent"]),
            ("urine Ca/creatinine", "mmol/mmol", healthy["urine_ca_creatinine_ratio"],
             patient["urine_ca_creatinine_ratio"]),
            ("Ca absorbed (net)", "mmol/day", healthy["ca_absorbed_mmol_per_day"], patient["ca_absorbed_mmol_per_day"]),
            ("net skeletal Ca uptake", "mmol/day", healthy["ca_bone_balance_mmol_per_day"],
             patient["ca_bone_balance_mmol_per_day"]),
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
    if "ca_filtered_load" in h:
        out += _ca_findings(healthy, patient)
    fe = patient["femg_percent"]
    if ds < -0.02:
        kind = "renal wasting (FEMg inappropriately high for the serum level)" if fe > 4 else \
            "renal conservation (low FEMg): the loss is extrarenal or intake is low" if fe < 2 else \
            "FEMg in the normal range"
        out.append(f"FEMg {fe:.1f}%: {kind}")
    return out


CA_SEGMENTS = (("PT", "ca_pt_reabsorption", "ca_filtered_load"), ("TAL", "ca_tal_reabsorption", "ca_tal_delivery"),
               ("DCT/CNT", "ca_dct_reabsorption", "ca_dct_delivery"))


def _ca_findings(healthy: SteadyResult, patient: SteadyResult) -> list[str]:
    h, p = healthy.observables, patient.observables
    out = [f"serum total Ca {patient['serum_ca_total_mM']:.2f} mM (healthy {healthy['serum_ca_total_mM']:.2f}; "
           f"hypocalcaemia grade {patient['hypocalcemia_grade']}), PTH {patient['pth_pg_per_mL']:.0f} pg/mL "
           f"(healthy {healthy['pth_pg_per_mL']:.0f}), urine Ca {patient['urine_ca_mmol_per_day']:.2f} mmol/day "
           f"({patient['urine_ca_mmol_per_day'] / healthy['urine_ca_mmol_per_day']:.2f}x healthy; "
           f"Ca/creatinine {patient['urine_ca_creatinine_ratio']:.2f})"]
    for name, reab, delivered in CA_SEGMENTS:
        fh, fp = h[reab] / h[delivered], p[reab] / p[delivered]
        if abs(fp - fh) > 0.01:
            word = "reabsorbs more Ca" if fp > fh else "reabsorbs less Ca"
            out.append(f"{name} {word}: {100 * fp:.1f}% of what reaches it (healthy {100 * fh:.1f}%)")
    return out


def format_comparison(c: Comparison) -> str:
    lines = [f"Compare: {c.scenario} against a healthy adult on the same diet", ""]
    lines.append(f"{'':24s} {'healthy':>10} {'scenario':>10} {'change':>10}")
    for label, unit, a, b in c.rows:
        lines.append(f"{label:24s} {a:10.3f} {b:10.3f} {b - a:+10.3f}  {unit}")
    lines.append("")
    lines += [f"- {f}" for f in c.findings]
    return "\n".join(lines)
