import os
import textwrap
from pathlib import Path

import pytest

import mgflux

# A cold `mgflux run` in a test must not start a detached background compile that outlives pytest and competes
# with the suite for the CPU; tests/test_cache.py tests that path on its own (subprocesses inherit this too).
os.environ.setdefault("MGFLUX_NO_BACKGROUND_COMPILE", "1")

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def scenario(text: str = "", *, mg_intake: str = "300 mg/day", duration: str = "60 day", extra_scenario: str = ""):
    """A scenario from TOML text appended to a healthy-adult header."""
    head = f'[scenario]\nname = "test"\nduration = "{duration}"\n{extra_scenario}\n[diet]\nmg_intake = "{mg_intake}"\n'
    import tomllib

    return mgflux.scenario_from_dict(tomllib.loads(head + textwrap.dedent(text)), where="<test>")


@pytest.fixture(scope="session")
def healthy():
    return mgflux.steady_state(SCENARIOS / "healthy.toml")
