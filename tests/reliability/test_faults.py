"""Faults: a real sweep process SIGKILLed during finetuning, during evaluation and during a store write
resumes with nothing lost and nothing done twice; a full disk or an unwritable store stops a sweep before
any work starts.

The kill points are chosen by a small driver (test code, not product code) that runs the real
`emergence sweep` in a subprocess and, at the n-th finetuning forward pass / evaluation forward pass /
run-finishing store transaction, prints "paused <where>" and sleeps until it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from emergence.config import CheckpointSpec, SweepSpec
from emergence.errors import EmergenceError
from emergence.harness.sweep import run_sweep
from emergence.store import Store
from tests.builders import read_only, write_spec

DRIVER = textwrap.dedent(
    """
    import sys, time
    from contextlib import contextmanager

    spec, point, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = {"calls": 0}

    def pause_on_nth(where):
        seen["calls"] += 1
        if seen["calls"] == nth:
            print("paused", where, flush=True)
            time.sleep(600)

    def hooked(module_name, name, training):
        # wrap module.name(model, ...) so the model's forward pass pauses (in train or eval mode)
        import importlib
        module = importlib.import_module(module_name)
        real = getattr(module, name)

        def wrapper(model, *args, **kwargs):
            state = {"first": True}

            def hook(mod, inputs, output):
                if mod.training == training and state["first"]:
                    state["first"] = False
                    pause_on_nth(name)

            handle = model.register_forward_hook(hook)
            try:
                return real(model, *args, **kwargs)
            finally:
                handle.remove()

        setattr(module, name, wrapper)

    if point == "finetune":  # the 1st training forward pass after one optimiser step has been taken
        hooked("emergence.harness.finetune", "finetune", True)
    elif point == "evaluate":  # lm-eval's first forward pass on the model
        hooked("emergence.harness.evaluate", "evaluate", False)
    elif point == "store-write":  # a run's evaluations inserted and marked done, COMMIT not yet issued
        from emergence.store import Store

        real_finish, real_transaction = Store.finish_run, Store.transaction
        finishing = {"now": False}

        def finish_run(self, *args, **kwargs):
            finishing["now"] = True
            try:
                return real_finish(self, *args, **kwargs)
            finally:
                finishing["now"] = False

        @contextmanager
        def transaction(self):
            with real_transaction(self) as conn:
                yield conn
                if finishing["now"]:
                    pause_on_nth("store write")

        Store.finish_run, Store.transaction = finish_run, transaction

    from emergence.cli import main
    main(["sweep", spec, "--no-progress"])
    """
)


def _kill_at(spec_path, point: str, nth: int, store_path) -> pd.DataFrame:
    """Run the sweep until it pauses at ``point`` (its ``nth`` time), check it is mid-job, SIGKILL it;
    returns the runs table as the dead sweep left it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(spec_path), point, str(nth)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = ""
        while not line.startswith("paused"):
            line = proc.stdout.readline()
            assert line, f"the sweep ended (code {proc.wait()}) before pausing at {point} #{nth}"
        with Store(store_path) as st:  # the real state at the kill: one job claimed, and it is not done
            assert (st.runs().status == "running").sum() == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(store_path) as st:
        assert st._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = st.runs().set_index("run_id")
        evaluations = st.evaluations()
    done = runs.index[runs.status == "done"]
    # no partial result: exactly the done runs have evaluations, two metrics each (acc, prob_correct)
    assert set(evaluations.run_id) == set(done) and len(evaluations) == 2 * len(done)
    assert (runs.status == "running").sum() == 1  # the killed job's claim, released by the next sweep
    return runs


def _table(store_path) -> pd.DataFrame:
    with Store(store_path) as st:
        frame = st.results()
    keys = ["task", "metric", "checkpoint", "data_amount", "seed"]
    return frame.drop(columns=["run_id"]).sort_values(keys).reset_index(drop=True)


@pytest.mark.slow
def test_sweep_killed_in_finetuning_evaluation_and_a_store_write_resumes_exactly(
    two_checkpoints, task_yaml, tmp_path
):
    reference = SweepSpec.from_yaml(write_spec(tmp_path / "ref", two_checkpoints, [task_yaml]))
    assert run_sweep(reference).ran == 4  # 2 checkpoints x (few-shot, 8 examples)

    spec_path = write_spec(tmp_path / "killed", two_checkpoints, [task_yaml])
    store_path = tmp_path / "killed" / "store.sqlite"
    finished: dict[str, float] = {}  # run -> finished_at, as first seen done
    kills: dict[str, int] = {}
    for point, nth in [("finetune", 1), ("evaluate", 2), ("store-write", 2)]:
        runs = _kill_at(spec_path, point, nth, store_path)
        for run_id, row in runs[runs.status == "done"].iterrows():
            # a job once done is never run again: same finish time, one more attempt than kills it saw
            assert finished.setdefault(run_id, row.finished_at) == row.finished_at
            assert row.attempts == 1 + kills.get(run_id, 0)
        killed = runs.index[runs.status == "running"][0]
        kills[killed] = kills.get(killed, 0) + 1
    assert 1 <= len(finished) < 4

    summary = run_sweep(SweepSpec.from_yaml(spec_path))
    assert summary.released == 1 and summary.failed == 0 and summary.skipped == len(finished)
    with Store(store_path) as st:
        runs = st.runs().set_index("run_id")
        assert set(runs.status) == {"done"} and len(st.evaluations()) == 2 * len(runs)
    for run_id, at in finished.items():
        assert runs.loc[run_id, "finished_at"] == at
    for run_id, row in runs.iterrows():
        assert row.attempts == 1 + kills.get(run_id, 0)
    assert_frame_equal(_table(store_path), _table(reference.store))


# -- before any work: a full disk, a read-only store, a store path that cannot exist ----------------------
CK = CheckpointSpec(id="ck", hub="org/model", revision="r1", pretraining_loss=2.0)


@pytest.fixture
def work_log(monkeypatch) -> list[str]:
    """Records the work a sweep starts: resolving (building, measuring) the ladder, and running jobs."""
    import emergence.harness.executors as executors
    import emergence.ladder.sources as sources

    log: list[str] = []

    def resolve_ladder(ladder, **kw):
        log.append("ladder")
        return [CK]

    monkeypatch.setattr(sources, "resolve_ladder", resolve_ladder)
    monkeypatch.setattr(
        executors, "attempt", lambda fn, job: log.append("job") or {"ok": False, "error": "x"}
    )
    return log


def _sweep_cli(tmp_path, store, capsys, task) -> tuple[int, str]:
    from emergence.cli import main

    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"store: {store}\nladder: {{checkpoints: [{{id: ck, hub: org/model, pretraining_loss: 2.0}}]}}\n"
        f"tasks: [{task}]\ndata_amounts: [0, 8]\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(spec), "--no-progress"])
    return info.value.code, capsys.readouterr().err


def test_full_disk_stops_a_sweep_before_any_work(tmp_path, monkeypatch, capsys, work_log, task_yaml):
    import shutil

    import emergence.store.connection

    store = tmp_path / "s.sqlite"
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        emergence.store.connection.shutil, "disk_usage", lambda p: usage._replace(free=5 * 2**20)
    )
    code, err = _sweep_cli(tmp_path, store, capsys, task_yaml)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: only 5 MB free on the disk of the store {store}")
    assert work_log == []
    with Store(store) as st:
        assert st.counts()["runs"] == 0 and st.counts()["checkpoints"] == 0


@pytest.mark.parametrize("how", ["read-only store file", "store folder is a file"])
def test_unwritable_store_stops_a_sweep_before_any_work(tmp_path, capsys, work_log, how, task_yaml):
    if how == "read-only store file":
        store = tmp_path / "s.sqlite"
        Store(store).close()
        with read_only(store):
            code, err = _sweep_cli(tmp_path, store, capsys, task_yaml)
        with Store(store) as st:
            assert st.counts()["runs"] == 0
    else:
        (tmp_path / "file").write_text("")
        code, err = _sweep_cli(tmp_path, tmp_path / "file" / "s.sqlite", capsys, task_yaml)
    assert code == 2 and err.count("\n") == 1 and "choose a writable path (--store)" in err
    assert err.startswith("error: cannot ")
    assert work_log == []


def test_disk_check_is_what_refuses(tmp_path, monkeypatch):
    """The threshold is a setting of the check, not of the test: a store with room passes it."""
    with Store(tmp_path / "s.sqlite") as st:
        st.check_writable(min_free_mb=1)
        with pytest.raises(EmergenceError, match="MB free"):
            st.check_writable(min_free_mb=float("inf"))
