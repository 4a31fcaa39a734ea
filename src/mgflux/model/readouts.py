"""Readouts: declared as data, evaluated from the generated ``observe`` function (the same formulas that drive
the right-hand side) and the states.

The shared readouts (the contract names of DESIGN.md, units in the names) are ``models/readouts.toml``; a model
file adds or replaces readouts with ``[readouts.NAME]`` tables of its own (``formula``, ``unit``, optional
``contract`` and ``description``). A formula is a numpy expression over the model's expressions, flux rates
(``flux_NAME``), states, ``total_pools`` and earlier readouts, with ``exp``, ``log``, ``sqrt``,
``where(cond, a, b)`` and ``grade(x, t1, t2, ...)``; names are checked when the readouts are loaded.
"""
from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._paths import models_dir
from ..errors import ModelError, unknown_name
from . import formula as _formula
from .model import Model

MG_DL_PER_MM = 2.4305  # 1 mM = 24.305 mg/L = 2.43 mg/dL
GRADE_THRESHOLDS_MM = (0.7, 0.5, 0.4, 0.3)  # CTCAE v5 grades 1-4, serum total Mg
_KEYS = {"formula", "unit", "contract", "description"}


def grade(x, *thresholds):
    """How many of the (descending) *thresholds* x is below: a CTCAE-style grade, int (scalar) or int array."""
    s = np.asarray(x, dtype=float)
    g = np.zeros(s.shape, dtype=np.int64)
    for thr in thresholds:
        g += s < thr
    return g if g.shape else int(g)


def hypomagnesemia_grade(serum_total_mM: float | np.ndarray) -> int | np.ndarray:
    """CTCAE v5 grade (0-4) by serum total Mg: < 0.7, < 0.5, < 0.4, < 0.3 mM."""
    return grade(serum_total_mM, *GRADE_THRESHOLDS_MM)


#: CTCAE v5 hypermagnesaemia, serum total Mg: grade 1 above the upper limit of normal (1.05 mM) up to 1.23 mM,
#: (no grade 2), grade 3 above 1.23 up to 3.30 mM, grade 4 above 3.30 mM (DESIGN.md "New readouts").
HYPER_GRADE_THRESHOLDS_MM = ((1.05, 1), (1.23, 3), (3.30, 4))


def hypermagnesemia_grade(serum_total_mM: float | np.ndarray) -> int | np.ndarray:
    """CTCAE v5 grade (0, 1, 3 or 4; there is no grade 2) by serum total Mg: > 1.05, > 1.23, > 3.30 mM."""
    s = np.asarray(serum_total_mM, dtype=float)
    g = np.zeros(s.shape, dtype=np.int64)
    for thr, value in HYPER_GRADE_THRESHOLDS_MM:
        g = np.where(s > thr, value, g)
    return g if g.shape else int(g)


def hypocalcemia_grade(serum_ca_total_mM: float | np.ndarray) -> int | np.ndarray:
    """CTCAE v5 grade (0-4) by serum total Ca: < 2.10 (LLN), < 2.0, < 1.75, < 1.5 mM."""
    return grade(serum_ca_total_mM, 2.10, 2.0, 1.75, 1.5)


_FUNCTIONS = {**_formula.NUMPY_FUNCTIONS, "where": np.where, "grade": grade,
              "hypermagnesemia_grade": hypermagnesemia_grade}  # what a readout may call
_INTEGER = ("grade", "hypermagnesemia_grade")  # functions whose value is a grade (an int)


@dataclass(frozen=True)
class Readout:
    """One readout: its name, formula (text), unit, whether the contract lists it, and its compiled code."""

    name: str
    formula: str
    unit: str
    contract: bool = False
    description: str = ""
    integer: bool = False  # a grade: an int, not a float


def _compile(name: str, formula: str, known: set, where: str) -> Readout:
    names = _formula.check(formula, f"{where}: readout {name!r}", functions=tuple(_FUNCTIONS), one_argument=False,
                           comparisons=True)
    for n in sorted(names):
        if n not in known:
            raise ModelError(f"{where}: readout {name!r}: " + unknown_name("name", n, known))
    body = _formula.parse(formula).body
    integer = isinstance(body, ast.Call) and body.func.id in _INTEGER
    return Readout(name, formula, "", integer=integer)


def _table(path: Path, raw: dict) -> dict:
    table = raw.get("readouts", {})
    if not isinstance(table, dict):
        raise ModelError(f"{path}: [readouts] must be a table of [readouts.NAME] tables")
    for name, spec in table.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("formula"), str):
            raise ModelError(f"{path}: [readouts.{name}] needs formula = \"...\" (and unit)")
        extra = set(spec) - _KEYS
        if extra:
            k = sorted(extra)[0]
            raise ModelError(f"{path}: [readouts.{name}]: " + unknown_name("key", k, _KEYS))
    return table


def shared_readouts_file() -> Path:
    return models_dir() / "readouts.toml"


_SHARED: dict = {}


def _shared() -> tuple[Path, dict]:
    if not _SHARED:
        path = shared_readouts_file()
        _SHARED[path] = _table(path, tomllib.loads(path.read_text()))
    (path, table), = _SHARED.items()
    return path, table


_BY_MODEL: dict = {}


def model_readouts(model: Model) -> tuple[Readout, ...]:
    """The readouts of *model*: the shared ones whose names the model defines, then the model file's own (which
    replace shared ones of the same name). Loaded and checked once per model."""
    hit = _BY_MODEL.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    shared_path, shared = _shared()
    own = _table(model.path, tomllib.loads(model.path.read_text())) if model.path and model.path.exists() else {}
    for rel in model.includes:  # a module's readouts (models/modules/*.toml), after the model file's own
        mpath = model.path.parent / rel
        for name, spec in _table(mpath, tomllib.loads(mpath.read_text())).items():
            if name in own:
                raise ModelError(f"{mpath}: [readouts.{name}] is already defined by the model (or an earlier module)")
            own[name] = spec
    base = set(model.observable_names) | set(model.state_names) | {"total_pools", "total_ca_pools"}
    out, known = [], set(base)
    for name, spec in {**shared, **own}.items():
        where = model.path if name in own else shared_path
        try:
            r = _compile(name, spec["formula"], known, str(where))
        except ModelError:
            if name in own:
                raise
            continue  # a shared readout this model cannot compute (it lacks the names): not offered
        out.append(Readout(name, spec["formula"], spec.get("unit", ""), bool(spec.get("contract", False)),
                           spec.get("description", ""), r.integer))
        known.add(name)
    result = tuple(out)
    _BY_MODEL[id(model)] = (model, result)
    return result


def _units_from_shared(contract: bool) -> dict:
    _, table = _shared()
    return {k: v.get("unit", "") for k, v in table.items() if bool(v.get("contract", False)) == contract}


#: Contract readouts (DESIGN.md), in display order, with units for tables and plots (of models/readouts.toml).
READOUTS = _units_from_shared(True)
#: Further readouts mgflux adds (not part of the contract, but stable).
EXTRA_READOUTS = _units_from_shared(False)


def as_number(v):
    """A readout value as a Python number: int for grades (integer arrays), float otherwise."""
    return int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)


def evaluate_readouts(model: Model, obs: np.ndarray, y: np.ndarray) -> dict:
    """Readouts for observables *obs* (n_obs, ...) and states *y* (n_states, ...): arrays or scalars."""
    env = dict(zip(model.observable_names, obs))
    env.update(zip(model.state_names, y))
    env["total_pools"] = sum(env[n] for n in model.pools_of("mg"))  # body Mg (pools of other ions apart)
    env["total_ca_pools"] = sum(env[n] for n in model.pools_of("ca")) if model.pools_of("ca") else 0.0
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for r in model_readouts(model):
            env[r.name] = out[r.name] = _formula.evaluate(r.formula, env, _FUNCTIONS, floats=False)
    return out


def observe(mod, model: Model, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The observables (expressions and flux rates) of the generated module *mod* at state *y*, parameters *p*."""
    out = np.empty(len(model.observable_names))
    mod.observe(y, p, out)
    return out
