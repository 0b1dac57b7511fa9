"""Checkpoints (emergence/ladder/checkpoints.py): identity, weights fingerprint, loading safetensors only."""

import shutil

import pytest

from emergence.config import CheckpointSpec
from emergence.errors import EmergenceError
from emergence.ladder import checkpoints
from emergence.ladder.checkpoints import checkpoint_identity, load_checkpoint, weights_fingerprint


def test_identity_is_what_decides_what_gets_loaded(tmp_path):
    hub = CheckpointSpec(id="p@s1", hub="org/p", revision="s1", pretraining_loss=3.0, params=1e6, flops=1e9)
    assert checkpoint_identity(hub) == dict(
        id="p@s1", path=None, hub="org/p", revision="s1", trust_remote_code=False
    )  # measured values (loss, params, FLOPs) are not part of it: run ids must not move with them
    local = CheckpointSpec(id="ck", path=tmp_path, pretraining_loss=3.0)
    assert checkpoint_identity(local)["path"] == str(tmp_path.resolve())


def test_a_fingerprint_follows_the_weights(tiny_ladder, tmp_path):
    (_, a), (_, b) = tiny_ladder[:2]
    assert weights_fingerprint(a) == weights_fingerprint(a) != weights_fingerprint(b)
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    assert weights_fingerprint(copy) == weights_fingerprint(a)  # the content, not the folder
    assert weights_fingerprint(tmp_path / "missing") is None


def test_a_large_weight_file_is_fingerprinted_by_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "WHOLE_FILE_BYTES", 1 << 20)
    weights = tmp_path / "model.safetensors"
    data = bytearray(32 << 20)
    weights.write_bytes(data)
    seen = {weights_fingerprint(tmp_path)}
    for offset in (0, len(data) - 1):  # the header's end and the last tensor's
        data[offset] ^= 1
        weights.write_bytes(data)
        seen.add(weights_fingerprint(tmp_path))
    weights.write_bytes(data + b"\0")  # one byte longer
    seen.add(weights_fingerprint(tmp_path))
    assert len(seen) == 4


def test_a_checkpoint_loads_in_fp32_with_its_tokenizer(tiny_ladder):
    import torch

    name, folder = tiny_ladder[0]
    model, tokenizer = load_checkpoint(
        checkpoint_identity(CheckpointSpec(id=name, path=folder, pretraining_loss=1.0))
    )
    assert next(model.parameters()).dtype == torch.float32 and model.config.hidden_size == 8
    assert tokenizer("1+1=")["input_ids"]


def test_pickled_weights_are_refused(tiny_ladder, tmp_path):
    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_ladder[0][1], folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(EmergenceError, match="no .safetensors weights.*re-save"):
        load_checkpoint(checkpoint_identity(CheckpointSpec(id="b", path=folder, pretraining_loss=1.0)))


def test_not_a_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EmergenceError, match="no config.json"):
        load_checkpoint(checkpoint_identity(CheckpointSpec(id="e", path=tmp_path, pretraining_loss=1.0)))
