"""Kernel templates: real Python files of numba functions that :mod:`mgflux.engine.codegen` appends to every
generated model module (so they call its ``rhs``, ``jacobian``, ``observe``; compiled and cached with it).

They are not imported as modules; :func:`template_source` reads their text. ``TEMPLATES`` is the order in the
generated module (numba resolves names at compile time, so the order only matters for reading).
"""
from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = ("linalg", "newton", "stability", "steady_batch", "rodas4", "rodas4_step", "timecourse_batch")
_HERE = Path(__file__).resolve().parent


def _text(name: str) -> str:
    return (_HERE / f"{name}.py").read_text()


def template_source() -> str:
    """Every template's text, in order, plus the totals copy of the Rodas4 step loop."""
    parts = []
    for name in TEMPLATES:
        # the imports make the file a real module for editors and linters; the generated module has its own
        text = re.sub(r"(?m)^import (numba as nb|numpy as np)\n", "", _text(name))
        parts.append(f"# ---------------------------------------- template mgflux/engine/kernels/{name}.py\n{text}")
        if name == "rodas4_step":  # the same loop on the states plus cumulative totals (the single run)
            totals = re.sub(r"\b_tc_one\b", "_tc_one_totals", text)
            totals = re.sub(r"\brhs_q\(", "rhs_totals_q(", totals)
            totals = re.sub(r"\brhs_jacobian_q\(", "rhs_jacobian_totals_q(", totals)
            parts.append(f"# ---------------------------------------- template {name}.py, totals copy\n{totals}")
    return "\n\n".join(parts)
