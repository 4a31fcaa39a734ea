"""Behaviour unchanged: every readout of every shipped scenario equals the table in tests/data to 1e-9 relative.

The table was generated from the code before a refactoring (issue 9's layout move). A deliberate change of
the model regenerates it with ``python tests/data/make_reference.py`` (see its docstring) in the same commit.
"""
import json
import math
from pathlib import Path

import pytest

import mgflux

ROOT = Path(__file__).resolve().parents[1]
TABLE = json.loads((ROOT / "tests" / "data" / "reference_readouts.json").read_text())
RTOL = 1e-9


def _close(name, got, want, where):
    if isinstance(want, str):  # inf / nan recorded as repr
        assert repr(float(got)) == want, f"{where} {name}: {got!r} != {want}"
        return
    assert math.isclose(float(got), want, rel_tol=RTOL, abs_tol=1e-300), \
        f"{where} {name}: {float(got)!r} differs from the reference {want!r} (rel {abs(got - want) / max(abs(want), 1e-300):.2e})"


def test_table_covers_every_shipped_scenario():
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.toml")}
    assert shipped == set(TABLE), "regenerate tests/data/reference_readouts.json (tests/data/make_reference.py)"


@pytest.mark.parametrize("rel", sorted(TABLE))
def test_readouts_unchanged(rel):
    ref = TABLE[rel]
    sc = mgflux.load_scenario(ROOT / rel)
    if "error" in ref["steady"]:
        with pytest.raises(mgflux.SteadyStateError):
            mgflux.steady_state(sc)
    else:
        ss = mgflux.steady_state(sc)
        for k, v in ref["steady"].items():
            _close(k, ss[k], v, f"{rel} steady")
    run = mgflux.simulate(sc)
    for k, v in ref["run_final"].items():
        _close(k, run.final[k], v, f"{rel} run final")
    pts = ref["run_points"]
    assert [float(run.time_day[i]) for i in pts["index"]] == pts["time_day"]
    for k, vs in pts["readouts"].items():
        for i, v in zip(pts["index"], vs):
            _close(k, run[k][i], v, f"{rel} run t={float(run.time_day[i])}")
