"""evaluate() and task_examples() on the toy tasks: names, YAML paths and dicts; score and prob_correct."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


from emergence.errors import EmergenceError  # noqa: E402
from emergence.harness.evaluate import evaluate, task_examples  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer  # noqa: E402
from tests.harness.conftest import tiny_llama  # noqa: E402

EVALS = Path(__file__).resolve().parents[2] / "evals" / "toy"


@pytest.fixture(scope="module")
def model_and_tok():
    tok = build_tokenizer()
    return tiny_llama(tok, hidden=16, max_positions=256), tok


def test_generation_task_by_name(model_and_tok):
    model, tok = model_and_tok
    r = evaluate(model, tok, "toy_sum_qa", limit=6, num_fewshot=2)
    assert r["task"] == "toy_sum_qa" and r["metric"] == "exact_match"
    assert r["n_examples"] == 6 and r["num_fewshot"] == 2
    assert r["value"] == 0.0 and 0 < r["prob_correct"] < 0.01  # a random model: right answers are rare


def test_multiple_choice_task_by_yaml_path_from_another_directory(model_and_tok, tmp_path, monkeypatch):
    model, tok = model_and_tok
    monkeypatch.chdir(tmp_path)
    r = evaluate(model, tok, EVALS / "toy_sum_choice.yaml", limit=8)
    assert r["metric"] == "acc" and r["n_examples"] == 8 and r["num_fewshot"] == 3
    assert 0 <= r["value"] <= 1 and 0.1 < r["prob_correct"] < 0.5  # about 1/4 for a random model


def test_task_examples_render_like_lm_eval():
    qa = task_examples("toy_sum_qa", "train", limit=3)
    assert qa[0]["prompt"].startswith("what is ") and qa[0]["prompt"].endswith("? ")
    assert qa[0]["target"].isdigit()
    mc = task_examples(EVALS / "toy_sum_choice.yaml", "train", limit=3, num_fewshot=2)
    assert mc[0]["prompt"].count("\n") == 2 and mc[0]["prompt"].endswith(" ->")
    assert mc[0]["target"].startswith(" ")
    test = task_examples("toy_sum_qa", "test")
    assert len(test) == 500 and not {e["prompt"] for e in test} & {
        e["prompt"] for e in task_examples("toy_sum_qa")
    }


def test_missing_yaml_is_a_clear_error(model_and_tok):
    model, tok = model_and_tok
    with pytest.raises(EmergenceError, match="does not exist"):
        evaluate(model, tok, "nowhere/task.yaml")
