"""The Starlette application behind ``mgflux serve``: the static page and the JSON API of DESIGN.md.

API (every POST body is the scenario as JSON, the structure of the TOML file; options are the CLI's flags as
query parameters):

- ``GET  /api/catalogue``: every entry (name, kind, mechanism, aliases, source, allowed inputs).
- ``POST /api/steady``: the JSON of ``mgflux steady --json``.
- ``POST /api/run``: the JSON of ``mgflux run --json``; ``POST /api/run.csv``: its ``timecourse.csv``.
- ``POST /api/compare``: ``mgflux compare --json`` (against the healthy adult on the same diet).
- ``POST /api/dose-finder?treatment=&target=&max=``: ``mgflux dose-finder --json``.
- ``POST /api/loading-test?at=&dose=&duration=&protocol=``: ``mgflux loading-test --json``.
- ``POST /api/scenario.toml``: the scenario as a TOML file; ``POST /api/parse`` (body: TOML text): the
  scenario as JSON, checked.

A bad scenario is HTTP 400 ``{"error": message}`` with the CLI's message; a body over ``MAX_BODY_BYTES`` is 413;
one computation runs at a time (the engine is fast; the lock keeps parallel requests from piling up work).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import MgfluxError, unknown_name
from . import _backend as backend

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 256 * 1024
_LOCK = threading.Lock()
_log = logging.getLogger("mgflux.web")


class BodyTooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _same_origin(request: Request) -> bool:
    """A browser sends ``Origin`` with a cross-site POST: only the page itself (same host and port) may compute.
    Scripts and curl send no Origin and are served."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _compute(fn, *args):
    with _LOCK:
        t0 = time.perf_counter()
        out = fn(*args)
        return out, time.perf_counter() - t0


def _endpoint(fn, *, body: str = "json", media: str = "application/json", options=()):
    """An API endpoint: read and parse the body, call ``fn(body, **options)`` in a worker thread under the
    computation lock, map mgflux errors to 400 with their message."""

    async def handler(request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "requests from other web sites are refused (the page's API answers its own page)")
        try:
            raw = await _body(request)
        except BodyTooLarge:
            return _error(413, f"request body larger than {MAX_BODY_BYTES // 1024} KiB; the web page takes "
                               "scenarios up to that size (use the command line for larger ones)")
        if body == "json":
            try:
                data = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return _error(400, f"request body is not valid JSON: {exc}")
        else:
            try:
                data = raw.decode("utf-8")
            except UnicodeDecodeError:
                return _error(400, "the scenario file is not UTF-8 text")
        allowed = set(options) | ({"filename"} if body == "text" else set())
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            return _error(400, unknown_name("option", unknown[0], sorted(allowed) or ["(none)"], request.url.path))
        kwargs = {("maximum" if k == "max" else k): v for k, v in request.query_params.items() if v}
        try:
            out, seconds = await run_in_threadpool(lambda: _compute(lambda: fn(data, **kwargs)))
        except backend.NotAvailable as exc:
            return _error(501, str(exc))
        except MgfluxError as exc:
            return _error(400, str(exc))
        except Exception:  # a bug, not bad input: say so, keep the server up
            _log.exception("mgflux serve: internal error in %s", request.url.path)
            return _error(500, "internal error in mgflux (see the server's terminal); please report it")
        headers = {"X-Compute-Seconds": f"{seconds:.6f}"}
        if isinstance(out, (dict, list)):
            return JSONResponse(out, headers=headers)
        if media == "text/csv":
            headers["Content-Disposition"] = 'attachment; filename="timecourse.csv"'
        if media == "application/toml":
            headers["Content-Disposition"] = 'attachment; filename="scenario.toml"'
        return Response(out, media_type=media, headers=headers)

    return handler


async def catalogue(request: Request) -> Response:
    out, _ = await run_in_threadpool(lambda: _compute(backend.catalogue))
    return JSONResponse(out)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> Response:
    from .. import __version__

    return PlainTextResponse(f"mgflux {__version__}")


def create_app() -> Starlette:
    routes = [
        Route("/", index),
        Route("/health", health),
        Route("/api/catalogue", catalogue),
        Route("/api/steady", _endpoint(backend.steady_json), methods=["POST"]),
        Route("/api/run", _endpoint(backend.run_json), methods=["POST"]),
        Route("/api/run.csv", _endpoint(backend.run_csv, media="text/csv"), methods=["POST"]),
        Route("/api/compare", _endpoint(backend.compare_json), methods=["POST"]),
        Route("/api/dose-finder", _endpoint(backend.dose_json, options=("treatment", "target", "max")),
              methods=["POST"]),
        Route("/api/loading-test", _endpoint(backend.loading_json, options=("at", "dose", "duration", "protocol")),
              methods=["POST"]),
        Route("/api/scenario.toml", _endpoint(backend.to_toml, media="application/toml"), methods=["POST"]),
        Route("/api/parse", _endpoint(backend.from_toml, body="text"), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)
