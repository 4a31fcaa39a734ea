"""The ``mgflux`` command line: the explicit list of commands (see ``mgflux --help``)."""
from __future__ import annotations

import argparse
import sys

from ..errors import MgfluxError
from . import analysis, batch, clinic, export, single, web


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="mgflux", description="Mechanistic simulator of human magnesium homeostasis.")
    p.add_argument("--version", action="version", version=f"mgflux {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # the explicit command list: each family module adds its commands (parsing and printing only)
    for family in (single, analysis, batch, export, clinic, web):
        family.register(sub)
    return p


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"mgflux: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    warnings.showwarning = _warning_line  # one readable line, never a traceback-like source excerpt
    try:
        return args.func(args)
    except MgfluxError as exc:
        print(f"mgflux: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("mgflux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
