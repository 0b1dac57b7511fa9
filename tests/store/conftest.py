"""A store with one checkpoint, and the jobs the store tests register."""

import pytest

from emergence.store import Store


@pytest.fixture
def job():
    """A job dict for `Store.add_runs` (run id run<i>, data amount i)."""

    def make(i: int, checkpoint: str = "ck0") -> dict:
        return dict(run_id=f"run{i}", checkpoint_id=checkpoint, task="toy", data_amount=i, seed=0, method="full",
                    spec={"i": i})  # fmt: skip

    return make


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.add_checkpoint("ck0", "toy/ck0", family="tiny", step=10, params=1e5, tokens=1e6, flops=6e11,
                          pretraining_loss=1.2, loss_corpus="toy-heldout")  # fmt: skip
        yield st
