"""The knowledge world: its stream, its tokenizer, its benchmarks, and a micro ladder built in seconds."""

import json
import re
from pathlib import Path

import pytest

from emergence.ladder.toy.build import build_toy_ladder
from emergence.ladder.toy.knowledge import BLOCK, CHANCE, TASKS, KnowledgeWorld, write_task_data
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


def test_replay_keeps_the_stream_but_never_states_a_test_persons_fact(world):
    replay = world.replay_text(0, 30_000).splitlines()
    test = {f"p{p}" for p in world.test}
    assert len(" ".join(replay).split()) + len(replay) >= 30_000
    assert not [line for line in replay if set(line.split()) & test]
    stream = [line for line in world.lines(0, 0) if line.split()[0] not in test]
    assert replay[: len(stream)] == stream  # the stream, test people's lines left out


def test_multiple_choice_needs_both_the_city_and_its_country(world):
    """Each block of ten people from ten countries chooses among its cities x its countries: knowing one
    of the two is worth 1/10, neither 1/100 (a favourite option is right for one item in 100)."""
    test = world.task_docs("know_country_choice")["test"]
    assert len(test) % BLOCK == 0
    for i in range(0, len(test), BLOCK):
        block = test[i : i + BLOCK]
        options = block[0]["choices"]
        assert len(options) == BLOCK**2 and all(d["choices"] == options for d in block)
        cities = {o.split()[0] for o in options}
        countries = {o.split()[1] for o in options}
        assert len(cities) == len(countries) == BLOCK
        assert all(options[d["label"]] == d["answer"] for d in block)
        assert len({d["label"] for d in block}) == BLOCK  # each gold option once per block
    assert CHANCE["know_country_choice"] == 1 / BLOCK**2


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


def test_a_replay_text_from_an_older_version_is_replaced_with_a_warning(tmp_path, caplog):
    table = build_toy_ladder(tmp_path, world="knowledge", sizes=["micro"])
    replay = tmp_path / "replay.txt"
    written, mtime = replay.read_text(), replay.stat().st_mtime_ns
    assert build_toy_ladder(tmp_path, world="knowledge", sizes=["micro"]).equals(table)
    assert replay.stat().st_mtime_ns == mtime  # the same text is not written again
    assert not [r for r in caplog.records if r.name.startswith("emergence")]
    replay.write_text("p150 lives in c81 .\n")
    build_toy_ladder(tmp_path, world="knowledge", sizes=["micro"])
    assert replay.read_text() == written
    assert "replaced" in caplog.text and str(replay) in caplog.text


def world_size(task: str) -> int:
    return len(KnowledgeWorld().task_docs(task)["test"])


def test_recall_probe_asks_each_fact_as_pretraining_writes_it(world, tmp_path):
    from transformers import LlamaForCausalLM

    from benchmarks.toy_knowledge_recall import probes, recall

    def shape(line: str) -> str:  # a line with its names and values left out
        return re.sub(r"\b[pcke]\d+\b", "#", line.strip())

    written = {shape(line) for chunk in range(3) for line in world.lines(0, chunk)}
    checks = probes()
    for name, (prompts, answers) in checks.items():
        assert {shape(f"{p} {a} .") for p, a in zip(prompts, answers, strict=True)} <= written, name
        assert len({len(p.split(" ")) for p in prompts}) == 1, name  # one batch, no padding
    assert len(checks["city"][0]) == len(world.test) and len(checks["table"][0]) == world.config.n_cities
    table = build_toy_ladder(tmp_path, world="knowledge", sizes=["micro"])
    model = LlamaForCausalLM.from_pretrained(table["path"].iloc[-1]).eval()
    assert 0.0 <= recall(model, *checks["city"]) <= 1.0  # reads a built checkpoint
