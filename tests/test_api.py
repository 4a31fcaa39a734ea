"""The public face: what ``mgflux`` (and ``mgflux.web``) export is documented, and the tests use it."""
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mgflux

TESTS = Path(__file__).resolve().parent

#: An import of a module below the public face (the lead's check: grep -rnE "^\s*(from mgflux\.|import mgflux\.)").
SUBMODULE_IMPORT = re.compile(r"^\s*(from mgflux\.|import mgflux\.)")
#: Tests about an internal kernel may import it (engine batch, timecourse, steady, codegen, derivatives, sparse_lu,
#: warmup).
KERNELS = re.compile(r"^\s*from mgflux\.engine(\.\w+)? import (batch|codegen|derivatives|sparse_lu|steady|timecourse|warmup)"
                     r"(, (batch|codegen|derivatives|sparse_lu|steady|timecourse|warmup))*\s*(#.*)?$"
                     # the diagnosis' own engine: simulated patients per cause, the kernel-density likelihood
                     r"|^from mgflux\.studies import diagnose as dg\s*(#.*)?$")
def _submodule_imports(exclude=()):
    out = []
    for f in sorted(TESTS.rglob("*.py")):
        if f.name not in exclude:
            out += [f"{f.name}:{i}: {line.strip()}" for i, line in enumerate(f.read_text().splitlines(), 1)
                    if SUBMODULE_IMPORT.match(line)]
    return out


def test_tests_use_the_public_face():
    found = _submodule_imports()
    assert len(found) <= 10, "more than 10 imports of mgflux submodules in tests/:\n" + "\n".join(found)
    others = [f for f in found if not KERNELS.search(f.split(": ", 1)[1])]
    assert others == [], "only tests of an internal kernel import submodules; use mgflux's names:\n" + "\n".join(others)


def test_every_public_name_is_documented():
    assert len(mgflux.__all__) == len(set(mgflux.__all__))
    for name in mgflux.__all__:
        obj = getattr(mgflux, name)  # listed means exported
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"mgflux.{name} has no docstring"
        if inspect.isfunction(obj):
            hints = obj.__annotations__
            params = [p for p in inspect.signature(obj).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            assert "return" in hints or any(p.name in hints for p in params), f"mgflux.{name} has no type hints"


def test_the_web_face_loads_nothing_until_asked():
    code = ("import sys, mgflux.web as w; assert 'starlette' not in sys.modules; names = set(dir(w)); "
            "assert set(w.__all__) <= names, names; print(w.MAX_ENTRIES, 'starlette' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 0 and out[1] == "False"  # a limit of the backend: still no Starlette
    pytest.importorskip("starlette", reason="the web extra is not installed: pip install \"mgflux[web]\"")
    from mgflux import web

    assert callable(web.create_app) and web.STATIC.is_dir() and web.MAX_BODY_BYTES > 0
    with pytest.raises(AttributeError, match="no_such_name"):
        web.no_such_name  # noqa: B018


def test_calibration_tables_refuse_an_unknown_name():
    with pytest.raises(mgflux.MgfluxError, match="healthy, catalogue, all"):
        mgflux.calibration_tables("everything")
