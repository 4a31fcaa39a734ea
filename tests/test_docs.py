"""The calibration tables in models/README.md and models/CATALOGUE.md are what the model computes now."""
from pathlib import Path

import pytest

import mgflux

TABLES = {"healthy": "README.md", "catalogue": "CATALOGUE.md"}


@pytest.mark.parametrize("name", TABLES)
def test_generated_table_is_current(name):
    committed = mgflux.committed_calibration_tables()
    assert name in committed, f"models/{TABLES[name]} lacks the generated block {name!r}"
    assert committed[name] == mgflux.calibration_tables(name)[name], \
        f"models/{TABLES[name]} is stale: run `mgflux calibration --write`"


def test_every_documented_target_is_met():
    # the second edition's known misses (tests/test_catalogue.py KNOWN_MISSES; models/README.md "Still missed") are
    # the only rows allowed to say so, and each must still be listed there
    from test_catalogue import KNOWN_MISSES

    for name, table in mgflux.calibration_tables().items():
        missed = {line.split("|")[1].strip() for line in table.splitlines() if "**no**" in line}
        assert missed <= KNOWN_MISSES, f"a target in the {name} table is missed: {sorted(missed - KNOWN_MISSES)}"


def test_package_data_ships_every_model_and_scenario_file():
    """Every data file under models/ and scenarios/ matches a package-data pattern of pyproject.toml, so an
    installed mgflux (pip install ., not -e) finds the modules, clinical tables and scenarios a model includes."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, folder in (("mgflux.models", "models"), ("mgflux.scenarios", "scenarios")):
        for f in (root / folder).rglob("*.toml"):
            rel = f.relative_to(root / folder).as_posix()
            assert any(fnmatch.fnmatch(rel, pat) and rel.count("/") == pat.count("/") for pat in data[package]), \
                f"{folder}/{rel} is not shipped: add a pattern to [tool.setuptools.package-data] {package}"
