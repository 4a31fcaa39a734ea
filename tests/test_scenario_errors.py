"""Malformed scenarios: every error names the file and the key, and says what is allowed."""
import pytest

import mgflux

HEAD = '[scenario]\nname = "bad"\nduration = "30 day"\n[diet]\nmg_intake = "300 mg/day"\n'

# (scenario text, fragments the message must contain)
CASES = {
    "unknown section": ('[scenari]\nname = "x"\n', ["unknown key 'scenari'", "Did you mean 'scenario'"]),
    "unknown scenario key": ('[scenario]\nname = "x"\nduraton = "3 day"\n', ["duraton", "Did you mean 'duration'"]),
    "unknown diet key": ('[diet]\nmg_intak = "300 mg/day"\n', ["[diet]", "Did you mean 'mg_intake'"]),
    "intake wrong dimension": ('[diet]\nmg_intake = "300 mg"\n', ["mg_intake", "'mg'", "mmol/day"]),
    "intake not a quantity": ('[diet]\nmg_intake = "lots"\n', ["mg_intake", "'lots'"]),
    "negative intake": ('[diet]\nmg_intake = "-300 mg/day"\n', ["mg_intake", "negative"]),
    "infinite intake": ('[diet]\nmg_intake = "inf mg/day"\n', ["mg_intake", "not finite"]),
    "duration wrong dimension": ('[scenario]\nduration = "30 mmol"\n', ["duration", "'mmol'", "'day'"]),
    "zero duration": ('[scenario]\nduration = "0 day"\n', ["duration must be > 0"]),
    "unknown model": ('[scenario]\nmodel = "adlut"\n', ["unknown model 'adlut'", "Did you mean 'adult'"]),
    "unknown perturbation": (HEAD + '[[perturbation]]\nname = "omeprazol"\n', ["omeprazol", "Did you mean", "omeprazole", "[[perturbation]] #1"]),
    "unknown perturbation key": (HEAD + '[[perturbation]]\nname = "starvation"\ndoze = 0.5\n', ["doze", "Did you mean 'dose'"]),
    "dose out of range": (HEAD + '[[perturbation]]\nname = "starvation"\ndose = 1.5\n', ["dose = 1.5", "[0, 1]"]),
    "dose not a number": (HEAD + '[[perturbation]]\nname = "starvation"\ndose = "much"\n', ["dose", "relative dose"]),
    "stop before start": (HEAD + '[[perturbation]]\nname = "starvation"\nstart = "10 day"\nstop = "5 day"\n', ["stop", "must come after start"]),
    "start wrong dimension": (HEAD + '[[perturbation]]\nname = "starvation"\nstart = "10 mg"\n', ["start", "'mg'", "'day'"]),
    "missing name": (HEAD + '[[perturbation]]\ndose = 1.0\n', ["needs name"]),
    "single bracket section": (HEAD + '[perturbation]\nname = "starvation"\n', ["[[perturbation]]"]),
    "treatment under perturbation": (HEAD + '[[perturbation]]\nname = "magnesium_citrate"\n', ["is a treatment", "[[treatment]]"]),
    "oral amount wrong dimension": (HEAD + '[[treatment]]\nname = "magnesium_citrate"\namount = "400 mg"\n', ["amount", "'mg'", "mmol/day"]),
    "oral without amount": (HEAD + '[[treatment]]\nname = "magnesium_citrate"\n', ["needs amount"]),
    "iv amount without duration": (HEAD + '[[treatment]]\nname = "iv_magnesium_sulfate"\namount = "30 mmol"\n', ["duration", "rate"]),
    "iv rate and amount": (HEAD + '[[treatment]]\nname = "iv_magnesium_sulfate"\nrate = "20 mmol/day"\namount = "30 mmol"\n', ["either rate", "not both"]),
    "iv rate wrong dimension": (HEAD + '[[treatment]]\nname = "iv_magnesium_sulfate"\nrate = "20 mmol"\n', ["rate", "'mmol'", "mmol/day"]),
    "sample_every zero": ('[scenario]\nsample_every = "0 hour"\n', ["sample_every must be > 0"]),
    "not toml": ('[scenario\nname = "x"\n', ["not valid TOML"]),
    "gene with a window": (HEAD + '[[perturbation]]\nname = "SLC12A3"\nstart = "3 day"\n', ["start", "gene", "lifelong"]),
    "unknown genotype": (HEAD + '[[perturbation]]\nname = "SLC12A3"\ngenotype = "homozygote"\n', ["homozygote", "Did you mean 'homozygous'"]),
    "activity out of range": (HEAD + '[[perturbation]]\nname = "SLC12A3"\nactivity = 1.3\n', ["activity = 1.3", "[0, 1]"]),
    "drug dose wrong unit": (HEAD + '[[perturbation]]\nname = "omeprazole"\ndose = "20 mL"\n', ["dose", "'ml'", "standard dose"]),
}


@pytest.mark.parametrize("case", CASES)
def test_malformed_scenario_message(case, tmp_path):
    text, fragments = CASES[case]
    path = tmp_path / f"{case.replace(' ', '_')}.toml"
    path.write_text(text)
    with pytest.raises(mgflux.ScenarioError) as exc:
        mgflux.load_scenario(path)
    msg = str(exc.value)
    assert str(path) in msg, msg  # names the file
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in: {msg}"


def test_missing_file():
    with pytest.raises(mgflux.ScenarioError, match="does not exist"):
        mgflux.load_scenario("no/such/file.toml")


def test_steady_without_any_intake_is_loud():
    import tomllib

    sc = mgflux.scenario_from_dict(tomllib.loads(HEAD + '[[perturbation]]\nname = "starvation"\ndose = 1.0\n'))
    with pytest.raises(mgflux.SteadyStateError) as exc:
        mgflux.steady_state(sc)
    assert "tried" in str(exc.value) and "intake" in str(exc.value)


def test_steady_drops_one_off_infusion_and_says_so():
    import tomllib

    sc = mgflux.scenario_from_dict(tomllib.loads(
        HEAD + '[[treatment]]\nname = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "8 hour"\n'))
    ss = mgflux.steady_state(sc)
    assert any("one-off infusion" in n for n in ss.notes)
    assert ss["iv_mmol_per_day"] == 0
