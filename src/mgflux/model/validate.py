"""One validation layer for every way an input reaches the model: scenario files, Python dicts
(:func:`mgflux.scenario_from_dict`), ``sweep --vary`` and the virtual population, the web API.

Two outcomes, from the limits in ``models/limits.toml`` (each with a unit and a source):

- physiologically impossible input is a :class:`~mgflux.ScenarioError` naming the file (or flag), the key
  and the allowed range;
- implausible but possible input (very high intake, stacked drugs, a drug that starts after the end of the
  run, ...) is a warning: the scenario runs, ``Scenario.warnings`` (and the result's ``warnings``, the JSON's
  ``"warnings"``, stderr of the command line) say what is unusual.

Duplicate entries, one policy: the same entry (by name or alias) with overlapping windows is an error (a
gene variant is lifelong, so a gene listed twice always overlaps); a drug class and one of its members
with overlapping windows is an error (the class *is* a typical member at a standard dose); two members of one
class at once is a warning (stacked drugs). Entries of one name with separate windows are dosing cycles.

:func:`validate_scenario` is the plain entry point for a scenario given as a dict (the web API's body).
"""
from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .._paths import models_dir
from ..errors import ModelError, ScenarioError
from . import units as _units

_LIMIT_KEYS = {"unit", "min", "min_exclusive", "max", "warn_above", "warn_below", "source"}


@dataclass(frozen=True)
class Limit:
    """Bounds of one input or readout, in ``unit``: min/max are errors, warn_below/warn_above warnings."""

    name: str
    unit: str
    min: float = 0.0
    min_exclusive: bool = False
    max: float = math.inf
    warn_below: float = -math.inf
    warn_above: float = math.inf
    source: str = ""

    def allowed(self) -> str:
        lo = f"> {self.min:g}" if self.min_exclusive else f">= {self.min:g}"
        return f"{lo} and <= {self.max:g} {self.unit}" if math.isfinite(self.max) else f"{lo} {self.unit}"


@dataclass(frozen=True)
class Limits:
    inputs: MappingProxyType
    domain: MappingProxyType
    classes: MappingProxyType  # class entry name -> tuple of member names
    salts: MappingProxyType  # treatment name -> {"formula", "mg_fraction", "source"}

    def class_of(self, name: str) -> str | None:
        for c, members in self.classes.items():
            if name in members:
                return c
        return None


def _limit(name, t, where) -> Limit:
    if not isinstance(t, dict):
        raise ModelError(f"{where}: must be a table")
    for k in t:
        if k not in _LIMIT_KEYS:
            from ..errors import unknown_name

            raise ModelError(unknown_name("key", k, _LIMIT_KEYS, where))
    if "unit" not in t or not str(t.get("source", "")).strip():
        raise ModelError(f"{where}: every limit needs a unit and a source")
    lo = t.get("min", t.get("min_exclusive", 0.0))
    return Limit(name, t["unit"], float(lo), "min_exclusive" in t, float(t.get("max", math.inf)),
                 float(t.get("warn_below", -math.inf)), float(t.get("warn_above", math.inf)), t["source"])


@functools.cache
def limits() -> Limits:
    """The limits of ``models/limits.toml`` (read once)."""
    path = models_dir() / "limits.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: mgflux needs it to check inputs") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: not valid TOML: {exc}") from None
    inputs = {k: _limit(k, v, f"{path}: [input.{k}]") for k, v in raw.get("input", {}).items()}
    domain = {k: _limit(k, v, f"{path}: [domain.{k}]") for k, v in raw.get("domain", {}).items()}
    classes = {k: tuple(v) for k, v in raw.get("drug_classes", {}).items()}
    salts = {k: MappingProxyType(dict(v)) for k, v in raw.get("salts", {}).items()}
    for k, s in salts.items():
        if not 0 < float(s.get("mg_fraction", 0)) <= 1 or not s.get("source"):
            raise ModelError(f"{path}: [salts.{k}] needs mg_fraction in (0, 1] and a source")
    return Limits(MappingProxyType(inputs), MappingProxyType(domain), MappingProxyType(classes),
                  MappingProxyType(salts))


_FACTORS: dict = {}  # "unit|mg" -> magnitude of 1 unit in internal (mg) or SI base (not mg) units; "dims|unit" -> bool


def _factors_file():
    from .._paths import writable_cache_dir

    return writable_cache_dir() / "validate-units.json"


def _unit_fact(k: str, compute):
    """A fact about a unit, computed with pint once and kept on disk (a warm process never imports pint)."""
    import json

    if not _FACTORS:
        try:
            _FACTORS.update(json.loads(_factors_file().read_text()))
        except Exception:  # noqa: BLE001 - missing or damaged: computed again
            _FACTORS["_"] = 0
    if k not in _FACTORS:
        _FACTORS[k] = compute()
        try:
            f = _factors_file()
            tmp = f.with_suffix(f".tmp{__import__('os').getpid()}")
            tmp.write_text(json.dumps(_FACTORS))
            tmp.replace(f)
        except OSError:
            pass
    return _FACTORS[k]


def _factor(unit: str, mg: bool) -> float:
    def compute():
        try:
            q = _units.registry().Quantity(1.0, unit)
        except Exception:
            raise ModelError(f"models/limits.toml or a caller: unit {unit!r} is not a unit pint knows") from None
        return _units.to_internal(q) if mg else float(q.to_base_units().magnitude)

    return _unit_fact(f"{unit}|{int(mg)}", compute)


def _in_unit(value: float, unit: str, limit_unit: str, mg: bool) -> float:
    """*value* (in *unit*) expressed in *limit_unit* (a mass of Mg counted as an amount when *mg*)."""
    return value * _factor(unit, mg) / _factor(limit_unit, mg)


def check_value(limit_name: str, value, unit: str, where: str, key: str, *, mg: bool = True,
                given: str | None = None) -> list[str]:
    """Check *value* (a number or array, in *unit*) against the limit *limit_name*: raise a ScenarioError
    beyond min/max, return warnings beyond warn_below/warn_above."""
    lim = limits().inputs[limit_name]
    v = np.asarray(_in_unit(1.0, unit, lim.unit, mg) * np.asarray(value, dtype=float))
    shown = f"{key} = {given!r}" if given is not None else f"{key}"
    if not np.all(np.isfinite(v)):
        raise ScenarioError(f"{where}: {shown} must be finite; allowed: {lim.allowed()}")
    bad_lo = v <= lim.min if lim.min_exclusive else v < lim.min
    if np.any(bad_lo) or np.any(v > lim.max):
        x = float(v[bad_lo][0] if np.any(bad_lo) else v[v > lim.max][0])
        raise ScenarioError(f"{where}: {shown} is {x:.4g} {lim.unit}, outside the allowed range "
                            f"({lim.allowed()}): physiologically impossible ({lim.source})")
    out = []
    if np.any(v > lim.warn_above):
        x = float(np.max(v))
        out.append(f"{where}: {shown} is {x:.4g} {lim.unit}, above {lim.warn_above:g} {lim.unit}: possible but "
                   f"implausible ({lim.source}); check the number and its unit")
    if np.any(v < lim.warn_below):
        x = float(np.min(v))
        out.append(f"{where}: {shown} is {x:.4g} {lim.unit}, below {lim.warn_below:g} {lim.unit}: outside the "
                   f"range the model was calibrated for ({lim.source})")
    return out


# ------------------------------------------------------------------------------------------- scenarios

def _overlap(a, b) -> bool:
    if a.lifelong or b.lifelong:
        return True
    return a.start < b.stop and b.start < a.stop


def _window_text(a) -> str:
    if a.lifelong:
        return "lifelong"
    stop = "the end" if not math.isfinite(a.stop) else f"day {a.stop:g}"
    return f"day {a.start:g} to {stop}"


def check_applications(scenario) -> list[str]:
    """Amounts, windows and duplicates of every applied entry: raises for the impossible, returns warnings."""
    lim = limits()
    warnings: list[str] = []
    apps = scenario.applications
    for a in apps:
        w = a.where or f"[{a.entry.name}]"
        e = a.entry
        if e.kind == "treatment":
            if e.route == "oral" and e.amount_unit:
                warnings += check_value("inulin_amount", a.value, e.amount_unit, w, "amount", mg=False)
            elif e.route == "oral":
                got = check_value("oral_mg_amount", a.value, "mmol/day", w, "amount")
                salt = lim.salts.get(e.name)
                if got and salt:
                    got = [g + f". The amount is elemental Mg: if it is the mass of the salt {salt['formula']}, the "
                               f"elemental dose is {100 * float(salt['mg_fraction']):.3g} % of it" for g in got]
                warnings += got
            elif a.one_off:
                dur = a.stop - a.start
                warnings += check_value("iv_amount", a.value * dur, "mmol", w, "amount")
                warnings += check_value("iv_rate", a.value, "mmol/day", w, "amount / duration")
            else:
                warnings += check_value("iv_continuous_rate", a.value, "mmol/day", w, "rate")
        if not a.lifelong and a.start >= scenario.duration:
            warnings.append(f"{w}: starts at day {a.start:g}, at or after the end of the run (day "
                            f"{scenario.duration:g}): `run` never applies it (`steady` does)")
        elif a.one_off and a.stop > scenario.duration:
            warnings.append(f"{w}: the infusion ends at day {a.stop:g}, after the end of the run (day "
                            f"{scenario.duration:g}): `run` gives only part of it")
    for i, a in enumerate(apps):
        for b in apps[i + 1:]:
            wa, wb = a.where or a.entry.name, b.where or b.entry.name
            if a.entry.name == b.entry.name and _overlap(a, b):
                if a.lifelong:
                    raise ScenarioError(f"{wb}: {a.entry.name} is already listed ({wa}); a gene variant is "
                                        "lifelong: list each gene once, with one genotype or activity")
                raise ScenarioError(
                    f"{wb}: {a.entry.name} is already listed with an overlapping window ({wa}: {_window_text(a)}; "
                    f"here: {_window_text(b)}). Entries of one name are allowed only with separate windows "
                    "(dosing cycles); for a different dose give the new dose in its own window")
            ca, cb = lim.class_of(a.entry.name), lim.class_of(b.entry.name)
            if (ca == b.entry.name or cb == a.entry.name) and _overlap(a, b):
                cls, member = (b, a) if ca == b.entry.name else (a, b)
                raise ScenarioError(
                    f"{wb}: {cls.entry.name} (the drug class, as a typical member at a standard dose) and "
                    f"{member.entry.name} (one of its members) overlap in time ({wa}); together they count the same "
                    f"drug twice. Give the member with its dose, or the class alone")
            if ca is not None and ca == cb and _overlap(a, b):
                warnings.append(f"{wb}: {b.entry.name} and {a.entry.name} ({wa}) are both {ca} drugs given at the same "
                                "time (stacked drugs of one class): their effects multiply, which no source has "
                                "measured; check that both are meant")
    return warnings


def check_scenario(scenario, where: str | None = None) -> list[str]:
    """Every plausibility check of a built scenario: raises for the impossible, returns the warnings."""
    w = where or (str(scenario.path) if scenario.path else "<scenario>")
    warnings = []
    warnings += check_value("duration", scenario.duration, "day", f"{w}: [scenario]", "duration")
    if scenario.mg_intake is not None:
        warnings += check_value("diet_mg_intake", scenario.mg_intake, "mmol/day", f"{w}: [diet]", "mg_intake")
    warnings += check_applications(scenario)
    return warnings


def validate_scenario(raw: dict, where: str = "<scenario>"):
    """The scenario of a parsed TOML structure or JSON body, checked: a :class:`~mgflux.Scenario` whose
    ``warnings`` list what is implausible; a :class:`~mgflux.ScenarioError` for what is impossible (the
    message the command line prints). The web API calls this on the request body."""
    from .scenario import scenario_from_dict

    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a scenario is a table (JSON object) of sections, got {type(raw).__name__}")
    return scenario_from_dict(raw, where=where)


def validation_report(raw, where: str = "<scenario>") -> dict:
    """``{"ok": bool, "error": message or None, "warnings": [...]}`` for a scenario dict: what a form or a web
    page shows before anything is computed (the messages are the command line's)."""
    try:
        sc = validate_scenario(raw, where)
    except ScenarioError as exc:
        return {"ok": False, "error": str(exc), "warnings": []}
    return {"ok": True, "error": None, "warnings": list(sc.warnings)}


def check_count(value, name: str, minimum: int = 1, where: str = "") -> int:
    """A count (patients, samples, trajectories, seeds): a whole number >= *minimum*, else a ScenarioError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ScenarioError(f"{where + ': ' if where else ''}{name} = {value!r} must be a whole number >= {minimum}")
    return int(value)


def warn_all(messages) -> None:
    """Python API: implausible input as :class:`~mgflux.MgfluxWarning` (the command line prints them itself)."""
    import warnings

    from ..errors import MgfluxWarning

    for m in messages:
        warnings.warn(m, MgfluxWarning, stacklevel=3)


# ----------------------------------------------------------------------------------- sweeps and batches

def _must_be_positive(par) -> bool:
    """Parameters with a time or volume (transit times, half-lives, volumes, GFR) cannot be zero."""
    def compute():
        dims = dict(_units.registry().Quantity(1.0, par.unit).dimensionality)
        return bool(dims.get("[time]", 0) > 0 or dims.get("[length]", 0) > 0)

    return _unit_fact(f"dims|{par.unit}", compute)


def check_factor(scenario, f, values, where: str | None = None) -> list[str]:
    """Values of a sweep factor (in the factor's display unit) against the same limits as a scenario file."""
    where = where or f"--vary {f.name}"
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)):
        raise ScenarioError(f"{where}: every value must be finite")
    warnings = []
    if f.entry is not None:
        e = f.entry
        if e.variable in ("dose", "activity"):
            lo, hi = e.activity_range if e.kind == "gene" else e.dose_range
            if v.min() < lo or v.max() > hi:
                x = v.min() if v.min() < lo else v.max()
                what = "residual activity" if e.kind == "gene" else "relative dose (1 = standard)"
                raise ScenarioError(f"{where}: {x:g} is outside the allowed range [{lo:g}, {hi:g}] of "
                                    f"{e.name}.{e.variable} ({what}; the same range as in a scenario file)")
        elif e.route == "oral" and e.amount_unit:
            warnings += check_value("inulin_amount", v, f.unit, where, "amount", mg=False)
        elif e.route == "oral":
            warnings += check_value("oral_mg_amount", v, f.unit, where, "amount")
        else:
            warnings += check_value("iv_continuous_rate", v, f.unit, where, "rate")
        return warnings
    par = scenario.model.parameters[f.index]
    if f.name == "diet_mg_intake":
        warnings += check_value("diet_mg_intake", v, f.unit, where, "diet_mg_intake")
    elif f.name in limits().inputs:
        warnings += check_value(f.name, v, f.unit, where, f.name, mg=False)
    elif v.min() < 0:
        raise ScenarioError(f"{where}: {v.min():g} {f.unit} is negative; {f.name} must be >= 0")
    elif v.min() == 0 and _must_be_positive(par):
        raise ScenarioError(f"{where}: {f.name} = 0 {f.unit} is impossible (a time or volume); it must be > 0")
    nominal = par.value / f.to_internal
    if f.documented_range is None and nominal > 0 and (v.max() > 10 * nominal or 0 < v.min() < nominal / 10):
        warnings.append(f"{where}: values from {v.min():g} to {v.max():g} {f.unit} go more than a factor 10 from "
                        f"the model value {nominal:g} {f.unit} of {f.name}, which has no documented range "
                        "(models/adult.toml): the result is an extrapolation")
    if f.documented_range is not None:
        lo, hi = f.documented_range
        if v.min() < lo or v.max() > hi:
            warnings.append(f"{where}: values from {v.min():g} to {v.max():g} {f.unit} go beyond the documented "
                            f"physiological range [{lo:g}, {hi:g}] {f.unit} of {f.name} (models/adult.toml): the "
                            "model is not calibrated there")
    return warnings


def check_factor_names(pairs, where: str = "--vary") -> None:
    """*pairs*: (resolved factor name, as written). The same factor twice (also by alias) is an error: one
    would silently replace the other."""
    seen = {}
    for name, text in pairs:
        if name in seen:
            raise ScenarioError(f"{where}: {name} is varied twice ({seen[name]!r} and {text!r}); give each factor "
                                "once (several values: LO:HI:N)")
        seen[name] = text


# -------------------------------------------------------------------------------------------- readouts

def domain_warnings(readouts, what: str = "the result") -> list[str]:
    """Warnings for readouts outside the model's validated domain (``models/limits.toml`` [domain]);
    *readouts* maps names to numbers or arrays (every element is checked)."""
    out = []
    for name, lim in limits().domain.items():
        if name not in readouts:
            continue
        v = np.asarray(readouts[name], dtype=float)
        if v.size == 0:
            continue
        with np.errstate(invalid="ignore"):
            fin = v[np.isfinite(v)]
        if fin.size < v.size:
            out.append(f"{what}: {name} is not finite in {v.size - fin.size} of {v.size} values")
        if fin.size == 0:
            continue
        lo, hi = float(fin.min()), float(fin.max())
        if lo < lim.min or hi > lim.max:
            n = int(np.sum((fin < lim.min) | (fin > lim.max)))
            share = "" if v.size == 1 else f" (at {n} of {v.size} points)"
            x = lo if lo < lim.min else hi
            out.append(f"{what}: {name} = {x:.4g} {lim.unit}{share} is outside the model's validated domain "
                       f"[{lim.min:g}, {lim.max:g}] {lim.unit} ({lim.source}); treat the number as an extrapolation")
    return out
