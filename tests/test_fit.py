"""mgflux fit (weighted least squares on forward sensitivities, profile-likelihood intervals) and the PEtab
export (model parameters and catalogue inputs, linted)."""
import csv
import json

import numpy as np
import pytest

import mgflux
from conftest import SCENARIOS
from mgflux import fit_coverage, fit_sensitivities, lint_petab, main, simulated_data

CETUXIMAB = SCENARIOS / "drugs" / "cetuximab.toml"
THIAZIDE = SCENARIOS / "drugs" / "hydrochlorothiazide.toml"
TIMES = np.arange(0, 281, 14.0)


def write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["time_day", "readout", "value", "sd"])
        w.writeheader()
        w.writerows(rows)
    return path


def rows(times, readouts=("serum_mg_total_mM",)):
    return [{"time_day": float(t), "readout": r, "value": 0.0, "sd": 1.0} for t in times for r in readouts]


@pytest.mark.slow
@pytest.mark.parametrize("scenario, values, readouts", [
    # a drug window from day 14 to 182 (the sensitivity to its dose is zero before, and decays after) and a
    # gene's activity (the lifelong start: dy0/dtheta from the steady state)
    (CETUXIMAB, {"cetuximab.dose": 0.6, "TRPM6.activity": 0.5}, ("serum_mg_total_mM",)),
    # a model parameter (the start too) and a drug from day 30, two readouts
    (THIAZIDE, {"hydrochlorothiazide.dose": 1.5, "gfr": 80.0}, ("serum_mg_total_mM", "urine_mg_mmol_per_day")),
])
def test_forward_sensitivities_match_central_differences(scenario, values, readouts):
    data = rows([0, 7, 13, 14, 15, 30, 31, 60, 120, 181, 182, 183, 200, 280], readouts)
    f, S = fit_sensitivities(scenario, data, list(values), values)
    f_fd, S_fd = fit_sensitivities(scenario, data, list(values), values, method="differences")
    # the same course by two integrators (Rodas4 on the augmented system, and the batch's own Rodas4)
    np.testing.assert_allclose(f, f_fd, rtol=1e-7)
    # central differences of the solution (rtol 1e-9, step 1e-4): about 1e-5 relative noise of their own
    scale = np.abs(S_fd).max(axis=0)
    assert (scale > 0).all()
    assert np.max(np.abs(S - S_fd) / np.maximum(np.abs(S_fd), 1e-3 * scale)) < 1e-4
    days = np.array([d["time_day"] for d in data])
    if scenario == CETUXIMAB:
        # before the window the dose does nothing (exactly: no difference noise), after it, it does
        assert np.all(S[days <= 14, 0] == 0.0) and np.all(S[(days > 14) & (days < 200), 0] < 0)


@pytest.mark.slow
def test_the_fit_uses_the_forward_sensitivities():
    truth = {"cetuximab.dose": 0.6}
    data = simulated_data(CETUXIMAB, truth, TIMES, sd=0.005, seed=1)[0]
    r = mgflux.fit(CETUXIMAB, data, list(truth))
    assert "forward sensitivities" in r.to_dict()["sensitivity_method"]
    # the Jacobian of the weighted residuals at the estimate is the forward one (not a difference quotient)
    _, S = fit_sensitivities(CETUXIMAB, data, list(truth), r.value)
    sd = np.array([d["sd"] for d in data])
    np.testing.assert_allclose(r.jacobian, S / sd[:, None], rtol=1e-12)
    _, S_fd = fit_sensitivities(CETUXIMAB, data, list(truth), r.value, method="differences")
    assert np.max(np.abs(S - S_fd)) < 1e-4 * np.abs(S_fd).max()


@pytest.mark.slow
def test_recovers_a_known_dose_and_residual_channel_activity():
    truth = {"cetuximab.dose": 0.6, "TRPM6.activity": 0.5}
    data = simulated_data(CETUXIMAB, truth, TIMES, sd=0.005, seed=1)[0]
    r = mgflux.fit(CETUXIMAB, data, list(truth))
    assert r.converged
    for j, n in enumerate(r.names):
        lo, hi = r.ci95[j]
        assert lo < truth[n] < hi, (n, r.value[j], r.ci95[j])
        assert r.identifiable[j] is True
    assert r.value[1] == pytest.approx(0.5, abs=0.03)
    # the objective is the weighted sum of squares of the residuals it reports
    d = r.to_dict()
    assert d["objective"] == pytest.approx(sum(x["weighted_residual"] ** 2 for x in d["residuals"]), rel=1e-6)
    assert d["objective"] < 2 * len(data)  # about n_data for a correct model and noise


def test_no_sensitivity_is_reported_as_not_identifiable():
    # serum measured only before the drug starts (day 14): the data cannot say anything about its dose
    data = simulated_data(CETUXIMAB, {"cetuximab.dose": 1.0}, [0, 4, 8, 12], seed=2)[0]
    r = mgflux.fit(CETUXIMAB, data, ["cetuximab.dose"])
    assert r.identifiable[0] is not True and "not identifiable" in r.identifiable[0]
    assert list(r.dataframe()["time_day"]) == [0, 4, 8, 12]
    assert r.ci95[0] == (None, None)
    assert any("not identifiable" in m for m in r.messages)


def test_a_flat_profile_reaches_the_bounds():
    # very noisy data: the profile stays within 3.84 over part of the range -> an open side, said so
    data = simulated_data(CETUXIMAB, {"cetuximab.dose": 1.0}, TIMES, sd=0.2, seed=3)[0]
    r = mgflux.fit(CETUXIMAB, data, ["cetuximab.dose"])
    lo, hi = r.ci95[0]
    assert lo is None or hi is None
    assert "not identifiable" in r.identifiable[0]


@pytest.mark.slow
def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    # informative data (sd 0.005 mM): the chi2(1) threshold of the profile is then a good approximation
    c = fit_coverage(CETUXIMAB, {"cetuximab.dose": 0.6}, TIMES, sd=0.005, replicates=120, seed=11)
    # 95 % nominal; binomial sd at n = 120 is 2 points
    assert 0.89 <= c["coverage"]["cetuximab.dose"] <= 0.99, c


def test_bad_data_are_clear_errors(tmp_path):
    with pytest.raises(mgflux.ScenarioError, match="Did you mean 'serum_mg_total_mM'"):
        mgflux.fit(CETUXIMAB, [{"time_day": 1, "readout": "serum_mg_totl_mM", "value": 0.8, "sd": 0.02}], "gfr")
    with pytest.raises(mgflux.ScenarioError, match="sd = .* must be > 0"):
        mgflux.fit(CETUXIMAB, [{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0}], "gfr")
    p = tmp_path / "d.csv"
    p.write_text("time,readout,value,sd\n1,serum_mg_total_mM,0.8,0.02\n")
    with pytest.raises(mgflux.ScenarioError, match="missing column"):
        mgflux.fit(CETUXIMAB, p, "gfr")
    with pytest.raises(mgflux.MgfluxError, match="no TRPM6 entry|no digoxin entry"):
        mgflux.fit(CETUXIMAB, [{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0.02}],
                   ["digoxin.dose"])


def test_a_misspelled_name_is_named_as_an_estimate(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", [{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0.02}])
    for cmd in ("fit", "export-petab"):
        extra = ["-o", str(tmp_path / "pe")] if cmd == "export-petab" else []
        assert main([cmd, str(CETUXIMAB), "--data", str(data), "--estimate", "gfrr", *extra]) == 2
        err = capsys.readouterr().err
        assert "in --estimate" in err and "--vary" not in err and "Did you mean 'gfr'" in err, err
    with pytest.raises(mgflux.ScenarioError, match=r"--estimate cetuximab.activity: .* cetuximab.dose"):
        mgflux.fit(CETUXIMAB, [{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0.02}],
                   ["cetuximab.activity"])


@pytest.mark.slow
def test_cli_json_and_plot(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", simulated_data(CETUXIMAB, {"cetuximab.dose": 0.6}, TIMES, sd=0.005,
                                                          seed=4)[0])
    assert main(["fit", str(CETUXIMAB), "--data", str(data), "--estimate", "cetuximab.dose", "--json",
                 "--out", str(tmp_path / "out")]) == 0
    obj = json.loads(capsys.readouterr().out)
    e = obj["estimates"]["cetuximab.dose"]
    assert set(e) >= {"value", "ci95"} and e["ci95"][0] < e["value"] < e["ci95"][1]
    assert "profile likelihood" in obj["interval_method"] and len(obj["residuals"]) == len(TIMES)
    assert (tmp_path / "out" / "fit.png").stat().st_size > 1000
    assert main(["fit", str(CETUXIMAB), "--data", str(data), "--estimate", "gfr", "--bounds", "gfr=oops"]) == 2
    assert "NAME=LO:HI" in capsys.readouterr().err


@pytest.mark.slow
def test_export_petab_passes_the_petab_linter(tmp_path, capsys):
    pytest.importorskip("petab")
    data = write_csv(tmp_path / "d.csv", simulated_data(CETUXIMAB, {"gfr": 100.0}, TIMES[::2], seed=5)[0])
    assert main(["export-petab", str(CETUXIMAB), "--data", str(data), "--estimate", "gfr", "-o",
                 str(tmp_path / "pe")]) == 0
    assert "petab linter: no problems" in capsys.readouterr().out
    assert lint_petab(tmp_path / "pe" / "problem.yaml") == []
    # the linter is really run: a broken observable formula is caught
    obs = tmp_path / "pe" / "observables.tsv"
    obs.write_text(obs.read_text().replace("serum_total\t", "no_such_id\t"))
    assert lint_petab(tmp_path / "pe" / "problem.yaml")


@pytest.mark.slow
def test_export_petab_estimates_catalogue_inputs(tmp_path, capsys):
    """A drug's dose and a gene's activity become SBML parameters that the exported formulas use, bounded by the
    catalogue's ranges; the linter passes, and the file at another dose runs the course mgflux runs."""
    pytest.importorskip("petab")
    data = write_csv(tmp_path / "d.csv", simulated_data(CETUXIMAB, {"cetuximab.dose": 0.6}, TIMES[::2], seed=5)[0])
    assert main(["export-petab", str(CETUXIMAB), "--data", str(data), "--estimate", "cetuximab.dose",
                 "--estimate", "TRPM6.activity", "--estimate", "gfr", "-o", str(tmp_path / "pe")]) == 0
    assert "petab linter: no problems" in capsys.readouterr().out
    with open(tmp_path / "pe" / "parameters.tsv") as fh:
        table = {r["parameterId"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert set(table) == {"cetuximab_dose", "TRPM6_activity", "gfr"}
    assert (float(table["cetuximab_dose"]["lowerBound"]), float(table["cetuximab_dose"]["upperBound"])) == (0, 4)
    assert float(table["cetuximab_dose"]["nominalValue"]) == 1.0  # the scenario's 450 mg/week: the standard dose
    assert (float(table["TRPM6_activity"]["lowerBound"]), float(table["TRPM6_activity"]["upperBound"])) == (0, 1)
    text = (tmp_path / "pe" / "model.xml").read_text()
    assert text.count("<ci> cetuximab_dose </ci>") >= 1 and "<initialAssignment" in text
    roadrunner = pytest.importorskip("roadrunner")
    r = roadrunner.RoadRunner(str(tmp_path / "pe" / "model.xml"))
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-15
    r["cetuximab_dose"] = 2.0  # the drug starts at day 14: the file's initial state is that of any dose
    r.timeCourseSelections = ["time", "serum_total"]
    tc = r.simulate(times=[float(t) for t in TIMES])
    f, _ = fit_sensitivities(CETUXIMAB, rows(TIMES), ["cetuximab.dose"], [2.0])
    f1, _ = fit_sensitivities(CETUXIMAB, rows(TIMES), ["cetuximab.dose"], [1.0])
    np.testing.assert_allclose(tc["serum_total"], f, rtol=1e-5)
    assert np.max(np.abs(f - f1)) > 0.02  # the dose matters by far more than the tolerance (0.04 mM here)
