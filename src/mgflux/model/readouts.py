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


def hypomagnesemia_grade(serum_total_mM):
    """CTCAE v5 grade (0-4) by serum total Mg: < 0.7, < 0.5, < 0.4, < 0.3 mM."""
    return grade(serum_total_mM, *GRADE_THRESHOLDS_MM)


def hypermagnesemia_grade(serum_total_mM):
    """CTCAE v5 grade by serum total Mg: > 1.05 (ULN) grade 1, > 1.23 grade 3, > 3.30 grade 4 (CTCAE has no
    grade 2): the formula of readouts.toml's hypermagnesemia_grade."""
    s = np.asarray(serum_total_mM, dtype=float)
    g = np.where(s > 3.30, 4, np.where(s > 1.23, 3, np.where(s > 1.05, 1, 0))).astype(np.int64)
    return g if g.shape else int(g)


def hypocalcemia_grade(serum_ca_total_mM):
    """CTCAE v5 grade (0-4) by serum total Ca: < 2.10 (LLN), < 2.0, < 1.75, < 1.5 mM."""
    return grade(serum_ca_total_mM, 2.10, 2.0, 1.75, 1.5)


_FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "where": np.where, "grade": grade}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.Compare,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@dataclass(frozen=True)
class Readout:
    """One readout: its name, formula (text), unit, whether the contract lists it, and its compiled code."""

    name: str
    formula: str
    unit: str
    contract: bool = False
    description: str = ""
    integer: bool = False  # a grade: an int, not a float
    code: object = None


def _compile(name: str, formula: str, known: set, where: str) -> Readout:
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise ModelError(f"{where}: readout {name!r}: formula {formula!r} is not an expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ModelError(f"{where}: readout {name!r}: {type(node).__name__} is not allowed in a formula "
                             f"(numbers, + - * / **, comparisons, {', '.join(_FUNCTIONS)})")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ModelError(f"{where}: readout {name!r}: only {', '.join(_FUNCTIONS)} can be called")
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in known:
            raise ModelError(f"{where}: readout {name!r}: " + unknown_name("name", node.id, known))
    integer = isinstance(tree.body, ast.Call) and tree.body.func.id == "grade"
    return Readout(name, formula, "", integer=integer, code=compile(tree, f"<readout {name}>", "eval"))


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
                           spec.get("description", ""), r.integer, r.code))
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


def _number(v):
    """A readout value as a Python number: int for grades (integer arrays), float otherwise."""
    return int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)


def readout_units(model: Model) -> dict:
    """Every readout of *model* with its unit."""
    return {r.name: r.unit for r in model_readouts(model)}


def _readouts(model: Model, obs: np.ndarray, y: np.ndarray) -> dict:
    """Readouts for observables *obs* (n_obs, ...) and states *y* (n_states, ...): arrays or scalars."""
    env = dict(zip(model.observable_names, obs))
    env.update(zip(model.state_names, y))
    env["total_pools"] = sum(env[n] for n in model.pools_of("mg"))  # body Mg (pools of other ions apart)
    env["total_ca_pools"] = sum(env[n] for n in model.pools_of("ca")) if model.pools_of("ca") else 0.0
    env.update(_FUNCTIONS)
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for r in model_readouts(model):
            v = eval(r.code, {"__builtins__": {}}, env)  # noqa: S307 - compiled from checked formulas only
            env[r.name] = out[r.name] = v
    return out


def _observe(mod, model: Model, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    out = np.empty(len(model.observable_names))
    mod.observe(y, p, out)
    return out


def _ca_readouts(model: Model, o: dict, s: dict) -> dict:
    filtered = o["ca_filtered_load"]
    creatinine = o["creatinine_excretion"]  # adult.toml: scales with the [patient]
    return {
        "serum_ca_total_mM": o["serum_ca_total"],
        "serum_ca_ionized_mM": o["serum_ca_ionized"],
        "pth_pM": o["pth_plasma"] * PM_PER_MM,
        "pth_pg_per_mL": o["pth_plasma"] * PM_PER_MM * PTH_PG_ML_PER_PM,
        "calcitriol_pM": o["calcitriol_plasma"] * PM_PER_MM,
        "urine_ca_mmol_per_day": o["ca_urine_rate"],
        "feca_percent": 100.0 * o["ca_urine_rate"] / filtered,
        "urine_ca_creatinine_ratio": o["ca_urine_rate"] / creatinine,
        "reabsorbed_ca_pt_percent": 100.0 * o["ca_pt_reabsorption"] / filtered,
        "reabsorbed_ca_tal_percent": 100.0 * o["ca_tal_reabsorption"] / filtered,
        "reabsorbed_ca_dct_percent": 100.0 * o["ca_dct_reabsorption"] / filtered,
        "hypocalcemia_grade": hypocalcemia_grade(o["serum_ca_total"]),
        "serum_ca_total_mg_dL": o["serum_ca_total"] * CA_MG_DL_PER_MM,
        "ca_filtered_load_mmol_per_day": filtered,
        "ca_absorbed_mmol_per_day": o["ca_absorption"] - o["flux_ca_endogenous_secretion"],
        "ca_bone_balance_mmol_per_day": -o["flux_ca_bone_remodelling"],
        "body_ca_exchangeable_mmol": sum(s[n] for n in model.pools_of("ca")),
        "pth_gland_relative": s["pth_gland"],
        "pth_responsiveness_relative": o["pth_responsiveness"],
    }
