"""Formulas: the one reader of the arithmetic written in model, catalogue and readout files.

A formula is a Python expression restricted to numbers, names, ``+ - * / **``, unary ``+``/``-`` and calls of a
few named functions; readouts may also compare (``< <= > >=``) and call their grading functions. Every user of
formulas goes through this module:

- :func:`parse` reads a formula once (cached; the trees are only read, never changed);
- :func:`check` refuses anything outside the allowed set, with a message naming where the formula came from, and
  returns the names the formula uses;
- :func:`evaluate` computes a checked formula for floats or numpy arrays (catalogue effects, readouts);
- :func:`evaluate_units` computes it with pint quantities, naming the part whose units do not match (the model's
  unit check, once per model file).

The generated code (:mod:`mgflux.engine.derivatives`: the same trees, differentiated symbolically) and the SBML
export (:mod:`mgflux.io.sbml`: the same trees, printed as SBML L3) read the trees :func:`parse` returns.
"""
from __future__ import annotations

import ast
import copy
import functools
import math

import numpy as np

from ..errors import ModelError

#: The functions of model and catalogue formulas (one argument each), and numpy's versions of them.
FUNCTIONS = ("exp", "log", "sqrt")
NUMPY_FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt}
#: The binary operators of every formula, with their Python spelling.
BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@functools.lru_cache(maxsize=None)
def parse(formula: str) -> ast.Expression:
    """The syntax tree of *formula* (``SyntaxError`` if it is not an expression), parsed once per text."""
    return ast.parse(formula, mode="eval")


def check(formula: str, where: str, *, functions=FUNCTIONS, one_argument: bool = True,
          comparisons: bool = False) -> set[str]:
    """Parse *formula* and refuse anything but numbers, names, ``+ - * / **``, unary ``+ -``, calls of
    *functions* (of one argument each when *one_argument*) and, with *comparisons*, ``< <= > >=``. Returns the
    names it uses (functions excluded). Every refusal is a :class:`~mgflux.ModelError` starting with *where*."""
    try:
        tree = parse(formula)
    except SyntaxError as exc:
        raise ModelError(f"{where}: cannot parse formula {formula!r}: {exc.msg}") from None
    fns = ", ".join(functions)
    allowed = "numbers, names, + - * / **" + (", comparisons < <= > >=" if comparisons else "") + f", {fns}"
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in functions) or node.keywords or \
                    (one_argument and len(node.args) != 1) or any(isinstance(a, ast.Starred) for a in node.args):
                raise ModelError(f"{where}: only {fns}{' of one argument' if one_argument else ''} may be called, "
                                 f"in {formula!r}")
        elif isinstance(node, ast.Name):
            if node.id not in functions:
                names.add(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ModelError(f"{where}: constant {node.value!r} is not a number, in {formula!r}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in BINOPS:
                raise ModelError(f"{where}: operator {type(node.op).__name__} is not allowed in {formula!r} "
                                 "(use + - * / **)")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ModelError(f"{where}: operator {type(node.op).__name__} is not allowed in {formula!r}")
        elif isinstance(node, ast.Compare) and comparisons:
            if not all(isinstance(op, COMPARISONS) for op in node.ops):
                raise ModelError(f"{where}: only the comparisons < <= > >= are allowed, in {formula!r}")
        elif not isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop, ast.cmpop)):
            raise ModelError(f"{where}: {type(node).__name__} is not allowed in a formula ({formula!r}); "
                             f"formulas are smooth arithmetic ({allowed})")
    return names


class _Floats(ast.NodeTransformer):
    """Numbers become floats: ``2 * x`` computes as ``2.0 * x`` (the same float arithmetic for every input)."""

    def visit_Constant(self, node):
        return ast.copy_location(ast.Constant(float(node.value)), node)


@functools.lru_cache(maxsize=None)
def code(formula: str, floats: bool = True):
    """*formula* compiled for :func:`evaluate` (once per text); *floats*: its numbers as floats."""
    tree = parse(formula)
    if floats:
        tree = ast.fix_missing_locations(_Floats().visit(copy.deepcopy(tree)))
    return compile(tree, f"<formula {formula}>", "eval")


def evaluate(formula: str, env: dict, functions: dict = NUMPY_FUNCTIONS, *, floats: bool = True):
    """A checked formula (see :func:`check`) with the values in *env*: floats give a float, numpy arrays an
    array (sweeps and batches evaluate many inputs at once). *functions* are the callable names; with *floats*
    its numbers are floats (an integer formula such as ``where(x > 1, 1, 0)`` keeps its ints without)."""
    return eval(code(formula, floats), {"__builtins__": {}, **functions}, env)  # noqa: S307 - checked formulas only


def evaluate_units(formula: str, env: dict, where: str):
    """*formula* evaluated with the pint quantities in *env*; a :class:`~mgflux.ModelError` names the part whose
    units do not match, a non-dimensionless argument of exp/log, or a dimensional base of a non-integer power."""
    from . import units as _units

    ureg = _units.registry()

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return ureg.Quantity(float(node.value), "dimensionless")
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            arg = ev(node.args[0])
            fn = node.func.id
            if fn in ("exp", "log"):
                if not arg.dimensionless:
                    raise ModelError(f"{where}: {fn}() needs a dimensionless argument, got '{arg.units:~}' "
                                     f"in {ast.unparse(node)!r}")
                m = float(arg.to("dimensionless").magnitude)
                return ureg.Quantity(math.exp(m) if fn == "exp" else math.log(max(m, 1e-300)), "dimensionless")
            return arg**0.5
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            op = node.op
            try:
                if isinstance(op, ast.Add):
                    return a + b
                if isinstance(op, ast.Sub):
                    return a - b
                if isinstance(op, ast.Mult):
                    return a * b
                if isinstance(op, ast.Div):
                    if b.magnitude == 0:  # a parameter at 0 (a value, not a unit, problem): keep checking units
                        return ureg.Quantity(math.inf, a.units / b.units)
                    return a / b
            except Exception as exc:  # pint DimensionalityError
                raise ModelError(f"{where}: units do not match in {ast.unparse(node)!r}: "
                                 f"'{a.units:~}' and '{b.units:~}' ({exc})") from None
            # power: exponent dimensionless; a dimensional base only with a literal integer exponent
            if not b.dimensionless:
                raise ModelError(f"{where}: exponent must be dimensionless in {ast.unparse(node)!r}")
            e = float(b.to("dimensionless").magnitude)
            literal_int = isinstance(node.right, ast.Constant) and float(node.right.value).is_integer()
            if not a.dimensionless and not literal_int:
                raise ModelError(f"{where}: base '{a.units:~}' of {ast.unparse(node)!r} must be dimensionless "
                                 "(a Hill term needs a ratio such as x / K)")
            if a.dimensionless:
                base = float(a.to("dimensionless").magnitude)
                return ureg.Quantity(abs(base) ** e, "dimensionless")
            return a**e
        raise ModelError(f"{where}: cannot evaluate {ast.dump(node)}")

    return ev(parse(formula))
