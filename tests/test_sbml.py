"""SBML export: libSBML consistency with unit checking (warnings count), and an independent engine
(libRoadRunner) reproducing mgflux's steady states and 1-year time courses from the exported file."""
import tomllib
from pathlib import Path

import numpy as np
import pytest

import mgflux
from mgflux._simulate import steady_parameters

libsbml = pytest.importorskip("libsbml", reason="python-libsbml not installed (pip install 'mgflux[sbml]')")
from mgflux import _sbml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# healthy adult and catalogue scenarios whose modifiers are constant once their windows are removed; together
# they move every state with memory (trpm6, dct_mass, egfr_blockade, tubular_damage) and every organ
CROSS_CHECK = [
    "healthy",
    "genes/SLC12A3",
    "genes/CLDN16",
    "genes/TRPM6",
    "drugs/omeprazole",
    "drugs/furosemide",
    "drugs/cetuximab",
    "drugs/cisplatin",
    "conditions/chronic_diarrhoea",
    "conditions/hungry_bone_syndrome",
    "treatments/magnesium_citrate",
    "combinations/ppi_plus_thiazide",
]
REL = 1e-6


def constant(name: str, days: float = 365) -> mgflux.Scenario:
    """The scenario file with every window removed (everything acts from day 0 to the end) over *days*."""
    raw = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    raw["scenario"]["duration"] = f"{days} day"
    for key in ("perturbation", "treatment"):
        for item in raw.get(key, []):
            item.pop("start", None)
            item.pop("stop", None)
    return mgflux.scenario_from_dict(raw, where=name)


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("name", ["healthy", "genes/SLC12A3", "drugs/cetuximab", "treatments/magnesium_citrate",
                                  "treatments/iv_magnesium_sulfate", "combinations/ppi_plus_thiazide"])
def test_consistent_with_unit_checking(name):
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    doc = _sbml.to_document(sc)
    assert _sbml.consistency_problems(doc) == []  # errors *and* warnings, units included


def test_unit_checking_is_on_and_warnings_count():
    text = _sbml.to_sbml(mgflux.load_scenario(SCENARIOS / "healthy.toml"))
    wrong_unit = text.replace('id="ecf_volume" value="14" units="L"', 'id="ecf_volume" value="14" units="mmol"')
    assert wrong_unit != text
    assert any("10513" in p for p in _sbml.consistency_problems(wrong_unit))
    unitless_number = text.replace('sbml:units="dimensionless"', "", 1)
    assert any("99505" in p for p in _sbml.consistency_problems(unitless_number))


def test_structure_follows_the_model():
    sc = mgflux.load_scenario(SCENARIOS / "healthy.toml")
    model = sc.model
    m = _sbml.to_document(sc).getModel()
    assert m.getLevel() == 3 and m.getVersion() == 2
    assert sorted(s.getId() for s in m.getListOfSpecies()) == sorted(s.name for s in model.states if s.pool)
    for s in m.getListOfSpecies():
        assert s.getHasOnlySubstanceUnits() and s.getSubstanceUnits() == "mmol"
    assert sorted(r.getVariable() for r in m.getListOfRules() if r.isRate()) == \
        sorted(s.name for s in model.states if not s.pool)
    assert sorted(r.getVariable() for r in m.getListOfRules() if r.isAssignment()) == \
        sorted(e.name for e in model.expressions)
    assert sorted(r.getId() for r in m.getListOfReactions()) == sorted(f"flux_{f.name}" for f in model.fluxes)
    through = m.getReaction("flux_supplement_unabsorbed")
    assert through.getNumReactants() == 0 and through.getNumProducts() == 0
    urine = m.getReaction("flux_urinary_excretion")
    assert urine.getReactant(0).getSpecies() == "ecf" and urine.getNumProducts() == 0
    # units and sources travel with every parameter
    assert m.getParameter("gfr").getUnits() == "L_per_day"
    assert m.getParameter("gfr").getValue() == pytest.approx(120 * 1.44)
    assert m.getParameter("diet_mg_intake").getUnits() == "mmol_per_day"
    assert "Boron2017" in m.getParameter("ecf_volume").getNotesString()
    assert "log(2)" in m.getReaction("flux_bone_exchange").getNotesString()  # the mgflux formula as written


def test_scenario_modifiers_are_applied():
    sc = mgflux.load_scenario(SCENARIOS / "combinations/ppi_plus_thiazide.toml")
    p, _ = steady_parameters(sc)
    m = _sbml.to_document(sc).getModel()
    changed = 0
    for par, value in zip(sc.model.parameters, p):
        assert m.getParameter(par.name).getValue() == pytest.approx(value, rel=1e-15)
        changed += value != par.value
    assert changed >= 2


def test_cli_export(tmp_path, capsys):
    from mgflux._cli import main

    out = tmp_path / "model.xml"
    assert main(["export-sbml", str(SCENARIOS / "genes/SLC12A3.toml"), "-o", str(out)]) == 0
    assert "no problems" in capsys.readouterr().out
    doc = libsbml.readSBMLFromFile(str(out))
    assert doc.getNumErrors() == 0
    assert _sbml.consistency_problems(doc) == []


def test_formula_translation():
    assert _sbml.l3_formula("log(2) * x ** 2 / -y") == \
        "((ln((2.0 dimensionless)) * (x ^ (2.0 dimensionless))) / (-y))"
    with pytest.raises(_sbml.SbmlError):
        _sbml.l3_formula("x if y else z")


# --------------------------------------------------------------------------------- independent engine

def _runner(sc):
    roadrunner = pytest.importorskip("roadrunner", reason="libroadrunner not installed (pip install 'mgflux[roadrunner]')")
    r = roadrunner.RoadRunner(_sbml.to_sbml(sc))
    r.conservedMoietyAnalysis = True
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = 1e-12
    return r


@pytest.mark.parametrize("name", CROSS_CHECK)
def test_roadrunner_agrees(name):
    sc = constant(name)
    model = sc.model
    names = list(model.state_names)
    r = _runner(sc)
    # 1-year time course from the start of `mgflux run` (the file's initial values), species mapped by id
    r.timeCourseSelections = ["time", *names, "serum_total", "urine_rate", "flux_colon_absorption"]
    tc = r.simulate(0, 365, 366)
    run = mgflux.simulate(sc)
    np.testing.assert_allclose(tc[:, 0], run.time_day, rtol=0, atol=1e-9)
    for n in names:
        assert rel_err(tc[n], run.states[n]) < REL, n
    assert rel_err(tc["serum_total"], run["serum_mg_total_mM"]) < REL
    assert rel_err(tc["urine_rate"], run["urine_mg_mmol_per_day"]) < REL
    # steady state (NLEQ2), with every modifier on, as `mgflux steady`
    ss = mgflux.steady_state(sc)
    r.reset()
    r.steadyStateSolver.allow_presimulation = True
    r.steadyState()
    for n in names:
        assert rel_err(r[n], ss.states[n]) < REL, n
    assert rel_err(r["serum_total"], ss["serum_mg_total_mM"]) < REL
    assert rel_err(r["urine_rate"], ss["urine_mg_mmol_per_day"]) < REL
