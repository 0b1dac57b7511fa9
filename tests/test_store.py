"""The run store: schema, idempotency, concurrent processes, crash safety, versioning."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from emergence.errors import EmergenceError
from emergence.store import SCHEMA_VERSION, Store


def _job(i: int, checkpoint: str = "ck0") -> dict:
    return dict(
        run_id=f"run{i}",
        checkpoint_id=checkpoint,
        task="toy",
        data_amount=i,
        seed=0,
        method="full",
        spec={"i": i},
    )


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.add_checkpoint(
            "ck0",
            "toy/ck0",
            family="tiny",
            step=10,
            params=1e5,
            tokens=1e6,
            flops=6e11,
            pretraining_loss=1.2,
            loss_corpus="toy-heldout",
        )
        yield st


def test_schema_is_created_in_wal_mode(tmp_path):
    path = tmp_path / "new" / "s.sqlite"
    with Store(path) as st:
        assert st.schema_version == SCHEMA_VERSION
        assert st.counts()["runs"] == 0
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"checkpoints", "runs", "evaluations", "fits", "forecasts"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_inserts_are_idempotent(store):
    store.add_checkpoint(
        "ck0",
        "toy/ck0",
        family="tiny",
        step=10,
        params=1e5,
        tokens=1e6,
        flops=6e11,
        pretraining_loss=1.2,
        loss_corpus="toy-heldout",
    )
    assert len(store.checkpoints()) == 1
    assert store.add_runs([_job(1), _job(2)]) == 2
    assert store.claim_run("run1", "w")
    store.finish_run("run1", [dict(metric="acc", value=0.5, n_examples=100, stderr=0.05)])
    assert store.add_runs([_job(1), _job(2), _job(3)]) == 1
    runs = store.runs().set_index("run_id")
    assert runs.loc["run1", "status"] == "done"  # a known job keeps its status
    assert len(runs) == 3


def test_claim_is_exclusive_and_results_join(store):
    store.add_runs([_job(0), _job(64)])
    assert store.claim_run("run0", "a")
    assert not store.claim_run("run0", "b")
    store.finish_run("run0", [dict(metric="acc", value=0.25, n_examples=200, stderr=0.03)])
    store.claim_run("run64", "a")
    store.fail_run("run64", "boom\n  at line 3")
    assert not store.claim_run("run64", "b")
    assert store.claim_run("run64", "b", retry_failed=True)
    table = store.results(task="toy", metric="acc")
    assert table[
        ["checkpoint", "pretraining_loss", "data_amount", "accuracy", "n_examples"]
    ].values.tolist() == [["ck0", 1.2, 0, 0.25, 200]]


def test_failed_reason_is_one_line(store):
    store.add_runs([_job(1)])
    store.fail_run("run1", "Traceback\n  File x\nValueError: bad")
    assert store.runs("failed").error.item() == "Traceback File x ValueError: bad"


def test_bad_values_are_refused_without_writing(store):
    with pytest.raises(EmergenceError, match="pretraining_loss"):
        store.add_checkpoint("ck1", "x", pretraining_loss=float("nan"))
    store.add_runs([_job(1)])
    with pytest.raises(EmergenceError, match="nan"):
        store.finish_run(
            "run1",
            [dict(metric="acc", value=0.5, n_examples=10), dict(metric="p", value="nan", n_examples=10)],
        )
    assert len(store.checkpoints()) == 1 and len(store.evaluations()) == 0


def test_newer_schema_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(EmergenceError, match="newer than this emergence"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EmergenceError, match="not an emergence store"):
        Store(path)


WRITER = textwrap.dedent(
    """
    import sys
    from emergence.store import Store
    st = Store(sys.argv[1], timeout=30)
    st.add_checkpoint("ck", "x", pretraining_loss=1.0)
    for i in range(int(sys.argv[2])):
        st.add_runs([dict(run_id=f"r{i}", checkpoint_id="ck", task="t", data_amount=i, seed=0, method="full",
                          spec={})])
        st.claim_run(f"r{i}", "w")
        st.finish_run(f"r{i}", [dict(metric=m, value=0.5, n_examples=10) for m in ("acc", "prob", "em")])
    print("ok")
    """
)


def test_writer_and_reader_processes_at_once(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "300"], stdout=subprocess.PIPE, text=True
    )
    reads = 0
    with Store(path, timeout=30) as reader:
        while writer.poll() is None:
            table = reader.results()
            # a run is visible with all three of its metrics or not at all: no torn reads
            assert (table.groupby("run_id").size() == 3).all()
            reads += 1
    assert writer.returncode == 0 and writer.stdout.read().strip() == "ok"
    assert reads > 5
    with Store(path) as st:
        assert st.counts()["evaluations"] == 900


KILLED = textwrap.dedent(
    """
    import sys, time
    from emergence.store import Store
    st = Store(sys.argv[1])
    st.add_checkpoint("ck", "x", pretraining_loss=1.0)
    st.add_runs([dict(run_id="r", checkpoint_id="ck", task="t", data_amount=0, seed=0, method="full", spec={})])
    with st.transaction() as conn:
        conn.execute("INSERT INTO evaluations VALUES ('r', 'acc', 0.5, 10, NULL)")
        conn.execute("UPDATE runs SET status='done' WHERE run_id='r'")
        print("inside", flush=True)
        time.sleep(60)
    """
)


def test_writer_killed_mid_transaction_leaves_no_partial_row(tmp_path):
    path = tmp_path / "s.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    with Store(path) as st:
        assert st._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert st.runs().status.tolist() == ["pending"]
        assert len(st.evaluations()) == 0
        st.claim_run("r", "w2")  # and the store is writable again
        st.finish_run("r", [dict(metric="acc", value=0.5, n_examples=10)])
        assert len(st.results()) == 1
