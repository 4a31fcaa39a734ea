
"""The plain baseline: what a modeller writes by hand, on the same model.

A pure-Python right-hand side (``math`` on floats, no numba, no numpy in the loop) generated from the same
model formulas as mgflux's numba code, so the physiology is identical and only the machinery differs; then
``scipy.integrate.solve_ivp`` (LSODA, the usual pick for a stiff-ish model, Jacobian by finite differences)
for time courses and ``scipy.optimize.root`` (hybr, Jacobian by finite differences) for steady states, falling
back to a long integration when root fails from the guess.

Run a quick self-check:  .venv/bin/python benchmarks/baseline.py
"""
from __future__ import annotations

import ast
import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

_FUNCS = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt"}


def _py(formula: str) -> str:
    """A model formula as plain Python on floats (functions from ``math``)."""

    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            node.func = ast.copy_location(ast.Name(_FUNCS[node.func.id], ast.Load()), node.func)
            return node

    return ast.unparse(ast.fix_missing_locations(Rewrite().visit(ast.parse(formula, mode="eval"))))


def python_source(model) -> str:
    """Source of ``rhs(t, y, p) -> list`` written out from the model's formulas, as a modeller would by hand."""
    lines = ["def rhs(t, y, p):"]
    lines.append("    " + ", ".join(model.state_names) + ", = y")
    lines.append("    " + ", ".join(model.parameter_names) + ", = p")
    for e in model.expressions:
        lines.append(f"    {e.name} = {_py(e.formula)}")
    for fl in model.fluxes:
        lines.append(f"    flux_{fl.name} = {_py(fl.rate)}")
    out = []
    for s in model.states:
        if s.pool:
            terms = [f"+ flux_{f.name}" for f in model.fluxes if f.target == s.name]
            terms += [f"- flux_{f.name}" for f in model.fluxes if f.source == s.name]
            out.append(" ".join(terms) if terms else "0.0")
        else:
            out.append(_py(s.rate))
    lines.append("    return [")
    lines += [f"        {o},  # d{s.name}/dt" for o, s in zip(out, model.states)]
    lines.append("    ]")
    return "\n".join(lines) + "\n"


def python_rhs(model):
    """The generated pure-Python right-hand side (parameters as a plain list of floats)."""
    ns = {"math": math}
    exec(compile(python_source(model), f"<baseline rhs of {model.name}>", "exec"), ns)
    return ns["rhs"]


def steady_state(rhs, p, guess, *, integrate_days=20000.0) -> np.ndarray:
    """scipy.optimize.root (hybr) from the model's guess; if that fails (it can wander into negative amounts),
    the modeller's usual fallback: integrate for a long time (LSODA) and polish with root again."""
    p = list(map(float, p))
    f = lambda y: rhs(0.0, y, p)  # noqa: E731
    # a state whose steady value is 0 (no drug, no damage) comes back as round-off either side of it
    floor = -1e-12 * np.maximum(1.0, np.abs(np.asarray(guess, float)))
    with np.errstate(all="ignore"):
        sol = root(f, np.asarray(guess, float), method="hybr", options={"xtol": 1e-12})
        if sol.success and np.all(sol.x >= floor):
            return sol.x
        run = solve_ivp(rhs, (0.0, integrate_days), np.asarray(guess, float), method="LSODA", rtol=1e-8,
                        atol=1e-10, args=(p,))
        sol = root(f, run.y[:, -1], method="hybr", options={"xtol": 1e-12})
    if not (sol.success and np.all(sol.x >= floor)):
        raise RuntimeError(f"baseline steady state failed: {sol.message}"
                           + ("" if not sol.success else f" (negative states: min {np.min(sol.x):.3g})"))
    return sol.x


def simulate(rhs, segments, y0, t_out, *, rtol=1e-9, atol_scale=1e-12, method="LSODA") -> np.ndarray:
    """solve_ivp over consecutive segments [(t0, t1, p), ...] (parameters change only at their edges);
    states at *t_out* as (n_states, n_times). Same tolerances as mgflux's defaults."""
    y = np.asarray(y0, float)
    atol = atol_scale * np.maximum(1.0, np.abs(y))
    t_out = np.asarray(t_out, float)
    out = np.empty((y.size, t_out.size))
    for t0, t1, p in segments:
        p = list(map(float, p))
        mask = (t_out >= t0) & (t_out <= t1)
        t_eval = np.union1d(t_out[mask], [t1])  # the segment's end too: the next segment starts there
        sol = solve_ivp(rhs, (t0, t1), y, method=method, rtol=rtol, atol=atol, args=(p,), t_eval=t_eval)
        if sol.status != 0:
            raise RuntimeError(f"baseline solve_ivp failed in [{t0}, {t1}]: {sol.message}")
        out[:, mask] = sol.y[:, np.searchsorted(t_eval, t_out[mask])]
        y = sol.y[:, -1]
    return out


if __name__ == "__main__":
    import mgflux

    sc = mgflux.load_scenario(__import__("pathlib").Path(__file__).resolve().parents[1] / "scenarios" / "healthy.toml")
    rhs = python_rhs(sc.model)
    p = mgflux.parameter_sets(sc, steady=False)[0]
    y = steady_state(rhs, p, sc.model.guess_vector())
    ref = mgflux.steady_state(sc)
    print(python_source(sc.model))
    print({n: (float(v), ref.states[n]) for n, v in zip(sc.model.state_names, y)})
