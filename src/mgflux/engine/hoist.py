"""Hoisting of parameter-only subexpressions out of the generated right-hand side and Jacobian.

Within one parameter set (a batch's set, a time course's segment) every subexpression that reads only
parameters and constants has the same value at every call: Hill constants ``K ** n``, ``log(max_adaptation)``,
rate constants ``log(2) / (half_life * reserve)``, sums of shares, and in the Jacobian the many constant factors
of the chain rule. :class:`Hoister` rewrites the generated lines: each maximal parameter-only subtree that does
any arithmetic becomes a slot of a vector ``q``, computed once by ``prep(p, q)``; the kernels call
``rhs_q(y, p, q, dy)`` / ``rhs_jacobian_q(y, p, q, dy, J)``, which read ``q`` instead of recomputing.

A subtree is moved whole, with its own parentheses (``a * b * c`` is ``(a * b) * c``: only ``a * b`` is a
subtree), and computed by the same operations on the same values, so every result is the same to the last bit
(no reassociation, no algebra): the hoisted kernels give exactly the numbers of the plain ones.
"""
from __future__ import annotations

import ast


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _does_arithmetic(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.BinOp, ast.Call)) for n in ast.walk(node))


class Hoister:
    """One per generated module: ``q`` slots are shared by every function rewritten with it."""

    def __init__(self, parameters):
        self.parameters = list(parameters)
        self.const = set(self.parameters) | {"np"}  # names whose value depends on the parameters only
        self.prep: list[str] = []  # lines of prep(), in dependency order
        self.slot: dict[str, str] = {}  # subtree source -> its variable in prep (_q<k>)
        self.hoisted_vars: set[str] = set()  # targets of whole parameter-only lines, defined in prep
        self.stored: list[str] = []  # variables prep stores in q, in slot order

    def _var(self, node: ast.AST) -> ast.Name:
        src = ast.unparse(node)
        var = self.slot.get(src)
        if var is None:
            var = f"_q{len(self.slot)}"
            self.slot[src] = var
            self.prep.append(f"{var} = {src}")
        return ast.Name(var, ast.Load())

    def _rewrite(self, node: ast.AST) -> ast.AST:
        """Replace each maximal parameter-only subtree that does arithmetic by its prep variable."""
        names = _names(node) - {"np"}
        if names and names <= self.const and _does_arithmetic(node):  # (literal arithmetic: LLVM folds it)
            return self._var(node)
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                setattr(node, field, self._rewrite(value))
            elif isinstance(value, list):
                setattr(node, field, [self._rewrite(v) if isinstance(v, ast.AST) else v for v in value])
        return node

    def rewrite(self, lines: list[str]) -> list[str]:
        """The lines of one function body (after the y/p loads), with parameter-only work moved to prep."""
        out = []
        for line in lines:
            if line.startswith((" ", "for ")) or "=" not in line:
                out.append(line)
                continue
            tree = ast.parse(line)
            stmt = tree.body[0]
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                out.append(line)
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and not _names(stmt.value):  # a literal: kept, and known to prep
                if target.id not in self.hoisted_vars and target.id not in self.const:
                    self.prep.append(line)
                    self.const.add(target.id)
                out.append(line)
                continue
            if isinstance(target, ast.Name) and _names(stmt.value) <= self.const:
                if target.id not in self.hoisted_vars:  # the same line in another function: defined once
                    self.hoisted_vars.add(target.id)
                    self.const.add(target.id)
                    self.prep.append(line)
                continue
            stmt.value = self._rewrite(stmt.value)
            out.append(ast.unparse(ast.fix_missing_locations(tree)))
        return out

    def loads(self, lines: list[str]) -> list[str]:
        """``name = q[k]`` for every prep variable the rewritten *lines* read (slots assigned on first use)."""
        used = set()
        for line in lines:
            if not line.startswith((" ", "for ")):
                used |= _names(ast.parse(line.strip()))
        need = [v for v in list(self.slot.values()) + sorted(self.hoisted_vars) if v in used]
        for v in need:
            if v not in self.stored:
                self.stored.append(v)
        return [f"{v} = q[{self.stored.index(v)}]" for v in need]

    def prep_lines(self) -> list[str]:
        """Body of prep(p, q), after the parameter loads: the hoisted work, then the stores."""
        return self.prep + [f"q[{k}] = {v}" for k, v in enumerate(self.stored)]
