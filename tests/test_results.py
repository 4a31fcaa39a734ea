"""Result objects: immutable, tidy pandas frames, CSV, and the contract's readout names."""
import numpy as np
import pytest

import mgflux
from conftest import SCENARIOS, scenario

ROOT = SCENARIOS.parent


@pytest.fixture(scope="module")
def run():
    return mgflux.simulate(scenario('[[perturbation]]\nname = "starvation"\ndose = 0.5\nstart = "5 day"\n',
                                    duration="20 day", extra_scenario='sample_every = "12 hour"'))


def test_grid_follows_sample_every(run):
    assert run.time_day[1] - run.time_day[0] == pytest.approx(0.5)
    assert run.time_day[-1] == pytest.approx(20.0) and len(run.time_day) == 41


def test_results_are_immutable(run):
    with pytest.raises(ValueError):
        run["serum_mg_total_mM"][0] = 1.0
    with pytest.raises(TypeError):
        run.timecourse["new"] = np.zeros(3)
    ss = mgflux.steady_state(scenario())
    with pytest.raises(TypeError):
        ss.readouts["serum_mg_total_mM"] = 1.0


def test_tidy_dataframe(run):
    pd = pytest.importorskip("pandas")
    df = run.dataframe()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == len(run.time_day)
    assert {"scenario", "time_day", *mgflux.READOUTS, "cumulative_urine_mmol"} <= set(df.columns)
    ss_df = mgflux.steady_state(scenario()).dataframe()
    assert len(ss_df) == 1 and ss_df["serum_mg_total_mM"].iloc[0] == pytest.approx(0.85, abs=0.01)


def test_csv_round_trip(run, tmp_path):
    path = run.to_csv(tmp_path / "tc.csv")
    data = np.genfromtxt(path, delimiter=",", names=True)
    assert data["serum_mg_total_mM"] == pytest.approx(run["serum_mg_total_mM"], rel=1e-9)


def test_window_edges_switch_parameters(run):
    # starvation halves intake from day 5: readouts at day 5 already use the new parameters
    t = run.time_day
    intake = run["intake_mmol_per_day"]
    assert intake[t < 5] == pytest.approx(300 / 24.305)
    assert intake[t >= 5] == pytest.approx(150 / 24.305)


def test_hypomagnesemia_grades():
    from mgflux import hypomagnesemia_grade

    assert list(hypomagnesemia_grade(np.array([0.85, 0.69, 0.49, 0.39, 0.29]))) == [0, 1, 2, 3, 4]
    assert hypomagnesemia_grade(0.7) == 0


def test_citations_name_model_and_entries():
    sc = scenario('[[perturbation]]\nname = "starvation"\ndose = 0.5\n')
    cites = mgflux.citations(sc)
    assert any(c.startswith("Gullestad1994:") for c in cites)
    assert any(c.startswith("starvation:") and "Shils" in c for c in cites)


def test_time_below_threshold_interpolates():
    from types import MappingProxyType

    r = mgflux.RunResult(scenario="t", time_day=np.array([0.0, 1.0, 2.0, 3.0]),
                         timecourse=MappingProxyType({"serum_mg_total_mM": np.array([0.8, 0.6, 0.6, 0.8])}),
                         states=MappingProxyType({}), totals=MappingProxyType({}))
    low = r.time_below(0.7)
    assert low["first_day"] == pytest.approx(0.5)
    assert low["days"] == pytest.approx(0.5 + 1.0 + 0.5)
    assert r.time_below(0.5)["days"] == 0.0 and r.time_below(0.5)["first_day"] is None


def test_every_result_has_a_tidy_dataframe_and_a_json_dict():
    """steady_states, timecourses, compare and find_dose: dataframe() (tidy) and to_dict() (what --json
    prints) agree with the readouts; a batched course equals the single run it batches."""
    import json

    import pandas  # noqa: F401

    sc = mgflux.load_scenario(ROOT / "scenarios" / "drugs" / "omeprazole.toml")
    many = mgflux.steady_states(sc, {"gfr": [60.0, 120.0]})
    df = many.dataframe()
    assert list(df["gfr"]) == [60.0, 120.0] and list(df["status"]) == ["ok", "ok"]
    assert df["serum_mg_total_mM"].iloc[0] > df["serum_mg_total_mM"].iloc[1]  # lower GFR, higher serum Mg
    json.dumps(many.to_dict())
    tc = mgflux.timecourses(sc, days=30)
    tdf = tc.dataframe(["serum_mg_total_mM", "hypomagnesemia_grade"])
    assert len(tdf) == tc.time_day.size and set(tdf.columns) >= {"set", "time_day", "status", "serum_mg_total_mM"}
    run = mgflux.simulate(sc)
    n = tc.time_day.size
    np.testing.assert_allclose(tdf["serum_mg_total_mM"], run["serum_mg_total_mM"][:n], rtol=1e-5)
    assert json.loads(mgflux.to_json(tc.to_dict(["serum_mg_total_mM"])))["set_status"] == ["ok"]
    c = mgflux.compare(sc)
    assert set(c.dataframe().columns) == {"quantity", "unit", "healthy", "scenario", "change"}
    d = mgflux.find_dose(ROOT / "scenarios" / "genes" / "SLC12A3.toml", "magnesium_citrate", "0.7 mM")
    assert d.dataframe()["dose_mg_per_day"].iloc[0] == pytest.approx(d.to_dict()["dose_mg_per_day"])
