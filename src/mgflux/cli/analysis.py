"""`mgflux compare` and `mgflux dose-finder` (listed in cli/main.py)."""
from __future__ import annotations

from pathlib import Path


def cmd_compare(args) -> int:
    from ..cli.format import _json
    from ..io.plots import plot_comparison
    from ..model.scenario import load_scenario
    from ..studies.compare import compare, format_comparison

    c = compare(load_scenario(args.scenario))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot_comparison(c, out / "compare.png")
        (out / "compare.json").write_text(_json(c.to_dict()))
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

    target = _units.convert(args.target, "mM", where="dose-finder", key="--target")
    limit = _units.convert(args.max, "mmol/day", where="dose-finder", key="--max")
    r = find_dose(load_scenario(args.scenario), args.treatment, target, limit)
    if args.json:
        print(_json(r.to_dict()))
    else:
        print(r.message)
    return 0


def cmd_calibration(args) -> int:
    from ..studies import calibration as _report

    if args.write:
        paths = _report.write()
        print("updated " + ", ".join(str(p) for p in paths) if paths else "calibration tables already up to date")
        return 0
    if args.what in ("healthy", "all"):
        print("Healthy adult at 300 mg/day\n")
        print(_report.healthy_table())
    if args.what in ("catalogue", "all"):
        print("\nCatalogue entries at their target input (steady state, 300 mg/day)\n")
        print(_report.catalogue_table())
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
    d.add_argument("--treatment", default="magnesium_citrate", help="oral salt or iv_magnesium_sulfate")
    d.add_argument("--target", default="0.7 mM", help='target serum total Mg, e.g. "0.7 mM" or "1.7 mg/dL"')
    d.add_argument("--max", default="5000 mg/day", help="highest daily dose to consider (default 5000 mg/day)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_dose_finder)
