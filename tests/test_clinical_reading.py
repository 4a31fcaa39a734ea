"""The clinical reading (models/clinical/reading.toml): grades, symptoms by level, disturbances, associations."""
import json

import pytest

import mgflux
from conftest import SCENARIOS, scenario
from mgflux import clinical_reading, hypomagnesemia_grade, main


@pytest.mark.parametrize("serum, hypo, hyper", [
    (0.85, 0, 0), (0.70, 0, 0), (0.69, 1, 0), (0.50, 1, 0), (0.49, 2, 0), (0.40, 2, 0), (0.39, 3, 0),
    (0.30, 3, 0), (0.29, 4, 0), (0.10, 4, 0), (1.05, 0, 0), (1.06, 0, 1), (1.23, 0, 1), (1.24, 0, 3),
    (3.30, 0, 3), (3.31, 0, 4)])
def test_ctcae_grades_at_their_edges(serum, hypo, hyper):
    r = clinical_reading(serum)
    assert r["hypomagnesemia_grade"] == hypo
    assert r["hypermagnesemia_grade"] == hyper
    # the reading's hypo grade is the model's own readout definition
    assert hypomagnesemia_grade(serum) == hypo


def test_normal_level_has_no_symptoms_and_says_why():
    r = clinical_reading(0.85)
    assert r["expected_symptoms"] == [] and r["associations"] == [] and r["associated_disturbances"] == []
    assert "not a diagnosis" in r["caveat"]
    assert any("stores" in n["note"] for n in r["notes"])


def test_symptoms_grow_with_severity_and_carry_sources():
    counts = []
    for serum in (0.65, 0.45, 0.35, 0.25):
        r = clinical_reading(serum)
        for s in r["expected_symptoms"]:
            assert s["source"].strip() and s["evidence"].strip()
        counts.append(len(r["expected_symptoms"]))
        text = " ".join(s["symptom"] for s in r["expected_symptoms"])
        if serum >= 0.5:  # grade 1: often none; no seizures attributed
            assert "often none" in text and "seizure" not in text
        else:
            assert "seizure" in text and "arrhythmia" in text and "often none" not in text
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_depression_is_an_association_with_its_evidence_level():
    r = clinical_reading(0.6)
    dep = [a for a in r["associations"] if a["association"].startswith("depression")]
    assert {a["evidence"] for a in dep} == {"observational", "small trials"}
    assert all("Veronese" in a["source"] for a in dep)
    assert not any("depress" in s["symptom"] for s in r["expected_symptoms"])  # never a predicted effect


def test_hypermagnesaemia_reading():
    r = clinical_reading(2.6)
    assert r["hypermagnesemia_grade"] == 3 and r["hypomagnesemia_grade"] == 0
    text = " ".join(s["symptom"] for s in r["expected_symptoms"])
    assert "reflexes" in text and "hypotension" in text and "asystole" not in text
    assert any("PTH" in d["disturbance"] for d in r["associated_disturbances"])


def test_disturbances_use_model_readouts_when_present():
    with_ca = clinical_reading({"serum_mg_total_mM": 0.3, "serum_ca_total_mM": 1.9, "hypocalcemia_grade": 2})
    ca = next(d for d in with_ca["associated_disturbances"] if d["disturbance"].startswith("hypocalcaemia"))
    assert ca["model"] == {"serum_ca_total_mM": 1.9, "hypocalcemia_grade": 2} and ca["shown_by_model"] is True
    k = next(d for d in with_ca["associated_disturbances"] if d["disturbance"].startswith("hypokalaemia"))
    assert k["model"] is None and "no serum_k_mM readout" in k["note"]


def test_every_statement_has_source_and_evidence():
    data = mgflux.clinical_reading_data()
    for kind in ("symptom", "disturbance", "association"):
        assert data[kind]
        for s in data[kind]:
            assert s["source"].strip() and s["evidence"] in (
                "classification", "clinical review", "observational", "small trials"), s


def test_bad_input_is_a_clear_error():
    with pytest.raises(mgflux.MgfluxError, match="serum_mg_total_mM"):
        clinical_reading({"urine_mg_mmol_per_day": 4.0})
    with pytest.raises(mgflux.MgfluxError, match="needs a steady or run result"):
        clinical_reading("0.5")


def test_steady_json_carries_the_reading_of_a_severe_gene(capsys):
    assert main(["steady", str(SCENARIOS / "genes" / "TRPM6.toml"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    r = obj["clinical_reading"]
    assert r["hypomagnesemia_grade"] == obj["hypomagnesemia_grade"] >= 2
    assert r["expected_symptoms"] and "caveat" in r


def test_run_text_and_json_read_the_final_state(capsys):
    sc = SCENARIOS / "healthy.toml"
    assert main(["run", str(sc)]) == 0
    out = capsys.readouterr().out
    assert "Clinical reading" in out and "not a diagnosis" in out
    res = mgflux.simulate(scenario('[[perturbation]]\nname = "cisplatin"\ndose = 1.0\n', duration="120 day"))
    r = clinical_reading(res)
    assert r["serum_mg_total_mM"] == pytest.approx(res.final["serum_mg_total_mM"])
    assert r["course"]["min_serum_mg_total_mM"] <= r["serum_mg_total_mM"]
