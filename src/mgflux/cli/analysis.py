"""`mgflux compare` and `mgflux dose-finder` (listed in cli/main.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import MgfluxError


def cmd_compare(args) -> int:
    from ..cli.format import _json
    from ..io.plots import plot_comparison
    from ..model.scenario import load_scenario
    from ..studies.compare import compare, format_comparison
    from .checks import check_out_dir, existing, say_replaced, warn

    out = check_out_dir(args.out)
    sc = load_scenario(args.scenario)
    warn(sc.warnings)
    c = compare(sc)
    warn(w for w in c.patient.warnings if w not in sc.warnings)
    if out:
        replaced = existing(out, ["compare.png", "compare.json"])
        out.mkdir(parents=True, exist_ok=True)
        plot_comparison(c, out / "compare.png")
        (out / "compare.json").write_text(_json(c.to_dict()))
        say_replaced(out, replaced)
    if args.json:
        print(_json(c.to_dict()))
    else:
        print(format_comparison(c))
        if args.out:
            print(f"\nwrote {Path(args.out) / 'compare.png'} and compare.json")
    return 0


def cmd_dose_finder(args) -> int:
    from ..cli.format import _json
    from ..model import units as _units
    from ..model.scenario import load_scenario
    from ..studies.dose import find_dose
    from .checks import warn

    target = _units.convert(args.target, "mM", where="dose-finder", key="--target")
    if not 0.1 <= target <= 3.0:
        raise MgfluxError(f"dose-finder --target {args.target!r} is {target:.3g} mM; a target serum Mg must lie within "
                          "0.1-3.0 mM (normal 0.7-1.05 mM)")
    limit = _units.convert(args.max, "mmol/day", where="dose-finder", key="--max")
    if limit <= 0:
        raise MgfluxError(f"dose-finder --max {args.max!r} must be > 0")
    if args.treatment is None:  # say which salt was chosen (salts differ in how well they are absorbed)
        args.treatment = "magnesium_citrate"
        print("mgflux: note: no --treatment given: dosing magnesium_citrate (a well-absorbed salt); choose with "
              "--treatment magnesium_oxide, magnesium_chloride, magnesium_gluconate or iv_magnesium_sulfate",
              file=sys.stderr)
    sc = load_scenario(args.scenario)
    from ..model.catalogue import get_catalogue

    entry = get_catalogue(sc.model).lookup(args.treatment, "dose-finder --treatment")
    if entry.kind == "treatment" and not entry.amount_unit:
        from ..model.validate import check_value

        key = "oral_mg_amount" if entry.route == "oral" else "iv_continuous_rate"
        check_value(key, limit, "mmol/day", "dose-finder", "--max", given=args.max)
    warn(sc.warnings)
    r = find_dose(sc, args.treatment, target, limit)
    if args.json:
        print(_json(r.to_dict()))
    else:
        print(r.message)
    return 0


def cmd_calibration(args) -> int:
    from ..studies.calibration import calibration_tables, write_calibration_tables

    if args.write:
        paths = write_calibration_tables()
        print("updated " + ", ".join(str(p) for p in paths) if paths else "calibration tables already up to date")
        return 0
    tables = calibration_tables(args.what)
    if "healthy" in tables:
        print("Healthy adult at 300 mg/day\n")
        print(tables["healthy"])
    if "catalogue" in tables:
        print("\nCatalogue entries at their target input (steady state, 300 mg/day)\n")
        print(tables["catalogue"])
    return 0


def register(sub) -> None:
    k = sub.add_parser("calibration", help="calibration tables: target, source and model value (Markdown)")
    k.add_argument("what", nargs="?", choices=["healthy", "catalogue", "all"], default="all")
    k.add_argument("--write", action="store_true", help="refresh the generated tables in models/README.md and CATALOGUE.md")
    k.set_defaults(func=cmd_calibration)

    c = sub.add_parser("compare", help="where Mg is gained and lost against a healthy adult (table and PNG)")
    c.add_argument("scenario")
    c.add_argument("--json", action="store_true")
    c.add_argument("--out", metavar="DIR", help="write compare.png and compare.json into DIR")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("dose-finder", help="smallest daily dose of a treatment that restores a target serum Mg")
    d.add_argument("scenario")
    d.add_argument("--treatment", help="the Mg salt (magnesium_citrate, magnesium_oxide, magnesium_chloride, "
                                       "magnesium_gluconate) or iv_magnesium_sulfate; doses are elemental Mg "
                                       "(default: magnesium_citrate, and the command says so)")
    d.add_argument("--target", default="0.7 mM", help='target serum total Mg, e.g. "0.7 mM" or "1.7 mg/dL"')
    d.add_argument("--max", default="5000 mg/day", help="highest daily dose to consider (default 5000 mg/day)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_dose_finder)
