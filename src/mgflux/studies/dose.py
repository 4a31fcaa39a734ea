"""The dose finder: the smallest continuous daily dose of a treatment that brings steady serum Mg to a target,
or a clear statement that no dose up to the limit can."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ScenarioError
from ..model import units as _units
from ..model.scenario import Application, Scenario, load_scenario
from ..run import steady_state

# ---------------------------------------------------------------------------------------------- dose finder


@dataclass(frozen=True)
class DoseResult:
    treatment: str
    target_mM: float
    dose_mmol_per_day: float | None  # None: no dose up to the limit reaches the target
    serum_at_dose_mM: float | None
    limit_mmol_per_day: float
    serum_at_limit_mM: float
    message: str
    warnings: tuple[str, ...] = ()  # implausible input of the scenario (mgflux.model.validate)

    def dataframe(self):
        """One-row pandas DataFrame of :meth:`to_dict`."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def to_dict(self) -> dict:
        """What ``mgflux dose-finder --json`` prints."""
        d = dataclasses.asdict(self)
        d["warnings"] = list(self.warnings)
        d["dose_mg_per_day"] = None if self.dose_mmol_per_day is None else self.dose_mmol_per_day * _units.MG_MOLAR_MASS_G_PER_MOL
        d["dose_is"] = "elemental Mg"
        salt = salt_of(self.treatment)
        d["salt"] = salt["formula"] if salt else None
        d["salt_g_per_day"] = (None if (salt is None or self.dose_mmol_per_day is None) else
                               salt_grams(self.treatment, self.dose_mmol_per_day))
        return d


def salt_of(treatment: str):
    """The salt a treatment is sold as (models/limits.toml [salts]): formula, mg_fraction, source; or None."""
    from ..model.validate import limits

    return limits().salts.get(treatment)


def salt_grams(treatment: str, mmol_elemental: float) -> float | None:
    """Grams of the salt (as sold) that contain *mmol_elemental* of Mg."""
    salt = salt_of(treatment)
    if salt is None:
        return None
    return mmol_elemental * _units.MG_MOLAR_MASS_G_PER_MOL / 1000.0 / float(salt["mg_fraction"])


def _salt_text(treatment: str, mmol_per_day: float) -> str:
    salt = salt_of(treatment)
    if salt is None or mmol_per_day <= 0:
        return ""
    return f" (about {salt_grams(treatment, mmol_per_day):.2f} g/day of the salt {salt['formula']})"


#: Tolerable upper intake of supplemental Mg (IOM 1997): above it, osmotic diarrhoea becomes common.
UL_SUPPLEMENT_MMOL_PER_DAY = 350 / _units.MG_MOLAR_MASS_G_PER_MOL


def find_dose(scenario: Scenario | str | Path, treatment: str = "magnesium_citrate", target_mM: float | str = 0.7,
              limit_mmol_per_day: float | str = 5000 / 24.305, readout: str = "serum_mg_total_mM",
              rtol: float = 1e-3) -> DoseResult:
    """Smallest continuous daily dose of *treatment* (oral: elemental Mg; IV: rate) whose steady state brings
    *readout* to *target_mM*; the scenario's own perturbations and treatments stay on.

    *target_mM* and *limit_mmol_per_day* are numbers in mM and mmol/day, or quantities (``"1.7 mg/dL"``,
    ``"5000 mg/day"``). ``to_dict()`` is ``mgflux dose-finder --json``.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if isinstance(target_mM, str):
        target_mM = _units.convert(target_mM, "mM", where="find_dose", key="target")
    if isinstance(limit_mmol_per_day, str):
        limit_mmol_per_day = _units.convert(limit_mmol_per_day, "mmol/day", where="find_dose", key="limit")
    from ..model.catalogue import get_catalogue

    if not (isinstance(target_mM, (int, float)) and 0.1 <= target_mM <= 3.0):
        raise ScenarioError(f"find_dose: target {target_mM!r} mM must lie within 0.1-3.0 mM (normal 0.7-1.05 mM)")
    if not (isinstance(limit_mmol_per_day, (int, float)) and limit_mmol_per_day > 0):
        raise ScenarioError(f"find_dose: limit {limit_mmol_per_day!r} mmol/day must be > 0")
    entry = get_catalogue(scenario.model).lookup(treatment, "dose-finder --treatment")
    if entry.kind != "treatment" or entry.amount_unit:
        raise ScenarioError(f"dose-finder --treatment: {entry.name!r} is not a Mg treatment (a {entry.kind}); "
                            "use magnesium_citrate, magnesium_oxide, magnesium_chloride, magnesium_gluconate or iv_magnesium_sulfate")

    def serum(amount: float) -> float:
        app = Application(entry, amount, label=entry.name)
        sc = dataclasses.replace(scenario, applications=scenario.applications + (app,))
        return steady_state(sc)[readout]

    unit = "mg/day of elemental Mg" if entry.route == "oral" else "mmol/day of elemental Mg"
    to_unit = (lambda x: x * _units.MG_MOLAR_MASS_G_PER_MOL) if entry.route == "oral" else (lambda x: x)
    s0 = serum(0.0)
    if s0 >= target_mM:
        return DoseResult(entry.name, target_mM, 0.0, s0, limit_mmol_per_day, math.nan,
                          f"no {entry.name} needed: {readout} is already {s0:.3f} mM (target {target_mM:.3f} mM)",
                          warnings=tuple(scenario.warnings))
    s_hi = serum(limit_mmol_per_day)
    if s_hi < target_mM:
        return DoseResult(entry.name, target_mM, None, None, limit_mmol_per_day, s_hi,
                          f"no dose of {entry.name} up to {to_unit(limit_mmol_per_day):.0f} {unit} reaches "
                          f"{target_mM:.3f} mM: the highest it gives is {s_hi:.3f} mM (from {s0:.3f} without it). "
                          + ("Oral absorption saturates and high doses cause diarrhoea; consider IV Mg or treating "
                             "the cause." if entry.route == "oral" else "Treat the cause of the loss."),
                          warnings=tuple(scenario.warnings))
    lo, hi = 0.0, limit_mmol_per_day
    while hi - lo > rtol * max(hi, 1e-9):
        mid = 0.5 * (lo + hi)
        if serum(mid) >= target_mM:
            hi = mid
        else:
            lo = mid
    s = serum(hi)
    note = ""
    own = [a for a in scenario.applications if a.entry.name == entry.name and not a.one_off]
    if own:
        given = sum(a.value for a in own)
        note += (f" This is on top of the {to_unit(given):.0f} {unit} of {entry.name} the scenario already gives "
                 f"(every treatment of the scenario stays on).")
    if entry.route == "oral" and hi > UL_SUPPLEMENT_MMOL_PER_DAY:
        note += " This is above the tolerable upper intake of supplemental Mg (350 mg/day, IOM 1997): expect diarrhoea."
    return DoseResult(entry.name, target_mM, hi, s, limit_mmol_per_day, s_hi,
                      f"{entry.name}: {to_unit(hi):.0f} {unit}{_salt_text(entry.name, hi)} brings {readout} from "
                      f"{s0:.3f} to {s:.3f} mM (target {target_mM:.3f} mM).{note}",
                      warnings=tuple(scenario.warnings))

