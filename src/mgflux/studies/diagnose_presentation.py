"""Patient data besides the labs: age at presentation and extra-renal features, P(presentation | cause).

The data and their rules are in ``models/clinical/presentation.toml`` (a source and an evidence level per line).
:func:`log_factor` is the log of P(presentation | candidate) for the data a patient gives (an age band, features
known present or absent); what is not given is left out for every candidate alike. The factor multiplies the
likelihood of the labs in :func:`mgflux.studies.diagnose.diagnose` and in the round trip.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._paths import models_dir
from ..errors import ModelError, ScenarioError, unknown_name

GRADE_WORDS = ("typical", "reported")


def presentation_file() -> Path:
    return models_dir() / "clinical" / "presentation.toml"


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict:
    return tomllib.loads(Path(path).read_text())


def load_spec() -> dict:
    p = presentation_file()
    return _load(str(p), p.stat().st_mtime)


# ------------------------------------------------------------------------------------------ patient data


@dataclass(frozen=True)
class Presentation:
    """What a patient presents with besides the labs: age at presentation (years) and features known present
    (True) or absent (False). Empty: nothing to weigh."""

    age_years: float | None = None
    features: dict = field(default_factory=dict)
    age_from: str = ""  # "onset_age" or "[patient] age"

    def __bool__(self) -> bool:
        return self.age_years is not None or bool(self.features)

    def band(self, spec: dict | None = None) -> str | None:
        return age_band(self.age_years, spec)

    def to_dict(self, spec: dict | None = None) -> dict:
        return {"age_years": self.age_years, "age_band": self.band(spec), "age_from": self.age_from,
                "features": dict(self.features)}


def age_band(age_years: float | None, spec: dict | None = None) -> str | None:
    if age_years is None:
        return None
    spec = spec or load_spec()
    for name, (lo, hi) in spec["age_bands"].items():
        if lo <= age_years < hi:
            return name
    return None


def _age(value, where: str, key: str) -> float:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: {key} = {value!r} needs a unit, e.g. {key} = \"{value} year\" (or \"4 week\")")
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {key} = {value!r} must be a quantity such as \"14 year\"")
    from ..model.patient import _plain  # plain pint conversion, the [patient] age's rule

    years = _plain(value, "year", where, key)
    if not (math.isfinite(years) and 0.0 <= years <= 110.0):
        raise ScenarioError(f"{where}: {key} = {value!r} is outside the allowed range 0 (term newborn) to 110 year")
    return float(years)


def parse_presentation(raw, patient: dict | None = None, where: str = "<labs>") -> Presentation:
    """The ``[presentation]`` table of a LABS file (``onset_age`` and features as true/false) with the ``[patient]``
    age as the age at presentation when ``onset_age`` is not given. Clear errors (did-you-mean) for bad input."""
    spec = load_spec()
    raw = {} if raw is None else raw
    w = f"{where}: [presentation]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: [presentation] must be a table, e.g. [presentation] onset_age = \"3 year\", "
                            "sensorineural_deafness = true")
    allowed = ["onset_age", *spec["features"]]
    features = {}
    age, age_from = None, ""
    for k, v in raw.items():
        if k == "onset_age":
            age, age_from = _age(v, w, k), "onset_age"
        elif k in spec["features"]:
            if not isinstance(v, bool):
                raise ScenarioError(f"{w}: {k} = {v!r} must be true (present) or false (absent); leave it out when "
                                    "it is not known")
            features[k] = v
        else:
            raise ScenarioError(unknown_name("key", k, allowed, w))
    if age is None and patient and "age" in patient:
        age, age_from = _age(patient["age"], f"{where}: [patient]", "age"), "[patient] age"
    return Presentation(age, features, age_from)


# ------------------------------------------------------------------------------------- cause profiles


@dataclass(frozen=True)
class Profile:
    """P(age band) over the spec's bands and P(feature present) per feature, for one candidate."""

    age: tuple
    features: tuple
    basis: str = ""  # where the numbers come from (data, reference, no data, ...)


class Profiles:
    """Each catalogue entry's presentation profile under the rules of presentation.toml (*rule*: the [rule] table
    of band weights, or another such table, e.g. "rule_mild"; *flat_reference*: every band typical for the
    reference population, the round trip's sensitivity row)."""

    def __init__(self, cat, *, rule: str = "rule", flat_reference: bool = False, spec: dict | None = None):
        from ..model.validate import limits

        self.spec = spec or load_spec()
        self.cat = cat
        self.lim = limits()
        self.bands = list(self.spec["age_bands"])
        self.feature_names = list(self.spec["features"])
        w = self.spec[rule]
        self.weights = {"typical": float(w["typical"]), "reported": float(w["reported"]),
                        "not_reported": float(w["not_reported"])}
        self.background = np.array([float(self.spec["features"][f]["background"]) for f in self.feature_names])
        self.onset = {}
        for line in self.spec.get("onset", []):
            self.onset[cat.lookup(line["cause"], "presentation.toml [[onset]]").name] = line
        self.shares = {}
        grades = self.spec["rule"]["grades"]
        for line in self.spec.get("feature_share", []):
            name = cat.lookup(line["cause"], "presentation.toml [[feature_share]]").name
            if line["feature"] not in self.spec["features"]:
                raise ModelError(unknown_name("feature", line["feature"], self.feature_names,
                                              "presentation.toml [[feature_share]]"))
            if "patients" in line:
                k, n = line["patients"]
                p = (k + 1.0) / (n + 2.0)
            else:
                p = float(grades[line["grade"]])
            self.shares[(name, line["feature"])] = p
        self.no_data = {cat.lookup(line["cause"], "presentation.toml [[no_data]]").name
                        for line in self.spec.get("no_data", [])}
        ref = self.spec["reference"]
        self.reference_age = (np.full(len(self.bands), 1.0 / len(self.bands)) if flat_reference
                              else self._bands(ref.get("typical", []), ref.get("reported", [])))
        self._kind_mean = {}

    def _bands(self, typical, reported) -> np.ndarray:
        for b in (*typical, *reported):
            if b not in self.bands:
                raise ModelError(unknown_name("age band", b, self.bands, "presentation.toml"))
        v = np.array([self.weights["typical"] if b in typical else self.weights["reported"] if b in reported
                      else self.weights["not_reported"] for b in self.bands])
        return v / v.sum()

    def _line(self, name: str):
        if name in self.onset:
            return self.onset[name]
        cls = self.lim.class_of(name)
        return self.onset.get(cls) if cls else None

    def _described(self, name: str, carrier: bool) -> tuple[np.ndarray, np.ndarray, str] | None:
        """An entry's own (age, features) from its lines; None if it has no data (the kind's mean applies)."""
        if carrier:
            return self.reference_age, self.background.copy(), "carrier: reference population"
        e = self.cat.lookup(name)
        if name in self.no_data:
            return None
        line = self._line(name)
        if line is None and e.kind == "gene":
            return None  # a gene without an onset line: unknown, as no_data
        age = (self._bands(line.get("typical", []), line.get("reported", [])) if line is not None
               else self.reference_age)
        feats = self.background.copy()
        cls = self.lim.class_of(name)
        for j, f in enumerate(self.feature_names):
            if (name, f) in self.shares:
                feats[j] = self.shares[(name, f)]
            elif cls and (cls, f) in self.shares:
                feats[j] = self.shares[(cls, f)]
        basis = "data" if line is not None else "reference ages (no [[onset]] line)"
        return age, feats, basis

    def _mean_of_kind(self, kind: str):
        if kind not in self._kind_mean:
            ages, feats = [], []
            for e in self.cat.by_kind(kind):
                d = self._described(e.name, False)
                if d is not None and (kind != "gene" or e.name in self.onset):
                    ages.append(d[0])
                    feats.append(d[1])
            self._kind_mean[kind] = ((np.mean(ages, axis=0), np.mean(feats, axis=0)) if ages
                                     else (self.reference_age, self.background.copy()))
        return self._kind_mean[kind]

    def entry(self, name: str, inp=None) -> Profile:
        """The profile of one catalogue entry at input *inp* (a genotype for genes)."""
        e = self.cat.lookup(name)
        carrier = e.kind == "gene" and inp == "heterozygous" and e.patient_genotype == "homozygous"
        d = self._described(e.name, carrier)
        if d is None:
            age, feats = self._mean_of_kind(e.kind)
            return Profile(tuple(age), tuple(feats), f"no data: mean of the catalogue's {e.kind}s with data")
        return Profile(tuple(d[0]), tuple(d[1]), d[2])

    def reference(self) -> Profile:
        return Profile(tuple(self.reference_age), tuple(self.background), "reference population")

    def combine(self, profiles) -> Profile:
        """Several entries in one person: ages by the product of band probabilities (renormalised), a feature
        present unless absent under every entry (the background counted once)."""
        profiles = list(profiles)
        if not profiles:
            return self.reference()
        if len(profiles) == 1:
            return profiles[0]
        age = np.prod([np.asarray(p.age) for p in profiles], axis=0)
        age = age / age.sum()
        b = self.background
        absent = (1.0 - b) * np.prod([(1.0 - np.asarray(p.features)) / (1.0 - b) for p in profiles], axis=0)
        return Profile(tuple(age), tuple(np.clip(1.0 - absent, 0.0, 1.0)), " + ".join(p.basis for p in profiles))

    def cause(self, entries, medications=()) -> Profile:
        """A candidate's profile: its entries and the known medications (given: the medications' own profile
        enters by the product rule)."""
        return self.combine([self.entry(n, v) for n, v in (*medications, *entries)])


def log_factor(profiles, pres: Presentation, spec: dict | None = None) -> np.ndarray:
    """log P(presentation | candidate) for each profile: the age band's probability and, per feature given,
    p (present) or 1 - p (absent). 0 for every candidate when nothing is given."""
    spec = spec or load_spec()
    out = np.zeros(len(profiles))
    if not pres:
        return out
    bands = list(spec["age_bands"])
    feats = list(spec["features"])
    b = pres.band(spec)
    for i, p in enumerate(profiles):
        lf = 0.0
        if b is not None:
            lf += math.log(max(p.age[bands.index(b)], 1e-300))
        for f, present in pres.features.items():
            q = p.features[feats.index(f)]
            lf += math.log(max(q if present else 1.0 - q, 1e-300))
        out[i] = lf
    return out


def draw(profile: Profile, rng: np.random.Generator, spec: dict | None = None, *, features: bool = True,
         age: bool = True) -> Presentation:
    """A presentation drawn from a profile (the round trip's patients): an age band from its probabilities (the
    age is the band's middle, 70 years for the open top band) and each feature present with its probability."""
    spec = spec or load_spec()
    bands = list(spec["age_bands"])
    u = rng.random(1 + len(spec["features"]))  # always the same number of draws: designs share them
    years = None
    if age:
        k = int(np.searchsorted(np.cumsum(profile.age), u[0] * sum(profile.age), side="right"))
        k = min(k, len(bands) - 1)
        lo, hi = spec["age_bands"][bands[k]]
        years = float(lo + (min(hi, 80.0) - lo) / 2.0)
    fs = {}
    if features:
        for j, f in enumerate(spec["features"]):
            fs[f] = bool(u[1 + j] < profile.features[j])
    return Presentation(years, fs, "drawn")


QUESTION_MIN_DIFFERENCE = 0.3  # a feature is worth asking when the top candidates' shares differ by this much


def questions(profiles, names, pres: Presentation, spec: dict | None = None) -> list[dict]:
    """Patient data not given that would separate the top candidates: the age at presentation (when the top
    candidates' typical bands differ) and each feature not given whose share differs by >= QUESTION_MIN_DIFFERENCE
    between two of them; largest difference first."""
    spec = spec or load_spec()
    if len(profiles) < 2:
        return []
    out = []
    bands = list(spec["age_bands"])
    if pres.age_years is None:
        def typical(p):
            return "/".join(b for b, x in zip(bands, p.age) if x >= 0.99 * max(p.age))

        if len({typical(p) for p in profiles}) > 1:
            out.append({"ask": "age at presentation ([presentation] onset_age or [patient] age)", "difference": 1.0,
                        "top_candidates": {n: typical(p) for n, p in zip(names, profiles)}})
    for j, f in enumerate(spec["features"]):
        if f in pres.features:
            continue
        v = [p.features[j] for p in profiles]
        diff = max(v) - min(v)
        if diff >= QUESTION_MIN_DIFFERENCE:
            out.append({"ask": f, "difference": float(diff),
                        "top_candidates": {n: f"{x:.2f}" for n, x in zip(names, v)}})
    return sorted(out, key=lambda q: -q["difference"])


def describe(pres: Presentation, spec: dict | None = None) -> str:
    spec = spec or load_spec()
    bits = []
    if pres.age_years is not None:
        bits.append(f"age at presentation {pres.age_years:.3g} y ({pres.band(spec)}; from {pres.age_from})")
    present = [f for f, v in pres.features.items() if v]
    absent = [f for f, v in pres.features.items() if not v]
    if present:
        bits.append("present: " + ", ".join(present))
    if absent:
        bits.append("absent: " + ", ".join(absent))
    return "; ".join(bits)
