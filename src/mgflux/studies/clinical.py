"""The clinical reading of a result: what the sources say about a serum Mg level like this one.

``clinical_reading(result)`` selects statements from ``models/clinical/reading.toml`` (each with its source
and evidence level) by the serum total Mg of the result and, where the model has them, its Ca (and K)
readouts. Nothing here predicts a symptom: the model computes levels; the data file says what is reported at
such levels; the reading's ``caveat`` says so.
"""
from __future__ import annotations

import math
import tomllib
from functools import lru_cache
from pathlib import Path

from ..errors import MgfluxError

MG_DL_PER_MM = 2.4305


def reading_file() -> Path:
    from .._paths import models_dir

    return models_dir() / "clinical" / "reading.toml"


@lru_cache(maxsize=4)
def _load(path: str, stamp: int) -> dict:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MgfluxError(f"clinical reading file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise MgfluxError(f"{path}: not valid TOML: {exc}") from None
    for kind in ("symptom", "disturbance", "association"):
        for i, s in enumerate(raw.get(kind, [])):
            where = f"{path}: [[{kind}]] #{i + 1}"
            for key in ("source", "evidence"):
                if not str(s.get(key, "")).strip():
                    raise MgfluxError(f"{where}: every statement needs a {key}")
            if ("below_mM" in s) == ("above_mM" in s):
                raise MgfluxError(f"{where}: give exactly one of below_mM (hypomagnesaemia) or above_mM")
    return raw


def reading_data(path: str | Path | None = None) -> dict:
    """The parsed reading file (checked: every statement has a source and an evidence level)."""
    p = Path(path) if path else reading_file()
    try:
        stamp = p.stat().st_mtime_ns
    except FileNotFoundError:
        raise MgfluxError(f"clinical reading file {p} does not exist") from None
    return _load(str(p), stamp)


def hypermagnesemia_grade(serum_total_mM: float, data: dict | None = None) -> int:
    """CTCAE v5 hypermagnesemia grade: 1 > ULN (1.05 mM) - 1.23, 3 > 1.23 - 3.30, 4 > 3.30 (no grade 2)."""
    g = (data or reading_data())["grades"]
    out = 0
    for thr, grade in zip(g["hyper_above_mM"], g["hyper_grades"]):
        if serum_total_mM > thr:
            out = grade
    return out


def _hypo_grade(s: float, data: dict) -> int:
    return sum(1 for thr in data["grades"]["hypo_below_mM"] if s < thr)


def _readouts_of(result) -> tuple[dict, dict | None]:
    """(readouts at the reading's time, course summary or None) of a result, a dict or a number."""
    if isinstance(result, (int, float)):
        return {"serum_mg_total_mM": float(result)}, None
    if isinstance(result, dict):
        return dict(result), None
    if hasattr(result, "time_day") and hasattr(result, "final"):  # a time course: read its final state
        s = result["serum_mg_total_mM"]
        i = int(s.argmin())
        return dict(result.final), {"min_serum_mg_total_mM": float(s[i]), "min_day": float(result.time_day[i]),
                                    "max_serum_mg_total_mM": float(s.max()),
                                    "max_day": float(result.time_day[int(s.argmax())])}
    if hasattr(result, "readouts"):
        return dict(result.readouts), None
    raise MgfluxError(f"clinical_reading needs a steady or run result, a dict of readouts or a serum Mg in mM, "
                      f"not {type(result).__name__}")


def _applies(stmt: dict, s: float) -> bool:
    if "below_mM" in stmt:
        return stmt.get("down_to_mM", -math.inf) <= s < stmt["below_mM"]
    return s > stmt["above_mM"]


def clinical_reading(result, *, path: str | Path | None = None) -> dict:
    """The clinical reading of *result* (steady or run result; a run is read at its final time, with the
    course's lowest and highest serum level noted): CTCAE grades, the symptoms the sources report at this
    level (none for a normal level), associated disturbances (from the model where it has the readout),
    evidence-graded associations, and the caveat. A plain dict (the ``clinical_reading`` key of ``--json``)."""
    data = reading_data(path)
    r, course = _readouts_of(result)
    s = r.get("serum_mg_total_mM")
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        raise MgfluxError("clinical_reading: the result has no finite serum_mg_total_mM")
    s = float(s)
    g = data["grades"]
    hypo = _hypo_grade(s, data)
    hyper = hypermagnesemia_grade(s, data)
    if hypo:
        label = f"hypomagnesaemia, CTCAE {g['hypo_labels'][hypo]}"
    elif hyper:
        label = f"hypermagnesaemia, CTCAE {g['hyper_labels'][hyper]}"
    else:
        label = "serum total Mg within the CTCAE reference limits (0.70-1.05 mM)"
    symptoms = [{"symptom": x["symptom"], "level": x.get("level", ""), "source": x["source"],
                 "evidence": x["evidence"]} for x in data.get("symptom", []) if _applies(x, s)]
    disturbances = []
    for d in data.get("disturbance", []):
        if not _applies(d, s):
            continue
        item = {"disturbance": d["disturbance"], "source": d["source"], "evidence": d["evidence"]}
        rd = d.get("readout")
        if rd and isinstance(r.get(rd), (int, float)) and math.isfinite(r[rd]):
            item["model"] = {rd: float(r[rd])}
            gr = d.get("grade_readout")
            if gr and gr in r:
                item["model"][gr] = int(r[gr])
            item["shown_by_model"] = bool(r[rd] < d["low_below"]) if "low_below" in d else None
        else:
            item["model"] = None
            item["shown_by_model"] = None
            item["note"] = f"expected at this level; the model has no {rd} readout" if rd else "expected at this level"
        disturbances.append(item)
    associations = [{"association": a["association"], "evidence": a["evidence"], "source": a["source"]}
                    for a in data.get("association", []) if _applies(a, s)]
    rd = data["reading"]
    notes = []
    if not hypo and not hyper:
        notes.append({"note": rd["normal_note"], "source": rd["normal_note_source"]})
    if not hyper:
        notes.append({"note": rd["stores_note"], "source": rd["stores_note_source"]})
    out = {
        "serum_mg_total_mM": s,
        "serum_mg_total_mg_dL": s * MG_DL_PER_MM,
        "hypomagnesemia_grade": hypo,
        "hypermagnesemia_grade": hyper,
        "grade": label,
        "grade_source": g["source"],
        "expected_symptoms": symptoms,
        "associated_disturbances": disturbances,
        "associations": associations,
        "notes": notes,
        "caveat": rd["caveat"],
        "caveat_source": rd["caveat_source"],
    }
    if course is not None:
        out["course"] = {**course, "worst_hypomagnesemia_grade": _hypo_grade(course["min_serum_mg_total_mM"], data),
                         "worst_hypermagnesemia_grade": hypermagnesemia_grade(course["max_serum_mg_total_mM"], data)}
    return out


def reading_text(reading: dict, width: int = 110) -> str:
    """A short text block of a reading for the command line."""
    import textwrap

    lines = ["Clinical reading (sources in --json; not a diagnosis)", "-" * 52]
    s = reading["serum_mg_total_mM"]
    lines.append(f"serum total Mg {s:.3f} mM ({reading['serum_mg_total_mg_dL']:.2f} mg/dL, {2 * s:.2f} mEq/L): "
                 f"{reading['grade']}")
    if "course" in reading:
        c = reading["course"]
        lines.append(f"over the course: lowest {c['min_serum_mg_total_mM']:.3f} mM (day {c['min_day']:g}, grade "
                     f"{c['worst_hypomagnesemia_grade']}), highest {c['max_serum_mg_total_mM']:.3f} mM")
    if reading["expected_symptoms"]:
        lines.append("reported at this level: " + "; ".join(x["symptom"] for x in reading["expected_symptoms"]))
    for d in reading["associated_disturbances"]:
        if d["model"]:
            vals = ", ".join(f"{k} {v:.3g}" for k, v in d["model"].items())
            lines.append(f"expected: {d['disturbance']} -- model: {vals}")
        else:
            lines.append(f"expected: {d['disturbance']} (not modelled)")
    if reading["associations"]:
        lines.append("associations (not model outputs): " + "; ".join(
            f"{a['association'].split(':')[0]} [{a['evidence']}]" for a in reading["associations"]))
    for n in reading["notes"]:
        lines.append(n["note"])
    out = []
    for ln in lines:
        out.extend(textwrap.wrap(ln, width, subsequent_indent="  ") or [""])
    out.extend(textwrap.wrap("caveat: " + reading["caveat"], width, subsequent_indent="  "))
    return "\n".join(out)
