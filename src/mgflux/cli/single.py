"""`mgflux steady`, `mgflux run`, `mgflux catalogue`."""
from __future__ import annotations

from ..errors import MgfluxError
from .checks import check_out_dir, existing, say_replaced, warn
from .format import _UNITS_NOTE, _json, _table


def steady_json(res, reading=None) -> dict:
    """The object ``mgflux steady --json`` prints (the web page's ``POST /api/steady`` answers the same)."""
    from ..studies.clinical import clinical_reading

    return {**res.to_dict(), "clinical_reading": clinical_reading(res) if reading is None else reading}


def run_json(res, reading=None) -> dict:
    """The object ``mgflux run --json`` prints (the web page's ``POST /api/run`` answers the same)."""
    from ..studies.clinical import clinical_reading

    return {**res.to_dict(), "clinical_reading": clinical_reading(res) if reading is None else reading}


def cmd_steady(args) -> int:
    from ..model.readouts import EXTRA_READOUTS, READOUTS
    from ..run import steady_state
    from ..studies.clinical import clinical_reading, reading_text

    res = steady_state(args.scenario)
    warn(res.warnings)
    reading = clinical_reading(res)
    if args.json:
        print(_json(steady_json(res, reading)))
        return 0
    rows = {k: res[k] for k in READOUTS}
    rows.update({k: res[k] for k in EXTRA_READOUTS})
    print(_table(rows, f"Steady state: {res.scenario}"))
    for n in res.notes:
        print(f"note: {n}")
    print()
    print(reading_text(reading))
    print(f"({_UNITS_NOTE})")
    return 0


RUN_FILES = ("timecourse.csv", "serum.png", "urine.png", "pools.png", "segments.png", "summary.json")


def cmd_run(args) -> int:
    from ..model.readouts import READOUTS
    from ..options import RunOptions
    from ..run import simulate
    from ..studies.clinical import clinical_reading, reading_text

    out = check_out_dir(args.out)
    # no wait for the compiler: on an empty cache scipy answers now and the kernels compile in the background
    res = simulate(args.scenario, options=RunOptions(compile="background"))
    warn(res.warnings)
    reading = clinical_reading(res)
    if out:
        replaced = existing(out, RUN_FILES)
        out.mkdir(parents=True, exist_ok=True)
        res.to_csv(out / "timecourse.csv")
        from ..io.plots import plot_run

        paths = plot_run(res, out)
        (out / "summary.json").write_text(_json({"scenario": res.scenario, "initial": res.initial, "final": res.final,
                                                  "extremes": {k: dict(v) for k, v in res.extremes.items()},
                                                  "notes": list(res.notes), "warnings": list(res.warnings)}))
        say_replaced(out, replaced)
    if args.json:
        print(_json(run_json(res, reading)))
    else:
        rows = {k: [res.initial[k], res.final[k]] for k in READOUTS}
        t_end = res.time_day[-1]
        print(_table(rows, f"Time course: {res.scenario} ({t_end:g} days)", columns=["day 0", f"day {t_end:g}"]))
        x = res.extremes["serum_mg_total_mM"]
        print(f"serum total Mg: min {x['min']:.3f} mM (day {x['min_day']:.4g}), "
              f"max {x['max']:.3f} mM (day {x['max_day']:.4g}) (from the dense solution, between samples too)")
        low = res.time_below(0.7)
        if low["days"] > 0 or x["min"] < 0.7:
            from ..model.readouts import hypomagnesemia_grade

            print(f"hypomagnesemia (< 0.7 mM): {low['days']:.4g} days in all, first at day "
                  f"{(low['first_day'] if low['first_day'] is not None else x['min_day']):.4g}; "
                  f"worst grade {int(hypomagnesemia_grade(x['min']))}")
        else:
            print("no hypomagnesemia (serum total Mg stays >= 0.7 mM)")
        if x["max"] > 1.05:
            from ..model.readouts import hypermagnesemia_grade

            print(f"hypermagnesemia (> 1.05 mM): worst grade {int(hypermagnesemia_grade(x['max']))} "
                  f"(peak {x['max']:.3f} mM at day {x['max_day']:.4g})")
        for n in res.notes:
            print(f"note: {n}")
        print()
        print(reading_text(reading))
        if out:
            print(f"wrote {out / 'timecourse.csv'} and {', '.join(p.name for p in paths)} in {out}")
        print(f"({_UNITS_NOTE})")
    return 0


def cmd_catalogue(args) -> int:
    from ..model.catalogue import MECHANISMS, get_catalogue
    from ..model.model import get_model

    cat = get_catalogue(get_model(args.model))
    entries = [cat.entries[n] for n in cat.names()]
    if args.mechanism:
        if args.mechanism not in MECHANISMS:
            from ..errors import unknown_name

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
                         for f in e.effects],
             **({"schedule": {"period_day": e.schedule.period, "parameters": list(e.schedule.parameters),
                              "phases": [{"name": ph.name, "duration_day": ph.duration, "strength": ph.strength}
                                         for ph in e.schedule.phases], "source": e.schedule.source}}
                if e.schedule is not None else {})} for e in entries]}
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
            if e.schedule is not None:
                phases = ", ".join(f"{ph.name} {24 * ph.duration:.3g} h (x {ph.strength:.3g})" for ph in e.schedule.phases)
                print(f"  {'':24s} schedule: every {24 * e.schedule.period:.3g} h: {phases}")
    return 0


def register(sub) -> None:
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
