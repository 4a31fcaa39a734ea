import textwrap
from pathlib import Path

import pytest

import mgflux

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
