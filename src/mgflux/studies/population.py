"""Virtual populations: physiological variability (``models/population.toml``, with sources) drawn around a
scenario, solved as one batch of steady states or time courses; incidence of hypomagnesemia."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.batch import nominal, readouts_of, steady_batch
from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model.catalogue import get_catalogue
from ..model.model import Model
from ..model.parameters import factor, parameter_matrix
from ..model.readouts import hypomagnesemia_grade
from ..model.scenario import Scenario, load_scenario
from ..options import Execution, TimecourseOptions
from ..results import BatchResult, Status, TimecourseResult
from ..run import timecourse_batch

# ------------------------------------------------------------------------------------------- populations


@dataclass(frozen=True)
class Variability:
    """Between-person spread of one model parameter (``models/population.toml``)."""

    name: str
    distribution: str
    cv: float
    bounds: tuple[float, float] | None  # unit of the model file
    source: str


@dataclass(frozen=True)
class RiskFactor:
    """A risk factor of the patients who receive a drug (``[[cohort.DRUG.risk_factor]]``): catalogue entry
    *name* at input *dose*, present in a fraction *prevalence* of them. With *doses* and *shares* (a distribution
    in classes, e.g. age groups), each patient who has it draws one of *doses* with probability *shares*; *dose* is
    then their mean."""

    name: str
    dose: float
    prevalence: float
    source: str
    doses: tuple = ()
    shares: tuple = ()

    def draw(self, rng, n: int) -> np.ndarray:
        """Input of this risk factor for *n* patients (0 where absent)."""
        present = rng.random(n) < self.prevalence
        if not self.doses:
            return np.where(present, self.dose, 0.0)
        d = rng.choice(np.asarray(self.doses, float), size=n, p=np.asarray(self.shares, float))
        return np.where(present, d, 0.0)


@dataclass(frozen=True)
class PopulationSpec:
    parameters: tuple[Variability, ...]
    drug_cv: float
    path: Path | None = None
    drug_cv_by_entry: dict = field(default_factory=dict)  # entry name -> its own exposure CV
    cohorts: dict = field(default_factory=dict)  # drug name -> tuple[RiskFactor, ...] (population --all-drugs)

    def exposure_cv(self, name: str) -> float:
        return float(self.drug_cv_by_entry.get(name, self.drug_cv))


def load_population_spec(path=None, model: Model | None = None) -> PopulationSpec:
    """Read the variability file (default ``models/population.toml``) and check it against *model*."""
    import tomllib

    from .._paths import models_dir
    from ..model.model import get_model

    path = Path(path) if path else models_dir() / "population.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MgfluxError(f"population file {path} does not exist") from None
    model = model or get_model("adult")
    out = []
    for name, t in raw.get("parameters", {}).items():
        where = f"{path}: [parameters.{name}]"
        if name not in model.parameter_names:
            raise MgfluxError(unknown_name("parameter", name, model.parameter_names, where))
        dist = t.get("distribution", "lognormal")
        if dist not in ("lognormal", "normal"):
            raise MgfluxError(f"{where}: distribution = {dist!r}; allowed: lognormal, normal")
        cv = float(t.get("cv", -1))
        if not 0 <= cv < 2:
            raise MgfluxError(f"{where}: cv must be in [0, 2)")
        if not str(t.get("source", "")).strip():
            raise MgfluxError(f"{where}: needs a source")
        b = t.get("bounds")
        out.append(Variability(name, dist, cv, tuple(map(float, b)) if b else None, t["source"]))
    dr = raw.get("drug_response", {})
    cat = get_catalogue(model)
    by_entry = {}
    for name, t in dr.get("per_entry", {}).items():
        where = f"{path}: [drug_response.per_entry.{name}]"
        e = cat.lookup(name, where)
        cv = float(t.get("cv", -1))
        if not 0 <= cv < 2:
            raise MgfluxError(f"{where}: cv must be in [0, 2)")
        if not str(t.get("source", "")).strip():
            raise MgfluxError(f"{where}: needs a source")
        by_entry[e.name] = cv
    cohorts = {}
    shared = {}  # drug -> the drug whose treated patients it shares ([cohort.DRUG] same_as = "OTHER")
    for name, t in raw.get("cohort", {}).items():
        where = f"{path}: [cohort.{name}]"
        drug = cat.lookup(name, where)
        if "same_as" in t:
            if t.get("risk_factor"):
                raise MgfluxError(f"{where}: give either same_as or risk_factor entries, not both")
            other = cat.lookup(str(t["same_as"]), f"{where}: same_as")
            shared[drug.name] = (other.name, where)
            continue
        rfs = []
        for r in t.get("risk_factor", []):
            e = cat.lookup(str(r.get("name", "")), where)
            prev = float(r.get("prevalence", -1))
            if not 0 <= prev <= 1:
                raise MgfluxError(f"{where}: risk factor {e.name}: prevalence must be in [0, 1]")
            if not str(r.get("source", "")).strip():
                raise MgfluxError(f"{where}: risk factor {e.name} needs a source")
            doses, shares = r.get("doses"), r.get("shares")
            if (doses is None) != (shares is None):
                raise MgfluxError(f"{where}: risk factor {e.name}: give doses and shares together (one share per dose)")
            if doses is not None:
                try:
                    doses, shares = tuple(float(x) for x in doses), tuple(float(x) for x in shares)
                except (TypeError, ValueError):
                    raise MgfluxError(f"{where}: risk factor {e.name}: doses and shares must be lists of numbers") from None
                if len(doses) != len(shares) or not doses:
                    raise MgfluxError(f"{where}: risk factor {e.name}: {len(doses)} doses but {len(shares)} shares")
                if min(shares) < 0 or abs(sum(shares) - 1) > 0.02:
                    raise MgfluxError(f"{where}: risk factor {e.name}: shares must be >= 0 and add up to 1 "
                                      f"(they add up to {sum(shares):g})")
                if "dose" in r:
                    raise MgfluxError(f"{where}: risk factor {e.name}: give dose or doses/shares, not both")
                total = sum(shares)
                shares = tuple(x / total for x in shares)
                rfs.append(RiskFactor(e.name, sum(d * w for d, w in zip(doses, shares)), prev, r["source"],
                                      doses, shares))
            else:
                rfs.append(RiskFactor(e.name, float(r.get("dose", 1.0)), prev, r["source"]))
        cohorts[drug.name] = tuple(rfs)
    for name, (other, where) in shared.items():
        if other not in cohorts:
            raise MgfluxError(f"{where}: same_as = {other!r} has no [[cohort.{other}.risk_factor]] of its own; "
                              f"drugs with risk factors: {', '.join(sorted(cohorts)) or 'none'}")
        cohorts[name] = cohorts[other]
    return PopulationSpec(tuple(out), float(dr.get("cv", 0.0)), path, by_entry, cohorts)


def _draw(rng, dist: str, mean: float, cv: float, n: int, lo: float, hi: float) -> np.ndarray:
    """n draws with the given mean and CV, truncated to [lo, hi] by redrawing."""
    out = np.empty(n)
    todo = np.arange(n)
    for _ in range(100):
        if dist == "lognormal":
            s = math.sqrt(math.log1p(cv * cv))
            x = mean * np.exp(rng.normal(-0.5 * s * s, s, todo.size))
        else:
            x = rng.normal(mean, cv * abs(mean), todo.size)
        out[todo] = x
        todo = todo[(x < lo) | (x > hi)]
        if not todo.size:
            break
    out[todo] = np.clip(out[todo], lo, hi)
    return out


def parse_incidence(text: str, name: str = "") -> tuple[float, float] | None:
    """Reported incidence range (percent) from a catalogue string: '10-15%', '~30%', '< 30%',
    '10-50% (cyclosporine), 50-98% (tacrolimus)' (the range naming *name* wins), '70-100% ...'.
    '~X%' is read as X +/- a third of X. None when the text gives no number."""
    t = text.replace("\u2013", "-")
    ranges = []
    for m in re.finditer(r"(<|~)?\s*(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*%(\s*\(([^)]*)\))?", t):
        pre, a, b, _, label = m.groups()
        a = float(a)
        if b is not None:
            r = (a, float(b))
        elif pre == "<":
            r = (0.0, a)
        else:
            r = (a * 2 / 3, a * 4 / 3)
        ranges.append((r, (label or "").lower()))
    if not ranges:
        return None
    for r, label in ranges:
        if name and name.lower() in label:
            return r
    if sum(1 for _, label in ranges if label) > 1:  # a class with per-member ranges: any member
        return (min(r[0] for r, _ in ranges), max(r[1] for r, _ in ranges))
    return ranges[0][0]


@dataclass(frozen=True)
class PopulationResult:
    """Virtual patients: per-person parameters drawn from the population file, their steady state (or state
    at day D of the scenario's time course), hypomagnesemia incidence and CTCAE grade distribution (over the
    sets that converged). With a time course, also each patient's nadir of serum total Mg over days 0-D."""

    scenario: str
    batch: BatchResult
    days: float | None = None
    nadir: np.ndarray | None = None  # (N,) lowest serum total Mg on the output grid, NaN where failed
    nadir_day: np.ndarray | None = None
    timecourse: "TimecourseResult | None" = None

    @property
    def n(self) -> int:
        return len(self.batch)

    @property
    def n_ok(self) -> int:
        return int(self.batch.ok.sum())

    @property
    def incidence(self) -> float:
        """Fraction (0-1) of converged patients with serum total Mg < 0.7 mM (at steady state or at day D)."""
        s = self.batch["serum_mg_total_mM"][self.batch.ok]
        return float(np.mean(s < 0.7)) if s.size else math.nan

    @property
    def nadir_incidence(self) -> float:
        """Fraction (0-1) of patients whose serum total Mg fell below 0.7 mM at some time of the course."""
        if self.nadir is None:
            return math.nan
        s = self.nadir[self.batch.ok]
        return float(np.mean(s < 0.7)) if s.size else math.nan

    def grade_distribution(self) -> dict:
        g = self.batch["hypomagnesemia_grade"][self.batch.ok].astype(int)
        return {k: float(np.mean(g == k)) if g.size else math.nan for k in range(5)}

    def nadir_grade_distribution(self) -> dict:
        if self.nadir is None:
            return {}
        g = hypomagnesemia_grade(self.nadir[self.batch.ok])
        return {k: float(np.mean(g == k)) if g.size else math.nan for k in range(5)}

    def to_dict(self) -> dict:
        """What ``mgflux population --json`` prints: :meth:`summary`."""
        return self.summary()

    def dataframe(self):
        """Tidy pandas DataFrame: one row per patient (factor values, status, readouts)."""
        return self.batch.dataframe()

    def summary(self) -> dict:
        s = self.batch["serum_mg_total_mM"][self.batch.ok]
        q = np.percentile(s, [2.5, 50, 97.5]) if s.size else [math.nan] * 3
        out = {"scenario": self.scenario, "n": self.n, "n_ok": self.n_ok, "status": self.batch.status_counts(),
               "days": self.days, "incidence_percent": 100 * self.incidence,
               "grade_percent": {str(k): 100 * v for k, v in self.grade_distribution().items()},
               "serum_mg_total_mM": {"p2.5": float(q[0]), "median": float(q[1]), "p97.5": float(q[2]),
                                     "mean": float(np.mean(s)) if s.size else math.nan}}
        if self.nadir is not None:
            m = self.nadir[self.batch.ok]
            qn = np.percentile(m, [2.5, 50, 97.5]) if m.size else [math.nan] * 3
            d = self.nadir_day[self.batch.ok]
            out["nadir"] = {"incidence_percent": 100 * self.nadir_incidence,
                            "grade_percent": {str(k): 100 * v for k, v in self.nadir_grade_distribution().items()},
                            "serum_mg_total_mM": {"p2.5": float(qn[0]), "median": float(qn[1]), "p97.5": float(qn[2])},
                            "median_day": float(np.median(d)) if d.size else math.nan}
        return out


def population_design(scenario: Scenario, n: int, seed: int = 0, spec: PopulationSpec | None = None,
                      steady: bool = True, cohort: tuple[RiskFactor, ...] = ()):
    """(factors, values (n, k)) for *n* virtual patients of *scenario*: model parameters drawn from *spec*,
    and every drug / condition / treatment input scaled by a per-person exposure factor (one draw per person;
    an entry with its own CV in *spec* gets the same quantile of its own lognormal). *cohort*: risk factors
    of the treated patients, each present (on permanently) in a random fraction *prevalence* of them."""
    model = scenario.model
    spec = spec or load_population_spec(model=model)
    from ..model.patient import scenario_parameter_vector

    rng = np.random.default_rng(seed)
    facs, cols = [], []
    p0 = scenario_parameter_vector(scenario)  # the scenario's patient (size, age, kidney) and diet
    for v in spec.parameters:
        f = factor(scenario, v.name)
        i = f.index
        mean = p0[i] / f.to_internal  # draws centre on the scenario's patient and diet
        lo, hi = v.bounds or f.documented_range or (0.0, math.inf)
        ref = model.parameter_vector()[i]
        if v.name == "diet_mg_intake" and scenario.mg_intake is not None:
            # the scenario's own intake is the population's mean; the bounds move with it (same relative spread)
            mean = scenario.mg_intake / f.to_internal
            lo, hi = lo * scenario.mg_intake / ref, hi * scenario.mg_intake / ref
        elif scenario.patient is not None and v.name != "diet_mg_intake" and ref and p0[i] != ref:
            # a patient of another size: the bounds scale with the parameter
            lo, hi = lo * p0[i] / ref, hi * p0[i] / ref
        cols.append(_draw(rng, v.distribution, mean, v.cv, n, lo, hi))
        facs.append(f)
    exposure = _draw(rng, "lognormal", 1.0, spec.drug_cv, n, 0.0, math.inf) if spec.drug_cv > 0 else np.ones(n)
    s0 = math.sqrt(math.log1p(spec.drug_cv ** 2))
    if s0 > 0:  # the person's standard-normal quantile of exposure, shared by every entry
        z = (np.log(exposure) + 0.5 * s0 * s0) / s0
    else:
        z = rng.standard_normal(n) if spec.drug_cv_by_entry else np.zeros(n)

    def exposure_of(name: str) -> np.ndarray:
        cv = spec.exposure_cv(name)
        if cv == spec.drug_cv:
            return exposure
        s = math.sqrt(math.log1p(cv * cv))
        return np.exp(s * z - 0.5 * s * s)

    seen = {r.name for r in cohort}
    for a in scenario.timed:
        if a.one_off or a.entry.name in seen:
            continue
        if a.entry.kind in ("drug", "condition"):
            seen.add(a.entry.name)
            f = factor(scenario, f"{a.entry.name}.{a.entry.variable}")
            facs.append(f)
            cols.append(a.value * exposure_of(a.entry.name))
    for r in cohort:  # drawn last: the persons and their exposures are the same with or without a cohort
        e = get_catalogue(model).lookup(r.name, "cohort")
        facs.append(factor(scenario, f"{e.name}.{e.variable}"))
        cols.append(r.draw(rng, n))
    return facs, (np.column_stack(cols) if cols else np.zeros((n, 0))), exposure


def population(scenario, n: int = 10000, seed: int = 0, *, days: float | None = None, spec: PopulationSpec | None = None,
               workers: int | None = None, scheduler: str | None = None,
               options: TimecourseOptions = TimecourseOptions(), cohort: tuple[RiskFactor, ...] = (),
               progress=None, execution: Execution | None = None) -> PopulationResult:
    """Virtual population of *scenario*: at steady state with every perturbation on (*days* None), or at day
    *days* of its time course (each patient from the steady state of their own diet, genes and physiology,
    drugs in their windows; batched Rodas4), with each patient's nadir over days 0-D. *cohort*: risk factors
    present in a fraction of the patients (see ``population_design``); in a time course a risk factor acts
    where the scenario applies that entry (``drug_incidence_table`` adds it for the whole run)."""
    from ..model.validate import check_count

    if execution is not None:
        workers, scheduler, progress = execution.workers, execution.scheduler, execution.progress
    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    check_count(n, "n", where="population")
    check_count(seed, "seed", 0, where="population")
    facs, X, _ = population_design(scenario, n, seed, spec, cohort=tuple(cohort))
    model = scenario.model
    factors = {f.name: X[:, j] for j, f in enumerate(facs)}
    if days is None:
        P = parameter_matrix(scenario, facs, X)
        p0 = parameter_matrix(scenario, [], np.zeros((1, 0)))[0]
        res = steady_batch(model, P, warm=nominal(model, p0), workers=workers, scheduler=scheduler, factors=factors,
                           progress=None if scheduler else progress)
        return PopulationResult(scenario.name, res, None)
    days = float(days)
    if not (days > 0 and math.isfinite(days)):
        raise ScenarioError(f"--days must be a positive number of days, not {days:g}")
    from ..model.validate import limits

    if days > limits().inputs["duration"].max:
        raise ScenarioError(f"days = {days:g} is more than {limits().inputs['duration'].max:g} days (150 years, "
                            "longer than a human life)")
    tc = timecourse_batch(scenario, facs, X, days=days, options=options, workers=workers, progress=progress,
                          scheduler=scheduler)
    serum = tc.serum()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(serum).all(axis=1)
    status = np.where(bad & (tc.status == Status.OK), Status.NONFINITE, tc.status)
    nadir = np.where(status == 0, np.nanmin(np.where(np.isfinite(serum), serum, np.inf), axis=1), np.nan)
    nadir_day = np.where(status == 0, tc.time_day[np.argmin(np.where(np.isfinite(serum), serum, np.inf), axis=1)], np.nan)
    seg = int(np.clip(np.searchsorted(tc.edges, days, side="right") - 1, 0, tc.edges.size - 2))
    P_end = tc.Pseg[:, seg]
    Y_end = tc.Y[:, -1]
    rd = readouts_of(model, Y_end, P_end, status)
    rd["nadir_serum_mg_total_mM"] = nadir
    rd["nadir_day"] = nadir_day
    res = BatchResult(model, P_end, Y_end, status, np.full(status.shape, -1), rd, factors)
    return PopulationResult(scenario.name, res, days, nadir, nadir_day, tc)
