"""Scenario files (TOML): the contract of DESIGN.md.

A scenario names a model, a diet, perturbations (genes, drugs, conditions) and treatments with optional
windows. Every malformed input is a :class:`ScenarioError` that names the file, the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model import units as _units
from ..model.catalogue import Catalogue, Entry, get_catalogue
from ..model.model import Model, get_model

_SECTIONS = {"scenario", "diet", "patient", "perturbation", "treatment"}
_SCENARIO_KEYS = {"name", "model", "duration", "sample_every", "description"}
_DIET_KEYS = {"mg_intake"}
_PERTURBATION_KEYS = {"name", "genotype", "activity", "dose", "start", "stop"}
_TREATMENT_KEYS = {"name", "amount", "rate", "start", "stop", "duration"}
GENOTYPES = ("homozygous", "heterozygous")


@dataclass(frozen=True)
class Application:
    """One catalogue entry applied in a scenario: its input value and its window (days)."""

    entry: Entry
    value: float  # activity (genes), relative dose, or amount rate in mmol/day (treatments)
    start: float = 0.0
    stop: float = math.inf
    one_off: bool = False  # an IV amount given over a duration (dropped by `steady`)
    label: str = ""
    where: str = field(default="", compare=False)  # the file and block it came from (for messages only)

    @property
    def lifelong(self) -> bool:
        return self.entry.kind == "gene"

    def active(self, t0: float, t1: float) -> bool:
        """Whether the application covers the interval [t0, t1) (windows never split a segment)."""
        return self.lifelong or (self.start <= t0 and t1 <= self.stop)

    def phase_at(self, t0: float) -> int | None:
        """The phase of the dosing cycle in force from day *t0* (a scheduled drug: cycles start at ``start``), or
        None (no schedule: the entry's effects are constant)."""
        sch = self.entry.schedule
        if sch is None or self.lifelong or self.one_off:
            return None
        return sch.phase_at(t0 - self.start)

    def pulse_edges(self, end: float) -> list[float]:
        """The phase boundaries of a scheduled drug inside its window, up to day *end*."""
        sch = self.entry.schedule
        if sch is None or self.lifelong or self.one_off:
            return []
        return sch.edges(self.start, min(self.stop, end))

    def modifiers(self, phase: int | None = None):
        return self.entry.modifiers(self.value, phase)


@dataclass(frozen=True)
class Scenario:
    """An immutable, checked scenario. Times in days, intake in mmol/day."""

    name: str
    model: Model
    duration: float
    sample_every: float
    mg_intake: float | None
    applications: tuple[Application, ...] = ()
    path: Path | None = None
    description: str = ""
    notes: tuple[str, ...] = field(default=())
    # implausible but possible input (mgflux.model.validate); messages name the file, so not part of equality
    warnings: tuple[str, ...] = field(default=(), compare=False)
    patient: object = None  # a checked model.patient.Patient, or None (the model's 70 kg adult)

    @property
    def genes(self):
        return tuple(a for a in self.applications if a.lifelong)

    @property
    def timed(self):
        return tuple(a for a in self.applications if not a.lifelong)

    def edges(self, end: float | None = None) -> list[float]:
        """Segment boundaries to day *end* (default: the duration): 0, every window edge inside the run, the
        phase boundaries of scheduled drugs (a loop diuretic's daily pulse and rebound), and the end."""
        end = float(self.duration if end is None else end)
        ts = {0.0, end}
        for t in self.window_edges(end):
            ts.add(t)
        for a in self.timed:
            for t in a.pulse_edges(end):
                if 0.0 < t < end:
                    ts.add(float(t))
        return sorted(ts)

    def window_edges(self, end: float | None = None) -> list[float]:
        """The starts and stops of the windows inside the run (no phase boundaries: those are not on the output
        grid)."""
        end = float(self.duration if end is None else end)
        return sorted({float(t) for a in self.timed for t in (a.start, a.stop) if 0.0 < t < end})


def _err(where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{where}: {msg}")


def _check_keys(table, allowed, where):
    if not isinstance(table, dict):
        raise _err(where, f"must be a table of keys, got {table!r}")
    for k in table:
        if k not in allowed:
            raise ScenarioError(unknown_name("key", k, allowed, where))


def _number(v, where, key, lo=-math.inf, hi=math.inf):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(where, f"{key} = {v!r} must be a finite number")
    if not lo <= v <= hi:
        raise _err(where, f"{key} = {v!r} is outside the allowed range [{lo:g}, {hi:g}]")
    return float(v)


def _time(v, where, key):
    return _units.convert(v, "day", where=where, key=key)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {path} does not exist") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path} is a folder, not a scenario file") from None
    except PermissionError:
        raise ScenarioError(f"scenario file {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise ScenarioError(f"scenario file {path} cannot be read: {exc.strerror or exc}") from None
    text = decode_text(data, path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return scenario_from_dict(raw, where=str(path), path=path)


def decode_text(data: bytes, path) -> str:
    """Text of a file read as UTF-8 (a byte-order mark is accepted); other encodings are named in the error."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScenarioError(f"{path}: the file is UTF-16 text; mgflux reads UTF-8: save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        guess = ""
        try:
            data.decode("cp1252")
            guess = " (it looks like Latin-1 / Windows-1252)"
        except UnicodeDecodeError:
            pass
        raise ScenarioError(f"{path}: not UTF-8 text{guess}: byte 0x{data[exc.start]:02x} on line {line}; "
                            "mgflux reads UTF-8 (with or without a BOM): save the file as UTF-8") from None


def scenario_from_dict(raw: dict, where: str = "<scenario>", path: Path | None = None) -> Scenario:
    """Build a scenario from the parsed TOML structure (the same checks as a file)."""
    _check_keys(raw, _SECTIONS, where)
    sc = raw.get("scenario", {})
    _check_keys(sc, _SCENARIO_KEYS, f"{where}: [scenario]")
    w = f"{where}: [scenario]"
    name = sc.get("name", path.stem if path else "scenario")
    if not isinstance(name, str):
        raise _err(w, f"name = {name!r} must be a string")
    model_name = sc.get("model", "adult")
    if not isinstance(model_name, str):
        raise _err(w, f"model = {model_name!r} must be a model name such as \"adult\"")
    try:
        model = get_model(model_name)
    except MgfluxError as exc:
        raise _err(w, str(exc)) from None
    duration = _time(sc.get("duration", "365 day"), w, "duration")
    if duration <= 0:
        raise _err(w, "duration must be > 0")
    sample_every = _time(sc.get("sample_every", "1 day"), w, "sample_every")
    if sample_every <= 0:
        raise _err(w, "sample_every must be > 0")
    if duration / sample_every > 2_000_000:
        raise _err(w, f"sample_every = {sc.get('sample_every')!r} gives more than 2 million samples; use a coarser grid")

    diet = raw.get("diet", {})
    _check_keys(diet, _DIET_KEYS, f"{where}: [diet]")
    mg_intake = None
    if "mg_intake" in diet:
        mg_intake = _units.convert(diet["mg_intake"], "mmol/day", where=f"{where}: [diet]", key="mg_intake")

    patient = None
    if "patient" in raw:
        from .patient import parse_patient

        patient = parse_patient(raw["patient"], where)

    catalogue = get_catalogue(model)
    apps = []
    for section, keys in (("perturbation", _PERTURBATION_KEYS), ("treatment", _TREATMENT_KEYS)):
        items = raw.get(section, [])
        if isinstance(items, dict):
            raise _err(where, f"[{section}] must be written [[{section}]] (a list: one block per entry)")
        for i, item in enumerate(items, 1):
            w = f"{where}: [[{section}]] #{i}"
            if isinstance(item, dict) and "name" in item:
                w += f" (name = {item['name']!r})"
            _check_keys(item, keys, w)
            if "name" not in item or not isinstance(item["name"], str):
                raise _err(w, "needs name = \"...\" (a gene, drug, condition or treatment)")
            entry = catalogue.lookup(item["name"], w)
            if section == "treatment" and entry.kind != "treatment":
                raise _err(w, f"{entry.name!r} is a {entry.kind}; list it under [[perturbation]]")
            if section == "perturbation" and entry.kind == "treatment":
                raise _err(w, f"{entry.name!r} is a treatment; list it under [[treatment]]")
            apps.append(_application(entry, item, w, catalogue, duration))
    description = sc.get("description", "")
    if not isinstance(description, str):
        raise _err(f"{where}: [scenario]", f"description = {description!r} must be a string")
    scenario = Scenario(name=name, model=model, duration=duration, sample_every=sample_every, mg_intake=mg_intake,
                        applications=tuple(apps), path=path, description=description,
                        patient=patient, notes=(patient.describe(),) if patient is not None else ())
    from .validate import check_scenario

    warnings = check_scenario(scenario, where)
    return dataclasses.replace(scenario, warnings=tuple(warnings)) if warnings else scenario


def _window(item, w):
    start = _time(item["start"], w, "start") if "start" in item else 0.0
    stop = _time(item["stop"], w, "stop") if "stop" in item else math.inf
    if stop <= start:
        raise _err(w, f"stop ({item.get('stop')!r}) must come after start ({item.get('start', '0 day')!r})")
    return start, stop


def _application(entry: Entry, item: dict, w: str, catalogue: Catalogue, duration: float) -> Application:
    kind = entry.kind
    if kind == "gene":
        for k in ("dose", "start", "stop"):
            if k in item:
                raise _err(w, f"{k} does not apply to a gene variant (lifelong); use genotype or activity")
        if "genotype" in item and "activity" in item:
            raise _err(w, "give genotype or activity, not both")
        lo, hi = entry.activity_range
        if "activity" in item:
            value = _number(item["activity"], w, "activity", lo, hi)
        else:
            g = item.get("genotype", "homozygous")
            if g not in GENOTYPES:
                raise ScenarioError(unknown_name("genotype", str(g), GENOTYPES, w)
                                    + f" Or give activity = a residual activity in [{lo:g}, {hi:g}].")
            value = entry.homozygous_activity if g == "homozygous" else entry.heterozygous_activity
        return Application(entry, value, label=entry.name, where=w)

    if kind in ("drug", "condition"):
        for k in ("genotype", "activity"):
            if k in item:
                raise _err(w, f"{k} applies to genes only; a {kind} takes dose")
        start, stop = _window(item, w)
        dose = item.get("dose", 1.0)
        lo, hi = entry.dose_range
        if isinstance(dose, str):
            if not entry.standard_dose:
                raise _err(w, f"dose = {dose!r}: {entry.name} takes a relative dose (1.0 = standard), a number in [{lo:g}, {hi:g}]")
            std = _units.parse(entry.standard_dose, where=entry.file, key="standard_dose")
            q = _units.parse(dose, where=w, key="dose")
            # a drug's dose is a mass of the drug, not of Mg: never converted with Mg's molar mass
            if dict(q.dimensionality).get("[substance]"):
                raise _err(w, f"dose = {dose!r} is an amount of substance; mgflux does not know the molar mass of "
                              f"{entry.name}, so give a mass per time like the standard dose "
                              f"({entry.standard_dose}) or a relative dose (1.0 = standard, allowed [{lo:g}, {hi:g}])")
            if q.dimensionality != std.dimensionality:
                raise _err(w, f"dose = {dose!r} has unit '{q.units:~}', which cannot be converted to the "
                              f"standard dose unit '{std.units:~}' ({entry.standard_dose})")
            dose = float((q / std).to("dimensionless").magnitude)
        value = _number(dose, w, "dose", lo, hi)
        return Application(entry, value, start, stop, label=entry.name, where=w)

    # treatments
    start, stop = _window(item, w)
    if entry.route == "oral":
        if "rate" in item or "duration" in item:
            raise _err(w, "an oral treatment takes amount = \"... mg/day\" (elemental Mg per day), not rate or duration")
        if entry.amount_unit:  # not Mg (inulin: grams of fibre per day): plain unit conversion
            if "amount" not in item:
                raise _err(w, f"needs amount = \"... {entry.amount_unit}\"")
            q = _units.parse(item["amount"], where=w, key="amount")
            try:
                value = float(q.to(entry.amount_unit).magnitude)
            except Exception:
                raise _err(w, f"amount = {item['amount']!r} has unit '{q.units:~}', which cannot be converted "
                              f"to '{entry.amount_unit}'") from None
            if not math.isfinite(value) or value < 0:
                raise _err(w, f"amount = {item['amount']!r} must be finite and >= 0")
            return Application(entry, value, start, stop, label=entry.name, where=w)
        element = getattr(entry, "element", "Mg")
        if "amount" not in item:
            raise _err(w, f"needs amount = \"... mg/day\" (elemental {element} per day)")
        value = _units.convert(item["amount"], "mmol/day", where=w, key="amount", element=element)
        return Application(entry, value, start, stop, label=entry.name, where=w)
    # iv
    if "rate" in item:
        if "amount" in item or "duration" in item:
            raise _err(w, "give either rate (continuous infusion) or amount with duration, not both")
        value = _units.convert(item["rate"], "mmol/day", where=w, key="rate")
        return Application(entry, value, start, stop, label=entry.name, where=w)
    if "amount" not in item or "duration" not in item:
        raise _err(w, "an IV treatment needs amount = \"30 mmol\" with duration = \"8 hour\", or rate = \"20 mmol/day\"")
    if "stop" in item:
        raise _err(w, "an IV amount is given over its duration; stop does not apply (use rate with start/stop)")
    amount = _units.convert(item["amount"], "mmol", where=w, key="amount")
    dur = _time(item["duration"], w, "duration")
    if dur <= 0:
        raise _err(w, "duration must be > 0")
    return Application(entry, amount / dur, start, start + dur, one_off=True, label=entry.name, where=w)


def output_times(scenario: Scenario, days: float | None = None) -> np.ndarray:
    """The output grid of a run, single or batched (one definition), to day *days* (default: the scenario's
    duration): every ``sample_every``, every window edge and infusion end inside the run, the end itself, and
    fine samples over (and after) every one-off infusion shorter than the step (see :func:`fine_sampling_notes`),
    so that no dose falls between two samples."""
    end = float(scenario.duration if days is None else days)
    step = scenario.sample_every
    n = int(math.floor(end / step + 1e-9))
    t = np.arange(n + 1) * step
    if end - t[-1] > 1e-9 * max(end, 1.0):
        t = np.append(t, end)
    pts = [t, np.asarray(scenario.window_edges(end), dtype=float)]
    for a in _short_infusions(scenario):
        dur = a.stop - a.start
        pts.append(a.start + dur * np.linspace(0.0, 1.0, 9))
        pts.append(a.stop + np.geomspace(dur / 4, step, 12))
    t = np.unique(np.concatenate(pts))
    return t[(t >= 0.0) & (t <= end)]


def _short_infusions(scenario: Scenario):
    return [a for a in scenario.timed
            if a.one_off and (a.stop - a.start) < scenario.sample_every and a.start < scenario.duration]


def fine_sampling_notes(scenario: Scenario) -> list[str]:
    """What :func:`output_times` added to the regular grid, in words (printed by ``run``)."""
    out = []
    if any(0.0 < t < scenario.duration and abs(t / scenario.sample_every - round(t / scenario.sample_every)) > 1e-9
           for t in scenario.window_edges()):
        out.append("the output grid also has every window edge and infusion end (off the regular "
                   f"{scenario.sample_every:g}-day step)")
    for a in scenario.timed:
        sch = a.entry.schedule
        if sch is not None and not a.one_off and a.start < scenario.duration:
            phases = ", then ".join(f"{ph.name} {24 * ph.duration:.3g} h" for ph in sch.phases)
            out.append(f"{a.label} is taken once every {24 * sch.period:.3g} h from day {a.start:g}: {phases} "
                       f"(segments at each phase; `steady` uses the mean over the cycle)"
                       + ("; samples at the dose times show the start of each pulse: sample_every = \"1 hour\" "
                          "shows the course within the day" if scenario.sample_every > sch.phases[0].duration else ""))
    for a in _short_infusions(scenario):
        out.append(f"{a.label} from day {a.start:g} lasts {24 * (a.stop - a.start):.3g} h, less than the output step "
                   f"({24 * scenario.sample_every:.3g} h): sampled finely over the infusion and the "
                   f"{24 * scenario.sample_every:.3g} h after it")
    return out
