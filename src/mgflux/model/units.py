"""Units: pint at load time only; the compiled model sees plain floats in its internal units.

Internal units: amount mmol, volume L, time day; concentrations therefore mM (mmol/L). A mass of magnesium
converts to an amount with the molar mass of Mg (24.305 g/mol), so "300 mg/day" and "12.34 mmol/day" are
the same intake, and "2.07 mg/dL" a serum concentration of 0.85 mM. 1 mmol of Mg2+ is 2 mEq.
"""
from __future__ import annotations

import functools
import math

from .._paths import cache_dir
from ..errors import UnitError

#: Molar mass of magnesium, g/mol (IUPAC standard atomic weight, 24.304-24.307; conventional 24.305).
MG_MOLAR_MASS_G_PER_MOL = 24.305
#: Molar masses of the elements an amount may be given as a mass of (Ca supplements: 40.078 g/mol).
MOLAR_MASS_G_PER_MOL = {"Mg": MG_MOLAR_MASS_G_PER_MOL, "Ca": 40.078}


@functools.cache
def registry():
    """The pint UnitRegistry (imported on first use: a warm command that finds its model, catalogue and
    quantities in the load cache, mgflux.model.store, never imports pint)."""
    import pint  # pint parses its unit definitions once and caches them on disk (about 1 s saved at every start)

    folder = cache_dir() / "pint"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
    except OSError:  # read-only home: parse every time
        ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    # Clinical laboratories report Mg2+ in mEq/L; Mg is divalent, so 1 mmol = 2 mEq.
    ureg.define("milliequivalent = 0.5 * millimole = mEq")
    return ureg


# Internal unit for each base dimension (pint's dimension names).
_INTERNAL = {"[substance]": "mmol", "[length]": "dm", "[time]": "day"}


def _dims(q) -> dict:
    return {k: v for k, v in dict(q.dimensionality).items() if v}


def _mg_dims(q) -> dict:
    """Dimensions of *q* with a mass of Mg counted as an amount of substance."""
    dims = _dims(q)
    mass = dims.pop("[mass]", 0)
    if mass:
        dims["[substance]"] = dims.get("[substance]", 0) + mass
    return {k: v for k, v in sorted(dims.items()) if v}


def internal_unit(q) -> str:
    """The internal unit string for the dimensionality of quantity *q* (mass counted as Mg amount)."""
    parts = []
    for dim, exp in _mg_dims(q).items():
        if dim not in _INTERNAL:
            raise UnitError(f"dimension {dim} is not used by mgflux")
        parts.append(f"{_INTERNAL[dim]} ** {exp:g}")
    return " * ".join(parts) if parts else "dimensionless"


def to_internal(q, element: str = "Mg") -> float:
    """Magnitude of *q* in internal units (mmol, L, day); a mass of Mg (or of *element*) becomes an amount."""
    dims = _dims(q)
    mass = dims.get("[mass]", 0)
    if mass:
        mm = registry().Quantity(MOLAR_MASS_G_PER_MOL[element], "g/mol")
        q = q / mm**mass
    value = q.to(internal_unit(q)).magnitude
    return float(value)


def parse(text, *, where: str, key: str):
    """Parse a quantity given as a string ("300 mg/day") or a bare number (dimensionless)."""
    ureg = registry()
    if isinstance(text, bool):
        raise UnitError(f"{where}: {key} must be a quantity such as \"300 mg/day\", not {text!r}")
    if isinstance(text, (int, float)):
        return ureg.Quantity(float(text), "dimensionless")
    if not isinstance(text, str):
        raise UnitError(f"{where}: {key} must be a quantity such as \"300 mg/day\", got {text!r}")
    try:
        q = ureg.Quantity(text)
    except Exception as exc:  # pint raises several types for unparsable input
        raise UnitError(f"{where}: {key} = {text!r} is not a quantity pint can read ({exc})") from None
    if not isinstance(q, ureg.Quantity):
        q = ureg.Quantity(float(q), "dimensionless")
    return q


def convert(text, expected: str, *, where: str, key: str, allow_negative: bool = False, element: str = "Mg") -> float:
    """Parse *text* and return its magnitude in the internal unit of *expected* ("mmol/day", "day", ...).

    A quantity of the wrong dimension is an error naming both units. Mg mass converts to Mg amount.
    Non-finite and (unless allowed) negative values are errors.
    """
    from . import store

    hit = store.conversion(text, expected, allow_negative)
    if hit is not None:
        return hit
    ureg = registry()
    q = parse(text, where=where, key=key)
    target = ureg.Quantity(1.0, expected)
    if _mg_dims(q) != _mg_dims(target):
        raise UnitError(
            f"{where}: {key} = {text!r} has unit '{q.units:~}' ({q.dimensionality}), "
            f"which cannot be converted to '{expected}' ({target.dimensionality})"
        )
    value = to_internal(q, element) / to_internal(target)
    if not math.isfinite(value):
        raise UnitError(f"{where}: {key} = {text!r} is not finite")
    if value < 0 and not allow_negative:
        raise UnitError(f"{where}: {key} = {text!r} is negative; it must be >= 0")
    value = value * to_internal(target)
    store.remember_conversion(text, expected, allow_negative, value)
    return value
