"""PEtab (v1) export of a scenario with measurements: ``mgflux export-petab`` / ``write_petab``.

The problem can then be taken to pyPESTO or AMICI. Files: the SBML model (``mgflux export-sbml``: the
scenario's windows as events), a one-row condition table, the observables (the readouts as formulas of SBML
ids), the measurements (sd per row as the noise parameter) and the parameter table (estimated model
parameters with their documented ranges as bounds, in the SBML file's units: internal mmol, L, day).

Limits, said where they bite: catalogue inputs (``cetuximab.dose``) are not SBML parameters (the file bakes the
entry's modifiers into its events), so only model parameters can be estimated in PEtab; the initial amounts are
the steady state at the nominal parameters (mgflux's own ``fit`` starts every trial from its own steady state).
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import MgfluxError

#: Readouts with a PEtab formula in the SBML ids of the exported model.
OBSERVABLES = {
    "serum_mg_total_mM": "serum_total",
    "serum_mg_ionized_mM": "serum_ionized",
    "urine_mg_mmol_per_day": "urine_rate",
    "femg_percent": "100 * urine_rate / filtered_load",
    "filtered_load_mmol_per_day": "filtered_load",
}


def _tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_petab(scenario, data, estimate, directory, *, lint: bool = True) -> dict:
    """Write the PEtab problem of *scenario*, *data* (tidy table) and the model parameters *estimate* into
    *directory*; returns {"yaml": path, "files": [...], "lint": [problems]} (lint with the ``petab`` library)."""
    from ..model.parameters import factor
    from ..model.scenario import Scenario, load_scenario
    from ..studies.fit import load_data
    from .sbml import write_sbml

    scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    meas = load_data(data)
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    facs = [factor(scenario, n) for n in names]
    for f in facs:
        if not f.is_parameter:
            raise MgfluxError(f"export-petab: {f.name} is a catalogue input, not an SBML parameter (the exported "
                              "file bakes each entry's modifiers into its events); estimate model parameters "
                              f"(e.g. gfr), or use `mgflux fit --estimate {f.name}`")
        if f.documented_range is None:
            raise MgfluxError(f"export-petab: {f.name} has no documented range in the model (PEtab needs bounds)")
    bad = sorted({r for r in meas.readout if r not in OBSERVABLES})
    if bad:
        raise MgfluxError(f"export-petab: no PEtab observable for {', '.join(bad)} yet; exportable readouts: "
                          f"{', '.join(OBSERVABLES)}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sbml = write_sbml(scenario, d / "model.xml")
    obs = sorted(set(meas.readout))
    files = [sbml]
    files.append(_tsv(d / "conditions.tsv", ["conditionId", "conditionName"], [["course", scenario.name]]))
    files.append(_tsv(d / "observables.tsv",
                      ["observableId", "observableName", "observableFormula", "noiseFormula", "noiseDistribution"],
                      [[f"obs_{r}", r, OBSERVABLES[r], f"noiseParameter1_obs_{r}", "normal"] for r in obs]))
    files.append(_tsv(d / "measurements.tsv",
                      ["observableId", "simulationConditionId", "measurement", "time", "noiseParameters"],
                      [[f"obs_{r}", "course", repr(float(v)), repr(float(t)), repr(float(s))]
                       for t, r, v, s in zip(meas.time_day, meas.readout, meas.value, meas.sd)]))
    model = scenario.model
    rows = []
    for f in facs:
        lo, hi = f.documented_range
        nominal = model.parameters[f.index].value
        rows.append([f.name, "lin", repr(lo * f.to_internal), repr(hi * f.to_internal), repr(nominal), 1])
    files.append(_tsv(d / "parameters.tsv",
                      ["parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue", "estimate"], rows))
    yaml = d / "problem.yaml"
    yaml.write_text("format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
                    "  - condition_files: [conditions.tsv]\n    measurement_files: [measurements.tsv]\n"
                    "    observable_files: [observables.tsv]\n    sbml_files: [model.xml]\n")
    files.append(yaml)
    problems = lint_petab(yaml) if lint else []
    return {"yaml": yaml, "files": files, "lint": problems}


def lint_petab(yaml_path) -> list[str]:
    """Problems the ``petab`` library's linter finds in the problem (empty: none)."""
    import io
    import logging

    try:
        from petab import v1 as petab
    except ImportError:
        try:
            import petab
        except ImportError:
            raise MgfluxError('validating a PEtab problem needs the petab library: pip install "mgflux[petab]"') from None
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    log = logging.getLogger("petab")
    log.addHandler(handler)
    try:
        problem = petab.Problem.from_yaml(str(yaml_path))
        failed = petab.lint_problem(problem)
    finally:
        log.removeHandler(handler)
    msgs = [m for m in stream.getvalue().splitlines() if m.strip()]
    if failed and not msgs:
        msgs = ["the petab linter reported errors"]
    return msgs if failed else []
