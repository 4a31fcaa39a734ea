"""Drug incidences of hypomagnesemia in virtual populations against review Table 2 (issue 4:
`mgflux population --all-drugs`), and the population levers behind them: per-entry exposure CVs and the risk
factors of the treated patients ([[cohort.DRUG.risk_factor]] in models/population.toml)."""
from pathlib import Path

import numpy as np
import pytest

import mgflux
from mgflux import MgfluxError, get_model, scenario_from_dict

MODELS = Path(__file__).resolve().parents[1] / "models"

# Second edition (issue 10): with a store-driven compensator single mild drugs shift the population mean as in the
# Rotterdam cohorts (tests/test_control.py) and produce few cases in healthy adults. Inside Table 2: the drugs that hit
# the compensator or injure the tubule (EGFR antibodies and aminoglycosides recalibrated; calcineurin inhibitors,
# cisplatin, amphotericin B without retuning), the beta-agonists (through the NEFA states), the loop diuretics, and,
# through the treated cohorts of models/population.toml (ALLHAT for thiazides, long-term users for PPIs), thiazides and
# PPIs. Outside, below their range (models/README.md, Still missed 1): indapamide (weaker than HCTZ in the same cohort),
# digoxin and sirolimus (no sourced cohort that carries their second hits in the model).
THIAZIDES = ("thiazide", "hydrochlorothiazide", "chlorthalidone", "indapamide")
PPIS = ("ppi", "omeprazole", "esomeprazole", "pantoprazole", "lansoprazole")
INSIDE = ("cetuximab", "egfr_antibody", "panitumumab", "cisplatin", "amphotericin_b", "gentamicin", "amikacin",
          "tobramycin", "aminoglycoside", "tacrolimus", "cyclosporine", "calcineurin_inhibitor", "salbutamol",
          "terbutaline", "beta_agonist", "epinephrine", "furosemide", "bumetanide", "torasemide", "loop_diuretic",
          "thiazide", "hydrochlorothiazide", "chlorthalidone") + PPIS
OUTSIDE_MILD = ("indapamide", "digoxin", "sirolimus")


@pytest.fixture(scope="module")
def table():
    # the numbers of models/population.toml and models/README.md: 2000 per drug, seed 0 (~20 s)
    return {r["drug"]: r for r in mgflux.drug_incidence_table(2000, seed=0)}


@pytest.mark.slow
def test_most_drugs_fall_inside_their_reported_range(table):
    inside = sorted(d for d, r in table.items() if r["inside"])
    assert len(table) == 31
    assert len(inside) >= 28, f"only {len(inside)} inside: {inside}"
    for d in INSIDE:
        assert table[d]["inside"], (d, table[d]["simulated_percent"], table[d]["reported_range"])
    assert sorted(set(table) - set(inside)) == sorted(OUTSIDE_MILD)
    for d in OUTSIDE_MILD:  # below the range, not above: the single mild drug is compensated (a known miss)
        assert table[d]["simulated_percent"] < table[d]["reported_range"][0], d


def test_beta_agonist_total_fall_matches_its_sources():
    # Bodenhamer 1992: nebulised salbutamol 2.5 mg every 30 min, total serum Mg -10% at 90 min, -15% at 180 min;
    # Ryzen 1990: adrenaline 0.1 ug/kg/min for 2 h, -12%. Then recovery within a day (Bai 2013) on ward dosing.
    run = mgflux.load_scenario(mgflux.drug_scenario_file("salbutamol"))
    from mgflux import simulate

    r = simulate(run)
    t, tot = r.time_day, r["serum_mg_total_mM"]
    base = tot[np.searchsorted(t, 4.9)]
    fall = lambda h: 1 - tot[np.searchsorted(t, 5 + h / 24 - 1e-9)] / base
    assert 0.07 < fall(1.5) < 0.14 and 0.11 < fall(3) < 0.18
    assert fall(24) < 0.08  # recovering on the ward regimen
    sc = scenario_from_dict({"scenario": {"name": "adrenaline", "duration": "2 day", "sample_every": "15 minute"},
                             "perturbation": [{"name": "epinephrine", "dose": 1.0, "start": "1 day",
                                               "stop": f"{1 + 2 / 24} day"}]}, where="test")
    r = simulate(sc)
    t, tot = r.time_day, r["serum_mg_total_mM"]
    assert 0.08 < 1 - tot[np.searchsorted(t, 1 + 2 / 24 - 1e-9)] / tot[0] < 0.16


@pytest.mark.slow
def test_torasemide_as_furosemide(table):
    # Dodion 1986: equal Mg excretion at equal drug levels; no source for a stronger effect
    assert table["torasemide"]["simulated_percent"] == pytest.approx(table["furosemide"]["simulated_percent"], abs=0.5)


@pytest.mark.slow
def test_panitumumab_above_cetuximab_and_severe_cases_rare(table):
    # Petrelli 2012: panitumumab > cetuximab; both are mostly grade 1 (a calibration to the all-grade incidence)
    assert table["panitumumab"]["simulated_percent"] > table["cetuximab"]["simulated_percent"]
    sc = mgflux.load_scenario(mgflux.drug_scenario_file("cetuximab"))
    pr = mgflux.population(sc, 1000, 0, days=sc.duration)
    g = pr.nadir_grade_distribution()
    assert g[3] + g[4] < 0.05  # grade 3/4 (< 0.4 mM): 3.9% in the meta-analysis of Chen 2013


@pytest.mark.slow
def test_cisplatin_incidence_grows_with_cycles_and_amphotericin_with_course_length(table):
    # the shipped courses (4 cisplatin cycles, 2 weeks of amphotericin B) are what the table uses; both drugs
    # injure cumulatively, so a shorter course gives fewer cases
    cis3 = _three_cycles()
    pr = mgflux.population(cis3, 1000, 0, days=cis3.duration)
    assert 100 * pr.nadir_incidence < table["cisplatin"]["simulated_percent"]
    assert table["amphotericin_b"]["course"].startswith("amphotericin_b.toml: days 10-24")


def _three_cycles():
    import tomllib

    path = mgflux.drug_scenario_file("cisplatin")
    raw = tomllib.loads(path.read_text())
    raw["perturbation"] = raw["perturbation"][:3]
    return scenario_from_dict(raw, where="test")


def test_digoxin_cohort_is_the_second_hit():
    spec = mgflux.load_population_spec()
    cohort = spec.cohorts["digoxin"]
    assert [r.name for r in cohort] == ["loop_diuretic", "older_age"] and 0.5 < cohort[0].prevalence <= 1
    assert cohort[1].dose == pytest.approx((63 - 30) / 45, abs=0.01)  # DIG trial: mean age 63
    alone = mgflux.drug_incidence_table(1000, seed=0, drugs=["digoxin"],
                                        spec=mgflux.PopulationSpec(spec.parameters, spec.drug_cv))[0]
    treated = mgflux.drug_incidence_table(1000, seed=0, drugs=["digoxin"], spec=spec)[0]
    # second edition: a loop diuretic is no second hit at steady state (users' serum is slightly higher, Kieboom
    # 2018), so the DIG-trial cohort (its age included) stays far below 10-20% (models/README.md: digoxin outside)
    assert alone["simulated_percent"] < 10 and treated["simulated_percent"] < 10
    assert "loop_diuretic in 80%" in treated["note"]


def test_cohort_keeps_the_same_persons_and_draws_its_prevalence():
    spec = mgflux.load_population_spec()
    sc = scenario_from_dict({"scenario": {"name": "digoxin"}, "perturbation": [{"name": "digoxin", "dose": 1.0}]},
                            where="test")
    rf = mgflux.RiskFactor("loop_diuretic", 1.0, 0.3, "test")
    f0, X0, e0 = mgflux.population_design(sc, 4000, 3, spec)
    f1, X1, e1 = mgflux.population_design(sc, 4000, 3, spec, cohort=(rf,))
    assert np.array_equal(X0, X1[:, :-1]) and np.array_equal(e0, e1)
    assert f1[-1].name == "loop_diuretic.dose"
    assert set(np.unique(X1[:, -1])) == {0.0, 1.0}
    assert abs(np.mean(X1[:, -1]) - 0.3) < 0.03


def test_a_risk_factor_in_classes_draws_each_class_by_its_share():
    spec = mgflux.load_population_spec()
    sc = scenario_from_dict({"scenario": {"name": "ppi"}, "perturbation": [{"name": "omeprazole", "dose": 1.0}]},
                            where="test")
    rf = mgflux.RiskFactor("older_age", 0.5, 0.8, "test", (0.2, 1.0), (0.75, 0.25))
    f, X, _ = mgflux.population_design(sc, 20000, 4, spec, cohort=(rf,))
    col = X[:, -1]
    assert set(np.unique(col)) == {0.0, 0.2, 1.0}
    assert np.mean(col == 0) == pytest.approx(0.2, abs=0.015)
    assert np.mean(col == 1.0) == pytest.approx(0.8 * 0.25, abs=0.015)


def test_per_entry_exposure_cv_keeps_the_quantile():
    spec = mgflux.load_population_spec()
    sc = scenario_from_dict({"scenario": {"name": "two drugs"}, "perturbation": [
        {"name": "torasemide", "dose": 1.0}, {"name": "omeprazole", "dose": 1.0}]}, where="test")
    own = mgflux.PopulationSpec(spec.parameters, spec.drug_cv, None, {"torasemide": 0.2})
    f, X, _ = mgflux.population_design(sc, 20000, 1, own)
    names = [x.name for x in f]
    tor, ome = X[:, names.index("torasemide.dose")], X[:, names.index("omeprazole.dose")]
    assert np.std(tor) / np.mean(tor) == pytest.approx(0.2, abs=0.02)
    assert np.std(ome) / np.mean(ome) == pytest.approx(spec.drug_cv, abs=0.05)
    assert np.array_equal(np.argsort(tor), np.argsort(ome))  # the same person is the high-exposure one


@pytest.mark.parametrize("text, message", [
    ('[[cohort.digoxin.risk_factor]]\nname = "loop_diuretc"\nprevalence = 0.8\nsource = "x"\n', "loop_diuretic"),
    ('[[cohort.digoxin.risk_factor]]\nname = "loop_diuretic"\nprevalence = 1.5\nsource = "x"\n', "prevalence"),
    ('[[cohort.digoxin.risk_factor]]\nname = "loop_diuretic"\nprevalence = 0.8\n', "source"),
    ('[drug_response.per_entry.torasemide]\ncv = 0.3\n', "source"),
    ('[cohort.omeprazole]\nsame_as = "ppi"\n', "has no"),
    ('[[cohort.ppi.risk_factor]]\nname = "older_age"\nprevalence = 1\ndoses = [0.5, 1]\nshares = [0.5, 0.4]\n'
     'source = "x"\n', "add up to 1"),
    ('[[cohort.ppi.risk_factor]]\nname = "older_age"\nprevalence = 1\ndoses = [0.5, 1]\nsource = "x"\n', "together"),
    ('[[cohort.ppi.risk_factor]]\nname = "older_age"\nprevalence = 1\ndoses = [0.5, 1]\nshares = [1]\n'
     'source = "x"\n', "2 doses but 1 shares"),
    ('[cohort.omeprazole]\nsame_as = "pp"\n', "ppi"),
    ('[[cohort.ppi.risk_factor]]\nname = "older_age"\nprevalence = 1\nsource = "x"\n'
     '[cohort.omeprazole]\nsame_as = "ppi"\n[[cohort.omeprazole.risk_factor]]\nname = "diabetes"\nprevalence = 1\n'
     'source = "x"\n', "either same_as"),
])
def test_population_file_errors(tmp_path, text, message):
    p = tmp_path / "population.toml"
    p.write_text((MODELS / "population.toml").read_text().split("\n[references]")[0].split("\n[[cohort.")[0] + "\n" + text)
    with pytest.raises(MgfluxError, match=message):
        mgflux.load_population_spec(p, get_model("adult"))


def test_per_entry_cv_without_a_shared_cv_keeps_mean_one():
    spec = mgflux.load_population_spec()
    sc = scenario_from_dict({"scenario": {"name": "t"}, "perturbation": [{"name": "torasemide", "dose": 1.0}]},
                            where="test")
    own = mgflux.PopulationSpec(spec.parameters, 0.0, None, {"torasemide": 0.3})
    f, X, _ = mgflux.population_design(sc, 20000, 2, own)
    tor = X[:, [x.name for x in f].index("torasemide.dose")]
    assert np.mean(tor) == pytest.approx(1.0, abs=0.02) and np.std(tor) == pytest.approx(0.3, abs=0.02)


def test_older_age_conserves_renally_and_keeps_serum():
    # third round: older_age without the unsourced renal TRPM6 loss; adult serum Mg changes little with age
    # (Lowenstein 1986, NHANES I). (Second edition: the elderly's higher IV-load retention, Gullestad 1994, points to
    # smaller stores, not to better conservation.)
    from mgflux import steady_state

    def run(*p):
        sc = scenario_from_dict({"scenario": {"name": "t"}, "diet": {"mg_intake": "300 mg/day"},
                                 "perturbation": [{"name": n, "dose": 1.0} for n in p]}, where="test")
        return steady_state(sc)

    young, old = run(), run("older_age")
    assert 0.8 <= old["serum_mg_total_mM"] <= 0.9
    assert old["urine_mg_mmol_per_day"] < young["urine_mg_mmol_per_day"]
    assert old["reabsorbed_dct_percent"] >= young["reabsorbed_dct_percent"] - 0.5  # no DCT defect


def test_treated_cohorts_describe_the_patients_of_table_2():
    # thiazides: ALLHAT (mean age 66.9 y, diabetes 41.6%, eGFR < 60 in 18%); PPIs: maintenance users (mean age ~61,
    # diabetes 13.6-26.6%); members share their class's patients (same_as); every prevalence has a source
    cohorts = mgflux.load_population_spec().cohorts
    thz = {r.name: r for r in cohorts["thiazide"]}
    assert set(thz) == {"older_age", "diabetes", "chronic_kidney_disease"}
    assert thz["older_age"].prevalence == 1 and thz["older_age"].dose == pytest.approx((66.9 - 30) / 45, abs=0.01)
    assert len(thz["older_age"].doses) == 5 and sum(thz["older_age"].shares) == pytest.approx(1)  # ages in quintiles
    assert thz["diabetes"].prevalence == pytest.approx(0.416) and 0.1 < thz["chronic_kidney_disease"].prevalence < 0.25
    ppi = {r.name: r for r in cohorts["ppi"]}
    assert set(ppi) == {"older_age", "diabetes"}
    assert ppi["older_age"].dose == pytest.approx((61 - 30) / 45, abs=0.01) and 0.136 <= ppi["diabetes"].prevalence <= 0.266
    for d in THIAZIDES:
        assert cohorts[d] == cohorts["thiazide"], d
    for d in PPIS:
        assert cohorts[d] == cohorts["ppi"], d
    assert [r.name for r in cohorts["digoxin"]] == ["loop_diuretic", "older_age"] and "sirolimus" not in cohorts
    assert all(r.source.strip() for rfs in cohorts.values() for r in rfs)


@pytest.mark.slow
def test_in_the_treated_cohort_the_drug_raises_the_odds_as_in_rotterdam():
    # the cohort carries the tail (older, diabetic patients); the drug multiplies its risk: Kieboom 2018 OR 3.1 for
    # thiazides, Kieboom 2015 OR 2.0 (3.0 after >= 6 months) for PPIs. The model gives ~3-4 for both.
    spec = mgflux.load_population_spec()
    for drug in ("hydrochlorothiazide", "omeprazole"):
        cohort = spec.cohorts[drug]
        def incidence(with_drug):
            p = [{"name": drug, "dose": 1.0}] if with_drug else []
            sc = scenario_from_dict({"scenario": {"name": "t"}, "diet": {"mg_intake": "300 mg/day"},
                                     "perturbation": p + [{"name": r.name, "dose": r.dose} for r in cohort]}, where="test")
            return mgflux.population(sc, 1000, 0, spec=spec, cohort=cohort).incidence
        base, treated = incidence(False), incidence(True)
        odds = lambda x: x / (1 - x)
        assert 0.005 < base < 0.06, (drug, base)  # the untreated cohort: more than healthy 18-65 (0.2%)
        assert 2 < odds(treated) / odds(base) < 8, (drug, base, treated)
