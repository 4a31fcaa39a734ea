"""`mgflux sweep`, `mgflux population`, `mgflux sensitivity` (listed in cli/main.py)."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ..errors import MgfluxError
from .checks import (
    check_memory,
    check_out_dir,
    existing,
    nonneg_int,
    positive_days,
    positive_int,
    require,
    require_format,
    say_replaced,
    scheduler_address,
    warn,
)


class _Progress:
    """A tqdm bar on stderr for work expected to take more than a second or two (silent without tqdm)."""

    def __init__(self, total, desc, enabled=True):
        self.bar = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="set", file=sys.stderr, leave=False)
            except ImportError:
                pass

    def update(self, k):
        if self.bar is not None:
            self.bar.update(k)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _iter_progress(items, desc):
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            return tqdm(items, desc=desc, file=sys.stderr, leave=False)
        except ImportError:
            pass
    return items


def _steady_with_bar(model, P, warm, args, factors, desc):
    """Steady states of the sweep, with a progress bar when there are many (~0.25 s per 100,000 on 2 cores)."""
    from ..engine.batch import steady_batch

    bar = _Progress(P.shape[0], desc, enabled=P.shape[0] > 500_000 and not args.scheduler)
    try:
        return steady_batch(model, P, warm=warm, workers=args.workers, scheduler=args.scheduler,
                                   factors=factors, progress=bar.update if bar.bar else None)
    finally:
        bar.close()


def cmd_sweep(args) -> int:
    import numpy as np

    from ..cli.format import _json
    from ..engine.batch import nominal
    from ..model.parameters import factor, parameter_matrix
    from ..model.readouts import READOUTS
    from ..model.scenario import load_scenario
    from ..results import STATUS
    from ..studies.sweep import design, parse_vary

    if not args.vary:
        raise MgfluxError("sweep needs at least one --vary NAME=LO:HI:N (e.g. --vary gfr=60:150:10)")
    _preflight(args)
    readouts = args.readout or list(READOUTS)
    _check_readouts(readouts, "--readout")
    sc = load_scenario(args.scenario)
    warn(sc.warnings)
    varies = [parse_vary(v, args.log) for v in args.vary]
    facs = [factor(sc, v.name) for v in varies]
    from ..model.validate import check_factor, check_factor_names

    check_factor_names([(f.name if f.entry is None else f"{f.entry.name}.{f.entry.variable}", text)
                        for f, text in zip(facs, args.vary)])
    for f, v, text in zip(facs, varies, args.vary):
        warn(check_factor(sc, f, v.grid(), f"--vary {text}"))
    n_sets = args.samples if args.samples else math.prod(v.n for v in varies)
    if args.method == "sobol" and args.samples and args.samples & (args.samples - 1):
        warn([f"--samples {args.samples} is not a power of two: a Sobol design is balanced only at powers of two "
              f"(e.g. {1 << math.ceil(math.log2(args.samples))})"])
    check_memory(n_sets * _bytes_per_set(sc.model), f"sweep of {n_sets:,} parameter sets",
                 "--samples" if args.samples else "the N of --vary NAME=LO:HI:N")
    X = design(varies, args.samples, args.method if args.samples else "grid", args.seed)
    P = parameter_matrix(sc, facs, X)
    p0 = parameter_matrix(sc, [], np.zeros((1, 0)))[0]
    t = time.perf_counter()
    res = _steady_with_bar(sc.model, P, nominal(sc.model, p0), args,
                           {f.name: X[:, j] for j, f in enumerate(facs)}, "sweep")
    elapsed = time.perf_counter() - t
    from ..model.validate import domain_warnings

    warnings = list(sc.warnings) + domain_warnings({k: res[k][res.ok] for k in ("serum_mg_total_mM", "femg_percent")},
                                                   "sweep")
    warn(warnings[len(sc.warnings):])
    out = Path(args.out) if args.out else None
    written = []
    if out:
        replaced = existing(out, [f"sweep.{args.format}", "sweep.png"] + [p.name for p in out.glob("heatmap_*.png")])
        out.mkdir(parents=True, exist_ok=True)
        written.append(res.save(out / f"sweep.{args.format}", readouts))
        written.extend(_plot_sweep(res, facs, varies, readouts, out, grid=not args.samples))
        say_replaced(out, [n for n in replaced if out / n in written])
    if args.json:
        print(_json({**res.to_dict(readouts, scenario=sc.name), "seconds": elapsed, "warnings": warnings,
                     "files": [str(p) for p in written]}))
        return 0
    units = {f.name: f.unit for f in facs}
    print(f"Sweep: {sc.name}: {len(res)} steady states in {elapsed:.2f} s; status: "
          + ", ".join(f"{k} {v}" for k, v in res.status_counts().items()))
    if not out or len(res) <= 50:
        show = [r for r in readouts if r in ("serum_mg_total_mM", "urine_mg_mmol_per_day", "femg_percent",
                                             "hypomagnesemia_grade")] or readouts[:4]
        head = [f"{f.name} ({units[f.name]})" for f in facs] + show + ["status"]
        print("  ".join(f"{h:>14}" for h in head))
        for i in range(min(len(res), 50)):
            vals = [f"{res.factors[f.name][i]:14.4g}" for f in facs]
            vals += [f"{res[r][i]:14.4g}" for r in show]
            vals.append(f"{STATUS[int(res.status[i])]:>14}")
            print("  ".join(vals))
        if len(res) > 50:
            print(f"... ({len(res) - 50} more rows: use --out DIR for the CSV)")
    if written:
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _plot_sweep(res, facs, varies, readouts, out, grid=True):
    import numpy as np

    from ..io.plots import _plt

    plt = _plt()
    paths = []
    main = [r for r in ("serum_mg_total_mM", "urine_mg_mmol_per_day", "femg_percent") if r in readouts] or readouts[:1]
    x0 = res.factors[facs[0].name]
    if len(facs) == 1 or not grid:
        # a random design of more points than a scatter can show: plot an even random share of them
        shown = np.arange(len(x0)) if grid or len(x0) <= 50_000 else \
            np.sort(np.random.default_rng(0).choice(len(x0), 50_000, replace=False))
        fig, axes = plt.subplots(len(main), 1, figsize=(7, 2.6 * len(main)), sharex=True, squeeze=False)
        if len(shown) < len(x0):
            fig.suptitle(f"{len(shown):,} of {len(x0):,} sets shown (all in the table)", fontsize=9)
        for ax, r in zip(axes[:, 0], main):
            order = shown[np.argsort(x0[shown])]
            if len(facs) >= 2:  # a random design over several factors: colour by the second
                x1 = res.factors[facs[1].name]
                sc_ = ax.scatter(x0[order], res[r][order], c=x1[order], s=2, cmap="viridis", rasterized=True)
                fig.colorbar(sc_, ax=ax, label=f"{facs[1].name} ({facs[1].unit})")
            else:
                ax.plot(x0[order], res[r][order], "-" if grid else ".", ms=3)
            if r == "serum_mg_total_mM":
                ax.axhline(0.7, color="crimson", ls="--", lw=1, label="0.7 mM")
                ax.legend()
            ax.set_ylabel(r)
        axes[-1, 0].set_xlabel(f"{facs[0].name} ({facs[0].unit})")
        if varies[0].log:
            axes[-1, 0].set_xscale("log")
        fig.tight_layout()
        p = out / "sweep.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    if len(facs) >= 2 and grid:
        n0, n1 = varies[0].n, varies[1].n
        rest = int(np.prod([v.n for v in varies[2:]])) if len(varies) > 2 else 1
        for r in main:
            Z = np.asarray(res[r]).reshape(n0, n1, rest)[:, :, 0]
            fig, ax = plt.subplots(figsize=(6.5, 5))
            x, y = varies[0].grid(), varies[1].grid()
            im = ax.pcolormesh(y, x, Z, shading="auto", cmap="viridis")
            fig.colorbar(im, ax=ax, label=r)
            if r == "serum_mg_total_mM" and np.nanmin(Z) < 0.7 < np.nanmax(Z):
                ax.contour(y, x, Z, levels=[0.7], colors="crimson", linewidths=1.5)
            ax.set_xlabel(f"{facs[1].name} ({facs[1].unit})")
            ax.set_ylabel(f"{facs[0].name} ({facs[0].unit})")
            if varies[1].log:
                ax.set_xscale("log")
            if varies[0].log:
                ax.set_yscale("log")
            ax.set_title(r + ("" if rest == 1 else " (other factors at their first value)"))
            fig.tight_layout()
            p = out / f"heatmap_{r}.png"
            fig.savefig(p, dpi=120)
            plt.close(fig)
            paths.append(p)
    return paths


def cmd_population(args) -> int:
    from ..cli.format import _json
    from ..studies.incidence import drug_incidence_table
    from ..studies.population import population

    _preflight(args)
    if args.all_drugs and args.scenario:
        raise MgfluxError(f"population --all-drugs runs every drug of the catalogue on its own shipped course; it "
                          f"does not use a scenario, so {args.scenario} would be ignored: give either a SCENARIO or "
                          "--all-drugs")
    if args.all_drugs and args.days is not None:
        raise MgfluxError("population --all-drugs chooses each drug's measure itself (--measure); --days applies to "
                          "a SCENARIO only")
    if args.all_drugs:
        n = args.n or 2000
        from ..model.model import get_model

        check_memory(n * 3 * _bytes_per_set(get_model("adult")) + n * 8 * 200 * 20,
                     f"population --all-drugs with {n:,} patients per drug", "--n")
        rows = drug_incidence_table(n, args.seed, workers=args.workers, scheduler=args.scheduler,
                                           progress=lambda it: _iter_progress(it, "drugs"), measure=args.measure)
        if args.json:
            print(_json({"n": n, "seed": args.seed, "measure": args.measure, "drugs": rows}))
            return 0
        print(f"Hypomagnesemia (< 0.7 mM) in {n} virtual adults per drug (seed {args.seed}); measure {args.measure}:")
        print("  steady = standard dose on permanently, steady state; course = the shipped course "
              "(scenarios/drugs/NAME.toml), below 0.7 mM at any time (nadir)")
        print(f"{'drug':22s} {'steady':>7s} {'course':>7s} {'used':>6s}  {'reported':>9s}  inside  reported text")
        for r in rows:
            rep = "-" if r["reported_range"] is None else f"{r['reported_range'][0]:.0f}-{r['reported_range'][1]:.0f}%"
            flag = {True: "yes", False: "NO", None: "?"}[r["inside"]]
            st = "-" if r["steady_percent"] != r["steady_percent"] else f"{r['steady_percent']:.1f}%"
            co = "-" if r["course_nadir_percent"] != r["course_nadir_percent"] else f"{r['course_nadir_percent']:.1f}%"
            print(f"{r['drug']:22s} {st:>7s} {co:>7s} {r['measure']:>6s}  {rep:>9s}  {flag:>6s}  {r['reported']}"
                  + (f" [{r['note']}]" if r["note"] else ""))
        miss = [r["drug"] for r in rows if r["inside"] is False]
        print(f"\n{sum(1 for r in rows if r['inside'])} of {len(rows)} inside their reported range"
              + (f"; outside: {', '.join(miss)}" if miss else ""))
        return 0
    if not args.scenario:
        raise MgfluxError("population needs a SCENARIO file (or --all-drugs)")
    n = args.n or 10000
    from ..model.scenario import load_scenario, output_times

    sc = load_scenario(args.scenario)
    warn(sc.warnings)
    per = _bytes_per_set(sc.model)
    if args.days is not None:
        import dataclasses

        from ..model.parameters import distinct_segments

        n_t = len(output_times(dataclasses.replace(sc, duration=args.days)))
        _, firsts = distinct_segments(sc, sc.edges(args.days))  # each distinct segment parameter set is stored once
        per += 8 * n_t * (len(sc.model.states) + 2) + 8 * len(sc.model.parameters) * (len(firsts) + 1)
    check_memory(n * per, f"population of {n:,} patients" + (f" over {args.days:g} days" if args.days else ""),
                 "--n" + (" or --days" if args.days else ""))
    t = time.perf_counter()
    # a bar where it can take more than a second or two: ~1 us per steady state, ~0.1 ms per patient-year
    slow = n * (1e-4 * args.days / 365 if args.days else 2e-6) > 1.5
    bar = _Progress(n, "patients", enabled=slow and not args.scheduler)
    try:
        pr = population(sc, n, args.seed, days=args.days, workers=args.workers,
                               scheduler=args.scheduler, progress=bar.update if bar.bar else None)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t
    s = pr.to_dict()
    s["seconds"] = elapsed
    from ..model.validate import domain_warnings

    dw = domain_warnings({"serum_mg_total_mM": pr.batch["serum_mg_total_mM"][pr.batch.ok]}, "population")
    warn(dw)
    s["warnings"] = list(sc.warnings) + dw
    if args.out:
        out = Path(args.out)
        replaced = existing(out, [f"population.{args.format}", "population.png"])
        out.mkdir(parents=True, exist_ok=True)
        table = pr.batch.save(out / f"population.{args.format}")
        _plot_population(pr, out / "population.png")
        say_replaced(out, replaced)
    if args.json:
        print(_json(s))
        return 0
    when = "steady state" if args.days is None else f"day {args.days:g}"
    print(f"Virtual population: {pr.scenario}: {s['n']} patients at {when} (seed {args.seed}), {elapsed:.2f} s")
    if s["n_ok"] < s["n"]:
        print(f"  not converged: {s['n'] - s['n_ok']} ({s['status']}); excluded from the figures below")
    q = s["serum_mg_total_mM"]
    print(f"  serum total Mg: median {q['median']:.3f} mM, central 95% {q['p2.5']:.3f}-{q['p97.5']:.3f} mM")
    print(f"  hypomagnesemia (< 0.7 mM): {s['incidence_percent']:.1f}%")
    print("  CTCAE grade:   " + "  ".join(f"{k}: {v:.1f}%" for k, v in s["grade_percent"].items()))
    if "nadir" in s:
        nd = s["nadir"]
        q = nd["serum_mg_total_mM"]
        print(f"  nadir over days 0-{args.days:g}: median {q['median']:.3f} mM (central 95% {q['p2.5']:.3f}-"
              f"{q['p97.5']:.3f} mM), median day {nd['median_day']:.4g}")
        print(f"  hypomagnesemia at any time (nadir < 0.7 mM): {nd['incidence_percent']:.1f}%")
        print("  CTCAE grade at the nadir: " + "  ".join(f"{k}: {v:.1f}%" for k, v in nd["grade_percent"].items()))
    if args.out:
        print(f"wrote {table} and {table.parent / 'population.png'}")
    return 0


def _plot_population(pr, path):
    import numpy as np

    from ..io.plots import _plt

    plt = _plt()
    s = pr.batch["serum_mg_total_mM"][pr.batch.ok]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(s, bins=60, color="tab:blue", alpha=0.8)
    ax.axvline(0.7, color="crimson", ls="--", lw=1, label=f"0.7 mM: {100 * np.mean(s < 0.7):.1f}% below")
    ax.set_xlabel("serum total Mg (mM)")
    ax.set_ylabel("patients")
    ax.set_title(pr.scenario)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_sensitivity(args) -> int:
    from ..cli.format import _json
    from ..io.plots import plot_tornado
    from ..model.scenario import load_scenario
    from ..studies.sensitivity import global_sensitivity, local_sensitivity

    _preflight(args)
    if args.method in ("morris", "sobol"):
        require("SALib", f"--method {args.method}")
        low = {"morris": 2, "sobol": 8}[args.method]
        if args.n < low:
            raise MgfluxError(f"sensitivity --method {args.method} --n {args.n}: needs at least {low} "
                              + ("trajectories" if args.method == "morris" else "base samples (rounded up to a power of two)"))
    from ..studies.sensitivity import SENSITIVITY_READOUTS

    if args.method == "local" and args.readout not in SENSITIVITY_READOUTS:
        from ..errors import unknown_name

        raise MgfluxError(unknown_name("readout", args.readout, SENSITIVITY_READOUTS, "--readout (local)"))
    _check_readouts([args.readout], "--readout")
    sc = load_scenario(args.scenario)
    warn(sc.warnings)
    if args.method != "local":
        k = sum(1 for p in sc.model.parameters if p.range is not None and p.range[1] > p.range[0])
        n_eval = (1 << max(0, math.ceil(math.log2(args.n)))) * (k + 2) if args.method == "sobol" else args.n * (k + 1)
        check_memory(n_eval * _bytes_per_set(sc.model), f"{args.method} sensitivity ({n_eval:,} steady states)", "--n")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    if args.method == "local":
        ls = local_sensitivity(sc)
        doc = ls.to_dict(args.readout)  # checks the readout name
        rank = ls.ranking(args.readout, args.top)
        if out:
            if _has_pandas():
                _write_table(ls.dataframe(), out / f"sensitivity_local.{args.format}")
            plot_tornado(list(ls.parameters), ls.normalised[args.readout], out / "tornado.png",
                                f"{sc.name}: {args.readout}", "normalised sensitivity d ln(readout) / d ln(parameter)",
                                top=args.top)
        if args.json:
            print(_json({**doc, "warnings": list(sc.warnings)}))
            return 0
        print(f"Local sensitivity of {args.readout} ({ls.readouts[args.readout]:.4g}) at the steady state of {sc.name}")
        print("normalised: d ln(readout) / d ln(parameter); +0.5 means +1% in the parameter gives +0.5%")
        for name, v in rank:
            print(f"  {name:32s} {v:+.4f}")
    else:
        gs = global_sensitivity(sc, args.method, args.readout, args.n, args.seed, workers=args.workers,
                                       scheduler=args.scheduler)
        key, conf = ("mu_star", "mu_star_conf") if args.method == "morris" else ("ST", "ST_conf")
        if out:
            if _has_pandas():
                _write_table(gs.dataframe(), out / f"sensitivity_{args.method}.{args.format}")
            plot_tornado(list(gs.parameters), gs.indices[key], out / "tornado.png",
                                f"{sc.name}: {args.readout} ({args.method})", key, conf=gs.indices[conf], top=args.top)
        if args.json:
            print(_json({**gs.to_dict(), "warnings": list(sc.warnings)}))
            return 0
        print(f"{args.method} indices of {args.readout} for {sc.name} over the documented parameter ranges "
              f"({gs.n_evaluations} steady states, {gs.failed} failed)")
        cols = [k for k in gs.indices]
        print(f"  {'parameter':32s} " + " ".join(f"{c:>12s}" for c in cols))
        order = [gs.parameters.index(n) for n, _ in gs.ranking()][: args.top]
        for i in order:
            print(f"  {gs.parameters[i]:32s} " + " ".join(f"{gs.indices[c][i]:12.4f}" for c in cols))
    if out:
        print(f"wrote {out / 'tornado.png'}")
    return 0


def _write_table(df, path: Path) -> None:
    from ..io.tables import write_parquet

    if path.suffix == ".parquet":
        write_parquet(df, path)
    else:
        df.to_csv(path, index=False)


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401

        return True
    except ImportError:
        return False


def _bytes_per_set(model) -> int:
    """Memory per parameter set of a steady-state batch: parameters, states, observables and readouts, with the
    copies the engine and the table writer make (a generous estimate)."""
    return 8 * 2 * (len(model.parameters) + len(model.states) + len(model.observable_names) + 40)


def _check_readouts(names, flag):
    from ..model.readouts import EXTRA_READOUTS, READOUTS

    known = {**READOUTS, **EXTRA_READOUTS}
    for r in names:
        if r not in known:
            from ..errors import unknown_name

            raise MgfluxError(unknown_name("readout", r, known, flag))


def _preflight(args) -> None:
    """Everything a batch command can check before any work: output folder, extras, scheduler."""
    check_out_dir(getattr(args, "out", None))
    if getattr(args, "out", None):
        require_format(args.format)
    elif getattr(args, "format", "csv") != "csv":
        raise MgfluxError(f"--format {args.format} applies to the table written with --out DIR; add --out")
    if getattr(args, "scheduler", None):
        require("distributed", "--scheduler")


def _common(p):
    p.add_argument("--workers", type=positive_int, help="numba threads (default: all cores)")
    p.add_argument("--scheduler", type=scheduler_address,
                   help='Dask backend: "local" (LocalCluster) or tcp://HOST:PORT (needs mgflux[dask])')
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="DIR", help="write the table (CSV or Parquet) and PNG plots into DIR")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help='table format with --out (parquet needs pip install "mgflux[parquet]")')
    p.add_argument("--seed", type=nonneg_int, default=0)


def register(sub) -> None:
    s = sub.add_parser("sweep", help="steady states over a grid or a sample of parameters / doses",
                       description="Steady states over model parameters (in the unit of the model file) or catalogue "
                                   "inputs (ENTRY.dose, ENTRY.activity, ENTRY.amount). Several --vary make a full grid; "
                                   "--samples N draws N points (Latin hypercube or Sobol) within the same bounds.")
    s.add_argument("scenario")
    s.add_argument("--vary", action="append", metavar="NAME=LO:HI:N",
                   help="e.g. gfr=60:150:10, omeprazole.dose=0:2:21, SLC12A3.activity=0:1:11 (append :log for a log scale)")
    s.add_argument("--log", action="store_true", help="log-spaced values for every --vary")
    s.add_argument("--samples", type=positive_int, help="random design of N points instead of a grid")
    s.add_argument("--method", choices=["lhs", "sobol"], default="lhs", help="sampling with --samples")
    s.add_argument("--readout", action="append", help="readouts to write (default: every contract readout)")
    _common(s)
    s.set_defaults(func=cmd_sweep)

    p = sub.add_parser("population", help="virtual patients: incidence of hypomagnesemia and CTCAE grades",
                       description="Virtual patients whose physiology varies as models/population.toml says "
                                   "(distributions and CVs with sources); drug exposure varies per patient.")
    p.add_argument("scenario", nargs="?")
    p.add_argument("--n", type=positive_int, help="patients (default 10000; --all-drugs: 2000 per drug)")
    p.add_argument("--days", type=positive_days, help="state at day D of the scenario's time course instead of the steady state")
    p.add_argument("--all-drugs", action="store_true", help="every drug of the catalogue against its reported incidence")
    p.add_argument("--measure", choices=["auto", "steady", "course"], default="auto",
                   help="--all-drugs: steady state on the standard dose, the nadir of the drug's shipped course "
                        "(scenarios/drugs/NAME.toml), or auto (the course for time-limited drugs, else steady state)")
    _common(p)
    p.set_defaults(func=cmd_population)

    g = sub.add_parser("sensitivity", help="local (normalised) or global (Morris, Sobol) sensitivity and a tornado plot")
    g.add_argument("scenario")
    g.add_argument("--method", choices=["local", "morris", "sobol"], default="local")
    g.add_argument("--readout", default="serum_mg_total_mM")
    g.add_argument("--n", type=positive_int, default=256, help="global: base sample size (Sobol: power of two) or Morris trajectories")
    g.add_argument("--top", type=positive_int, default=15, help="parameters shown")
    _common(g)
    g.set_defaults(func=cmd_sensitivity)
