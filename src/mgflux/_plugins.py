"""Optional modules of the package: the CLI's command modules and codegen's kernel extensions."""
from __future__ import annotations

import importlib


def optional_modules(names):
    """Import ``mgflux.<name>`` for each name, skipping those that do not exist (an error inside one is raised)."""
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(f"mgflux.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"mgflux.{name}":
                raise
    return mods
