"""The command line: JSON contract, tables, output files, errors."""
import json
import math
import shutil
import subprocess

import pytest

from conftest import SCENARIOS
from mgflux import READOUTS, main


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_steady_json_has_every_readout(capsys):
    code, out, _ = run_cli(capsys, "steady", str(SCENARIOS / "healthy.toml"), "--json")
    assert code == 0
    obj = json.loads(out)
    for k in READOUTS:
        assert isinstance(obj[k], (int, float)) and math.isfinite(obj[k]), k
    assert obj["serum_mg_total_mM"] == pytest.approx(0.85, abs=0.01)


def test_steady_table_has_units(capsys):
    code, out, _ = run_cli(capsys, "steady", str(SCENARIOS / "healthy.toml"))
    assert code == 0
    assert "serum_mg_total_mM" in out and "mM" in out and "mmol/day" in out and "2.43 mg/dL" in out


def test_run_json_and_out_dir(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", str(SCENARIOS / "healthy.toml"), "--json", "--out", str(tmp_path))
    assert code == 0
    obj = json.loads(out)
    tc = obj["timecourse"]
    assert len(tc["time_day"]) == len(tc["serum_mg_total_mM"]) == 61  # 60 days, daily samples
    for k in READOUTS:
        assert k in obj["final"] and k in tc
    for f in ("timecourse.csv", "serum.png", "urine.png", "pools.png", "segments.png", "calcium.png"):
        assert (tmp_path / f).stat().st_size > 1000, f
    header = (tmp_path / "timecourse.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "time_day" and "serum_mg_total_mM" in header and "cumulative_urine_mmol" in header


def test_catalogue_json_and_filter(capsys):
    code, out, _ = run_cli(capsys, "catalogue", "--json", "--mechanism", "tal_paracellular")
    assert code == 0
    entries = json.loads(out)["entries"]
    assert entries and all(e["mechanism"] == "tal_paracellular" for e in entries)
    assert {"CLDN16", "CLDN19"} <= {e["name"] for e in entries}
    assert all(e["source"] for e in entries)


def test_unknown_mechanism_suggests(capsys):
    code, _, err = run_cli(capsys, "catalogue", "--mechanism", "tal_paracelular")
    assert code == 2 and "Did you mean 'tal_paracellular'" in err


def test_error_is_one_line_not_a_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[diet]\nmg_intake = "300 mg"\n')
    code, out, err = run_cli(capsys, "steady", str(bad))
    assert code == 2 and out == ""
    assert err.startswith("mgflux: error: ") and "Traceback" not in err and str(bad) in err


def _script():
    import sys
    from pathlib import Path

    beside = Path(sys.executable).parent / "mgflux"  # the venv's console script
    return str(beside) if beside.exists() else shutil.which("mgflux")


@pytest.mark.skipif(_script() is None, reason="console script not installed")
def test_console_script():
    p = subprocess.run([_script(), "steady", str(SCENARIOS / "healthy.toml"), "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hypomagnesemia_grade"] == 0
