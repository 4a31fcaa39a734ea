"""Symbolic forward-mode differentiation of the model's formulas, for the generated Jacobians.

The formulas of a model file are smooth arithmetic: ``+ - * / **``, unary minus, numbers, names and
``exp``/``log``/``sqrt`` of one argument (:func:`mgflux.model.formula.check` enforces it when the model is
loaded; the trees here are :func:`mgflux.model.formula.parse`'s). For each state
``y_j`` the chain rule is applied expression by expression, in the order the model evaluates them: the
derivative of a formula is written in terms of the derivatives of the names it uses, which are themselves
generated variables (``_d<j>_<name>``). A derivative that is identically zero is ``None`` and never written, so
the generated Jacobian is as sparse as the model (most expressions depend on one or two states).

The result is exact to rounding, like the complex-step derivative it replaces, but costs a fraction of it: no
complex arithmetic and no complex ``**`` (the Hill terms), and only the non-zero entries are computed.
"""
from __future__ import annotations

import ast
import copy
import re
from typing import Callable

from ..model.formula import FUNCTIONS, parse

_FUNCS = {f: f"np.{f}" for f in FUNCTIONS}  # numpy's exp, log, sqrt in the generated code


class _Rewrite(ast.NodeTransformer):
    """Numbers become floats (type-stable under complex arithmetic); functions become numpy's."""

    def visit_Constant(self, node):
        return ast.copy_location(ast.Constant(float(node.value)), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        node.func = ast.copy_location(ast.Name(_FUNCS[node.func.id], ast.Load()), node.func)
        return node


def py(formula: str) -> str:
    """A model formula as generated code (numbers as floats, functions as numpy's)."""
    tree = _Rewrite().visit(copy.deepcopy(parse(formula)))  # the parsed trees are shared: rewrite a copy
    return ast.unparse(ast.fix_missing_locations(tree))


def _src(node: ast.AST) -> str:
    return f"({py(ast.unparse(node))})"


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return f"({a} + {b})"


def _neg(a):
    return None if a is None else f"(-{a})"


def _mul(a, b):
    if a is None or b is None:
        return None
    if a == "1.0":
        return b
    if b == "1.0":
        return a
    return f"({a} * {b})"


def derivative(node: ast.AST, d_name: Callable[[str], str | None]) -> str | None:
    """Code for d(node)/dx, or None where it is identically zero. ``d_name(name)`` gives the code of the
    derivative of a name (``"1.0"`` for x itself, ``None`` for a constant or independent name)."""
    if isinstance(node, ast.Expression):
        return derivative(node.body, d_name)
    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, ast.Name):
        return d_name(node.id)
    if isinstance(node, ast.UnaryOp):
        da = derivative(node.operand, d_name)
        return _neg(da) if isinstance(node.op, ast.USub) else da
    if isinstance(node, ast.Call):
        arg = node.args[0]
        da = derivative(arg, d_name)
        if da is None:
            return None
        a = _src(arg)
        fn = node.func.id
        if fn == "exp":
            return _mul(f"np.exp{a}", da)
        if fn == "log":
            return f"({da} / {a})"
        if fn == "sqrt":
            return f"({da} / (2.0 * np.sqrt{a}))"
        raise ValueError(f"cannot differentiate {fn}()")
    if isinstance(node, ast.BinOp):
        da = derivative(node.left, d_name)
        db = derivative(node.right, d_name)
        if da is None and db is None:
            return None
        a, b = _src(node.left), _src(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return _add(da, db)
        if isinstance(op, ast.Sub):
            return _add(da, _neg(db))
        if isinstance(op, ast.Mult):
            return _add(_mul(da, b), _mul(a, db))
        if isinstance(op, ast.Div):
            if db is None:
                return f"({da} / {b})"
            # (a'/b - (a/b) b'/b): no b*b, which would overflow or underflow long before a/b does
            return f"(({'0.0' if da is None else da} - {a} / {b} * {db}) / {b})"
        if isinstance(op, ast.Pow):
            # a ** b: b a^(b-1) a' + a^b log(a) b' (the second term only where the exponent varies)
            const_base = isinstance(node.left, ast.Constant) and float(node.left.value) == 0.0
            const_expo = isinstance(node.right, ast.Constant) and float(node.right.value) == 0.0
            base = None if da is None or const_expo else _mul(f"({b} * {a} ** ({b} - 1.0))", da)  # x**0: 0
            expo = None if db is None or const_base else _mul(f"({a} ** {b} * np.log{a})", db)  # 0**x: 0
            return _add(base, expo)
    raise ValueError(f"cannot differentiate {ast.unparse(node)!r}")


def jacobian_columns(model) -> tuple[list[str], list]:
    """The Jacobian as code, computed once per code generation and shared by ``jacobian_lines`` and
    ``diagonal_blocks``: (partial lines, columns).

    Partial lines: for each expression, flux and state rate, its local partial derivative with respect to each
    state-dependent name it uses (the other names held fixed), written once. Columns: for each state column j,
    (j, the lines that chain those partials into the derivatives of the expressions and fluxes depending on y_j,
    {row: code of J[row, j]} for the non-zero rows). Rows: the states, then one cumulative total per boundary
    flux. Writing the partials once, rather than differentiating each formula again for every column, keeps the
    generated Jacobian short: numba's compile time grows with its length, and shared partials are computed once
    per call instead of once per column."""
    partial_lines: list[str] = []
    columns = list(_columns(model, partial_lines))
    return partial_lines, columns


_SIMPLE = re.compile(r"^\(?(-?[0-9.e+-]+|[A-Za-z_][A-Za-z0-9_.]*)\)?$")


def _local_partials(name: str, tree: ast.AST, dependent: dict, lines: list[str]) -> list[tuple[str, str]]:
    """[(argument, code of d(formula)/d(argument))] for the state-dependent names of *tree*; a partial that is
    longer than a name or number gets its own line (``_p_<name>_<k>``)."""
    used = list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in dependent))
    out = []
    for k, a in enumerate(used):
        d = derivative(tree, lambda n, a=a: "1.0" if n == a else None)
        if d is None:
            continue
        if not _SIMPLE.match(d):
            var = f"_p_{name}_{k}"
            lines.append(f"{var} = {d}")
            d = var
        out.append((a, d.strip("()") if _SIMPLE.match(d) and not d.startswith("(-") else d))
    return out


def _chain(partials: list[tuple[str, str]], known: dict) -> str | None:
    """sum of partial * d(argument)/dy_j over the arguments that depend on y_j."""
    d = None
    for a, code in partials:
        da = known.get(a)
        if da is None:
            continue
        if code in ("-1.0", "(-1.0)"):
            d = _add(d, _neg(da))
        else:
            d = _add(d, _mul(code, da))
    return d


def _columns(model, partial_lines: list[str]):
    states = model.state_names
    items = [(e.name, parse(e.formula)) for e in model.expressions]
    items += [(f"flux_{fl.name}", parse(fl.rate)) for fl in model.fluxes]
    rate_items = [(i, parse(s.rate)) for i, s in enumerate(model.states) if not s.pool]
    # which states each name depends on (transitively), and its local partials, once for all columns
    depends: dict[str, set[int]] = {x: {j} for j, x in enumerate(states)}
    partials: dict[str, list[tuple[str, str]]] = {}
    for name, tree in items:
        ps = _local_partials(name, tree, depends, partial_lines)
        if ps:
            partials[name] = ps
            depends[name] = set().union(*(depends[a] for a, _ in ps))
    rate_partials = {i: _local_partials(f"rate{i}", tree, depends, partial_lines) for i, tree in rate_items}
    n = len(states)
    for j, x in enumerate(states):
        known: dict[str, str] = {x: "1.0"}
        lines = []
        for name, _ in items:
            if j not in depends.get(name, ()):
                continue
            d = _chain(partials[name], known)
            if d is None:
                continue
            if _SIMPLE.match(d):  # d(name)/dy_j is that of one argument: no line of its own
                known[name] = d
            else:
                var = f"_d{j}_{name}"
                lines.append(f"{var} = {d}")
                known[name] = var
        entries = {}
        for i, s in enumerate(model.states):
            if s.pool:
                d = None
                for fl in model.fluxes:
                    dv = known.get(f"flux_{fl.name}")
                    if fl.target == s.name:
                        d = _add(d, dv)
                    if fl.source == s.name:
                        d = _add(d, _neg(dv))
            else:
                d = _chain(rate_partials[i], known)
            if d is not None:
                entries[i] = d
        for k, fl in enumerate(model.boundary_fluxes):
            dv = known.get(f"flux_{fl.name}")
            if dv is not None:
                entries[n + k] = dv
        yield j, lines, entries


def jacobian_lines(jac: tuple, n_states: int, totals: bool) -> list[str]:
    """Body lines that fill ``J`` (zeroed first) with d(rhs)/dy, after the value lines of the generated body;
    *columns* from ``jacobian_columns``, the rows of the totals only with *totals*. Nothing depends on a
    cumulative total, so the columns of the totals stay zero."""
    partial_lines, columns = jac
    lines = ["for _i in range(J.shape[0]):", "    for _j in range(J.shape[1]):", "        J[_i, _j] = 0.0"]
    lines += partial_lines
    for j, defs, entries in columns:
        lines += defs
        lines += [f"J[{i}, {j}] = {code}" for i, code in entries.items() if totals or i < n_states]
    return lines


def diagonal_blocks(jac: tuple, n: int) -> list[list[int]]:
    """The strongly connected components of the Jacobian's sparsity graph (state j -> state i where y_i's rate
    depends on y_j), in state order. Ordered by components, J is block triangular, so its eigenvalues are those
    of these diagonal blocks: a stability check need not look at the whole matrix."""
    reach = [[i == j for j in range(n)] for i in range(n)]  # reach[i][j]: i influences j
    for j, _, entries in jac[1]:
        for i in entries:
            if i < n:  # a state's rate, not a total
                reach[j][i] = True
    for k in range(n):  # transitive closure (Warshall)
        for i in range(n):
            if reach[i][k]:
                for j in range(n):
                    if reach[k][j]:
                        reach[i][j] = True
    blocks, seen = [], set()
    for i in range(n):
        if i not in seen:
            comp = [j for j in range(n) if reach[i][j] and reach[j][i]]
            seen.update(comp)
            blocks.append(comp)
    return blocks
