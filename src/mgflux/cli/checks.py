"""Checks the command line makes before any work: flag values (argparse types), output paths, optional extras,
the memory a batch needs; and the printing of warnings (stderr)."""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
from pathlib import Path

from ..errors import MgfluxError

# ------------------------------------------------------------------------------------------ flag types

def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({what})") from None


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    v = _int(text, "must be >= 1")
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} is not allowed: must be >= 1")
    return v


def port(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    v = _int(text, "a port 1-65535")
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"{v} is not a port: must be 1-65535")
    return v


def nonneg_int(text: str) -> int:
    """argparse type: a whole number >= 0 (seeds)."""
    v = _int(text, "must be >= 0")
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is not allowed: must be >= 0")
    return v


def positive_days(text: str) -> float:
    """argparse type: a positive, finite number of days."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: must be a finite number of days > 0")
    from ..model.validate import limits

    hi = limits().inputs["duration"].max
    if v > hi:
        raise argparse.ArgumentTypeError(f"{v:g} days is more than {hi:g} days (150 years, longer than a human life)")
    return v


_SCHED = re.compile(r"^(local|(tcp|tls|inproc|ucx|ws|wss)://([^\s/:\[\]]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?"
                    r"|[A-Za-z0-9_.\-]+:\d{1,5})$")


def scheduler_address(text: str) -> str:
    """argparse type: "local", tcp://HOST:PORT (or tls://, ...), or HOST:PORT."""
    if not _SCHED.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a scheduler address: give \"local\" (a LocalCluster on "
                                         "this machine) or tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    m = re.search(r":(\d+)$", text.strip())
    if m and not 0 < int(m.group(1)) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: port {m.group(1)} is not in 1-65535")
    return text.strip()


# ---------------------------------------------------------------------------------------------- extras

EXTRAS = {  # module -> (extra, what it is for)
    "pyarrow": ("parquet", "--format parquet"),
    "pandas": ("pandas", "tables"),
    "SALib": ("sensitivity", "Morris and Sobol sensitivity"),
    "distributed": ("dask", "--scheduler"),
    "libsbml": ("sbml", "SBML export"),
    "matplotlib": ("", "plots"),
}


def require(module: str, purpose: str | None = None) -> None:
    """An error naming the extra to install when *module* is missing (checked before any computing)."""
    if importlib.util.find_spec(module) is None:
        extra, what = EXTRAS.get(module, ("", module))
        how = f'pip install "mgflux[{extra}]"' if extra else f"pip install {module}"
        raise MgfluxError(f"{purpose or what} needs the Python package {module!r}, which is not installed: {how}")


def require_format(fmt: str) -> None:
    if fmt == "parquet":
        require("pandas", "--format parquet")
        require("pyarrow", "--format parquet")


# ------------------------------------------------------------------------------------------ output paths

def can_write(d: Path) -> bool:
    """Whether a file can be created in folder *d* (tried, not guessed from permission bits: root, read-only
    file systems and network mounts all answer truthfully)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=d):
            pass
        return True
    except OSError:
        return False


def _writable_folder(d: Path, flag: str, target: Path) -> None:
    if not d.exists():
        raise MgfluxError(f"{flag} {target}: the folder {d} does not exist; create it first")
    if not d.is_dir():
        raise MgfluxError(f"{flag} {target}: {d} is a file, not a folder")
    if not can_write(d):
        raise MgfluxError(f"{flag} {target}: cannot write in {d} (permission denied or read-only)")


def check_out_dir(path, flag: str = "--out") -> Path | None:
    """An output folder, checked before work: a file there, a parent that is a file, an unwritable place are
    errors. The folder itself may not exist yet (created, with its parents, when the results are written)."""
    if path is None:
        return None
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise MgfluxError(f"{flag} {p}: this is a file, not a folder; give a folder name")
        if not can_write(p):
            raise MgfluxError(f"{flag} {p}: cannot write in this folder (permission denied or read-only)")
        return p
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise MgfluxError(f"{flag} {p}: {parent} is a file, so the folder cannot be created")
    if not can_write(parent):
        raise MgfluxError(f"{flag} {p}: cannot create the folder (cannot write in {parent}: permission denied or "
                          "read-only)")
    return p


def check_out_file(path, flag: str = "-o") -> Path:
    """An output file, checked before work: its folder must exist and be writable; it may not be a folder."""
    p = Path(path)
    if p.is_dir():
        raise MgfluxError(f"{flag} {p}: this is a folder; give a file name (e.g. {p / 'model.xml'})")
    _writable_folder(p.parent if str(p.parent) else Path("."), flag, p)
    if p.exists() and not p.is_file():
        raise MgfluxError(f"{flag} {p}: this is not a regular file (a device or a pipe); give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise MgfluxError(f"{flag} {p}: the file exists and cannot be overwritten (permission denied)")
    return p


def existing(folder: Path | None, names) -> list[str]:
    """Which of *names* already exist in *folder* (to report them as replaced after writing)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(n for n in names if (folder / n).exists())


def say_replaced(folder: Path, names) -> None:
    if names:
        print(f"mgflux: note: replaced in {folder}: {', '.join(names)} (other files there were left alone)",
              file=sys.stderr)


# ---------------------------------------------------------------------------------------------- memory

def available_memory() -> int | None:
    """Bytes of memory available to this process (Linux /proc/meminfo, else physical memory; None: unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes: float, what: str, flag: str, share: float = 0.5) -> None:
    """Refuse a batch whose estimated memory exceeds *share* of what is available, naming the flag to change."""
    avail = available_memory()
    limit = float(os.environ.get("MGFLUX_MEMORY_LIMIT", 0) or 0) or (share * avail if avail else None)
    if limit and nbytes > limit:
        raise MgfluxError(f"{what} would need about {nbytes / 1e9:.3g} GB of memory; {limit / 1e9:.3g} GB can be used "
                          f"here ({'MGFLUX_MEMORY_LIMIT' if os.environ.get('MGFLUX_MEMORY_LIMIT') else 'half of the available memory'}). "
                          f"Lower {flag}, or run it on a cluster with --scheduler")


# -------------------------------------------------------------------------------------------- warnings

def warn(messages) -> None:
    """Print warnings on stderr (the JSON carries them as "warnings")."""
    for m in messages:
        print(f"mgflux: warning: {m}", file=sys.stderr)
