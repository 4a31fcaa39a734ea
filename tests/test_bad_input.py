"""Trust at the edges (issue 12): every bad input gets a clear answer, nothing implausible is accepted in silence.

Each case asserts the exit code, that no traceback is printed, and the words of the message. Most run the
command line in-process (``mgflux.cli.main.main``); a few run it as a subprocess end to end (caches, HOME).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

import mgflux
from conftest import ROOT, SCENARIOS
from mgflux import main

HEALTHY = str(SCENARIOS / "healthy.toml")
HEAD = '[scenario]\nname = "bad"\nduration = "30 day"\n[diet]\nmg_intake = "300 mg/day"\n'


def cli(argv, capsys):
    """(exit code, stdout, stderr) of the command line run in-process; never a traceback."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: bad flag values end here, before any work
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, out, err


def write(tmp_path, text, name="sc.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def P(body):  # a [[perturbation]] block
    return "[[perturbation]]\n" + textwrap.dedent(body)


def T(body):  # a [[treatment]] block
    return "[[treatment]]\n" + textwrap.dedent(body)


# ---------------------------------------------------------------------------------------------------------
# 1. scenario files: impossible input is an error naming the file, the key and the allowed range

SCENARIO_ERRORS = {
    "intake 1e9 mg/day": ('[diet]\nmg_intake = "1e9 mg/day"\n', ["mg_intake", "outside the allowed range", "20000 mg/day"]),
    "intake 300 g/day typo": ('[diet]\nmg_intake = "300 g/day"\n', ["mg_intake", "3e+05 mg/day", "impossible"]),
    "intake 25 g/day": ('[diet]\nmg_intake = "25 g/day"\n', ["mg_intake", "<= 20000 mg/day"]),
    "intake negative": ('[diet]\nmg_intake = "-5 mg/day"\n', ["mg_intake", "negative"]),
    "intake nan": ('[diet]\nmg_intake = "nan mg/day"\n', ["mg_intake", "not finite"]),
    "intake wrong dimension": ('[diet]\nmg_intake = "300 mg"\n', ["mg_intake", "'mg'", "mmol/day"]),
    "intake bare number": ('[diet]\nmg_intake = 300\n', ["mg_intake", "dimensionless", "mmol/day"]),
    "intake boolean": ('[diet]\nmg_intake = true\n', ["mg_intake", "must be a quantity"]),
    "intake array": ('[diet]\nmg_intake = [300, 400]\n', ["mg_intake", "must be a quantity"]),
    "intake gibberish unit": ('[diet]\nmg_intake = "300 mgg/day"\n', ["mg_intake", "not a quantity pint can read"]),
    "diet not a table": ('diet = 5\n', ["must be a table of keys"]),
    "unknown diet key": ('[diet]\nintake = "300 mg/day"\n', ["unknown key 'intake'", "mg_intake"]),
    "unknown section": ('[diett]\nmg_intake = "300 mg/day"\n', ["unknown key 'diett'", "Did you mean 'diet'"]),
    "citrate 50 g/day": (HEAD + T('name = "magnesium_citrate"\namount = "50 g/day"\n'), ["amount", "outside the allowed range", "mg/day"]),
    "citrate negative": (HEAD + T('name = "magnesium_citrate"\namount = "-400 mg/day"\n'), ["amount", "negative"]),
    "citrate as mass": (HEAD + T('name = "magnesium_citrate"\namount = "400 mg"\n'), ["amount", "'mg'", "mmol/day"]),
    "citrate with rate": (HEAD + T('name = "magnesium_citrate"\nrate = "400 mg/day"\n'), ["oral treatment", "not rate"]),
    "citrate without amount": (HEAD + T('name = "magnesium_citrate"\n'), ["needs amount", "elemental"]),
    "inulin 500 g/day": (HEAD + T('name = "inulin"\namount = "500 g/day"\n'), ["amount", "500 g/day", "<= 200 g/day"]),
    "inulin in mmol": (HEAD + T('name = "inulin"\namount = "20 mmol/day"\n'), ["amount", "cannot be converted", "g/day"]),
    "iv 3000 mmol over a minute": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "3000 mmol"\nduration = "1 minute"\n'),
                                   ["amount", "3000 mmol", "<= 1000 mmol", "whole body content"]),
    "iv 30 mmol in a second": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "1 second"\n'),
                               ["amount / duration", "mmol/hour", "outside the allowed range"]),
    "iv rate 5000 mmol/day": (HEAD + T('name = "iv_magnesium_sulfate"\nrate = "5000 mmol/day"\n'), ["rate", "<= 2000 mmol/day"]),
    "iv zero duration": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "0 hour"\n'), ["duration must be > 0"]),
    "iv negative duration": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "-1 hour"\n'), ["duration", "negative"]),
    "iv amount with stop": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "8 hour"\nstop = "2 day"\n'),
                            ["stop does not apply"]),
    "iv amount without duration": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\n'), ["duration", "rate"]),
    "iv amount as mass rate": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol/day"\nduration = "8 hour"\n'),
                               ["amount", "mmol/day", "'mmol'"]),
    "iv rate and amount": (HEAD + T('name = "iv_magnesium_sulfate"\nrate = "20 mmol/day"\namount = "30 mmol"\n'), ["not both"]),
    "duration 200 years": ('[scenario]\nduration = "200 year"\n', ["duration", "54750 day", "impossible"]),
    "duration zero": ('[scenario]\nduration = "0 day"\n', ["duration must be > 0"]),
    "duration wrong dimension": ('[scenario]\nduration = "30 mmol"\n', ["duration", "'mmol'", "'day'"]),
    "sample_every too fine": ('[scenario]\nsample_every = "1e-9 day"\n', ["2 million samples"]),
    "sample_every wrong dimension": ('[scenario]\nsample_every = "5 mg"\n', ["sample_every", "'mg'"]),
    "scenario name not a string": ('[scenario]\nname = 5\n', ["name = 5", "must be a string"]),
    "description not a string": ('[scenario]\ndescription = 5\n', ["description = 5", "must be a string"]),
    "model not a string": ('[scenario]\nmodel = 5\n', ["model = 5", "model name"]),
    "unknown model": ('[scenario]\nmodel = "adlut"\n', ["unknown model 'adlut'", "Did you mean 'adult'"]),
    "drug dose in mmol": (HEAD + P('name = "omeprazole"\ndose = "0.8 mmol/day"\n'),
                          ["dose = '0.8 mmol/day'", "amount of substance", "molar mass of omeprazole", "20 mg/day"]),
    "drug dose in mEq": (HEAD + P('name = "furosemide"\ndose = "2 mEq/day"\n'), ["amount of substance", "molar mass"]),
    "drug dose as mass only": (HEAD + P('name = "omeprazole"\ndose = "40 mg"\n'), ["dose = '40 mg'", "standard dose unit", "mg / d"]),
    "drug dose per m2": (HEAD + P('name = "cetuximab"\ndose = "250 mg/m**2/week"\n'), ["cannot be converted", "450 mg/week"]),
    "drug dose in mL": (HEAD + P('name = "omeprazole"\ndose = "20 mL"\n'), ["dose", "standard dose"]),
    "drug dose too high": (HEAD + P('name = "omeprazole"\ndose = 5\n'), ["dose = 5", "[0, 4]"]),
    "drug dose negative": (HEAD + P('name = "omeprazole"\ndose = -1\n'), ["dose = -1", "[0, 4]"]),
    "drug dose 200 mg/day": (HEAD + P('name = "omeprazole"\ndose = "200 mg/day"\n'), ["dose = 10", "[0, 4]"]),
    "drug dose boolean": (HEAD + P('name = "omeprazole"\ndose = true\n'), ["must be a finite number"]),
    "condition dose as text": (HEAD + P('name = "starvation"\ndose = "much"\n'), ["relative dose", "[0, 1]"]),
    "drug with genotype": (HEAD + P('name = "omeprazole"\ngenotype = "homozygous"\n'), ["applies to genes only"]),
    "gene with dose": (HEAD + P('name = "SLC12A3"\ndose = 1.0\n'), ["dose does not apply to a gene"]),
    "gene with stop": (HEAD + P('name = "SLC12A3"\nstop = "10 day"\n'), ["stop does not apply", "lifelong"]),
    "gene activity negative": (HEAD + P('name = "SLC12A3"\nactivity = -0.1\n'), ["activity = -0.1", "[0, 1]"]),
    "gene activity 5": (HEAD + P('name = "TRPM6"\nactivity = 5\n'), ["activity = 5", "[0, 1]"]),
    "gene genotype and activity": (HEAD + P('name = "SLC12A3"\ngenotype = "heterozygous"\nactivity = 0.5\n'), ["not both"]),
    "gene unknown genotype": (HEAD + P('name = "SLC12A3"\ngenotype = "hetero"\n'), ["unknown genotype 'hetero'", "heterozygous"]),
    "name not a string": (HEAD + P('name = 5\n'), ["needs name"]),
    "missing name": (HEAD + P('dose = 1.0\n'), ["needs name"]),
    "unknown entry": (HEAD + P('name = "omeprazol"\n'), ["omeprazol", "Did you mean", "omeprazole"]),
    "unknown treatment": (HEAD + T('name = "magnesium_citrat"\namount = "300 mg/day"\n'), ["Did you mean", "magnesium_citrate"]),
    "drug as treatment": (HEAD + T('name = "omeprazole"\n'), ["is a drug", "[[perturbation]]"]),
    "treatment as perturbation": (HEAD + P('name = "magnesium_oxide"\n'), ["is a treatment", "[[treatment]]"]),
    "single bracket": (HEAD + '[perturbation]\nname = "omeprazole"\n', ["[[perturbation]]", "a list"]),
    "block not a table": ('perturbation = ["omeprazole"]\n' + HEAD, ["must be a table of keys", "omeprazole"]),
    "unknown block key": (HEAD + P('name = "omeprazole"\nstrat = "3 day"\n'), ["strat", "Did you mean 'start'"]),
    "start negative": (HEAD + P('name = "omeprazole"\nstart = "-3 day"\n'), ["start", "negative"]),
    "stop equals start": (HEAD + P('name = "omeprazole"\nstart = "3 day"\nstop = "3 day"\n'), ["must come after start"]),
    "start in mg": (HEAD + P('name = "omeprazole"\nstart = "3 mg"\n'), ["start", "'mg'", "'day'"]),
    "start a calendar date": (HEAD + P('name = "omeprazole"\nstart = 2024-01-01\n'), ["calendar date", '"30 day"']),
    "stop a bare number": (HEAD + P('name = "omeprazole"\nstop = 30\n'), ["stop", "dimensionless", "'day'"]),
    "stop infinite": (HEAD + P('name = "omeprazole"\nstop = "inf day"\n'), ["stop", "not finite"]),
    "drug dose per kg": (HEAD + P('name = "omeprazole"\ndose = "20 mg/day/kg"\n'), ["cannot be converted", "20 mg/day"]),
    "drug dose infinite": (HEAD + P('name = "omeprazole"\ndose = "1e400 mg/day"\n'), ["must be a finite number"]),
    # duplicates: one policy
    "same drug overlapping": (HEAD + P('name = "omeprazole"\n') + P('name = "omeprazole"\nstart = "10 day"\n'),
                              ["omeprazole is already listed with an overlapping window", "dosing cycles"]),
    "four omeprazole blocks": (HEAD + P('name = "omeprazole"\ndose = 4\n') * 4, ["already listed", "overlapping"]),
    "same gene twice": (HEAD + P('name = "SLC12A3"\n') + P('name = "SLC12A3"\ngenotype = "heterozygous"\n'),
                        ["SLC12A3 is already listed", "lifelong", "once"]),
    "same gene by alias": (HEAD + P('name = "SLC12A3"\n') + P('name = "gitelman"\n'), ["already listed", "lifelong"]),
    "same gene lower case": (HEAD + P('name = "SLC12A3"\n') + P('name = "slc12a3"\n'), ["already listed"]),
    "class and member": (HEAD + P('name = "ppi"\n') + P('name = "omeprazole"\n'),
                         ["ppi (the drug class", "omeprazole (one of its members)", "same drug twice"]),
    "class alias and member": (HEAD + P('name = "PPI"\n') + P('name = "esomeprazole"\nstart = "5 day"\n'), ["drug class", "same drug twice"]),
    "member then class": (HEAD + P('name = "tacrolimus"\n') + P('name = "calcineurin_inhibitor"\n'), ["drug class", "tacrolimus"]),
    "loop class and furosemide": (HEAD + P('name = "loop_diuretics"\n') + P('name = "furosemide"\n'), ["drug class"]),
    "same treatment overlapping": (HEAD + T('name = "magnesium_citrate"\namount = "300 mg/day"\n')
                                   + T('name = "mg_citrate"\namount = "300 mg/day"\nstart = "3 day"\n'), ["already listed"]),
    "iv overlapping infusions": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "8 hour"\n')
                                 + T('name = "iv_magnesium_sulfate"\nrate = "20 mmol/day"\nstart = "0.1 day"\nstop = "2 day"\n'),
                                 ["already listed", "overlapping"]),
    # [patient] (checked by model/patient.py, through the same path)
    "patient age 200 years": ('[patient]\nage = "200 year"\n', ["age = '200 year'", "allowed range", "110 year"]),
    "patient weight 2000 kg": ('[patient]\nweight = "2000 kg"\n', ["weight", "0.5-300 kg"]),
    "patient weight in mmol": ('[patient]\nweight = "70 mmol"\n', ["weight", "'mmol'", "'kg'"]),
    "patient unknown sex": ('[patient]\nsex = "other"\n', ["unknown sex 'other'", "female, male"]),
    "patient negative gfr": ('[patient]\ngfr = "-5 mL/min"\n', ["gfr", "1-250 mL/min"]),
    "patient gfr and creatinine": ('[patient]\ngfr = "60 mL/min"\nserum_creatinine = "1 mg/dL"\n', ["not both"]),
    "patient key typo": ('[patient]\nagee = "8 year"\n', ["unknown key 'agee'", "Did you mean 'age'"]),
    # encodings and files
    "not toml": ('[scenario\nname = "x"\n', ["not valid TOML"]),
}


@pytest.mark.parametrize("case", SCENARIO_ERRORS)
def test_scenario_error(case, tmp_path, capsys):
    text, fragments = SCENARIO_ERRORS[case]
    path = write(tmp_path, text)
    code, out, err = cli(["steady", path], capsys)
    assert code == 2, (out, err)
    assert err.startswith("mgflux: error:") and str(path) in err, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in: {err}"


FILE_ERRORS = {
    "latin-1": (lambda p: p.write_bytes('[scenario]\nname = "Müller"\n'.encode("latin-1")), ["not UTF-8", "Latin-1", "line 2"]),
    "utf-16": (lambda p: p.write_text('[scenario]\nname = "x"\n', encoding="utf-16"), ["UTF-16", "save it as UTF-8"]),
    "binary": (lambda p: p.write_bytes(b"\x00\x81\xff\xfe\x00" * 20), ["not UTF-8"]),
    "a folder": (lambda p: p.mkdir(), ["is a folder, not a scenario file"]),
    "missing": (lambda p: None, ["does not exist"]),
}


@pytest.mark.parametrize("case", FILE_ERRORS)
def test_file_error(case, tmp_path, capsys):
    make, fragments = FILE_ERRORS[case]
    path = tmp_path / "sc.toml"
    make(path)
    code, out, err = cli(["steady", path], capsys)
    assert code == 2
    for frag in fragments:
        assert frag in err, err


def test_utf8_with_bom_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + '[scenario]\nname = "Bömer"\n[diet]\nmg_intake = "300 mg/day"\n'.encode())
    code, out, err = cli(["steady", path, "--json"], capsys)
    assert code == 0 and json.loads(out)["scenario"] == "Bömer"


def test_drug_dose_as_mass_converts_with_the_standard_dose_not_mg_molar_mass():
    from conftest import scenario

    sc = scenario('[[perturbation]]\nname = "omeprazole"\ndose = "80 mg/day"\n')
    assert sc.applications[0].value == pytest.approx(4.0)  # 80 / 20 mg/day
    sc = scenario('[[perturbation]]\nname = "cetuximab"\ndose = "225 mg/week"\n')
    assert sc.applications[0].value == pytest.approx(0.5)


def test_dosing_cycles_of_one_name_are_allowed():
    from conftest import scenario

    sc = scenario(P('name = "cisplatin"\nstart = "1 day"\nstop = "2 day"\n')
                  + P('name = "cisplatin"\nstart = "22 day"\nstop = "23 day"\n'))
    assert len(sc.applications) == 2 and not sc.warnings
    sc = scenario(P('name = "ppi"\nstop = "10 day"\n') + P('name = "omeprazole"\nstart = "10 day"\n'))
    assert len(sc.applications) == 2  # a class, then a member: no overlap


# ---------------------------------------------------------------------------------------------------------
# 2. implausible but possible: a warning in the scenario, on stderr and in the JSON

SCENARIO_WARNINGS = {
    "intake 1500 mg/day": ('[diet]\nmg_intake = "1500 mg/day"\n', ["mg_intake", "above 1000 mg/day", "implausible"]),
    "citrate 3 g/day": (HEAD + T('name = "magnesium_citrate"\namount = "3000 mg/day"\n'), ["amount", "above 2000 mg/day"]),
    "inulin 60 g/day": (HEAD + T('name = "inulin"\namount = "60 g/day"\n'), ["amount", "above 40 g/day"]),
    "iv 150 mmol over a day": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "150 mmol"\nduration = "24 hour"\n'),
                               ["above 100 mmol"]),
    "iv 10 mmol over a minute": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "10 mmol"\nduration = "1 minute"\n'),
                                 ["amount / duration", "600 mmol/hour", "above 250 mmol/hour"]),
    "iv rate 500 mmol/day": (HEAD + T('name = "iv_magnesium_sulfate"\nrate = "500 mmol/day"\n'), ["above 200 mmol/day"]),
    "duration 120 years": ('[scenario]\nduration = "120 year"\n', ["duration", "above 36500 day"]),
    "drug starts after the end": (HEAD + P('name = "omeprazole"\nstart = "60 day"\n'), ["starts at day 60", "after the end", "never applies"]),
    "treatment starts at the end": (HEAD + T('name = "magnesium_oxide"\namount = "400 mg/day"\nstart = "30 day"\n'), ["after the end"]),
    "infusion past the end": (HEAD + T('name = "iv_magnesium_sulfate"\namount = "30 mmol"\nduration = "8 hour"\nstart = "29.9 day"\n'),
                              ["ends at day", "only part of it"]),
    "stacked PPIs": (HEAD + P('name = "omeprazole"\n') + P('name = "esomeprazole"\n'), ["both ppi drugs", "stacked drugs"]),
    "stacked thiazides": (HEAD + P('name = "hydrochlorothiazide"\n') + P('name = "chlorthalidone"\nstart = "5 day"\n'),
                          ["both thiazide drugs"]),
    "stacked aminoglycosides": (HEAD + P('name = "gentamicin"\nstop = "10 day"\n') + P('name = "amikacin"\nstart = "5 day"\n'),
                                ["both aminoglycoside drugs"]),
}


@pytest.mark.parametrize("case", SCENARIO_WARNINGS)
def test_scenario_warning(case, tmp_path):
    text, fragments = SCENARIO_WARNINGS[case]
    sc = mgflux.load_scenario(write(tmp_path, text))
    msg = "\n".join(sc.warnings)
    assert sc.warnings, case
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in: {msg}"


def test_warning_on_stderr_and_in_json(tmp_path, capsys):
    path = write(tmp_path, '[diet]\nmg_intake = "1500 mg/day"\n')
    code, out, err = cli(["steady", path, "--json"], capsys)
    assert code == 0
    assert "mgflux: warning:" in err and "above 1000 mg/day" in err
    assert any("above 1000 mg/day" in w for w in json.loads(out)["warnings"])
    code, out, err = cli(["run", path, "--json"], capsys)
    assert code == 0 and any("above 1000 mg/day" in w for w in json.loads(out)["warnings"])


def test_shipped_scenarios_raise_no_warning():
    for p in sorted(SCENARIOS.rglob("*.toml")):
        assert not mgflux.load_scenario(p).warnings, p


# ---------------------------------------------------------------------------------------------------------
# 3. the web API's entry point: a dict gets the same checks and the same messages

DICT_ERRORS = {
    "not a dict": ("healthy", ["a scenario is a table"]),
    "list": ([1, 2], ["a scenario is a table"]),
    "scenario is a list": ({"scenario": []}, ["[scenario]", "must be a table of keys"]),
    "perturbation a dict": ({"perturbation": {"name": "omeprazole"}}, ["[[perturbation]]"]),
    "perturbation item a number": ({"perturbation": [5]}, ["must be a table of keys"]),
    "intake null": ({"diet": {"mg_intake": None}}, ["mg_intake", "must be a quantity"]),
    "intake list": ({"diet": {"mg_intake": [1, 2]}}, ["mg_intake", "must be a quantity"]),
    "intake huge": ({"diet": {"mg_intake": "1e9 mg/day"}}, ["mg_intake", "outside the allowed range"]),
    "oral huge": ({"treatment": [{"name": "magnesium_citrate", "amount": "1e9 mg/day"}]}, ["amount", "impossible"]),
    "duplicate": ({"perturbation": [{"name": "omeprazole"}, {"name": "omeprazole"}]}, ["already listed"]),
    "class and member": ({"perturbation": [{"name": "ppi"}, {"name": "lansoprazole"}]}, ["drug class"]),
    "dose in mmol": ({"perturbation": [{"name": "omeprazole", "dose": "0.8 mmol/day"}]}, ["molar mass"]),
    "unknown name": ({"perturbation": [{"name": "cetuximap"}]}, ["Did you mean", "cetuximab"]),
    "dose nan": ({"perturbation": [{"name": "omeprazole", "dose": float("nan")}]}, ["must be a finite number"]),
}


@pytest.mark.parametrize("case", DICT_ERRORS)
def test_dict_scenario_error(case):
    from mgflux import validate_scenario

    raw, fragments = DICT_ERRORS[case]
    with pytest.raises(mgflux.ScenarioError) as exc:
        validate_scenario(raw, where="POST /api/steady")
    for frag in fragments:
        assert frag in str(exc.value), str(exc.value)
    assert "POST /api/steady" in str(exc.value)


def test_dict_and_file_give_the_same_message(tmp_path):
    from mgflux import validate_scenario

    text = '[diet]\nmg_intake = "300 g/day"\n'
    path = write(tmp_path, text)
    with pytest.raises(mgflux.ScenarioError) as a:
        mgflux.load_scenario(path)
    with pytest.raises(mgflux.ScenarioError) as b:
        validate_scenario(tomllib.loads(text), where=str(path))
    assert str(a.value) == str(b.value)


def test_dict_warnings_reach_the_result():
    from mgflux import validate_scenario

    sc = validate_scenario({"diet": {"mg_intake": "1200 mg/day"}})
    assert sc.warnings and any("above 1000" in w for w in mgflux.steady_state(sc).warnings)


# ---------------------------------------------------------------------------------------------------------
# 4. command-line flags: checked before any work

FLAG_ERRORS = {
    "population --n 0": (["population", HEALTHY, "--n", "0"], ["--n", "must be >= 1"]),
    "population --n -5": (["population", HEALTHY, "--n", "-5"], ["--n", "must be >= 1"]),
    "population --n abc": (["population", HEALTHY, "--n", "abc"], ["--n", "not a whole number"]),
    "population --n 2.5": (["population", HEALTHY, "--n", "2.5"], ["--n", "not a whole number"]),
    "population --seed -1": (["population", HEALTHY, "--seed", "-1"], ["--seed", "must be >= 0"]),
    "population --workers 0": (["population", HEALTHY, "--workers", "0"], ["--workers", "must be >= 1"]),
    "population --scheduler banana": (["population", HEALTHY, "--scheduler", "banana"], ["not a scheduler address", "tcp://HOST:PORT"]),
    "population --scheduler bad port": (["population", HEALTHY, "--scheduler", "tcp://host:99999"], ["port 99999"]),
    "population --scheduler http": (["population", HEALTHY, "--scheduler", "http://host"], ["not a scheduler address"]),
    "population --scheduler port 0": (["population", HEALTHY, "--scheduler", "tcp://host:0"], ["port 0"]),
    "population --scheduler spaces": (["population", HEALTHY, "--scheduler", "tcp://a b:1"], ["not a scheduler address"]),
    "population --days 0": (["population", HEALTHY, "--days", "0"], ["--days", "> 0"]),
    "population --days -1": (["population", HEALTHY, "--days", "-1"], ["--days", "> 0"]),
    "population --days nan": (["population", HEALTHY, "--days", "nan"], ["--days", "finite"]),
    "population --days inf": (["population", HEALTHY, "--days", "inf"], ["--days", "finite"]),
    "population --days 1e9": (["population", HEALTHY, "--days", "1e9"], ["--days", "150 years"]),
    "population --days text": (["population", HEALTHY, "--days", "soon"], ["not a number of days"]),
    "sweep --samples 0": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--samples", "0"], ["--samples", ">= 1"]),
    "sweep --samples -3": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--samples", "-3"], ["--samples", ">= 1"]),
    "sweep --seed -2": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--seed", "-2"], ["--seed", ">= 0"]),
    "sweep --workers -1": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--workers", "-1"], ["--workers", ">= 1"]),
    "sweep --method bogus": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--method", "bogus"], ["invalid choice", "lhs"]),
    "sensitivity --n 0": (["sensitivity", HEALTHY, "--n", "0"], ["--n", ">= 1"]),
    "sensitivity --top 0": (["sensitivity", HEALTHY, "--top", "0"], ["--top", ">= 1"]),
    "sensitivity --top -1": (["sensitivity", HEALTHY, "--top", "-1"], ["--top", ">= 1"]),
    "sensitivity --method bogus": (["sensitivity", HEALTHY, "--method", "bogus"], ["invalid choice", "morris"]),
    "catalogue --kind bogus": (["catalogue", "--kind", "bogus"], ["invalid choice"]),
    "unknown command": (["simulate", HEALTHY], ["invalid choice", "steady"]),
    "steady without scenario": (["steady"], ["required", "scenario"]),
    "export-sbml without -o": (["export-sbml", HEALTHY], ["required", "-o"]),
}


@pytest.mark.parametrize("case", FLAG_ERRORS)
def test_flag_error(case, capsys):
    argv, fragments = FLAG_ERRORS[case]
    code, out, err = cli(argv, capsys)
    assert code == 2 and out == ""
    for frag in fragments:
        assert frag in err, err


COMMAND_ERRORS = {
    "morris --n 1": (["sensitivity", HEALTHY, "--method", "morris", "--n", "1"], ["at least 2 trajectories"]),
    "sobol --n 4": (["sensitivity", HEALTHY, "--method", "sobol", "--n", "4"], ["at least 8"]),
    "sensitivity unknown readout": (["sensitivity", HEALTHY, "--readout", "serum_mg"], ["unknown readout", "Did you mean"]),
    "local sensitivity of a grade": (["sensitivity", HEALTHY, "--readout", "hypomagnesemia_grade"], ["unknown readout", "(local)"]),
    "sweep without --vary": (["sweep", HEALTHY], ["needs at least one --vary"]),
    "sweep unknown readout": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--readout", "serum"], ["unknown readout", "--readout"]),
    "population without scenario": (["population"], ["needs a SCENARIO"]),
    "population scenario and --all-drugs": (["population", HEALTHY, "--all-drugs"], ["--all-drugs", "would be ignored"]),
    "population --all-drugs --days": (["population", "--all-drugs", "--days", "10"], ["--days applies to a SCENARIO"]),
    "--format without --out": (["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--format", "parquet"], ["add --out"]),
    "dose-finder inulin": (["dose-finder", HEALTHY, "--treatment", "inulin"], ["not a Mg treatment"]),
    "dose-finder a drug": (["dose-finder", HEALTHY, "--treatment", "omeprazole"], ["not a Mg treatment", "a drug"]),
    "dose-finder typo": (["dose-finder", HEALTHY, "--treatment", "magnesium_citrat"], ["Did you mean", "magnesium_citrate"]),
    "dose-finder target unit": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--target", "0.7 mg"], ["--target", "'mg'"]),
    "dose-finder target 50 mM": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--target", "50 mM"], ["0.1-3.0 mM"]),
    "dose-finder target text": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--target", "high"], ["--target", "'high'"]),
    "dose-finder negative max": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--max", "-5 mg/day"], ["--max", "negative"]),
    "dose-finder huge max": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--max", "1e9 mg/day"], ["--max", "impossible"]),
    "dose-finder max zero": (["dose-finder", HEALTHY, "--treatment", "magnesium_oxide", "--max", "0 mg/day"], ["--max", "> 0"]),
    "loading-test negative at": (["loading-test", HEALTHY, "--at", "-3 day"], ["at = '-3 day' is negative"]),
    "loading-test zero duration": (["loading-test", HEALTHY, "--duration", "0 hour"], ["duration must be > 0"]),
    "loading-test huge dose": (["loading-test", HEALTHY, "--dose", "5000 mmol"], ["far above any protocol", "200 mmol"]),
    "diagnose a scenario file": (["diagnose", HEALTHY], ["unknown key 'scenario'", "labs"]),
    "diagnose missing file": (["diagnose", "/no/such/labs.toml"], ["does not exist"]),
    "diagnose --top 0": (["diagnose", str(ROOT / "examples" / "clinic" / "gitelman_labs.toml"), "--top", "0"], ["--top", "at least 1"]),
    "fit missing data": (["fit", HEALTHY, "--data", "/no/such.csv", "--estimate", "gfr"], ["does not exist"]),
    "fit data not a table": (["fit", HEALTHY, "--data", HEALTHY, "--estimate", "gfr"], ["missing column", "time_day"]),
    "fit without --data": (["fit", HEALTHY, "--estimate", "gfr"], ["required", "--data"]),
    "export-petab without flags": (["export-petab", HEALTHY], ["required"]),
    "catalogue bad mechanism": (["catalogue", "--mechanism", "tal"], ["unknown mechanism 'tal'", "tal_paracellular"]),
    "catalogue unknown model": (["catalogue", "--model", "adlut"], ["unknown model", "adult"]),
}


@pytest.mark.parametrize("case", COMMAND_ERRORS)
def test_command_error(case, capsys):
    argv, fragments = COMMAND_ERRORS[case]
    code, out, err = cli(argv, capsys)
    assert code == 2, (out, err)
    for frag in fragments:
        assert frag in err, err


# ---------------------------------------------------------------------------------------------------------
# 5. sweep --vary: the same ranges as a scenario file, each factor once

VARY_ERRORS = {
    "negative gfr": (["gfr=-10:100:3"], ["outside the allowed range", "> 0 and <= 300 mL/min"]),
    "zero gfr": (["gfr=0:100:3"], ["gfr is 0 mL/min", "impossible"]),
    "gfr 400": (["gfr=100:400:3"], ["400 mL/min", "outside the allowed range"]),
    "same factor twice": (["gfr=30:100:3", "gfr=50:60:2"], ["gfr is varied twice"]),
    "same entry by alias": (["ppi.dose=0:1:2", "PPI.dose=0:2:3"], ["ppi.dose is varied twice"]),
    "activity 5 for a loss of function": (["SLC12A3.activity=0:5:3"], ["5 is outside the allowed range [0, 1]", "residual activity"]),
    "50x a drug dose": (["cetuximab.dose=0:50:3"], ["50 is outside the allowed range [0, 4]"]),
    "negative dose": (["omeprazole.dose=-1:1:3"], ["-1 is outside the allowed range"]),
    "zero ECF volume": (["ecf_volume=0:10:3"], ["ecf_volume = 0", "must be > 0"]),
    "negative transit time": (["si_transit_time=-1:4:3"], ["negative", "must be >= 0"]),
    "citrate 50 g/day": (["magnesium_citrate.amount=0:50000:3"], ["amount", "impossible"]),
    "inulin 500 g/day": (["inulin.amount=0:500:3"], ["<= 200 g/day"]),
    "IV rate 5000 mmol/day": (["iv_magnesium_sulfate.amount=0:5000:3"], ["rate", "<= 2000 mmol/day"]),
    "intake 1e9": (["diet_mg_intake=0:1e9:3"], ["diet_mg_intake", "<= 20000 mg/day"]),
    "unknown parameter": (["gfrr=60:150:3"], ["unknown parameter", "Did you mean 'gfr'"]),
    "unknown entry": (["omeprazol.dose=0:1:3"], ["Did you mean", "omeprazole"]),
    "wrong input of a gene": (["SLC12A3.dose=0:1:3"], ["its input is SLC12A3.activity"]),
    "malformed": (["gfr=abc"], ["expected NAME=LO:HI:N"]),
    "LO above HI": (["gfr=100:50:3"], ["LO <= HI"]),
    "N zero": (["gfr=10:100:0"], ["N >= 1"]),
    "log from zero": (["gfr=0:100:3:log"], ["log scale needs LO > 0"]),
    "not numbers": (["gfr=a:b:3"], ["LO and HI must be numbers"]),
    "infinite": (["gfr=60:inf:3"], ["LO <= HI"]),
    "a grid too large for memory": (["gfr=60:150:100000", "ecf_volume=10:20:100000"], ["GB of memory", "Lower the N of --vary"]),
}


@pytest.mark.parametrize("case", VARY_ERRORS)
def test_vary_error(case, capsys):
    varies, fragments = VARY_ERRORS[case]
    argv = ["sweep", HEALTHY] + [x for v in varies for x in ("--vary", v)]
    code, out, err = cli(argv, capsys)
    assert code == 2, (out, err)
    for frag in fragments:
        assert frag in err, err


def test_sweep_samples_too_many_for_memory(capsys):
    code, out, err = cli(["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--samples", str(10**10)], capsys)
    assert code == 2 and "GB of memory" in err and "Lower --samples" in err


@pytest.mark.parametrize("vary,fragment", [("gfr=30:150:3", "documented physiological range [60, 150] mL/min"),
                                           ("diet_mg_intake=100:1500:3", "above 1000 mg/day"),
                                           ("gfr=10:60:2", "below 15 mL/min")])
def test_vary_warning(vary, fragment, capsys):
    code, out, err = cli(["sweep", HEALTHY, "--vary", vary, "--json"], capsys)
    assert code == 0 and "mgflux: warning:" in err and fragment in err, err


def test_vary_far_from_an_undocumented_parameter_warns(capsys):
    code, out, err = cli(["sweep", HEALTHY, "--vary", "complexed_ratio=0:100:3"], capsys)
    assert code == 0 and "more than a factor 10" in err and "no documented range" in err


BAD = '[diet]\nmg_intake = "300 g/day"\n'
EVERY_COMMAND = {
    "steady": ["steady", "{p}"], "steady --json": ["steady", "{p}", "--json"], "run": ["run", "{p}"],
    "run --json": ["run", "{p}", "--json"], "compare": ["compare", "{p}"],
    "dose-finder": ["dose-finder", "{p}", "--treatment", "magnesium_citrate"],
    "sweep": ["sweep", "{p}", "--vary", "gfr=60:150:3"], "population": ["population", "{p}", "--n", "10"],
    "population --days": ["population", "{p}", "--n", "10", "--days", "30"],
    "sensitivity": ["sensitivity", "{p}"], "sensitivity morris": ["sensitivity", "{p}", "--method", "morris"],
    "export-sbml": ["export-sbml", "{p}", "-o", "{d}/m.xml"],
    "loading-test": ["loading-test", "{p}"],
    "fit": ["fit", "{p}", "--data", str(ROOT / "examples" / "clinic" / "cetuximab_serum.csv"), "--estimate", "gfr"],
}


@pytest.mark.parametrize("cmd", EVERY_COMMAND)
def test_every_command_refuses_an_impossible_scenario(cmd, tmp_path, capsys):
    path = write(tmp_path, BAD)
    argv = [a.format(p=path, d=tmp_path) for a in EVERY_COMMAND[cmd]]
    code, out, err = cli(argv, capsys)
    assert code == 2 and out == "" and "mg_intake" in err and "impossible" in err and str(path) in err, err


class _BrokenStdout:
    """A stdout whose write fails with an error mgflux cannot foresee (not an OSError it names)."""

    def write(self, text):
        raise RuntimeError("something unforeseen")

    def flush(self):
        pass


def test_an_unexpected_error_is_one_line_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _BrokenStdout())
    code = main(["catalogue"])
    err = capsys.readouterr().err
    assert code == 3 and "internal error" in err and "something unforeseen" in err and "MGFLUX_DEBUG" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("MGFLUX_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["catalogue"])


@pytest.mark.parametrize("address", ["local", "tcp://10.0.0.5:8786", "tcp://[::1]:8786", "host:8786", "tls://h.org:8786"])
def test_good_scheduler_addresses_pass(address, capsys):
    # --help after the flag: argparse has checked the address (a bad one exits with 2) and then prints the usage
    code, out, err = cli(["sweep", HEALTHY, "--vary", "gfr=60:120:2", "--scheduler", address, "--help"], capsys)
    assert code == 0 and "--scheduler" in out and err == "", err


def test_calibration_bad_choice(capsys):
    code, out, err = cli(["calibration", "everything"], capsys)
    assert code == 2 and "invalid choice" in err


API_ERRORS = {
    "sweep negative gfr": (lambda sc: mgflux.sweep(sc, ["gfr=-5:100:3"]), "outside the allowed range"),
    "sweep twice": (lambda sc: mgflux.sweep(sc, ["gfr=60:100:3", "gfr=70:80:2"]), "varied twice"),
    "sweep samples 0": (lambda sc: mgflux.sweep(sc, ["gfr=60:100:3"], samples=0, method="lhs"), "samples = 0"),
    "sweep seed -1": (lambda sc: mgflux.sweep(sc, ["gfr=60:100:3"], seed=-1), "seed = -1"),
    "population n 0": (lambda sc: mgflux.population(sc, 0), "n = 0 must be a whole number >= 1"),
    "population n float": (lambda sc: mgflux.population(sc, 10.5), "n = 10.5"),
    "population seed -3": (lambda sc: mgflux.population(sc, 10, seed=-3), "seed = -3"),
    "steady_states alias twice": (lambda sc: mgflux.steady_states(sc, {"ppi.dose": 1, "PPI.dose": 2}), "varied twice"),
    "population days 1e6": (lambda sc: mgflux.population(sc, 10, days=1e6), "150 years"),
    "find_dose target 50 mM": (lambda sc: mgflux.find_dose(sc, "magnesium_citrate", "50 mM"), "0.1-3.0 mM"),
    "find_dose limit 0": (lambda sc: mgflux.find_dose(sc, "magnesium_citrate", 0.7, 0.0), "must be > 0"),
    "find_dose a drug": (lambda sc: mgflux.find_dose(sc, "omeprazole", 0.7), "not a Mg treatment"),
    "morris n 1": (lambda sc: mgflux.sensitivity(sc, "morris", n=1), "n = 1 must be a whole number >= 2"),
    "sobol n 2": (lambda sc: mgflux.sensitivity(sc, "sobol", n=2), ">= 8"),
}


@pytest.mark.parametrize("case", API_ERRORS)
def test_python_api_refuses_what_the_cli_refuses(case):
    call, fragment = API_ERRORS[case]
    with pytest.raises(mgflux.ScenarioError) as exc:
        call(mgflux.load_scenario(HEALTHY))
    assert fragment in str(exc.value), str(exc.value)


def test_python_api_sweep_warns():
    with pytest.warns(mgflux.MgfluxWarning, match="documented physiological range"):
        mgflux.sweep(mgflux.load_scenario(HEALTHY), ["gfr=30:60:2"])


def test_compare_and_dose_results_carry_the_warnings(tmp_path):
    sc = mgflux.load_scenario(write(tmp_path, '[diet]\nmg_intake = "1100 mg/day"\n'))
    assert any("above 1000" in w for w in mgflux.compare(sc).to_dict()["warnings"])
    assert any("above 1000" in w for w in mgflux.find_dose(sc, "magnesium_oxide", 0.7).to_dict()["warnings"])


def test_validation_report_for_a_form():
    assert mgflux.validation_report({"diet": {"mg_intake": "300 mg/day"}}) == {"ok": True, "error": None, "warnings": []}
    bad = mgflux.validation_report({"diet": {"mg_intake": "300 g/day"}}, "form")
    assert bad["ok"] is False and "outside the allowed range" in bad["error"]
    odd = mgflux.validation_report({"diet": {"mg_intake": "1200 mg/day"}})
    assert odd["ok"] and "above 1000 mg/day" in odd["warnings"][0]


def test_sweep_api_factor_checks_are_the_cli_s(capsys):
    import warnings

    sc = mgflux.load_scenario(HEALTHY)
    with pytest.raises(mgflux.ScenarioError, match="outside the allowed range"):
        mgflux.sweep(sc, [mgflux.Vary("gfr", -1.0, 100.0, 2)])
    code, out, err = cli(["sweep", HEALTHY, "--vary", "gfr=-1:100:2"], capsys)
    assert code == 2 and "outside the allowed range" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error", mgflux.MgfluxWarning)  # a plausible range: no warning either way
        assert len(mgflux.sweep(sc, [mgflux.Vary("gfr", 60.0, 120.0, 2)])["serum_mg_total_mM"]) == 2


# ---------------------------------------------------------------------------------------------------------
# 6. population: the scenario's own intake, memory

def test_population_keeps_the_scenario_s_own_intake():
    from conftest import scenario
    from mgflux import population_design

    facs, X, _ = population_design(scenario(mg_intake="1500 mg/day"), 4000, seed=1)
    j = [f.name for f in facs].index("diet_mg_intake")
    assert np.mean(X[:, j]) == pytest.approx(1500, rel=0.05)
    assert X[:, j].max() > 900  # no longer clipped to the 80-900 mg/day of a usual diet


def test_all_drugs_too_large_for_memory(capsys):
    code, out, err = cli(["population", "--all-drugs", "--n", str(10**9)], capsys)
    assert code == 2 and "GB of memory" in err and "Lower --n" in err


def test_large_oral_dose_warning_says_elemental_and_the_salt(tmp_path):
    sc = mgflux.load_scenario(write(tmp_path, HEAD + T('name = "magnesium_citrate"\namount = "4000 mg/day"\n')))
    assert any("elemental Mg" in w and "16.2 %" in w for w in sc.warnings), sc.warnings


@pytest.mark.parametrize("cmd", [["compare"], ["dose-finder", "--treatment", "magnesium_oxide"], ["sensitivity"],
                                 ["sweep", "--vary", "gfr=60:150:2"], ["population", "--n", "20"]])
def test_every_json_carries_the_warnings(cmd, tmp_path, capsys):
    path = write(tmp_path, '[diet]\nmg_intake = "1100 mg/day"\n')
    code, out, err = cli([cmd[0], path, *cmd[1:], "--json"], capsys)
    assert code == 0 and any("above 1000 mg/day" in w for w in json.loads(out)["warnings"]), out
    assert "mgflux: warning:" in err


@pytest.mark.parametrize("argv,fragment", [
    (["--n", str(10**9)], "Lower --n"),
    (["--n", str(10**6), "--days", "30000"], "Lower --n or --days"),
])
def test_population_too_large_for_memory(argv, fragment, capsys):
    code, out, err = cli(["population", HEALTHY, *argv], capsys)
    assert code == 2 and "GB of memory" in err and fragment in err, err


def test_memory_limit_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("MGFLUX_MEMORY_LIMIT", "1000")
    code, out, err = cli(["population", HEALTHY, "--n", "100"], capsys)
    assert code == 2 and "MGFLUX_MEMORY_LIMIT" in err


# ---------------------------------------------------------------------------------------------------------
# 7. output paths: checked before work, never a traceback; only this run's files are replaced

@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "a_file.txt"
    f.write_text("not a folder")
    return f


OUT_CASES = {
    "run": ["run", HEALTHY],
    "sweep": ["sweep", HEALTHY, "--vary", "gfr=60:150:3"],
    "population": ["population", HEALTHY, "--n", "10"],
    "compare": ["compare", HEALTHY],
    "sensitivity": ["sensitivity", HEALTHY],
}


@pytest.mark.parametrize("cmd", OUT_CASES)
def test_out_is_a_file(cmd, a_file, capsys):
    code, out, err = cli(OUT_CASES[cmd] + ["--out", a_file], capsys)
    assert code == 2 and "is a file, not a folder" in err, err


@pytest.mark.parametrize("cmd", OUT_CASES)
def test_out_below_a_file(cmd, a_file, capsys):
    code, out, err = cli(OUT_CASES[cmd] + ["--out", a_file / "sub"], capsys)
    assert code == 2 and "is a file, so the folder cannot be created" in err, err


@pytest.mark.parametrize("cmd", ["run", "sweep", "population"])
def test_out_unwritable(cmd, capsys):
    code, out, err = cli(OUT_CASES[cmd] + ["--out", "/proc/mgflux_out"], capsys)
    assert code == 2 and "cannot create the folder" in err, err


SBML_OUT = {
    "missing folder": (lambda tmp: tmp / "no" / "such" / "m.xml", ["the folder", "does not exist", "create it first"]),
    "a folder": (lambda tmp: tmp, ["this is a folder", "give a file name"]),
    "unwritable": (lambda tmp: Path("/proc/m.xml"), ["cannot write in /proc"]),
    "a device": (lambda tmp: Path("/dev/null"), ["not a regular file"]),
    "below a file": (lambda tmp: (tmp / "f.txt", (tmp / "f.txt").write_text("x"))[0] / "m.xml", ["is a file, not a folder"]),
}


@pytest.mark.parametrize("case", SBML_OUT)
def test_export_sbml_output(case, tmp_path, capsys):
    make, fragments = SBML_OUT[case]
    code, out, err = cli(["export-sbml", HEALTHY, "-o", make(tmp_path)], capsys)
    assert code == 2
    for frag in fragments:
        assert frag in err, err


def test_run_out_replaces_only_its_own_files(tmp_path, capsys):
    (tmp_path / "timecourse.csv").write_text("old")
    (tmp_path / "mine.txt").write_text("keep me")
    code, out, err = cli(["run", HEALTHY, "--out", tmp_path], capsys)
    assert code == 0
    assert "replaced in" in err and "timecourse.csv" in err and "mine.txt" not in err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert (tmp_path / "timecourse.csv").read_text() != "old"


def test_run_out_creates_missing_folders(tmp_path, capsys):
    code, out, err = cli(["run", HEALTHY, "--out", tmp_path / "a" / "b"], capsys)
    assert code == 0 and (tmp_path / "a" / "b" / "timecourse.csv").exists() and "replaced" not in err


# ---------------------------------------------------------------------------------------------------------
# 8. optional extras: checked before computing, naming the extra

EXTRA_CASES = {
    "parquet without pyarrow": ("pyarrow", lambda tmp: ["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--out", tmp, "--format", "parquet"],
                                'mgflux[parquet]'),
    "parquet without pandas": ("pandas", lambda tmp: ["population", HEALTHY, "--n", "10", "--out", tmp, "--format", "parquet"],
                               'mgflux[pandas]'),
    "morris without SALib": ("SALib", lambda tmp: ["sensitivity", HEALTHY, "--method", "morris"], 'mgflux[sensitivity]'),
    "sobol without SALib": ("SALib", lambda tmp: ["sensitivity", HEALTHY, "--method", "sobol"], 'mgflux[sensitivity]'),
    "scheduler without dask": ("distributed", lambda tmp: ["population", HEALTHY, "--n", "10", "--scheduler", "local"], 'mgflux[dask]'),
    "sweep scheduler without dask": ("distributed", lambda tmp: ["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--scheduler", "local"],
                                     'mgflux[dask]'),
    "sbml without libsbml": ("libsbml", lambda tmp: ["export-sbml", HEALTHY, "-o", tmp / "m.xml"], 'mgflux[sbml]'),
}


@pytest.mark.parametrize("case", EXTRA_CASES)
def test_missing_extra(case, tmp_path, monkeypatch, capsys):
    import importlib.util

    module, argv, fragment = EXTRA_CASES[case]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    code, out, err = cli(argv(tmp_path), capsys)
    assert code == 2 and fragment in err and "not installed" in err, err
    assert not any(tmp_path.iterdir())  # refused before any work: nothing written


# ---------------------------------------------------------------------------------------------------------
# 9. numerical options: NaN, zero and negative values are clear errors

OPTION_ERRORS = {
    "RunOptions rtol nan": (lambda: mgflux.RunOptions(rtol=math.nan), "rtol must be a number between 0 and 1"),
    "RunOptions rtol 0": (lambda: mgflux.RunOptions(rtol=0.0), "rtol must be a number between 0 and 1"),
    "RunOptions rtol 2": (lambda: mgflux.RunOptions(rtol=2.0), "rtol must be a number between 0 and 1"),
    "RunOptions atol negative": (lambda: mgflux.RunOptions(atol_scale=-1e-9), "atol_scale must be positive"),
    "RunOptions atol nan": (lambda: mgflux.RunOptions(atol_scale=math.nan), "atol_scale must be positive"),
    "RunOptions max_step 0": (lambda: mgflux.RunOptions(max_step=0.0), "max_step must be positive"),
    "RunOptions max_evaluations 0": (lambda: mgflux.RunOptions(max_evaluations=0), "max_evaluations must be a whole number"),
    "RunOptions max_evaluations float": (lambda: mgflux.RunOptions(max_evaluations=10.5), "max_evaluations must be a whole number"),
    "RunOptions method not a name": (lambda: mgflux.RunOptions(method=5), "must be a method name"),
    "SteadyOptions residual nan": (lambda: mgflux.SteadyOptions(residual_tol=math.nan), "residual_tol must be positive"),
    "SteadyOptions backend": (lambda: mgflux.SteadyOptions(backend="gpu"), "allowed: auto, numba, python"),
    "SteadyOptions max_newton -1": (lambda: mgflux.SteadyOptions(max_newton=-1), "max_newton must be a whole number >= 0"),
    "SteadyOptions integrate_days 0": (lambda: mgflux.SteadyOptions(integrate_days=0), "integrate_days must be positive"),
    "TimecourseOptions rtol nan": (lambda: mgflux.TimecourseOptions(rtol=math.nan), "rtol must be a number between"),
    "TimecourseOptions max_steps 0": (lambda: mgflux.TimecourseOptions(max_steps=0), "max_steps must be a whole number"),
    "BatchOptions eig_tol negative": (lambda: mgflux.BatchOptions(eig_tol=-1.0), "eig_tol must be positive"),
    "BatchOptions max_chord -1": (lambda: mgflux.BatchOptions(max_chord=-1), "max_chord must be a whole number"),
}


@pytest.mark.parametrize("case", OPTION_ERRORS)
def test_option_error(case):
    make, fragment = OPTION_ERRORS[case]
    with pytest.raises(mgflux.MgfluxError) as exc:
        make()
    assert fragment in str(exc.value) and isinstance(exc.value, ValueError)


# ---------------------------------------------------------------------------------------------------------
# 10. run never hides a dose; clinical flags

def _iv(amount, duration, start="10 day", sample="1 day", days="30 day"):
    from conftest import scenario

    return scenario(T(f'name = "iv_magnesium_sulfate"\namount = "{amount}"\nduration = "{duration}"\nstart = "{start}"\n'),
                    duration=days, extra_scenario=f'sample_every = "{sample}"')


def test_a_one_minute_infusion_is_not_lost_between_daily_samples():
    sc = _iv("10 mmol", "1 minute")
    run = mgflux.simulate(sc)
    t_end = 10 + 1 / 1440
    assert np.any(np.isclose(run.time_day, t_end, rtol=0, atol=1e-12))  # the infusion end is sampled
    assert ((run.time_day > 10) & (run.time_day < 11)).sum() >= 15  # sampled finely over and after it
    x = run.extremes["serum_mg_total_mM"]
    assert x["max"] > run.initial["serum_mg_total_mM"] + 0.3 and 10 < x["max_day"] < 10.01
    assert run["serum_mg_total_mM"].max() == pytest.approx(x["max"], rel=1e-6)
    assert any("sampled finely" in n for n in run.notes)


def test_an_eight_hour_infusion_shows_at_daily_sampling():
    run = mgflux.simulate(_iv("30 mmol", "8 hour"))
    x = run.extremes["serum_mg_total_mM"]
    assert x["max"] > run.initial["serum_mg_total_mM"] + 0.1
    assert x["max_day"] == pytest.approx(10 + 8 / 24, abs=1e-6)


def test_window_edges_are_on_the_output_grid():
    from conftest import scenario

    sc = scenario(P('name = "furosemide"\nstart = "3.3 day"\nstop = "7.6 day"\n'), duration="10 day")
    run = mgflux.simulate(sc)
    for t in (3.3, 7.6):
        assert np.any(np.isclose(run.time_day, t))
    assert any("window edge" in n for n in run.notes)


def test_run_text_reports_the_dense_extremes_and_the_fine_sampling(tmp_path, capsys):
    path = write(tmp_path, '[scenario]\nduration = "20 day"\n'
                 + T('name = "iv_magnesium_sulfate"\namount = "10 mmol"\nduration = "1 minute"\nstart = "5 day"\n'))
    code, out, err = cli(["run", path], capsys)
    assert code == 0 and "from the dense solution" in out and "sampled finely" in out
    code, out, err = cli(["run", path, "--json"], capsys)
    d = json.loads(out)
    assert d["extremes"]["serum_mg_total_mM"]["max"] > d["initial"]["serum_mg_total_mM"] + 0.3


def test_hypermagnesemia_grade_ctcae():
    from mgflux import hypermagnesemia_grade

    assert list(hypermagnesemia_grade(np.array([0.85, 1.05, 1.1, 1.23, 1.3, 3.3, 3.4]))) == [0, 0, 1, 1, 3, 3, 4]
    assert hypermagnesemia_grade(2.0) == 3


def test_high_iv_rate_is_graded_and_flagged(tmp_path, capsys):
    path = write(tmp_path, HEAD + T('name = "iv_magnesium_sulfate"\nrate = "1500 mmol/day"\n'))
    code, out, err = cli(["steady", path, "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["hypermagnesemia_grade"] >= 3 and d["hypomagnesemia_grade"] == 0
    assert "above 200 mmol/day" in err


@pytest.mark.parametrize("readouts,fragment", [
    ({"serum_mg_total_mM": 6.0}, "outside the model's validated domain"),
    ({"serum_mg_total_mM": 0.05}, "outside the model's validated domain"),
    ({"serum_mg_total_mM": np.array([0.8, 7.0, 9.0])}, "at 2 of 3 points"),
    ({"femg_percent": 130.0}, "femg_percent"),
    ({"fractional_absorption_percent": -2.0}, "fractional_absorption_percent"),
    ({"serum_mg_ionized_mM": 4.0}, "serum_mg_ionized_mM"),
    ({"serum_mg_total_mM": math.nan}, "not finite"),
])
def test_domain_warnings(readouts, fragment):
    w = mgflux.domain_warnings(readouts, "test")
    assert w and fragment in "\n".join(w)
    assert mgflux.domain_warnings({"serum_mg_total_mM": 0.85, "femg_percent": 3.0}) == []


# ---------------------------------------------------------------------------------------------------------
# 11. wording a clinician reads correctly

def test_compare_never_says_compensates_beside_a_fall_in_amount():
    c = mgflux.compare(mgflux.load_scenario(SCENARIOS / "genes" / "SLC12A3.toml"))
    for f in c.findings:
        if "compensates" in f:
            assert "more in absolute amount" in f, f


def test_compare_speaks_of_amount_and_fraction_when_intake_doubles():
    from conftest import scenario

    c = mgflux.compare(scenario(T('name = "magnesium_citrate"\namount = "300 mg/day"\n')))
    gut = [f for f in c.findings if f.startswith("the gut")]
    assert gut and "smaller fraction" in gut[0] and "more in absolute amount" in gut[0], c.findings
    assert "absorbs less" not in gut[0]


def test_dose_finder_says_which_salt_it_chose(capsys):
    code, out, err = cli(["dose-finder", str(SCENARIOS / "genes" / "SLC12A3.toml")], capsys)
    assert code == 0 and "no --treatment given: dosing magnesium_citrate" in err and "magnesium_citrate:" in out
    code, out, err = cli(["dose-finder", str(SCENARIOS / "genes" / "SLC12A3.toml"), "--json"], capsys)
    assert code == 0 and json.loads(out)["treatment"] == "magnesium_citrate" and "no --treatment given" in err


def test_dose_finder_says_elemental_and_the_salt_mass(capsys):
    code, out, err = cli(["dose-finder", str(SCENARIOS / "genes" / "SLC12A3.toml"), "--treatment", "magnesium_citrate"], capsys)
    assert code == 0 and "mg/day of elemental Mg" in out and "g/day of the salt Mg3(C6H5O7)2" in out
    code, out, err = cli(["dose-finder", str(SCENARIOS / "genes" / "SLC12A3.toml"), "--treatment", "magnesium_citrate",
                          "--json"], capsys)
    d = json.loads(out)
    assert d["dose_is"] == "elemental Mg" and d["salt_g_per_day"] == pytest.approx(
        d["dose_mg_per_day"] / 1000 / 0.162, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------
# 12. caches and HOME (subprocess: a fresh process reads the caches)

def _mgflux(args, env_extra, timeout=300):
    env = dict(os.environ, **env_extra)
    p = subprocess.run([sys.executable, "-c", "import sys, mgflux; sys.exit(mgflux.main(sys.argv[1:]))", *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.mark.slow
def test_corrupted_pint_cache_is_rebuilt(tmp_path):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(mgflux.cache_dir(), cache, ignore=shutil.ignore_patterns("*.tmp*"))
    for f in (cache / "pint").glob("*"):
        f.write_text("garbage")
    sc = write(tmp_path, '[diet]\nmg_intake = "313.5 mg/day"\n')  # a quantity not in the load cache: pint is needed
    p = _mgflux(["steady", sc, "--json"], {"MGFLUX_CACHE_DIR": str(cache)})
    assert p.returncode == 0 and "unit cache" in p.stderr and "discarded and rebuilt" in p.stderr
    sc = write(tmp_path, '[diet]\nmg_intake = "314.5 mg/day"\n')
    p = _mgflux(["steady", sc, "--json"], {"MGFLUX_CACHE_DIR": str(cache)})
    assert p.returncode == 0 and "warning" not in p.stderr


@pytest.mark.slow
def test_corrupted_numba_cache_is_rebuilt(tmp_path):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(mgflux.cache_dir(), cache, ignore=shutil.ignore_patterns("*.tmp*"))
    damaged = list((cache / "__pycache__").glob("*.nbi"))
    assert damaged
    for f in damaged:
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])  # truncated, as by a full disk or a kill
    sweep = ["sweep", HEALTHY, "--vary", "gfr=60:150:3", "--json"]  # a batch: needs the compiled kernels now
    p = _mgflux(sweep, {"MGFLUX_CACHE_DIR": str(cache)}, timeout=600)
    assert p.returncode == 0 and "compiled-model cache" in p.stderr and "corrupted" in p.stderr and "rebuilding" in p.stderr
    p = _mgflux(sweep, {"MGFLUX_CACHE_DIR": str(cache)})
    assert p.returncode == 0 and "corrupted" not in p.stderr


def test_unwritable_cache_falls_back_to_a_temporary_one(monkeypatch):
    monkeypatch.setenv("MGFLUX_CACHE_DIR", "/proc/mgflux-cache-test")
    assert str(mgflux.cache_dir()) == "/proc/mgflux-cache-test"  # what was asked for ...
    with pytest.warns(mgflux.MgfluxWarning, match="cannot write the cache folder"):
        d = mgflux.writable_cache_dir()  # ... and where the caches go
    assert d.is_dir() and str(d) != "/proc/mgflux-cache-test"


@pytest.mark.slow
def test_unwritable_cache_and_home_end_to_end():
    p = _mgflux(["steady", HEALTHY], {"MGFLUX_CACHE_DIR": "/proc/no/cache"}, timeout=600)
    assert p.returncode == 0 and "cannot write the cache folder /proc/no/cache" in p.stderr
    p = _mgflux(["steady", HEALTHY], {"MGFLUX_CACHE_DIR": "", "XDG_CACHE_HOME": "", "HOME": "/proc/nohome"}, timeout=600)
    assert p.returncode == 0 and "cannot write the cache folder /proc/nohome" in p.stderr


@pytest.mark.parametrize("argv,fragment", [
    (["steady", "no/such.toml"], "does not exist"),
    (["population", HEALTHY, "--n", "-1"], "must be >= 1"),
    (["sweep", HEALTHY, "--vary", "gfr=0:100:3"], "outside the allowed range"),
])
def test_end_to_end_no_traceback(argv, fragment):
    p = _mgflux(argv, {})
    assert p.returncode == 2 and fragment in p.stderr and p.stdout == ""


# ---------------------------------------------------------------------------------------------------------
# 13. property: random scenarios built from the catalogue either solve or fail with a message

def _catalogue():
    from mgflux import get_catalogue

    return get_catalogue(mgflux.get_model("adult"))


def test_random_catalogue_scenarios_solve_or_fail_with_a_message():
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mgflux import validate_scenario

    cat = _catalogue()
    entries = [cat.entries[n] for n in cat.names()]

    @st.composite
    def block(draw):
        e = draw(st.sampled_from(entries))
        item = {"name": draw(st.sampled_from([e.name, *e.aliases]))}
        if e.kind == "gene":
            lo, hi = e.activity_range
            if draw(st.booleans()):
                item["activity"] = draw(st.floats(lo - 0.2, hi + 0.2, allow_nan=False))
            else:
                item["genotype"] = draw(st.sampled_from(["homozygous", "heterozygous"]))
        elif e.kind in ("drug", "condition"):
            lo, hi = e.dose_range
            item["dose"] = draw(st.floats(lo - 0.5, min(hi, 10.0) + 0.5, allow_nan=False))
            if draw(st.booleans()):
                item["start"] = f"{draw(st.floats(0, 80)):g} day"
        elif e.route == "oral" and e.amount_unit:
            item["amount"] = f"{draw(st.floats(0, 300)):g} {e.amount_unit}"
        elif e.route == "oral":
            item["amount"] = f"{draw(st.floats(0, 30000)):g} mg/day"
        else:
            item["amount"] = f"{draw(st.floats(0.1, 1500)):g} mmol"
            item["duration"] = f"{draw(st.floats(0.01, 48)):g} hour"
        return ("treatment" if e.kind == "treatment" else "perturbation"), item

    @given(st.lists(block(), max_size=4), st.floats(0, 30000, allow_nan=False))
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(blocks, intake):
        raw = {"scenario": {"duration": "60 day"}, "diet": {"mg_intake": f"{intake:g} mg/day"}}
        for section, item in blocks:
            raw.setdefault(section, []).append(item)
        try:
            sc = validate_scenario(raw)
            ss = mgflux.steady_state(sc)
            run = mgflux.simulate(sc)
        except mgflux.MgfluxError as exc:
            assert str(exc).strip(), "an error without a message"
            return
        for s, warnings in ((ss["serum_mg_total_mM"], ss.warnings),
                            (run.extremes["serum_mg_total_mM"]["max"], run.warnings),
                            (run.extremes["serum_mg_total_mM"]["min"], run.warnings)):
            assert math.isfinite(s) and s > 0  # never a silent NaN or negative serum
            if not 0.1 <= s <= 5.0:
                assert any("validated domain" in w for w in warnings)

    check()


@pytest.mark.slow
def test_random_command_lines_end_in_an_answer_or_a_clear_error(tmp_path):
    """Random flags and values for every command: exit code 0 or 2, never a traceback or an internal error."""
    pytest.importorskip("hypothesis")
    import contextlib
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = {
        "--n": ["0", "-1", "3", "abc", "20"], "--samples": ["0", "-1", "3", "abc"], "--days": ["0", "-1", "5", "nan", "1e9"],
        "--seed": ["-1", "0", "7", "x"], "--workers": ["0", "1", "-2", "many"], "--top": ["0", "3", "-1"],
        "--vary": ["gfr=60:150:3", "gfr=0:1:2", "omeprazole.dose=0:9:3", "x=1:2:3", "gfr=1:2:0", "diet_mg_intake=100:500:2"],
        "--treatment": ["magnesium_citrate", "inulin", "iv_magnesium_sulfate", "nope", "omeprazole"],
        "--method": ["local", "morris", "sobol", "lhs", "x"], "--format": ["csv", "parquet", "xls"],
        "--readout": ["serum_mg_total_mM", "femg_percent", "nope", "hypomagnesemia_grade"],
        "--target": ["0.7 mM", "1.7 mg/dL", "-1 mM", "9 mM", "x"], "--max": ["1000 mg/day", "0 mg/day", "1e9 mg/day"],
        "--kind": ["gene", "x"], "--mechanism": ["intestinal", "x"], "--measure": ["auto", "steady", "x"],
    }
    commands = {
        "steady": ["--json"], "run": ["--json", "--out"], "compare": ["--json", "--out"],
        "dose-finder": ["--treatment", "--target", "--max", "--json"],
        "sweep": ["--vary", "--samples", "--method", "--seed", "--workers", "--readout", "--log", "--json", "--format", "--out"],
        "population": ["--n", "--days", "--seed", "--workers", "--measure", "--json", "--format"],
        "sensitivity": ["--method", "--readout", "--n", "--top", "--seed", "--json"],
        "catalogue": ["--json", "--kind", "--mechanism"],
    }
    scenarios = [HEALTHY, str(SCENARIOS / "genes" / "SLC12A3.toml"), str(tmp_path / "missing.toml"), str(tmp_path)]

    @st.composite
    def argv(draw):
        cmd = draw(st.sampled_from(sorted(commands)))
        out = [cmd] + ([] if cmd == "catalogue" else [draw(st.sampled_from(scenarios))])
        for flag in draw(st.lists(st.sampled_from(commands[cmd]), max_size=3, unique=True)):
            out.append(flag)
            if flag == "--out":
                out.append(str(tmp_path / f"o{draw(st.integers(0, 3))}"))
            elif flag in values:
                out.append(draw(st.sampled_from(values[flag])))
        return out

    @given(argv())
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(args)
        assert code in (0, 2) and "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), \
            (args, err.getvalue()[-500:])

    check()


@pytest.mark.parametrize("value", ["99999", "0", "-1", "http"])
def test_serve_port_out_of_range_is_refused_before_binding(capsys, value):
    code = main(["serve", "--port", value, "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "--port" in err
    assert "1-65535" in err
