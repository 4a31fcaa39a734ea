"""SBML export: libSBML consistency with unit checking (warnings count), and an independent engine
(libRoadRunner) reproducing mgflux's steady states and 1-year time courses from the exported file, and the time
courses of scenarios whose windows are SBML events."""
import tomllib
from pathlib import Path

import numpy as np
import pytest

import mgflux

libsbml = pytest.importorskip("libsbml", reason="python-libsbml not installed (pip install 'mgflux[sbml]')")


def _document(sc, **kw):
    """The exported SBML of *sc* as a libSBML document (what a reader of the file sees)."""
    return libsbml.readSBMLFromString(mgflux.to_sbml(sc, **kw))


ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# healthy adult and catalogue scenarios whose modifiers are constant once their windows are removed (but for the
# daily pulses of a loop diuretic: 728 events in a year); together they move every state with memory (trpm6,
# dct_mass, egfr_blockade, tubular_damage) and every organ
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
# scenarios whose drugs and treatments act in windows: cycles, a one-off IV infusion, a course with a stop
WINDOWED = ["combinations/cisplatin_six_cycles", "treatments/iv_magnesium_sulfate",
            "combinations/cetuximab_course_with_stop"]
REL = 1e-6


def constant(name: str, days: float = 365) -> mgflux.Scenario:
    """The scenario file with every window removed (everything acts from day 0 to the end) over *days*."""
    raw = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    raw["scenario"]["duration"] = f"{days} day"
    for key in ("perturbation", "treatment"):
        seen, kept = set(), []
        for item in raw.get(key, []):
            item.pop("start", None)
            item.pop("stop", None)
            if item["name"] not in seen:  # dosing cycles become one constant entry (overlaps are refused)
                seen.add(item["name"])
                kept.append(item)
        if key in raw:
            raw[key] = kept
    return mgflux.scenario_from_dict(raw, where=name)


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("steady", [False, True], ids=["run", "steady"])
@pytest.mark.parametrize("name", ["healthy", "genes/SLC12A3", "drugs/cetuximab", "treatments/magnesium_citrate",
                                  "combinations/ppi_plus_thiazide", *WINDOWED])
def test_consistent_with_unit_checking(name, steady):
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    doc = _document(sc, steady=steady)
    assert mgflux.sbml_problems(doc) == []  # errors *and* warnings, units included
    # windows are events in the `run` document (triggers and assignments included in the unit check)
    n_events = doc.getModel().getNumEvents()
    assert n_events == (0 if steady else len(sc.edges()) - 2)
    if name in WINDOWED and not steady:
        assert n_events >= 2


def test_unit_checking_is_on_and_warnings_count():
    text = mgflux.to_sbml(mgflux.load_scenario(SCENARIOS / "healthy.toml"))
    wrong_unit = text.replace('id="ecf_volume" value="14" units="L"', 'id="ecf_volume" value="14" units="mmol"')
    assert wrong_unit != text
    assert any("10513" in p for p in mgflux.sbml_problems(wrong_unit))
    unitless_number = text.replace('sbml:units="dimensionless"', "", 1)
    assert any("99505" in p for p in mgflux.sbml_problems(unitless_number))


def test_unit_checking_covers_events():
    text = mgflux.to_sbml(mgflux.load_scenario(SCENARIOS / "treatments/iv_magnesium_sulfate.toml"))
    assert mgflux.sbml_problems(text) == []
    unitless_trigger = text.replace('<cn sbml:units="day">', "<cn>", 1)  # the edge time in a trigger
    assert unitless_trigger != text
    assert any("99505" in p and "trigger" in p for p in mgflux.sbml_problems(unitless_trigger))
    wrong_unit = text.replace('<cn sbml:units="mmol_per_day">', '<cn sbml:units="mmol">', 1)  # an assignment
    assert wrong_unit != text
    assert any("10563" in p for p in mgflux.sbml_problems(wrong_unit))


def test_structure_follows_the_model():
    sc = mgflux.load_scenario(SCENARIOS / "healthy.toml")
    model = sc.model
    m = _document(sc).getModel()
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
    assert "pool_release_drive" in m.getReaction("flux_bone_exchange").getNotesString()  # the mgflux formula as written


def test_scenario_modifiers_are_applied():
    # --steady: every modifier on permanently, no events, every parameter constant (as `mgflux steady`)
    sc = mgflux.load_scenario(SCENARIOS / "combinations/ppi_plus_thiazide.toml")
    p = mgflux.parameter_sets(sc)[0]
    m = _document(sc, steady=True).getModel()
    assert m.getNumEvents() == 0
    changed = 0
    for par, value in zip(sc.model.parameters, p):
        assert m.getParameter(par.name).getValue() == pytest.approx(value, rel=1e-15)
        assert m.getParameter(par.name).getConstant()
        changed += value != par.value
    assert changed >= 2


@pytest.mark.parametrize("name", ["combinations/ppi_plus_thiazide", "combinations/cisplatin_six_cycles"])
def test_windows_are_events(name):
    """Initial values are the first segment of `mgflux run`; one event per edge sets the next segment's values
    of exactly the parameters that change during the run (the others stay constant)."""
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    edges = sc.edges()
    seg = [mgflux.parameter_sets(sc, steady=False, window=(t0, t1))[0] for t0, t1 in zip(edges[:-1], edges[1:])]
    varying = {par.name for i, par in enumerate(sc.model.parameters) if any(q[i] != seg[0][i] for q in seg)}
    assert varying
    m = _document(sc).getModel()
    for i, par in enumerate(sc.model.parameters):
        assert m.getParameter(par.name).getValue() == pytest.approx(seg[0][i], rel=1e-15), par.name
        assert m.getParameter(par.name).getConstant() == (par.name not in varying), par.name
    assert m.getNumEvents() == len(edges) - 2
    index = {par.name: i for i, par in enumerate(sc.model.parameters)}
    for k, (t, q) in enumerate(zip(edges[1:-1], seg[1:]), start=1):
        ev = m.getEvent(f"window_edge_{k}")
        assert ev.getUseValuesFromTriggerTime()
        tr = ev.getTrigger()
        assert not tr.getInitialValue() and tr.getPersistent()
        trig = tr.getMath()
        assert libsbml.formulaToL3String(trig.getChild(0)) == "time" and trig.getType() == libsbml.AST_RELATIONAL_GEQ
        assert trig.getChild(1).getValue() == pytest.approx(t, rel=1e-14) and trig.getChild(1).getUnits() == "day"
        assert {a.getVariable() for a in ev.getListOfEventAssignments()} == varying
        for a in ev.getListOfEventAssignments():
            i = index[a.getVariable()]
            assert a.getMath().getValue() == pytest.approx(q[i], rel=1e-14), (t, a.getVariable())
            assert a.getMath().getUnits() == m.getParameter(a.getVariable()).getUnits()


@pytest.mark.parametrize("name", ["healthy", "genes/SLC12A3", "conditions/cystic_fibrosis"])
def test_constant_scenarios_unchanged(name):
    """No window edge inside the run: the same document as --steady (what export wrote before events)."""
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    text = mgflux.to_sbml(sc)
    assert text == mgflux.to_sbml(sc, steady=True)
    assert "<event" not in text and 'constant="true"' in text


def test_cli_export(tmp_path, capsys):
    from mgflux import main

    out = tmp_path / "model.xml"
    assert main(["export-sbml", str(SCENARIOS / "genes/SLC12A3.toml"), "-o", str(out)]) == 0
    assert "no problems" in capsys.readouterr().out
    doc = libsbml.readSBMLFromFile(str(out))
    assert doc.getNumErrors() == 0
    assert mgflux.sbml_problems(doc) == []


def test_cli_export_windows_and_steady(tmp_path, capsys):
    from mgflux import main

    scenario = str(SCENARIOS / "combinations/cisplatin_six_cycles.toml")
    out, steady = tmp_path / "run.xml", tmp_path / "steady.xml"
    assert main(["export-sbml", scenario, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "12 events" in printed and "no problems" in printed
    assert libsbml.readSBMLFromFile(str(out)).getModel().getNumEvents() == 12
    assert main(["export-sbml", scenario, "-o", str(steady), "--steady"]) == 0
    printed = capsys.readouterr().out
    assert "events" not in printed and "permanently" in printed
    m = libsbml.readSBMLFromFile(str(steady)).getModel()
    assert m.getNumEvents() == 0
    sc = mgflux.load_scenario(scenario)
    p = mgflux.parameter_sets(sc)[0]  # cisplatin on permanently: differs from day 0 of `run` (no cisplatin yet)
    p0 = mgflux.parameter_sets(sc, steady=False, window=(0, 10))[0]
    assert (p != p0).any()
    for par, value in zip(sc.model.parameters, p):
        assert m.getParameter(par.name).getValue() == pytest.approx(value, rel=1e-14), par.name


def test_formula_translation():
    """The model's formulas reach the file as the same arithmetic: log as ln, ** as ^, unary minus, numbers
    marked dimensionless."""
    m = _document(mgflux.load_scenario(SCENARIOS / "healthy.toml")).getModel()

    def l3(name):
        return libsbml.formulaToL3String(m.getAssignmentRuleByVariable(name).getMath())

    assert l3("tal_adaptation") == "exp(ln(tal_max_adaptation) * adaptation_drive)"
    drive = l3("pool_release_drive")
    assert "ionized_relative^-pool_release_exponent" in drive and "(1 dimensionless + " in drive, drive


# --------------------------------------------------------------------------------- independent engine

def _runner(sc, *, absolute_tolerance=1e-12, **kw):
    roadrunner = pytest.importorskip("roadrunner", reason="libroadrunner not installed (pip install 'mgflux[roadrunner]')")
    r = roadrunner.RoadRunner(mgflux.to_sbml(sc, **kw))
    r.conservedMoietyAnalysis = True
    r.integrator.relative_tolerance = 1e-10
    r.integrator.absolute_tolerance = absolute_tolerance
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
    # steady state (NLEQ2), with every modifier on, as `mgflux steady`: a pulsed drug (loop diuretics: daily
    # phases are events in the `run` document) at its cycle mean, from the --steady document
    ss = mgflux.steady_state(sc)
    if r.getModel().getNumEvents():
        assert any(a.entry.schedule is not None for a in sc.applications)
        r = _runner(sc, steady=True)
    r.reset()
    r.steadyStateSolver.allow_presimulation = True
    r.steadyState()
    for n in names:
        assert rel_err(r[n], ss.states[n]) < REL, n
    assert rel_err(r["serum_total"], ss["serum_mg_total_mM"]) < REL
    assert rel_err(r["urine_rate"], ss["urine_mg_mmol_per_day"]) < REL


@pytest.mark.parametrize("name", WINDOWED)
def test_roadrunner_agrees_with_windows(name):
    """The unmodified scenario, windows included: the exported file's events reproduce `mgflux run` at every
    output time (edges among them), every state mapped by id. libRoadRunner's absolute tolerance is 1e-15
    here: a state that decays towards 0 after a stop (egfr_blockade ~2e-5 at day 300 of the cetuximab course)
    is otherwise resolved only to ~1e-10 absolute, 4e-6 relative (mgflux's own atol is 1e-12 * max(1, |y0|))."""
    sc = mgflux.load_scenario(SCENARIOS / f"{name}.toml")
    names = list(sc.model.state_names)
    times = mgflux.simulate(sc).time_day
    assert set(sc.edges()) <= set(times)  # compared at the edges too
    r = _runner(sc, absolute_tolerance=1e-15)
    assert r.getModel().getNumEvents() == len(sc.edges()) - 2 >= 2
    r.timeCourseSelections = ["time", *names, "serum_total", "urine_rate"]
    tc = r.simulate(times=list(times))
    run = mgflux.simulate(sc)
    np.testing.assert_allclose(tc[:, 0], run.time_day, rtol=0, atol=1e-9)
    for n in names:
        assert rel_err(tc[n], run.states[n]) < REL, n
    assert rel_err(tc["serum_total"], run["serum_mg_total_mM"]) < REL
    assert rel_err(tc["urine_rate"], run["urine_mg_mmol_per_day"]) < REL  # with the later segment's parameters
    # the windows matter: the run leaves the all-on course by far more than the tolerance
    assert rel_err(run.states["ecf"], mgflux.simulate(constant(name, sc.duration)).states["ecf"]) > 1e-3


def test_roadrunner_steady_variant():
    """--steady of a windowed scenario: its steady state is `mgflux steady` (every modifier on)."""
    sc = mgflux.load_scenario(SCENARIOS / "combinations/cetuximab_course_with_stop.toml")
    r = _runner(sc, steady=True)
    r.steadyStateSolver.allow_presimulation = True
    r.steadyState()
    ss = mgflux.steady_state(sc)
    for n in sc.model.state_names:
        assert rel_err(r[n], ss.states[n]) < REL, n
    assert rel_err(r["urine_rate"], ss["urine_mg_mmol_per_day"]) < REL


@pytest.mark.slow
def test_roadrunner_covers_calcium():
    """The calcium module in the export: its pools are species, PTH gland, hydroxylase and calcitriol rate rules;
    libRoadRunner reproduces the Ca course of a TRPM6 patient given high-dose Mg (PTH release resumes, Ca follows)."""
    sc = mgflux.load_scenario(SCENARIOS / "combinations" / "trpm6_infant_high_dose_mg.toml")
    ca = ["ca_ecf", "ca_bone_exchangeable", "pth_gland", "hydroxylase", "calcitriol"]
    r = _runner(sc, absolute_tolerance=1e-15)
    r.timeCourseSelections = ["time", *ca, "serum_ca_total", "pth_plasma", "ca_urine_rate"]
    run = mgflux.simulate(sc)
    tc = r.simulate(times=list(run.time_day))
    for n in ca:
        assert rel_err(tc[n], run.states[n]) < REL, n
    assert rel_err(tc["serum_ca_total"], run["serum_ca_total_mM"]) < REL
    assert rel_err(tc["pth_plasma"] * 1e9, run["pth_pM"]) < REL
    assert rel_err(tc["ca_urine_rate"], run["urine_ca_mmol_per_day"]) < REL
    assert run["serum_ca_total_mM"][-1] > run["serum_ca_total_mM"][0] + 0.3  # the course is not flat
