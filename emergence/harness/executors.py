"""Where jobs run: in this process, in a pool of processes on this machine, or on Ray.

Every executor runs the same job function and hands back plain results through a
``concurrent.futures.Future``; none of them touches the store (the sweep driver writes it), so a Ray worker
on another machine never needs the SQLite file. A job's exception comes back as a one-line reason.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from emergence.errors import EmergenceError, describe
from emergence.harness.jobs import Job

JobFn = Callable[[Job], dict]


def attempt(fn: JobFn, job: Job) -> dict:
    """Run ``fn(job)``; a failure becomes ``{"ok": False, "error": <one line>}`` instead of an exception."""
    try:
        return {"ok": True, **fn(job)}
    except Exception as exc:  # any failure of one job is that job's, never the sweep's
        return {"ok": False, "run_id": job.run_id, "error": describe(exc)}


def machine_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Executor:
    """Runs jobs; ``slots`` is how many may be in flight at once."""

    slots: int = 1

    def submit(self, fn: JobFn, job: Job) -> Future:
        raise NotImplementedError

    def close(self) -> None:
        """Stop; jobs not yet finished are abandoned."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Runs each job here and now, in this process (the default; nothing to start)."""

    def submit(self, fn: JobFn, job: Job) -> Future:
        future: Future = Future()
        future.set_result(attempt(fn, job))
        return future


def _init_worker(threads: int, parent: int) -> None:
    _end_with_parent(parent)
    import torch

    torch.set_num_threads(threads)


def _end_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker as soon as the sweep that started it (``parent``) is gone, killed with -9 say: an
    orphaned worker would hold its model's memory, or a GPU, for nothing. The parent's pid comes from the
    parent itself, so a sweep killed while its workers were still starting is noticed too."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="emergence-parent-watch", daemon=True).start()


class PoolExecutor(Executor):
    """A pool of ``workers`` processes on this machine, each with its share of the cores and one model.

    Processes are spawned (not forked: torch's thread pools do not survive a fork) and reused across
    jobs. A worker that dies (e.g. out of memory) fails the jobs it held; the pool is then rebuilt.
    """

    def __init__(self, workers: int):
        cores = machine_cores()
        self.slots = max(1, workers)
        self.threads = max(1, cores // self.slots)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def submit(self, fn: JobFn, job: Job) -> Future:
        try:
            return self._ensure_pool().submit(attempt, fn, job)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return self._ensure_pool().submit(attempt, fn, job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
    """Jobs as Ray tasks: a local Ray started here by default, or the cluster at ``address``.

    Each job asks Ray for ``cpus_per_job`` CPUs (and one GPU where the cluster has GPUs); as many jobs are
    in flight as the cluster can run at once, and at least ``workers``. A Ray started here is shut down
    on close; one that was already running (or a cluster) is left as it was.
    """

    def __init__(self, workers: int = 1, *, address: str | None = None, cpus_per_job: float = 1.0):
        try:
            import ray
        except ImportError:
            raise EmergenceError(
                "the Ray executor needs Ray: pip install 'emergence[ray]' (or use --executor local)"
            ) from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise EmergenceError(
                    f"cannot join the Ray cluster at {address!r} ({describe(exc)}); check the address, or "
                    "leave it out to start a local Ray"
                ) from None
        resources = ray.cluster_resources()
        gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        capacity = int(resources.get("CPU", 1) // cpus_per_job)
        if gpus:
            capacity = min(capacity, int(resources["GPU"]))
        self.slots = max(workers, capacity, 1)
        self._task = ray.remote(num_cpus=cpus_per_job, num_gpus=gpus, max_retries=0)(attempt)

    def submit(self, fn: JobFn, job: Job) -> Future:
        return self._task.remote(fn, job).future()

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str = "local", *, workers: int = 1, address: str | None = None) -> Executor:
    """The executor for ``kind``: 'local' (in process for one worker, else a process pool) or 'ray'."""
    if kind == "ray":
        return RayExecutor(workers, address=address)
    if kind != "local":
        raise EmergenceError(f"unknown executor '{kind}': use 'local' or 'ray'")
    if address is not None:
        raise EmergenceError("an executor address is for Ray only: set executor.kind to 'ray'")
    cores = machine_cores()
    if workers > cores:
        raise EmergenceError(
            f"{workers} local workers asked for, but this machine has {cores} cores; use at most {cores} "
            "(each worker holds one model), or --executor ray to use more machines"
        )
    return InProcessExecutor() if workers <= 1 else PoolExecutor(workers)
