"""Regenerate ``reference_readouts.json``: every readout of every shipped scenario, from the current code.

``tests/test_reference.py`` compares the code against this table to 1e-9 relative, so a refactoring that
claims "behaviour unchanged" is checked. The table was generated before the layout move of issue 9.

A change that alters the model on purpose (models/*.toml, a new state, new physics) changes these numbers:
regenerate the table deliberately in the same commit and say so in its message::

    MGFLUX_CACHE_DIR=/tmp/mgcache python tests/data/make_reference.py

Recorded per scenario: the steady-state readouts; for `run`, the final values and the readouts at a few
time points of the output grid (first, a quarter, half, last sample). Readouts added later are not
compared until the table is regenerated; readouts removed are reported as missing.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "reference_readouts.json"


def scenario_files() -> list[Path]:
    return sorted((ROOT / "scenarios").rglob("*.toml"))


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else repr(v)


def readouts_of(path: Path) -> dict:
    import mgflux

    sc = mgflux.load_scenario(path)
    try:
        steady = {k: _num(v) for k, v in mgflux.steady_state(sc).readouts.items()}
    except mgflux.SteadyStateError as exc:  # e.g. starvation: no steady state by design; record the error class
        steady = {"error": type(exc).__name__}
    run = mgflux.simulate(sc)
    n = len(run.time_day)
    idx = sorted({0, n // 4, n // 2, n - 1})
    return {
        "steady": steady,
        "run_final": {k: _num(v) for k, v in run.final.items()},
        "run_points": {
            "index": idx,
            "time_day": [float(run.time_day[i]) for i in idx],
            "readouts": {k: [_num(v[i]) for i in idx] for k, v in run.timecourse.items()},
        },
    }


def build() -> dict:
    return {str(p.relative_to(ROOT)): readouts_of(p) for p in scenario_files()}


if __name__ == "__main__":
    table = build()
    OUT.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(table)} scenarios", file=sys.stderr)
