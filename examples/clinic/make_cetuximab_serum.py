"""Make examples/clinic/cetuximab_serum.csv: serum total Mg of the cetuximab course with a stop
(scenarios/combinations/cetuximab_course_with_stop.toml) made by the model at 0.7 x the standard dose, with
normal noise of sd 0.03 mM (seed 1). Illustrative values, not patient data. Run from the repository root."""
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "combinations" / "cetuximab_course_with_stop.toml"
TIMES = [0, 14, 28, 42, 56, 84, 112, 140, 168, 196, 224, 252, 280]
TRUTH = {"cetuximab.dose": 0.7}


def rows():
    from mgflux.studies.fit import simulated_data

    tab = simulated_data(SCENARIO, TRUTH, TIMES, sd=0.03, seed=1)[0]
    return [{**r, "time_day": int(r["time_day"]), "value": round(r["value"], 3)} for r in tab]


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("cetuximab_serum.csv")
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["time_day", "readout", "value", "sd"])
        w.writeheader()
        w.writerows(rows())
    print(f"wrote {out}")
