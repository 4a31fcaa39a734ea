"""Simulated against reported incidence of hypomagnesemia for every drug of the catalogue."""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import ScenarioError, unknown_name
from ..model.catalogue import get_catalogue
from ..model.scenario import Scenario, load_scenario
from .population import load_population_spec, parse_incidence, population


def drug_scenario_file(name: str) -> Path | None:
    """The shipped course of a drug (``scenarios/drugs/NAME.toml``), if there is one."""
    from .._paths import scenarios_dir

    d = scenarios_dir()
    path = d / "drugs" / f"{name}.toml" if d else None
    return path if path and path.exists() else None


def _time_limited(scenario: Scenario, name: str) -> bool:
    """Whether every application of entry *name* in the scenario stops before the end of the run."""
    apps = [a for a in scenario.timed if a.entry.name == name]
    return bool(apps) and all(a.stop < scenario.duration for a in apps)


MEASURES = ("auto", "steady", "course")


def drug_incidence_table(n: int = 2000, seed: int = 0, intake: str = "300 mg/day", spec=None, workers=None,
                         scheduler=None, progress=None, measure: str = "auto", drugs=None) -> list[dict]:
    """For every drug of the catalogue: simulated incidence of hypomagnesemia in a virtual population, the
    reported incidence (review Table 2) and whether it falls inside. The same virtual persons (seed) for every drug.

    Two measures per drug: ``steady`` (the standard dose on permanently, steady state) and ``course`` (the
    shipped course ``scenarios/drugs/NAME.toml``: patients below 0.7 mM at any time, i.e. by their nadir).
    *measure* ``auto`` uses the course for drugs given for a limited time (aminoglycosides, amphotericin B,
    cisplatin, EGFR antibodies, beta-agonists: their hypomagnesemia is a course's, and the steady state with
    the drug on for ever overstates or misses it) and the steady state for drugs taken indefinitely.
    """
    from ..model.model import get_model
    from ..model.scenario import scenario_from_dict

    if measure not in MEASURES:
        raise ScenarioError(unknown_name("measure", measure, list(MEASURES), "--measure"))
    model = get_model("adult")
    cat = get_catalogue(model)
    spec = spec or load_population_spec(model=model)
    rows = []
    only = None if drugs is None else set(drugs)
    # Table 2's drugs: the calcium module's drugs (cinacalcet, mechanism calcium_pth) are not causes of hypomagnesemia
    drugs = sorted((e for e in cat.entries.values() if e.kind == "drug" and e.mechanism != "calcium_pth"
                    and (only is None or e.name in only)),
                   key=lambda e: e.name)
    it = progress(drugs) if progress else drugs
    for e in it:
        sc = scenario_from_dict({"scenario": {"name": f"{e.name} at the standard dose"}, "diet": {"mg_intake": intake},
                                 "perturbation": [{"name": e.name, "dose": 1.0}]}, where=f"population --all-drugs ({e.name})")
        steady_pct = course_pct = math.nan
        course_desc = ""
        path = drug_scenario_file(e.name)
        course_sc = load_scenario(path) if path is not None else None
        cohort = spec.cohorts.get(e.name, ())
        if cohort:
            # the treated patients' risk factors: on permanently at steady state; over the whole course run
            extra = [{"name": r.name, "dose": r.dose} for r in cohort]
            sc = scenario_from_dict({"scenario": {"name": f"{e.name} at the standard dose"}, "diet": {"mg_intake": intake},
                                     "perturbation": [{"name": e.name, "dose": 1.0}] + extra},
                                    where=f"population --all-drugs ({e.name})")
            if course_sc is not None:
                import tomllib

                raw = tomllib.loads(path.read_text())
                raw["perturbation"] = list(raw.get("perturbation", [])) + extra
                course_sc = scenario_from_dict(raw, where=str(path))
        limited = course_sc is not None and _time_limited(course_sc, e.name)
        use = "steady" if measure == "steady" or course_sc is None else (
            "course" if measure == "course" or limited else "steady")
        pr = None
        if measure != "course" or course_sc is None:
            pr = population(sc, n, seed, spec=spec, workers=workers, scheduler=scheduler, cohort=cohort)
            steady_pct = 100 * pr.incidence
        if course_sc is not None and (measure != "steady" or limited):
            prc = population(course_sc, n, seed, days=course_sc.duration, spec=spec, workers=workers, cohort=cohort)
            course_pct = 100 * prc.nadir_incidence
            apps = [a for a in course_sc.timed if a.entry.name == e.name]
            win = ", ".join(f"days {a.start:g}-{a.stop:g}" if math.isfinite(a.stop) else f"from day {a.start:g}"
                            for a in apps[:3]) + (" ..." if len(apps) > 3 else "")
            course_desc = f"{path.stem}.toml: {win} of {course_sc.duration:g}"
            if use == "course" or pr is None:
                pr = prc
        rep = parse_incidence(e.incidence, e.name)
        note = "; ".join(f"{r.name} in {100 * r.prevalence:g}%" for r in cohort)
        note = f"treated patients: {note}" if note else ""
        if rep is None and "risk factor" in e.incidence:
            rep = (0.0, 10.0)
            note = "; ".join(x for x in (note, "no number ('only with additional risk factors'): read as < 10%") if x)
        sim = course_pct if use == "course" else steady_pct
        inside = None if rep is None or not math.isfinite(sim) else bool(rep[0] <= sim <= rep[1])
        rows.append({"drug": e.name, "simulated_percent": sim, "measure": use, "steady_percent": steady_pct,
                     "course_nadir_percent": course_pct, "course": course_desc, "reported": e.incidence,
                     "reported_range": rep, "inside": inside, "n_ok": pr.n_ok, "n": pr.n, "note": note,
                     "median_serum_mM": pr.summary()["serum_mg_total_mM"]["median"]})
    return rows
