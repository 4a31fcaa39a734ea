"""mgflux fit (weighted least squares, profile-likelihood intervals) and the PEtab export."""
import csv
import json

import numpy as np
import pytest

import mgflux
from conftest import SCENARIOS
from mgflux import main
from mgflux.studies import fit as F

CETUXIMAB = SCENARIOS / "drugs" / "cetuximab.toml"
TIMES = np.arange(0, 281, 14.0)


def write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["time_day", "readout", "value", "sd"])
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.slow
def test_recovers_a_known_dose_and_residual_channel_activity():
    truth = {"cetuximab.dose": 0.6, "TRPM6.activity": 0.5}
    data = F.simulated_data(CETUXIMAB, truth, TIMES, sd=0.005, seed=1)[0]
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
    data = F.simulated_data(CETUXIMAB, {"cetuximab.dose": 1.0}, [0, 4, 8, 12], seed=2)[0]
    r = mgflux.fit(CETUXIMAB, data, ["cetuximab.dose"])
    assert r.identifiable[0] is not True and "not identifiable" in r.identifiable[0]
    assert list(r.dataframe()["time_day"]) == [0, 4, 8, 12]
    assert r.ci95[0] == (None, None)
    assert any("not identifiable" in m for m in r.messages)


def test_a_flat_profile_reaches_the_bounds():
    # very noisy data: the profile stays within 3.84 over part of the range -> an open side, said so
    data = F.simulated_data(CETUXIMAB, {"cetuximab.dose": 1.0}, TIMES, sd=0.2, seed=3)[0]
    r = mgflux.fit(CETUXIMAB, data, ["cetuximab.dose"])
    lo, hi = r.ci95[0]
    assert lo is None or hi is None
    assert "not identifiable" in r.identifiable[0]


@pytest.mark.slow
def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    # informative data (sd 0.005 mM): the chi2(1) threshold of the profile is then a good approximation
    c = F.coverage(CETUXIMAB, {"cetuximab.dose": 0.6}, TIMES, sd=0.005, replicates=120, seed=11)
    # 95 % nominal; binomial sd at n = 120 is 2 points
    assert 0.89 <= c["coverage"]["cetuximab.dose"] <= 0.99, c


def test_bad_data_are_clear_errors(tmp_path):
    with pytest.raises(mgflux.ScenarioError, match="Did you mean 'serum_mg_total_mM'"):
        F.load_data([{"time_day": 1, "readout": "serum_mg_totl_mM", "value": 0.8, "sd": 0.02}])
    with pytest.raises(mgflux.ScenarioError, match="sd = .* must be > 0"):
        F.load_data([{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0}])
    p = tmp_path / "d.csv"
    p.write_text("time,readout,value,sd\n1,serum_mg_total_mM,0.8,0.02\n")
    with pytest.raises(mgflux.ScenarioError, match="missing column"):
        F.load_data(p)
    with pytest.raises(mgflux.MgfluxError, match="no TRPM6 entry|no digoxin entry"):
        mgflux.fit(CETUXIMAB, [{"time_day": 1, "readout": "serum_mg_total_mM", "value": 0.8, "sd": 0.02}],
                   ["digoxin.dose"])


@pytest.mark.slow
def test_cli_json_and_plot(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", F.simulated_data(CETUXIMAB, {"cetuximab.dose": 0.6}, TIMES, sd=0.005,
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
    data = write_csv(tmp_path / "d.csv", F.simulated_data(CETUXIMAB, {"gfr": 100.0}, TIMES[::2], seed=5)[0])
    assert main(["export-petab", str(CETUXIMAB), "--data", str(data), "--estimate", "gfr", "-o",
                 str(tmp_path / "pe")]) == 0
    assert "petab linter: no problems" in capsys.readouterr().out
    from mgflux.io.petab import lint_petab

    assert lint_petab(tmp_path / "pe" / "problem.yaml") == []
    # the linter is really run: a broken observable formula is caught
    obs = tmp_path / "pe" / "observables.tsv"
    obs.write_text(obs.read_text().replace("serum_total\t", "no_such_id\t"))
    assert lint_petab(tmp_path / "pe" / "problem.yaml")
    # catalogue inputs are not SBML parameters: a clear error
    assert main(["export-petab", str(CETUXIMAB), "--data", str(data), "--estimate", "cetuximab.dose", "-o",
                 str(tmp_path / "pe2")]) == 2
    assert "not an SBML parameter" in capsys.readouterr().err
