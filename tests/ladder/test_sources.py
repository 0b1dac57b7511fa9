"""Ladder sources (emergence/ladder/sources.py): local folders, hub ids offline, measured values, progress."""

import math

import pytest

from emergence.config import LadderSpec
from emergence.errors import EmergenceError
from emergence.ladder.sources import resolve_ladder
from emergence.store import Store


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "heldout.txt"
    path.write_text("".join(f"{a}+{b}={a + b}\n" for a in range(20) for b in range(10)))
    return path


def test_local_folders_get_params_loss_and_flops(tiny_ladder, corpus, tmp_path):
    ladder = LadderSpec.from_dict(
        dict(
            checkpoints=[
                dict(id=name, path=str(folder), tokens=1e6, family=f"w{i}")
                for i, (name, folder) in enumerate(tiny_ladder)
            ],
            loss_corpus=str(corpus),
        )
    )
    heard = []
    with Store(tmp_path / "s.sqlite") as st:
        resolved = resolve_ladder(ladder, store=st, progress=lambda *report: heard.append(report))
        table = st.checkpoints().set_index("checkpoint_id")
    assert heard == [(0, 3, "ck0"), (1, 3, "ck1"), (2, 3, "ck2"), (3, 3, "")]
    from transformers import AutoModelForCausalLM

    for checkpoint, (name, folder) in zip(resolved, tiny_ladder, strict=True):
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert checkpoint.params == model.num_parameters()  # tied embeddings counted once
        assert checkpoint.flops == 6 * checkpoint.params * 1e6
        # an untrained model is near uniform over the vocabulary: loss close to log(vocab)
        assert abs(checkpoint.pretraining_loss - math.log(model.config.vocab_size)) < 0.5
        assert table.loc[name, "pretraining_loss"] == checkpoint.pretraining_loss
        assert table.loc[name, "loss_corpus"].startswith("heldout.txt#")
        assert table.loc[name, "source"] == str(folder)


def test_measured_loss_is_reused_from_the_store(tiny_ladder, corpus, tmp_path, monkeypatch):
    name, folder = tiny_ladder[0]
    ladder = LadderSpec.from_dict(
        dict(checkpoints=[dict(id=name, path=str(folder))], loss_corpus=str(corpus))
    )
    with Store(tmp_path / "s.sqlite") as st:
        first = resolve_ladder(ladder, store=st)[0].pretraining_loss
        monkeypatch.setattr("emergence.ladder.measure.measure_pretraining_loss", lambda *a, **k: 1 / 0)
        assert resolve_ladder(ladder, store=st)[0].pretraining_loss == first


def test_given_values_win_and_nothing_is_loaded(tiny_ladder, tmp_path):
    name, folder = tiny_ladder[0]
    ladder = LadderSpec.from_dict(
        dict(checkpoints=[dict(id=name, path=str(folder), params=123.0, pretraining_loss=2.5, flops=7.0)])
    )
    (checkpoint,) = resolve_ladder(ladder)
    assert (checkpoint.params, checkpoint.pretraining_loss, checkpoint.flops) == (123.0, 2.5, 7.0)


def test_hub_checkpoints_fail_clearly_without_a_hub(tmp_path):
    ladder = LadderSpec.from_dict(
        dict(
            checkpoints=[dict(id="p", hub="EleutherAI/pythia-14m", revision="step1000", pretraining_loss=3.0)]
        )
    )
    with pytest.raises(EmergenceError, match="no hub access.*HF_HUB_OFFLINE.*'path'"):
        resolve_ladder(ladder)


def test_a_corrupt_checkpoint_is_registered_with_a_warning(tiny_ladder, corpus, tmp_path, caplog):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(tiny_ladder[0][1], folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    ladder = LadderSpec.from_dict(
        dict(checkpoints=[dict(id="broken", path=str(folder))], loss_corpus=str(corpus))
    )
    with Store(tmp_path / "s.sqlite") as st:
        (checkpoint,) = resolve_ladder(ladder, store=st)
        assert checkpoint.pretraining_loss is None and checkpoint.params is None
        assert "broken" in st.checkpoints().checkpoint_id.tolist()
    assert "its jobs will fail" in caplog.text
