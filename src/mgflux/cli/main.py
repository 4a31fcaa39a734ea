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


def main(argv: list[str] | None = None) -> int:
    """The ``mgflux`` command line with *argv* (default ``sys.argv[1:]``); returns the exit code: 0 done, 2 a
    bad input (one line naming the file, key and allowed values on stderr), 3 an internal error."""
    import warnings

    warnings.showwarning = _warning_line  # one readable line, never a traceback-like source excerpt
    try:  # a bad flag value: argparse has printed usage and the message; return its code, do not exit
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.func(args)
    except MgfluxError as exc:
        print(f"mgflux: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("mgflux: error: out of memory; lower --n, --samples, --days or the number of --vary values",
              file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"mgflux: error: cannot write or read {exc.filename or ''}: permission denied", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"mgflux: error: file system:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one readable line (MGFLUX_DEBUG=1 shows the traceback)
        import os

        if os.environ.get("MGFLUX_DEBUG"):
            raise
        print(f"mgflux: internal error ({type(exc).__name__}: {exc}); this is a bug in mgflux, please report it "
              "with the command and the scenario (MGFLUX_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # pragma: no cover
        print("mgflux: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
