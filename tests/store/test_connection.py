"""Opening a store (emergence.store.connection): schema, versions, read-only readers, processes, crashes."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing

import pytest

from emergence.errors import EmergenceError
from emergence.store import SCHEMA_VERSION, Store


def test_schema_is_created_in_wal_mode(tmp_path):
    path = tmp_path / "new" / "s.sqlite"
    with Store(path) as st:
        assert st.schema_version == SCHEMA_VERSION
        assert st.counts()["runs"] == 0
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"checkpoints", "runs", "evaluations", "fits", "forecasts"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


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
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(path) as st:
        assert st.runs().status.tolist() == ["pending"]
        assert len(st.evaluations()) == 0
        st.claim_run("r", "w2")  # and the store is writable again
        st.finish_run("r", [dict(metric="acc", value=0.5, n_examples=10)])
        assert len(st.results()) == 1


def test_a_reader_writes_nothing_and_refuses_what_is_not_a_store(tmp_path):
    missing = tmp_path / "no" / "s.sqlite"
    with pytest.raises(EmergenceError, match="no store at"):
        Store(missing, read_only=True)
    assert not (tmp_path / "no").exists()
    with pytest.raises(EmergenceError, match="is a folder"):
        Store(tmp_path, read_only=True)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE notes (text TEXT)")
    for read_only in (True, False):
        with pytest.raises(EmergenceError, match="not an emergence store"):
            Store(other, read_only=read_only)
    with sqlite3.connect(other) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
        assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_a_reader_cannot_write_and_needs_an_upgraded_store(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with Store(path, read_only=True) as st, pytest.raises(EmergenceError, match="read-only"):
        st.add_checkpoint("ck", "x")
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version=1")
    with pytest.raises(EmergenceError, match="emergence store upgrade"):
        Store(path, read_only=True)


def test_a_refused_write_leaves_a_delete_mode_store_byte_for_byte_and_a_committed_one_switches_to_wal(
    tmp_path,
):
    # a store shipped for read-only readers is kept in delete mode; a writer that refuses its input, inside
    # its first transaction too, must not change the file, not even the journal mode in its header
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.add_checkpoint("ck", "x", pretraining_loss=1.2)
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA journal_mode=delete")
    before = path.read_bytes()
    with Store(path) as st:
        with pytest.raises(EmergenceError, match="stored with pretraining_loss 1.2"):
            st.add_checkpoint("ck", "x", pretraining_loss=1.6)  # refused inside the transaction
        assert path.read_bytes() == before
        st.add_checkpoint("ck2", "x", pretraining_loss=1.0)
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_false_refuses_a_missing_store(tmp_path):
    with pytest.raises(EmergenceError, match="no store at"):
        Store(tmp_path / "s.sqlite", create=False)
    assert not (tmp_path / "s.sqlite").exists()
