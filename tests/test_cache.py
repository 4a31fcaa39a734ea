"""The compiled-model cache: keyed by the generated code alone, rebuilt when corrupted, bypassed when it cannot
be written (each with a warning, never a traceback), and no wait for the compiler on a single `run`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mgflux

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "scenarios" / "healthy.toml"


def _mgflux(args, cache, **env):
    e = dict(os.environ, MGFLUX_CACHE_DIR=str(cache), MGFLUX_NO_BACKGROUND_COMPILE="1", **env)
    return subprocess.run([sys.executable, "-m", "mgflux", *args], capture_output=True, text=True, env=e,
                          timeout=600)


def test_cache_key_is_the_generated_code_only(tmp_path):
    """The same model text under another file name (what a Dask worker rebuilds) reuses the same generated
    module: one module file in the cache, not two."""
    code = ("import sys, mgflux; text = (mgflux.models_dir() / 'adult.toml').read_text(); "
            "b = mgflux.model_from_text(text, name='copy_with_another_file_name'); "
            "mgflux.steady_state(sys.argv[1]); "
            "mgflux.steady_state(mgflux.scenario_from_dict({'scenario': {'name': 'b', 'model': str(b.path)}}))")
    cache = tmp_path / "cache"
    r = subprocess.run([sys.executable, "-c", code, str(HEALTHY)], env=dict(os.environ, MGFLUX_CACHE_DIR=str(cache)),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(list(cache.glob("models/*.toml"))) == 1  # the copy has its own file name ...
    assert len(list(cache.glob("mgflux_model_*.py"))) == 1  # ... and shares the generated module


@pytest.mark.slow
def test_steady_and_run_answer_without_compiling_on_an_empty_cache(tmp_path):
    r = _mgflux(["run", str(HEALTHY), "--json"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "not cached yet: this run uses scipy" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["solver"]["method"] == "LSODA"
    assert not list((tmp_path / "cache" / "__pycache__").glob("*timecourse_totals*.nbi"))  # nothing compiled
    ref = mgflux.simulate(HEALTHY)  # the compiled Rodas4 path of this process
    for k, v in ref.final.items():
        assert doc["final"][k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
    s = _mgflux(["steady", str(HEALTHY), "--json"], tmp_path / "cache")
    assert s.returncode == 0 and json.loads(s.stdout)["serum_mg_total_mM"] == pytest.approx(0.85, abs=0.01)


@pytest.mark.slow
def test_corrupted_cache_is_rebuilt_with_a_warning(tmp_path):
    cache = tmp_path / "cache"
    # compile the single-run kernels into that cache (what `mgflux run` starts in the background)
    subprocess.run([sys.executable, "-m", "mgflux.engine.warmup", str(mgflux.models_dir() / "adult.toml")],
                   env=dict(os.environ, MGFLUX_CACHE_DIR=str(cache)), check=True, timeout=600)
    index = sorted((cache / "__pycache__").glob("*timecourse_totals*.nbi"))
    assert index
    for f in (cache / "__pycache__").glob("*.nbi"):
        f.write_text("garbage")
    r = _mgflux(["run", str(HEALTHY), "--json"], cache)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "mgflux: warning: the compiled-model cache" in r.stderr and "corrupted" in r.stderr
    assert json.loads(r.stdout)["final"]["serum_mg_total_mM"] == pytest.approx(0.85, abs=0.01)


def test_unwritable_cache_is_bypassed_with_a_warning(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = _mgflux(["steady", str(HEALTHY), "--json"], blocker / "cache")  # cannot be created under a file
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "mgflux: warning: cannot write the cache folder" in r.stderr
    assert json.loads(r.stdout)["serum_mg_total_mM"] == pytest.approx(0.85, abs=0.01)


@pytest.mark.slow
def test_a_batch_that_must_compile_says_so(tmp_path):
    r = _mgflux(["sensitivity", str(HEALTHY), "--json"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "compiling the model once (about" in r.stderr
    again = _mgflux(["sensitivity", str(HEALTHY), "--json"], tmp_path / "cache")
    assert "compiling" not in again.stderr


def test_a_warm_steady_state_imports_only_what_it_needs(tmp_path):
    """Lazy imports: with the load cache warm, a steady state imports neither pint (nor scipy, which pint
    pulls in) nor numba nor pandas nor matplotlib: what keeps `mgflux steady` as quick as libRoadRunner."""
    code = ("import sys, json, mgflux; mgflux.steady_state(sys.argv[1]); "
            "print(json.dumps([m for m in ('pint', 'scipy', 'numba', 'pandas', 'matplotlib') if m in sys.modules]))")
    env = dict(os.environ, MGFLUX_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.run([sys.executable, "-c", code, str(HEALTHY)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "pint" in json.loads(first.stdout)  # the first process checks the model's units
    again = subprocess.run([sys.executable, "-c", code, str(HEALTHY)], env=env, capture_output=True, text=True)
    assert json.loads(again.stdout) == [], again.stdout


def test_background_compile_starts_once_for_concurrent_runs(tmp_path, monkeypatch):
    """The lock is named by a digest of the model file (the same in every process) and created atomically:
    a second cold run while the first compile is under way starts no second compile."""
    from mgflux.engine import warmup

    monkeypatch.delenv("MGFLUX_NO_BACKGROUND_COMPILE", raising=False)
    monkeypatch.setenv("MGFLUX_CACHE_DIR", str(tmp_path))
    model = mgflux.get_model("adult")
    code = "import mgflux; from mgflux.engine import warmup; print(warmup._lock_path(mgflux.get_model('adult')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, MGFLUX_CACHE_DIR=str(tmp_path)), timeout=120)
    assert other.stdout.strip() == str(warmup._lock_path(model))  # another process finds the same lock
    started = []
    monkeypatch.setattr(warmup.subprocess, "Popen", lambda *a, **k: started.append(a))
    assert warmup.start_background_compile(model) and warmup.start_background_compile(model)
    assert len(started) == 1 and len(list(tmp_path.glob("compiling-adult-*.lock"))) == 1
