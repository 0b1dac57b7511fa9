"""The sweep driver: store interplay, resuming, failures, concurrent sweeps.

The first tests use a stand-in job function (fast); the slow ones at the end run real checkpoints,
finetuning and lm-eval, and kill a real `emergence sweep` process.
"""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

from emergence.config import CheckpointSpec, SweepSpec
from emergence.harness.claims import release_dead_runs, worker_id
from emergence.harness.jobs import expand_jobs
from emergence.harness.sweep import run_jobs, run_sweep
from emergence.store import Store
from tests.builders import write_task

CK = CheckpointSpec(id="ck", hub="org/model", revision="r1", pretraining_loss=2.0)
LOG = "EMERGENCE_TEST_JOB_LOG"


def fake_job(job) -> dict:
    """Stands in for run_job: deterministic values, a failure for task 'boom', a log of what ran."""
    if job.task == "boom":
        raise RuntimeError("training blew up\n  at step 3")
    if job.task == "interrupt":
        raise KeyboardInterrupt
    time.sleep(float(os.environ.get("EMERGENCE_TEST_JOB_SLEEP", "0")))
    if os.environ.get(LOG):
        with open(os.environ[LOG], "a") as log:
            log.write(f"{job.run_id} {os.getpid()}\n")
    value = int(job.run_id[:4], 16) / 0xFFFF
    return dict(
        run_id=job.run_id,
        evaluations=[dict(metric="acc", value=value, n_examples=20, stderr=0.1)],
        finetune_s=0.0,
        evaluate_s=0.0,
    )


def _spec(tmp_path, tasks=("t1", "t2"), **extra) -> SweepSpec:
    return SweepSpec.from_dict(
        dict(
            store=str(tmp_path / "s.sqlite"),
            ladder=dict(checkpoints=[CK.model_dump(mode="json", exclude_none=True)]),
            tasks=list(tasks),
            data_amounts=[0, 4, 8],
            seeds=[0, 1],
            **extra,
        )
    )


def _sweep(spec, **kw):
    return run_sweep(spec, checkpoints=[CK], job_fn=fake_job, **kw)


def test_a_changed_spec_measures_its_cells_again_and_fits_take_the_newest_runs(tmp_path):
    _sweep(_spec(tmp_path, finetune=dict(learning_rate=1e-4)))
    changed = _sweep(_spec(tmp_path, finetune=dict(learning_rate=3e-4)))
    # few-shot jobs do not finetune: their identity, and their runs, stay; the 8 finetuned cells run again
    assert (changed.ran, changed.skipped, changed.remeasured) == (8, 2, 8)
    assert (
        "8 cells measured again (their settings, task data, checkpoint weights or paths changed"
        in changed.message()
    )
    with Store(_spec(tmp_path).store) as st:
        results = st.results()
        assert len(results) == 10 and not results.duplicated(["task", "data_amount", "seed"]).any()
        newest = (
            st.runs("done")
            .sort_values("finished_at")
            .drop_duplicates(["task", "data_amount", "seed"], keep="last")
        )
        assert set(results.run_id) == set(newest.run_id)
        assert len(st.results(superseded=True)) == 18 and st.counts()["runs_superseded"] == 8


def test_sweep_fills_the_store_and_a_second_call_runs_nothing(tmp_path):
    spec = _spec(tmp_path)
    first = _sweep(spec)
    assert (first.jobs, first.ran, first.failed, first.skipped) == (10, 10, 0, 0)
    with Store(spec.store) as st:
        runs = st.runs()
        assert set(runs.status) == {"done"} and (runs.attempts == 1).all()
        assert len(st.results()) == 10 and st.results().checkpoint.eq("ck").all()
    second = _sweep(spec)
    assert (second.ran, second.skipped) == (0, 10)
    assert second.message().startswith("nothing to run: all 10 jobs are done")
    with Store(spec.store) as st:
        assert (st.runs().attempts == 1).all()


def test_failed_jobs_are_recorded_in_one_line_and_the_rest_go_on(tmp_path):
    spec = _spec(tmp_path, tasks=("t1", "boom"))
    summary = _sweep(spec)
    assert (summary.ran, summary.failed) == (5, 5)
    with Store(spec.store) as st:
        failed = st.runs("failed")
        assert set(failed.task) == {"boom"}
        assert failed.error.eq("RuntimeError: training blew up at step 3").all()
        assert len(st.runs("done")) == 5
    again = _sweep(spec)
    assert again.ran == 0 and again.failed_before == 5 and "--retry-failed" in again.message()
    retried = _sweep(spec, retry_failed=True)
    assert (retried.ran, retried.failed, retried.skipped) == (0, 5, 5)
    with Store(spec.store) as st:
        assert (st.runs("failed").attempts == 2).all() and (st.runs("done").attempts == 1).all()


def test_a_sweep_reports_each_finished_job_and_its_failures(tmp_path):
    heard = []
    _sweep(_spec(tmp_path, tasks=("t1", "boom")), progress=lambda *report: heard.append(report))
    assert heard[0] == (0, 10, "failed=0") and heard[-1] == (10, 10, "failed=5")
    assert [done for done, _, _ in heard] == list(range(11))


def test_a_sweep_reports_resolving_its_ladder_before_its_jobs(tiny_ladder, tmp_path):
    ladder = [dict(id=n, path=str(p), pretraining_loss=4.0) for n, p in tiny_ladder]
    spec = SweepSpec.from_dict(
        dict(
            store=str(tmp_path / "s.sqlite"), ladder=dict(checkpoints=ladder), tasks=["t1"], data_amounts=[0]
        )
    )
    heard = []
    summary = run_sweep(spec, job_fn=fake_job, progress=lambda *report: heard.append(report))
    assert summary.ran == 3
    assert heard[:4] == [(0, None, "ladder 0/3 ck0"), (0, None, "ladder 1/3 ck1"), (0, None, "ladder 2/3 ck2"),
                         (0, None, "ladder 3/3")]  # fmt: skip
    assert heard[4:] == [(0, 3, "failed=0"), (1, 3, "failed=0"), (2, 3, "failed=0"), (3, 3, "failed=0")]


def test_an_interrupted_sweep_hands_its_claim_back(tmp_path):
    spec = _spec(tmp_path, tasks=("t1", "interrupt"))
    with pytest.raises(KeyboardInterrupt):
        _sweep(spec)
    with Store(spec.store) as st:
        runs = st.runs()
        assert not (runs.status == "running").any()
        assert set(runs[runs.task == "interrupt"].status) == {"pending"}


def test_runs_of_dead_sweeps_are_released_and_live_ones_kept(tmp_path):
    spec = _spec(tmp_path)
    with Store(spec.store) as st:
        st.add_checkpoint("ck", "hub:org/model@r1")
        jobs = expand_jobs(spec, [CK])
        st.add_runs(j.store_row() for j in jobs)
        host = worker_id().rsplit(":", 1)[0]
        dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
        dead.start()
        dead.join()  # a pid that existed and is gone
        # alive, but see below (not our parent: run detached, that can be pid 1, a claimer of its own)
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        claims = {
            jobs[0].run_id: f"{host}:{dead.pid}",
            jobs[1].run_id: worker_id(),  # this very process: alive
            jobs[2].run_id: f"other-host:{os.getpid()}",  # another machine: cannot tell, left alone
            jobs[3].run_id: f"{host}:1",  # pid 1: alive, and started before the claim
            jobs[4].run_id: f"{host}:{alive.pid}",
        }
        for run_id, worker in claims.items():
            assert st.claim_run(run_id, worker)
        # Claimed in 1970 by a pid that is alive now: the pid was reused since, so the claimer is gone.
        st._conn.execute("UPDATE runs SET started_at=1.0 WHERE run_id=?", (jobs[4].run_id,))
        released = release_dead_runs(st)
        alive.kill()
        assert released == 2
        status = st.runs().set_index("run_id").status
        assert status[jobs[0].run_id] == "pending" and status[jobs[4].run_id] == "pending"
        assert {status[jobs[i].run_id] for i in (1, 2, 3)} == {"running"}
        summary = run_jobs(st, jobs, job_fn=fake_job)
        assert summary.ran == len(jobs) - 3 and summary.skipped == 3


def test_process_pool_gives_the_same_table_as_in_process(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _sweep(_spec(a))
    summary = _sweep(_spec(b), workers=2)
    assert summary.ran == 10
    with Store(a / "s.sqlite") as sa, Store(b / "s.sqlite") as sb:
        assert sa.results().equals(sb.results())


def _concurrent_sweep(spec_json: dict, ready, go) -> None:
    ready.set()
    go.wait()
    run_sweep(SweepSpec.model_validate(spec_json), checkpoints=[CK], job_fn=fake_job)


def test_two_sweeps_on_one_store_never_run_a_job_twice(tmp_path, monkeypatch):
    log = tmp_path / "ran.log"
    monkeypatch.setenv(LOG, str(log))
    monkeypatch.setenv("EMERGENCE_TEST_JOB_SLEEP", "0.05")
    spec = _spec(tmp_path, tasks=("t1", "t2", "t3", "t4"))
    with Store(spec.store):
        pass  # created once, so the two sweeps race on claims and not on the schema
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    ready = [ctx.Event() for _ in range(2)]
    procs = [ctx.Process(target=_concurrent_sweep, args=(spec.model_dump(mode="json"), r, go)) for r in ready]
    for p in procs:
        p.start()
    for r in ready:
        assert r.wait(120)
    go.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = log.read_text().split()
    run_ids, pids = lines[0::2], set(lines[1::2])
    assert len(run_ids) == len(set(run_ids)) == 20  # every job ran exactly once
    assert len(pids) == 2  # and both sweeps did some of the work
    with Store(spec.store) as st:
        runs = st.runs()
        assert set(runs.status) == {"done"} and (runs.attempts == 1).all()


# -- end to end: real checkpoints, finetuning and lm-eval ----------------------------------------------------
E2E_AMOUNTS = [0, 8]


def _write_spec(folder, ladder, task, *, tasks=None, seeds=(0, 1)) -> Path:
    """A sweep YAML over ``ladder`` (a list of (id, folder)) with a small, quick grid."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = dict(
        store=str(folder / "store.sqlite"),
        ladder=dict(
            checkpoints=[dict(id=n, path=str(p), pretraining_loss=5.0 - i) for i, (n, p) in enumerate(ladder)]
        ),
        tasks=tasks or [str(task)],
        data_amounts=E2E_AMOUNTS,
        seeds=list(seeds),
        finetune=dict(method="full", learning_rate=1e-3, epochs=1, batch_size=8),
        eval=dict(limit=16, batch_size=16),
    )
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_a_task_whose_data_change_runs_its_jobs_again(tiny_ladder, tmp_path):
    task = write_task(tmp_path / "task")
    spec = SweepSpec.from_yaml(_write_spec(tmp_path / "sweep", tiny_ladder[:1], task, seeds=[0]))
    first = run_sweep(spec)
    assert first.ran == len(E2E_AMOUNTS) and run_sweep(spec).ran == 0  # untouched: reused

    test_split = tmp_path / "task" / "test.jsonl"
    rows = [json.loads(line) for line in test_split.read_text().splitlines()]
    rows[0]["label"] = 1 - rows[0]["label"]  # one label corrected
    test_split.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = run_sweep(spec)
    assert again.ran == len(E2E_AMOUNTS) and again.remeasured == len(E2E_AMOUNTS)
    with Store(spec.store) as st:
        runs, results = st.runs(), st.results()
    assert len(runs) == 2 * len(E2E_AMOUNTS) and runs["superseded"].sum() == len(E2E_AMOUNTS)
    assert set(results["run_id"]) == set(runs.loc[~runs["superseded"], "run_id"])  # fits take the new runs


def _table(store_path) -> pd.DataFrame:
    with Store(store_path) as st:
        frame = st.results()
    return frame.drop(columns=["run_id"]).sort_values(["task", "metric", "checkpoint", "data_amount", "seed"])


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "emergence.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_table(micro_toy_ladder, tmp_path):
    # The toy world: its micro ladder and its built-in multiple-choice task.
    ladder, task = micro_toy_ladder, "toy_sum_choice"
    # The reference: an uninterrupted sweep, in this process.
    reference = SweepSpec.from_yaml(_write_spec(tmp_path / "ref", ladder, task, seeds=(0,)))
    summary = run_sweep(reference)
    n_jobs = len(ladder) * 2
    assert (summary.ran, summary.failed) == (n_jobs, 0)

    # The same sweep as a real `emergence sweep` process, SIGKILLed once a few jobs are done.
    spec_path = _write_spec(tmp_path / "killed", ladder, task, seeds=(0,))
    store_path = tmp_path / "killed" / "store.sqlite"
    proc = _cli("sweep", str(spec_path), "--no-progress")
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if store_path.exists():
            with Store(store_path) as st:
                done = len(st.runs("done"))
            if done >= 1:
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    with Store(store_path) as st:
        before = st.runs().set_index("run_id")
    finished = before[before.status == "done"]
    assert 1 <= len(finished) < n_jobs
    assert set(before.status) <= {"done", "running", "pending"}

    # Rerun: finished jobs are not redone, the dead sweep's claim is released and run.
    again = _cli("sweep", str(spec_path), "--no-progress", "--json")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["ran"] == n_jobs - len(finished) and result["skipped"] == len(finished)
    assert result["released"] == int((before.status == "running").sum())
    with Store(store_path) as st:
        after = st.runs().set_index("run_id")
        assert set(after.status) == {"done"}
        kept = after.loc[finished.index]
        assert (kept.attempts == 1).all() and (kept.finished_at == finished.finished_at).all()
        # two metrics per run (acc, prob_correct): no duplicate or partial row
        assert len(st.evaluations()) == len(after) * 2

    assert_frame_equal(
        _table(store_path).reset_index(drop=True), _table(reference.store).reset_index(drop=True)
    )
    # And once more: nothing to do.
    assert run_sweep(SweepSpec.from_yaml(spec_path)).message().startswith("nothing to run")


@pytest.mark.slow
def test_failing_jobs_are_recorded_and_the_rest_goes_on(tiny_ladder, tiny_task, tmp_path, monkeypatch):
    import shutil

    import emergence.harness.finetune as finetune_module

    broken = tmp_path / "broken"
    shutil.copytree(tiny_ladder[0][1], broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    ladder = [tiny_ladder[0], tiny_ladder[1], ("broken", broken)]
    spec = SweepSpec.from_yaml(_write_spec(tmp_path, ladder, tiny_task, tasks=[str(tiny_task)], seeds=[0]))
    real_finetune = finetune_module.finetune

    def finetune_that_blows_up_on_ck1(model, tokenizer, examples, **kw):
        if model.config.hidden_size == 16:  # ck1
            raise FloatingPointError("loss is nan at step 2")
        return real_finetune(model, tokenizer, examples, **kw)

    monkeypatch.setattr(finetune_module, "finetune", finetune_that_blows_up_on_ck1)
    summary = run_sweep(spec)
    with Store(spec.store) as st:
        runs = st.runs()
    errors = runs[runs.status == "failed"].set_index(["checkpoint_id", "task", "data_amount"]).error
    done = runs[runs.status == "done"]
    # ck0 on the real task: both jobs; ck1: only the few-shot job (its finetuning raises)
    assert sorted(zip(done.checkpoint_id, done.data_amount, strict=True)) == [
        ("ck0", 0),
        ("ck0", 8),
        ("ck1", 0),
    ]
    assert summary.ran == 3 and summary.failed == len(runs) - 3 == 6 - 3
    assert all("\n" not in e and len(e) <= 500 for e in errors)
    assert errors[("ck1", str(tiny_task), 8)] == "FloatingPointError: loss is nan at step 2"
    assert errors[("broken", str(tiny_task), 0)].startswith(
        ("SafetensorError", "OSError", "checkpoint broken")
    )
