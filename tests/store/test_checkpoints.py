"""Checkpoints (emergence.store.checkpoints): never changed silently; a replacement keeps the old values."""

import pytest

from emergence.errors import EmergenceError


def test_the_same_checkpoint_again_changes_nothing_and_fills_what_was_missing(store):
    store.add_checkpoint("ck1", "x", pretraining_loss=2.0)
    store.add_checkpoint("ck1", "y", pretraining_loss=2.0, params=1e6)
    row = store.checkpoints().set_index("checkpoint_id").loc["ck1"]
    assert (row["source"], row["pretraining_loss"], row["params"]) == ("x", 2.0, 1e6)
    assert store.checkpoint_history().empty


def test_other_values_are_refused_naming_both(store):
    with pytest.raises(EmergenceError, match="stored with pretraining_loss 1.2, this input gives 1.6"):
        store.add_checkpoint("ck0", "toy/ck0", pretraining_loss=1.6)
    assert store.checkpoints().set_index("checkpoint_id").loc["ck0", "pretraining_loss"] == 1.2


def test_an_explicit_replacement_keeps_the_old_values_as_history(store):
    counted = store.add_checkpoints([dict(checkpoint="ck0", source="remeasured", pretraining_loss=1.6)],
                                    replace=True, reason="measured again")  # fmt: skip
    assert counted == {"new": 0, "replaced": 1}
    row = store.checkpoints().set_index("checkpoint_id").loc["ck0"]
    assert (row["pretraining_loss"], row["source"], row["params"]) == (1.6, "remeasured", 1e5)
    (old,) = store.checkpoint_history().to_dict("records")
    assert (old["pretraining_loss"], old["source"], old["reason"]) == (1.2, "toy/ck0", "measured again")


@pytest.mark.parametrize(
    "field, value", [("pretraining_loss", float("nan")), ("params", -1.0), ("tokens", float("inf"))]
)
def test_bad_values_are_refused(store, field, value):
    with pytest.raises(EmergenceError, match=field):
        store.add_checkpoint("ck9", "x", **{field: value})
    assert "ck9" not in set(store.checkpoints()["checkpoint_id"])
