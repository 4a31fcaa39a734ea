"""The healthy adult meets physiology.md's first table and its qualitative behaviour."""
import numpy as np
import pytest

import mgflux
from conftest import scenario

# targets (low, high) per readout live with the model: [targets] in models/adult.toml (physiology.md, first table)
TARGETS = {k: v["range"] for k, v in mgflux.get_model().targets.items()}


def test_every_first_table_row_has_a_target():
    assert {"serum_mg_total_mM", "serum_mg_ionized_mM", "filtered_load_mmol_per_day", "reabsorbed_pt_percent",
            "reabsorbed_tal_percent", "reabsorbed_dct_percent", "femg_percent", "urine_mg_mmol_per_day",
            "fractional_absorption_percent", "body_mg_mmol"} <= set(TARGETS)


@pytest.mark.parametrize("name", TARGETS)
def test_healthy_target(healthy, name):
    lo, hi = TARGETS[name]
    # round-off slack only: the PT share is 20% by construction (ratio 0.25) and lands on either side of 20 by 1e-15
    eps = 1e-9 * max(abs(lo), abs(hi), 1.0)
    assert lo - eps <= healthy[name] <= hi + eps, f"{name} = {healthy[name]:.4g}, target {lo}-{hi}"


def test_ionised_and_ultrafiltrable_fractions(healthy):
    total = healthy["serum_mg_total_mM"]
    assert healthy["serum_mg_ionized_mM"] / total == pytest.approx(0.62, abs=0.01)
    assert healthy["serum_mg_ultrafiltrable_mM"] / total == pytest.approx(0.70, abs=0.03)


def test_total_reabsorption_95_to_99_percent(healthy):
    total = sum(healthy[f"reabsorbed_{s}_percent"] for s in ("pt", "tal", "dct"))
    assert 95 <= total <= 99
    assert total + healthy["femg_percent"] == pytest.approx(100, abs=1e-9)


def test_body_distribution(healthy):
    body = healthy["body_mg_mmol"]
    assert 0.50 <= healthy["bone_pool_mmol"] / body <= 0.65
    assert 0.30 <= healthy["intracellular_pool_mmol"] / body <= 0.46  # muscle 20-27% + soft tissue ~19%
    ecf = healthy["serum_mg_total_mM"] * 14.0
    assert 0.005 <= ecf / body <= 0.02  # ECF ~1%


def test_steady_balance_closes(healthy):
    # intake = faeces + net absorbed, and net absorbed = urine at steady state
    assert healthy["intake_mmol_per_day"] == pytest.approx(
        healthy["faecal_mg_mmol_per_day"] + healthy["absorbed_mmol_per_day"], rel=1e-9)
    assert healthy["absorbed_mmol_per_day"] == pytest.approx(healthy["urine_mg_mmol_per_day"], rel=1e-8)


def test_exchange_kinetics_match_28mg():
    """Pools equilibrating within ~4 days hold ~15% of body Mg; the slowest pool's half-life is ~1000 h."""
    m = mgflux.get_model()
    p = {q.name: q for q in m.parameters}
    hours = 24.0
    fast_t = p["intracellular_fast_half_life"].value * hours
    slow_t = [p["intracellular_slow_half_life"].value * hours, p["bone_surface_half_life"].value * hours]
    assert 14 <= fast_t <= 35  # the 14-35 h component
    assert all(500 <= t <= 2000 for t in slow_t)
    ss = mgflux.steady_state(scenario())
    fast = ss.states["intracellular_fast"] + ss.states["ecf"]
    assert fast / ss["body_mg_mmol"] == pytest.approx(0.12, abs=0.05)  # ~1.77 mmol/kg x 70 kg = 124 mmol


def test_fractional_absorption_rises_as_intake_falls_never_above_100():
    intakes = [10, 50, 100, 170, 300, 600, 1200, 3000]
    fa = [mgflux.steady_state(scenario(mg_intake=f"{i} mg/day"))["fractional_absorption_percent"] for i in intakes]
    assert all(0 < x <= 100 for x in fa)
    assert all(a > b for a, b in zip(fa, fa[1:])), fa  # falls monotonically with intake
    assert 60 <= fa[0] <= 80  # up to ~65-80% at very low intake


def test_absorption_saturable_plus_linear():
    """Absolute absorption keeps rising with intake (linear part) but less than proportionally (saturable)."""
    ab = [mgflux.steady_state(scenario(mg_intake=f"{i} mg/day"))["absorbed_mmol_per_day"] for i in (300, 600, 1200)]
    assert ab[0] < ab[1] < ab[2]
    assert ab[2] / ab[0] < 4 * 0.9


def test_renal_conservation_urine_falls_before_serum():
    """Intake 300 -> 50 mg/day: urinary Mg falls within days; serum is defended for weeks."""
    run = mgflux.simulate(scenario('[[perturbation]]\nname = "starvation"\ndose = 0.8333333\n', duration="60 day"))
    u, s = run["urine_mg_mmol_per_day"], run["serum_mg_total_mM"]
    day = lambda d: int(np.searchsorted(run.time_day, d))
    assert u[day(3)] < 0.65 * u[0]  # urine down by more than a third in 3 days
    assert s[day(3)] > 0.88 * s[0]  # serum down by less than 12%
    assert (u[0] - u[day(3)]) / u[0] > 3 * (s[0] - s[day(3)]) / s[0]
    assert s[day(30)] > 0.7  # no hypomagnesemia within a month
    assert run["trpm6_relative"][-1] > 1.1  # TRPM6 induced


def test_renal_threshold_continuous_infusion_raises_femg(healthy):
    ss = mgflux.steady_state(scenario('[[treatment]]\nname = "iv_magnesium_sulfate"\nrate = "20 mmol/day"\n'))
    assert ss["femg_percent"] > 2 * healthy["femg_percent"]
    # at steady state the kidney excretes the whole infusion plus what the gut absorbs
    assert ss["urine_mg_mmol_per_day"] == pytest.approx(ss["absorbed_mmol_per_day"] + 20, rel=1e-8)
    assert ss["absorbed_mmol_per_day"] < healthy["absorbed_mmol_per_day"]  # TRPM6 down-regulated
    # the kidney spills the load: urine rises many times more, relatively, than serum does
    urine_rise = ss["urine_mg_mmol_per_day"] / healthy["urine_mg_mmol_per_day"] - 1
    serum_rise = ss["serum_mg_total_mM"] / healthy["serum_mg_total_mM"] - 1
    assert 0 < serum_rise and urine_rise > 10 * serum_rise


IV_LOAD = '[[treatment]]\nname = "iv_magnesium_sulfate"\namount = "30 mmol"\nstart = "{start}"\nduration = "8 hour"\n'


def _retention(run, start):
    """Fraction of a 30 mmol load not excreted within 24 h (urine in excess of the pre-load rate)."""
    t = run.time_day
    i0, i1 = np.searchsorted(t, start), np.searchsorted(t, start + 1)
    excreted = run.totals["cumulative_urine_mmol"][i1] - run.totals["cumulative_urine_mmol"][i0]
    baseline = run["urine_mg_mmol_per_day"][i0]
    return 1 - (excreted - baseline) / 30.0


def test_iv_load_mostly_excreted_when_replete():
    run = mgflux.simulate(scenario(IV_LOAD.format(start="1 day"), duration="3 day", extra_scenario='sample_every = "1 hour"'))
    assert _retention(run, 1.0) < 0.25  # Gullestad 1994: mean retention 6% (SD 10%); < 20-25% normal


def test_iv_load_retained_more_when_depleted():
    text = '[[perturbation]]\nname = "starvation"\nstart = "0 day"\nstop = "90 day"\n' + IV_LOAD.format(start="90 day")
    run = mgflux.simulate(scenario(text, duration="92 day", extra_scenario='sample_every = "1 hour"'))
    replete = mgflux.simulate(scenario(IV_LOAD.format(start="1 day"), duration="3 day", extra_scenario='sample_every = "1 hour"'))
    assert _retention(run, 90.0) > _retention(replete, 1.0) + 0.15


def test_steady_state_equals_end_of_long_run():
    sc = scenario('[[perturbation]]\nname = "starvation"\ndose = 0.5\n', duration="3000 day",
                  extra_scenario='sample_every = "100 day"')
    run, ss = mgflux.simulate(sc), mgflux.steady_state(sc)
    for k in ("serum_mg_total_mM", "urine_mg_mmol_per_day", "bone_pool_mmol", "trpm6_relative", "body_mg_mmol"):
        assert run.final[k] == pytest.approx(ss[k], rel=1e-4), k
