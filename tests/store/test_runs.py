"""Runs and results (emergence.store.runs): idempotent jobs, claims, refusals, ingested measurements."""

import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.store import Store


def test_inserts_are_idempotent(store, job):
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
    assert store.add_runs([job(1), job(2)]) == 2
    assert store.claim_run("run1", "w")
    store.finish_run("run1", [dict(metric="acc", value=0.5, n_examples=100, stderr=0.05)])
    assert store.add_runs([job(1), job(2), job(3)]) == 1
    runs = store.runs().set_index("run_id")
    assert runs.loc["run1", "status"] == "done"  # a known job keeps its status
    assert len(runs) == 3


def test_claim_is_exclusive_and_results_join(store, job):
    store.add_runs([job(0), job(64)])
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


def test_failed_reason_is_one_line(store, job):
    store.add_runs([job(1)])
    store.fail_run("run1", "Traceback\n  File x\nValueError: bad")
    assert store.runs("failed").error.item() == "Traceback File x ValueError: bad"


def test_bad_values_are_refused_without_writing(store, job):
    with pytest.raises(EmergenceError, match="pretraining_loss"):
        store.add_checkpoint("ck1", "x", pretraining_loss=float("nan"))
    store.add_runs([job(1)])
    with pytest.raises(EmergenceError, match="nan"):
        store.finish_run(
            "run1",
            [dict(metric="acc", value=0.5, n_examples=10), dict(metric="p", value="nan", n_examples=10)],
        )
    assert len(store.checkpoints()) == 1 and len(store.evaluations()) == 0


def _rows(accuracy: float, checkpoint: str = "ck0") -> pd.DataFrame:
    return pd.DataFrame([dict(task="t", metric="acc", checkpoint=checkpoint, pretraining_loss=1.2, data_amount=0,
                              seed=0, accuracy=accuracy, n_examples=100)])  # fmt: skip


def test_an_ingested_cell_is_kept_once_per_value_and_superseded_by_another(store):
    first = store.add_results(_rows(0.3), fmt="tidy", source="a.csv")
    again = store.add_results(_rows(0.3), fmt="tidy", source="a.csv")
    assert (first["new_runs"], again["new_runs"]) == (1, 0)
    changed = store.add_results(_rows(0.9), fmt="tidy", source="b.csv")
    assert changed["new_runs"] == 1 and changed["superseded"] == 1
    assert store.results()["accuracy"].tolist() == [0.9]
    assert sorted(store.results(superseded=True)["accuracy"]) == [0.3, 0.9]


def test_a_finished_run_is_never_finished_again(store, job):
    store.add_runs([job(1)])
    store.claim_run("run1", "w")
    store.finish_run("run1", [dict(metric="acc", value=0.5, n_examples=10)])
    with pytest.raises(EmergenceError, match="never rewritten"):
        store.finish_run("run1", [dict(metric="acc", value=0.9, n_examples=10)])
    assert store.results()["accuracy"].tolist() == [0.5]


def test_claims_carry_a_heartbeat_and_are_released_by_worker(store, job):
    store.add_runs([job(1), job(2)])
    store.claim_run("run1", "host:1")
    store.claim_run("run2", "host:2")
    claims = store.claims().set_index("worker")
    assert (
        claims.loc["host:1", "runs"] == 1
        and claims.loc["host:1", "heartbeat"] >= claims.loc["host:1", "since"]
    )
    assert store.release_runs(["host:2"]) == 1
    assert store.runs().set_index("run_id").loc["run2", "status"] == "pending"


def test_bad_result_rows_store_nothing(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        with pytest.raises(EmergenceError, match="accuracy"):
            st.add_results(_rows(1.5), fmt="tidy", source="bad.csv")
        assert st.counts()["runs"] == 0 and st.counts()["checkpoints"] == 0
