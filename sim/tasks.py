"""Independent simulations as tasks: in this process, in local worker processes, or on Ray.

Every multi-run command (the key's counterfactual branches and replicate worlds, the quiet
luck search, calibration trials, audits, `solve --all`) hands its independent pieces of
work to one of these backends. A task is a module-level function `fn(shared, arg)`: `shared`
is a large object (a forked engine state) shipped once per worker, `arg` is the task's own
small input. Results come back in submission order whatever order tasks finish in, and
every task runs with one BLAS/OpenMP thread, so a result is identical (bit for bit) with 1
worker, N local processes or a Ray cluster. `on_done` is called as each task finishes (for
progress bars). An exception or Ctrl-C cancels every task still pending and stops the
workers; the caller writes nothing (run folders are written by the parent, atomically).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

TaskFn = Callable[[Any, Any], Any]
OnDone = Callable[[Any], None] | None
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _call(fn: TaskFn, shared: Any, arg: Any) -> Any:
    """Run one task with one BLAS thread: the same arithmetic in every backend."""
    with threadpool_limits(limits=1):
        return fn(shared, arg)


class Tasks:
    """The serial backend: tasks run in this process, one after another, when gathered."""

    workers = 1
    name = "serial"

    def share(self, obj: Any) -> Any:
        """A handle for an object every task of a batch reads (tasks must not mutate it)."""
        return obj

    def submit(self, fn: TaskFn, arg: Any, shared: Any = None) -> Any:
        return (fn, shared, arg)

    def gather(self, pending: list[Any], on_done: OnDone = None) -> list[Any]:
        results = []
        for fn, shared, arg in pending:
            results.append(_call(fn, shared, arg))
            if on_done is not None:
                on_done(results[-1])
        return results

    def map(
        self, fn: TaskFn, args: Iterable[Any], shared: Any = None, on_done: OnDone = None
    ) -> list[Any]:
        return self.gather([self.submit(fn, a, shared) for a in args], on_done)

    def cancel(self) -> None:
        """Drop every task not yet finished (nothing to do here: tasks run when gathered)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Tasks:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:  # Ctrl-C or an error anywhere: nothing may keep running
            self.cancel()
        self.close()


SERIAL = Tasks()


# ---- local worker processes -----------------------------------------------------------------
@dataclass(frozen=True)
class SharedFile:
    """A shared object pickled once to a file; each worker loads it once and keeps it."""

    path: str


_LOADED: dict[str, Any] = {}  # in a worker: the one shared object it holds (memory bound)


def _resolve(shared: Any) -> Any:
    if not isinstance(shared, SharedFile):
        return shared
    if shared.path not in _LOADED:
        _LOADED.clear()
        with open(shared.path, "rb") as fh:
            _LOADED[shared.path] = pickle.load(fh)
    return _LOADED[shared.path]


def _worker_init() -> None:
    """One BLAS/OpenMP thread per worker: the workers already fill the cores. Ctrl-C is the
    parent's to handle (it stops the workers), not each worker's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in THREAD_VARS:
        os.environ[var] = "1"
    threadpool_limits(limits=1)


def _local_call(fn: TaskFn, shared: Any, arg: Any) -> Any:
    return _call(fn, _resolve(shared), arg)


def _context() -> mp.context.BaseContext:
    """forkserver where it exists (fast starts, no inherited threads), spawn elsewhere."""
    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.tasks", "sim.truth", "sim.intent"])
        return ctx
    return mp.get_context("spawn")


class LocalTasks(Tasks):
    """Worker processes on this machine (embedded: nothing to start or install)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="casesim-tasks-"))
        self._count = 0

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_worker_init
            )
        return self._pool

    def share(self, obj: Any) -> SharedFile:
        self._count += 1
        path = self._dir / f"shared-{self._count}.pickle"
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return SharedFile(str(path))

    def submit(self, fn: TaskFn, arg: Any, shared: Any = None) -> Future:
        return self.pool.submit(_local_call, fn, shared, arg)

    def gather(self, pending: list[Any], on_done: OnDone = None) -> list[Any]:
        index = {id(f): i for i, f in enumerate(pending)}
        results: list[Any] = [None] * len(pending)
        waiting = set(pending)
        try:
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: index[id(f)]):
                    results[index[id(future)]] = future.result()
                    if on_done is not None:
                        on_done(results[index[id(future)]])
        except BaseException:
            self.cancel()
            raise
        return results

    def cancel(self) -> None:
        """Stop every worker now: pending tasks are dropped, running ones killed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        shutil.rmtree(self._dir, ignore_errors=True)


# ---- Ray ---------------------------------------------------------------------------------------
class RayTasks(Tasks):
    """Tasks on a Ray cluster: a local one started here (`address=None`) or one joined at
    `address`. The cluster's nodes need casesim installed (`pip install 'casesim[ray]'`)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:  # the optional extra
            raise RuntimeError("Ray is not installed: pip install 'casesim[ray]'") from exc
        self.ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "runtime_env": {"env_vars": dict.fromkeys(THREAD_VARS, "1")},
            }
            if address is None:
                options["num_cpus"] = workers or os.cpu_count() or 1
            ray.init(address=address, **options)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        self._submitted: list[Any] = []

    def share(self, obj: Any) -> Any:
        return self.ray.put(obj)

    def submit(self, fn: TaskFn, arg: Any, shared: Any = None) -> Any:
        ref = self._remote.remote(fn, shared, arg)
        self._submitted.append(ref)
        return ref

    def gather(self, pending: list[Any], on_done: OnDone = None) -> list[Any]:
        ray = self.ray
        index = {ref: i for i, ref in enumerate(pending)}
        results: list[Any] = [None] * len(pending)
        waiting = list(pending)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    results[index[ref]] = ray.get(ref)
                    if on_done is not None:
                        on_done(results[index[ref]])
        except BaseException:
            self.cancel()
            raise
        self._submitted = [r for r in self._submitted if r not in index]
        return results

    def cancel(self) -> None:
        submitted, self._submitted = self._submitted, []
        for ref in submitted:
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()


def make_tasks(workers: int | None = None, ray: str | None = None) -> Tasks:
    """The backend for a command's `--workers N` / `--ray [ADDRESS]`: Ray when asked
    (`ray=""` starts a local cluster), else local processes (every core by default), else
    this process alone for one worker."""
    if ray is not None:
        return RayTasks(ray or None, workers)
    count = workers or os.cpu_count() or 1
    return SERIAL if count <= 1 else LocalTasks(count)
