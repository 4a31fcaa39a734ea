"""Calibration tables computed from the model: target, source, model value, met or not.

``mgflux calibration`` prints them; ``mgflux calibration --write`` refreshes the generated sections of
``models/README.md`` (healthy adult) and ``models/CATALOGUE.md`` (every entry), between the markers
``<!-- generated: NAME -->`` and ``<!-- end generated -->``. A test checks that the committed tables equal what
the model computes, so the documents cannot drift from the numbers.
"""
from __future__ import annotations

import re
from pathlib import Path

from .._paths import models_dir
from ..errors import MgfluxError
from ..model.catalogue import get_catalogue
from ..model.model import Model, get_model
from ..model.scenario import Application, Scenario
from ..run import steady_state

_SHOWN = ("serum_mg_total_mM", "serum_mg_ionized_mM", "femg_percent")


PTH_UPPER_PM = 6.9  # 65 pg/mL, upper reference limit of intact PTH (physiology.md)


def ca_direction(ss, ref, key: str) -> str:
    """The model's direction of a Ca readout against the healthy adult, in ca_phenotype words."""
    if key == "urine_ca":
        r = ss["urine_ca_mmol_per_day"] / ref["urine_ca_mmol_per_day"]
        return "high" if r > 1.2 else "low" if r < 0.8 else "normal"
    if key == "serum_ca":
        d = ss["serum_ca_total_mM"] - ref["serum_ca_total_mM"]
        return "high" if d > 0.05 else "low" if d < -0.05 else "normal"
    r = ss["pth_pM"] / ref["pth_pM"]
    return "high" if r > 1.2 else "low" if r < 0.9 else "normal"


def ca_phenotype_met(ss, ref, want: dict) -> dict:
    """{key: (literature, model, met)} for each direction an entry's ca_phenotype gives."""
    out = {}
    for k, v in want.items():
        if k == "source":
            continue
        got = ca_direction(ss, ref, k)
        if v == "not_raised":  # "inappropriately normal": not above the reference range (65 pg/mL = 6.9 pM)
            got = "not_raised" if ss["pth_pM"] <= PTH_UPPER_PM else "high"
        ok = got == v
        out[k] = (v, got, ok)
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def _reference(model: Model) -> Scenario:
    return Scenario(name="healthy", model=model, duration=1.0, sample_every=1.0, mg_intake=None)


def healthy_table(model: Model | None = None) -> str:
    model = model or get_model()
    ss = steady_state(_reference(model))
    rows = ["| readout | target | source | model | met |", "|---|---|---|---|---|"]
    for name, t in model.targets.items():
        lo, hi = t["range"]
        v = ss[name]
        rows.append(f"| `{name}` | {t['target']} (tested {lo:g}-{hi:g}) | {t['source']} | {_fmt(v)} | "
                    f"{'yes' if lo - 1e-9 * max(abs(hi), 1.0) <= v <= hi + 1e-9 * max(abs(hi), 1.0) else '**no**'} |")
    return "\n".join(rows)


def _input_text(e) -> str:
    if e.kind == "gene":
        return f"{e.patient_genotype} (activity {e.target_input():g})"
    return f"dose {e.target_input():g}"


def catalogue_table(model: Model | None = None) -> str:
    model = model or get_model()
    cat = get_catalogue(model)
    ref = steady_state(_reference(model))
    rows = ["| entry | kind | mechanism | input | target | model (serum total, ionised mM; FEMg %) | met | "
            "Ca phenotype: literature / model (serum Ca mM, PTH pM, urine Ca x healthy) |",
            "|---|---|---|---|---|---|---|---|"]
    for kind in ("gene", "drug", "condition", "treatment"):
        for e in sorted(cat.by_kind(kind), key=lambda x: x.name.lower()):
            if e.kind == "treatment":
                app = Application(e, 400 / 24.305 if not e.amount_unit else 20.0, label=e.name)
                inp = "400 mg/day" if not e.amount_unit else f"20 {e.amount_unit}"
                if e.element == "Ca":
                    app, inp = Application(e, 1000 / 40.078, label=e.name), "1000 mg/day Ca"
                elif e.amount_unit == "ug/day":
                    app, inp = Application(e, 1.0, label=e.name), "1 ug/day"
                if e.route == "iv":
                    app = Application(e, 20.0, label=e.name)
                    inp = "20 mmol/day"
            else:
                app = Application(e, e.target_input(), label=e.name)
                inp = _input_text(e)
            ss = steady_state(Scenario(name=e.name, model=model, duration=1.0, sample_every=1.0, mg_intake=None,
                                       applications=(app,)))
            value = ", ".join(_fmt(ss[k]) for k in _SHOWN)
            if e.targets:
                target = "; ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in e.targets.items())
                met = all(lo <= ss[k] <= hi for k, (lo, hi) in e.targets.items())
                met_s = "yes" if met else "**no**"
            else:
                target, met_s = "direction only", "-"
            ca = f"{_fmt(ss['serum_ca_total_mM'])}, {_fmt(ss['pth_pM'])}, {ss['urine_ca_mmol_per_day'] / ref['urine_ca_mmol_per_day']:.2f}x"
            if e.ca_phenotype:
                parts = [f"{k} {v}/{g}{'' if ok else ' **miss**'}" for k, (v, g, ok) in
                         ca_phenotype_met(ss, ref, e.ca_phenotype).items()]
                ca = "; ".join(parts) + f" ({ca})"
            rows.append(f"| {e.name} | {e.kind} | {e.mechanism} | {inp} | {target} | {value} | {met_s} | {ca} |")
    return "\n".join(rows)


TABLES = {"healthy": ("README.md", healthy_table), "catalogue": ("CATALOGUE.md", catalogue_table)}
_BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(\n<!-- end generated -->)", re.S)


def render(text: str, tables: dict[str, str]) -> str:
    """*text* with each generated block replaced by its table."""
    return _BLOCK.sub(lambda m: m.group(1) + tables.get(m.group(2), m.group(3)) + m.group(4), text)


def generated_blocks(text: str) -> dict[str, str]:
    return {m.group(2): m.group(3) for m in _BLOCK.finditer(text)}


def calibration_tables(what: str = "all", model: Model | None = None) -> dict[str, str]:
    """``mgflux calibration [healthy|catalogue|all]``: ``{name: Markdown table}`` computed from the model now
    (target, source, model value, met). *what* is one of ``healthy``, ``catalogue``, ``all``."""
    if what not in (*TABLES, "all"):
        raise MgfluxError(f"calibration table {what!r}: choose one of {', '.join((*TABLES, 'all'))}")
    return {name: fn(model) for name, (_, fn) in TABLES.items() if what in (name, "all")}


def committed_calibration_tables(directory: str | Path | None = None) -> dict[str, str]:
    """``{name: table}`` as written in the documents (``models/README.md``, ``models/CATALOGUE.md`` in
    *directory*, default the model folder), between the generated-block markers; a missing block is absent."""
    d = Path(directory) if directory else models_dir()
    out = {}
    for name, (fname, _) in TABLES.items():
        block = generated_blocks((d / fname).read_text()).get(name)
        if block is not None:
            out[name] = block
    return out


def write_calibration_tables(directory: str | Path | None = None) -> list[Path]:
    """``mgflux calibration --write``: refresh the generated tables in *directory* (default the model folder);
    the documents that changed."""
    d = Path(directory) if directory else models_dir()
    written = []
    for name, (fname, fn) in TABLES.items():
        path = d / fname
        text = path.read_text()
        new = render(text, {name: fn()})
        if new != text:
            path.write_text(new)
            written.append(path)
    return written
