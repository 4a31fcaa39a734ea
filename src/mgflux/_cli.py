"""The ``mgflux`` command line: steady, run, catalogue (see ``mgflux --help``)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .errors import MgfluxError

_UNITS_NOTE = "1 mM = 2.43 mg/dL = 2 mEq/L; 1 mmol = 24.3 mg"


def _fmt(v) -> str:
    if isinstance(v, int):
        return str(v)
    if v == 0 or (abs(v) >= 0.01 and abs(v) < 1e5):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return f"{v:.3g}"


def _table(rows: dict, title: str, columns=None) -> str:
    from ._simulate import EXTRA_READOUTS, READOUTS

    units = {**READOUTS, **EXTRA_READOUTS}
    lines = [title, "-" * len(title)]
    width = max(len(k) for k in rows)
    if columns:
        lines.append(f"{'':{width}}  " + "  ".join(f"{c:>10}" for c in columns))
    for k, v in rows.items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        lines.append(f"{k:{width}}  " + "  ".join(f"{_fmt(x):>10}" for x in vals) + f"  {units.get(k, '')}")
    return "\n".join(lines)


def _json(obj) -> str:
    import numpy as np

    def clean(x):
        if isinstance(x, np.generic):  # numpy scalars (solver counters, readouts)
            x = x.item()
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj))


def cmd_steady(args) -> int:
    from ._simulate import EXTRA_READOUTS, READOUTS, steady_state

    res = steady_state(args.scenario)
    if args.json:
        print(_json(res.to_dict()))
        return 0
    rows = {k: res[k] for k in READOUTS}
    rows.update({k: res[k] for k in EXTRA_READOUTS})
    print(_table(rows, f"Steady state: {res.scenario}"))
    for n in res.notes:
        print(f"note: {n}")
    print(f"({_UNITS_NOTE})")
    return 0


def cmd_run(args) -> int:
    from ._simulate import READOUTS, simulate

    res = simulate(args.scenario)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.to_csv(out / "timecourse.csv")
        from ._plot import plot_run

        paths = plot_run(res, out)
        (out / "summary.json").write_text(_json({"scenario": res.scenario, "initial": res.initial, "final": res.final,
                                                  "notes": list(res.notes)}))
    if args.json:
        print(_json(res.to_dict()))
    else:
        rows = {k: [res.initial[k], res.final[k]] for k in READOUTS}
        t_end = res.time_day[-1]
        print(_table(rows, f"Time course: {res.scenario} ({t_end:g} days)", columns=["day 0", f"day {t_end:g}"]))
        s = res["serum_mg_total_mM"]
        print(f"serum total Mg: min {s.min():.3f} mM (day {res.time_day[s.argmin()]:g}), "
              f"max {s.max():.3f} mM (day {res.time_day[s.argmax()]:g})")
        low = res.time_below(0.7)
        if low["days"] > 0:
            print(f"hypomagnesemia (< 0.7 mM): {low['days']:.4g} days in all, first at day {low['first_day']:.4g}; "
                  f"worst grade {int(res['hypomagnesemia_grade'].max())}")
        else:
            print("no hypomagnesemia (serum total Mg stays >= 0.7 mM)")
        for n in res.notes:
            print(f"note: {n}")
        if args.out:
            print(f"wrote {out / 'timecourse.csv'} and {', '.join(p.name for p in paths)} in {out}")
        print(f"({_UNITS_NOTE})")
    return 0


def cmd_catalogue(args) -> int:
    from ._catalogue import MECHANISMS, get_catalogue
    from ._model import get_model

    cat = get_catalogue(get_model(args.model))
    entries = [cat.entries[n] for n in cat.names()]
    if args.mechanism:
        if args.mechanism not in MECHANISMS:
            from .errors import unknown_name

            raise MgfluxError(unknown_name("mechanism", args.mechanism, MECHANISMS))
        entries = [e for e in entries if e.mechanism == args.mechanism]
    if args.kind:
        entries = [e for e in entries if e.kind == args.kind]
    if args.json:
        out = {"mechanisms": MECHANISMS, "entries": [
            {"name": e.name, "kind": e.kind, "mechanism": e.mechanism, "aliases": list(e.aliases),
             "description": e.description, "phenotype": e.phenotype, "incidence": e.incidence,
             "targets": dict(e.targets), "source": e.source,
             "effects": [{"parameter": f.parameter, "multiply": f.multiply, "add": f.add, "organ": f.organ}
                         for f in e.effects]} for e in entries]}
        print(_json(out))
        return 0
    for kind in ("gene", "drug", "condition", "treatment"):
        group = [e for e in entries if e.kind == kind]
        if not group:
            continue
        print(f"\n{kind}s ({len(group)})")
        for e in group:
            alias = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            print(f"  {e.name:24s} {e.mechanism:22s} {e.phenotype or e.description}{alias}")
            print(f"  {'':24s} source: {e.source}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="mgflux", description="Mechanistic simulator of human magnesium homeostasis.")
    p.add_argument("--version", action="version", version=f"mgflux {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("steady", help="steady state of a scenario with every perturbation on")
    s.add_argument("scenario", help="scenario file (TOML)")
    s.add_argument("--json", action="store_true", help="print one JSON object (readouts at the top level)")
    s.set_defaults(func=cmd_steady)

    r = sub.add_parser("run", help="time course of a scenario")
    r.add_argument("scenario", help="scenario file (TOML)")
    r.add_argument("--json", action="store_true", help="print one JSON object (final, initial, timecourse)")
    r.add_argument("--out", metavar="DIR", help="write timecourse.csv and PNG plots into DIR")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("catalogue", help="every gene, drug, condition and treatment with mechanism and source")
    c.add_argument("--json", action="store_true")
    c.add_argument("--mechanism", help="only entries of this mechanism class")
    c.add_argument("--kind", choices=["gene", "drug", "condition", "treatment"])
    c.add_argument("--model", default="adult")
    c.set_defaults(func=cmd_catalogue)

    # Further commands live in their own modules, each with register(subparsers): analysis (compare,
    # dose-finder), batch (sweep, population, sensitivity) and export (export-sbml).
    from ._plugins import optional_modules

    for mod in optional_modules(PLUGINS):
        mod.register(sub)
    return p


PLUGINS = ("_cli_analysis", "_cli_batch", "_cli_export", "web.cli")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MgfluxError as exc:
        print(f"mgflux: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("mgflux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
