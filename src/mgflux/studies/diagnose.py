"""A model-based differential of hypomagnesaemia: which catalogue cause reproduces a patient's labs best.

Every candidate cause (genes homozygous and heterozygous, drugs at their usual dose, conditions at their typical
severity, and the two-hit combinations of ``models/clinical/diagnosis.toml``) is simulated as a virtual
population (the between-person variability of ``models/population.toml``; the batch steady-state engine).
The likelihood of the labs under a cause is a Gaussian kernel density of its simulated patients on the scale
z = log(lab + a), with the cause's covariance between labs (smoothed by Scott's rule) and each lab's measurement
error (diagnosis.toml) added:

    L(cause) = mean_i N(z(labs); z(patient_i), h^2 S_cause + E)

The score is the posterior share with equal prior weight on every candidate. Known medications are on in every
candidate (the ranking conditions on them); a ``[patient]`` gfr fixes that parameter. Candidates whose
modifiers are identical at their usual input (a drug class and its members) are one candidate.

This ranks mechanisms in a model; it is not a clinical diagnosis.
"""
from __future__ import annotations

import hashlib
import json
import math
import tomllib
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._paths import cache_dir, models_dir
from ..errors import MgfluxError, ScenarioError, unknown_name
from ..model import scenario as _scenario
from ..model import units as _units
from ..model.catalogue import MECHANISMS, get_catalogue
from ..model.model import Model, get_model
from ..model.scenario import scenario_from_dict
from ..run import steady_states
from .population import load_population_spec, population_design

CAVEAT = ("mgflux ranks mechanisms in a model of Mg homeostasis by how well each reproduces these labs; it is "
          "not a clinical diagnosis. Causes outside the catalogue, measurement errors other than those assumed, "
          "and everything the model leaves out (acid-base, K, volume status, the history) are not weighed.")
_LABS_KEYS = {"labs", "patient", "medications", "diet", "name"}


def diagnosis_file() -> Path:
    return models_dir() / "clinical" / "diagnosis.toml"


def _spec() -> dict:
    return tomllib.loads(diagnosis_file().read_text())


# ----------------------------------------------------------------------------------------------- labs


def convert_lab(name: str, value, spec: dict, where: str = "[labs]") -> float:
    """A lab value (pint quantity string, or a number in the lab's unit) in the unit of its readout."""
    import pint  # on first use (a warm `mgflux steady` does not import pint)

    lab = spec["labs"][name]
    unit = lab["unit"]
    ureg = _units.registry()
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: {name} = {value!r} must be a number or a quantity such as \"0.6 mmol/L\"")
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        q = _units.parse(value, where=where, key=name)
        target = ureg.Quantity(1.0, unit)
        try:
            if q.dimensionality == target.dimensionality:
                v = float(q.to(unit).magnitude)
            elif "molar_mass_g_per_mol" in lab:
                mm = ureg.Quantity(lab["molar_mass_g_per_mol"], "g/mol")
                v = float((q / mm).to(unit).magnitude)
            else:
                raise ValueError
        except (ValueError, pint.errors.PintError):
            raise ScenarioError(f"{where}: {name} = {value!r} has unit '{q.units:~}', which cannot be converted "
                                f"to '{unit}'" + (" (or a mass concentration)" if "molar_mass_g_per_mol" in lab else "")
                                ) from None
    if not math.isfinite(v) or v < 0:
        raise ScenarioError(f"{where}: {name} = {value!r} must be finite and >= 0")
    lo, hi = lab.get("plausible", (0.0, math.inf))
    if not lo <= v <= hi:
        warnings.warn(f"{where}: {name} = {value!r} ({v:.4g} {unit}) is outside the plausible range {lo:g}-{hi:g} "
                      f"{unit}: taken as given (check the value and its unit)", stacklevel=3)
    return v


def measurement_sd(spec_lab: dict, value) -> np.ndarray:
    return np.sqrt(spec_lab.get("abs_sd", 0.0) ** 2 + (spec_lab.get("cv", 0.0) * np.asarray(value)) ** 2)


@dataclass(frozen=True)
class Labs:
    """A patient's labs (in readout units), known medications [(name, dose)], patient data, diet."""

    values: dict
    medications: tuple = ()
    patient: dict = field(default_factory=dict)
    mg_intake: float | None = None  # mmol/day
    name: str = "patient"


def load_labs(path_or_dict, where: str | None = None) -> Labs:
    """Read a LABS file (``[labs]``, optional ``[patient]``, ``medications = [...]``, ``[diet] mg_intake``)."""
    if isinstance(path_or_dict, dict):
        raw, where = path_or_dict, where or "<labs>"
    else:
        path = Path(path_or_dict)
        where = str(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ScenarioError(f"labs file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    for k in raw:
        if k not in _LABS_KEYS:
            raise ScenarioError(unknown_name("key", k, _LABS_KEYS, where))
    spec = _spec()
    labs = raw.get("labs", {})
    if not isinstance(labs, dict) or not labs:
        raise ScenarioError(f"{where}: needs a [labs] table with at least one of: {', '.join(spec['labs'])}")
    values = {}
    for k, v in labs.items():
        if k not in spec["labs"]:
            raise ScenarioError(unknown_name("lab", k, spec["labs"], f"{where}: [labs]"))
        values[k] = convert_lab(k, v, spec, f"{where}: [labs]")
    meds = []
    cat = get_catalogue(get_model())
    m = raw.get("medications", [])
    if not isinstance(m, list):
        raise ScenarioError(f"{where}: medications must be a list such as [\"omeprazole\"] or "
                            "[{name = \"omeprazole\", dose = 1.0}]")
    for item in m:
        name, dose = (item, 1.0) if isinstance(item, str) else (item.get("name"), item.get("dose", 1.0)) \
            if isinstance(item, dict) else (None, None)
        if not isinstance(name, str):
            raise ScenarioError(f"{where}: medications: {item!r} must be a name or {{name = ..., dose = ...}}")
        e = cat.lookup(name, f"{where}: medications")
        if e.kind not in ("drug", "condition", "treatment"):
            raise ScenarioError(f"{where}: medications: {name!r} is a {e.kind}; medications are drugs, conditions "
                                "or treatments")
        meds.append((e.name, dose))
    patient = raw.get("patient", {})
    if not isinstance(patient, dict):
        raise ScenarioError(f"{where}: [patient] must be a table")
    if not _patient_supported():
        for k in patient:
            if k != "gfr":
                raise ScenarioError(unknown_name("key", k, ["gfr"], f"{where}: [patient]") +
                                    " (age, sex and weight need the [patient] section of scenario files)")
    if "gfr" in patient:
        g = patient["gfr"]
        _units.convert(g if isinstance(g, str) else f"{g} mL/min", "mL/min", where=f"{where}: [patient]", key="gfr")
    mg_intake = None
    diet = raw.get("diet", {})
    if diet:
        for k in diet:
            if k != "mg_intake":
                raise ScenarioError(unknown_name("key", k, ["mg_intake"], f"{where}: [diet]"))
        mg_intake = _units.convert(diet["mg_intake"], "mmol/day", where=f"{where}: [diet]", key="mg_intake")
    return Labs(values, tuple(meds), dict(patient), mg_intake, str(raw.get("name", Path(where).stem)))


# ------------------------------------------------------------------------------------------ candidates


@dataclass(frozen=True)
class Cause:
    name: str
    kind: str  # gene | drug | condition | combination | none
    mechanism: str
    entries: tuple  # ((entry name, input), ...): input a number or "homozygous"/"heterozygous"
    members: tuple = ()
    source: str = ""
    description: str = ""


def _fingerprint(model: Model, entry, value) -> tuple:
    return tuple(sorted((p, None if mm is None else round(mm, 10), None if a is None else round(a, 10))
                        for p, mm, a in entry.modifiers(value)))


def causes(model: Model | None = None) -> list[Cause]:
    """The candidate causes: catalogue genes (patients' genotype, and heterozygous carriers of recessive genes),
    drugs at the standard dose, conditions at their typical severity, the combinations of diagnosis.toml, and
    'no cause' (healthy variability). Entries with identical modifiers are one candidate."""
    model = model or get_model()
    cat = get_catalogue(model)
    out, seen = [], {}
    out.append(Cause("no cause (healthy variability)", "none", "none", (), source="models/population.toml"))
    for kind in ("gene", "drug", "condition"):
        for e in cat.by_kind(kind):
            variants = [(e.target_input(), e.patient_genotype if kind == "gene" else None)]
            if kind == "gene" and e.patient_genotype == "homozygous":
                variants.append((e.heterozygous_activity, "heterozygous"))
            for value, genotype in variants:
                key = _fingerprint(model, e, value)
                if kind != "gene":
                    label = e.name
                elif e.patient_genotype == "heterozygous":
                    label = f"{e.name} (dominant, heterozygous)"
                else:
                    label = f"{e.name} {genotype}"
                if key in seen:
                    c = out[seen[key]]
                    out[seen[key]] = Cause(c.name, c.kind, c.mechanism, c.entries, c.members + (label,), c.source,
                                           c.description)
                    continue
                seen[key] = len(out)
                inp = genotype if kind == "gene" else float(value)
                out.append(Cause(label, kind, e.mechanism, ((e.name, inp),), (), e.source,
                                 e.phenotype or e.description))
    for comb in _spec().get("combination", []):
        ents = tuple((cat.lookup(n, "diagnosis.toml").name, v) for n, v in comb["entries"])
        mech = " + ".join(cat.lookup(n).mechanism for n, _ in ents)
        out.append(Cause(comb["name"], "combination", mech, ents, (), comb["source"]))
    return out


def causes_for(labs: Labs, model: Model | None = None) -> list[Cause]:
    """The candidates for a patient: with known medications, each candidate on top of them, "the medications
    alone" instead of "no cause", and no candidate that contains a medication (or an entry with the same
    model effect: a known omeprazole removes every PPI)."""
    out = causes(model)
    if not labs.medications:
        return out
    meds = {m for m, _ in labs.medications}
    same = set(meds)  # every name with the same model effect as a medication
    for o in out:
        names = {o.name, *o.members, *(n for n, _ in o.entries)}
        if o.kind != "combination" and names & meds:
            same |= names
    keep = []
    for c in out:
        if {c.name, *c.members, *(n for n, _ in c.entries)} & same:
            continue
        if c.kind == "none":
            c = Cause(f"{' + '.join(sorted(meds))} alone (no further cause)", "none", "none", (),
                      source="the known medications with population variability")
        keep.append(c)
    return keep


def _scenario_dict(cause: Cause, labs: Labs, cat) -> dict:
    d = {"scenario": {"name": cause.name, "duration": "1 day"}, "perturbation": [], "treatment": []}
    if labs.mg_intake is not None:
        d["diet"] = {"mg_intake": f"{labs.mg_intake} mmol/day"}
    for name, inp in list(cause.entries) + [(n, v) for n, v in labs.medications]:
        e = cat.lookup(name)
        if e.kind == "treatment":
            d["treatment"].append({"name": name, "amount": inp if isinstance(inp, str) else f"{inp} mmol/day"})
        elif e.kind == "gene":
            d["perturbation"].append({"name": name, "genotype": inp} if isinstance(inp, str)
                                     else {"name": name, "activity": float(inp)})
        else:
            d["perturbation"].append({"name": name, "dose": inp})
    if labs.patient and _patient_supported():
        d["patient"] = dict(labs.patient)
    return {k: v for k, v in d.items() if v != []}


def _patient_supported() -> bool:
    return "patient" in getattr(_scenario, "_SECTIONS", ())


# --------------------------------------------------------------------------------------- simulation


def _cache_key(model: Model, cause_list, labs: Labs, n: int, seed: int, readouts) -> str:
    from .. import __version__

    h = hashlib.sha256()
    h.update(model.path.read_text().encode())
    # every data file of the models folder: catalogue, population, diagnosis, and modules a model includes
    root = models_dir()
    for p in sorted(root.rglob("*.toml")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    h.update(json.dumps([[c.name, c.entries] for c in cause_list], default=str).encode())
    h.update(json.dumps([labs.medications, labs.patient, labs.mg_intake, n, seed, list(readouts), __version__],
                        default=str, sort_keys=True).encode())
    return h.hexdigest()[:24]


def simulate_causes(labs: Labs, *, n: int | None = None, seed: int | None = None, use_cache: bool = True,
                    model: Model | None = None) -> tuple[list[Cause], dict]:
    """Virtual patients of every candidate: {readout: array (n_causes, n)} (NaN where a steady state failed),
    cached on disk under the mgflux cache dir, keyed by the model, catalogue, population and diagnosis files."""
    model = model or get_model()
    spec = _spec()
    n = int(n or spec["simulation"]["patients_per_cause"])
    seed = int(spec["simulation"]["seed"] if seed is None else seed)
    cause_list = causes_for(labs, model)
    readouts = sorted({lab["readout"] for lab in spec["labs"].values()})
    key = _cache_key(model, cause_list, labs, n, seed, readouts)
    path = cache_dir() / "diagnose" / f"{key}.npz"
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                return cause_list, {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a damaged cache file: recompute
            warnings.warn(f"diagnose: ignoring the unreadable cache file {path} ({exc})", stacklevel=2)
    cat = get_catalogue(model)
    pop = load_population_spec(model=model)
    out = {r: np.full((len(cause_list), n), np.nan) for r in readouts}
    gfr = labs.patient.get("gfr")  # the patient's GFR, not the population's spread around the model value
    gfr_internal = None
    if gfr is not None:
        gfr_internal = _units.convert(gfr if isinstance(gfr, str) else f"{float(gfr)} mL/min", "mL/min",
                                      where="labs [patient]", key="gfr")
    for ci, cause in enumerate(cause_list):
        sc = scenario_from_dict(_scenario_dict(cause, labs, cat), where=f"diagnose: {cause.name}")
        facs, X, _ = population_design(sc, n, seed + ci, pop)
        names = [f.name for f in facs]
        if gfr_internal is not None and "gfr" in names:
            X[:, names.index("gfr")] = gfr_internal / facs[names.index("gfr")].to_internal
        if labs.mg_intake is not None and "diet_mg_intake" in names:
            f = facs[names.index("diet_mg_intake")]
            X[:, names.index("diet_mg_intake")] = labs.mg_intake / f.to_internal
        res = steady_states(sc, {f.name: X[:, j] for j, f in enumerate(facs)})
        for r in readouts:
            if r in res.readouts:
                out[r][ci] = res.readouts[r]
    have = {r: v for r, v in out.items() if np.isfinite(v).any()}
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **have)
        tmp.replace(path)
    return cause_list, have


# ------------------------------------------------------------------------------------------ ranking


@dataclass(frozen=True)
class DiagnosisResult:
    labs: Labs
    used: tuple  # labs compared with the model
    unused: tuple  # labs given whose readout the model lacks
    candidates: tuple  # dicts, best first
    separating: tuple  # dicts: lab, pair, separation (measured labs that separate the top candidates)
    next_tests: tuple  # dicts: test, separation, predicted per candidate (unmeasured), best first
    mechanisms: tuple = ()  # dicts: mechanism, score (summed over its candidates), best first
    caveat: str = CAVEAT

    def dataframe(self):
        """The ranked candidates as a tidy pandas DataFrame (one row each, predicted labs as columns)."""
        import pandas as pd

        return pd.DataFrame([{"rank": i + 1, "name": c["name"], "kind": c["kind"], "mechanism": c["mechanism"],
                              "score": c["score"], **{f"predicted_{k}": v for k, v in c["predicted"].items()}}
                             for i, c in enumerate(self.candidates)])

    def to_dict(self) -> dict:
        return {"patient": self.labs.name, "labs": dict(self.labs.values), "medications": [m for m, _ in self.labs.medications],
                "labs_used": list(self.used), "labs_not_modelled": list(self.unused),
                "candidates": list(self.candidates), "separating_labs": list(self.separating),
                "next_tests": list(self.next_tests), "mechanisms": list(self.mechanisms), "caveat": self.caveat}


MIN_HYPO_PATIENTS = 3  # a cause with fewer hypomagnesaemic virtual patients is not a candidate for such a patient


def _hypo_mask(sim: dict, values: dict) -> np.ndarray | None:
    """Which simulated patients to average over: for a hypomagnesaemic patient (serum total < 0.7 mM), the
    hypomagnesaemic patients of each cause (equal prior weight on every cause among patients who present
    with hypomagnesaemia); otherwise None (all patients)."""
    if values.get("serum_mg_total", math.inf) >= 0.7:
        return None
    s = sim["serum_mg_total_mM"]
    with np.errstate(invalid="ignore"):
        return np.isfinite(s) & (s < 0.7)


def _log_offset(s: dict) -> float:
    """The offset a of the transformed scale z = log(y + a): abs_sd / cv, where the lab's measurement error turns
    from absolute to proportional (so the error is about constant on z)."""
    return s.get("abs_sd", 0.0) / s["cv"] if s.get("cv", 0.0) > 0 else 0.0


def _to_z(s: dict, y) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.maximum(np.asarray(y, dtype=float), 0.0) + max(_log_offset(s), 1e-9))


def _loglik(sim: dict, spec: dict, values: dict, used, mask: np.ndarray | None = None) -> np.ndarray:
    """log L per cause (n_causes,) of the labs *values*: a Gaussian kernel density of the cause's simulated
    patients (those in *mask*; fewer than MIN_HYPO_PATIENTS: -inf) on z = log(lab + a), so the correlations
    between labs within a cause count (FEMg, urine Mg and serum are not three independent witnesses).

        p(x | cause) = mean_i N(z(x); z_i, h^2 S + E),  h = n^(-1/(d+4))  (Scott's rule)

    S is the cause's covariance of its patients' labs on z, E the labs' measurement error on z (diagnosis.toml,
    at the measured value: sd / (x + a)). With E alone (h = 0) this is the exact Monte-Carlo likelihood; with a
    few hundred patients in up to 9 labs it is a few nearest patients and noisy, which the smoothing removes."""
    used = list(used)
    d = len(used)
    x = np.array([_to_z(spec["labs"][lab], values[lab]) for lab in used])
    me = np.array([float(measurement_sd(spec["labs"][lab], values[lab])) /
                   (max(values[lab], 0.0) + max(_log_offset(spec["labs"][lab]), 1e-9)) for lab in used])
    Z = np.stack([_to_z(spec["labs"][lab], sim[spec["labs"][lab]["readout"]]) for lab in used], axis=-1)
    ok_all = np.all(np.isfinite(Z), axis=-1)
    if mask is not None:
        ok_all &= mask
    out = np.full(Z.shape[0], -np.inf)
    if not np.all(np.isfinite(x)):
        return out
    for c in range(Z.shape[0]):
        z = Z[c][ok_all[c]]
        n = len(z)
        if n < (MIN_HYPO_PATIENTS if mask is not None else 1):
            continue
        S = np.atleast_2d(np.cov(z.T)) if n > 1 else np.zeros((d, d))
        h = n ** (-1.0 / (d + 4))
        K = h * h * S + np.diag(np.maximum(me, 1e-6) ** 2)
        try:
            L = np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            L = np.linalg.cholesky(K + 1e-9 * np.eye(d))
        r = np.linalg.solve(L, (x - z).T)
        q = -0.5 * np.sum(r * r, axis=0)
        m = q.max()
        out[c] = m + math.log(np.mean(np.exp(q - m))) - np.log(np.diag(L)).sum() - 0.5 * d * math.log(2 * math.pi)
    return out


def _summary(sim: dict, ci: int) -> dict:
    pred, rng = {}, {}
    for r, arr in sim.items():
        v = arr[ci][np.isfinite(arr[ci])]
        if v.size:
            pred[r] = float(np.median(v))
            rng[r] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
    return pred, rng


def _separation(sim: dict, spec: dict, lab: str, a: int, b: int) -> float:
    s = spec["labs"][lab]
    ya, yb = sim[s["readout"]][a], sim[s["readout"]][b]
    ya, yb = ya[np.isfinite(ya)], yb[np.isfinite(yb)]
    if not ya.size or not yb.size:
        return 0.0
    ma, mb = np.median(ya), np.median(yb)
    var = np.var(ya) + np.var(yb) + float(measurement_sd(s, ma)) ** 2 + float(measurement_sd(s, mb)) ** 2
    return float(abs(ma - mb) / math.sqrt(max(var, 1e-30)))


def diagnose(labs, *, top: int = 5, use_cache: bool = True, n: int | None = None, seed: int | None = None,
             loading_test: bool = True, conditional: bool = False) -> DiagnosisResult:
    """Rank the catalogue causes by the likelihood of *labs* (a LABS file path, a dict of its structure, or
    :class:`Labs`) under the model with population variability. Not a clinical diagnosis (see ``caveat``)."""
    labs = labs if isinstance(labs, Labs) else load_labs(labs)
    spec = _spec()
    cause_list, sim = simulate_causes(labs, n=n, seed=seed, use_cache=use_cache)
    used = tuple(k for k in labs.values if spec["labs"][k]["readout"] in sim)
    unused = tuple(k for k in labs.values if k not in used)
    if not used:
        raise MgfluxError(f"diagnose: none of the labs given ({', '.join(labs.values)}) has a model readout yet; "
                          f"labs the model has: {', '.join(k for k, s in spec['labs'].items() if s['readout'] in sim)}")
    mask = _hypo_mask(sim, labs.values) if conditional else None
    ll = _loglik(sim, spec, labs.values, used, mask)
    finite = np.isfinite(ll)
    if not finite.any():
        raise MgfluxError("diagnose: no candidate cause has a simulated patient with finite labs")
    post = np.zeros_like(ll)
    post[finite] = np.exp(ll[finite] - ll[finite].max())
    post /= post.sum()
    order = [int(i) for i in np.argsort(-np.where(finite, ll, -np.inf))]
    cands = []
    for i in order[:max(1, top)]:
        c = cause_list[i]
        pred, rng = _summary(sim, i)
        cands.append({"name": c.name, "kind": c.kind, "mechanism": c.mechanism,
                      "mechanism_text": " + ".join(MECHANISMS.get(m, m) for m in c.mechanism.split(" + ")),
                      "members": list(c.members), "score": float(post[i]), "log_likelihood": float(ll[i]),
                      "predicted": {spec["labs"][k]["readout"]: pred.get(spec["labs"][k]["readout"])
                                    for k in spec["labs"] if spec["labs"][k]["readout"] in pred},
                      "predicted_range_95": {spec["labs"][k]["readout"]: rng[spec["labs"][k]["readout"]]
                                             for k in spec["labs"] if spec["labs"][k]["readout"] in rng},
                      "source": c.source, "phenotype": c.description})
    k = min(3, len(order))
    pairs = [(order[a], order[b]) for a in range(k) for b in range(a + 1, k)]
    separating = []
    for lab in used:
        best = max(((_separation(sim, spec, lab, a, b), a, b) for a, b in pairs), default=(0.0, 0, 0))
        if best[0] >= 1.0:
            separating.append({"lab": lab, "separates": [cause_list[best[1]].name, cause_list[best[2]].name],
                               "separation_sd": best[0]})
    tests = []
    given = set(labs.values) | {spec["labs"][k].get("same_quantity_as") for k in labs.values}
    given.discard(None)
    given |= {k for k, s in spec["labs"].items() if s.get("same_quantity_as") in given}
    for lab, s in spec["labs"].items():
        if lab in given or s["readout"] not in sim or not pairs:
            continue
        seps = [_separation(sim, spec, lab, a, b) for a, b in pairs]
        pred = {cause_list[i].name: _summary(sim, i)[0].get(s["readout"]) for i in order[:k]}
        tests.append({"test": lab, "readout": s["readout"], "min_separation_sd": float(min(seps)),
                      "mean_separation_sd": float(np.mean(seps)), "predicted": pred})
    if loading_test and pairs:
        tests.append(_loading_test_separation(cause_list, order[:k], labs, pairs))
    tests = [t for t in tests if t is not None]
    tests.sort(key=lambda t: (-t["mean_separation_sd"], -t["min_separation_sd"]))
    mech = {}
    for i, c in enumerate(cause_list):
        if finite[i]:
            mech[c.mechanism] = mech.get(c.mechanism, 0.0) + float(post[i])
    mechanisms = tuple({"mechanism": m, "score": s} for m, s in sorted(mech.items(), key=lambda x: -x[1]))
    return DiagnosisResult(labs, used, unused, tuple(cands), tuple(separating), tuple(tests), mechanisms)


LOADING_TEST_SD_PERCENT = 10.0  # Gullestad 1994: replete 6 +- 10 % retention (between persons and test error)


def _loading_test_separation(cause_list, idx, labs: Labs, pairs):
    """The 30 mmol / 8 h IV loading test of each top candidate's typical patient (steady state)."""
    from .loading_test import loading_test

    cat = get_catalogue(get_model())
    ret = {}
    for i in idx:
        try:
            sc = scenario_from_dict(_scenario_dict(cause_list[i], labs, cat), where="diagnose")
            ret[i] = loading_test(sc).retention_percent
        except MgfluxError:
            return None
    seps = [abs(ret[a] - ret[b]) / (math.sqrt(2) * LOADING_TEST_SD_PERCENT) for a, b in pairs]
    return {"test": "iv_loading_test", "readout": "retention_percent (30 mmol over 8 h)",
            "min_separation_sd": float(min(seps)), "mean_separation_sd": float(np.mean(seps)),
            "predicted": {cause_list[i].name: ret[i] for i in idx},
            "note": f"typical patient of each candidate; sd {LOADING_TEST_SD_PERCENT:g} % (Gullestad 1994)"}


def diagnosis_text(r: DiagnosisResult) -> str:
    spec = _spec()
    lines = [f"Model-based differential for {r.labs.name}: labs used " + ", ".join(
        f"{k} {r.labs.values[k]:.3g}" for k in r.used)]
    if r.labs.medications:
        lines.append("conditioned on the known medications: " + ", ".join(m for m, _ in r.labs.medications))
    if r.unused:
        lines.append("not used (no model readout yet): " + ", ".join(r.unused))
    lines.append("")
    lines.append(f"{'rank':>4}  {'candidate':38s} {'score':>6}  mechanism / predicted (median)")
    for i, c in enumerate(r.candidates, 1):
        pred = ", ".join(f"{spec['labs'][k]['readout']} {c['predicted'][spec['labs'][k]['readout']]:.3g}"
                         for k in r.used if spec["labs"][k]["readout"] in c["predicted"])
        lines.append(f"{i:>4}  {c['name'][:38]:38s} {c['score']:6.3f}  {c['mechanism']}")
        lines.append(f"{'':4}  {'':38s} {'':6}  {pred}")
        if c["members"]:
            lines.append(f"{'':4}  {'':38s} {'':6}  (same model effect: {', '.join(c['members'])})")
    if r.mechanisms:
        lines.append("")
        lines.append("by mechanism (scores summed over candidates): " + ", ".join(
            f"{m['mechanism']} {m['score']:.2f}" for m in r.mechanisms[:4]))
    if r.separating:
        lines.append("")
        lines.append("labs that separate the top candidates: " + "; ".join(
            f"{s['lab']} ({s['separates'][0]} vs {s['separates'][1]}: {s['separation_sd']:.1f} sd)"
            for s in r.separating))
    elif len(r.candidates) > 1:
        lines.append("")
        lines.append("none of the labs given separates the top candidates by 1 sd or more")
    if r.next_tests:
        t = r.next_tests[0]
        pred = ", ".join(f"{k}: {v:.3g}" for k, v in t["predicted"].items() if v is not None)
        lines.append(f"test that would separate them best: {t['test']} ({t['readout']}; mean separation "
                     f"{t['mean_separation_sd']:.1f} sd; predicted {pred})")
    lines.append("")
    lines.append("caveat: " + r.caveat)
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- round trip


def effect_class(cause: Cause, cat) -> tuple:
    """What a cause acts on: its mechanism and the set of model parameters its entries modify (their strengths
    left out). Candidates of one class differ only in how strongly they act (thiazide, chlorthalidone and
    indapamide; cetuximab and panitumumab at their usual doses), which labs at an unknown dose cannot tell."""
    params = set()
    for name, inp in cause.entries:
        e = cat.lookup(name)
        if isinstance(inp, str):  # a genotype
            value = e.heterozygous_activity if inp == "heterozygous" and e.patient_genotype != inp else e.target_input()
        else:
            value = float(inp)
        params |= {p for p, _, _ in e.modifiers(value)}
    return (cause.mechanism, frozenset(params))


def round_trip(*, patients_per_entry: int | None = None, seed: int | None = None, labs_panel=None,
               use_cache: bool = True, pool: int | None = None, conditional: bool = False,
               design: str = "hypomagnesaemic") -> dict:
    """Labs made by the model for each catalogue gene (patients' genotype) and drug (usual dose), ranked.

    The question `diagnose` answers is asked of a patient with hypomagnesaemia: for each entry a pool of
    virtual patients is drawn (a seed the ranking's own patients do not use), the first *patients_per_entry*
    with serum total Mg < 0.7 mM are taken (an entry with none in the pool is reported, not ranked), each lab
    gets its measurement error, and the labs are ranked. An entry passes when at least half its patients rank
    its cause in the top 3. Returns {"rows", "entry_rate" (over entries with hypomagnesaemic patients),
    "patient_rate", "labs", ...}."""
    spec = _spec()
    rt = spec["round_trip"]
    k = int(patients_per_entry or rt["patients_per_entry"])
    pool = int(pool or rt["pool"])
    seed = int(rt["seed"] if seed is None else seed)
    none = Labs({})
    cause_list, sim = simulate_causes(none, use_cache=use_cache)
    _, test = simulate_causes(none, n=pool, seed=seed, use_cache=use_cache)
    panel = [lab for lab in (labs_panel or rt["labs"]) if spec["labs"][lab]["readout"] in sim]
    cat = get_catalogue(get_model())
    index = {}
    for ci, c in enumerate(cause_list):
        for label in (c.name, *c.members):
            index[label] = ci
    classes = [effect_class(c, cat) for c in cause_list]
    rng = np.random.default_rng(seed)
    rows = []
    for kind in ("gene", "drug"):
        for e in cat.by_kind(kind):
            label = e.name if kind == "drug" else (
                f"{e.name} (dominant, heterozygous)" if e.patient_genotype == "heterozygous" else f"{e.name} homozygous")
            ci = index[label]
            serum = test["serum_mg_total_mM"][ci]
            if design == "hypomagnesaemic":
                low = np.flatnonzero(np.isfinite(serum) & (serum < 0.7))
            elif design == "all":
                low = np.flatnonzero(np.isfinite(serum))
            else:
                raise ValueError(f"round_trip: design {design!r}: 'hypomagnesaemic' or 'all'")
            ranks, confused, mech_ok, class_ok = [], {}, 0, 0
            for j in low[:k]:
                values = {}
                for lab in panel:
                    s = spec["labs"][lab]
                    y = test[s["readout"]][ci, j]
                    values[lab] = max(0.0, float(y + rng.normal(0.0, float(measurement_sd(s, y)))))
                if not all(math.isfinite(v) for v in values.values()):
                    continue
                ll = _loglik(sim, spec, values, panel, _hypo_mask(sim, values) if conditional else None)
                order = list(np.argsort(-ll))
                ranks.append(order.index(ci) + 1)
                mech_ok += cause_list[order[0]].mechanism == cause_list[ci].mechanism
                class_ok += any(classes[o] == classes[ci] for o in order[:3])
                for o in order[:3]:
                    if o != ci:
                        confused[cause_list[o].name] = confused.get(cause_list[o].name, 0) + 1
            top3 = sum(r <= 3 for r in ranks)
            rows.append({"entry": e.name, "kind": kind, "cause": cause_list[ci].name, "ranks": ranks,
                         "top3": top3, "n": len(ranks), "mechanism_top1": mech_ok, "class_top3": class_ok,
                         "hypomagnesaemic_share": float(np.mean(serum < 0.7)),
                         "passes": (top3 * 2 >= len(ranks)) if ranks else None,
                         "class_passes": (class_ok * 2 >= len(ranks)) if ranks else None,
                         "confused_with": sorted(confused, key=lambda x: -confused[x])[:3]})
    ranked = [r for r in rows if r["passes"] is not None]
    n_pat = sum(r["n"] for r in ranked)
    return {"rows": rows, "entry_rate": sum(r["passes"] for r in ranked) / max(len(ranked), 1),
            "class_rate": sum(r["class_passes"] for r in ranked) / max(len(ranked), 1),
            "n_ranked": len(ranked), "n_entries": len(rows),
            "patient_rate": sum(r["top3"] for r in ranked) / max(n_pat, 1),
            "mechanism_rate": sum(r["mechanism_top1"] for r in ranked) / max(n_pat, 1),
            "labs": panel, "patients_per_entry": k, "pool": pool, "design": design, "conditional": conditional}


RARE_SHARE = 0.02  # entries whose virtual patients are below 0.7 mM this rarely are listed as "rare" in the reading


def round_trip_table(rt: dict, rt_mg: dict | None = None, rt_all: dict | None = None) -> str:
    """The confusion table of models/README.md "Diagnosis round trip" (markdown)."""
    ranked = [r for r in rt["rows"] if r["passes"] is not None]
    rare = [r for r in ranked if r["hypomagnesaemic_share"] < RARE_SHARE]
    head = (f"Labs used: {', '.join(rt['labs'])}. Design: for each entry, the first {rt['patients_per_entry']} of its "
            f"virtual patients (a pool of {rt['pool']}, seed {_spec()['round_trip']['seed']}, not the ranking's own "
            "patients) with a true serum total Mg < 0.7 mM; each lab gets its measurement error (diagnosis.toml); "
            "the labs are ranked by `diagnose` against every candidate (equal prior weight, "
            f"{'hypomagnesaemic patients of each cause only' if rt.get('conditional') else 'all simulated patients of each cause'}). "
            "A hit: the entry's candidate in the top 3, where a drug class member counts as the grouped candidate "
            "when its model effect is identical (omeprazole is `ppi`). An entry passes when at least half its "
            f"patients are hits. Cause in the top 3 for **{100 * rt['entry_rate']:.0f} %** of the {rt['n_ranked']} "
            f"entries with hypomagnesaemic patients ({100 * rt['patient_rate']:.0f} % of all ranked patients); "
            f"{rt['n_entries'] - rt['n_ranked']} entries have none in the pool and are not ranked. ")
    if rt_mg is not None:
        head += (f"With the Mg labs only ({', '.join(rt_mg['labs'])}): **{100 * rt_mg['entry_rate']:.0f} %** "
                 f"({100 * rt_mg['patient_rate']:.0f} % of patients). ")
    if rt_all is not None:
        head += (f"Asked of all of an entry's virtual patients instead (the first {rt_all['patients_per_entry']}, normal "
                 f"serum included; {rt_all['n_ranked']} entries): {100 * rt_all['entry_rate']:.0f} %. ")
    head += (f"A candidate of the entry's effect class (same mechanism and same model parameters, strength aside) is "
             f"in the top 3 for {100 * rt['class_rate']:.0f} % of the entries; the top candidate has the entry's "
             f"mechanism class for {100 * rt['mechanism_rate']:.0f} % of the patients. {len(rare)} of the ranked "
             f"entries make hypomagnesaemia in fewer than {100 * RARE_SHARE:.0f} % of their virtual patients "
             f"({sum(bool(r['passes']) for r in rare)} of them pass); without them "
             f"{100 * np.mean([bool(r['passes']) for r in ranked if r not in rare] or [0]):.0f} % pass.")
    lines = [head, "",
             ("| entry | kind | candidate (same model effect grouped) | share < 0.7 mM | ranks | top 3 | class top 3 | "
              "mechanism top 1 | confused with (top-3 intruders) |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rt["rows"]:
        res = "not ranked" if r["passes"] is None else f"{r['top3']}/{r['n']}{'' if r['passes'] else ' **miss**'}"
        share = 100 * r["hypomagnesaemic_share"]
        lines.append(f"| {r['entry']} | {r['kind']} | {r['cause']} | {share:.1f} % | "
                     f"{', '.join(map(str, r['ranks'])) or '-'} | {res} | {r['class_top3']}/{r['n']} | "
                     f"{r['mechanism_top1']}/{r['n']} | {', '.join(r['confused_with'])} |")
    return "\n".join(lines)


_SECTION = "## Diagnosis round trip"


def write_round_trip(readme: Path | None = None, rt: dict | None = None, rt_mg: dict | None = None,
                     rt_all: dict | None = None) -> Path:
    """Write (or refresh) the section "Diagnosis round trip" of models/README.md (all labs, and the Mg labs only)."""
    path = Path(readme) if readme else models_dir() / "README.md"
    rt = rt or round_trip()
    rt_mg = rt_mg or round_trip(labs_panel=_spec()["round_trip"]["mg_labs"])
    rt_all = rt_all or round_trip(design="all")
    body = (f"{_SECTION}\n\n"
            "`mgflux diagnose` ranks catalogue causes by the likelihood of a patient's labs (see "
            "`src/mgflux/studies/diagnose.py`, `models/clinical/diagnosis.toml`). The likelihood is a Gaussian kernel "
            "density of each cause's 1,000 virtual patients on log labs, with the cause's covariance between labs "
            "(Scott's bandwidth) and each lab's measurement error: FEMg, urine Mg and serum Mg, or urine Ca and Ca/creatinine, "
            "are not counted as independent witnesses. The round trip asks whether labs "
            "the model itself makes for each catalogue gene (patients' genotype) and drug (usual dose) bring that "
            "cause back into the top 3 of ~70 candidates. Target (issue 13): >= 80 % of entries. Regenerate with "
            "`python -c \"from mgflux.studies.diagnose import write_round_trip; write_round_trip()\"`.\n\n"
            + round_trip_table(rt, rt_mg, rt_all) + "\n\n"
            "History of the number: 28 % with the Mg labs of the first-edition model (independent normal densities, "
            "hypomagnesaemic patients of each cause only); 48 % after the calcium merge with 7 labs and the same "
            "likelihood; the kernel density (correlations), the unconditional likelihood and all nine labs give "
            "the number above.\n\n"
            "Reading: **the 80 % target is not met, and the misses are not noise; the labs cannot tell these causes "
            "apart in this model.** What the Ca labs add: urine Ca/creatinine splits the hypercalciuric TAL causes "
            "(CLDN16/19 ~1.3, aminoglycosides ~0.35, CASR gain ~0.45 with low serum Ca and PTH) from the "
            "hypocalciuric DCT ones (SLC12A3 ~0.08, KCNJ10 ~0.10, TRPM6 ~0.04), serum Ca marks CASR gain, PLVAP, "
            "cisplatin and the aminoglycosides, and a high PTH marks CLDN16. These causes now round-trip. What is left, "
            "in four groups:\n"
            "1. **Rare in the model.** At their usual doses the control edition compensates thiazides, loop diuretics, "
            "sirolimus, digoxin, beta-agonists, epinephrine and cinacalcet: fewer than 2 % of their virtual "
            "patients fall below 0.7 mM (share column; the PPIs, FAM111A and GATA3 have none of 400 and are not "
            "ranked: in the model the PPI's gut effect alone is compensated, and FAM111A/GATA3 act through PTH). Their hypomagnesaemic patients are the tail of the "
            "healthy variability, with the labs of heterozygous carriers and of other mild causes, so they rank low "
            "for a reason the model states: one such hit alone rarely lowers serum Mg here. This is most of the "
            "misses.\n"
            "2. **One DCT lab signature.** SLC12A3, KCNJ10, HNF1B, CNNM2, PCBD1 (and mitochondrial, the same effect), "
            "KCTD1, FXYD2 and EGF all give renal wasting (FEMg 4-7 %) with a low to low-normal urine Ca/creatinine "
            "(0.08-0.2), normal serum Ca and normal "
            "PTH. `diagnose` names the best next test for them (ionised Mg, PTH, the loading test), and it separates "
            "them by less than 0.5 sd. Only genetics tells them apart.\n"
            "3. **Same parameters, different strength.** thiazide, chlorthalidone and indapamide; egfr_antibody and "
            "panitumumab; calcineurin_inhibitor and cyclosporine; aminoglycoside and amikacin. Their effects differ "
            "by 10-30 % of one factor, less than the population's spread, and the dose is unknown from labs. The "
            "`class top 3` column counts these as the class.\n"
            "4. **Same route.** amphotericin B's tubular damage looks like the aminoglycosides' and cisplatin's.\n")
    text = path.read_text()
    if _SECTION in text:
        head = text[:text.index(_SECTION)]
        rest = text[text.index(_SECTION) + len(_SECTION):]
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        text = head + body + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text)
    return path
