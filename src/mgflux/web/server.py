"""``mgflux serve``: run the page's server (uvicorn) on this machine and open the browser."""
from __future__ import annotations

import sys
import threading
import webbrowser

from ..errors import MgfluxError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _missing(exc: ModuleNotFoundError) -> MgfluxError:
    return MgfluxError(f"mgflux serve needs the web extra ({exc.name} is not installed): "
                       "pip install \"mgflux[web]\"")


def serve(host: str = "127.0.0.1", port: int = 8050, open_browser: bool = True, warm: bool = True) -> None:
    """Serve the page on http://host:port/ until interrupted. Binds to this machine only unless *host* says
    otherwise (and then warns: the page has no authentication)."""
    try:
        import uvicorn

        from .app import create_app
    except ModuleNotFoundError as exc:
        raise _missing(exc) from None
    if host not in LOCAL_HOSTS:
        print(f"mgflux serve: warning: binding to {host}, not 127.0.0.1: anyone who can reach this machine on "
              f"port {port} can use the page (it has no authentication). Use --host 127.0.0.1 to keep it local.",
              file=sys.stderr)
    if warm:  # compile (or load from cache) the model's kernels before the first request
        print("mgflux serve: loading the model ...", file=sys.stderr, flush=True)
        from . import _backend

        _backend.warm()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    print(f"mgflux serve: the page is at {url} (Ctrl+C stops the server)", file=sys.stderr, flush=True)
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
