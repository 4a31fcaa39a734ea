"""`[patient]`: age, sex, size and kidney function of the person a scenario describes (DESIGN.md, second edition).

The adult model (models/adult.toml) is a 70 kg adult. A patient rescales the parameters that depend on body size,
age and kidney function before anything else is applied (diet, genes, drugs), with these sourced rules:

- body weight and height: given, or the median for age and sex (WHO 2006 growth standards to 5 years, CDC 2000
  growth charts to 18 years; adults 70 kg / 175 cm as the model);
- extracellular fluid: a share of body weight that falls from ~45% at birth to ~20% in adults (Friis-Hansen 1961);
- exchangeable Mg pools and gut capacities in proportion to body weight (the adult's per-kg values: an assumption,
  said so in models/README.md);
- GFR: given (`gfr`), or estimated from `serum_creatinine` with a named equation (CKD-EPI 2021 without race from
  18 years; bedside Schwartz 2009 below), or the normal value for size and age: the maturation model of Rhodin 2009
  (GFR = 120 mL/min x (weight/70)^0.632 x PMA^3.4 / (PMA^3.4 + 47.7^3.4), PMA the post-menstrual age in weeks,
  term birth at 40 weeks), which reaches the adult value per 1.73 m2 by about 2 years. A GFR below the normal
  value for the patient's size and age is read as fewer nephrons (CKD): `gfr_normal` keeps the normal value;
- creatinine excretion (for urine Ca/creatinine ratios): mmol/kg/day by age and sex (children: Remer 2002;
  adults ~0.21 men / 0.18 women, i.e. 24 / 20 mg/kg/day), times weight;
- default Mg intake when the scenario gives no `[diet]`: the IOM 1997 RDA (AI below 1 year) for children and
  adolescents; adults keep the model's usual intake (300 mg/day).
Every key is checked: unknown keys with a did-you-mean, quantities with both units named, ranges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError, unknown_name
from . import units as _units

PATIENT_KEYS = ("age", "sex", "weight", "height", "gfr", "serum_creatinine")
SEXES = ("female", "male")
ADULT_WEIGHT_KG = 70.0
ADULT_HEIGHT_CM = 175.0
ADULT_GFR_ML_MIN = 120.0
MG_PER_MMOL_CREATININE = 113.12

# median weight (kg) and height (cm) by age (years): WHO 2006 (0-5 y), CDC 2000 (2-18 y); (female, male)
_GROWTH = [  # age, weight F, weight M, height F, height M
    (0.0, 3.2, 3.3, 49.1, 49.9),
    (0.25, 5.8, 6.4, 59.8, 61.4),
    (0.5, 7.3, 7.9, 65.7, 67.6),
    (1.0, 8.9, 9.6, 74.0, 75.7),
    (2.0, 11.5, 12.2, 85.7, 87.1),
    (3.0, 13.9, 14.3, 95.1, 96.1),
    (5.0, 18.2, 18.3, 109.4, 110.0),
    (8.0, 25.0, 25.6, 127.0, 128.0),
    (10.0, 32.0, 32.0, 138.0, 138.5),
    (12.0, 41.5, 40.0, 151.0, 149.5),
    (14.0, 49.5, 51.0, 160.0, 163.5),
    (16.0, 54.0, 61.0, 162.5, 173.5),
    (18.0, 56.5, 66.0, 163.5, 176.0),
    (20.0, 58.0, 70.0, 164.0, 177.0),
]
# extracellular water, share of body weight (Friis-Hansen 1961: ~45% at birth, ~27% at 1 year, ~20% in adults)
_ECF_SHARE = [(0.0, 0.45), (0.25, 0.38), (0.5, 0.32), (1.0, 0.27), (3.0, 0.25), (10.0, 0.22), (18.0, 0.20)]
# creatinine excretion, mmol/kg/day (infants ~11 mg/kg/day, Remer 2002 for 3-18 y, adults 20 / 24 mg/kg/day)
_CREATININE = [(0.0, 0.097, 0.097), (3.0, 0.115, 0.12), (10.0, 0.15, 0.16), (18.0, 0.177, 0.212)]
# IOM 1997 RDA (AI for infants), mg/day: age upper bound (years), female, male
_RDA = [(0.5, 30, 30), (1.0, 75, 75), (4.0, 80, 80), (9.0, 130, 130), (14.0, 240, 240), (19.0, 360, 410)]


def _interp(table, age, col):
    ages = [r[0] for r in table]
    return float(np.interp(age, ages, [r[col] for r in table]))


@dataclass(frozen=True)
class Patient:
    """A checked `[patient]`: every field in the model's units (years, kg, cm, mL/min) or None if not given."""

    age: float | None = None
    sex: str | None = None
    weight: float | None = None
    height: float | None = None
    gfr: float | None = None
    serum_creatinine: float | None = None  # mg/dL
    where: str = "[patient]"

    # ---------------------------------------------------------------------------------------- derived sizes
    @property
    def age_years(self) -> float:
        return 30.0 if self.age is None else self.age

    @property
    def _col(self) -> int:
        return 1 if self.sex == "female" else 2

    @property
    def weight_kg(self) -> float:
        if self.weight is not None:
            return self.weight
        if self.age is None or self.age >= 20:
            return ADULT_WEIGHT_KG
        return _interp(_GROWTH, self.age, self._col)

    @property
    def height_cm(self) -> float:
        if self.height is not None:
            return self.height
        if self.age is None or self.age >= 20:
            return ADULT_HEIGHT_CM
        return _interp(_GROWTH, self.age, self._col + 2)

    @property
    def body_surface_m2(self) -> float:
        """Mosteller: sqrt(height cm x weight kg / 3600)."""
        return math.sqrt(self.height_cm * self.weight_kg / 3600.0)

    @property
    def normal_gfr_ml_min(self) -> float:
        """GFR of a healthy kidney of this size and age (Rhodin 2009 maturation, scaled to the model's 120 mL/min)."""
        pma = self.age_years * 52.18 + 40.0
        maturation = pma ** 3.4 / (pma ** 3.4 + 47.7 ** 3.4)
        adult = 1.0 / (1.0 + (47.7 / (30 * 52.18 + 40.0)) ** 3.4)
        return ADULT_GFR_ML_MIN * (self.weight_kg / ADULT_WEIGHT_KG) ** 0.632 * maturation / adult

    def egfr(self) -> tuple[float, str] | None:
        """(GFR in mL/min, equation) from serum creatinine, or None without one."""
        if self.serum_creatinine is None:
            return None
        scr = self.serum_creatinine
        if self.age_years >= 18:
            female = self.sex == "female"
            k, a = (0.7, -0.241) if female else (0.9, -0.302)
            per173 = (142.0 * min(scr / k, 1.0) ** a * max(scr / k, 1.0) ** -1.200 * 0.9938 ** self.age_years
                      * (1.012 if female else 1.0))
            name = "CKD-EPI 2021 (race-free; Inker 2021 NEJM 385:1737)"
        else:
            per173 = 0.413 * self.height_cm / scr
            name = "bedside Schwartz (Schwartz 2009 JASN 20:629: 0.413 x height / creatinine)"
        return per173 * self.body_surface_m2 / 1.73, name

    @property
    def gfr_ml_min(self) -> float:
        if self.gfr is not None:
            return self.gfr
        e = self.egfr()
        return e[0] if e else self.normal_gfr_ml_min

    @property
    def ecf_share(self) -> float:
        return _interp(_ECF_SHARE, self.age_years, 1)

    @property
    def creatinine_mmol_per_kg_day(self) -> float:
        return _interp(_CREATININE, self.age_years, self._col)

    def default_intake_mg_day(self) -> float | None:
        """IOM 1997 RDA (AI < 1 year) for age and sex below 19 years; None for adults (the model's usual intake)."""
        if self.age is None or self.age >= 19:
            return None
        for upper, f, m in _RDA:
            if self.age < upper:
                return float(f if self.sex == "female" else m)
        return None

    def describe(self) -> str:
        bits = [f"{self.age_years:g} y" if self.age is not None else "adult", self.sex or "sex not given",
                f"{self.weight_kg:.3g} kg", f"GFR {self.gfr_ml_min:.3g} mL/min (normal for size and age "
                f"{self.normal_gfr_ml_min:.3g})"]
        e = self.egfr()
        if e and self.gfr is None:
            bits.append(f"eGFR by {e[1]}")
        return "patient: " + ", ".join(bits)


def _plain(v, unit: str, w: str, key: str) -> float:
    """A quantity in *unit* by plain pint conversion (body mass is not Mg mass); wrong dimension names both units."""
    q = _units.parse(v, where=w, key=key)
    try:
        return float(q.to(unit).magnitude)
    except Exception:
        raise ScenarioError(f"{w}: {key} = {v!r} has unit '{q.units:~}' ({q.dimensionality}), which cannot be "
                            f"converted to '{unit}'") from None


def parse_patient(raw, where: str) -> Patient:
    """Check a `[patient]` table (keys, units, ranges) and return a Patient."""
    w = f"{where}: [patient]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{w}: must be a table of keys, got {raw!r}")
    for k in raw:
        if k not in PATIENT_KEYS:
            raise ScenarioError(unknown_name("key", k, PATIENT_KEYS, w))
    if "gfr" in raw and "serum_creatinine" in raw:
        raise ScenarioError(f"{w}: give gfr or serum_creatinine (eGFR from a named equation), not both")

    def quantity(key, unit, lo, hi, what):
        if key not in raw:
            return None
        v = raw[key]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ScenarioError(f"{w}: {key} = {v!r} needs a unit, e.g. {key} = \"{v} {unit}\"")
        x = _plain(v, unit, w, key)
        if not (math.isfinite(x) and lo <= x <= hi):
            raise ScenarioError(f"{w}: {key} = {v!r} is outside the allowed range {lo:g}-{hi:g} {unit} ({what})")
        return x

    age = None
    if "age" in raw:
        v = raw["age"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ScenarioError(f"{w}: age = {v!r} needs a unit, e.g. age = \"{v} year\" (or \"4 week\")")
        age = _plain(v, "year", w, "age")
        if not (math.isfinite(age) and 0.0 <= age <= 110.0):
            raise ScenarioError(f"{w}: age = {v!r} is outside the allowed range 0 (term newborn) to 110 year")
    sex = raw.get("sex")
    if sex is not None and sex not in SEXES:
        raise ScenarioError(unknown_name("sex", str(sex), SEXES, w))
    weight = quantity("weight", "kg", 0.5, 300.0, "body weight")
    height = quantity("height", "cm", 30.0, 250.0, "body height")
    gfr = quantity("gfr", "mL/min", 1.0, 250.0, "glomerular filtration rate")
    scr = None
    if "serum_creatinine" in raw:
        v = raw["serum_creatinine"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ScenarioError(f"{w}: serum_creatinine = {v!r} needs a unit, e.g. \"{v} mg/dL\" or \"{v} umol/L\"")
        q = _units.parse(v, where=w, key="serum_creatinine")
        try:
            scr = float(q.to("mg/dL").magnitude)
        except Exception:
            try:  # a molar concentration: creatinine 113.12 g/mol
                scr = float(q.to("umol/L").magnitude) * MG_PER_MMOL_CREATININE / 1e4
            except Exception:
                raise ScenarioError(f"{w}: serum_creatinine = {v!r} has unit '{q.units:~}', which is neither a mass "
                                    f"concentration (mg/dL) nor a molar one (umol/L)") from None
        if not (math.isfinite(scr) and 0.1 <= scr <= 20.0):
            raise ScenarioError(f"{w}: serum_creatinine = {v!r} is outside the allowed range 0.1-20 mg/dL "
                                f"(8.8-1768 umol/L)")
    p = Patient(age=age, sex=sex, weight=weight, height=height, gfr=gfr, serum_creatinine=scr, where=w)
    _plausibility(p, w)
    return p


def _plausibility(p: Patient, w: str) -> None:
    import warnings

    if p.weight is not None and p.age is not None and p.age < 18:
        median = _interp(_GROWTH, p.age, p._col)
        if not 0.5 * median <= p.weight <= 2.0 * median:
            warnings.warn(f"{w}: weight {p.weight:g} kg is far from the median for {p.age:.3g} years "
                          f"({median:.3g} kg); check the units", stacklevel=3)


# parameters scaled with body weight (amounts and capacities of the 70 kg model)
_BY_WEIGHT = ("intracellular_fast_reference", "intracellular_slow_reference", "bone_reference", "colon_trpm6_vmax",
              "colon_trpm6_km", "endogenous_secretion_clearance", "dct_max_transport")


def apply_patient(model, p: np.ndarray, patient: Patient | None, mg_intake: float | None) -> np.ndarray:
    """Model parameter vector *p* (internal units) rescaled for *patient* (a copy); diet intake set."""
    p = np.array(p, dtype=float)
    if mg_intake is not None:
        p[model.parameter_index("diet_mg_intake")] = mg_intake
    if patient is None:
        return p
    names = set(model.parameter_names)
    f = patient.weight_kg / ADULT_WEIGHT_KG
    # DCT capacity: per nephron x nephrons; nephron mass follows kidney size (normal GFR), not weight alone
    size_gfr = patient.normal_gfr_ml_min / ADULT_GFR_ML_MIN
    for name in _BY_WEIGHT:
        if name in names:
            p[model.parameter_index(name)] *= size_gfr if name == "dct_max_transport" else f
    ml_min = _units.to_internal(_units.parse("1 mL/min", where="patient", key="gfr"))
    if "ecf_volume" in names:
        p[model.parameter_index("ecf_volume")] = patient.ecf_share * patient.weight_kg  # L (1 kg of water ~ 1 L)
    if "gfr" in names:
        p[model.parameter_index("gfr")] = patient.gfr_ml_min * ml_min
    if "gfr_normal" in names:
        p[model.parameter_index("gfr_normal")] = patient.normal_gfr_ml_min * ml_min
    if "creatinine_excretion_rate" in names:  # mmol/day (substance: no Mg-mass conversion involved)
        p[model.parameter_index("creatinine_excretion_rate")] = patient.creatinine_mmol_per_kg_day * patient.weight_kg
    if mg_intake is None:
        mg = patient.default_intake_mg_day()
        if mg is not None:
            p[model.parameter_index("diet_mg_intake")] = _units.to_internal(_units.parse(f"{mg} mg/day", where="patient", key="mg_intake"))
    return p


def scenario_parameter_vector(scenario) -> np.ndarray:
    """The model's parameters for this scenario's patient and diet, before any catalogue entry."""
    return apply_patient(scenario.model, scenario.model.parameter_vector(), getattr(scenario, "patient", None),
                         scenario.mg_intake)


def steady_guess(model, p: np.ndarray) -> np.ndarray:
    """Start of the steady-state search for parameters *p*: the model's guesses, with the pools of a patient of
    another size scaled like their reference parameters (the adult guesses are far from a newborn's state)."""
    g = model.guess_vector()
    ref = model.parameter_vector()
    names = set(model.parameter_names)
    states = set(model.state_names)

    def ratio(name):
        i = model.parameter_index(name)
        return p[i] / ref[i] if ref[i] else 1.0

    pairs = {"ecf": "ecf_volume", "intracellular_fast": "intracellular_fast_reference",
             "intracellular_slow": "intracellular_slow_reference", "bone": "bone_reference",
             "gut_si": "intracellular_fast_reference", "gut_colon": "intracellular_fast_reference"}
    for s, prm in pairs.items():
        if s in states and prm in names:
            g[model.state_index(s)] *= ratio(prm)
    return g
