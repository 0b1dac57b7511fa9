"""The sweep driver: register a spec's jobs in the store, run those not done, record each outcome.

Only this driver writes the store. Each job is claimed atomically just before it is handed to the
executor, so two sweeps on one store never run the same job; a job claimed by a sweep process that has
since died (same host, pid gone) is released back to pending at the start of the next sweep. A finished
job is never run again; a failed one only with ``retry_failed``.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emergence.config import CheckpointSpec, SweepSpec
from emergence.errors import EmergenceError, describe
from emergence.harness.claims import Heartbeat, release_dead_runs, worker_id
from emergence.harness.executors import Executor, JobFn, make_executor
from emergence.harness.jobs import Job, expand_jobs
from emergence.harness.tasks import load_task, resolve_task, task_fingerprint
from emergence.ladder.quiet import quiet_libraries
from emergence.progress import Progress, silent
from emergence.store import Store


@dataclass
class SweepSummary:
    """What a sweep did. ``skipped``: done before, or taken by another sweep; ``failed``: failed now;
    ``remeasured``: jobs to run whose cell (checkpoint, task, amount, seed) a run of other settings, task
    data or weights already measured (fits then take the newest run of a cell)."""

    jobs: int = 0
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    failed_before: int = 0
    taken_elsewhere: int = 0
    released: int = 0
    remeasured: int = 0
    store: str = ""
    wall_s: float = 0.0
    finetune_s: float = 0.0
    evaluate_s: float = 0.0
    load_s: float = 0.0
    data_s: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def overhead_s(self) -> float:
        """Wall time not spent reading data, loading, finetuning or evaluating (exact for one worker in
        process; with parallel workers the job times overlap and this is 0)."""
        return max(0.0, self.wall_s - self.finetune_s - self.evaluate_s - self.load_s - self.data_s)

    def message(self) -> str:
        """One line for people."""
        if self.ran == 0 and self.failed == 0:
            done = self.jobs - self.failed_before - self.taken_elsewhere
            if done == self.jobs:
                return f"nothing to run: all {self.jobs} jobs are done"
            text = f"nothing to run: {done} of {self.jobs} jobs are done"
            if self.taken_elsewhere:
                text += (
                    f"; {self.taken_elsewhere} taken by another sweep (if it is dead: `emergence store "
                    f"release --store {self.store}` hands its claims back)"
                )
            if self.failed_before:
                text += f"; {self.failed_before} failed before (--retry-failed to run them again)"
            return text
        text = f"ran {self.ran}, skipped {self.skipped}, failed {self.failed} of {self.jobs} jobs in {self.wall_s:.1f}s"
        if self.failed_before:
            text += f"; {self.failed_before} failed before (--retry-failed to run them again)"
        if self.released:
            text += f"; released {self.released} left running by a dead sweep"
        if self.remeasured:
            text += (
                f"; {self.remeasured} cells measured again (their settings, task data, checkpoint weights or paths "
                "changed since an earlier run; fits take each cell's newest run)"
            )
        return text

    def to_dict(self) -> dict:
        return {**asdict(self), "overhead_s": self.overhead_s, "message": self.message()}


def _record(store: Store, job: Job, future: Future, summary: SweepSummary) -> None:
    try:
        outcome = future.result()
    except Exception as exc:  # the worker itself died (a killed process, a lost Ray node)
        outcome = {"ok": False, "error": f"the worker running this job died: {describe(exc)}"}
    if outcome["ok"]:
        try:
            store.finish_run(
                job.run_id,
                outcome["evaluations"],
                finetune_s=outcome.get("finetune_s"),
                evaluate_s=outcome.get("evaluate_s"),
            )
        except EmergenceError as exc:
            outcome = {"ok": False, "error": f"bad evaluation result: {exc}"}
        else:
            summary.ran += 1
            for key in ("finetune_s", "evaluate_s", "load_s", "data_s"):
                setattr(summary, key, getattr(summary, key) + outcome.get(key, 0.0))
            return
    store.fail_run(job.run_id, outcome["error"])
    summary.failed += 1
    summary.errors[job.run_id] = outcome["error"]


def run_jobs(
    store: Store,
    jobs: list[Job],
    *,
    retry_failed: bool = False,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: Progress | None = None,
    job_fn: JobFn | None = None,
) -> SweepSummary:
    """Register ``jobs`` in ``store`` and run those not done (see ``run_sweep``)."""
    if job_fn is None:
        from emergence.harness.run_job import run_job as job_fn
    start = time.perf_counter()
    summary = SweepSummary(jobs=len(jobs), store=str(store.path))
    store.add_runs(job.store_row() for job in jobs)
    summary.released = release_dead_runs(store)
    todo = _to_run(store, jobs, summary, retry_failed)
    if todo:
        with make_executor(executor, workers=workers, address=address) as pool:
            _run_all(store, pool, todo, summary, retry_failed, job_fn, progress or silent)
    summary.wall_s = time.perf_counter() - start
    return summary


def _to_run(store: Store, jobs: list[Job], summary: SweepSummary, retry_failed: bool) -> deque[Job]:
    """The registered jobs this sweep should run, in order; counts the rest into ``summary``."""
    runs = store.runs()
    status = runs.set_index("run_id")["status"]
    runnable = ("pending", "failed") if retry_failed else ("pending",)
    todo = deque(job for job in jobs if status[job.run_id] in runnable)
    summary.failed_before = 0 if retry_failed else sum(status[job.run_id] == "failed" for job in jobs)
    summary.taken_elsewhere = sum(status[job.run_id] == "running" for job in jobs)
    summary.skipped = len(jobs) - len(todo) - summary.failed_before
    done = runs[runs["status"] == "done"]
    measured = set(zip(done.checkpoint_id, done.task, done.data_amount, done.seed, strict=True))
    summary.remeasured = sum((j.checkpoint_id, j.task, j.data_amount, j.seed) in measured for j in todo)
    return todo


def _run_all(
    store: Store,
    pool: Executor,
    todo: deque[Job],
    summary: SweepSummary,
    retry_failed: bool,
    job_fn: JobFn,
    report: Progress,
) -> None:
    """Claim and hand ``todo`` to ``pool``, at most ``pool.slots`` at once, and record each outcome.

    Interrupted (Ctrl-C, an error in the driver), it hands this sweep's unfinished claims back at once.
    """
    me = worker_id()
    inflight: dict[Future, Job] = {}
    total, finished = len(todo), 0
    report(0, total, "failed=0")
    with Heartbeat(store.path, me):
        try:
            while todo or inflight:
                while todo and len(inflight) < pool.slots:
                    job = todo.popleft()
                    if store.claim_run(job.run_id, me, retry_failed=retry_failed):
                        inflight[pool.submit(job_fn, job)] = job
                        continue
                    summary.skipped += 1  # another sweep took it, or finished it meanwhile
                    summary.taken_elsewhere += 1
                    total -= 1
                    report(finished, total, f"failed={summary.failed}")
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    _record(store, inflight.pop(future), future, summary)
                    finished += 1
                    report(finished, total, f"failed={summary.failed}")
        except BaseException:
            for future in inflight:
                future.cancel()
            store.release_runs([me])
            raise


def check_tasks(tasks: list[str]) -> None:
    """Load each task once (lm-eval's registry, the YAML and its data files); raises EmergenceError with
    the reason for the first that cannot be loaded, before anything is stored."""
    for task in tasks:
        resolve_task(task)  # a missing YAML: its own message
        try:
            load_task(task)  # built once, reused by in-process jobs
        except Exception as exc:  # lm-eval raises KeyError for an unknown name, OSError for missing data
            raise EmergenceError(
                f"task {task} cannot be loaded ({describe(exc)}); give an lm-eval task name or a task "
                "YAML whose data files exist"
            ) from None


def task_fingerprints(tasks: list[str]) -> dict[str, str]:
    """Each task's fingerprint (its config and documents), so that a task whose prompt or data change runs
    its jobs again. A task that cannot be loaded has none: its jobs fail with the reason when they run."""
    out = {}
    for task in tasks:
        try:
            out[task] = task_fingerprint(task)
        except Exception:  # an unknown name, missing data: each job records the error itself
            continue
    return out


def run_sweep(
    spec: SweepSpec,
    *,
    retry_failed: bool = False,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
    checkpoints: list[CheckpointSpec] | None = None,
    job_fn: JobFn | None = None,
) -> SweepSummary:
    """Run a sweep: resolve the ladder, register its jobs, run those not done, and summarise.

    Args:
        spec: the sweep spec.
        retry_failed: run jobs that failed before again.
        executor, workers, address: override the spec's executor ('local' or 'ray').
        progress: hears of each finished job (``progress_bar("sweep", "job")`` draws it); while the ladder
            is resolved (the toy ladder trained), of that too, in its ``what``.
        checkpoints: an already resolved ladder (skips ``resolve_ladder``).
        job_fn: the job function (``run_job`` by default; tests swap in a stand-in, whose jobs carry no
            task fingerprint since a stand-in reads no task).

    Returns:
        A SweepSummary; ``summary.message()`` says what happened in one line.
    """
    if job_fn is None:
        # The real jobs load their tasks: one that cannot be loaded is refused before any write.
        quiet_libraries()
        (progress or silent)(0, None, "loading tasks")
        check_tasks(spec.tasks)
    with Store(spec.store) as store:
        store.check_writable()  # a read-only store or a full disk fails now, not after the ladder is built
        checkpoints = _ladder(spec, store, checkpoints, progress)
        jobs = expand_jobs(
            spec,
            checkpoints,
            weights_dir=Path(spec.store).parent / "weights",
            task_data=None if job_fn is not None else task_fingerprints(spec.tasks),
        )
        return run_jobs(
            store,
            jobs,
            retry_failed=retry_failed,
            executor=executor or spec.executor.kind,
            workers=workers or spec.executor.workers,
            address=address or spec.executor.address,
            progress=progress,
            job_fn=job_fn,
        )


def _ladder(
    spec: SweepSpec, store: Store, checkpoints: list[CheckpointSpec] | None, progress: Progress | None
) -> list[CheckpointSpec]:
    """The sweep's checkpoints, all registered in the store: resolved from the spec's ladder, or the ones
    given (registered where the store does not know them yet)."""
    from emergence.ladder.sources import register_checkpoint, resolve_ladder

    if checkpoints is None:
        return resolve_ladder(spec.ladder, store=store, progress=_in_what(progress, "ladder"))
    known = set(store.checkpoints().checkpoint_id)
    for checkpoint in checkpoints:
        if checkpoint.id not in known:
            register_checkpoint(store, checkpoint)
    return checkpoints


def _in_what(progress: Progress | None, label: str) -> Progress | None:
    """A `Progress` that reports a stage before the jobs inside the sweep's own: its counts go into the
    ``what`` (the sweep's bar counts jobs, and none has run yet)."""
    if progress is None:
        return None

    def report(done: int, total: int | None, what: str) -> None:
        counts = f"{done}/{total}" if total is not None else f"{done}"
        progress(0, None, " ".join(filter(None, (label, counts, what))))

    return report
