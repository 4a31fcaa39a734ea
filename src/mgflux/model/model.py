"""Declarative models: read a model TOML, check names, formulas and units, and hold the result immutably.

A model file lists states, parameters (value, unit, source, note), expressions and fluxes; see
``models/adult.toml``. Units are checked here, once: every formula is evaluated with pint quantities and its
dimension compared with the declared one. What leaves this module is plain floats in internal units
(mmol, L, day), which the generated numba code uses.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .._paths import models_dir
from ..errors import ModelError, unknown_name
from . import formula as _formula
from . import units as _units

#: Ions a pool may hold (``ion = "..."`` of a pool state; default Mg). Body content and mass balance are per ion.
IONS = {"mg": "magnesium", "ca": "calcium"}


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float  # internal units
    unit: str  # as written in the model file
    given: float  # value as written
    source: str
    note: str = ""
    range: tuple[float, float] | None = None  # internal units; documented physiological range


@dataclass(frozen=True)
class State:
    name: str
    unit: str
    pool: bool  # an amount of an ion (counted in that ion's body content and mass balance)
    guess: float
    description: str = ""
    rate: str | None = None  # formula for non-pool states
    ion: str = "mg"  # pools: the ion the amount is of (IONS); fluxes move one ion between pools of that ion


@dataclass(frozen=True)
class Expression:
    name: str
    formula: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Flux:
    name: str
    rate: str
    source: str | None  # state it leaves (None: from outside)
    target: str | None  # state it enters (None: to outside)
    description: str = ""
    through: bool = False  # enters and leaves the body without touching a pool


@dataclass(frozen=True)
class Model:
    """An immutable, checked model. Parameter values are in internal units."""

    name: str
    title: str
    path: Path
    states: tuple[State, ...]
    parameters: tuple[Parameter, ...]
    expressions: tuple[Expression, ...]
    fluxes: tuple[Flux, ...]
    references: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    # calibration targets of the unperturbed model: readout -> {"range": (lo, hi), "target": text, "source": text}
    targets: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    includes: tuple[str, ...] = ()  # module files merged into the model ([model] include), relative paths

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def observable_names(self) -> tuple[str, ...]:
        """Names computed by the generated ``observe`` function: expressions, then flux rates."""
        return tuple(e.name for e in self.expressions) + tuple("flux_" + f.name for f in self.fluxes)

    @property
    def boundary_fluxes(self) -> tuple[Flux, ...]:
        """Fluxes that cross the body boundary (in, out or through); these get cumulative totals."""
        return tuple(f for f in self.fluxes if f.source is None or f.target is None)

    def parameter_vector(self) -> np.ndarray:
        return np.array([p.value for p in self.parameters], dtype=np.float64)

    def guess_vector(self) -> np.ndarray:
        return np.array([s.guess for s in self.states], dtype=np.float64)

    def parameter_index(self, name: str, where: str = "") -> int:
        for i, p in enumerate(self.parameters):
            if p.name == name:
                return i
        raise ModelError(unknown_name("parameter", name, self.parameter_names, where or f"model {self.name!r}"))

    def state_index(self, name: str) -> int:
        return self.state_names.index(name)

    def pool_mask(self) -> np.ndarray:
        return np.array([s.pool for s in self.states])

    def pools_of(self, ion: str = "mg") -> tuple[str, ...]:
        """Names of the pool states holding *ion* (body content of that ion is their sum)."""
        return tuple(s.name for s in self.states if s.pool and s.ion == ion)

    def flux_ion(self, flux: Flux) -> str:
        """The ion a flux moves (that of the pool it leaves or enters; a 'through' flux: from its name)."""
        side = flux.source or flux.target
        if side is not None:
            return next(s for s in self.states if s.name == side).ion
        return "ca" if flux.name.startswith("ca_") else "mg"

    def source_files(self) -> dict[str, str]:
        """The text of the model file and of every module it includes, by path relative to the model file
        (what a process on another machine needs to rebuild the model: :func:`model_from_text`)."""
        files = {self.path.name: self.path.read_text()}
        for rel in self.includes:
            files[rel] = (self.path.parent / rel).read_text()
        return files


# ----------------------------------------------------------------------------------------------- reading


def _quantity(value: float, unit: str, where: str):
    ureg = _units.registry()
    try:
        return ureg.Quantity(value, unit)
    except Exception as exc:
        raise ModelError(f"{where}: unit {unit!r} is not a unit pint knows ({exc})") from None


def _same_dims(a, b) -> bool:
    return _units._mg_dims(a) == _units._mg_dims(b)


def _require(table: dict, key: str, where: str, kinds=(str,)):
    if key not in table:
        raise ModelError(f"{where}: missing key {key!r}")
    v = table[key]
    if not isinstance(v, kinds) or isinstance(v, bool) and bool not in kinds:
        raise ModelError(f"{where}: {key} = {v!r} has the wrong type")
    return v


_STATE_KEYS = {"unit", "pool", "guess", "description", "rate", "ion"}
_PARAM_KEYS = {"value", "unit", "source", "note", "range"}
_FLUX_KEYS = {"from", "to", "rate", "description", "through"}
_EXPR_KEYS = {"formula", "unit", "description"}
_TOP_KEYS = {"model", "states", "parameters", "expressions", "fluxes", "references", "targets", "readouts"}
_MODULE_KEYS = _TOP_KEYS - {"model"} | {"module"}
_MODEL_KEYS = {"name", "title", "description", "include"}
_TARGET_KEYS = {"range", "target", "source", "diet"}


def _check_keys(table: dict, allowed: set, where: str):
    for k in table:
        if k not in allowed:
            raise ModelError(unknown_name("key", k, allowed, where))


def load_model(path: str | Path) -> Model:
    """Read and check a model file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"model file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: not valid TOML: {exc}") from None
    f = str(path)
    _check_keys(raw, _TOP_KEYS, f)
    meta = raw.get("model", {})
    _check_keys(meta, _MODEL_KEYS, f"{f}: [model]")
    name = meta.get("name", path.stem)
    includes = meta.get("include", [])
    if not (isinstance(includes, list) and all(isinstance(x, str) for x in includes)):
        raise ModelError(f"{f}: [model] include must be a list of module file paths (relative to the model file)")
    for rel in includes:
        _merge_module(raw, path, rel)

    states = []
    for sname, s in raw.get("states", {}).items():
        where = f"{f}: [states.{sname}]"
        _check_keys(s, _STATE_KEYS, where)
        unit = _require(s, "unit", where)
        _quantity(1.0, unit, where)
        pool = bool(s.get("pool", False))
        rate = s.get("rate")
        if pool == (rate is not None):
            raise ModelError(f"{where}: a state is either a pool (pool = true, changed by fluxes) or has a rate formula")
        ion = s.get("ion", "mg")
        if ion not in IONS:
            raise ModelError(unknown_name("ion", str(ion), IONS, where))
        if ion != "mg" and not pool:
            raise ModelError(f"{where}: only a pool holds an ion (ion = {ion!r} needs pool = true)")
        guess = float(s.get("guess", 1.0))
        states.append(State(sname, unit, pool, guess, s.get("description", ""), rate, ion))
    if not states:
        raise ModelError(f"{f}: no [states]")

    params = []
    for pname, p in raw.get("parameters", {}).items():
        where = f"{f}: [parameters.{pname}]"
        _check_keys(p, _PARAM_KEYS, where)
        value = _require(p, "value", where, (int, float))
        unit = _require(p, "unit", where)
        source = _require(p, "source", where)
        if not source.strip():
            raise ModelError(f"{where}: source is empty; every parameter needs a source or a derivation")
        q = _quantity(float(value), unit, where)
        internal = _units.to_internal(q)
        rng = p.get("range")
        if rng is not None:
            if len(rng) != 2 or not rng[0] <= value <= rng[1]:
                raise ModelError(f"{where}: range {rng} must be [low, high] around the value {value}")
            rng = tuple(_units.to_internal(_quantity(float(r), unit, where)) for r in rng)
        if not math.isfinite(internal):
            raise ModelError(f"{where}: value is not finite")
        params.append(Parameter(pname, internal, unit, float(value), source, p.get("note", ""), rng))

    exprs = []
    for ename, e in raw.get("expressions", {}).items():
        where = f"{f}: [expressions] {ename}"
        if isinstance(e, str):
            e = {"formula": e, "unit": "dimensionless"}
        _check_keys(e, _EXPR_KEYS, where)
        exprs.append(Expression(ename, _require(e, "formula", where), _require(e, "unit", where), e.get("description", "")))

    state_names = {s.name for s in states}
    fluxes = []
    for fname, fl in raw.get("fluxes", {}).items():
        where = f"{f}: [fluxes.{fname}]"
        _check_keys(fl, _FLUX_KEYS, where)
        src, dst = fl.get("from"), fl.get("to")
        for side in (src, dst):
            if side is not None and side not in state_names:
                raise ModelError(unknown_name("state", side, state_names, where))
            if side is not None and not next(s for s in states if s.name == side).pool:
                raise ModelError(f"{where}: state {side!r} is not a pool; fluxes move Mg between pools")
        if src is not None and dst is not None:
            ions = {next(s for s in states if s.name == side).ion for side in (src, dst)}
            if len(ions) > 1:
                raise ModelError(f"{where}: a flux moves one ion; {src!r} and {dst!r} hold different ions ({sorted(ions)})")
        through = bool(fl.get("through", False))
        if through and (src or dst):
            raise ModelError(f"{where}: a 'through' flux has neither from nor to")
        if not through and src is None and dst is None:
            raise ModelError(f"{where}: a flux needs from, to, or through = true")
        fluxes.append(Flux(fname, _require(fl, "rate", where), src, dst, fl.get("description", ""), through))

    targets = {}
    for tname, t in raw.get("targets", {}).items():
        where = f"{f}: [targets.{tname}]"
        _check_keys(t, _TARGET_KEYS, where)
        rng = t.get("range")
        if not (isinstance(rng, list) and len(rng) == 2 and rng[0] <= rng[1]):
            raise ModelError(f"{where}: range must be [low, high]")
        if not str(t.get("source", "")).strip():
            raise ModelError(f"{where}: every target needs a source")
        targets[tname] = MappingProxyType({"range": (float(rng[0]), float(rng[1])), "target": t.get("target", ""),
                                           "source": t["source"]})

    model = Model(
        name=name,
        title=meta.get("title", name),
        path=path,
        states=tuple(states),
        parameters=tuple(params),
        expressions=tuple(_order_expressions(exprs, states, params, f)),
        fluxes=tuple(fluxes),
        references=MappingProxyType(dict(raw.get("references", {}))),
        description=meta.get("description", ""),
        targets=MappingProxyType(targets),
        includes=tuple(includes),
    )
    _check_names_and_units(model)
    return model


def _merge_module(raw: dict, path: Path, rel: str) -> None:
    """Merge the module file *rel* (relative to the model file *path*) into the model's tables *raw*.

    A module (``models/modules/*.toml``) has the tables of a model file except [model] (it has [module] with a
    title and description); its names must not repeat the model's. Merging keeps each part's text in its own
    file: the calcium module and the Mg model change independently (and merge independently in git)."""
    mpath = path.parent / rel
    where = f"{path}: [model] include {rel!r}"
    try:
        mod = tomllib.loads(mpath.read_text())
    except FileNotFoundError:
        raise ModelError(f"{where}: module file {mpath} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{mpath}: not valid TOML: {exc}") from None
    _check_keys(mod, _MODULE_KEYS, str(mpath))
    for table in _TOP_KEYS - {"model"}:
        part = mod.get(table, {})
        into = raw.setdefault(table, {})
        for k, v in part.items():
            if k in into:
                raise ModelError(f"{mpath}: [{table}] {k!r} is already defined by the model (or an earlier module)")
            into[k] = v


def _order_expressions(exprs, states, params, f):
    """Topological order of expressions (a model file may list them in any order); cycles are errors."""
    known = {s.name for s in states} | {p.name for p in params}
    by_name = {}
    for e in exprs:
        if e.name in known or e.name in by_name:
            raise ModelError(f"{f}: expression {e.name!r} reuses a name already defined")
        by_name[e.name] = e
    deps = {e.name: _formula.check(e.formula, f"{f}: [expressions] {e.name}") for e in exprs}
    ordered, done, visiting = [], set(), set()

    def visit(n, chain):
        if n in done:
            return
        if n in visiting:
            raise ModelError(f"{f}: expressions depend on each other in a cycle: {' -> '.join(chain + [n])}")
        visiting.add(n)
        for d in sorted(deps[n]):
            if d in by_name:
                visit(d, chain + [n])
        visiting.discard(n)
        done.add(n)
        ordered.append(by_name[n])

    for e in exprs:
        visit(e.name, [])
    return ordered


def _check_names_and_units(model: Model) -> None:
    f = str(model.path)
    ureg = _units.registry()
    env = {}
    for p in model.parameters:
        q = _quantity(p.given, p.unit, f)
        env[p.name] = ureg.Quantity(p.value, _units.internal_unit(q))
    for s in model.states:
        env[s.name] = ureg.Quantity(s.guess, s.unit)
    known = set(env)
    for e in model.expressions:
        where = f"{f}: [expressions] {e.name}"
        for n in _formula.check(e.formula, where):
            if n not in known:
                raise ModelError(unknown_name("name", n, known, where))
        q = _formula.evaluate_units(e.formula, env, where)
        want = _quantity(1.0, e.unit, where)
        if not _same_dims(q, want):
            raise ModelError(f"{where}: formula has unit '{q.units:~}' ({q.dimensionality}) "
                             f"but is declared '{e.unit}' ({want.dimensionality})")
        env[e.name] = q
        known.add(e.name)
    rate_unit = ureg.Quantity(1.0, "mmol/day")
    for fl in model.fluxes:
        where = f"{f}: [fluxes.{fl.name}]"
        for n in _formula.check(fl.rate, where):
            if n not in known:
                raise ModelError(unknown_name("name", n, known, where))
        q = _formula.evaluate_units(fl.rate, env, where)
        if not _same_dims(q, rate_unit):
            raise ModelError(f"{where}: rate has unit '{q.units:~}' but a flux must be an amount per time (mmol/day)")
    for s in model.states:
        if s.rate is None:
            continue
        where = f"{f}: [states.{s.name}] rate"
        for n in _formula.check(s.rate, where):
            if n not in known:
                raise ModelError(unknown_name("name", n, known, where))
        q = _formula.evaluate_units(s.rate, env, where)
        want = _quantity(1.0, s.unit, where) / ureg.Quantity(1.0, "day")
        if not _same_dims(q, want):
            raise ModelError(f"{where}: has unit '{q.units:~}', expected '{s.unit}' per time")


def available_models() -> list[str]:
    """The names of the shipped models (``mgflux.get_model(name)``), e.g. ``["adult", ...]``."""
    # models/ also holds data files used by models (population.toml): a model file has states
    return sorted(p.stem for p in models_dir().glob("*.toml") if "[states." in p.read_text())


_CACHE: dict = {}


def get_model(name_or_path: str | Path = "adult") -> Model:
    """A model by name (from models/) or by path; loaded and checked once per process."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = models_dir() / f"{name_or_path}.toml"
        if not p.exists():
            raise ModelError(unknown_name("model", str(name_or_path), available_models(), str(models_dir())))
    modules = p.parent / "modules"
    stamp = tuple(m.stat().st_mtime_ns for m in sorted(modules.glob("*.toml"))) if modules.is_dir() else ()
    key = (str(p.resolve()), p.stat().st_mtime_ns, stamp)
    if key not in _CACHE:
        from . import store  # checked once per file text, not once per process: no pint on a warm start

        # the key hashes the model file and every module file beside it (models/modules/*.toml): editing the
        # calcium module must load afresh, although the model file's text did not change
        mod_texts = [m.read_text() for m in sorted(modules.glob("*.toml"))] if modules.is_dir() else []
        k = store.key(str(p.resolve()), p.read_text(), *mod_texts)
        model = store.load("model", k)
        if model is None:
            model = load_model(p)
            store.save("model", k, model)
        _CACHE[key] = model
    return _CACHE[key]


def model_from_text(text, name: str = "model") -> Model:
    """A model from the text of a model file (for processes on other machines, which do not share the
    client's files): written once to the cache folder under a name that hashes the text, then loaded.
    *text* is the file's text (its modules then come from the shipped models folder), or
    :meth:`Model.source_files` (the model file first, then its modules)."""
    import hashlib
    import os

    if isinstance(text, dict):
        files = text
    else:  # the text of one model file: the modules it includes are the shipped ones
        files = {f"{name}.toml": text}
        try:
            includes = tomllib.loads(text).get("model", {}).get("include", [])
        except tomllib.TOMLDecodeError:
            includes = []  # load_model reports the error with the file's name
        for rel in includes if isinstance(includes, list) else []:
            shipped = models_dir() / str(rel)
            if shipped.exists():
                files[str(rel)] = shipped.read_text()
    blob = "\0".join(f"{k}\0{v}" for k, v in files.items())
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    from .._paths import writable_cache_dir

    folder = writable_cache_dir() / "models" / f"{name}_{digest}"
    main = next(iter(files))
    path = folder / main
    if not path.exists():
        for rel, body in list(files.items())[::-1]:  # the main file last: its presence means complete
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            tmp.write_text(body)
            tmp.replace(target)
    return get_model(path)

