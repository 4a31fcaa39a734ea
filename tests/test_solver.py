"""Solvers against a reduced model with a closed-form steady state and time course, and their failures."""
import math

import numpy as np
import pytest

import mgflux
from mgflux import models_dir
from mgflux.engine import codegen, derivatives, sparse_lu, steady, timecourse  # the solvers themselves (internal)

# A one-compartment gut-serum model: intake I into gut (absorption ka, faecal kf), serum cleared by GFR * c.
# Steady state: gut = I / (ka + kf); serum amount = ka * gut / (gfr / V). Time course of gut: exponential.
REDUCED = """
[model]
name = "reduced"
[states.gut]
unit = "mmol"
pool = true
guess = 1.0
[states.serum]
unit = "mmol"
pool = true
guess = 1.0
[parameters.intake]
value = 10
unit = "mmol/day"
source = "test"
[parameters.ka]
value = 2
unit = "1/day"
source = "test"
[parameters.kf]
value = 3
unit = "1/day"
source = "test"
[parameters.clearance]
value = 5
unit = "L/day"
source = "test"
[parameters.volume]
value = 14
unit = "L"
source = "test"
[expressions]
conc = { formula = "serum / volume", unit = "mM" }
[fluxes.intake]
to = "gut"
rate = "intake"
[fluxes.absorption]
from = "gut"
to = "serum"
rate = "ka * gut"
[fluxes.faeces]
from = "gut"
rate = "kf * gut"
[fluxes.urine]
from = "serum"
rate = "clearance * conc"
"""


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "reduced.toml"
    path.write_text(REDUCED)
    m = mgflux.load_model(path)
    return m, codegen.compiled(m)


def test_steady_state_closed_form(reduced):
    m, mod = reduced
    y, info = steady.steady_state(mod, m.parameter_vector(), np.array([100.0, 0.01]), m.state_names)
    gut = 10 / (2 + 3)
    serum = 2 * gut / (5 / 14)
    assert y == pytest.approx([gut, serum], rel=1e-12)
    assert info["max_scaled_residual"] < 1e-11


@pytest.mark.slow
def test_time_course_closed_form(reduced):
    m, mod = reduced
    p = m.parameter_vector()
    t = np.linspace(0, 3, 31)
    ys, _ = timecourse.integrate(mod, [(0.0, 3.0, p)], np.array([0.0, 0.0]), t)
    gut = 10 / 5 * (1 - np.exp(-5 * t))
    assert ys[0] == pytest.approx(gut, rel=1e-7, abs=1e-10)
    # totals: cumulative intake is exactly intake * t
    assert ys[2] == pytest.approx(10 * t, rel=1e-9, abs=1e-12)


def test_jacobian_is_exact(reduced):
    m, mod = reduced
    J = np.empty((2, 2))
    mod.jacobian(np.array([1.0, 2.0]), m.parameter_vector(), J)
    assert J == pytest.approx(np.array([[-5.0, 0.0], [2.0, -5 / 14]]), rel=1e-14)


def test_adult_jacobian_matches_finite_differences():
    m = mgflux.get_model()
    mod = codegen.compiled(m)
    p = m.parameter_vector()
    y = mgflux.steady_state(mgflux.load_scenario(__import__("conftest").SCENARIOS / "healthy.toml"))
    y = np.array(list(y.states.values())) * 1.05 + 0.01
    n = len(y)
    J = np.empty((n, n))
    mod.jacobian(y, p, J)
    f0 = np.empty(n)
    mod.rhs(y, p, f0)
    for j in range(n):
        h = 1e-7 * max(1.0, abs(y[j]))
        y2 = y.copy()
        y2[j] += h
        f1 = np.empty(n)
        mod.rhs(y2, p, f1)
        assert (f1 - f0) / h == pytest.approx(J[:, j], rel=1e-4, abs=1e-6)


def _adult_jacobians(rng, k=20):
    """Jacobians of the adult model at points around the healthy steady state, and the systems the kernels
    solve with them: J (Newton), I/(h gamma) - J (Rodas4) and I/dt - J (pseudo-transient), h from 1e-4 to 1e4 d."""
    m = mgflux.get_model()
    mod = codegen.compiled(m)
    y0 = np.array(list(mgflux.steady_state(mgflux.load_scenario(__import__("conftest").SCENARIOS /
                                                                "healthy.toml")).states.values()))
    n = y0.size
    out = []
    for _ in range(k):
        J = np.empty((n, n))
        mod.jacobian(y0 * rng.uniform(0.5, 2.0, n), m.parameter_vector() * rng.uniform(0.8, 1.25, len(m.parameters)), J)
        out.append(J)
        out.append(np.eye(n) / (10.0 ** rng.uniform(-4, 4) * 0.25) - J)
    return m, mod, out


def test_sparse_lu_solves_as_the_dense_lu_does():
    """The generated sparse LU (engine/sparse_lu.py) solves the systems the kernels meet to rounding, and it is
    the one used: its planned factors touch far fewer entries than a dense LU."""
    m, mod, mats = _adult_jacobians(np.random.default_rng(3))
    n = len(m.states)
    entries = sparse_lu.pattern(derivatives.jacobian_columns(m), n)
    order, filled = sparse_lu.plan(entries, n)
    assert sorted(order) == list(range(n)) and entries <= filled and len(filled) < n * n / 3
    used = 0
    for A in mats:
        b = np.linspace(1.0, 2.0, n)
        LU, piv = A.copy(), np.zeros(n, np.int64)
        assert mod._bt_lu(LU, piv)
        used += piv[0] < 0
        x = b.copy()
        mod._bt_lu_solve(LU, piv, x)
        ref = np.linalg.solve(A, b)
        assert np.max(np.abs(x - ref)) <= 1e-10 * np.linalg.cond(A) * np.max(np.abs(ref))
        assert np.max(np.abs(A @ x - b)) <= 1e-11 * np.max(np.abs(A)) * np.max(np.abs(x)) * n
    assert used >= len(mats) * 0.5  # the threshold test sends few of these to the dense LU


def test_sparse_lu_falls_back_to_pivoting_when_a_static_pivot_is_small():
    """A static pivot below the threshold (relative to its column) leaves the matrix untouched and the dense LU
    with partial pivoting answers; a zero pivot with nothing to eliminate is singular either way."""
    m, mod, mats = _adult_jacobians(np.random.default_rng(4), k=2)
    n = len(m.states)
    order, filled = sparse_lu.plan(sparse_lu.pattern(derivatives.jacobian_columns(m), n), n)
    pos = {k: s for s, k in enumerate(order)}
    # the first pivot that is followed by an update (entries below it and right of it)
    k = next(k for k in order if any((i, k) in filled and pos[i] > pos[k] for i in range(n))
             and any((k, j) in filled and pos[j] > pos[k] for j in range(n)))
    A = mats[1].copy()
    i = next(i for i in range(n) if (i, k) in filled and pos[i] > pos[k])
    A[k, k] = 1e-6 * abs(A[i, k]) if A[i, k] else 1e-6
    A[i, k] = A[i, k] or 1.0
    LU = A.copy()
    assert not mod._sp_lu(LU) and np.array_equal(LU, A)  # untouched
    piv = np.zeros(n, np.int64)
    assert mod._bt_lu(LU, piv) and piv[0] >= 0  # the dense factors
    x = np.linspace(1.0, 2.0, n)
    mod._bt_lu_solve(LU, piv, x)
    assert x == pytest.approx(np.linalg.solve(A, np.linspace(1.0, 2.0, n)), rel=1e-9)
    S = mats[0].copy()
    S[:, order[0]] = 0.0
    S[order[0], :] = 0.0
    assert not mod._bt_lu(S.copy(), np.zeros(n, np.int64))


def _complex_step_jacobian(rhs, y, p):
    """Oracle: d(rhs)/dy by complex step on the plain-Python right-hand side (exact to rounding)."""
    n = y.shape[0]
    J = np.empty((n, n))
    out = np.empty(n, np.complex128)
    for j in range(n):
        yc = y.astype(np.complex128)
        yc[j] += 1e-30j
        rhs(yc, p, out)
        J[:, j] = out.imag / 1e-30
    return J


@pytest.mark.parametrize("totals", [False, True])
def test_symbolic_jacobian_equals_complex_step_on_random_points(totals):
    # the generated Jacobian is differentiated symbolically; complex step differentiates the rhs code itself
    m = mgflux.get_model()
    mod = codegen.compiled(m)
    rhs = (mod.rhs_totals if totals else mod.rhs).py_func
    jac = mod.jacobian_totals if totals else mod.jacobian
    rng = np.random.default_rng(7)
    p0, y0 = m.parameter_vector(), m.guess_vector()
    n = len(y0) + (mod.N_TOTALS if totals else 0)
    for _ in range(50):
        p = p0 * np.exp(rng.normal(0.0, 0.4, p0.shape))
        y = np.concatenate([y0 * np.exp(rng.normal(0.0, 0.4, y0.shape)) + 0.01, rng.uniform(0, 50, n - len(y0))])
        J = np.full((n, n), np.nan)
        jac(y, p, J)
        ref = _complex_step_jacobian(rhs, y, p)
        assert np.all(np.isfinite(J))
        assert J == pytest.approx(ref, rel=1e-12, abs=1e-12 * np.max(np.abs(ref)))
        if totals:
            assert not J[:, len(y0):].any()  # nothing depends on a cumulative total


def test_symbolic_derivative_rules():
    import ast

    def d(formula, x=1.3, b=0.7):
        code = derivatives.derivative(ast.parse(formula, mode="eval"), lambda name: "1.0" if name == "x" else None)
        return None if code is None else eval(code, {"np": np, "x": x, "b": b})

    x, b = 1.3, 0.7
    assert d("b * 3") is None  # independent of x: no code at all
    assert d("x ** b") == pytest.approx(b * x ** (b - 1))
    assert d("b ** x") == pytest.approx(b ** x * math.log(b))
    assert d("x ** x") == pytest.approx(x ** x * (math.log(x) + 1))
    assert d("b / x") == pytest.approx(-b / x ** 2)
    assert d("-exp(2 * x) + log(x) - sqrt(x)") == pytest.approx(-2 * math.exp(2 * x) + 1 / x - 0.5 / math.sqrt(x))
    assert d("(x - b) / (1 + x * b)") == pytest.approx((1 + x * b - (x - b) * b) / (1 + x * b) ** 2)
    assert d("x ** 0") is None and d("0 ** x") is None  # not 0 * 0 ** -1 or 0 * log(0): NaN at 0
    assert d("1e200 / x", x=1e200) == pytest.approx(-1e-200)  # x * x would overflow: (a'/b - (a/b) b'/b)


def test_fast_power_is_pow_to_rounding_and_is_what_the_kernels_call():
    """_pw (the generated kernels' x ** e for a parameter exponent): whole and half-whole exponents by
    multiplication and a square root, the rest by pow; the same value to a few ulp, the same inf/nan/sign at the
    edges (0 ** -n is inf, not an exception), in compiled and plain Python, float and complex (the complex step)."""
    mod = codegen.compiled(mgflux.get_model())
    src = mod.__loader__.get_source(mod.__name__) if hasattr(mod, "__loader__") else ""
    assert "_pw(" in src.split("def rhs_q(")[1].split("\ndef ")[0]  # the hot right-hand side calls it
    xs = [0.0, 1e-300, 0.37, 1.0, 1.9, 123.4, -0.8, -2.0, np.inf, np.nan]
    es = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0, 12.0, 15.0, 16.0, 17.0, 40.0, 0.5, 1.5, -0.5, -1.0, -2.0, -10.0, -13.0, -16.0,
          -1.5, 0.3, 2.7, -3.3, np.nan]
    for fn in (mod._pw, mod._pw.py_func):
        for x in xs:
            for e in es:
                x, e = np.float64(x), np.float64(e)  # as the callers pass them: items of float64 arrays
                with np.errstate(all="ignore"):
                    ref = x ** e
                    got = fn(x, e)
                if np.isnan(ref) or np.isinf(ref) or ref == 0.0:
                    assert got == ref or (np.isnan(got) and np.isnan(ref)), (x, e, got, ref)
                else:
                    assert abs(got - ref) <= 8 * np.finfo(float).eps * abs(ref), (x, e, got, ref)
        for x, e in ((np.complex128(1.3 + 1e-25j), np.complex128(4.0)), (np.complex128(1.3), np.complex128(4.0 + 1e-25j)),
                     (np.complex128(0.7 + 1e-25j), np.complex128(-0.5))):
            got, ref = fn(x, e), x ** e
            assert abs(got - ref) <= 1e-15 * abs(ref) and got.imag == pytest.approx(ref.imag, rel=1e-13)


def test_no_steady_state_is_loud(tmp_path):
    # serum only accumulates: no steady state exists
    path = tmp_path / "grow.toml"
    path.write_text(REDUCED.replace('rate = "clearance * conc"', 'rate = "clearance * conc * 0"'))
    m = mgflux.load_model(path)
    with pytest.raises(mgflux.SteadyStateError) as exc:
        steady.steady_state(codegen.compiled(m), m.parameter_vector(), m.guess_vector(), m.state_names)
    msg = str(exc.value)
    assert "damped Newton" in msg and "pseudo-transient" in msg and "serum" in msg
    assert exc.value.drifting[0] == "serum"
    assert len(exc.value.strategies) >= 3


@pytest.mark.slow
def test_integration_failure_names_segment(tmp_path):
    # urine turned into a quadratic source: serum blows up in finite time (about half a day)
    path = tmp_path / "blowup.toml"
    path.write_text(REDUCED.replace('rate = "clearance * conc"', 'rate = "-clearance * conc * serum / gut"'))
    m = mgflux.load_model(path)
    p = m.parameter_vector()
    with pytest.raises(mgflux.IntegrationError, match="segment 2 .*day 1 to 5") as exc:
        timecourse.integrate(codegen.compiled(m), [(0.0, 1.0, p), (1.0, 5.0, p)], np.array([2.0, 3.0]), np.array([0.0, 5.0]),
                         mgflux.RunOptions(max_evaluations=5000), state_names=m.state_names)
    assert "serum=" in str(exc.value)
    msg = str(exc.value)
    assert "tried Rodas4 (stopped at day" in msg and "then LSODA" in msg and "then Radau" in msg, msg
    with pytest.raises(mgflux.IntegrationError, match="Rodas4 .*no fallback was allowed"):
        timecourse.integrate(codegen.compiled(m), [(0.0, 1.0, p), (1.0, 5.0, p)], np.array([2.0, 3.0]), np.array([0.0, 5.0]),
                         mgflux.RunOptions(fallback=None), state_names=m.state_names)


@pytest.mark.parametrize("name", ["healthy.toml", "genes/CLDN16.toml", "drugs/furosemide.toml"])
def test_python_and_numba_backends_agree(name):
    from conftest import SCENARIOS

    sc = mgflux.load_scenario(SCENARIOS / name)
    py = mgflux.steady_state(sc, options=mgflux.SteadyOptions(backend="python"))
    nb = mgflux.steady_state(sc, options=mgflux.SteadyOptions(backend="numba"))
    # the numba backend runs the compiled Newton (Jacobians reused while steps contract), the Python one a full
    # Newton: the same root to within the steady-state tolerance (scaled residual 1e-11 per day)
    for k in mgflux.READOUTS:
        assert py[k] == pytest.approx(nb[k], rel=1e-9, abs=1e-12), k
    assert nb.solver["max_scaled_residual"] < 1e-11 and py.solver["max_scaled_residual"] < 1e-11


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        steady.kernels(None, "gpu")


def test_max_step_bounds_the_rodas4_steps():
    sc = mgflux.load_scenario(__import__("conftest").SCENARIOS / "drugs" / "omeprazole.toml")
    free = mgflux.simulate(sc)
    capped = mgflux.simulate(sc, options=mgflux.RunOptions(max_step=0.5))
    assert capped.solver["method"] == "Rodas4"
    assert capped.solver["steps"] >= sc.duration / 0.5 > free.solver["steps"]
    for k in free.states:
        np.testing.assert_allclose(capped.states[k], free.states[k], rtol=1e-7, atol=1e-10)
    with pytest.raises(ValueError, match="max_step must be positive"):
        mgflux.simulate(sc, options=mgflux.RunOptions(max_step=0.0))
    fine = mgflux.simulate(sc, options=mgflux.RunOptions(max_step=0.02))  # 18,250 forced steps: within budget
    assert fine.solver["method"] == "Rodas4" and "fallback_reason" not in fine.solver
    assert fine.solver["steps"] >= 365 / 0.02


def test_division_by_zero_is_a_solver_error_that_says_what_was_tried(tmp_path):
    # a volume of 0: every derivative is inf/NaN (the kernels return inf rather than raising)
    path = tmp_path / "zero.toml"
    path.write_text(REDUCED.replace("[parameters.volume]\nvalue = 14", "[parameters.volume]\nvalue = 0"))
    m = mgflux.load_model(path)
    assert m.parameter_vector()[m.parameter_index("volume")] == 0
    p = m.parameter_vector()
    with pytest.raises(mgflux.SteadyStateError, match="no steady state found"):
        steady.steady_state(codegen.compiled(m), p, m.guess_vector(), m.state_names)
    with pytest.raises(mgflux.IntegrationError) as exc:
        timecourse.integrate(codegen.compiled(m), [(0.0, 1.0, p)], np.array([2.0, 3.0]), np.array([0.0, 1.0]),
                         state_names=m.state_names)
    msg = str(exc.value)
    assert "Rodas4 (stopped at day 0" in msg and "non-finite" in msg and "LSODA" in msg and "Radau" in msg, msg


def test_model_names_may_not_shadow_the_generated_code(tmp_path):
    text = (models_dir() / "adult.toml").read_text().replace(
        "[expressions]\n", '[expressions]\nJ = { formula = "ecf / ecf_volume", unit = "mM", description = "flux" }\n', 1)
    path = tmp_path / "m.toml"
    path.write_text(text)
    (tmp_path / "modules").mkdir()
    for f in (models_dir() / "modules").glob("*.toml"):
        (tmp_path / "modules" / f.name).write_text(f.read_text())
    with pytest.raises(mgflux.ModelError, match="'J' is reserved"):
        codegen.compiled(mgflux.load_model(path))


def test_unknown_integration_method_names_the_choices():
    sc = mgflux.load_scenario(__import__("conftest").SCENARIOS / "healthy.toml")
    with pytest.raises(ValueError, match=r"unknown integration method 'rodas'.*Did you mean 'Rodas4'"):
        mgflux.simulate(sc, options=mgflux.RunOptions(method="rodas"))
    with pytest.raises(ValueError, match=r"'LSODE'.*Did you mean 'LSODA'"):
        mgflux.simulate(sc, options=mgflux.RunOptions(fallback="LSODE"))
    with pytest.raises(ValueError, match="fallback takes scipy methods"):
        mgflux.simulate(sc, options=mgflux.RunOptions(fallback="Rodas4"))
    run = mgflux.simulate(sc, options=mgflux.RunOptions(method="LSODA"))
    assert run.solver["method"] == "LSODA"
