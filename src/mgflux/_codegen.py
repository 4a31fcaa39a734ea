"""Generate the compiled model from a checked :class:`~mgflux._model.Model`.

The formulas of the model file become one Python module of numba functions, written once to a cache folder
(named by a hash of its text, so numba's ``cache=True`` can reuse the machine code across processes):

- ``rhs(y, p, dy)``: derivatives of the states;
- ``rhs_totals(y, p, dy)``: the same plus one cumulative total per boundary flux (for exact mass balance);
- ``observe(y, p, out)``: every expression and flux rate (the readouts come from these, never recomputed);
- ``jacobian(y, p, J)`` / ``jacobian_totals``: d(rhs)/dy by complex-step differentiation of the same code,
  exact to rounding (no hand-derived second copy of the physiology; Squire & Trapp 1998, SIAM Rev 40:110);
- ``param_jacobian(y, p, Jp)``: d(rhs)/dp, likewise (local sensitivities).

All take float64 arrays (the derivative kernels also complex128 ``y``/``p``); no Python objects.
Compilation happens at the first call, not at import.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import keyword
import os
import sys
from pathlib import Path

from ._model import Model
from .errors import ModelError

CODEGEN_VERSION = "1"
_FUNCS = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt"}


class _Rewrite(ast.NodeTransformer):
    """Numbers become floats (type-stable under complex arithmetic); functions become numpy's."""

    def visit_Constant(self, node):
        return ast.copy_location(ast.Constant(float(node.value)), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        node.func = ast.copy_location(ast.Name(_FUNCS[node.func.id], ast.Load()), node.func)
        return node


def _py(formula: str) -> str:
    tree = _Rewrite().visit(ast.parse(formula, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


def _check_identifiers(model: Model) -> None:
    seen = {}
    groups = [("state", model.state_names), ("parameter", model.parameter_names),
              ("expression", [e.name for e in model.expressions])]
    for kind, names in groups:
        for n in names:
            if not n.isidentifier() or keyword.iskeyword(n) or n in _FUNCS or n in ("np", "nb") or n.startswith("_"):
                raise ModelError(f"{model.path}: {kind} name {n!r} is not usable (letters, digits, underscores; "
                                 "not a Python keyword; not starting with _)")
            if n in seen:
                raise ModelError(f"{model.path}: {kind} {n!r} has the same name as a {seen[n]}")
            seen[n] = kind


def _body(model: Model, totals: bool) -> list[str]:
    lines = []
    for i, s in enumerate(model.states):
        lines.append(f"{s.name} = y[{i}]")
    for i, p in enumerate(model.parameters):
        lines.append(f"{p.name} = p[{i}]")
    for e in model.expressions:
        lines.append(f"{e.name} = {_py(e.formula)}")
    for fl in model.fluxes:
        lines.append(f"flux_{fl.name} = {_py(fl.rate)}")
    return lines


def _derivatives(model: Model, totals: bool) -> list[str]:
    lines = []
    for i, s in enumerate(model.states):
        if s.pool:
            terms = [f"+ flux_{f.name}" for f in model.fluxes if f.target == s.name]
            terms += [f"- flux_{f.name}" for f in model.fluxes if f.source == s.name]
            expr = " ".join(terms).lstrip("+ ") if terms else "0.0"
            if expr.startswith("- "):
                expr = "-" + expr[2:]
        else:
            expr = _py(s.rate)
        lines.append(f"dy[{i}] = {expr}")
    if totals:
        n = len(model.states)
        for k, fl in enumerate(model.boundary_fluxes):
            lines.append(f"dy[{n + k}] = flux_{fl.name}")
    return lines


def _fn(name: str, args: str, lines: list[str], doc: str) -> str:
    body = "\n".join("    " + ln for ln in [f'"""{doc}"""'] + lines)
    return f"@nb.njit(cache=True)\ndef {name}({args}):\n{body}\n"


_JAC_TEMPLATE = '''
@nb.njit(cache=True)
def {name}(y, p, J):
    """d({rhs})/dy by complex step: column j is Im(f(y + i h e_j)) / h."""
    n = y.shape[0]
    yc = np.empty(n, np.complex128)
    dyc = np.empty(n, np.complex128)
    for j in range(n):
        for i in range(n):
            yc[i] = y[i]
        yc[j] = complex(y[j], _H)
        {rhs}(yc, p, dyc)
        for i in range(n):
            J[i, j] = dyc[i].imag / _H
'''

_PJAC = '''
@nb.njit(cache=True)
def param_jacobian(y, p, Jp):
    """d(rhs)/dp by complex step (local sensitivities: dX/dp = -J^-1 Jp at a steady state)."""
    n = y.shape[0]
    m = p.shape[0]
    yc = np.empty(n, np.complex128)
    pc = np.empty(m, np.complex128)
    dyc = np.empty(n, np.complex128)
    for i in range(n):
        yc[i] = y[i]
    for j in range(m):
        for k in range(m):
            pc[k] = p[k]
        pc[j] = complex(p[j], _H)
        rhs(yc, pc, dyc)
        for i in range(n):
            Jp[i, j] = dyc[i].imag / _H
'''


def generate_source(model: Model) -> str:
    _check_identifiers(model)
    n = len(model.states)
    head = [
        f"# Generated by mgflux (codegen {CODEGEN_VERSION}) from the model {model.name!r} ({model.path.name}).",
        "# Do not edit: change the model file instead. Regenerated whenever the model changes.",
        "import numpy as np",
        "import numba as nb",
        "",
        "_H = 1e-30  # complex-step size: no subtractive cancellation, so it can be tiny",
        f"N_STATES = {n}",
        f"N_TOTALS = {len(model.boundary_fluxes)}",
        f"N_PARAMETERS = {len(model.parameters)}",
        f"N_OBSERVABLES = {len(model.observable_names)}",
        "",
    ]
    body = _body(model, False)
    rhs = _fn("rhs", "y, p, dy", body + _derivatives(model, False), "Time derivatives of the states (per day).")
    rhs_t = _fn("rhs_totals", "y, p, dy", body + _derivatives(model, True),
                "Derivatives of the states and of the cumulative boundary fluxes.")
    obs_lines = list(body)
    for k, name in enumerate(model.observable_names):
        obs_lines.append(f"out[{k}] = {name}")
    obs = _fn("observe", "y, p, out", obs_lines, "Every expression, then every flux rate.")
    jac = _JAC_TEMPLATE.format(name="jacobian", rhs="rhs")
    jac_t = _JAC_TEMPLATE.format(name="jacobian_totals", rhs="rhs_totals")
    parts = [rhs, rhs_t, obs, jac, jac_t, _PJAC]
    # Kernels written against this module's rhs/jacobian/observe (e.g. batched solvers) are appended here, so
    # they compile and cache with the model: each extension module exposes a `SOURCE` string.
    from ._plugins import optional_modules

    parts += [ext.SOURCE for ext in optional_modules(EXTENSIONS)]
    return "\n".join(head) + "\n\n" + "\n\n".join(parts)


EXTENSIONS = ("_kernels_batch",)


def cache_dir() -> Path:
    d = os.environ.get("MGFLUX_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mgflux"


_LOADED: dict = {}
_BY_MODEL: dict = {}  # id(model) -> (model, module): a checked Model is immutable, so its source is generated once


def compiled(model: Model):
    """The generated module for *model* (written and imported once; numba compiles lazily, cached on disk)."""
    hit = _BY_MODEL.get(id(model))
    if hit is not None and hit[0] is model:  # the model itself is kept alive here, so its id is not reused
        return hit[1]
    src = generate_source(model)
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    if digest in _LOADED:
        _BY_MODEL[id(model)] = (model, _LOADED[digest])
        return _LOADED[digest]
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    modname = f"mgflux_model_{model.name}_{digest}"
    path = d / f"{modname}.py"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)  # atomic: parallel workers never import half a file
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    _LOADED[digest] = mod
    _BY_MODEL[id(model)] = (model, mod)
    return mod
