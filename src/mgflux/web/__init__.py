"""The local web page (``mgflux serve``) and its JSON API.

The web package's public face (the modules behind it, ``app``, ``server`` and ``_backend``, may change)::

    from mgflux import web
    app = web.create_app()          # the Starlette (ASGI) application: the page and POST /api/*
    web.serve(port=8050)            # what `mgflux serve` does: uvicorn on 127.0.0.1, the browser opened
    web.warm()                      # load (or compile) the model's kernels before the first request

and the limits every request is held to: ``MAX_BODY_BYTES`` (request body), ``MAX_ENTRIES`` (perturbations and
treatments of one scenario); ``WHERE`` is what error messages call a scenario sent by the page (the CLI names the
file); ``STATIC`` is the folder of the page's files. The names load on first use, so ``import mgflux.web`` needs
no web extra (Starlette, uvicorn).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what editors and type checkers see; at run time __getattr__ imports on first use
    from ._backend import MAX_ENTRIES, WHERE, warm
    from .app import MAX_BODY_BYTES, STATIC, create_app
    from .server import serve

__all__ = ["create_app", "serve", "warm", "MAX_BODY_BYTES", "MAX_ENTRIES", "WHERE", "STATIC"]

_WHERE_DEFINED = {"create_app": "app", "MAX_BODY_BYTES": "app", "STATIC": "app", "serve": "server",
                  "warm": "_backend", "MAX_ENTRIES": "_backend", "WHERE": "_backend"}


def __getattr__(name: str):
    module = _WHERE_DEFINED.get(name)
    if module is None:
        raise AttributeError(f"module 'mgflux.web' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
