"""The load cache: checked models, catalogues and unit conversions kept on disk between processes.

Checking a model file's units needs pint (~0.5 s to import, with scipy behind it), more than a whole steady
state. Once a model file (or the catalogue, or a quantity such as "300 mg/day") has been checked and converted,
the result is pickled into the cache folder under a key that hashes the file texts *and* the source of the
code that reads them, so any change to either loads afresh. A missing, stale, corrupted or unwritable cache is
never an error: the files are then read and checked as usual.
"""
from __future__ import annotations

import copyreg
import hashlib
import json
import os
import pickle
import types
from pathlib import Path

from .._paths import cache_dir

_HERE = Path(__file__).resolve().parent


def _proxy(d):
    return types.MappingProxyType(d)


# frozen model objects keep their tables in read-only mappings: pickle them as dicts
copyreg.pickle(types.MappingProxyType, lambda m: (_proxy, (dict(m),)))

_CODE_HASH: list = []


def _code_hash() -> str:
    if not _CODE_HASH:
        h = hashlib.sha256()
        for f in sorted(_HERE.glob("*.py")):  # every module of model/: whatever builds a Model or Catalogue
            h.update(f.name.encode() + f.read_bytes())
        _CODE_HASH.append(h.hexdigest()[:16])
    return _CODE_HASH[0]


def key(*texts: str) -> str:
    h = hashlib.sha256(_code_hash().encode())
    for t in texts:
        h.update(b"\0" + t.encode())
    return h.hexdigest()[:24]


def _folder() -> Path:
    return cache_dir() / "loaded"


def load(kind: str, k: str):
    """The object stored under (*kind*, *k*), or None."""
    try:
        with (_folder() / f"{kind}-{k}.pkl").open("rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - missing, stale or corrupted: read the files instead
        return None


def save(kind: str, k: str, obj) -> None:
    try:
        folder = _folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind}-{k}.pkl"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - an unwritable cache only costs time
        pass


_CONVERSIONS: dict = {}
_LOADED_CONVERSIONS: list = []


def _conversions_path() -> Path:
    return _folder() / f"conversions-{_code_hash()}.json"


def conversion(text, expected: str, allow_negative: bool, element: str = "Mg"):
    """A remembered successful unit conversion of *text* to *expected* (internal units), or None. The element
    is part of the key: "1000 mg/day" is 41.1 mmol/day of Mg but 25.0 mmol/day of Ca."""
    if not isinstance(text, str):
        return None
    if not _LOADED_CONVERSIONS:
        _LOADED_CONVERSIONS.append(True)
        try:
            _CONVERSIONS.update(json.loads(_conversions_path().read_text()))
        except Exception:  # noqa: BLE001
            pass
    return _CONVERSIONS.get(f"{text}|{expected}|{allow_negative}|{element}")


def remember_conversion(text, expected: str, allow_negative: bool, value: float, element: str = "Mg") -> None:
    if not isinstance(text, str):
        return
    k = f"{text}|{expected}|{allow_negative}|{element}"
    if _CONVERSIONS.get(k) == value:
        return
    _CONVERSIONS[k] = value
    try:
        path = _conversions_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(_CONVERSIONS))
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001
        pass
