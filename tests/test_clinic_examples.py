"""The worked examples of README "The clinic's questions" (examples/clinic/) do what the README says."""
from pathlib import Path

import mgflux
from conftest import SCENARIOS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "clinic"


def test_ppi_user_has_normal_serum_but_retains_an_iv_load():
    run = mgflux.simulate(EXAMPLES / "ppi_user.toml")
    reading = mgflux.clinical_reading(run)
    assert 0.7 <= run.final["serum_mg_total_mM"] <= 0.95 and reading["hypomagnesemia_grade"] == 0
    assert reading["expected_symptoms"] == []
    healthy = mgflux.loading_test(SCENARIOS / "healthy.toml")
    lt = mgflux.loading_test(EXAMPLES / "ppi_user.toml", at="365 day")
    assert lt.retention_percent > healthy.retention_percent  # depleted stores show in the test, not in serum
    assert lt.retention_percent >= 20 and lt.interpretation.startswith("possible")


def test_gitelman_like_labs_put_slc12a3_in_the_top_3():
    r = mgflux.diagnose(EXAMPLES / "gitelman_labs.toml", top=3)
    assert "SLC12A3 homozygous" in [c["name"] for c in r.candidates]
    assert r.next_tests


def test_cetuximab_course_fit_covers_the_dose_that_made_the_data():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cetuximab_serum", EXAMPLES / "make_cetuximab_serum.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    scenario = SCENARIOS / "combinations" / "cetuximab_course_with_stop.toml"
    # the shipped table runs through the fit
    shipped = mgflux.fit(scenario, EXAMPLES / "cetuximab_serum.csv", ["cetuximab.dose"])
    assert shipped.converged and 0 <= shipped.value[0] <= 4
    # the recipe's data (the current model at 0.7 x dose): the interval, or its open side, covers the truth
    r = mgflux.fit(scenario, make.rows(), ["cetuximab.dose"])
    lo, hi = r.ci95[0]
    lo = r.bounds[0][0] if lo is None else lo
    hi = r.bounds[0][1] if hi is None else hi
    assert lo < make.TRUTH["cetuximab.dose"] < hi
