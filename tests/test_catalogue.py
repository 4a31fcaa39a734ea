"""The perturbation catalogue (models/catalogue/*.toml): every entry's direction, the genes' calibration
ranges, genotype order, the renal versus intestinal FEMg signature, two-hit combinations, drug
dose-response, time behaviour, name look-up, and every scenario file under scenarios/.

Targets and their sources: models/CATALOGUE.md and the entries' `targets`.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

import mgflux
from mgflux import get_catalogue

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
CAT = get_catalogue(mgflux.get_model("adult"))
BASELINE_SERUM = 0.85

# Dominant genes: patients are heterozygous, so targets apply to that genotype.
DOMINANT = {e.name for e in CAT.by_kind("gene") if e.inheritance == "dominant"}
# Neutral on steady-state total serum Mg by design (redistribution, not depletion): tested by their time course.
NEUTRAL_AT_STEADY = {"hungry_bone_syndrome", "beta_agonist", "salbutamol", "terbutaline", "epinephrine"}
# Calcium/PTH entries (models/modules/calcium.toml): their point is the Ca phenotype, tested by test_ca_phenotype.
CA_ENTRIES = {e.name for e in CAT.entries.values() if e.mechanism == "calcium_pth"}
# Second edition (issue 10): loop diuretics do not lower serum Mg in the population (Kieboom 2018: users +0.023 mM;
# the model's post-diuretic DCT hypertrophy gives +0.011): their wasting is acute, tested by their time course.
RAISES_AT_STEADY = {"loop_diuretic", "furosemide", "bumetanide", "torasemide", "chronic_kidney_disease"}
# FAM111A and GATA3: the first edition's PTH support of Mg reabsorption is removed (Rude 1980 contradicts it);
# the calcium module models their hypoparathyroidism (low PTH secretory capacity; mechanism calcium_pth).
AWAITING_CALCIUM = {"FAM111A", "GATA3"} & CA_ENTRIES
# Targets missed by the second edition's control (models/README.md "still missed"): with a store-driven compensator
# an intestinal or mild multi-hit condition is compensated more than its first-edition target assumed; the EGFR
# antibodies are calibrated to their Table 2 course incidence, which leaves the never-stopped steady state milder.
# Each stays below the healthy value and within `KNOWN_MISS_MARGIN` of its range.
KNOWN_MISSES = {"alcohol_use_disorder", "chronic_diarrhoea", "coeliac_disease", "diabetes", "inflammatory_bowel_disease",
                "low_intake", "digoxin", "cetuximab", "egfr_antibody", "panitumumab"}
KNOWN_MISS_MARGIN = 0.05  # mM
# Entries without a steady state at their standard severity (no Mg intake at all): tested below a full dose.
STEADY_DOSE = {e.name: e.target_dose for e in CAT.entries.values() if e.target_dose != 1.0}
# Renal causes (FEMg stays high while serum falls) and intestinal causes (kidney conserves: FEMg low).
RENAL_KINDS = {"tal_paracellular", "dct_integrity", "basolateral_extrusion"}
INTESTINAL = {"ppi", "omeprazole", "esomeprazole", "pantoprazole", "lansoprazole", "low_intake", "chronic_diarrhoea",
              "coeliac_disease", "inflammatory_bowel_disease", "cystic_fibrosis", "pancreatitis", "gastric_bypass"}


def _scenario(perturbations=(), treatments=(), duration="365 day", **scenario):
    return mgflux.scenario_from_dict({"scenario": {"name": "test", "duration": duration, **scenario},
                                      "diet": {"mg_intake": "300 mg/day"},
                                      "perturbation": list(perturbations), "treatment": list(treatments)})


@functools.lru_cache(maxsize=None)
def steady(*items, treatment=None, amount=None):
    """Steady state for perturbations given as (name, key, value) triples (cached)."""
    perts = [{"name": n, k: v} for n, k, v in items]
    treats = [{"name": treatment, "amount": amount}] if treatment else []
    return mgflux.steady_state(_scenario(perts, treats))


def test_dominant_genes_are_the_review_s():
    # Table 1 / physiology.md: these are dominant; patients are heterozygous
    assert DOMINANT == {"FXYD2", "CASR", "ATP1A1", "HNF1B", "CNNM2", "FAM111A", "GATA3"}


def _input(entry, genotype="homozygous"):
    if entry.kind == "gene":
        return (entry.name, "genotype", genotype)
    return (entry.name, "dose", STEADY_DOSE.get(entry.name, 1.0))


def _names(kind):
    return sorted(e.name for e in CAT.by_kind(kind))


GENES, DRUGS, CONDITIONS, TREATMENTS = (_names(k) for k in ("gene", "drug", "condition", "treatment"))


@pytest.fixture(scope="module")
def baseline():
    return mgflux.steady_state(_scenario())


def test_required_entries_present():
    required = {
        "gene": "TRPM6 EGF EGFR CLDN16 CLDN19 CASR SLC12A3 ATP1A1 FXYD2 KCNJ10 CLCNKB HNF1B PCBD1 mitochondrial CNNM2 "
                "FAM111A GATA3 PLVAP KCTD1",
        "drug": "cetuximab panitumumab egfr_antibody cyclosporine tacrolimus calcineurin_inhibitor omeprazole esomeprazole "
                "pantoprazole lansoprazole ppi hydrochlorothiazide chlorthalidone indapamide thiazide furosemide "
                "bumetanide torasemide loop_diuretic gentamicin amikacin tobramycin aminoglycoside sirolimus cisplatin "
                "amphotericin_b digoxin salbutamol terbutaline epinephrine beta_agonist",
        "condition": "starvation low_intake alcohol_use_disorder chronic_diarrhoea coeliac_disease "
                     "inflammatory_bowel_disease cystic_fibrosis pancreatitis gastric_bypass diabetes "
                     "hungry_bone_syndrome older_age",
        "treatment": "magnesium_oxide magnesium_citrate magnesium_chloride magnesium_gluconate iv_magnesium_sulfate inulin",
    }
    for kind, names in required.items():
        missing = set(names.split()) - set(_names(kind))
        assert not missing, f"{kind} entries missing: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CAT.entries))
def test_entry_documented(name):
    e = CAT.entries[name]
    assert e.source.strip() and e.description.strip() and e.phenotype.strip()
    assert all(s.strip() for s in e.constant_sources.values())
    if e.kind == "drug":
        assert e.standard_dose and e.incidence, f"{name}: drugs need standard_dose and incidence"
        assert all(c in e.constants for c in ("ed50",)), f"{name}: an Emax exposure-response needs ed50"


# ------------------------------------------------------------------------------------------ direction


@pytest.mark.parametrize("name", [n for n in GENES + DRUGS + CONDITIONS if n not in CA_ENTRIES])
def test_direction_lowers_serum(name, baseline):
    e = CAT.entries[name]
    genotype = CAT.entries[name].patient_genotype
    s = steady(_input(e, genotype))
    if name in RAISES_AT_STEADY:
        assert s["serum_mg_total_mM"] > baseline["serum_mg_total_mM"], name
    elif name in AWAITING_CALCIUM:
        assert s["serum_mg_total_mM"] == pytest.approx(baseline["serum_mg_total_mM"], abs=0.03), name
    elif name in NEUTRAL_AT_STEADY:
        # redistribution: no depletion at steady state; the ionised level is kept by the kidney
        assert s["serum_mg_ionized_mM"] == pytest.approx(baseline["serum_mg_ionized_mM"], abs=0.01)
        assert s["body_mg_mmol"] >= baseline["body_mg_mmol"] - 1.0
    else:  # second edition: a single mild hit moves serum by ~0.01 mM (Kieboom 2015, 2018)
        assert s["serum_mg_total_mM"] < baseline["serum_mg_total_mM"] - 0.005, name


@pytest.mark.parametrize("name", [n for n in TREATMENTS if n != "iv_magnesium_sulfate" and n not in CA_ENTRIES])
def test_oral_treatments_raise_serum(name, baseline):
    amount = "20 g/day" if name == "inulin" else "400 mg/day"
    s = steady(treatment=name, amount=amount)
    # inulin raises absorption; the store-driven kidney hands most of the gain back (second edition)
    assert s["serum_mg_total_mM"] > baseline["serum_mg_total_mM"] + (0.002 if name == "inulin" else 0.005)


def test_iv_magnesium_raises_serum(baseline):
    s = mgflux.steady_state(_scenario(treatments=[{"name": "iv_magnesium_sulfate", "rate": "10 mmol/day"}]))
    assert s["serum_mg_total_mM"] > baseline["serum_mg_total_mM"] + 0.05


def test_salt_availability_order():
    """Per mg of elemental Mg: oxide (poorly soluble) < chloride <= citrate, gluconate (Firoz & Graber 2001)."""
    s = {n: steady(treatment=n, amount="400 mg/day")["serum_mg_total_mM"]
         for n in ("magnesium_oxide", "magnesium_chloride", "magnesium_citrate", "magnesium_gluconate")}
    assert s["magnesium_oxide"] < s["magnesium_chloride"] <= s["magnesium_citrate"] + 1e-9
    assert s["magnesium_gluconate"] >= s["magnesium_chloride"]


def test_high_oral_dose_causes_diarrhoea():
    """Above the UL (350 mg/day) the laxative effect speeds colonic transit; negligible below it."""
    e = CAT.entries["magnesium_oxide"]
    transit = {p: m for p, m, _ in e.modifiers(40.0)}["faecal_transit_factor"]
    low = {p: m for p, m, _ in e.modifiers(8.0)}["faecal_transit_factor"]
    assert transit > 1.5 and low < 1.05


def test_inulin_relieves_ppi_hypomagnesemia():
    base = steady(("ppi", "dose", 1.0), ("thiazide", "dose", 1.0))
    treated = steady(("ppi", "dose", 1.0), ("thiazide", "dose", 1.0), treatment="inulin", amount="20 g/day")
    assert treated["serum_mg_total_mM"] > base["serum_mg_total_mM"] + 0.002
    assert treated["fractional_absorption_percent"] > base["fractional_absorption_percent"] + 2


# ----------------------------------------------------------------------------------------- calibration


def _in(value, lo_hi, tol=0.0):
    return lo_hi[0] - tol <= value <= lo_hi[1] + tol


@pytest.mark.parametrize("name", sorted(n for n in CAT.entries if CAT.entries[n].targets))
def test_targets_met(name):
    """Every entry's calibration targets (genes: patients' genotype; drugs/conditions: standard dose)."""
    e = CAT.entries[name]
    genotype = CAT.entries[name].patient_genotype
    s = steady(_input(e, genotype))
    for readout, rng in e.targets.items():
        if name in KNOWN_MISSES:
            lo, hi = rng
            assert lo - KNOWN_MISS_MARGIN <= s[readout] <= hi + KNOWN_MISS_MARGIN, f"{name}: {readout} = {s[readout]:.3f}"
            continue
        assert _in(s[readout], rng), f"{name}: {readout} = {s[readout]:.3f}, target {rng}"


@pytest.mark.parametrize("name", sorted(set(GENES) - AWAITING_CALCIUM - CA_ENTRIES))
def test_heterozygous_milder(name):
    hom = steady(_input(CAT.entries[name], "homozygous"))["serum_mg_total_mM"]
    het = steady(_input(CAT.entries[name], "heterozygous"))["serum_mg_total_mM"]
    if name == "CASR":  # gain of function: homozygous more active
        assert CAT.entries[name].homozygous_activity > CAT.entries[name].heterozygous_activity
    assert het > hom + 0.005, f"{name}: heterozygous {het:.3f} not milder than homozygous {hom:.3f}"


@pytest.mark.parametrize("name", sorted(n for n in GENES if n not in DOMINANT))
def test_recessive_carriers_near_normal(name):
    """Heterozygous carriers of recessive variants are mostly normal or mildly low."""
    het = steady(_input(CAT.entries[name], "heterozygous"))["serum_mg_total_mM"]
    assert het > 0.7


# ----------------------------------------------------------------------------------- FEMg signature


RENAL = sorted(n for n in GENES + DRUGS + CONDITIONS
               if CAT.entries[n].mechanism in RENAL_KINDS and n not in NEUTRAL_AT_STEADY | RAISES_AT_STEADY | AWAITING_CALCIUM)


@pytest.mark.parametrize("name", RENAL)
def test_renal_causes_waste(name, baseline):
    """Renal causes: FEMg stays high (above the healthy value, > ~3.5%) although serum Mg fell."""
    e = CAT.entries[name]
    s = steady(_input(e, e.patient_genotype))
    assert s["serum_mg_total_mM"] < baseline["serum_mg_total_mM"]
    assert s["femg_percent"] > max(3.5, baseline["femg_percent"]), f"{name}: FEMg {s['femg_percent']:.2f}%"


@pytest.mark.parametrize("name", sorted(INTESTINAL))
def test_intestinal_causes_conserve(name, baseline):
    """Intestinal and intake causes: the kidney conserves (FEMg well below the healthy 3.4%, < 2% once
    hypomagnesaemic; urine Mg down)."""
    s = steady(_input(CAT.entries[name]))
    assert s["femg_percent"] < 0.85 * baseline["femg_percent"], f"{name}: FEMg {s['femg_percent']:.2f}%"
    if s["serum_mg_total_mM"] < 0.75:
        assert s["femg_percent"] < 2.0, f"{name}: FEMg {s['femg_percent']:.2f}%"
    assert s["urine_mg_mmol_per_day"] < baseline["urine_mg_mmol_per_day"]


def test_intestinal_defect_alone_mostly_compensated():
    assert steady(("ppi", "dose", 1.0))["serum_mg_total_mM"] > 0.75


# -------------------------------------------------------------------------------------- combinations


@pytest.mark.parametrize("second", [("thiazide", "dose", 1.0), ("calcineurin_inhibitor", "dose", 1.0),
                                    ("TRPM6", "genotype", "heterozygous"), ("older_age", "dose", 1.0)])
def test_two_hits_worse_than_each(second):
    # second edition: two mild hits add up (the compensator takes each); a hit on the compensator (CNI) makes the
    # intestinal loss bite much harder. (The loop diuretic is no second hit at steady state: models/README.md.)
    ppi = ("ppi", "dose", 1.0)
    alone = min(steady(ppi)["serum_mg_total_mM"], steady(second)["serum_mg_total_mM"])
    both = steady(ppi, second)["serum_mg_total_mM"]
    assert both < alone - 0.005, f"PPI + {second[0]}: {both:.3f} vs best single {alone:.3f}"
    if second[0] == "calcineurin_inhibitor":
        assert both < alone - 0.03


def test_ppi_plus_thiazide_adds_up():
    # Kieboom 2015 / 2018: each shifts the population mean by ~0.01-0.02 mM; together about the sum
    base = steady()["serum_mg_total_mM"]
    d_ppi = steady(("ppi", "dose", 1.0))["serum_mg_total_mM"] - base
    d_thz = steady(("thiazide", "dose", 1.0))["serum_mg_total_mM"] - base
    d_both = steady(("ppi", "dose", 1.0), ("thiazide", "dose", 1.0))["serum_mg_total_mM"] - base
    assert d_both < min(d_ppi, d_thz) and d_both == pytest.approx(d_ppi + d_thz, abs=0.01)


# ------------------------------------------------------------------------------------- dose-response


@pytest.mark.parametrize("name", sorted(set(DRUGS) - NEUTRAL_AT_STEADY - CA_ENTRIES))
def test_drug_dose_response_monotone(name):
    values = [steady((name, "dose", d))["serum_mg_total_mM"] for d in (0.25, 1.0, 3.0)]
    if name in RAISES_AT_STEADY:  # post-diuretic DCT hypertrophy grows with dose
        assert values[0] < values[1] < values[2], f"{name}: {values}"
    else:
        assert values[0] > values[1] > values[2], f"{name}: {values}"


@pytest.mark.parametrize("name", ["beta_agonist", "salbutamol", "epinephrine"])
def test_beta_agonist_stimulation_monotone(name):
    """Beta-agonists act through the model's stimulation (receptors, NEFA, cell shift): it rises with dose."""
    e = CAT.entries[name]
    stim = [{p: a for p, _, a in e.modifiers(d)}["beta_adrenergic_stimulation"] for d in (0.25, 1.0, 3.0)]
    assert 0 < stim[0] < stim[1] < stim[2]


def test_drug_dose_as_quantity():
    rel = steady(("omeprazole", "dose", 2.0))["serum_mg_total_mM"]
    q = steady(("omeprazole", "dose", "40 mg/day"))["serum_mg_total_mM"]
    assert q == pytest.approx(rel, abs=1e-9)


def test_class_entry_matches_representative_member():
    for cls, member in [("ppi", "omeprazole"), ("thiazide", "hydrochlorothiazide"), ("loop_diuretic", "furosemide"),
                        ("calcineurin_inhibitor", "tacrolimus"), ("egfr_antibody", "cetuximab"),
                        ("aminoglycoside", "gentamicin"), ("beta_agonist", "salbutamol")]:
        assert CAT.entries[cls].mechanism == CAT.entries[member].mechanism
        assert steady((cls, "dose", 1.0))["serum_mg_total_mM"] == pytest.approx(
            steady((member, "dose", 1.0))["serum_mg_total_mM"], abs=1e-6)


def test_tacrolimus_stronger_than_cyclosporine():
    assert steady(("tacrolimus", "dose", 1.0))["serum_mg_total_mM"] < steady(("cyclosporine", "dose", 1.0))["serum_mg_total_mM"] - 0.03


# -------------------------------------------------------------------------------------- time behaviour


def _at(run, day, key="serum_mg_total_mM"):
    return float(np.interp(day, run.time_day, run[key]))


def test_cetuximab_progressive_then_recovers():
    run = mgflux.simulate(SCENARIOS / "combinations" / "cetuximab_course_with_stop.toml")
    s1, s3, s6 = (_at(run, d) for d in (44, 104, 196))
    # second edition: the typical patient falls by ~0.06 mM over the first months and stays there (the EGFR antibody
    # is calibrated to the Table 2 incidence, 20-30% below 0.7 mM: the tail, tests/test_incidence.py)
    assert BASELINE_SERUM - 0.02 > s1 > s3 - 0.001 and s3 >= s6 - 0.001 and s6 < 0.80
    assert _at(run, 196 + 42) > 0.83  # recovers within ~6 weeks of stopping


def test_ppi_conserves_at_once_and_shifts_little():
    run = mgflux.simulate(SCENARIOS / "drugs" / "omeprazole.toml")
    final = _at(run, 365)
    # Second edition: the kidney conserves at once and the typical user's serum falls ~0.01 mM (Kieboom 2015), within
    # about a week. The clinical course over months to years (excess risk after >= 6 months) is not reproduced:
    # models/README.md, still missed.
    assert _at(run, 37, "urine_mg_mmol_per_day") < 0.75 * _at(run, 29, "urine_mg_mmol_per_day")
    assert 0.003 < BASELINE_SERUM - final < 0.02
    assert _at(run, 90) >= final - 1e-4


def test_loop_diuretic_acute_wasting_then_compensation():
    run = mgflux.simulate(SCENARIOS / "drugs" / "furosemide.toml")
    u_peak, u_late = _at(run, 10, "urine_mg_mmol_per_day"), _at(run, 60, "urine_mg_mmol_per_day")
    assert u_peak > 1.1 * u_late  # the first pulse wastes more Mg than a pulse after weeks of DCT hypertrophy
    assert any("natriuresis 6 h, then rebound 18 h" in n for n in run.notes)  # daily pulses (issue 10)
    assert _at(run, 60, "dct_mass_relative") > 1.15  # DCT hypertrophy compensates
    assert _at(run, 60, "dct_mass_relative") > _at(run, 12, "dct_mass_relative") + 0.05  # over weeks
    assert _at(run, 120) > BASELINE_SERUM  # users end slightly above non-users (Kieboom 2018)


def test_cisplatin_cumulative_and_persistent():
    run = mgflux.simulate(SCENARIOS / "combinations" / "cisplatin_six_cycles.toml")
    after_1, after_3 = _at(run, 30), _at(run, 72)
    nadir_day = run.time_day[np.argmin(run["serum_mg_total_mM"])]
    assert after_3 < after_1 < BASELINE_SERUM
    assert nadir_day > 90  # worst after several cycles
    assert run["serum_mg_total_mM"].min() < 0.7  # most patients become hypomagnesaemic (70-100%, review Table 2)
    assert _at(run, 230) < BASELINE_SERUM - 0.01  # wasting persists months after the last cycle (day 116)
    assert _at(run, 230, "femg_percent") > 3.36


def test_beta_agonist_transient_dip():
    run = mgflux.simulate(SCENARIOS / "drugs" / "salbutamol.toml")
    ion = run["serum_mg_ionized_mM"]
    window = (run.time_day > 5) & (run.time_day < 7)
    assert ion[window].min() < 0.95 * ion[0]
    assert run["serum_mg_total_mM"][window].min() < run["serum_mg_total_mM"][0] - 0.01


def test_hungry_bone_transient_dip():
    run = mgflux.simulate(SCENARIOS / "conditions" / "hungry_bone_syndrome.toml")
    assert run["serum_mg_total_mM"].min() < 0.75
    assert _at(run, 120) > 0.82
    assert run["bone_pool_mmol"][-1] > run["bone_pool_mmol"][0]


def test_plvap_total_low_ionised_kept(baseline):
    s = steady(("PLVAP", "genotype", "homozygous"))
    drop_total = 1 - s["serum_mg_total_mM"] / baseline["serum_mg_total_mM"]
    drop_ion = 1 - s["serum_mg_ionized_mM"] / baseline["serum_mg_ionized_mM"]
    assert drop_total > 0.15 and drop_ion < drop_total / 3


# ------------------------------------------------------------------------------------------- look-up


@pytest.mark.parametrize("alias,name", [("ppi", "ppi"), ("NCC", "SLC12A3"), ("MT-TI", "mitochondrial"),
                                        ("gitelman", "SLC12A3"), ("albuterol", "salbutamol"), ("trpm6", "TRPM6"),
                                        ("Omeprazole", "omeprazole"), ("IBD", "inflammatory_bowel_disease")])
def test_lookup(alias, name):
    assert CAT.lookup(alias).name == name


@pytest.mark.parametrize("typo,suggestion", [("omeprazol", "omeprazole"), ("TRMP6", "TRPM6"),
                                             ("furosemid", "furosemide"), ("magnesium_oxid", "magnesium_oxide")])
def test_unknown_name_did_you_mean(typo, suggestion):
    with pytest.raises(mgflux.ScenarioError) as exc:
        _scenario([{"name": typo, "dose": 1.0}])
    assert suggestion in str(exc.value)
    assert "did you mean" in str(exc.value).lower()


def test_gene_rejects_dose():
    with pytest.raises(mgflux.ScenarioError):
        _scenario([{"name": "TRPM6", "dose": 1.0}])


def test_casr_activity_range():
    with pytest.raises(mgflux.ScenarioError, match=r"activity = 0.1 is outside the allowed range \[0.2, 5\]"):
        _scenario([{"name": "CASR", "activity": 0.1}])
    # below 1: loss of function (FHH), the mirror: high-normal serum Mg (Marx 1981)
    assert steady(("CASR", "activity", 0.5))["serum_mg_total_mM"] > BASELINE_SERUM


# ------------------------------------------------------------------------------------------ calcium phenotype

# Where the model does not reproduce the literature's Ca direction (models/README.md "Calcium" explains each):
# Loop diuretics: the control edition models a daily dose as the 24-h mean of a short natriuretic pulse (NKCC2
# -10%), so urine Ca rises ~15%, below the 1.2x "high" band (the rise during the pulse is larger).
KNOWN_CA_MISSES = {(n, "urine_ca") for n in ("loop_diuretic", "furosemide", "bumetanide", "torasemide")}
# Cinacalcet in the healthy adult: PTH falls at first, then the lower serum Ca brings it back to -10% at steady
# state (Block 2004's -40% is in secondary hyperparathyroidism, a PTH far above the set point).
KNOWN_CA_MISSES |= {("cinacalcet", "pth")}
CA_PHENOTYPE_ENTRIES = sorted(n for n, e in CAT.entries.items() if e.ca_phenotype)


def _ca_input(e):
    if e.kind == "treatment":
        if e.element == "Ca":
            return None, "1000 mg/day"
        return None, "1 ug/day"  # calcitriol: the upper usual dose (0.25-1 ug/day)
    return _input(e, e.patient_genotype), None


def test_every_central_entry_has_a_ca_phenotype():
    for n in ("TRPM6", "CLDN16", "CLDN19", "CASR", "SLC12A3", "KCNJ10", "HNF1B", "FAM111A", "GATA3", "thiazide",
              "loop_diuretic", "furosemide", "calcium_carbonate", "calcium_citrate", "calcitriol", "cinacalcet",
              "hypoparathyroidism_postsurgical", "hungry_bone_syndrome"):
        assert CAT.entries[n].ca_phenotype and CAT.entries[n].ca_phenotype["source"].strip(), n


@pytest.mark.parametrize("name", CA_PHENOTYPE_ENTRIES)
def test_ca_phenotype(name, baseline):
    e = CAT.entries[name]
    item, amount = _ca_input(e)
    s = steady(treatment=name, amount=amount) if item is None else steady(item)
    for key, (want, got, ok) in mgflux.ca_phenotype_met(s, baseline, e.ca_phenotype).items():
        if (name, key) in KNOWN_CA_MISSES:
            assert not ok, f"{name}: {key} now {got} as the literature says: remove it from KNOWN_CA_MISSES"
        else:
            assert ok, f"{name}: {key} literature {want}, model {got}"


# ------------------------------------------------------------------------------------------- scenarios


SCENARIO_FILES = sorted(p for p in SCENARIOS.rglob("*.toml"))


def test_one_scenario_per_entry():
    folders = {"gene": "genes", "drug": "drugs", "condition": "conditions", "treatment": "treatments"}
    missing = [f"{folders[e.kind]}/{n}.toml" for n, e in CAT.entries.items()
               if not (SCENARIOS / folders[e.kind] / f"{n}.toml").exists()]
    assert not missing, missing
    combos = {p.stem for p in (SCENARIOS / "combinations").glob("*.toml")}
    assert {"ppi_plus_thiazide", "ppi_plus_trpm6_heterozygous", "tacrolimus_after_transplant", "cisplatin_six_cycles",
            "cetuximab_course_with_stop", "gitelman_on_mg_citrate", "refeeding_after_starvation"} <= combos


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_runs(path):
    run = mgflux.simulate(path)
    assert run.time_day[-1] == pytest.approx(mgflux.load_scenario(path).duration)
    for key in ("serum_mg_total_mM", "serum_mg_ionized_mM", "urine_mg_mmol_per_day", "femg_percent", "body_mg_mmol"):
        v = np.asarray(run[key])
        assert np.all(np.isfinite(v)), f"{path.name}: {key} not finite"
    assert np.all(run["serum_mg_total_mM"] > 0.05) and np.all(run["serum_mg_total_mM"] < 3.0)
    assert math.isfinite(float(run["body_mg_mmol"][-1]))
