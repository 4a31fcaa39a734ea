"""Batched time courses (numba Rodas4 in prange) against solve_ivp Radau at rtol 1e-10, on every shipped scenario."""
from pathlib import Path

import numpy as np
import pytest

import mgflux
from mgflux import simulate
from mgflux.engine import batch, codegen, timecourse  # the kernels themselves (internal)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.toml"))


@pytest.mark.slow
def test_every_shipped_scenario_matches_radau_to_1e4():
    """Serum total Mg and urine Mg on the output grid of each scenario, relative error < 1e-4 (default options).
    The single-run engine (``simulate``: Rodas4 at its default rtol 1e-9, with cumulative totals) agrees with the same
    reference on every state and total to 1e-7, and closes the mass balance."""
    assert len(SCENARIOS) > 50
    worst = {}
    for f in SCENARIOS:
        sc = mgflux.load_scenario(f)
        ref = simulate(sc, options=mgflux.RunOptions(method="Radau", fallback=None, rtol=1e-10))
        run = simulate(sc)
        assert run.solver["method"] == "Rodas4", (f.name, run.solver)
        for key in list(ref.states) + list(ref.totals):
            a = (run.states | run.totals)[key]
            b = (ref.states | ref.totals)[key]
            # plus an absolute part: a state decaying towards zero (a drug effect washing out) is held to the
            # absolute tolerance, not to 1e-7 of a vanishing value
            excess = np.abs(a - b) - (1e-7 * np.abs(b) + 1e-10 * max(1.0, np.max(np.abs(b))))
            assert np.all(excess <= 0), (f.relative_to(ROOT), key, np.max(excess))
        assert np.max(np.abs(run.mass_balance_error())) < 1e-8, f.name
        tc = mgflux.timecourses(sc)
        assert tc.status[0] == 0, f.name
        np.testing.assert_allclose(tc.time_day, ref.time_day)
        o = tc.observables(["serum_total", "urine_rate"])
        for name, key in (("serum_total", "serum_mg_total_mM"), ("urine_rate", "urine_mg_mmol_per_day")):
            err = np.max(np.abs(o[name][0] / np.asarray(ref[key]) - 1.0))
            worst[(f.stem, name)] = err
            assert err < 1e-4, (f.relative_to(ROOT), name, err)
    assert max(worst.values()) < 1e-4


def test_each_set_its_own_parameters_and_bad_sets_get_a_status():
    sc = mgflux.load_scenario(ROOT / "scenarios" / "drugs" / "aminoglycoside.toml")
    model = sc.model
    vals = np.array([[100.0, 350.0], [70.0, 500.0], [130.0, 200.0], [np.nan, 350.0], [100.0, 350.0]])
    tc = mgflux.timecourses(sc, {"gfr": vals[:, 0], "aminoglycoside.dose": vals[:, 1]})
    assert list(tc.status[:3]) == [0, 0, 0] and tc.status[3] != 0 and tc.status[4] == 0
    assert np.isnan(tc.Y[3]).all() and np.isfinite(tc.Y[[0, 1, 2, 4]]).all()
    np.testing.assert_array_equal(tc.Y[0], tc.Y[4])
    s = tc.serum()
    assert np.isnan(s[3]).all()
    # set 1 alone, as a single-scenario run with the same parameters, by solve_ivp Radau
    one = mgflux.timecourses(sc, {"gfr": vals[1:2, 0], "aminoglycoside.dose": vals[1:2, 1]})
    np.testing.assert_allclose(one.Y[0], tc.Y[1], rtol=1e-8)  # initial steady states agree to ~1e-10
    segs = [(a, b, one.Pseg[0, k]) for k, (a, b) in enumerate(zip(one.edges[:-1], one.edges[1:]))]
    mod = codegen.compiled(model)
    radau = mgflux.RunOptions(method="Radau", fallback=None, rtol=1e-10)
    ys, _ = timecourse.integrate(mod, segs, one.Y[0, 0], one.time_day, radau, model.state_names)
    n = len(model.states)
    ref = ys[:n].T
    scale = np.maximum(np.abs(ref).max(axis=0), 1e-12)
    # a state resting at 0 (beta_cell_shift without a beta-agonist) carries round-off far below the integrators'
    # absolute tolerance (1e-12 x max(1, |y0|)): agreement is asked down to that tolerance, not below it
    assert np.all(np.abs(one.Y[0] - ref) <= 1e-4 * np.abs(ref) + 1e-8 * scale + 1e-14)
    # the dose matters during the course (days 10-24) and its effect fades after it: same person, double dose
    two = mgflux.timecourses(sc, {"gfr": [100.0, 100.0], "aminoglycoside.dose": [350.0, 700.0]})
    t, d = two.time_day, two.serum()[1] - two.serum()[0]
    assert np.all(two.status == 0)
    assert np.all(np.abs(d[t < 10]) < 1e-12)  # identical before the course starts
    during = (t > 10) & (t <= 24)
    assert d[during].max() < 0 and d[during].min() < -1e-5  # more drug, more renal wasting: lower serum Mg
    assert abs(d[-1]) < 0.2 * abs(d[during].min())  # washing out by day 120


def test_integrator_failure_is_a_status_not_an_exception():
    model = mgflux.load_scenario(ROOT / "scenarios" / "healthy.toml").model
    p = model.parameter_vector()
    y0 = model.guess_vector()
    Y0 = np.vstack([y0, y0, np.full_like(y0, np.nan)])
    P = np.repeat(p[None, None, :], 3, axis=0)
    P[1, 0, model.parameter_index("gfr")] = np.inf
    Y, st, _ = batch.integrate_batch(model, Y0, P, [0.0, 30.0], np.linspace(0, 30, 7))
    assert st[0] == mgflux.Status.OK and st[1] == mgflux.Status.NONFINITE and st[2] == mgflux.Status.NONFINITE
    assert np.isfinite(Y[0]).all() and np.isnan(Y[1:]).all()
    # a step budget too small: failed status, NaN outputs
    Y, st, _ = batch.integrate_batch(model, Y0[:1] * 0.5, P[:1], [0.0, 30.0], np.linspace(0, 30, 7),
                                      options=mgflux.TimecourseOptions(max_steps=3))
    assert st[0] == mgflux.Status.INTEGRATION_FAILED and np.isnan(Y).all()
    with pytest.raises(mgflux.MgfluxError):
        batch.integrate_batch(model, Y0[:1], P[:1], [0.0, 30.0], [40.0])


def test_drug_table_uses_the_course_nadir_for_time_limited_drugs():
    rows = {r["drug"]: r for r in mgflux.drug_incidence_table(300, seed=1, drugs=["aminoglycoside", "ppi"])}
    amg, ppi = rows["aminoglycoside"], rows["ppi"]
    assert amg["measure"] == "course" and ppi["measure"] == "steady"
    assert amg["simulated_percent"] == amg["course_nadir_percent"]
    assert amg["course_nadir_percent"] < amg["steady_percent"]  # a 14-day course is not a lifetime on the drug
    assert "aminoglycoside.toml" in amg["course"]
    steady_only = mgflux.drug_incidence_table(300, seed=1, drugs=["aminoglycoside"], measure="steady")[0]
    assert steady_only["measure"] == "steady" and steady_only["steady_percent"] == amg["steady_percent"]


def test_a_few_observables_by_numpy_equal_the_compiled_observe(monkeypatch):
    """observe_series computes a few formulas with numpy over every set and time (serum total: one division) and
    many with the compiled ``observe``: the same numbers either way, NaN for a failed set, each time with the
    parameters of its own set and segment."""
    sc = mgflux.load_scenario(ROOT / "scenarios" / "drugs" / "aminoglycoside.toml")
    tc = mgflux.timecourses(sc, {"gfr": [100.0, 60.0, np.nan], "aminoglycoside.dose": [350.0, 500.0, 350.0]})
    assert tc.edges.size > 2 and tc.status[2] != 0
    names = ["serum_total", "serum_ionized", "flux_urinary_excretion"]
    assert 0 < len(batch._needed_lines(sc.model, ("serum_total",))) < len(batch._needed_lines(sc.model, tuple(names)))
    fast = tc.observables(names)
    monkeypatch.setattr(batch, "_NUMPY_LINES", -1)  # every name through the compiled observe
    slow = tc.observables(names)
    for k in names:
        assert fast[k].shape == (3, tc.time_day.size)
        np.testing.assert_allclose(fast[k][:2], slow[k][:2], rtol=1e-13, atol=0)
        assert np.isnan(fast[k][2]).all() and np.isnan(slow[k][2]).all()
    # serum total is the extracellular pool over its volume, set by set
    vol = sc.model.parameter_names.index("ecf_volume")
    np.testing.assert_allclose(fast["serum_total"][:2], tc.Y[:2, :, sc.model.state_names.index("ecf")]
                               / tc.Pseg[:2, 0, vol][:, None], rtol=1e-15)
