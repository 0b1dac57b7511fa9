"""Tidy CSVs (emergence.ingest.tidy): round trips and refusals; a cell measured again."""

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.ingest import detect_format, ingest, read_tidy, write_tidy
from emergence.store import Store
from tests.tables import write_olmo_ladder


def test_tidy_round_trip(tmp_path, store):
    ingest(store, write_olmo_ladder(tmp_path / "ladder"))
    before = store.results()
    path = write_tidy(before, tmp_path / "results.csv")
    assert detect_format(path) == "tidy"
    with Store(tmp_path / "other.sqlite") as other:
        summary = ingest(other, path)
        after = other.results()
    assert summary["runs"] == 72
    columns = ["task", "metric", "checkpoint", "pretraining_loss", "params", "tokens", "flops", "data_amount",
               "seed", "accuracy", "n_examples", "run_id"]  # fmt: skip
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_each_cell_fits_its_newest_run_whether_swept_or_ingested(tmp_path, store):
    csv = tmp_path / "t.csv"
    row = "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\n"
    csv.write_text(row + "t,acc,ck,2.0,64,0,0.50,100\n")

    def sweep_run(run_id, value):
        store.add_runs([dict(run_id=run_id, checkpoint_id="ck", task="t", data_amount=64, seed=0,
                             method="full", spec={"lr": run_id})])  # fmt: skip
        store.claim_run(run_id, "w")
        store.finish_run(run_id, [dict(metric="acc", value=value, n_examples=100, stderr=0.05)])

    ingest(store, csv)
    sweep_run("swept", 0.70)  # newer than the ingest
    assert store.results()["accuracy"].tolist() == [0.70]
    ingest(store, csv)  # ingested again: now the newest measurement of the cell, every one kept
    assert store.results()["accuracy"].tolist() == [0.50]
    assert sorted(store.results(superseded=True)["accuracy"]) == [0.50, 0.50, 0.70]
    assert ingest(store, csv)["new_runs"] == 0  # the cell's newest measurement already has these values
    assert store.counts()["runs_superseded"] == 2


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.drop(columns="n_examples"), r"missing column\(s\) n_examples"),
        (lambda t: t.assign(accuracy=[np.nan] + [0.3] * (len(t) - 1)), r"line 2: accuracy is missing"),
        (lambda t: t.assign(accuracy=[41.0] + [0.3] * (len(t) - 1)), r"line 2: accuracy must be a fraction within \[0, 1\]"),
        (lambda t: t.assign(n_examples=0), r"line 2: n_examples must be a whole number >= 1"),
        (lambda t: t.assign(data_amount=-64), r"line 2: data_amount must be a whole number >= 0"),
        (lambda t: t.assign(pretraining_loss=-1.0), r"line 2: pretraining_loss must be a positive number of nats"),
        (lambda t: t.assign(seed=0.5), r"line 2: seed must be a whole number"),
        (lambda t: pd.concat([t, t.iloc[:1]]), r"two rows for the same run and metric"),
        (lambda t: t.assign(pretraining_loss=[2.0] + [3.0] * (len(t) - 1), checkpoint="c"), r"two rows|different values of pretraining_loss"),
    ],
)  # fmt: skip
def test_bad_tidy_refused(tmp_path, store, edit, message):
    table = pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "checkpoint": [f"c{i}" for i in range(4)],
            "pretraining_loss": 3.0,
            "data_amount": 0,
            "seed": 0,
            "accuracy": 0.3,
            "n_examples": 100,
        }  # fmt: skip
    )
    path = tmp_path / "bad.csv"
    edit(table).to_csv(path, index=False)
    with pytest.raises(EmergenceError, match=message):
        ingest(store, path, "tidy")
    assert store.counts()["runs"] == 0


def test_tidy_checkpoint_with_two_losses_refused(tmp_path, store):
    path = tmp_path / "t.csv"
    path.write_text(
        "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\n"
        "t,acc,c,3.0,0,0,0.3,100\nt,acc,c,2.9,64,0,0.3,100\n"
    )
    with pytest.raises(EmergenceError, match="checkpoint c has different values of pretraining_loss"):
        read_tidy(path) if False else ingest(store, path)
