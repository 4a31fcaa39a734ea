"""`[patient]` (issue 10; DESIGN.md "Scenario additions"): age, sex, size and kidney function, with sourced scaling,
checked like every other key; children, infants and patient populations."""
import tomllib

import numpy as np
import pytest

import mgflux
from conftest import SCENARIOS, scenario
from mgflux import Patient, parse_patient


def _patient_scenario(patient: str, extra: str = "", diet: bool = False):
    head = '[scenario]\nname = "p"\nduration = "30 day"\n' + ('[diet]\nmg_intake = "300 mg/day"\n' if diet else "")
    return mgflux.scenario_from_dict(tomllib.loads(head + "[patient]\n" + patient + "\n" + extra), where="<p>")


# ---------------------------------------------------------------------------------------------- scaling


def test_default_adult_patient_is_the_model():
    plain = mgflux.steady_state(scenario())
    adult = mgflux.steady_state(scenario('[patient]\nage = "30 year"\nweight = "70 kg"\n'))
    for k in ("serum_mg_total_mM", "urine_mg_mmol_per_day", "body_mg_mmol", "filtered_load_mmol_per_day"):
        assert adult[k] == pytest.approx(plain[k], rel=1e-9), k


def test_gfr_matures_to_adult_per_173_m2_by_two_years():
    # Rhodin 2009: GFR per 1.73 m2 ~1/3 of adult at term birth, ~90 % by 1 year, adult by ~2 years
    def per173(age):
        p = Patient(age=age)
        return p.normal_gfr_ml_min * 1.73 / p.body_surface_m2

    adult = per173(30.0)
    assert 0.2 < per173(0.0) / adult < 0.5
    assert per173(0.0) < per173(0.25) < per173(1.0) < per173(2.0)
    assert per173(2.0) / adult > 0.85 and per173(8.0) / adult == pytest.approx(1.0, abs=0.15)


def test_body_water_and_pools_scale_with_age_and_size():
    infant, child = Patient(age=4 / 52.18), Patient(age=8.0, sex="female")
    assert infant.ecf_share > 0.35 and child.ecf_share == pytest.approx(0.225, abs=0.03)  # Friis-Hansen 1961
    ss = mgflux.steady_state(_patient_scenario('age = "8 year"\nsex = "female"\nweight = "25 kg"'))
    assert ss.parameters["ecf_volume"] == pytest.approx(25 * child.ecf_share)
    assert ss["body_mg_mmol"] == pytest.approx(1017 * 25 / 70, rel=0.05)  # pools per kg as the adult
    assert 0.70 <= ss["serum_mg_total_mM"] <= 0.95  # children's reference range


def test_creatinine_excretion_scales_with_the_patient():
    adult = mgflux.steady_state(scenario())
    man = mgflux.steady_state(scenario('[patient]\nsex = "male"\nage = "40 year"\nweight = "80 kg"\n'))
    child = mgflux.steady_state(_patient_scenario('age = "8 year"\nweight = "25 kg"'))
    assert 12 < adult.observables["creatinine_excretion"] < 16  # ~1.5 g/day at 70 kg
    assert man.observables["creatinine_excretion"] == pytest.approx(0.212 * 80, rel=0.01)  # 24 mg/kg/day
    assert 2.5 < child.observables["creatinine_excretion"] < 4.5  # Remer 2002: ~0.13-0.15 mmol/kg/day at 8 y


def test_default_intake_is_the_rda_for_children_but_diet_wins():
    child = mgflux.steady_state(_patient_scenario('age = "8 year"'))
    assert child["intake_mmol_per_day"] == pytest.approx(130 / 24.305, rel=1e-6)  # IOM 1997 RDA 4-8 years
    given = mgflux.steady_state(_patient_scenario('age = "8 year"', diet=True))
    assert given["intake_mmol_per_day"] == pytest.approx(300 / 24.305, rel=1e-6)


# ------------------------------------------------------------------------------------ kidney function


def test_egfr_equations():
    # CKD-EPI 2021 (Inker 2021): 60-year-old woman, creatinine 1.0 mg/dL -> ~64 mL/min/1.73 m2
    woman = Patient(age=60.0, sex="female", serum_creatinine=1.0)
    gfr, name = woman.egfr()
    assert gfr * 1.73 / woman.body_surface_m2 == pytest.approx(142 * (1 / 0.7) ** -1.2 * 0.9938 ** 60 * 1.012, rel=1e-9)
    assert "CKD-EPI 2021" in name
    child = Patient(age=8.0, height=128.0, serum_creatinine=0.5)
    gfr, name = child.egfr()
    assert gfr * 1.73 / child.body_surface_m2 == pytest.approx(0.413 * 128 / 0.5, rel=1e-9) and "Schwartz" in name


def test_serum_creatinine_sets_gfr_and_says_which_equation():
    ss = mgflux.steady_state(scenario('[patient]\nage = "60 year"\nsex = "female"\nserum_creatinine = "1.4 mg/dL"\n'))
    assert 40 < ss.parameters["gfr"] / 1.44 < 50  # mL/min
    assert any("CKD-EPI 2021" in n for n in ss.notes)
    mol = mgflux.steady_state(scenario('[patient]\nage = "60 year"\nsex = "female"\nserum_creatinine = "123.8 umol/L"\n'))
    assert mol.parameters["gfr"] == pytest.approx(ss.parameters["gfr"], rel=1e-3)


def test_low_gfr_patient_is_ckd():
    ss = mgflux.steady_state(scenario('[patient]\ngfr = "60 mL/min"\n'))
    assert ss.observables["nephron_number_relative"] == pytest.approx(0.5)
    assert abs(ss["serum_mg_total_mM"] - 0.85) <= 0.03


# ------------------------------------------------------------------------------------ the shipped patients


def test_eight_year_old_healthy_and_with_trpm6():
    child = mgflux.steady_state(SCENARIOS / "patients" / "child_8_years.toml")
    assert 0.70 <= child["serum_mg_total_mM"] <= 0.95
    assert 0.1 < child["urine_mg_mmol_per_day"] < 3.0 and 1.5 < child["femg_percent"] < 5
    sick = mgflux.steady_state(_patient_scenario('age = "8 year"\nsex = "female"',
                                                 '[[perturbation]]\nname = "TRPM6"\n'))
    assert 0.1 <= sick["serum_mg_total_mM"] <= 0.4  # HSH


def test_four_week_old_with_trpm6_deficiency():
    # Schlingmann 2002: presents at a few weeks with seizures, serum 0.1-0.4 mM
    ss = mgflux.steady_state(SCENARIOS / "patients" / "infant_trpm6.toml")
    assert 0.1 <= ss["serum_mg_total_mM"] <= 0.42 and ss["hypomagnesemia_grade"] >= 2
    assert ss.parameters["ecf_volume"] < 2.5 and ss["body_mg_mmol"] < 60
    run = mgflux.simulate(SCENARIOS / "patients" / "infant_trpm6.toml")
    assert np.max(np.abs(run.mass_balance_error())) < 1e-8
    healthy = mgflux.steady_state(_patient_scenario('age = "4 week"'))
    assert 0.70 <= healthy["serum_mg_total_mM"] <= 0.95


def test_population_of_children_centres_on_the_patient():
    from mgflux import population

    pr = population(_patient_scenario('age = "8 year"\nsex = "female"'), 300, 0)
    ecf = pr.batch.factors["ecf_volume"]
    assert np.mean(ecf) == pytest.approx(25 * Patient(age=8.0, sex="female").ecf_share, rel=0.05)
    assert pr.n_ok == 300
    s = pr.batch["serum_mg_total_mM"]
    assert 0.80 < np.median(s) < 0.90


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text,message", [
    ('agee = "8 year"', "Did you mean 'age'"),
    ('age = "8 kg"', "cannot be converted to 'year'"),
    ('age = 8', "needs a unit"),
    ('age = "120 year"', "0 (term newborn) to 110 year"),
    ('sex = "femal"', "Did you mean 'female'"),
    ('weight = "25 L"', "cannot be converted to 'kg'"),
    ('weight = "0.1 kg"', "outside the allowed range"),
    ('gfr = "60 mL/min"\nserum_creatinine = "1 mg/dL"', "not both"),
    ('serum_creatinine = "1 mmol/day"', "neither a mass concentration"),
    ('serum_creatinine = "50 mg/dL"', "outside the allowed range"),
])
def test_patient_errors_name_the_key_and_what_is_allowed(text, message):
    with pytest.raises(mgflux.ScenarioError) as exc:
        _patient_scenario(text)
    assert message in str(exc.value) and "[patient]" in str(exc.value)


def test_implausible_weight_for_age_warns():
    with pytest.warns(UserWarning, match="far from the median"):
        parse_patient({"age": "8 year", "weight": "80 kg"}, "<p>")
