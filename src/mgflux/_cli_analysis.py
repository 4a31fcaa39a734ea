"""`mgflux compare` and `mgflux dose-finder` (registered by the CLI's plug-in hook)."""
from __future__ import annotations

from pathlib import Path


def cmd_compare(args) -> int:
    from ._analysis import compare, format_comparison, plot_comparison
    from ._cli import _json
    from ._scenario import load_scenario

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
    from . import _units
    from ._analysis import find_dose
    from ._cli import _json
    from ._scenario import load_scenario

    target = _units.convert(args.target, "mM", where="dose-finder", key="--target")
    limit = _units.convert(args.max, "mmol/day", where="dose-finder", key="--max")
    r = find_dose(load_scenario(args.scenario), args.treatment, target, limit)
    if args.json:
        print(_json(r.to_dict()))
    else:
        print(r.message)
    return 0


def register(sub) -> None:
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
