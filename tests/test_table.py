"""The results table's one validator (emergence.table), shared by ingest, the store and the law."""

import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.table import checkpoint_rows, same_value, validate_results

ROW = dict(task="t", metric="acc", checkpoint="ck", pretraining_loss=2.0, data_amount=64, seed=0, accuracy=0.5,
           n_examples=100)  # fmt: skip


@pytest.mark.parametrize(
    "change, words",
    [
        ({"accuracy": 87.0}, "accuracy must be a fraction within [0, 1], not a percentage (got 87.0)"),
        ({"accuracy": "high"}, "accuracy is non-numeric text (got 'high')"),
        ({"data_amount": 2.5}, "data_amount must be a whole number >= 0"),
        ({"n_examples": 0}, "n_examples must be a whole number >= 1"),
        ({"pretraining_loss": -1.0}, "pretraining_loss must be a positive number of nats"),
        ({"tokens": float("inf")}, "tokens is infinite"),
        ({"task": " "}, "task must be a non-empty name"),
    ],
)
def test_a_bad_row_is_one_line_naming_row_and_column(change, words):
    frame = pd.DataFrame([ROW, ROW | {"seed": 1} | change])
    with pytest.raises(EmergenceError) as info:
        validate_results(frame, "r.csv")
    assert str(info.value).startswith("r.csv: row 2: ") and words in str(info.value)


def test_duplicates_and_two_values_per_checkpoint_are_refused():
    with pytest.raises(EmergenceError, match="two rows for the same run and metric"):
        validate_results(pd.DataFrame([ROW, ROW]))
    with pytest.raises(EmergenceError, match="checkpoint ck has different values of pretraining_loss"):
        validate_results(pd.DataFrame([ROW, ROW | {"seed": 1, "pretraining_loss": 2.5}]))


def test_a_missing_loss_is_allowed_unless_required():
    frame = pd.DataFrame([ROW | {"pretraining_loss": None}])
    assert validate_results(frame)["pretraining_loss"].isna().all()
    with pytest.raises(EmergenceError, match="pretraining_loss is missing"):
        validate_results(frame, require_loss=True)


def test_checkpoint_rows_and_measurements_that_agree():
    rows = validate_results(pd.DataFrame([ROW | {"params": None}, ROW | {"seed": 1, "params": 1e6}]))
    assert checkpoint_rows(rows).to_dict("records")[0]["params"] == 1e6
    assert same_value(2.0, 2.0 + 1e-12) and not same_value(2.0, 2.0001)
