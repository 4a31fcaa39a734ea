"""mgflux diagnose: patient data besides the labs (models/clinical/presentation.toml), P(presentation | cause)."""
import json
import math
import tomllib

import numpy as np
import pytest

import mgflux
from mgflux import main
from mgflux.studies import diagnose as dg  # internals: candidates and their expansion

pr = dg._pres  # internals: profiles, the factor, draws (diagnose_presentation)

DCT_LABS = {"serum_mg_total": "0.55 mM", "femg": 6.0, "urine_mg": "4.5 mmol/day", "urine_ca_creatinine_ratio": 0.1}
FHHNC_LABS = {"serum_mg_total": "0.5 mM", "femg": 8.0, "urine_mg": "5 mmol/day", "urine_ca_creatinine_ratio": 1.2}


@pytest.fixture(scope="module")
def prof():
    return pr.Profiles(mgflux.get_catalogue(mgflux.get_model()))


def test_every_catalogue_gene_has_sourced_presentation_data(prof):
    spec = pr.load_spec()
    cat = mgflux.get_catalogue(mgflux.get_model())
    genes = {e.name for e in cat.by_kind("gene")}
    assert genes <= set(prof.onset) | prof.no_data  # an onset line or an explicit "no human data"
    assert not set(prof.onset) & prof.no_data
    levels = {"cohort", "case series", "review", "assumption", "no human data"}
    for table in ("onset", "feature_share", "no_data"):
        for line in spec[table]:
            assert line.get("source") and line.get("evidence") in levels, line
    for f, s in spec["features"].items():
        assert 0 < s["background"] < 0.05 and s.get("source") and s.get("evidence") in levels, f
    for line in spec["feature_share"]:
        assert ("patients" in line) != ("grade" in line), line  # counts or words, not both
        assert line.get("grade", "some") in spec["rule"]["grades"]


def test_band_weights_and_rule_of_succession(prof):
    w = prof.weights
    trpm6 = np.asarray(prof.entry("TRPM6", "homozygous").age)
    assert trpm6.sum() == pytest.approx(1.0)
    assert trpm6[prof.bands.index("infancy")] == pytest.approx(w["typical"] / (w["typical"] + w["reported"]
                                                                              + 3 * w["not_reported"]))
    j = prof.feature_names.index("ocular_anomaly")
    assert prof.entry("CLDN19", "homozygous").features[j] == pytest.approx((21 + 1) / (23 + 2))  # (k+1)/(n+2)
    # a described cause without a line for a feature has it at the general-population rate
    d = prof.feature_names.index("sensorineural_deafness")
    assert prof.entry("SLC12A3", "homozygous").features[d] == pytest.approx(prof.background[d])
    # drug class lines hold for members; drugs without a line have the reference ages
    assert prof.entry("cetuximab", 1.0).age == prof.entry("egfr_antibody", 1.0).age
    assert prof.entry("omeprazole", 1.0).age == prof.reference().age


def test_carriers_are_the_reference_and_no_data_is_the_mean_of_the_genes(prof):
    ref = prof.reference()
    assert prof.entry("TRPM6", "heterozygous").age == ref.age  # a carrier of a recessive gene: no syndrome
    assert prof.entry("TRPM6", "heterozygous").features == ref.features
    assert prof.entry("FXYD2", "heterozygous").age != ref.age  # a dominant gene's heterozygotes are its patients
    cat = mgflux.get_catalogue(mgflux.get_model())
    known = [prof.entry(e.name, e.patient_genotype) for e in cat.by_kind("gene") if e.name in prof.onset]
    kctd1 = prof.entry("KCTD1", "homozygous")
    assert "no data" in kctd1.basis
    np.testing.assert_allclose(kctd1.age, np.mean([k.age for k in known], axis=0))
    np.testing.assert_allclose(kctd1.features, np.mean([k.features for k in known], axis=0))
    # neither favoured nor punished: over the genes' own presentations, the no-data cause's factor is on average
    # (in probability) exactly the average gene's
    for lo, _ in pr.load_spec()["age_bands"].values():
        f = pr.log_factor([kctd1, *known], pr.Presentation(age_years=float(lo)))
        assert math.exp(f[0]) == pytest.approx(np.mean(np.exp(f[1:])))


def test_nothing_given_weighs_nothing_and_combinations(prof):
    ps = [prof.entry("TRPM6", "homozygous"), prof.reference(), prof.entry("KCNJ10", "homozygous")]
    assert np.all(pr.log_factor(ps, pr.Presentation()) == 0.0)
    # two entries in one person: ages by the renormalised product, a feature's background counted once
    both = prof.combine([prof.entry("ppi", 1.0), prof.entry("thiazide", 1.0)])
    np.testing.assert_allclose(both.features, prof.background)
    a, b = np.asarray(prof.entry("TRPM6", "homozygous").age), np.asarray(prof.entry("SLC12A3", "homozygous").age)
    np.testing.assert_allclose(prof.combine([prof.entry("TRPM6", "homozygous"),
                                             prof.entry("SLC12A3", "homozygous")]).age, a * b / (a * b).sum())
    # a feature present in either entry: 1 - (1 - b)(1 - p1)/(1 - b)(1 - p2)/(1 - b)
    d = prof.feature_names.index("sensorineural_deafness")
    gk = prof.combine([prof.entry("GATA3", "heterozygous"), prof.entry("KCNJ10", "homozygous")])
    p1, p2, bg = prof.entry("GATA3", "heterozygous").features[d], prof.entry("KCNJ10", "homozygous").features[d], \
        prof.background[d]
    assert gk.features[d] == pytest.approx(1 - (1 - bg) * (1 - p1) / (1 - bg) * (1 - p2) / (1 - bg))
    # present and absent weigh p and 1 - p
    pres = pr.Presentation(features={"sensorineural_deafness": True, "ataxia": False})
    k = prof.entry("KCNJ10", "homozygous")
    assert pr.log_factor([k], pres)[0] == pytest.approx(math.log(k.features[d]) +
                                                         math.log(1 - k.features[prof.feature_names.index("ataxia")]))


def test_draws_follow_the_profile(prof):
    rng = np.random.default_rng(0)
    k = prof.entry("KCNJ10", "homozygous")
    draws = [pr.draw(k, rng) for _ in range(2000)]
    assert np.mean([d.band() == "infancy" for d in draws]) == pytest.approx(k.age[0], abs=0.03)
    assert np.mean([d.features["ataxia"] for d in draws]) == pytest.approx(0.9, abs=0.03)
    age_only = pr.draw(k, np.random.default_rng(1), features=False)
    assert age_only.features == {} and age_only.band() is not None


def labs_with(presentation, labs=DCT_LABS, **extra):
    return mgflux.load_labs({"labs": labs, "presentation": presentation, "name": "test", **extra})


def test_presentation_input_errors(tmp_path, capsys):
    with pytest.raises(mgflux.ScenarioError, match="Did you mean 'sensorineural_deafness'"):
        labs_with({"sensorineural_deafnes": True})
    with pytest.raises(mgflux.ScenarioError, match="Did you mean 'onset_age'"):
        labs_with({"onset_ag": "3 year"})
    with pytest.raises(mgflux.ScenarioError, match="must be true \\(present\\) or false \\(absent\\)"):
        labs_with({"ataxia": "yes"})
    with pytest.raises(mgflux.ScenarioError, match="needs a unit"):
        labs_with({"onset_age": 3})
    with pytest.raises(mgflux.ScenarioError, match="cannot be converted to 'year'"):
        labs_with({"onset_age": "3 mmol"})
    with pytest.raises(mgflux.ScenarioError, match="outside the allowed range"):
        labs_with({"onset_age": "300 year"})
    with pytest.raises(mgflux.ScenarioError, match="must be a table"):
        labs_with(["ataxia"])
    p = tmp_path / "labs.toml"
    p.write_text('[labs]\nfemg = 6.0\n[presentation]\ndeafness = true\n')
    assert main(["diagnose", str(p)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'deafness'" in err and "Traceback" not in err


def test_patient_age_is_the_age_at_presentation_unless_onset_age_is_given():
    assert labs_with({}, patient={"age": "30 year"}).presentation.band() == "adulthood"
    both = labs_with({"onset_age": "4 month"}, patient={"age": "30 year"}).presentation
    assert both.band() == "infancy" and both.age_from == "onset_age"
    assert not labs_with({}).presentation  # nothing given: nothing weighed


def test_age_and_syndrome_move_the_dct_differential():
    # the same DCT labs: a deaf, ataxic infant is EAST (KCNJ10); a teenager without any syndrome is Gitelman
    east = mgflux.diagnose(labs_with({"onset_age": "6 month", "sensorineural_deafness": True, "ataxia": True}),
                           top=3, loading_test=False)
    assert east.candidates[0]["name"] == "KCNJ10 homozygous"
    assert east.candidates[0]["log_presentation_factor"] > east.candidates[1]["log_presentation_factor"]
    absent = {f: False for f in pr.load_spec()["features"]}
    teen = mgflux.diagnose(labs_with({"onset_age": "16 year", **absent}), top=3, loading_test=False)
    assert teen.candidates[0]["name"] == "SLC12A3 homozygous"
    assert "KCNJ10 homozygous" not in [c["name"] for c in teen.candidates]
    plain = mgflux.diagnose(labs_with({}), top=3, loading_test=False)
    assert all(c["log_presentation_factor"] == 0.0 for c in plain.candidates)
    assert any(q["ask"].startswith("age at presentation") for q in plain.presentation_questions)


def test_grouped_candidates_that_present_differently_are_ranked_apart():
    # CLDN16 and CLDN19 have identical model effects (one candidate from the labs); CLDN19's eye disease separates
    plain = mgflux.diagnose(labs_with({}, labs=FHHNC_LABS), top=3, loading_test=False)
    assert plain.candidates[0]["name"] == "CLDN16 homozygous" and "CLDN19 homozygous" in plain.candidates[0]["members"]
    eyes = mgflux.diagnose(labs_with({"onset_age": "8 year", "ocular_anomaly": True}, labs=FHHNC_LABS), top=3,
                           loading_test=False)
    names = [c["name"] for c in eyes.candidates]
    assert names[0] == "CLDN19 homozygous" and "CLDN16 homozygous" in names
    top = eyes.candidates
    assert top[0]["predicted"] == top[names.index("CLDN16 homozygous")]["predicted"]  # the same simulated patients
    no_eyes = mgflux.diagnose(labs_with({"onset_age": "8 year", "ocular_anomaly": False}, labs=FHHNC_LABS), top=3,
                              loading_test=False)
    assert no_eyes.candidates[0]["name"] == "CLDN16 homozygous"


def test_known_medications_and_presentation_together():
    # an infant's labs with cetuximab on the list: the drug's users are adults, so "cetuximab alone" explains the
    # age worse than a cause of infancy on top of it (the medication stays given in every candidate)
    r = mgflux.diagnose(labs_with({"onset_age": "2 month"}, labs={"serum_mg_total": "0.4 mM", "femg": 4.0},
                                  medications=["cetuximab"]), top=100, loading_test=False)
    by = {c["name"]: c for c in r.candidates}
    alone = by["cetuximab alone (no further cause)"]
    assert r.candidates[0]["kind"] == "gene"
    assert by["TRPM6 homozygous"]["log_presentation_factor"] > alone["log_presentation_factor"] + 2


def test_cli_json_carries_the_presentation(tmp_path, capsys):
    p = tmp_path / "labs.toml"
    p.write_text('[labs]\nserum_mg_total = "0.55 mM"\nfemg = 6.0\n[presentation]\nonset_age = "15 year"\n'
                 'sensorineural_deafness = false\n')
    assert main(["diagnose", str(p), "--json", "--top", "3"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["presentation"]["age_band"] == "adolescence"
    assert obj["presentation"]["features"] == {"sensorineural_deafness": False}
    assert all("log_presentation_factor" in c for c in obj["candidates"])
    assert main(["diagnose", str(p)]) == 0
    assert "presentation weighed" in capsys.readouterr().out


def test_the_presentation_file_does_not_key_the_simulated_patients(tmp_path, monkeypatch):
    # the ranking reads presentation.toml; the simulated patients do not depend on it (no re-simulation)
    labs = labs_with({})
    k1 = dg._cache_key(mgflux.get_model(), dg.causes_for(labs), labs, 8, 7, ["serum_mg_total_mM"])
    spec = tomllib.loads(pr.presentation_file().read_text())
    assert spec["rule"]["typical"] == 1.0
    assert "clinical/presentation.toml" in dg._NOT_SIMULATED
    k2 = dg._cache_key(mgflux.get_model(), dg.causes_for(labs), labs_with({"onset_age": "3 year"}), 8, 7,
                       ["serum_mg_total_mM"])
    assert k1 == k2
