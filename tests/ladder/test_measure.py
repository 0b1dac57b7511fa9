"""What a ladder spec leaves out, measured (emergence/ladder/measure.py): params and pretraining loss."""

import pytest

from emergence.config import CheckpointSpec
from emergence.errors import EmergenceError
from emergence.ladder.measure import corpus_name, count_params, measure_pretraining_loss


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "heldout.txt"
    path.write_text("".join(f"{a}+{b}={a + b}\n" for a in range(20) for b in range(10)))
    return path


def test_params_are_counted_from_the_headers_tied_weights_once(tiny_ladder, tmp_path):
    from transformers import AutoModelForCausalLM

    _, folder = tiny_ladder[0]
    assert count_params(folder) == AutoModelForCausalLM.from_pretrained(folder).num_parameters()
    with pytest.raises(EmergenceError, match="no .safetensors"):
        count_params(tmp_path)


def test_a_corpus_is_named_by_file_and_content(corpus, tmp_path):
    assert corpus_name(corpus).startswith("heldout.txt#")
    other = tmp_path / "heldout.txt"
    other.write_text(corpus.read_text() + "1+1=2\n")
    assert corpus_name(other) != corpus_name(corpus)


def test_loss_matches_a_direct_computation(tiny_ladder, corpus):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name, folder = tiny_ladder[1]
    loss = measure_pretraining_loss(CheckpointSpec(id=name, path=folder, pretraining_loss=1.0), corpus)
    model, tok = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    ids = torch.tensor([tok(corpus.read_text(), add_special_tokens=False)["input_ids"]])
    with torch.no_grad():  # the corpus is longer than the window: compare on the first window only
        first = model(ids[:, :128], labels=ids[:, :128]).loss.item()
    assert abs(loss - first) < 0.05


def test_a_corpus_too_short_is_a_clear_error(tiny_ladder, tmp_path):
    name, folder = tiny_ladder[0]
    short = tmp_path / "short.txt"
    short.write_text("1")
    with pytest.raises(EmergenceError, match="fewer than 2 tokens"):
        measure_pretraining_loss(CheckpointSpec(id=name, path=folder, pretraining_loss=1.0), short)
