"""The one place where the web page calls the rest of mgflux.

Every answer of the JSON API is built here from the same functions and the same JSON builder as the command
line (``mgflux steady --json`` and the page's ``POST /api/steady`` print the same object), so the two cannot
drift apart. When the package layout or a public name changes, only this module changes.

A request carries the scenario as JSON with the structure of the TOML file (``{"scenario": {...}, "diet":
{...}, "perturbation": [...], "treatment": [...]}``); it is checked by the same code as a file, so a bad
scenario gives the CLI's message (did-you-mean included).
"""
from __future__ import annotations

import json
import math
import tomllib

from .. import compare, find_dose, get_catalogue, get_model, scenario_from_dict, simulate, steady_state
from ..cli.single import run_json as _run_payload
from ..cli.single import steady_json as _steady_payload
from ..errors import MgfluxError, ScenarioError
from ..model import units as _units
from ..model.catalogue import MECHANISMS
from ..model.readouts import EXTRA_READOUTS, READOUTS
from ..results import to_json as _json

#: Where a scenario sent by the page is said to come from in error messages (the CLI names the file).
WHERE = "scenario"

#: Limits that keep one request from exhausting the machine (the command line has none).
MAX_ENTRIES = 64  # perturbations + treatments
MAX_DURATION_DAY = 20 * 365.25
MAX_SAMPLES = 10_000


class LimitError(ScenarioError):
    """A request within the scenario contract but beyond what the web page computes."""


class NotAvailable(MgfluxError):
    """A question this version of mgflux cannot answer yet."""


def _check_limits(raw: dict, sc) -> None:
    n = sum(len(raw.get(k, []) or []) for k in ("perturbation", "treatment"))
    if n > MAX_ENTRIES:
        raise LimitError(f"{WHERE}: {n} perturbations and treatments; the web page takes at most {MAX_ENTRIES}")
    if sc.duration > MAX_DURATION_DAY:
        raise LimitError(f"{WHERE}: [scenario] duration = {sc.duration:g} day is longer than the web page's limit "
                         f"of {MAX_DURATION_DAY:g} day (20 years); use the command line (mgflux run) for longer runs")
    samples = sc.duration / sc.sample_every
    if samples > MAX_SAMPLES:
        raise LimitError(f"{WHERE}: [scenario] duration / sample_every gives {samples:.0f} samples; the web page "
                         f"draws at most {MAX_SAMPLES}; choose a coarser sample_every (for example "
                         f"\"{math.ceil(sc.duration / MAX_SAMPLES):g} day\") or use the command line (mgflux run)")


def scenario(raw) -> object:
    """The checked scenario of a request body (the same checks as a file, plus the web page's limits)."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{WHERE}: the request body must be a JSON object with the structure of a scenario "
                            "file ({\"scenario\": {...}, \"diet\": {...}, \"perturbation\": [...], ...})")
    sc = scenario_from_dict(raw, where=WHERE)
    _check_limits(raw, sc)
    return sc


def supports(section: str) -> bool:
    """Whether this mgflux accepts a scenario section (``[patient]`` arrives with the second edition)."""
    try:
        scenario_from_dict({section: {}}, where=WHERE)
    except MgfluxError:
        return False
    return True


def warm() -> None:
    """Load the model's numba kernels and the unit registry now (the kernels from the cache, or compile them),
    so that the first slider move is as fast as the rest: before numba is loaded, steady states run on the
    slower pure-Python kernels."""
    from ..options import SteadyOptions

    steady_state(scenario({}), options=SteadyOptions(backend="numba"))
    # and the unit registry: mgflux imports pint only for a quantity it has not converted before (a new slider
    # value), which would cost the first such request ~0.5 s
    _units.registry()


# --------------------------------------------------------------------------------------- the CLI's JSON


def steady_json(raw) -> str:
    """``mgflux steady --json`` of the scenario."""
    return _json(_steady_payload(steady_state(scenario(raw))))


def run_result(raw):
    return simulate(scenario(raw))


def run_json(raw) -> str:
    """``mgflux run --json`` of the scenario."""
    return _json(_run_payload(run_result(raw)))


def run_csv(raw) -> str:
    """``timecourse.csv`` of ``mgflux run --out`` for the scenario."""
    import tempfile
    from pathlib import Path

    res = run_result(raw)
    with tempfile.TemporaryDirectory() as d:
        return res.to_csv(Path(d) / "timecourse.csv").read_text()


def compare_json(raw) -> str:
    """``mgflux compare --json``: the scenario's steady state against the healthy adult on the same diet."""
    return _json(compare(scenario(raw)).to_dict())


def dose_json(raw, treatment: str = "magnesium_citrate", target: str = "0.7 mM", maximum: str = "5000 mg/day") -> str:
    """``mgflux dose-finder --json``, with the CLI's option names and defaults."""
    t = _units.convert(target, "mM", where="dose-finder", key="--target")
    limit = _units.convert(maximum, "mmol/day", where="dose-finder", key="--max")
    return _json(find_dose(scenario(raw), treatment, t, limit).to_dict())


def loading_test_available() -> bool:
    import mgflux

    return hasattr(mgflux, "loading_test")  # the clinic's mgflux.loading_test (second edition)


def loading_json(raw, at: str | None = None, dose: str = "30 mmol", duration: str = "8 hour",
                 protocol: str | None = None) -> str:
    """``mgflux loading-test --json`` (DESIGN.md): the IV Mg tolerance test on the scenario, with the CLI's
    options and defaults (a protocol overrides dose and duration)."""
    import mgflux

    if not loading_test_available():
        raise NotAvailable("the loading test needs an mgflux with mgflux.loading_test (the second edition)")
    res = mgflux.loading_test(scenario(raw), at=at or None, dose=dose, duration=duration, protocol=protocol or None)
    return _json(res.to_dict())


# ------------------------------------------------------------------------------------------- catalogue


def catalogue(model: str = "adult") -> dict:
    """Every entry with what ``mgflux catalogue --json`` gives, plus what the page's pickers need to offer the
    allowed inputs (genotypes and activity range, dose range and standard dose, route and amount unit)."""
    cat = get_catalogue(get_model(model))
    entries = []
    for name in cat.names():
        e = cat.entries[name]
        d = {"name": e.name, "kind": e.kind, "mechanism": e.mechanism, "aliases": list(e.aliases),
             "description": e.description, "phenotype": e.phenotype, "incidence": e.incidence, "source": e.source}
        if e.kind == "gene":
            d.update(activity_range=list(e.activity_range), homozygous_activity=e.homozygous_activity,
                     heterozygous_activity=e.heterozygous_activity, patient_genotype=e.patient_genotype,
                     inheritance=e.inheritance)
        elif e.kind in ("drug", "condition"):
            d.update(dose_range=[e.dose_range[0], e.dose_range[1] if math.isfinite(e.dose_range[1]) else None],
                     standard_dose=e.standard_dose, target_dose=e.target_dose)
        else:
            d.update(route=e.route, amount_unit=e.amount_unit)
        entries.append(d)
    units = {**READOUTS, **EXTRA_READOUTS}
    return {"mechanisms": MECHANISMS, "entries": entries, "readouts": units,
            "features": {"patient": supports("patient"), "loading_test": loading_test_available(),
                         "loading_test_protocols": _protocols()},
            "limits": {"max_duration_day": MAX_DURATION_DAY, "max_samples": MAX_SAMPLES, "max_entries": MAX_ENTRIES}}


def _protocols() -> dict:
    """The loading test's standard protocols (name: source), when this mgflux has the loading test."""
    try:
        from ..studies.loading_test import PROTOCOLS
    except ImportError:
        return {}
    return {k: v.get("source", "") for k, v in PROTOCOLS.items()}


# ------------------------------------------------------------------------------------------ TOML files

_ORDER = ("scenario", "patient", "diet", "perturbation", "treatment")


def _toml_value(v, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ScenarioError(f"{where} = {v!r} must be a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    raise ScenarioError(f"{where} = {v!r}: a scenario value is a string, a number or true/false")


def to_toml(raw) -> str:
    """The scenario as a TOML file that ``mgflux steady/run FILE`` reads back to the same scenario (it is
    checked first: the page never offers a file the command line would refuse)."""
    scenario(raw)
    lines = ["# written by mgflux serve; run it with: mgflux run THIS_FILE.toml", ""]
    for section in sorted(raw, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k)):
        body = raw[section]
        blocks = body if isinstance(body, list) else [body]
        header = f"[[{section}]]" if isinstance(body, list) else f"[{section}]"
        for block in blocks:
            lines.append(header)
            for k, v in block.items():
                lines.append(f"{k} = {_toml_value(v, f'[{section}] {k}')}")
            lines.append("")
    return "\n".join(lines)


def from_toml(text: str, filename: str = "uploaded file") -> dict:
    """A scenario file's text as the JSON structure the page edits (checked like ``mgflux run`` checks it)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{filename}: not valid TOML: {exc}") from None
    scenario_from_dict(raw, where=filename)
    return raw
