"""Readouts: the contract names of DESIGN.md (units in the names), computed from the generated ``observe``
function (the same formulas that drive the right-hand side) and the states."""
from __future__ import annotations

import numpy as np

from .model import Model


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


def _observe(mod, model: Model, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    out = np.empty(len(model.observable_names))
    mod.observe(y, p, out)
    return out


def _ca_readouts(model: Model, o: dict, s: dict) -> dict:
    filtered = o["ca_filtered_load"]
    creatinine = o["creatinine_excretion"]  # adult.toml: scales with the [patient]
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
