"""Sweeps: a grid or a sample (Latin hypercube, Sobol) of factor values, solved as one batch."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..engine.batch import nominal, steady_batch
from ..errors import ScenarioError, unknown_name
from ..model.parameters import factor, parameter_matrix
from ..model.scenario import Scenario, load_scenario
from ..options import BatchOptions, Execution
from ..results import BatchResult

# ------------------------------------------------------------------------------------------------ sweeps

_VARY = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*([^:]+):([^:]+)(?::(\d+))?(?::(log|lin))?\s*$")


@dataclass(frozen=True)
class Vary:
    name: str
    lo: float
    hi: float
    n: int = 11
    log: bool = False

    def grid(self) -> np.ndarray:
        if self.log:
            return np.geomspace(self.lo, self.hi, self.n)
        return np.linspace(self.lo, self.hi, self.n)


def parse_vary(text: str, log: bool = False) -> Vary:
    """``NAME=LO:HI:N`` (optionally ``:log``) -> :class:`Vary`."""
    m = _VARY.match(text)
    if not m:
        raise ScenarioError(f"--vary {text!r}: expected NAME=LO:HI:N, e.g. gfr=60:150:10 or omeprazole.dose=0:2:21")
    name, lo, hi, n, scale = m.groups()
    try:
        lo, hi = float(lo), float(hi)
    except ValueError:
        raise ScenarioError(f"--vary {text!r}: LO and HI must be numbers") from None
    n = int(n) if n else 11
    is_log = log or scale == "log"
    if n < 1 or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise ScenarioError(f"--vary {text!r}: need LO <= HI and N >= 1")
    if is_log and lo <= 0:
        raise ScenarioError(f"--vary {text!r}: a log scale needs LO > 0")
    return Vary(name, lo, hi, n, is_log)


def design(varies: list[Vary], samples: int | None = None, method: str = "grid", seed: int = 0) -> np.ndarray:
    """Factor values (N, k): a full factorial grid, or *samples* points by Latin hypercube / Sobol."""
    k = len(varies)
    if samples is None or method == "grid":
        grids = np.meshgrid(*[v.grid() for v in varies], indexing="ij")
        return np.column_stack([g.ravel() for g in grids])
    from scipy.stats import qmc

    if method == "lhs":
        u = qmc.LatinHypercube(d=k, seed=seed).random(samples)
    elif method == "sobol":
        import warnings

        sob = qmc.Sobol(d=k, scramble=True, seed=seed)
        with warnings.catch_warnings():  # a power of two is best balanced; other N are allowed, just less so
            warnings.simplefilter("ignore", UserWarning)
            u = sob.random(samples)
    else:
        raise ScenarioError(unknown_name("sampling method", method, ["grid", "lhs", "sobol"], "--method"))
    out = np.empty_like(u)
    for j, v in enumerate(varies):
        if v.log:
            out[:, j] = np.exp(np.log(v.lo) + u[:, j] * (np.log(v.hi) - np.log(v.lo)))
        else:
            out[:, j] = v.lo + u[:, j] * (v.hi - v.lo)
    return out


def sweep(scenario, varies: Sequence[Vary | str], *, samples: int | None = None, method: str = "grid", seed: int = 0,
          log: bool = False, workers: int | None = None, scheduler: str | None = None,
          options: BatchOptions = BatchOptions(), execution: Execution | None = None) -> BatchResult:
    """Steady states over a grid or a sample of factors (model parameters, entry doses/activities).

    *varies*: ``Vary`` objects or the CLI's text ``"NAME=LO:HI[:N][:log]"`` (``"gfr=30:150:13"``,
    ``"omeprazole.dose=0:2:21"``); *log* makes text ranges logarithmic. A full grid by default, or *samples*
    points by ``method="lhs"`` / ``"sobol"``. Returns a :class:`~mgflux.results.BatchResult` (a status per set,
    ``dataframe()``, ``to_dict()``, ``save()``).

    >>> mgflux.sweep("scenarios/healthy.toml", ["gfr=30:150:13"])["serum_mg_total_mM"]
    """
    if execution is not None:
        workers, scheduler = execution.workers, execution.scheduler
    varies = [parse_vary(v, log) if isinstance(v, str) else v for v in varies]
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    facs = [factor(scenario, v.name) for v in varies]
    X = design(varies, samples, method, seed)
    P = parameter_matrix(scenario, facs, X)
    p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
    res = steady_batch(scenario.model, P, warm=nominal(scenario.model, p0), options=options, workers=workers,
                       scheduler=scheduler, factors={f.name: X[:, j] for j, f in enumerate(facs)})
    return res
