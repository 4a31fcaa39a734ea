"""A first small batch on a cold cache answers with the plain-Python solver (the batch kernel's strategies,
stability test and status codes, without numba) and compiles the batch kernels in the background: its answer
agrees with the compiled batch to the solver's tolerance, and the next batch loads the compiled kernels."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mgflux

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "scenarios" / "healthy.toml"
GITELMAN = ROOT / "scenarios" / "genes" / "SLC12A3.toml"


@pytest.mark.parametrize("scenario", [HEALTHY, GITELMAN], ids=["healthy", "SLC12A3"])
def test_plain_python_batch_agrees_with_the_compiled_batch(scenario):
    factors = {"gfr": np.linspace(30.0, 150.0, 7)}
    compiled = mgflux.steady_states(scenario, factors, options=mgflux.BatchOptions(backend="numba"))
    plain = mgflux.steady_states(scenario, factors, options=mgflux.BatchOptions(backend="python"))
    assert list(plain.status) == list(compiled.status) == [0] * 7
    assert np.allclose(plain.Y, compiled.Y, rtol=1e-8, atol=1e-12)
    for name in ("serum_mg_total_mM", "urine_mg_mmol_per_day", "serum_ca_total_mM", "pth_pg_per_mL"):
        assert np.allclose(plain[name], compiled[name], rtol=1e-8), name


def test_plain_python_batch_gives_the_kernels_status_codes():
    """A set without any Mg input (no steady state of a person) gets the same status as in the compiled batch,
    and its neighbours are unaffected."""
    factors = {"diet_mg_intake": [300.0, 0.0, 150.0]}
    out = {b: mgflux.steady_states(HEALTHY, factors, options=mgflux.BatchOptions(backend=b))
           for b in ("numba", "python")}
    assert list(out["python"].status) == list(out["numba"].status)
    assert out["python"].status[0] == 0 and out["python"].status[1] != 0
    assert np.isnan(out["python"]["serum_mg_total_mM"][1])


@pytest.mark.slow
def test_a_first_small_sweep_does_not_wait_for_numba(tmp_path):
    """Empty caches: the sweep answers with the plain-Python solver and says so; a detached process compiles the
    batch kernels; once it is done, the same sweep loads them (no note, no compile)."""
    cache = tmp_path / "cache"
    env = dict(os.environ, MGFLUX_CACHE_DIR=str(cache), NUMBA_CACHE_DIR=str(cache))
    env.pop("MGFLUX_NO_BACKGROUND_COMPILE", None)
    code = ("import sys, json, mgflux; r = mgflux.sweep(sys.argv[1], ['gfr=60:150:10']); "
            "print(json.dumps([float(x) for x in r['serum_mg_total_mM']]))")
    first = subprocess.run([sys.executable, "-c", code, str(HEALTHY)], env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr
    assert "these 10 sets use the plain-Python solver; compiling them in the background" in first.stderr
    assert "Traceback" not in first.stderr

    ref = mgflux.sweep(HEALTHY, ["gfr=60:150:10"], options=mgflux.BatchOptions(backend="numba"))
    assert np.allclose(json.loads(first.stdout), ref["serum_mg_total_mM"], rtol=1e-8)
    deadline = time.time() + 900
    while list(cache.glob("compiling-*-batch.lock")) and time.time() < deadline:
        time.sleep(2)
    assert not list(cache.glob("compiling-*-batch.lock")), "the background compile did not finish in 15 min"
    again = subprocess.run([sys.executable, "-c", code, str(HEALTHY)], env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    assert "plain-Python" not in again.stderr and "compiling" not in again.stderr, again.stderr
    assert np.allclose(json.loads(again.stdout), ref["serum_mg_total_mM"], rtol=1e-8)
