"""``mgflux export-sbml SCENARIO -o model.xml``: the model as SBML L3V2 with the scenario's constant modifiers."""
from __future__ import annotations


def cmd_export_sbml(args) -> int:
    from ._sbml import write_sbml
    from ._simulate import _as_scenario

    scenario = _as_scenario(args.scenario)
    path = write_sbml(scenario, args.output, check=not args.no_check)
    m = scenario.model
    print(f"wrote {path}: SBML L3V2, {sum(s.pool for s in m.states)} species, "
          f"{sum(not s.pool for s in m.states)} rate rules, {len(m.expressions)} assignment rules, "
          f"{len(m.fluxes)} reactions" + ("" if args.no_check else "; libSBML consistency and units: no problems"))
    return 0


def register(subparsers) -> None:
    e = subparsers.add_parser(
        "export-sbml", help="write the model with the scenario's constant modifiers as SBML Level 3",
        description="Write the model as SBML L3V2 (species in mmol, time in days) with the scenario's diet, gene "
                    "variants and every drug, condition and continuous treatment applied permanently (as `steady`). "
                    "Initial amounts: the steady state with the diet and gene variants (the start of `run`). "
                    "Needs python-libsbml (pip install 'mgflux[sbml]').")
    e.add_argument("scenario", help="scenario file (TOML)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="SBML file to write")
    e.add_argument("--no-check", action="store_true",
                   help="write even if libSBML's consistency or unit checks report problems")
    e.set_defaults(func=cmd_export_sbml)
