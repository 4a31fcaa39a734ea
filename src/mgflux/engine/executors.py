"""Executors: where the chunks of a batch run. A pool of threads on this machine (the kernels release the GIL)
or a Dask cluster (one task per chunk)."""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import MgfluxError


def set_workers(workers: int | None) -> None:
    """Use *workers* numba threads (at most numba's thread count); None or 0 keeps the current number."""
    import numba as nb

    if workers:
        nb.set_num_threads(max(1, min(int(workers), nb.config.NUMBA_NUM_THREADS)))


def run_chunks(fn, N: int, *args, min_chunk: int = 64, progress=None) -> None:
    """fn(lo, hi, *args) over 0..N in chunks on a pool of threads, as many as numba's thread count (the
    kernels release the GIL). Same results as numba's prange (every set is independent), without its parallel
    lowering, which costs ~10 s of compilation per kernel on a cold cache. The first set runs alone first (it
    compiles or loads the kernel); the rest in ~8 chunks per thread (load balance: hard sets cluster), or in
    ~50 chunks when *progress* (called with the number of sets each finished chunk did) drives a progress bar."""
    import numba as nb

    if N <= 0:
        return
    fn(0, 1, *args)
    if progress:
        progress(1)
    if N == 1:
        return
    T = max(1, nb.get_num_threads())
    n_chunks = max(1, min(50 if progress else 8 * T, (N - 1) // max(min_chunk, 1)))
    bounds = np.linspace(1, N, n_chunks + 1).astype(np.int64)
    spans = [(int(bounds[i]), int(bounds[i + 1])) for i in range(n_chunks) if bounds[i + 1] > bounds[i]]
    if T == 1 or n_chunks == 1:
        for lo, hi in spans:
            fn(lo, hi, *args)
            if progress:
                progress(hi - lo)
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=T) as ex:
        futures = {ex.submit(fn, lo, hi, *args): hi - lo for lo, hi in spans}
        for f in as_completed(futures):
            f.result()
            if progress:
                progress(futures[f])


@contextlib.contextmanager
def dask_client(scheduler):
    """A dask.distributed Client for *scheduler*: ``"local"`` (a LocalCluster on this machine, closed after),
    ``"tcp://HOST:PORT"``, or a Client already open (used as it is, left open)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise MgfluxError('the Dask backend needs dask.distributed: pip install "mgflux[dask]"') from None
    if not isinstance(scheduler, str):
        yield scheduler
        return
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_map(scheduler, fn, chunks: list, *shared) -> list:
    """fn(chunk, *shared) for every chunk, as tasks on the cluster; the results in order."""
    with dask_client(scheduler) as client:
        futures = client.map(fn, chunks, *[[a] * len(chunks) for a in shared], pure=False)
        return client.gather(futures)


class Threads:
    """This machine: chunks of a GIL-free kernel on a pool of *workers* threads (default: numba's count).

    ``run(kernel, N, *arrays)`` calls ``kernel(lo, hi, *arrays)`` over 0..N (the kernel writes its sets' results
    into the arrays); ``map(fn, chunks, *shared)`` calls ``fn(chunk, *shared)`` for each chunk in this process.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def run(self, kernel, N: int, *arrays, progress=None) -> None:
        set_workers(self.workers)
        run_chunks(kernel, N, *arrays, progress=progress)

    def map(self, fn, chunks: list, *shared) -> list:
        set_workers(self.workers)
        return [fn(c, *shared) for c in chunks]


class Dask:
    """A Dask cluster: ``map(fn, chunks, *shared)`` runs each chunk as one task (a worker rebuilds the model
    from its text; the cache key is the generated code, so it reuses compiled kernels). *scheduler*:
    ``"local"``, ``"tcp://HOST:PORT"`` or an open ``distributed.Client``."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def map(self, fn, chunks: list, *shared) -> list:
        return _dask_map(self.scheduler, fn, chunks, *shared)


def executor(scheduler=None, workers: int | None = None) -> Threads | Dask:
    """The executor of an :class:`mgflux.Execution`'s *scheduler* and *workers*: Dask when a scheduler is
    given, else threads on this machine. Both give identical results (every set is independent)."""
    return Dask(scheduler) if scheduler else Threads(workers)
