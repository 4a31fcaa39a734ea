"""Calcium, PTH and calcitriol (models/modules/calcium.toml): physiology.md "Calcium and PTH", each target a test."""
import numpy as np
import pytest

import mgflux
from conftest import scenario


def _gene(name, genotype="homozygous", **kw):
    extra = "".join(f"{k} = {v}\n" for k, v in kw.items())
    g = f'genotype = "{genotype}"\n' if not kw else ""
    return f'[[perturbation]]\nname = "{name}"\n{g}{extra}'


@pytest.fixture(scope="module")
def base():
    return mgflux.steady_state(scenario(""))


def ss(text):
    return mgflux.steady_state(scenario(text))


def test_couplings_onto_mg_are_one_at_baseline(base):
    o = base.observables
    for name in ("casr_ca_coagonism", "pth_mg_tal_factor", "pth_mg_dct_factor", "calcitriol_mg_gut_factor",
                 "pth_action", "pth_responsiveness", "hydroxylase_target"):
        assert o[name] == pytest.approx(1.0, abs=0.02), name


def test_healthy_values_and_segment_shares(base):
    assert 2.25 <= base["serum_ca_total_mM"] <= 2.45
    assert 1.15 <= base["serum_ca_ionized_mM"] <= 1.25
    assert 0.45 <= base["serum_ca_ionized_mM"] / base["serum_ca_total_mM"] <= 0.55
    assert 3.5 <= base["pth_pM"] <= 4.3
    assert base["pth_pg_per_mL"] == pytest.approx(9.43 * base["pth_pM"])
    assert 55 <= base["calcitriol_pM"] <= 90
    assert 2.5 <= base["urine_ca_mmol_per_day"] <= 7.5 and 1 <= base["feca_percent"] <= 2
    assert base["urine_ca_creatinine_ratio"] < 0.6
    assert 60 <= base["reabsorbed_ca_pt_percent"] <= 70
    assert 20 <= base["reabsorbed_ca_tal_percent"] <= 25
    assert 5 <= base["reabsorbed_ca_dct_percent"] <= 10
    assert base["hypocalcemia_grade"] == 0 and base["hypermagnesemia_grade"] == 0
    assert abs(base["ca_bone_balance_mmol_per_day"]) < 0.2  # the skeleton at balance


def test_ca_mass_balance_closes_over_a_year():
    text = _gene("hungry_bone_syndrome").replace('genotype = "homozygous"\n', 'dose = 1.0\nstart = "30 day"\nstop = "90 day"\n')
    text += '[[treatment]]\nname = "calcium_carbonate"\namount = "1000 mg/day"\nstart = "60 day"\nstop = "200 day"\n'
    text += '[[treatment]]\nname = "iv_magnesium_sulfate"\namount = "30 mmol"\nstart = "150 day"\nduration = "8 hour"\n'
    run = mgflux.simulate(scenario(text, duration="365 day"))
    err = run.ca_mass_balance_error()
    throughput = run.totals["cumulative_ca_intake_mmol"][-1]
    assert throughput > 9000
    assert np.max(np.abs(err)) / throughput < 1e-8
    assert np.max(np.abs(run.mass_balance_error())) / run.totals["cumulative_intake_mmol"][-1] < 1e-8
    # 1000 mg of Ca is 25 mmol (40.078 g/mol, not Mg's 24.305)
    t = run.time_day
    day_100_to_101 = np.interp([100.0, 101.0], t, run.totals["cumulative_ca_intake_mmol"])
    assert day_100_to_101[1] - day_100_to_101[0] == pytest.approx(25 + 24.95, rel=0.01)


def test_cldn16_hypercalciuria_at_least_twofold(base):
    r = ss(_gene("CLDN16"))
    assert r["urine_ca_mmol_per_day"] >= 2 * base["urine_ca_mmol_per_day"]
    assert r["pth_pM"] > base["pth_pM"]  # secondary hyperparathyroidism


def test_gitelman_hypocalciuria(base):
    r = ss(_gene("SLC12A3"))
    assert r["urine_ca_mmol_per_day"] <= 0.5 * base["urine_ca_mmol_per_day"]
    assert r["urine_ca_creatinine_ratio"] < 0.2  # KDIGO 2017


def test_thiazide_lowers_urine_ca_26_to_50_percent(base):
    r = ss('[[perturbation]]\nname = "hydrochlorothiazide"\n')
    change = r["urine_ca_mmol_per_day"] / base["urine_ca_mmol_per_day"] - 1
    assert -0.50 <= change <= -0.26


def test_furosemide_raises_urine_ca_serum_unchanged(base):
    r = ss('[[perturbation]]\nname = "furosemide"\n')
    assert r["urine_ca_mmol_per_day"] > 1.1 * base["urine_ca_mmol_per_day"]  # the 24-h mean of the daily pulse
    assert r["serum_ca_total_mM"] == pytest.approx(base["serum_ca_total_mM"], rel=0.04)


def test_casr_gain_adh1(base):
    r = ss(_gene("CASR", "heterozygous"))
    assert 1.7 <= r["serum_ca_total_mM"] <= 1.9
    assert r["pth_pM"] <= base["pth_pM"]  # PTH not raised
    assert r["feca_percent"] >= base["feca_percent"]  # relative hypercalciuria: FECa not low


def test_casr_loss_fhh(base):
    r = ss('[[perturbation]]\nname = "CASR"\nactivity = 0.8\n')
    assert base["serum_ca_total_mM"] + 0.1 < r["serum_ca_total_mM"] < 3.0  # mild hypercalcaemia
    assert r["feca_percent"] < 1.0  # very low FECa (Marx 1981)
    assert r["serum_mg_total_mM"] > base["serum_mg_total_mM"]  # high-normal Mg
    assert r["serum_mg_total_mM"] < 1.05


def test_trpm6_hypocalcaemia_without_raised_pth():
    r = ss(_gene("TRPM6"))
    assert r["serum_mg_total_mM"] < 0.4
    assert r["serum_ca_total_mM"] < 2.1 and r["hypocalcemia_grade"] >= 1
    assert r["pth_pM"] < 6.9  # within the reference range (65 pg/mL) despite hypocalcaemia: secretion failure


def test_severe_depletion_hypocalcaemia_corrected_by_mg_alone_within_two_weeks():
    text = _gene("TRPM6") + '[[treatment]]\nname = "magnesium_chloride"\namount = "2000 mg/day"\nstart = "10 day"\n'
    run = mgflux.simulate(scenario(text, duration="40 day"))
    t, ca = run.time_day, run["serum_ca_total_mM"]
    assert ca[np.searchsorted(t, 9)] < 2.1  # hypocalcaemic before Mg
    assert ca[np.searchsorted(t, 11)] < 2.1  # not corrected at once (end-organ resistance recovers slowly)
    assert ca[np.searchsorted(t, 24)] >= 2.1  # corrected within two weeks of Mg alone
    # PTH release resumes at once when Mg is given (Rude 1978): a rise within the first day
    i = np.searchsorted(t, 10)
    assert run["pth_pM"][i + 1] > run["pth_pM"][i - 1]


def test_iv_mgso4_to_2_5_mM_suppresses_pth():
    text = '[[treatment]]\nname = "iv_magnesium_sulfate"\nrate = "170 mmol/day"\nstart = "1 day"\nstop = "1.25 day"\n'
    run = mgflux.simulate(scenario(text, duration="2 day", extra_scenario='sample_every = "1 hour"'))
    t = run.time_day
    i = np.searchsorted(t, 1.25 - 1e-9)
    assert 2.2 <= run["serum_mg_total_mM"][i] <= 2.8
    assert run["pth_pM"][i] < 0.75 * run["pth_pM"][0]  # Cholst 1984: ~40% lower
    assert run["serum_ca_ionized_mM"][i] < run["serum_ca_ionized_mM"][0]
    assert run["hypermagnesemia_grade"][i] == 3


def test_hypoparathyroidism_and_calcitriol_treatment(base):
    hypo = '[[perturbation]]\nname = "hypoparathyroidism_postsurgical"\ndose = 0.9\n'
    r = ss(hypo)
    assert r["pth_pM"] < 0.5 * base["pth_pM"] and r["serum_ca_total_mM"] < 2.1
    # PTH acts back on Mg only a little (Rude 1980: TmMg normal in hypoparathyroidism)
    assert abs(r["serum_mg_total_mM"] - base["serum_mg_total_mM"]) < 0.1
    treated = ss(hypo + '[[treatment]]\nname = "calcitriol"\namount = "0.5 ug/day"\n'
                 '[[treatment]]\nname = "calcium_carbonate"\namount = "1000 mg/day"\n')
    assert treated["serum_ca_total_mM"] > r["serum_ca_total_mM"] + 0.1
    assert treated["urine_ca_mmol_per_day"] > r["urine_ca_mmol_per_day"]  # the hypercalciuria risk


def test_cinacalcet_lowers_pth_and_ca(base):
    r = ss('[[perturbation]]\nname = "cinacalcet"\n')
    assert r["pth_pM"] < base["pth_pM"] and r["serum_ca_total_mM"] < base["serum_ca_total_mM"]


def test_ca_salt_amount_uses_ca_molar_mass():
    r = mgflux.steady_state(scenario('[[treatment]]\nname = "calcium_citrate"\namount = "500 mg/day"\n'))
    assert r.parameters["ca_supplement_intake"] == pytest.approx(500 / 40.078, rel=1e-9)


def test_grades():
    assert list(mgflux.hypermagnesemia_grade(np.array([1.0, 1.1, 1.3, 3.5]))) == [0, 1, 3, 4]
    assert list(mgflux.hypocalcemia_grade(np.array([2.2, 2.05, 1.9, 1.6, 1.4]))) == [0, 1, 2, 3, 4]


def test_compare_puts_the_ca_waterfall_beside_the_mg_one():
    from mgflux import compare

    c = compare(scenario(_gene("CLDN16")))
    rows = {r[0]: r for r in c.rows}
    for label in ("Ca filtered load", "Ca PT reabsorbed", "Ca TAL reabsorbed", "Ca DCT/CNT reabsorbed", "urine Ca"):
        assert label in rows
    # the waterfall closes: filtered = PT + TAL + DCT/CNT + urine
    h = [rows[k][2] for k in ("Ca PT reabsorbed", "Ca TAL reabsorbed", "Ca DCT/CNT reabsorbed", "urine Ca")]
    assert sum(h) == pytest.approx(rows["Ca filtered load"][2], rel=1e-9)
    assert rows["Ca TAL reabsorbed"][3] < 0.5 * rows["Ca TAL reabsorbed"][2]  # the claudin pore is shared
    assert any("TAL reabsorbs less Ca" in f for f in c.findings)


def test_ca_readouts_in_batches_and_csv(tmp_path):
    sc = scenario(_gene("CLDN16"))
    run = mgflux.simulate(sc)
    path = run.to_csv(tmp_path / "tc.csv")
    header = path.read_text().splitlines()[0].split(",")
    for k in ("serum_ca_total_mM", "pth_pM", "urine_ca_creatinine_ratio", "hypocalcemia_grade", "cumulative_ca_urine_mmol"):
        assert k in header
    from mgflux import Vary, sweep

    batch = sweep(scenario(""), [Vary("claudin_permeability", 0.05, 1.0, 3)])
    u = np.asarray(batch["urine_ca_mmol_per_day"])
    assert np.all(np.diff(u) < 0)  # more pore, less Ca lost (batched readouts carry the Ca module)
    assert np.all(np.asarray(batch["hypocalcemia_grade"]) >= 0)


def test_remembered_conversions_keep_the_element_apart():
    """The on-disk store of unit conversions keys on the element: a Mg mass remembered first must not give a
    Ca supplement Mg's molar mass (1000 mg/day: 41.1 mmol/day of Mg, 25.0 of Ca)."""
    for first, second in (("magnesium_citrate", "calcium_citrate"), ("calcium_carbonate", "magnesium_oxide")):
        a, b = (scenario(f'[[treatment]]\nname = "{n}"\namount = "1000 mg/day"\n').applications[0] for n in (first, second))
        mg, ca = (a.value, b.value) if a.entry.element != "Ca" else (b.value, a.value)
        assert mg == pytest.approx(1000 / 24.305) and ca == pytest.approx(1000 / 40.078), (first, second)
