"""``mgflux export-sbml SCENARIO -o model.xml``: the model as SBML L3V2, the scenario's windows as events
(``--steady``: every modifier on permanently)."""
from __future__ import annotations


def cmd_export_sbml(args) -> int:
    from ..io.sbml import _libsbml, write_sbml
    from ..run import _as_scenario

    scenario = _as_scenario(args.scenario)
    path = write_sbml(scenario, args.output, check=not args.no_check, steady=args.steady)
    m = scenario.model
    n_events = _libsbml().readSBMLFromFile(str(path)).getModel().getNumEvents()
    print(f"wrote {path}: SBML L3V2, {sum(s.pool for s in m.states)} species, "
          f"{sum(not s.pool for s in m.states)} rate rules, {len(m.expressions)} assignment rules, "
          f"{len(m.fluxes)} reactions"
          + (f", {n_events} events (window edges of `run`)" if n_events else "")
          + (" (every modifier on permanently, as `steady`)" if args.steady else "")
          + ("" if args.no_check else "; libSBML consistency and units: no problems"))
    return 0


def register(subparsers) -> None:
    e = subparsers.add_parser(
        "export-sbml", help="write the model with the scenario's modifiers as SBML Level 3 (windows as events)",
        description="Write the model as SBML L3V2 (species in mmol, time in days) for the scenario, so that a time "
                    "course of the file from time 0 reproduces `mgflux run`: the parameters in force at time 0 (diet, "
                    "gene variants, every drug, condition and treatment acting from the start) and, at every "
                    "window edge inside the run (start, stop, end of a one-off infusion), an event that sets the "
                    "parameters of the next segment. A scenario without windows gives a file without events. "
                    "With --steady: every drug, condition and continuous treatment on permanently and no events "
                    "(as `steady`; one-off infusions dropped). Initial amounts: the steady state with the diet and "
                    "gene variants (the start of `run`). Needs python-libsbml (pip install 'mgflux[sbml]').")
    e.add_argument("scenario", help="scenario file (TOML)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="SBML file to write")
    e.add_argument("--steady", action="store_true",
                   help="every modifier on permanently, windows ignored, no events (the model `steady` solves; "
                        "what export-sbml wrote before windows became events)")
    e.add_argument("--no-check", action="store_true",
                   help="write even if libSBML's consistency or unit checks report problems")
    e.set_defaults(func=cmd_export_sbml)
