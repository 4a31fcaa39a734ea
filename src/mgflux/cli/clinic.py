"""The clinic's questions on the command line: ``loading-test``, ``diagnose``, ``fit``, ``export-petab``
(registered by the CLI's plug-in hook; parsing and printing only)."""
from __future__ import annotations


def cmd_loading_test(args) -> int:
    from ..studies.loading_test import loading_test, loading_test_text
    from .format import _json

    res = loading_test(args.scenario, at=args.at, dose=args.dose, duration=args.duration, protocol=args.protocol)
    if args.json:
        print(_json(res.to_dict()))
    else:
        print(loading_test_text(res))
    return 0


def cmd_diagnose(args) -> int:
    from ..studies.diagnose import diagnose, diagnosis_text
    from .format import _json

    if args.top < 1:
        from ..errors import MgfluxError

        raise MgfluxError(f"--top must be at least 1, not {args.top}")
    res = diagnose(args.labs, top=args.top, use_cache=not args.no_cache)
    print(_json(res.to_dict()) if args.json else diagnosis_text(res))
    return 0


def _bounds(items) -> dict:
    from ..errors import MgfluxError

    out = {}
    for text in items or ():
        name, _, rng = text.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise MgfluxError(f"--bounds {text!r}: expected NAME=LO:HI (e.g. gfr=30:150)") from None
    return out


def cmd_fit(args) -> int:
    from ..studies.fit import fit, fit_text, plot_fit
    from .format import _json

    res = fit(args.scenario, args.data, args.estimate, bounds=_bounds(args.bounds))
    paths = plot_fit(res, args.scenario, args.out) if args.out else []
    if args.json:
        print(_json({**res.to_dict(), "files": [str(p) for p in paths]}))
    else:
        print(fit_text(res))
        if paths:
            print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_export_petab(args) -> int:
    from ..io.petab import write_petab

    res = write_petab(args.scenario, args.data, args.estimate, args.output, lint=not args.no_lint)
    print(f"wrote {res['yaml']} and {len(res['files']) - 1} files in {res['yaml'].parent}"
          + ("" if args.no_lint else ("; petab linter: no problems" if not res["lint"] else "")))
    if res["lint"]:
        from ..errors import MgfluxError

        raise MgfluxError("the petab linter found problems: " + "; ".join(res["lint"]))
    return 0


def register(subparsers) -> None:
    from ..studies.loading_test import PROTOCOLS

    lt = subparsers.add_parser(
        "loading-test", help="simulate the IV Mg tolerance (loading) test: 24-h retention and its interpretation",
        description="The IV Mg tolerance test given at time --at of the scenario's course (default: at its steady "
                    "state with every perturbation on). retention_percent = share of the dose not excreted in the "
                    "24 h from the start of the infusion, over the same patient's baseline urine of those 24 h. "
                    "> 50 %: deficiency; 20-50 %: possible (Ryzen 1985; IOM 1997).")
    lt.add_argument("scenario", help="scenario file (TOML)")
    lt.add_argument("--at", metavar="TIME", help='start of the infusion in the course, e.g. "60 day" (default: steady state)')
    lt.add_argument("--dose", default="30 mmol", help='elemental Mg, e.g. "30 mmol" or "730 mg" (default 30 mmol)')
    lt.add_argument("--duration", default="8 hour", help='infusion time, at most 24 hour (default 8 hour)')
    lt.add_argument("--protocol", choices=sorted(PROTOCOLS),
                    help="a standard protocol (overrides --dose/--duration); per-kg doses use [patient] weight "
                         "(70 kg without one)")
    lt.add_argument("--json", action="store_true", help="print one JSON object")
    lt.set_defaults(func=cmd_loading_test)

    dg = subparsers.add_parser(
        "diagnose", help="model-based differential: rank catalogue causes by how well they reproduce a patient's labs",
        description="Rank catalogue causes (genes homozygous and heterozygous, drugs at their usual dose, conditions "
                    "at typical severity, two-hit combinations) by the likelihood of the labs under the model with "
                    "the population variability of models/population.toml and the measurement errors of "
                    "models/clinical/diagnosis.toml. LABS.toml has [labs] (serum_mg_total, serum_mg_ionized, femg, "
                    "urine_mg, urine_ca_creatinine_ratio, urine_ca, serum_ca_total, serum_ca_ionized, pth; pint "
                    "quantities, ratios and FEMg (%%) as numbers), optional medications = [...], [patient], [diet] "
                    "and [presentation] (onset_age = \"3 year\" and extra-renal features as true/false, e.g. "
                    "sensorineural_deafness = true: models/clinical/presentation.toml), which multiply the "
                    "likelihood by P(presentation | cause). The simulated patients are cached in the mgflux cache "
                    "dir. It ranks mechanisms in a model; it is not a clinical diagnosis.")
    dg.add_argument("labs", help="labs file (TOML)")
    dg.add_argument("--top", type=int, default=5, help="number of candidates shown (default 5)")
    dg.add_argument("--json", action="store_true", help="print one JSON object")
    dg.add_argument("--no-cache", action="store_true", help="simulate the candidates again (ignore the disk cache)")
    dg.set_defaults(func=cmd_diagnose)

    ft = subparsers.add_parser(
        "fit", help="estimate scenario inputs or model parameters from measurements (weighted least squares)",
        description="Estimate the named inputs (as `sweep --vary`: gfr, cetuximab.dose, TRPM6.activity, ...) from a "
                    "tidy table time_day,readout,value,sd by weighted least squares within the documented ranges; "
                    "sensitivities by central differences of the batched integrator (rtol 1e-9); 95 %% intervals by "
                    "profile likelihood; a parameter the data cannot determine is reported as not identifiable.")
    ft.add_argument("scenario", help="scenario file (TOML)")
    ft.add_argument("--data", required=True, metavar="DATA.csv", help="measurements: time_day,readout,value,sd")
    ft.add_argument("--estimate", action="append", required=True, metavar="NAME", help="input or parameter to estimate")
    ft.add_argument("--bounds", action="append", metavar="NAME=LO:HI", help="bounds (default: the documented range)")
    ft.add_argument("--json", action="store_true", help="print one JSON object")
    ft.add_argument("--out", metavar="DIR", help="write fit.png (data and fit) and profiles.png into DIR")
    ft.set_defaults(func=cmd_fit)

    ep = subparsers.add_parser(
        "export-petab", help="write scenario + measurements as a PEtab problem (for pyPESTO / AMICI), linted",
        description="Write the scenario (SBML with its windows as events), the measurements and the inputs "
                    "to estimate (model parameters, catalogue inputs) as a PEtab v1 problem, and validate it with the petab library's linter.")
    ep.add_argument("scenario", help="scenario file (TOML)")
    ep.add_argument("--data", required=True, metavar="DATA.csv", help="measurements: time_day,readout,value,sd")
    ep.add_argument("--estimate", action="append", required=True, metavar="NAME",
                    help="model parameter or catalogue input to estimate (gfr, cetuximab.dose, TRPM6.activity)")
    ep.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the PEtab files")
    ep.add_argument("--no-lint", action="store_true", help="do not run the petab linter")
    ep.set_defaults(func=cmd_export_petab)
