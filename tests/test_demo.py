"""The demo's live run says so when this machine's ladder is not the shipped one."""

from emergence.demo import LADDER_TOLERANCE, ladder_note
from emergence.store import Store


def checkpoints(path, losses: dict[str, float]):
    with Store(path) as store:
        store.add_checkpoints(
            [dict(checkpoint=c, source=f"toy/{c}", pretraining_loss=v) for c, v in losses.items()]
        )
        return store.checkpoints()


def test_the_demo_names_the_live_checkpoint_furthest_from_the_shipped_one(tmp_path):
    shipped = tmp_path / "shipped.sqlite"
    checkpoints(shipped, {"a": 2.0, "b": 1.5, "c": 1.4})
    before = shipped.read_bytes()
    close = checkpoints(tmp_path / "close.sqlite", {"a": 2.0, "b": 1.5 + LADDER_TOLERANCE / 2, "z": 9.0})
    # within the tolerance; an id the shipped run lacks is not compared
    assert ladder_note(close, shipped) is None
    other = checkpoints(tmp_path / "other.sqlite", {"a": 2.0, "b": 1.7, "c": 1.45})
    note = ladder_note(other, shipped)
    assert note.startswith("this ladder is not the shipped one (b: 1.700 nats, shipped 1.500; 2 of 3 checkpoints "
                           "differ by more than 0.01)")  # fmt: skip
    assert ladder_note(other, tmp_path / "absent.sqlite") is None  # no shipped run to compare with
    (tmp_path / "broken.sqlite").write_text("not a store")
    assert ladder_note(other, tmp_path / "broken.sqlite") is None  # advisory: an unreadable one is skipped
    assert shipped.read_bytes() == before  # reading never writes
