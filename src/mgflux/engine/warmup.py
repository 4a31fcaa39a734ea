"""Compile a model's single-run kernels in a background process, so that the next `mgflux run` loads them.

``mgflux run`` on an empty cache answers with scipy at once (``RunOptions(compile="background")``) and starts
``python -m mgflux.engine.warmup MODEL.toml``, detached: it calls each single-run kernel once with the argument
types a run uses, which writes their machine code into numba's cache. A lock file keeps two such processes from
compiling the same model at once.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

#: the compiled kernels a single `steady` / `run` calls (their cache files say whether the model is compiled)
SINGLE_RUN_KERNELS = ("timecourse_totals", "newton_one", "observe_chunk")
_LOCK_SECONDS = 300.0


#: what a background compilation compiles: the single-run kernels, or those of a batch of steady states
FAMILIES = ("single", "batch")


def _lock_path(model, family: str = "single") -> Path:
    from .._paths import cache_dir

    # a digest, not hash(): str hashes are salted per process, so every process would name another lock
    digest = hashlib.sha256(model.path.read_bytes()).hexdigest()[:16]
    suffix = "" if family == "single" else f"-{family}"
    return cache_dir() / f"compiling-{model.name}-{digest}{suffix}.lock"


def start_background_compile(model, family: str = "single") -> bool:
    """Start the background compilation of *model*'s single-run kernels (*family* ``"single"``) or of its
    batch steady-state kernels (``"batch"``); True if it started or one is running already, False if it cannot
    be started (the next run then compiles in the foreground)."""
    if os.environ.get("MGFLUX_NO_BACKGROUND_COMPILE"):
        return False
    try:
        lock = _lock_path(model, family)
        lock.parent.mkdir(parents=True, exist_ok=True)
        if lock.exists() and time.time() - lock.stat().st_mtime >= _LOCK_SECONDS:
            lock.unlink(missing_ok=True)  # a stale lock: its compile died
        try:  # atomic: of two processes starting at once, one creates the lock and the other sees it
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return True
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        subprocess.Popen([sys.executable, "-m", "mgflux.engine.warmup", str(model.path), str(lock)]
                         + (["--batch"] if family == "batch" else []),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m mgflux.engine.warmup MODEL.toml [LOCK] [--batch]", file=sys.stderr)
        return 2
    batch = "--batch" in argv
    argv = [a for a in argv if a != "--batch"]
    model_path, lock = argv[0], (Path(argv[1]) if len(argv) > 1 else None)
    try:
        if batch:
            return _compile_batch(model_path)
        import numpy as np

        from ..model.model import get_model
        from .codegen import compiled

        model = get_model(model_path)
        mod = compiled(model)
        y, p = model.guess_vector().astype(np.float64), model.parameter_vector().astype(np.float64)
        n = y.shape[0]
        dy, J, out = np.empty(n), np.empty((n, n)), np.empty(len(model.observable_names))
        mod.rhs(y, p, dy)  # the same argument types as engine.steady and engine.timecourse
        mod.jacobian(y, p, J)
        mod.observe(y, p, out)
        mod.newton_one(y.copy(), p, 1e-6 * np.maximum(np.abs(y), 1.0), 1e-11, 1e-10, 60)
        ext = np.concatenate([y, np.zeros(mod.N_TOTALS)])
        Yout = np.empty((2, ext.shape[0]))
        mod.timecourse_totals(ext, np.ascontiguousarray(p[None]), np.array([0.0, 1.0]), np.array([0.0, 1.0]), 1e-9,
                              1e-12 * np.maximum(1.0, np.abs(ext)), 1000, Yout, float(np.inf))
        mod.observe_chunk(0, 1, np.ascontiguousarray(y[None]), np.ascontiguousarray(p[None]), out[None].copy())
        return 0
    finally:
        if lock is not None:
            try:
                lock.unlink()
            except OSError:
                pass


def _compile_batch(model_path) -> int:
    """Run a batch of two steady states on the compiled kernels: numba writes every kernel a batch of steady
    states uses (warm start, batch Newton, observables) into its cache."""
    import numpy as np

    from ..model.model import get_model
    from ..options import BatchOptions
    from .batch import nominal, readouts_of, solve_batch

    model = get_model(model_path)
    p = model.parameter_vector()
    os.environ["MGFLUX_NO_BACKGROUND_COMPILE"] = "1"  # this process compiles: no cold-cache shortcuts in it
    P = np.ascontiguousarray(np.vstack([p, p]))
    Y, status, _ = solve_batch(model, P, warm=nominal(model, p), options=BatchOptions(backend="numba"))
    readouts_of(model, Y, P, status)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
