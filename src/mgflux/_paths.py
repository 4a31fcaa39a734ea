"""Where mgflux keeps and finds its files: the cache folder, the shipped models and scenarios.

A leaf module (imports only :mod:`mgflux.errors`), so that model loading, units and code generation can all
ask for the cache folder without importing each other.
"""
from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path

from .errors import MgfluxWarning, ModelError

_HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """The cache folder: ``$MGFLUX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mgflux``, else ``~/.cache/mgflux``."""
    d = os.environ.get("MGFLUX_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mgflux"


def _can_write(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            pass
        return True
    except OSError:
        return False


@functools.cache
def _usable_cache_dir(wanted: str) -> Path:
    d = Path(wanted)
    if _can_write(d):
        return d
    fallback = Path(tempfile.gettempdir()) / f"mgflux-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    if not _can_write(fallback):
        fallback = Path(tempfile.mkdtemp(prefix="mgflux-cache-"))
    warnings.warn(f"cannot write the cache folder {d} (read-only, no permission, or HOME not writable); keeping unit "
                  f"and model caches in {fallback} instead (set MGFLUX_CACHE_DIR to a writable folder)", MgfluxWarning,
                  stacklevel=3)
    return fallback


def writable_cache_dir() -> Path:
    """:func:`cache_dir` if it can be written, else a temporary folder (with a warning, once per folder)."""
    return _usable_cache_dir(str(cache_dir()))


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
