"""SBML Level 3 Version 2 export of a model with a scenario's modifiers, windows as events.

Everything is generated from the same :class:`~mgflux.model.model.Model` objects and formula strings that feed the
numba right-hand side (:mod:`mgflux.engine.codegen`); there is no second copy of the physiology. The mapping:

- one compartment ``body`` of 1 L (states are amounts, so it only carries the species);
- pool states -> species in mmol with ``hasOnlySubstanceUnits``: in every formula a species means its amount,
  as in mgflux;
- other states (``trpm6``, ``dct_mass``, ...) -> non-constant parameters with rate rules;
- parameters -> parameters in mgflux's internal units (mmol, L, day), with the value the scenario applies at
  time 0 (diet, gene variants, and every drug, condition and treatment whose window covers the first
  segment of ``mgflux run``) and their source and note as SBML notes; constant unless a window changes
  them (see events below);
- expressions -> non-constant parameters with assignment rules;
- fluxes -> reactions ``flux_<name>`` (from the source pool, into the target pool; a boundary flux has no
  reactant or no product) whose kinetic law is the flux formula.

Units: every parameter, species and rule variable carries a unit definition derived from its pint unit
(mass of Mg counted as amount, as mgflux does), and every number in a formula is written with the unit
``dimensionless`` so that libSBML can check the units of every formula completely. Formulas are printed from
the Python AST fully parenthesised, with ``**`` as ``^`` and ``log`` (natural in Python) as ``ln``, then
parsed with ``libsbml.parseL3Formula``.

The initial amounts are the steady state of the model with the diet and gene variants (what ``mgflux run``
starts from).

Windows (``start``/``stop`` of drugs, conditions and treatments, one-off IV infusions with ``duration``) are
SBML events, so a time course of the file from time 0 reproduces ``mgflux run`` of the same scenario:

- ``mgflux run`` integrates segments between ``scenario.edges()`` with the piecewise-constant parameter
  vector ``parameters_between(scenario, t0, t1, base)``. The file's parameters start at the first segment's
  values, and at every edge inside the run one event ``window_edge_<k>`` (trigger ``time >= t_k`` with the
  number in ``day``, ``initialValue`` false, ``persistent`` true, ``useValuesFromTriggerTime`` true) assigns
  the values of the next segment to every parameter that changes at some edge of the run. Those parameters
  are non-constant; all the others stay constant.
- Why events and not ``piecewise(...)`` assignment rules of ``time``: an event makes the integrator stop and
  restart at the edge exactly as mgflux does (a piecewise rule hides a discontinuity inside a step and needs
  event detection anyway), the file keeps the parameters as plain numbers a modeller can read and change,
  and the segment values are the ones mgflux computes (to the 15 significant digits libSBML writes; no
  re-implementation of the window logic).
- Each event assigns *all* varying parameters (not only those that change at that edge), so each segment is
  self-contained and the outcome never depends on event order. Edges are distinct times, so no two events
  fire together and no priorities are needed. Event assignments are numbers with the parameter's unit
  (``sbml:units``), so libSBML checks them like every other formula.
- After the scenario's duration the last segment's parameters stay on (mgflux has no segment there).
- Scenarios with no edge inside the run whose parameters equal the all-on ones give exactly the document of
  earlier versions (no events, same notes), byte for byte. ``steady=True`` (``export-sbml --steady``) writes
  that all-on document for any scenario: every drug, condition and continuous treatment on permanently,
  one-off infusions dropped, as ``mgflux steady`` (a time course of it is ``run`` with every window from day
  0; its steady state is ``mgflux steady``).
"""
from __future__ import annotations

import ast
import html
import math
from pathlib import Path

from ..errors import MgfluxError
from ..model import units as _units
from ..model.formula import BINOPS, parse
from ..model.model import Model

SBML_LEVEL = 3
SBML_VERSION = 2
COMPARTMENT = "body"

_FUNCTIONS = {"exp": "exp", "log": "ln", "sqrt": "sqrt"}  # the formula functions (model.formula.FUNCTIONS) in L3
_OPS = {**BINOPS, ast.Pow: "^"}  # the formula operators in L3
# Names the L3 formula parser reads as constants, functions or operators (case-insensitive).
_RESERVED = {"time", "avogadro", "pi", "exponentiale", "true", "false", "inf", "infinity", "nan", "notanumber",
             "e", "and", "or", "not", "xor", "piecewise", "rateof", "delay", "quotient", "rem", "implies",
             "max", "min", "abs", "ceil", "ceiling", "floor", "exp", "ln", "log", "log10", "sqrt", "root",
             "power", "pow", "sin", "cos", "tan", "factorial", "plus", "minus", "times", "divide", "eq", "neq",
             "lt", "gt", "leq", "geq"}


class SbmlError(MgfluxError):
    """The SBML export failed (libSBML missing, a name SBML cannot use, or an invalid document)."""


def _libsbml():
    try:
        import libsbml
    except ImportError:
        raise SbmlError("SBML export needs python-libsbml: pip install 'mgflux[sbml]'") from None
    return libsbml


# ------------------------------------------------------------------------------------------------ formulas


def l3_formula(formula: str) -> str:
    """An mgflux formula as SBML L3 infix text: fully parenthesised, numbers marked dimensionless."""

    def pr(node) -> str:
        if isinstance(node, ast.Expression):
            return pr(node.body)
        if isinstance(node, ast.Constant):
            return f"({float(node.value)!r} dimensionless)"
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Call):
            return f"{_FUNCTIONS[node.func.id]}({pr(node.args[0])})"
        if isinstance(node, ast.UnaryOp):
            return f"(-{pr(node.operand)})" if isinstance(node.op, ast.USub) else pr(node.operand)
        if isinstance(node, ast.BinOp):
            return f"({pr(node.left)} {_OPS[type(node.op)]} {pr(node.right)})"
        raise SbmlError(f"cannot export {ast.dump(node)} in formula {formula!r}")

    try:
        tree = parse(formula)
    except SyntaxError as exc:
        raise SbmlError(f"cannot export formula {formula!r}: {exc.msg}") from None
    return pr(tree)


def _math(libsbml, formula: str, where: str):
    text = l3_formula(formula)
    node = libsbml.parseL3Formula(text)
    if node is None:
        raise SbmlError(f"{where}: libSBML cannot parse {text!r} (from {formula!r}): {libsbml.getLastParseL3Error()}")
    return node


def _parse(libsbml, text: str, where: str):
    node = libsbml.parseL3Formula(text)
    if node is None:
        raise SbmlError(f"{where}: libSBML cannot parse {text!r}: {libsbml.getLastParseL3Error()}")
    return node


# --------------------------------------------------------------------------------------------------- units

_DIMS = {  # pint dimension -> (SBML unit kind, scale, multiplier, symbol for the id)
    "[substance]": ("UNIT_KIND_MOLE", -3, 1.0, "mmol"),
    "[length]": ("UNIT_KIND_METRE", -1, 1.0, "dm"),
    "[time]": ("UNIT_KIND_SECOND", 0, 86400.0, "day"),
}
_NAMED = {  # readable ids for the common internal units
    (("[substance]", 1),): "mmol",
    (("[length]", 3),): "L",
    (("[time]", 1),): "day",
    (("[time]", -1),): "per_day",
    (("[substance]", 1), ("[time]", -1)): "mmol_per_day",
    (("[length]", -3), ("[substance]", 1)): "mM",
    (("[length]", 3), ("[time]", -1)): "L_per_day",
}


def _dims(unit: str) -> tuple:
    """Internal-unit dimensions of a pint unit string, mass of Mg counted as amount (as mgflux does)."""
    q = _units.registry().Quantity(1.0, unit)
    return tuple(sorted((k, int(v)) for k, v in _units._mg_dims(q).items()))


def _unit_id(dims: tuple) -> str:
    if not dims:
        return "dimensionless"
    if dims in _NAMED:
        return _NAMED[dims]

    def sym(d, e):
        s = _DIMS[d][3]
        if d == "[length]" and e % 3 == 0:
            s, e = "L", e // 3
        return s if e == 1 else f"{s}{e}"

    num = [sym(d, e) for d, e in dims if e > 0]
    den = [sym(d, -e) for d, e in dims if e < 0]
    return "_".join(num or ["one"]) + ("_per_" + "_".join(den) if den else "")


class _Units:
    """Unit definitions, created on first use."""

    def __init__(self, libsbml, model):
        self.libsbml, self.model, self.ids = libsbml, model, {}

    def __call__(self, unit: str) -> str:
        dims = _dims(unit)
        uid = _unit_id(dims)
        if uid != "dimensionless" and uid not in self.ids:
            ud = self.model.createUnitDefinition()
            _ok(ud.setId(uid))
            for d, e in dims:
                if d not in _DIMS:
                    raise SbmlError(f"unit {unit!r}: dimension {d} has no SBML mapping")
                kind, scale, mult, _ = _DIMS[d]
                u = ud.createUnit()
                u.setKind(getattr(self.libsbml, kind))
                u.setExponent(float(e))
                u.setScale(scale)
                u.setMultiplier(mult)
            self.ids[uid] = ud
        return uid


def _ok(code):
    if code is not None and code != 0:  # LIBSBML_OPERATION_SUCCESS
        import libsbml

        raise SbmlError(f"libSBML operation failed: {libsbml.OperationReturnValue_toString(code)}")


def _notes(obj, paragraphs: list[str]) -> None:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)
    if body:
        _ok(obj.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'))


def _check_ids(model: Model) -> None:
    names = [*model.state_names, *model.parameter_names, *(e.name for e in model.expressions),
             *(f"flux_{f.name}" for f in model.fluxes), COMPARTMENT]
    seen = set()
    for n in names:
        if n.lower() in _RESERVED:
            raise SbmlError(f"model {model.name!r}: the name {n!r} is reserved in SBML formulas; rename it")
        if n in seen:
            raise SbmlError(f"model {model.name!r}: the SBML id {n!r} would be used twice")
        seen.add(n)


# -------------------------------------------------------------------------------------------------- export


EVENT_PREFIX = "window_edge_"


def _number(value: float, unit_id: str, where: str) -> str:
    """A number with its unit as L3 infix text (libSBML writes it with 15 significant digits, as every value)."""
    value = float(value)
    if not math.isfinite(value):
        raise SbmlError(f"{where}: the value {value!r} cannot be written to SBML")
    return f"({value!r} {unit_id})"


def _windows(scenario):
    """The segments of ``mgflux run``: (edges, parameter vector of each segment), as ``simulate`` builds them."""
    import numpy as np

    from ..model.parameters import segment_parameters

    edges = scenario.edges()  # windows and the phases of pulsed drugs
    _, seg = segment_parameters(scenario, [], np.zeros((1, 0)), edges)
    return edges, [seg[0, s] for s in range(len(edges) - 1)]


def _edge_label(scenario, t: float) -> str:
    what = [f"{a.label or a.entry.name} {verb}"
            for a in scenario.timed for verb, at in (("stops", a.stop), ("starts", a.start)) if at == t]
    for a in scenario.timed:
        if a.entry.schedule is not None and a.active(t, t) and t not in (a.start, a.stop) and t in a.pulse_edges(t + 1):
            what.append(f"{a.label or a.entry.name} {a.entry.schedule.phases[a.phase_at(t)].name}")
    return f"day {t:.6g}: " + ", ".join(what)


def to_document(scenario, *, initial=None, steady: bool = False):
    """The scenario's model as a ``libsbml.SBMLDocument`` (L3V2).

    Default: the parameters in force at time 0 of ``mgflux run`` and one event per window edge inside the run,
    so that a time course of the file reproduces ``mgflux run``. *steady*: every drug, condition and continuous
    treatment on permanently, no events (as ``mgflux steady``; what export wrote before windows were events).
    *initial*: initial state values by state name (internal units); default: the steady state of the model
    with the diet and gene variants (what ``mgflux run`` starts from).
    """
    libsbml = _libsbml()
    from .. import __version__
    from ..model.parameters import steady_parameters

    model: Model = scenario.model
    _check_ids(model)
    p, notes = steady_parameters(scenario)
    edges, seg = ([], []) if steady else _windows(scenario)
    varying = []  # indices of parameters that an event changes
    if seg:
        varying = [i for i in range(len(p)) if any(q[i] != seg[0][i] for q in seg[1:])]
        if varying or any(seg[0] != p):  # not the all-on document: parameters of the first segment
            p = seg[0]
        else:  # constant scenario: the all-on document, byte for byte as before
            seg = []
    if initial is None:
        from ..run import initial_state

        initial = initial_state(scenario)

    doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    m = doc.createModel()
    _ok(m.setId(f"mgflux_{model.name}"))
    _ok(m.setName(f"{model.title}: {scenario.name}"))
    units = _Units(libsbml, m)
    _ok(m.setSubstanceUnits(units("mmol")))
    _ok(m.setExtentUnits(units("mmol")))
    _ok(m.setTimeUnits(units("day")))
    _ok(m.setVolumeUnits(units("L")))

    if seg:
        first = [a for a in scenario.applications if a.active(edges[0], edges[1])]
        applied = [f"{a.entry.name} ({a.label or a.value})" for a in first]
        timing = [
            "Modifiers in force at time 0 (diet, gene variants, and every drug, condition and treatment whose "
            "window covers the start of `mgflux run`): " + (", ".join(applied) if applied else "none") + ".",
            f"Windows are events: at each of the {len(edges) - 2} window edges inside the run "
            f"({', '.join(f'{t:.6g}' for t in edges[1:-1]) + ' day' if len(edges) > 2 else 'none'}) an event "
            f"{EVENT_PREFIX}<k> sets the "
            f"{len(varying)} parameters that change during the run to their values for the next segment. A time "
            f"course of this file from time 0 reproduces `mgflux run` over its {scenario.duration:.6g} days; "
            "after that the last segment's parameters stay on. `mgflux export-sbml --steady` writes the "
            "variant with every modifier on permanently (as `mgflux steady`).",
        ]
    else:
        applied = [f"{a.entry.name} ({a.label or a.value})" for a in scenario.applications]
        timing = [
            "Constant modifiers applied (diet, gene variants; every drug, condition and continuous treatment on "
            "permanently, as `mgflux steady`): " + (", ".join(applied) if applied else "none") + ".",
            *notes,
        ]
    _notes(m, [
        f"Generated by mgflux {__version__} from the model file {model.path.name} ({model.title}) for the "
        f"scenario {scenario.name!r}.",
        model.description.strip(),
        *timing,
        "Units: amounts mmol, volumes L, time day (mass of Mg converted with 24.305 g/mol). Initial values: "
        "steady state of the model with the diet and gene variants (the start of `mgflux run`).",
        "References: " + " | ".join(f"{k}: {v}" for k, v in model.references.items()),
    ])

    c = m.createCompartment()
    _ok(c.setId(COMPARTMENT))
    _ok(c.setName("the body (a container for amounts)"))
    _ok(c.setSpatialDimensions(3))
    _ok(c.setSize(1.0))
    _ok(c.setUnits(units("L")))
    _ok(c.setConstant(True))

    for s in model.states:
        if s.pool:
            sp = m.createSpecies()
            _ok(sp.setId(s.name))
            _ok(sp.setCompartment(COMPARTMENT))
            _ok(sp.setInitialAmount(initial[s.name]))
            _ok(sp.setSubstanceUnits(units(s.unit)))
            _ok(sp.setHasOnlySubstanceUnits(True))
            _ok(sp.setBoundaryCondition(False))
            _ok(sp.setConstant(False))
            _notes(sp, [s.description])
        else:
            par = m.createParameter()
            _ok(par.setId(s.name))
            _ok(par.setValue(initial[s.name]))
            _ok(par.setUnits(units(s.unit)))
            _ok(par.setConstant(False))
            _notes(par, [s.description, "A state of the model (rate rule)."])
            rr = m.createRateRule()
            _ok(rr.setVariable(s.name))
            _ok(rr.setMath(_math(libsbml, s.rate, f"state {s.name}")))

    for i, (par_def, value) in enumerate(zip(model.parameters, p)):
        par = m.createParameter()
        _ok(par.setId(par_def.name))
        _ok(par.setValue(float(value)))
        _ok(par.setUnits(units(par_def.unit)))
        _ok(par.setConstant(i not in varying))
        given = f"Model file: {par_def.given:g} {par_def.unit}."
        if value != par_def.value:
            given += f" This scenario applies {float(value):.6g} (model value {par_def.value:.6g}, internal units)."
        if i in varying:
            given += " Set by the window events: " + "; ".join(
                f"from day {t:.6g}: {float(q[i]):.6g}" for t, q in zip(edges[1:-1], seg[1:])) + "."
        _notes(par, [f"Source: {par_def.source}.", par_def.note.strip(), given])

    for e in model.expressions:
        par = m.createParameter()
        _ok(par.setId(e.name))
        _ok(par.setUnits(units(e.unit)))
        _ok(par.setConstant(False))
        _notes(par, [e.description, f"mgflux formula: {e.formula}"])
        ar = m.createAssignmentRule()
        _ok(ar.setVariable(e.name))
        _ok(ar.setMath(_math(libsbml, e.formula, f"expression {e.name}")))

    for fl in model.fluxes:
        r = m.createReaction()
        _ok(r.setId(f"flux_{fl.name}"))
        # a net exchange between two pools may change sign; flows into or out of the body do not
        _ok(r.setReversible(fl.source is not None and fl.target is not None))
        if fl.source is not None:
            ref = r.createReactant()
            _ok(ref.setSpecies(fl.source))
            _ok(ref.setStoichiometry(1.0))
            _ok(ref.setConstant(True))
        if fl.target is not None:
            ref = r.createProduct()
            _ok(ref.setSpecies(fl.target))
            _ok(ref.setStoichiometry(1.0))
            _ok(ref.setConstant(True))
        kl = r.createKineticLaw()
        _ok(kl.setMath(_math(libsbml, fl.rate, f"flux {fl.name}")))
        extra = "Passes through the body without touching a pool (counted in intake and faeces)." if fl.through else ""
        _notes(r, [fl.description, f"mgflux formula (mmol/day): {fl.rate}", extra])

    taken = {x.getId() for x in m.getListOfAllElements() if x.isSetId()}
    day = units("day")
    for k, (t, q) in enumerate(zip(edges[1:-1], seg[1:]), start=1):
        ev = m.createEvent()
        _ok(ev.setId(f"{EVENT_PREFIX}{k}"))
        if ev.getId() in taken:
            raise SbmlError(f"model {model.name!r}: the event id {ev.getId()!r} is already used")
        _ok(ev.setName(_edge_label(scenario, t)))
        _ok(ev.setUseValuesFromTriggerTime(True))
        tr = ev.createTrigger()
        _ok(tr.setInitialValue(False))
        _ok(tr.setPersistent(True))
        _ok(tr.setMath(_parse(libsbml, f"time >= {_number(t, day, ev.getId())}", ev.getId())))
        for i in varying:
            par_def = model.parameters[i]
            ea = ev.createEventAssignment()
            _ok(ea.setVariable(par_def.name))
            _ok(ea.setMath(_parse(libsbml, _number(q[i], units(par_def.unit), par_def.name), ev.getId())))
        _notes(ev, [f"A window edge of `mgflux run` ({ev.getName()}): sets the {len(varying)} varying "
                    f"parameters to their values for the segment [{t:.6g}, {edges[k + 1]:.6g}) day."])
    return doc


def to_sbml(scenario, **kw) -> str:
    """SBML L3V2 text of the scenario's model (see :func:`to_document`)."""
    return _libsbml().writeSBMLToString(to_document(scenario, **kw))


def consistency_problems(doc_or_text, *, units: bool = True) -> list[str]:
    """libSBML consistency check with unit checking on: every error and warning, one line each."""
    libsbml = _libsbml()
    doc = libsbml.readSBMLFromString(doc_or_text) if isinstance(doc_or_text, str) else doc_or_text
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, units)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_WARNING:
            out.append(f"{e.getSeverityAsString()} {e.getErrorId()} (line {e.getLine()}): {e.getMessage().strip()}")
    return out


def write_sbml(scenario, path: str | Path, *, check: bool = True, **kw) -> Path:
    """Write the SBML file; with *check*, refuse to write a file libSBML finds inconsistent (units included)."""
    doc = to_document(scenario, **kw)
    if check:
        problems = consistency_problems(doc)
        if problems:
            raise SbmlError("the exported SBML fails libSBML's consistency checks:\n  " + "\n  ".join(problems))
    path = Path(path)
    text = _libsbml().writeSBMLToString(doc)
    path.write_text(text)
    return path
