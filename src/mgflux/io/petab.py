"""PEtab (v1) export of a scenario with measurements: ``mgflux export-petab`` / ``write_petab``.

The problem can then be taken to pyPESTO or AMICI. Files: the SBML model (``mgflux export-sbml``: the
scenario's windows as events), a one-row condition table, the observables (the readouts as formulas of SBML
ids), the measurements (sd per row as the noise parameter) and the parameter table (the estimated inputs with
their documented ranges as bounds, in the SBML file's units: internal mmol, L, day).

Estimable inputs: model parameters (``gfr``: the SBML parameter itself) and catalogue inputs
(``cetuximab.dose``, ``TRPM6.activity``, ``magnesium_citrate.amount``): each becomes an SBML parameter
(``cetuximab_dose``, internal units: x standard dose, residual activity, mmol/day) and every model parameter the
entry modifies gets its value as a formula of it, p = c1 * prod(multipliers) + c0 + sum(additions) with the
catalogue's own effect formulas, as an initial assignment (the entry active at time 0) and in the window events
(the segments where it is active; the numbers elsewhere). The formulas are checked against mgflux's parameters
of every segment at the scenario's value before anything is written.

Limit, said where it bites: the initial amounts are the steady state at the scenario's values (mgflux's own
``fit`` starts every trial from its own steady state: for a model parameter or a gene's activity, which set the
lifelong start, PEtab's course starts from the nominal steady state; a drug starting after time 0 is exact).
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import MgfluxError

#: Readouts with a PEtab formula in the SBML ids of the exported model.
OBSERVABLES = {
    "serum_mg_total_mM": "serum_total",
    "serum_mg_ionized_mM": "serum_ionized",
    "urine_mg_mmol_per_day": "urine_rate",
    "femg_percent": "100 * urine_rate / filtered_load",
    "filtered_load_mmol_per_day": "filtered_load",
}


def _tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_petab(scenario, data, estimate, directory, *, lint: bool = True) -> dict:
    """Write the PEtab problem of *scenario*, *data* (tidy table) and the model parameters *estimate* into
    *directory*; returns {"yaml": path, "files": [...], "lint": [problems]} (lint with the ``petab`` library)."""
    from ..model.parameters import factor
    from ..model.scenario import Scenario, load_scenario
    from ..studies.fit import _with_genes, load_data

    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    meas = load_data(data)
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    facs = [factor(scenario, n, flag="--estimate") for n in names]
    for f in facs:
        if not f.is_parameter and not any(a.entry.name == f.entry.name for a in scenario.applications) \
                and f.entry.kind != "gene":
            raise MgfluxError(f"export-petab: {f.name}: the scenario has no {f.entry.name} entry to estimate; add "
                              "it as a [[perturbation]] (with its window) and estimate its input")
        if f.documented_range is None:
            raise MgfluxError(f"export-petab: {f.name} has no documented range in the model (PEtab needs bounds)")
    bad = sorted({r for r in meas.readout if r not in OBSERVABLES})
    if bad:
        raise MgfluxError(f"export-petab: no PEtab observable for {', '.join(bad)} yet; exportable readouts: "
                          f"{', '.join(OBSERVABLES)}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    scenario = _with_genes(scenario, facs)
    sbml = _write_model(scenario, [f for f in facs if not f.is_parameter], d / "model.xml")
    obs = sorted(set(meas.readout))
    files = [sbml]
    files.append(_tsv(d / "conditions.tsv", ["conditionId", "conditionName"], [["course", scenario.name]]))
    files.append(_tsv(d / "observables.tsv",
                      ["observableId", "observableName", "observableFormula", "noiseFormula", "noiseDistribution"],
                      [[f"obs_{r}", r, OBSERVABLES[r], f"noiseParameter1_obs_{r}", "normal"] for r in obs]))
    files.append(_tsv(d / "measurements.tsv",
                      ["observableId", "simulationConditionId", "measurement", "time", "noiseParameters"],
                      [[f"obs_{r}", "course", repr(float(v)), repr(float(t)), repr(float(s))]
                       for t, r, v, s in zip(meas.time_day, meas.readout, meas.value, meas.sd)]))
    model = scenario.model
    rows = []
    for f in facs:
        lo, hi = f.documented_range
        nominal = model.parameters[f.index].value if f.is_parameter else _entry_value(scenario, f)
        rows.append([f.name if f.is_parameter else sbml_id(f), "lin", repr(lo * f.to_internal),
                     repr(hi * f.to_internal), repr(float(nominal)), 1])
    files.append(_tsv(d / "parameters.tsv",
                      ["parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue", "estimate"], rows))
    yaml = d / "problem.yaml"
    yaml.write_text("format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
                    "  - condition_files: [conditions.tsv]\n    measurement_files: [measurements.tsv]\n"
                    "    observable_files: [observables.tsv]\n    sbml_files: [model.xml]\n")
    files.append(yaml)
    problems = lint_petab(yaml) if lint else []
    return {"yaml": yaml, "files": files, "lint": problems}


def sbml_id(f) -> str:
    """The SBML parameter of a catalogue input: ``cetuximab.dose`` -> ``cetuximab_dose``."""
    import re

    return re.sub(r"\W", "_", f"{f.entry.name}_{f.entry.variable}")


def _entry_value(scenario, f) -> float:
    """The scenario's input of the entry (internal units; a gene the scenario lacks: wild type, 1)."""
    vals = [a.value for a in scenario.applications if a.entry.name == f.entry.name]
    return float(vals[0]) if vals else 1.0


def _formula(entry, text: str, pid: str) -> str:
    """A catalogue effect formula as SBML L3 infix in the parameter *pid* (constants as numbers)."""
    import ast

    from .sbml import l3_formula

    class Sub(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id == entry.variable:
                return ast.copy_location(ast.Name("__THETA__", ast.Load()), node)
            if node.id in entry.constants:
                return ast.copy_location(ast.Constant(float(entry.constants[node.id])), node)
            return node

    tree = ast.fix_missing_locations(Sub().visit(ast.parse(text, mode="eval")))
    return l3_formula(ast.unparse(tree)).replace("__THETA__", pid)


def _write_model(scenario, entries, path: Path) -> Path:
    """The SBML file of ``export-sbml`` with each estimated catalogue input as a parameter its effects use."""
    import libsbml  # noqa: F401 - the sbml module's import error message otherwise

    from ..model.catalogue import evaluate
    from ..model.parameters import _affine, parameters_between
    from ..model.patient import scenario_parameter_vector
    from .sbml import EVENT_PREFIX, SbmlError, _number, _ok, _parse, _Units, to_document

    doc = to_document(scenario)
    if not entries:
        return _save(doc, path)
    model = scenario.model
    m = doc.getModel()
    units = _Units(libsbml, m)
    units.ids = {ud.getId(): ud for ud in m.getListOfUnitDefinitions()}
    edges = scenario.edges()
    windows = list(zip(edges[:-1], edges[1:]))
    names = {f.entry.name for f in entries}
    base = scenario_parameter_vector(scenario)
    affected = sorted({model.parameter_index(e.parameter) for f in entries for e in f.entry.effects})
    for f in entries:
        pid = sbml_id(f)
        if m.getElementBySId(pid) is not None:
            raise SbmlError(f"export-petab: the id {pid!r} of {f.name} is already used in the model")
        par = m.createParameter()
        _ok(par.setId(pid))
        _ok(par.setValue(_entry_value(scenario, f)))
        _ok(par.setUnits(units("dimensionless" if f.entry.variable != "amount" else "mmol/day")))
        _ok(par.setConstant(True))
        _ok(par.setName(f"{f.name} (estimated in PEtab; internal units)"))

    def value_math(i, w):
        """Code of parameter i in window w: c1 * prod(multipliers) + c0 + sum(additions), and its value."""
        fixed = []
        active = []
        for a in scenario.applications:
            on = a.lifelong or a.active(*w)
            if a.entry.name in names:
                if on and a.entry.name not in {x.entry.name for x in active}:
                    active.append(next(f for f in entries if f.entry.name == a.entry.name))
                continue
            if on:
                fixed.extend(a.modifiers())
        M, A = _affine(model, fixed)
        mult, add, mval, aval = [], [], 1.0, 0.0
        for f in active:
            env = {**dict(f.entry.constants), f.entry.variable: _entry_value(scenario, f)}
            for e in f.entry.effects:
                if model.parameter_index(e.parameter) != i:
                    continue
                if e.multiply:
                    mult.append(_formula(f.entry, e.multiply, sbml_id(f)))
                    mval *= evaluate(e.multiply, env)
                if e.add:
                    add.append(_formula(f.entry, e.add, sbml_id(f)))
                    aval += evaluate(e.add, env)
        if not mult and not add:
            return None, None
        u = units(model.parameters[i].unit)
        c1, c0 = base[i] * M[i], A[i]
        text = _number(c1, u, model.parameters[i].name)
        for x in mult:
            text = f"({text} * {x})"
        text = f"({text} + {_number(c0, u, model.parameters[i].name)})"
        for x in add:
            text = f"({text} + ({x} * (1.0 {u})))"
        return text, c1 * mval + c0 + aval

    events = {ev.getId(): ev for ev in m.getListOfEvents()}
    for i in affected:
        name = model.parameters[i].name
        codes = []
        for k, w in enumerate(windows):
            code, val = value_math(i, w)
            ref = parameters_between(scenario, *w)[i]
            if code is not None and not abs(val - ref) <= 1e-9 * max(abs(ref), 1e-300):
                raise SbmlError(f"export-petab: the formula of {name} in [{w[0]:g}, {w[1]:g}) day gives {val!r}, "
                                f"mgflux {ref!r}: cannot express it")
            codes.append((code, ref))
        if all(c is None for c, _ in codes):
            continue
        par = m.getParameter(name)
        if codes[0][0] is not None:
            ia = m.createInitialAssignment()
            _ok(ia.setSymbol(name))
            _ok(ia.setMath(_parse(libsbml, codes[0][0], name)))
        if len(windows) > 1:
            _ok(par.setConstant(False))
            u = units(model.parameters[i].unit)
            for k in range(1, len(windows)):
                ev = events.get(f"{EVENT_PREFIX}{k}")
                if ev is None:
                    raise SbmlError(f"export-petab: no event for the window edge {k} of {name}")
                code, ref = codes[k]
                ea = ev.getEventAssignment(name) or ev.createEventAssignment()
                _ok(ea.setVariable(name))
                _ok(ea.setMath(_parse(libsbml, code if code is not None else _number(ref, u, name), name)))
    return _save(doc, path)


def _save(doc, path: Path) -> Path:
    import libsbml

    from .sbml import SbmlError, consistency_problems

    problems = consistency_problems(doc)
    if problems:
        raise SbmlError("the exported SBML fails libSBML's consistency checks:\n  " + "\n  ".join(problems))
    path = Path(path)
    path.write_text(libsbml.writeSBMLToString(doc))
    return path


def lint_petab(yaml_path) -> list[str]:
    """Problems the ``petab`` library's linter finds in the problem (empty: none)."""
    import io
    import logging

    try:
        from petab import v1 as petab
    except ImportError:
        try:
            import petab
        except ImportError:
            raise MgfluxError('validating a PEtab problem needs the petab library: pip install "mgflux[petab]"') from None
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    log = logging.getLogger("petab")
    log.addHandler(handler)
    try:
        problem = petab.Problem.from_yaml(str(yaml_path))
        failed = petab.lint_problem(problem)
    finally:
        log.removeHandler(handler)
    msgs = [m for m in stream.getvalue().splitlines() if m.strip()]
    if failed and not msgs:
        msgs = ["the petab linter reported errors"]
    return msgs if failed else []
