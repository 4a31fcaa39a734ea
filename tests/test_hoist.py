"""The kernels' hoisted rhs/Jacobian (parameter-only subexpressions computed once per set by ``prep``) give the
plain functions' numbers to the last bit (issues 10/11 speed: engine/hoist.py)."""
import ast
import types

import numpy as np

import mgflux
from conftest import SCENARIOS
from mgflux.engine.codegen import generate_source
from mgflux.engine.hoist import Hoister


def _plain_module(model):
    """The generated module as plain Python (no numba): what the hoisting wrote, line by line."""
    mod = types.ModuleType("hoist_check")
    exec(generate_source(model), mod.__dict__)
    assert not mod.NUMBA
    return mod


def test_hoisted_kernels_equal_the_plain_ones_bit_for_bit():
    sc = mgflux.load_scenario(SCENARIOS / "healthy.toml")
    model = sc.model
    mod = _plain_module(model)
    assert mod.N_Q > 20  # Hill constants, log(max_adaptation), rate constants, chain-rule factors
    facs = [mgflux.factor(sc, p.name) for p in model.parameters if p.range is not None and p.range[1] > p.range[0]]
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(*f.documented_range, 20) for f in facs])
    P = mgflux.parameter_sets(sc, dict(zip(facs, X.T)))
    n, nt = len(model.states), len(model.states) + len(model.boundary_fluxes)
    g = model.guess_vector()
    q = np.empty(mod.N_Q)
    for p in P:
        mod.prep(p, q)
        y = g * rng.uniform(0.3, 3.0, n)
        yt = np.concatenate([y, rng.uniform(0, 10, nt - n)])
        for plain, hoisted, size, x in ((mod.rhs, mod.rhs_q, n, y), (mod.rhs_totals, mod.rhs_totals_q, nt, yt)):
            a, b = np.empty(size), np.empty(size)
            plain(x, p, a)
            hoisted(x, p, q, b)
            assert np.array_equal(a, b, equal_nan=True)
        for plain, hoisted, size, x in ((mod.jacobian, mod.jacobian_q, n, y),
                                        (mod.jacobian_totals, mod.jacobian_totals_q, nt, yt)):
            A, B = np.empty((size, size)), np.empty((size, size))
            plain(x, p, A)
            hoisted(x, p, q, B)
            assert np.array_equal(A, B, equal_nan=True)


def test_only_whole_parameter_only_subtrees_move():
    hz = Hoister(["k", "h", "v"])
    lines = hz.rewrite(["a = v * x * k ** h", "b = x * v * k", "c = 1.0", "d = c * k + x"])
    # v * x * k ** h is (v * x) * (k ** h): k ** h moves, v * x stays (no reassociation)
    assert lines[0] == "a = v * x * _q0"
    assert hz.prep[0] == "_q0 = k ** h"
    assert lines[1] == "b = x * v * k"  # (x * v) * k: no parameter-only subtree
    assert lines[2] == "c = 1.0"  # a literal stays (LLVM folds it) and prep knows it
    assert lines[3] == "d = _q1 + x" and hz.prep[-1] == "_q1 = c * k"
    loads = hz.loads(lines)
    assert loads == ["_q0 = q[0]", "_q1 = q[1]"]
    assert hz.prep_lines()[-2:] == ["q[0] = _q0", "q[1] = _q1"]
    for line in lines + hz.prep_lines():
        ast.parse(line)
