"""`mgflux serve [--host] [--port] [--no-browser]`: the local web page (mgflux.web)."""
from __future__ import annotations


def cmd_serve(args) -> int:
    from ..web.server import serve

    serve(host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0


def register(sub) -> None:
    from .checks import port

    s = sub.add_parser("serve", help="the model on a local web page (needs: pip install \"mgflux[web]\")")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=port, default=8050, help="port (default 8050)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.set_defaults(func=cmd_serve)
