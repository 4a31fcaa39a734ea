"""The perturbation catalogue: genes, drugs, conditions and treatments as data (``models/catalogue/*.toml``).

An entry names its kind, mechanism, source and the parameters it modifies; each effect is a formula in the
entry's input variable (``activity`` for genes, ``dose`` for drugs and conditions, ``amount`` for treatments)
and its named constants (each with a unit and a source). Effects compose across entries: every active
multiplier of a parameter is applied, then every addition.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .._paths import models_dir
from ..errors import ModelError, ScenarioError, unknown_name
from ..model import units as _units
from ..model.model import Model
from .formula import check as _check_formula
from .formula import evaluate

KINDS = ("gene", "drug", "condition", "treatment")
MECHANISMS = {
    "trpm6_uptake": "luminal TRPM6/7 uptake in colon and DCT, stimulated by EGF/EGFR signalling",
    "tal_paracellular": "paracellular reabsorption in the TAL (claudin-16/19, NKCC2/ROMK voltage, CaSR)",
    "dct_integrity": "structural integrity (functional mass) of the DCT",
    "basolateral_extrusion": "Na+-dependent basolateral Mg extrusion driven by the Na+/K+-ATPase",
    "intestinal": "intestinal absorption (paracellular small intestine, microbiota, luminal pH)",
    "intake": "dietary or supplemental Mg intake",
    "calcium_pth": "calcium, PTH and vitamin D (parathyroid secretion, calcitriol, bone mineralisation, Ca intake)",
    "redistribution": "shifts between serum, cells, bone and binding (NEFA, albumin)",
    "losses": "extra losses (diarrhoea, osmotic diuresis)",
}
VARIABLE = {"gene": "activity", "drug": "dose", "condition": "dose", "treatment": "amount"}
_ENTRY_KEYS = {"kind", "mechanism", "aliases", "description", "phenotype", "source", "effects", "constants",
               "route", "dose_range", "activity_range", "homozygous_activity", "heterozygous_activity",
               "standard_dose", "incidence", "targets", "amount_unit", "inheritance", "target_dose", "element",
               "ca_phenotype", "schedule"}
#: ca_phenotype: the calcium picture the literature reports (directions against the healthy adult) and its source
CA_PHENOTYPE_KEYS = {"urine_ca": ("high", "low", "normal"), "serum_ca": ("high", "low", "normal"),
                     "pth": ("high", "low", "normal", "not_raised"), "source": None}
#: elements a treatment's amount may be of (a mass converts with its molar mass; default Mg)
ELEMENTS = {"Mg": 24.305, "Ca": 40.078}
INHERITANCE = ("recessive", "dominant", "mitochondrial", "candidate")
_EFFECT_KEYS = {"parameter", "multiply", "add", "organ"}
_CONST_KEYS = {"value", "unit", "source", "note"}
_SCHEDULE_KEYS = {"period", "parameters", "phases", "source", "note"}
_PHASE_KEYS = {"name", "duration", "strength", "source"}


@dataclass(frozen=True)
class Phase:
    """One phase of a dosing cycle: *duration* (days) and *strength*, the size of the scheduled effects relative to
    their cycle mean (a multiplier m acts as 1 + strength x (m - 1), an addition a as strength x a)."""

    name: str
    duration: float
    strength: float


@dataclass(frozen=True)
class Schedule:
    """A drug taken once per *period* (days) whose effects on *parameters* come in phases (a natriuretic pulse,
    then a rebound). The time-weighted mean strength over a cycle is 1, so the entry's effects are the cycle means:
    ``steady`` uses them (steady = mean over the dosing cycle) and time courses run the phases from each ``start``."""

    period: float
    phases: tuple[Phase, ...]
    parameters: tuple[str, ...]
    source: str = ""
    note: str = ""

    def phase_at(self, since_start: float) -> int:
        """Index of the phase in force *since_start* days after the first dose."""
        x = since_start - self.period * math.floor(since_start / self.period + 1e-12)
        acc = 0.0
        for k, ph in enumerate(self.phases):
            acc += ph.duration
            if x < acc - 1e-9 * self.period:
                return k
        return 0

    def edges(self, start: float, stop: float) -> list[float]:
        """Phase boundaries from *start* up to *stop* (finite), the dose times included."""
        out, t = [], start
        n = 0
        while t < stop - 1e-12:
            acc = t
            for ph in self.phases:
                if acc < stop - 1e-12:
                    out.append(acc)
                acc += ph.duration
            n += 1
            t = start + n * self.period
        return out


def _schedule(raw, where: str, effects, variable: str) -> Schedule:
    """Check and build an entry's ``schedule`` table (see :class:`Schedule`)."""
    w = f"{where} schedule"
    if not isinstance(raw, dict):
        raise ModelError(f"{w}: must be a table with period, parameters, phases and source")
    for k in raw:
        if k not in _SCHEDULE_KEYS:
            raise ModelError(unknown_name("key", k, _SCHEDULE_KEYS, w))
    for k in ("period", "parameters", "phases", "source"):
        if k not in raw:
            raise ModelError(f"{w}: needs {k}")
    if not str(raw["source"]).strip():
        raise ModelError(f"{w}: needs a source")
    try:
        period = _units.convert(raw["period"], "day", where=w, key="period")
    except Exception as exc:
        raise ModelError(str(exc)) from None
    if not period > 0:
        raise ModelError(f"{w}: period must be > 0")
    params = raw["parameters"]
    own = {e.parameter for e in effects}
    if not (isinstance(params, list) and params and all(isinstance(x, str) for x in params)):
        raise ModelError(f"{w}: parameters must be a list of the parameters of the entry's effects that pulse")
    for x in params:
        if x not in own:
            raise ModelError(unknown_name("parameter", x, sorted(own), f"{w} parameters"))
    phases_raw = raw["phases"]
    if not (isinstance(phases_raw, list) and len(phases_raw) >= 2):
        raise ModelError(f"{w}: phases must be a list of at least two {{name, duration, strength}} tables")
    names, durations, strengths, balance = [], [], [], []
    for i, ph in enumerate(phases_raw):
        pw = f"{w} phases[{i}]"
        if not isinstance(ph, dict):
            raise ModelError(f"{pw}: must be a table")
        for k in ph:
            if k not in _PHASE_KEYS:
                raise ModelError(unknown_name("key", k, _PHASE_KEYS, pw))
        if "duration" not in ph or "strength" not in ph:
            raise ModelError(f"{pw}: needs duration and strength")
        try:
            d = _units.convert(ph["duration"], "day", where=pw, key="duration")
        except Exception as exc:
            raise ModelError(str(exc)) from None
        if not d > 0:
            raise ModelError(f"{pw}: duration must be > 0")
        st = ph["strength"]
        if st == "balance":
            balance.append(i)
            st = 0.0
        elif isinstance(st, bool) or not isinstance(st, (int, float)) or not math.isfinite(st):
            raise ModelError(f"{pw}: strength = {st!r} must be a number or \"balance\" (the value that makes the "
                             "cycle mean strength 1)")
        names.append(str(ph.get("name", f"phase {i + 1}")))
        durations.append(d)
        strengths.append(float(st))
    if abs(sum(durations) - period) > 1e-9 * period:
        raise ModelError(f"{w}: the phase durations add up to {sum(durations) * 24:g} h, not the period "
                         f"({period * 24:g} h)")
    if len(balance) > 1:
        raise ModelError(f"{w}: at most one phase may have strength = \"balance\"")
    if balance:
        k = balance[0]
        strengths[k] = (period - sum(d * s for d, s in zip(durations, strengths))) / durations[k]
    mean = sum(d * s for d, s in zip(durations, strengths)) / period
    if abs(mean - 1.0) > 1e-9:
        raise ModelError(f"{w}: the time-weighted mean strength is {mean:.6g}, not 1 (the entry's effects are the "
                         "cycle means); give one phase strength = \"balance\"")
    return Schedule(period, tuple(Phase(n, d, s) for n, d, s in zip(names, durations, strengths)), tuple(params),
                    str(raw["source"]), str(raw.get("note", "")))


@dataclass(frozen=True)
class Effect:
    parameter: str
    multiply: str | None
    add: str | None
    organ: str = ""


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    mechanism: str
    source: str
    effects: tuple[Effect, ...]
    aliases: tuple[str, ...] = ()
    description: str = ""
    phenotype: str = ""
    route: str = ""  # treatments: oral | iv
    constants: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    constant_sources: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    dose_range: tuple[float, float] = (0.0, math.inf)
    activity_range: tuple[float, float] = (0.0, 1.0)
    homozygous_activity: float = 0.0
    heterozygous_activity: float = 0.5
    standard_dose: str | None = None
    amount_unit: str | None = None  # treatments dosed in something other than elemental Mg (inulin: g/day)
    inheritance: str = ""  # genes: the genotype patients carry follows from it (dominant: heterozygous)
    target_dose: float = 1.0  # drugs/conditions: the dose at which `targets` apply
    incidence: str = ""
    targets: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    file: str = ""
    element: str = "Mg"  # oral treatments: the element the amount is of (a mass converts with its molar mass)
    ca_phenotype: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    schedule: Schedule | None = None  # drugs taken in pulses (loop diuretics): phases of each dosing cycle

    @property
    def variable(self) -> str:
        return VARIABLE[self.kind]

    @property
    def patient_genotype(self) -> str:
        """The genotype patients with this condition carry: heterozygous for dominant genes."""
        return "heterozygous" if self.inheritance == "dominant" else "homozygous"

    def target_input(self) -> float:
        """The input value at which `targets` apply: patients' genotype, or `target_dose`."""
        if self.kind == "gene":
            return self.heterozygous_activity if self.inheritance == "dominant" else self.homozygous_activity
        return self.target_dose

    def _eval(self, formula: str, value: float) -> float:
        env = dict(self.constants)
        env[self.variable] = value
        return float(evaluate(formula, env))

    def modifiers(self, value: float, phase: int | None = None):
        """[(parameter, multiplier or None, addition or None)] for input *value* of the entry's variable: the
        cycle means, or with *phase* (a scheduled entry) those of that phase of the dosing cycle."""
        out = []
        s = self.schedule.phases[phase].strength if phase is not None and self.schedule is not None else None
        for e in self.effects:
            m = self._eval(e.multiply, value) if e.multiply else None
            a = self._eval(e.add, value) if e.add else None
            if s is not None and e.parameter in self.schedule.parameters:
                m = None if m is None else 1.0 + s * (m - 1.0)
                a = None if a is None else s * a
            out.append((e.parameter, m, a))
        return out


@dataclass(frozen=True)
class Catalogue:
    entries: MappingProxyType  # name -> Entry
    aliases: MappingProxyType  # alias -> name

    def names(self) -> list[str]:
        return sorted(self.entries)

    def lookup(self, name: str, where: str = "") -> Entry:
        key = name.strip()
        for cand in (key, key.lower(), key.upper()):
            if cand in self.entries:
                return self.entries[cand]
            if cand in self.aliases:
                return self.entries[self.aliases[cand]]
        raise ScenarioError(unknown_name("perturbation or treatment", name,
                                         list(self.entries) + list(self.aliases), where))

    def by_kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == kind]


def _range(v, where, key):
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and v[0] <= v[1]):
        raise ModelError(f"{where}: {key} must be [low, high]")
    return (float(v[0]), float(v[1]))


def load_catalogue(directory: Path | None = None, model: Model | None = None) -> Catalogue:
    """Read every ``*.toml`` in the catalogue folder and check it against *model* (parameter names)."""
    directory = Path(directory) if directory else models_dir() / "catalogue"
    entries, aliases = {}, {}
    for path in sorted(directory.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ModelError(f"{path}: not valid TOML: {exc}") from None
        for name, t in raw.items():
            where = f"{path}: [{name}]"
            if not isinstance(t, dict):
                raise ModelError(f"{where}: an entry must be a table")
            for k in t:
                if k not in _ENTRY_KEYS:
                    raise ModelError(unknown_name("key", k, _ENTRY_KEYS, where))
            kind = t.get("kind")
            if kind not in KINDS:
                raise ModelError(f"{where}: kind = {kind!r}; allowed: {', '.join(KINDS)}")
            mech = t.get("mechanism")
            if mech not in MECHANISMS:
                raise ModelError(unknown_name("mechanism", str(mech), MECHANISMS, where))
            if not str(t.get("source", "")).strip():
                raise ModelError(f"{where}: every entry needs a source")
            consts, csources = {}, {}
            for cname, c in t.get("constants", {}).items():
                cw = f"{where} constants.{cname}"
                for k in c:
                    if k not in _CONST_KEYS:
                        raise ModelError(unknown_name("key", k, _CONST_KEYS, cw))
                if "value" not in c or "source" not in c:
                    raise ModelError(f"{cw}: needs value and source")
                q = _units.registry().Quantity(float(c["value"]), c.get("unit", "dimensionless"))
                consts[cname] = _units.to_internal(q)
                csources[cname] = c["source"]
            variable = VARIABLE[kind]
            effects = []
            for i, e in enumerate(t.get("effects", [])):
                ew = f"{where} effects[{i}]"
                for k in e:
                    if k not in _EFFECT_KEYS:
                        raise ModelError(unknown_name("key", k, _EFFECT_KEYS, ew))
                if "parameter" not in e or not ("multiply" in e or "add" in e):
                    raise ModelError(f"{ew}: needs parameter and multiply and/or add")
                if model is not None:
                    model.parameter_index(e["parameter"], ew)
                for key in ("multiply", "add"):
                    if key in e:
                        used = _check_formula(e[key], f"{ew} {key}")
                        allowed = set(consts) | {variable}
                        for n in used:
                            if n not in allowed:
                                raise ModelError(unknown_name("name", n, allowed, f"{ew} {key}"))
                effects.append(Effect(e["parameter"], e.get("multiply"), e.get("add"), e.get("organ", "")))
            if not effects:
                raise ModelError(f"{where}: an entry needs at least one effect")
            if "amount_unit" in t:
                if kind != "treatment" or t.get("route") != "oral":
                    raise ModelError(f"{where}: amount_unit applies to oral treatments only")
                try:
                    _units.registry().Quantity(1.0, t["amount_unit"])
                except Exception:
                    raise ModelError(f"{where}: amount_unit = {t['amount_unit']!r} is not a unit pint knows") from None
            element = t.get("element", "Mg")
            if element not in ELEMENTS:
                raise ModelError(unknown_name("element", str(element), ELEMENTS, where))
            if element != "Mg" and (kind != "treatment" or t.get("route") != "oral" or "amount_unit" in t):
                raise ModelError(f"{where}: element applies to oral treatments dosed as an amount of that element")
            ca_ph = t.get("ca_phenotype", {})
            if not isinstance(ca_ph, dict):
                raise ModelError(f"{where}: ca_phenotype must be a table")
            for k, v in ca_ph.items():
                if k not in CA_PHENOTYPE_KEYS:
                    raise ModelError(unknown_name("key", k, CA_PHENOTYPE_KEYS, f"{where} ca_phenotype"))
                allowed = CA_PHENOTYPE_KEYS[k]
                if allowed is not None and v not in allowed:
                    raise ModelError(f"{where} ca_phenotype: {k} = {v!r}; allowed: {', '.join(allowed)}")
            if ca_ph and not str(ca_ph.get("source", "")).strip():
                raise ModelError(f"{where} ca_phenotype: needs a source")
            schedule = None
            if "schedule" in t:
                if kind != "drug":
                    raise ModelError(f"{where}: schedule applies to drugs only (a dose taken once per period)")
                schedule = _schedule(t["schedule"], where, effects, variable)
            if kind == "gene" and t.get("inheritance") not in INHERITANCE:
                raise ModelError(f"{where}: a gene needs inheritance = one of {', '.join(INHERITANCE)}")
            route = t.get("route", "")
            if kind == "treatment" and route not in ("oral", "iv"):
                raise ModelError(f"{where}: a treatment needs route = \"oral\" or \"iv\"")
            if name in entries or name in aliases:
                raise ModelError(f"{where}: the name {name!r} is used twice")
            entry = Entry(
                name=name, kind=kind, mechanism=mech, source=t["source"], effects=tuple(effects),
                aliases=tuple(t.get("aliases", ())), description=t.get("description", ""),
                phenotype=t.get("phenotype", ""), route=route, constants=MappingProxyType(consts),
                constant_sources=MappingProxyType(csources),
                dose_range=_range(t.get("dose_range"), where, "dose_range") or (0.0, math.inf),
                activity_range=_range(t.get("activity_range"), where, "activity_range") or (0.0, 1.0),
                homozygous_activity=float(t.get("homozygous_activity", 0.0)),
                heterozygous_activity=float(t.get("heterozygous_activity", 0.5)),
                standard_dose=t.get("standard_dose"), amount_unit=t.get("amount_unit"),
                inheritance=t.get("inheritance", ""), target_dose=float(t.get("target_dose", 1.0)),
                incidence=t.get("incidence", ""),
                targets=MappingProxyType(dict(t.get("targets", {}))), file=str(path), element=element,
                ca_phenotype=MappingProxyType(dict(ca_ph)), schedule=schedule)
            # every effect must evaluate to a finite, non-negative number across the documented input range
            lo, hi = entry.activity_range if kind == "gene" else entry.dose_range
            probe = [lo, hi if math.isfinite(hi) else lo + 1.0, 1.0] if kind != "treatment" else [0.0, 1.0]
            for v in probe:
                for phase in (None,) + (tuple(range(len(schedule.phases))) if schedule else ()):
                    for pname, m, a in entry.modifiers(v, phase):
                        for x in (m, a):
                            if x is not None and (not math.isfinite(x) or x < 0):
                                in_phase = "" if phase is None else f" in phase {schedule.phases[phase].name!r}"
                                raise ModelError(f"{where}: effect on {pname} gives {x} at {variable} = {v}{in_phase}")
            entries[name] = entry
            for a in entry.aliases:
                if a in entries or a in aliases:
                    raise ModelError(f"{where}: alias {a!r} is used twice")
                aliases[a] = name
    return Catalogue(MappingProxyType(entries), MappingProxyType(aliases))


_CACHE: dict = {}


def get_catalogue(model: Model) -> Catalogue:
    """The catalogue (``models/catalogue/*.toml``: genes, drugs, conditions, treatments) checked against
    *model*'s parameters; loaded once per model and catalogue files."""
    d = models_dir() / "catalogue"
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(d.glob("*.toml")))
    key = (str(model.path), stamp)
    if key not in _CACHE:
        from . import store

        files = sorted(d.glob("*.toml"))
        k = store.key(str(model.path), model.path.read_text(), *(f.name + f.read_text() for f in files))
        cat = store.load("catalogue", k)
        if cat is None:
            cat = load_catalogue(d, model)
            store.save("catalogue", k, cat)
        _CACHE[key] = cat
    return _CACHE[key]


def apply_modifiers(model: Model, p: np.ndarray, mods) -> np.ndarray:
    """Parameter vector with [(parameter, multiplier, addition), ...] applied: all multipliers, then additions."""
    p = p.copy()
    adds = []
    for name, m, a in mods:
        i = model.parameter_index(name)
        if m is not None:
            p[i] *= m
        if a is not None:
            adds.append((i, a))
    for i, a in adds:
        p[i] += a
    return p
