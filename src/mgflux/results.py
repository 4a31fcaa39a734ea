"""Results: immutable data, no numerics. Single runs (:class:`SteadyResult`, :class:`RunResult`) and batches
(:class:`BatchResult`, :class:`TimecourseResult`), each with a tidy ``dataframe()`` and ``to_dict()``; the
status codes of the batch engines with their messages."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np

from .errors import MgfluxError
from .model.model import Model
from .model.readouts import as_number


def freeze(a) -> np.ndarray:
    """A read-only copy of *a* (results are frozen)."""
    a = np.array(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SteadyResult:
    """Steady state of a scenario: readouts by name (``result["serum_mg_total_mM"]``), states, solver info."""

    scenario: str
    readouts: MappingProxyType
    states: MappingProxyType
    parameters: MappingProxyType
    notes: tuple[str, ...] = ()
    solver: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    observables: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # every model expression and flux
    warnings: tuple[str, ...] = ()  # implausible input, readouts outside the validated domain

    def __getitem__(self, name: str) -> float:
        return self.readouts[name]

    def to_dict(self) -> dict:
        """Readouts at the top level (DESIGN.md), plus scenario, notes and solver statistics."""
        d = {k: as_number(v) for k, v in self.readouts.items()}
        d["scenario"] = self.scenario
        d["notes"] = list(self.notes)
        d["warnings"] = list(self.warnings)
        d["solver"] = dict(self.solver)
        return d

    def dataframe(self):
        """One-row tidy pandas DataFrame of the readouts."""
        import pandas as pd

        return pd.DataFrame([{"scenario": self.scenario, **{k: v for k, v in self.readouts.items()}}])


@dataclass(frozen=True)
class RunResult:
    """Time course of a scenario: readouts as arrays over ``time_day``, the final values, cumulative totals."""

    scenario: str
    time_day: np.ndarray
    timecourse: MappingProxyType  # readout name -> array
    states: MappingProxyType  # state name -> array
    totals: MappingProxyType  # cumulative boundary fluxes (mmol) -> array
    notes: tuple[str, ...] = ()
    solver: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()  # implausible input, readouts outside the validated domain
    # lowest and highest values from the dense solution (several points per output step and per segment, so
    # that nothing between two output samples is missed): readout -> {"min", "min_day", "max", "max_day"}
    extremes: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.timecourse[name]

    @property
    def final(self) -> dict:
        return {k: as_number(v[-1]) for k, v in self.timecourse.items()}

    @property
    def initial(self) -> dict:
        return {k: as_number(v[0]) for k, v in self.timecourse.items()}

    def time_below(self, threshold_mM: float = 0.7, readout: str = "serum_mg_total_mM") -> dict:
        """Days the readout spends below *threshold_mM* (on the output grid, linear between samples) and the
        first day it is below."""
        t, v = self.time_day, self.timecourse[readout]
        below = v < threshold_mM
        if not below.any():
            return {"days": 0.0, "first_day": None}
        # fraction of each interval below the threshold, by linear interpolation
        days = 0.0
        for i in range(len(t) - 1):
            a, b = v[i] - threshold_mM, v[i + 1] - threshold_mM
            dt = t[i + 1] - t[i]
            if a < 0 and b < 0:
                days += dt
            elif (a < 0) != (b < 0):
                days += dt * (-a if a < 0 else -b) / abs(b - a)
        i = int(np.argmax(below))
        first = t[0] if i == 0 else t[i - 1] + (t[i] - t[i - 1]) * (v[i - 1] - threshold_mM) / (v[i - 1] - v[i])
        return {"days": float(days), "first_day": float(first)}

    def mass_balance_error(self) -> np.ndarray:
        """intake + IV - faeces - urine - change in body Mg (mmol), over time: zero up to the solver tolerance."""
        t = self.totals
        inflow = t["cumulative_intake_mmol"] + t["cumulative_iv_mmol"]
        outflow = t["cumulative_faecal_mmol"] + t["cumulative_urine_mmol"]
        body = self.timecourse["body_mg_mmol"]
        return inflow - outflow - (body - body[0])

    def ca_mass_balance_error(self) -> np.ndarray:
        """Ca intake + net skeletal release - faeces - urine - change in ECF and exchangeable bone Ca (mmol):
        zero up to the solver tolerance (the large skeletal store is a boundary of the model)."""
        t = self.totals
        inflow = t["cumulative_ca_intake_mmol"] + t["cumulative_ca_bone_release_mmol"]
        outflow = t["cumulative_ca_faecal_mmol"] + t["cumulative_ca_urine_mmol"]
        body = self.timecourse["body_ca_exchangeable_mmol"]
        return inflow - outflow - (body - body[0])

    def to_dict(self) -> dict:
        tc = {"time_day": self.time_day.tolist()}
        for k, v in self.timecourse.items():
            tc[k] = v.tolist()
        for k, v in self.totals.items():
            tc[k] = v.tolist()
        return {"scenario": self.scenario, "final": self.final, "initial": self.initial,
                "timecourse": tc, "notes": list(self.notes), "warnings": list(self.warnings),
                "extremes": {k: dict(v) for k, v in self.extremes.items()}, "solver": dict(self.solver)}

    def dataframe(self):
        """Tidy pandas DataFrame: one row per time point, one column per readout."""
        import pandas as pd

        cols = {"scenario": self.scenario, "time_day": self.time_day}
        cols.update({k: v for k, v in self.timecourse.items()})
        cols.update({k: v for k, v in self.totals.items()})
        return pd.DataFrame(cols)

    def to_csv(self, path: str | Path) -> Path:
        """Write the time course as CSV (no pandas needed)."""
        path = Path(path)
        names = ["time_day", *self.timecourse, *self.totals]
        cols = [self.time_day, *self.timecourse.values(), *self.totals.values()]
        data = np.column_stack(cols)
        np.savetxt(path, data, delimiter=",", header=",".join(names), comments="", fmt="%.10g")
        return path


def jsonable(obj):
    """*obj* with numpy scalars and arrays as Python numbers and lists, non-finite floats as None: what every
    ``--json`` prints (``json.dumps(jsonable(result.to_dict()))``), and what the web API returns."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def to_json(obj) -> str:
    """One JSON text of a result's ``to_dict()`` (or any dict of them): the CLI's ``--json``."""
    import json

    return json.dumps(jsonable(obj))


class Status(enum.IntEnum):
    """The outcome of one parameter set (steady state or time course): one enumeration for every engine, each
    member with a short ``label`` (tables, CSV) and a ``message`` (what it means). The kernels write these
    numbers (``BT_*`` and ``TC_*`` in :mod:`mgflux.engine.kernels`)."""

    OK = 0
    NOT_CONVERGED = 1
    UNSTABLE = 2
    NONFINITE = 3
    NEGATIVE = 4
    NO_INITIAL_STEADY_STATE = 5
    INTEGRATION_FAILED = 6

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_LABELS = {
    Status.OK: "ok",
    Status.NOT_CONVERGED: "not_converged",
    Status.UNSTABLE: "unstable",
    Status.NONFINITE: "nonfinite_parameters",
    Status.NEGATIVE: "negative_state",
    Status.NO_INITIAL_STEADY_STATE: "no_initial_steady_state",
    Status.INTEGRATION_FAILED: "integration_failed",
}
_MESSAGES = {
    Status.OK: "converged, stable, every amount >= 0",
    Status.NOT_CONVERGED: "no steady state: chord/Newton, pseudo-transient continuation and cold-start Newton all failed",
    Status.UNSTABLE: "a steady state was found but a Jacobian eigenvalue has a positive real part",
    Status.NONFINITE: "a parameter, state or derivative is not finite",
    Status.NEGATIVE: "a negative amount",
    Status.NO_INITIAL_STEADY_STATE: "no initial steady state to start the time course from",
    Status.INTEGRATION_FAILED: "integration failed: step size too small or step budget exhausted",
}
#: status number -> label, and -> message (for tables indexed by the numbers the kernels write)
STATUS = {int(s): s.label for s in Status}
STATUS_TEXT = {int(s): s.message for s in Status}
STRATEGY = {-1: "none", 0: "chord+Newton (warm)", 1: "Newton (cold)", 2: "PTC+Newton (warm)", 3: "PTC+Newton (cold)"}


@dataclass(frozen=True)
class BatchResult:
    """Steady states of many parameter sets: ``status`` per set (:class:`Status`; 0 = ok), states ``Y``,
    readouts by name (arrays; NaN where the status is not ok), and the factor values that made each set."""

    model: Model
    P: np.ndarray
    Y: np.ndarray
    status: np.ndarray
    strategy: np.ndarray
    readouts: dict
    factors: dict = field(default_factory=dict)  # factor name -> values (N,)
    labels: dict | None = None  # status code -> text (default STATUS)

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def __getitem__(self, name):
        return self.readouts[name]

    def __len__(self):
        return self.status.shape[0]

    def status_counts(self) -> dict:
        lab = self.labels or STATUS
        return {lab[int(s)]: int(np.sum(self.status == s)) for s in np.unique(self.status)}

    def to_dict(self, readouts=None, scenario: str | None = None) -> dict:
        """JSON-ready dict (what ``mgflux sweep --json`` prints): set count, status counts, factor values and
        readouts as lists (NaN as None)."""
        keys = list(readouts or self.readouts)
        d = {} if scenario is None else {"scenario": scenario}
        d.update({"n": len(self), "status": self.status_counts(),
                  "factors": {k: np.asarray(v, dtype=float).tolist() for k, v in self.factors.items()},
                  "readouts": {k: np.asarray(self.readouts[k], dtype=float).tolist() for k in keys}})
        return jsonable(d)

    def dataframe(self, readouts=None):
        """Tidy pandas DataFrame: one row per set; factor columns, status, readouts."""
        import pandas as pd

        cols = {k: v for k, v in self.factors.items()}
        cols["status"] = [(self.labels or STATUS)[int(s)] for s in self.status]
        for k in (readouts or self.readouts):
            cols[k] = self.readouts[k]
        return pd.DataFrame(cols)

    def save(self, path, readouts=None) -> Path:
        """Write the tidy table by the file's suffix: ``.parquet`` (pandas and pyarrow: ``pip install
        "mgflux[parquet]"``) or anything else as CSV."""
        path = Path(path)
        if path.suffix == ".parquet":
            from .io.tables import write_parquet

            write_parquet(self.dataframe(readouts), path)
            return path
        return self.to_csv(path, readouts)

    def to_csv(self, path, readouts=None) -> Path:
        """Write the tidy table as CSV (pandas not needed); a non-finite readout is an empty field. Rows are
        formatted in blocks by one format string (a million rows in a few seconds)."""
        import re

        path = Path(path)
        keys = list(readouts or self.readouts)
        names = list(self.factors) + ["status"] + keys
        labels = self.labels or STATUS
        cols = [np.asarray(self.factors[k], dtype=float).tolist() for k in self.factors]
        cols.append([labels[int(s)] for s in self.status])
        cols += [np.asarray(self.readouts[k], dtype=float).tolist() for k in keys]
        fmt = ",".join(["%.10g"] * len(self.factors) + ["%s"] + ["%.10g"] * len(keys))
        nonfinite = re.compile(r"(?<=,)-?(?:nan|inf)(?=,|$)", re.M)
        with path.open("w", newline="") as fh:
            fh.write(",".join(names) + "\n")
            for lo in range(0, len(self), 100_000):
                rows = zip(*(c[lo:lo + 100_000] for c in cols))
                fh.write(nonfinite.sub("", "\n".join(map(fmt.__mod__, rows))) + "\n")
        return path


# ----------------------------------------------------------------------------------- batched time courses

class Observer(Protocol):
    """What a :class:`TimecourseResult` asks of the engine that made it (``mgflux.engine.batch.OBSERVER``), so
    that results never import the engine: observables and readouts of stored states."""

    def observe_series(self, model: Model, Y: np.ndarray, Pseg: np.ndarray, edges: np.ndarray, t_out: np.ndarray,
                       names: list[str]) -> dict: ...

    def readouts_of(self, model: Model, Y: np.ndarray, P: np.ndarray, status: np.ndarray | None = None) -> dict: ...


@dataclass(frozen=True)
class TimecourseResult:
    """Time courses of many parameter sets of one scenario: states ``Y`` (N, n_times, n_states) at ``time_day``,
    ``status`` per set (:class:`Status`; NO_INITIAL_STEADY_STATE when the initial steady state failed), the segment
    parameters; *observer* computes observables and readouts from them on demand (the engine that ran them)."""

    model: Model
    time_day: np.ndarray
    edges: np.ndarray
    Y: np.ndarray
    Pseg: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    factors: dict = field(default_factory=dict)
    observer: Observer | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def _observer(self) -> Observer:
        if self.observer is None:
            raise MgfluxError("this TimecourseResult was built without an observer (mgflux.timecourses gives one)")
        return self.observer

    def __len__(self):
        return self.status.shape[0]

    def observables(self, names) -> dict:
        """Model observables (N, n_times) by name; NaN for failed sets."""
        return self._observer().observe_series(self.model, self.Y, self.Pseg, self.edges, self.time_day, list(names))

    def serum(self) -> np.ndarray:
        return self.observables(["serum_total"])["serum_total"]

    def status_counts(self) -> dict:
        return {STATUS[int(s)]: int(np.sum(self.status == s)) for s in np.unique(self.status)}

    def readouts(self, names=None) -> dict:
        """Readouts (N, n_times) by name (default: every readout of the model), each time with the parameters
        of its segment (the later one at an edge, as :func:`mgflux.simulate`); NaN for failed sets."""
        N, T, n = self.Y.shape
        seg = np.clip(np.searchsorted(self.edges, self.time_day, side="right") - 1, 0, self.Pseg.shape[1] - 1)
        P = self.Pseg[:, seg].reshape(N * T, -1)
        r = self._observer().readouts_of(self.model, self.Y.reshape(N * T, n), P, np.repeat(self.status, T))
        return {k: v.reshape(N, T) for k, v in r.items() if names is None or k in names}

    def dataframe(self, readouts=None):
        """Tidy pandas DataFrame: one row per set and output time (set, factor values, status, time_day, the
        readouts; default: every readout)."""
        import pandas as pd

        N, T = self.Y.shape[:2]
        cols = {"set": np.repeat(np.arange(N), T)}
        cols.update({k: np.repeat(np.asarray(v, dtype=float), T) for k, v in self.factors.items()})
        cols["status"] = np.repeat([STATUS[int(s)] for s in self.status], T)
        cols["time_day"] = np.tile(self.time_day, N)
        cols.update({k: v.ravel() for k, v in self.readouts(readouts).items()})
        return pd.DataFrame(cols)

    def to_dict(self, readouts=None) -> dict:
        """JSON-ready dict: times, status counts and per set, factor values, readouts as nested lists."""
        return jsonable({"n": len(self), "time_day": self.time_day, "status": self.status_counts(),
                         "set_status": [STATUS[int(s)] for s in self.status],
                         "factors": {k: np.asarray(v, dtype=float) for k, v in self.factors.items()},
                         "readouts": self.readouts(readouts)})
