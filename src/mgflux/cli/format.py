"""Text and JSON formatting shared by the command modules."""
from __future__ import annotations

_UNITS_NOTE = "1 mM = 2.43 mg/dL = 2 mEq/L; 1 mmol = 24.3 mg"


def _fmt(v) -> str:
    if isinstance(v, int):
        return str(v)
    if v == 0 or (abs(v) >= 0.01 and abs(v) < 1e5):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return f"{v:.3g}"


def _table(rows: dict, title: str, columns=None) -> str:
    from ..model.readouts import EXTRA_READOUTS, READOUTS

    units = {**READOUTS, **EXTRA_READOUTS}
    lines = [title, "-" * len(title)]
    width = max(len(k) for k in rows)
    if columns:
        lines.append(f"{'':{width}}  " + "  ".join(f"{c:>10}" for c in columns))
    for k, v in rows.items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        lines.append(f"{k:{width}}  " + "  ".join(f"{_fmt(x):>10}" for x in vals) + f"  {units.get(k, '')}")
    return "\n".join(lines)


def _json(obj) -> str:
    """The one JSON text of ``--json``: :func:`mgflux.results.to_json` (the web API returns the same)."""
    from ..results import to_json

    return to_json(obj)
