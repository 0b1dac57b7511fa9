"""The knowledge world: its stream, its tokenizer, its benchmarks, and a micro ladder built in seconds."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from emergence.ladder.toy.build import build_toy_ladder
from emergence.ladder.toy.knowledge import CHANCE, TASKS, KnowledgeWorld, write_task_data
from emergence.ladder.toy.tokenizer import build_word_tokenizer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():
    return KnowledgeWorld()


def test_stream_is_deterministic_and_a_longer_one_continues_a_shorter_one(world):
    short, long = world.token_ids(0, 3_000), world.token_ids(0, 20_000)
    assert (long[:3_000] == short).all()
    assert not (world.token_ids(1, 3_000) == short).all()


def test_tokenizer_reads_the_stream_as_its_ids_and_writes_answers_back(world, tmp_path):
    tok = build_word_tokenizer(world.words)
    text = "\n".join(world.lines(0, 0)) + "\n"
    ids = tok(text)["input_ids"]
    assert ids == list(world.token_ids(0, len(ids)))
    assert tok.decode(tok("c3 k1")["input_ids"]) == "c3 k1"
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == ids


def test_pretraining_asks_only_about_the_most_frequent_people(world):
    asked = set()
    for line in world.lines(0, 0) + world.lines(0, 1):
        if line.startswith("which"):
            asked.add(int(re.search(r"p(\d+)", line).group(1)))
    assert asked and max(asked) < world.config.n_asked
    assert not asked & (set(world.test) | set(world.pool))


def test_benchmarks_ask_about_band_people_and_train_never_meets_test(world):
    lo, hi = world.config.band
    for task in TASKS:
        docs = world.task_docs(task)
        train, test = ({d["person"] for d in docs[s]} for s in ("train", "test"))
        assert not train & test and all(lo <= p < hi for p in train | test)


def test_multiple_choice_is_at_exact_chance_for_a_model_blind_to_the_person(world):
    test = world.task_docs("know_city_choice")["test"]
    assert len(test) % 4 == 0
    for favourite in range(4):  # a model that always picks the same option, or the same city
        assert np.mean([d["label"] == favourite for d in test]) == CHANCE["know_city_choice"]
    for i in range(0, len(test), 4):
        block = test[i : i + 4]
        assert all(d["choices"] == block[0]["choices"] for d in block)
        assert sorted(d["label"] for d in block) == [0, 1, 2, 3]
        assert all(d["choices"][d["label"]] == d["answer"] for d in block)


def test_shipped_task_data_is_the_generators(tmp_path):
    write_task_data(tmp_path)
    for path in tmp_path.glob("*.jsonl"):
        assert path.read_text() == (REPO / "evals" / "toy" / "data" / path.name).read_text(), path.name


def test_micro_ladder_builds_in_seconds_and_its_tasks_load_in_lm_eval(tmp_path):
    from emergence.harness.tasks import load_task

    table = build_toy_ladder(tmp_path, world="knowledge", sizes=["micro"])
    assert list(table["checkpoint_id"]) == ["know-s0-micro-step000012", "know-s0-micro-step000024"]
    assert (table["loss_corpus"] == "knowledge-heldout-v1").all() and table[
        "pretraining_loss"
    ].is_monotonic_decreasing
    record = json.loads((Path(table["path"].iloc[-1]) / "checkpoint.json").read_text())
    assert record["loss_corpus"] == "knowledge-heldout-v1"
    for task in TASKS:
        loaded = load_task(task)
        assert len(loaded.test_docs()) == world_size(task) and loaded.config.num_fewshot == 3


def world_size(task: str) -> int:
    return len(KnowledgeWorld().task_docs(task)["test"])
