"""The simulated IV Mg tolerance test (physiology.md "Control"; DESIGN.md `mgflux loading-test`)."""
import json

import pytest

import mgflux
from conftest import SCENARIOS, scenario
from mgflux import interpret_retention, main

MG_FREE = '[[perturbation]]\nname = "mg_free_diet"\ndose = 1.0\n'


def test_replete_adult_retains_little():
    r = mgflux.loading_test(SCENARIOS / "healthy.toml")
    # Gullestad 1994: 6 +- 10 %, reference up to ~20 %
    assert 0 <= r.retention_percent <= 20
    assert r.interpretation.startswith("no deficiency")
    assert r.baseline_urine_24h_mmol == pytest.approx(r.urine_24h_mmol - r.dose_mmol * (1 - r.retention_percent / 100))
    # the infused Mg raises serum during the infusion and it falls back within the day
    assert r.serum_peak_mM > r.serum_before_mM + 0.2 and r.serum_24h_mM < r.serum_peak_mM
    # excess urine is cumulative and ends at the excreted share
    assert (r.excess_urine_mmol[1:] >= r.excess_urine_mmol[:-1] - 1e-9).all()
    assert r.excess_urine_mmol[-1] == pytest.approx(r.dose_mmol * r.excreted_percent / 100, rel=1e-6)
    df = r.dataframe()
    assert list(df.columns[1:]) == ["time_hour", "serum_mg_total_mM", "excess_urine_mmol"] and df.time_hour.iloc[-1] == 24


def test_at_a_time_of_an_unperturbed_course_equals_steady():
    a = mgflux.loading_test(SCENARIOS / "healthy.toml")
    b = mgflux.loading_test(SCENARIOS / "healthy.toml", at="30 day")
    assert b.at_day == 30 and b.retention_percent == pytest.approx(a.retention_percent, abs=0.05)


def test_retention_rises_with_depletion():
    sc = scenario(MG_FREE, duration="90 day")
    values = [mgflux.loading_test(sc, at=f"{d} day").retention_percent for d in (0, 20, 60)]
    assert values[0] < values[1] < values[2]


def test_depleted_after_60_days_mg_free_retains_more_than_half():
    r = mgflux.loading_test(scenario(MG_FREE, duration="90 day"), at="60 day")
    assert r.retention_percent >= 50  # Ryzen 1985; IOM 1997: > 50 % = deficiency
    assert r.interpretation.startswith("Mg deficiency")


def test_depletion_shows_before_serum_falls():
    sc = scenario(MG_FREE, duration="90 day")
    for d in range(5, 61, 5):
        r = mgflux.loading_test(sc, at=f"{d} day")
        if r.serum_before_mM >= 0.75 and r.retention_percent > 20:
            return
    pytest.fail("no day with normal serum (>= 0.75 mM) and retention > 20 %")


def test_interpretation_thresholds():
    assert interpret_retention(50.5).startswith("Mg deficiency")
    assert interpret_retention(50.0).startswith("possible") and interpret_retention(20.0).startswith("possible")
    assert interpret_retention(19.9).startswith("no deficiency")


def test_per_kg_protocol_scales_with_patient_weight():
    r70 = mgflux.loading_test(SCENARIOS / "healthy.toml", protocol="0.1mmol/kg-4h")
    assert r70.dose_mmol == pytest.approx(7.0) and r70.duration_hour == 4 and r70.weight_kg == 70
    assert any("70 kg adult" in n for n in r70.notes)
    # a scenario with a [patient]: its weight scales the dose
    child = mgflux.load_scenario(SCENARIOS / "patients" / "child_8_years.toml")
    r = mgflux.loading_test(child, protocol="0.1mmol/kg-4h")
    assert r.weight_kg == pytest.approx(child.patient.weight_kg) and r.weight_kg < 40
    assert r.dose_mmol == pytest.approx(0.1 * r.weight_kg)


def test_bad_input_is_a_clear_error(capsys):
    for args, msg in ((["--dose", "30"], "cannot be converted to 'mmol'"),
                      (["--duration", "30 hour"], "at most 24 hour"),
                      (["--dose", "2 mol"], "far above any protocol"),
                      (["--at", "3 mmol"], "cannot be converted to 'day'")):
        assert main(["loading-test", str(SCENARIOS / "healthy.toml"), *args]) == 2
        assert msg in capsys.readouterr().err


def test_cli_json_equals_to_dict(capsys):
    assert main(["loading-test", str(SCENARIOS / "healthy.toml"), "--json", "--at", "10 day"]) == 0
    obj = json.loads(capsys.readouterr().out)
    ref = mgflux.loading_test(SCENARIOS / "healthy.toml", at="10 day").to_dict()
    assert obj.keys() == ref.keys()
    assert obj["retention_percent"] == pytest.approx(ref["retention_percent"])
    assert obj["interpretation"] == ref["interpretation"]
    assert main(["loading-test", str(SCENARIOS / "healthy.toml")]) == 0
    assert "retention_percent" in capsys.readouterr().out
