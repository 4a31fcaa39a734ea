"""Text and JSON formatting shared by the command modules."""
from __future__ import annotations

import json
import math


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
    import numpy as np

    def clean(x):
        if isinstance(x, np.generic):  # numpy scalars (solver counters, readouts)
            x = x.item()
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj))
