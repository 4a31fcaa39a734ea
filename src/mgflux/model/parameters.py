"""Parameters: scenario (+ factors) -> parameter vectors and matrices.

A single run's parameters (``base_parameters``, ``parameters_between``, ``steady_parameters``) and a batch's
(``parameter_matrix``, ``segment_parameters``) come from the same modifiers.

Factor names:

- a model parameter (``gfr``, ``diet_mg_intake``...): values in the unit written in the model file
  (``gfr`` in mL/min, ``diet_mg_intake`` in mg/day); it replaces the base value before the scenario's
  perturbations act on it (so a drug that multiplies ``gfr_relative`` still does);
- ``ENTRY.dose`` / ``ENTRY.activity`` / ``ENTRY.amount`` for a catalogue entry (``omeprazole.dose``,
  ``SLC12A3.activity``, ``magnesium_citrate.amount`` in mg/day of elemental Mg, IV rates in mmol/day):
  replaces that entry's input in the scenario,
  or adds the entry (on permanently) when the scenario does not have it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError, unknown_name
from .catalogue import Entry, apply_modifiers, get_catalogue
from .formula import evaluate as _evaluate_formula
from .model import Model
from .scenario import Scenario, output_times


def base_parameters(scenario: Scenario) -> np.ndarray:
    """Model parameters with the diet and lifelong gene variants applied (the start of ``run``): the batch
    builder :func:`parameter_matrix` with one set and no factors."""
    return parameter_matrix(scenario, [], _ONE, steady=False)[0]


def parameters_between(scenario: Scenario, t0: float, t1: float, base: np.ndarray | None = None) -> np.ndarray:
    """Parameters in force during [t0, t1): the genes plus every timed application whose window covers it
    (*base* is accepted for old callers and ignored: the builder starts from the model)."""
    return parameter_matrix(scenario, [], _ONE, steady=False, window=(t0, t1))[0]


_ONE = np.zeros((1, 0))


def steady_parameters(scenario: Scenario) -> tuple[np.ndarray, list[str]]:
    """Parameters with every perturbation and continuous treatment on permanently; notes on what was dropped."""
    notes = []
    for a in scenario.timed:
        if a.one_off:
            notes.append(f"steady ignores the one-off infusion {a.label!r} ({a.value * (a.stop - a.start):.4g} mmol "
                         f"over {24 * (a.stop - a.start):.4g} h): it has no steady state; use `run` to see it")
            continue
    if any(not a.one_off and (a.start > 0 or math.isfinite(a.stop)) for a in scenario.timed):
        notes.append("steady applies every perturbation and treatment permanently (windows ignored)")
    return parameter_matrix(scenario, [], _ONE)[0], notes


# -------------------------------------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """Something a sweep varies: a model parameter (``index``) or a catalogue entry's input (``entry``)."""

    name: str
    index: int = -1  # model parameter
    to_internal: float = 1.0  # internal value per display unit (model file unit; mg/day for oral Mg salts)
    unit: str = ""
    entry: Entry | None = None
    documented_range: tuple[float, float] | None = None  # in the display unit

    @property
    def is_parameter(self) -> bool:
        return self.entry is None


def factor(scenario: Scenario, name: str, flag: str = "--vary") -> Factor:
    """Resolve a factor name against the scenario's model and catalogue (did-you-mean on errors naming *flag*,
    the option that gave the name: ``--vary``, ``--estimate``)."""
    model = scenario.model
    if "." in name:
        ename, var = name.split(".", 1)
        entry = get_catalogue(model).lookup(ename, flag)
        if var != entry.variable:
            raise ScenarioError(f"{flag} {name}: {entry.name} is a {entry.kind}; its input is "
                                f"{entry.name}.{entry.variable} (not {var!r})")
        lo, hi = entry.activity_range if entry.kind == "gene" else entry.dose_range
        unit = {"activity": "residual activity", "dose": "x standard dose", "amount": entry.amount_unit or "mmol/day"}
        conv = 1.0
        if var == "amount" and entry.route == "oral" and not entry.amount_unit:
            # oral Mg salts are prescribed in mg of elemental Mg per day: sweep in that unit
            from ..model.units import MG_MOLAR_MASS_G_PER_MOL

            unit["amount"], conv = "mg/day", 1.0 / MG_MOLAR_MASS_G_PER_MOL
        return Factor(name, entry=entry, unit=unit[var], to_internal=conv,
                      documented_range=(lo, hi) if math.isfinite(hi) else None)
    if name not in model.parameter_names:
        raise ScenarioError(unknown_name("parameter or ENTRY.dose/activity/amount", name, model.parameter_names, flag))
    from ..model import units as _units

    i = model.parameter_index(name)
    par = model.parameters[i]
    conv = _units.to_internal(_units.registry().Quantity(1.0, par.unit))
    rng = None if par.range is None else (par.range[0] / conv, par.range[1] / conv)
    return Factor(name, index=i, to_internal=conv, unit=par.unit, documented_range=rng)


def _affine(model: Model, mods) -> tuple[np.ndarray, np.ndarray]:
    """apply_modifiers is affine in the base vector: p = base * M + A."""
    m = len(model.parameters)
    A = apply_modifiers(model, np.zeros(m), mods)
    M = apply_modifiers(model, np.ones(m), mods) - A
    return M, A


def _entry_affine(model: Model, entry: Entry, values: np.ndarray, phase: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(M, A) of shape (len(values), n_parameters): the entry at each input value maps p to p * M + A (as
    ``apply_modifiers``: multipliers, then additions); *phase*: that phase of a scheduled entry's dosing cycle
    (None: the cycle means). Vectorised over the values; checked against the scalar path on a few of them (any
    difference: the scalar path for all)."""
    values = np.asarray(values, dtype=float)
    m = len(model.parameters)
    U = values.size
    M = np.ones((U, m))
    A = np.zeros((U, m))
    try:
        env = dict(entry.constants)
        env[entry.variable] = values
        s = None
        if phase is not None and entry.schedule is not None:
            s = entry.schedule.phases[phase].strength
        with np.errstate(all="ignore"):
            for e in entry.effects:
                i = model.parameter_index(e.parameter)
                pulsed = s is not None and e.parameter in entry.schedule.parameters
                if e.multiply:
                    mult = _evaluate_formula(e.multiply, env)
                    M[:, i] *= (1.0 + s * (mult - 1.0)) if pulsed else mult
                if e.add:
                    add = _evaluate_formula(e.add, env)
                    A[:, i] += s * add if pulsed else add
        for u in {0, U // 2, U - 1} if U else ():
            Mu, Au = _affine(model, entry.modifiers(float(values[u]), phase))
            if not (np.allclose(Mu, M[u], rtol=1e-13, atol=0, equal_nan=True)
                    and np.allclose(Au, A[u], rtol=1e-13, atol=1e-300, equal_nan=True)):
                raise ValueError("vectorised modifiers differ")
    except Exception:
        for u, v in enumerate(values):
            M[u], A[u] = _affine(model, entry.modifiers(float(v), phase))
    return M, A


def parameter_matrix(scenario: Scenario, factors: list[Factor], values: np.ndarray, *, steady: bool = True,
                     window: tuple[float, float] | None = None) -> np.ndarray:
    """Parameter sets (N, n_parameters) of *scenario* with the factors set to *values* (N, k).

    steady=True: every perturbation and continuous treatment on (as ``mgflux.steady_state``); otherwise the
    applications active in *window* (None: the genes only, as the start of ``run``).
    """
    model = scenario.model
    values = np.atleast_2d(np.asarray(values, dtype=float))
    N = values.shape[0]
    from .patient import scenario_parameter_vector

    base = scenario_parameter_vector(scenario)  # patient and diet
    B = np.repeat(base[None, :], N, axis=0)
    varied_entries = {f.entry.name for f in factors if f.entry is not None}
    fixed = []
    for a in scenario.applications:
        if a.entry.name in varied_entries:
            continue
        if a.lifelong:
            fixed.extend(a.modifiers())
        elif steady and not a.one_off:
            fixed.extend(a.modifiers())
        elif not steady and window is not None and a.active(*window):
            fixed.extend(a.modifiers(a.phase_at(window[0])))
    M, A = _affine(model, fixed)
    Mt = np.repeat(M[None, :], N, axis=0)
    At = np.repeat(A[None, :], N, axis=0)
    for j, f in enumerate(factors):
        col = values[:, j]
        if f.is_parameter:
            B[:, f.index] = col * f.to_internal
            continue
        uniq, inv = np.unique(col, return_inverse=True)
        phase = None
        if not steady and window is not None and f.entry.schedule is not None:
            phase = next((a.phase_at(window[0]) for a in scenario.applications
                          if a.entry.name == f.entry.name and a.active(*window)), None)
        Ms, As = _entry_affine(model, f.entry, uniq * f.to_internal, phase)
        Mt *= Ms[inv]
        At += As[inv]
    return B * Mt + At


def run_edges(scenario: Scenario, days: float | None = None) -> np.ndarray:
    """Segment boundaries of a run to day *days* (default: the scenario's duration): 0, every window edge
    and phase boundary of a scheduled drug inside, the end (:meth:`Scenario.edges`)."""
    return np.array(scenario.edges(days))


#: the output grid of a batch of time courses is the single run's (one definition: model/scenario.py)
run_times = output_times


@dataclass(frozen=True, eq=False)
class SegmentParameters:
    """The parameters of every segment of a batch of time courses, stored once per distinct segment: ``unique``
    (N, U, m) and ``index`` (n_segments,) into it. A daily-pulsed drug makes two segments a day that repeat the
    same few parameter sets, so a year of 10,000 patients needs U sets, not 730. Indexes like the full array
    (N, n_segments, m): ``P[:, s]``, ``P[k, s]``, ``P[:, segs]``; ``np.asarray(P)`` materialises it."""

    unique: np.ndarray
    index: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.unique.shape[0], self.index.shape[0], self.unique.shape[2])

    ndim = 3

    def __len__(self):
        return self.unique.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        rows = key[0]
        seg = key[1] if len(key) > 1 else slice(None)
        rest = key[2:]
        u = self.index[seg]
        if isinstance(rows, (int, np.integer)):
            return self.unique[(rows, u) + rest]
        return self.unique[rows][(slice(None), u) + rest]

    def rows(self, lo: int, hi: int) -> SegmentParameters:
        return SegmentParameters(self.unique[lo:hi], self.index)

    def __array__(self, dtype=None, copy=None):
        a = self.unique[:, self.index]
        return a if dtype is None else a.astype(dtype)


def distinct_segments(scenario: Scenario, edges) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(index (n_segments,), the first window of each distinct segment): segments with the same applications in
    force, each in the same phase of its dosing cycle, have the same parameters."""
    edges = np.asarray(edges, dtype=float)
    index = np.empty(edges.size - 1, np.int64)
    seen: dict = {}
    firsts = []
    for s in range(edges.size - 1):
        w = (float(edges[s]), float(edges[s + 1]))
        sig = tuple((i, a.phase_at(w[0])) for i, a in enumerate(scenario.applications) if a.active(*w))
        if sig not in seen:
            seen[sig] = len(firsts)
            firsts.append(w)
        index[s] = seen[sig]
    return index, firsts


def segment_parameters(scenario: Scenario, factors: list[Factor], values: np.ndarray, edges) -> tuple[np.ndarray, SegmentParameters]:
    """(base (N, m), Pseg (N, n_segments, m) as :class:`SegmentParameters`): the parameters at the start (diet,
    genes, varied model parameters; no timed application) and in each segment (the applications whose window
    covers it, in the phase of their dosing cycle, a varied entry taking its per-set value only where one of its
    applications is active). Segments with the same applications in the same phases share one parameter set."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    N = values.shape[0]
    pcols = [j for j, f in enumerate(factors) if f.is_parameter]
    pf = [factors[j] for j in pcols]
    base = parameter_matrix(scenario, pf, values[:, pcols] if pcols else np.zeros((N, 0)), steady=False)
    index, firsts = distinct_segments(scenario, edges)
    unique = np.empty((N, len(firsts), base.shape[1]))
    for u, w in enumerate(firsts):
        cols = [j for j, f in enumerate(factors)
                if f.is_parameter or any(a.entry.name == f.entry.name and a.active(*w) for a in scenario.applications)]
        unique[:, u] = parameter_matrix(scenario, [factors[j] for j in cols],
                                        values[:, cols] if cols else np.zeros((N, 0)), steady=False, window=w)
    return base, SegmentParameters(unique, index)


def parameter_sets(scenario: Scenario, factors: dict | None = None, *, steady: bool = True,
                   window: tuple[float, float] | None = None) -> np.ndarray:
    """The one parameter builder: parameter sets (N, n_parameters) of *scenario* with *factors* (``{name:
    values}``, names as ``sweep --vary`` or :class:`Factor` objects; scalars broadcast) set per row. Without factors: one row, the
    scenario itself (a single run is a batch of one). *steady* and *window* as :func:`parameter_matrix`."""
    if not factors:
        return parameter_matrix(scenario, [], _ONE, steady=steady, window=window)
    facs = [f if isinstance(f, Factor) else factor(scenario, f) for f in factors]
    cols = np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, dtype=float)) for v in factors.values()])
    return parameter_matrix(scenario, facs, np.column_stack(cols), steady=steady, window=window)
