"""Where mgflux keeps and finds its files: the cache folder, the shipped models and scenarios.

A leaf module (imports only :mod:`mgflux.errors`), so that model loading, units and code generation can all
ask for the cache folder without importing each other.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelError

_HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """The cache folder: ``$MGFLUX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mgflux``, else ``~/.cache/mgflux``."""
    d = os.environ.get("MGFLUX_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mgflux"


def models_dir() -> Path:
    """Where the shipped models live: MGFLUX_MODELS_DIR, else the installed package data (``mgflux/models``,
    mapped from the repository's ``models/`` by pyproject.toml), else the source tree (editable installs)."""
    env = os.environ.get("MGFLUX_MODELS_DIR")
    if env:
        return Path(env)
    here = _HERE
    for d in (here / "models", here.parents[1] / "models"):
        if (d / "adult.toml").exists():
            return d
    raise ModelError(f"cannot find the model folder (looked in {here / 'models'} and {here.parents[1] / 'models'}); "
                     "set MGFLUX_MODELS_DIR")


def scenarios_dir() -> Path | None:
    """The shipped scenarios: installed beside the package (``mgflux/scenarios``) or the source tree's."""
    here = _HERE
    for d in (here / "scenarios", here.parents[1] / "scenarios"):
        if (d / "healthy.toml").exists():
            return d
    return None
