"""The toy world end to end on a micro ladder: corpus, tokenizer, training, checkpoints, resume, loss, tasks."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from emergence.ladder.toy import corpus  # noqa: E402
from emergence.ladder.toy.build import build_toy_ladder, disorder, free_threads  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer, encode_text  # noqa: E402
from emergence.ladder.toy.train import SIZES, train_size  # noqa: E402
from emergence.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def micro_ladder(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    with Store(out / "store.sqlite") as store:
        table = build_toy_ladder(
            out, sizes=["micro"], store=store, progress=lambda *report: HEARD.append(report)
        )
    return out, table, Store(out / "store.sqlite", read_only=True)


HEARD: list[tuple] = []
"""What the micro ladder's build reported to its progress."""


def test_corpus_is_deterministic_and_mixed():
    a = corpus.corpus_text(3, 20_000)
    assert a == corpus.corpus_text(3, 20_000)
    assert a != corpus.corpus_text(4, 20_000)
    lines = a.splitlines()
    sums = [line for line in lines if "+" in line and "=" in line]
    assert sums and len(sums) < len(lines)  # sums and filler
    carried = 0
    for line in sums:
        left, answer = line.split("=")
        a_, b_ = (int(x) for x in left.split("+"))
        assert answer == str(a_ + b_)[::-1]
        carried += corpus.carries(a_, b_)
    assert 0.15 < carried / len(sums) < 0.25  # carries are rare (a fifth), the benchmark's items all carry
    uniform = corpus.corpus_text(3, 20_000, corpus.CorpusConfig(carry_rate=None))
    pairs = [line.split("=")[0].split("+") for line in uniform.splitlines() if "=" in line]
    assert 0.35 < sum(corpus.carries(int(x), int(y)) for x, y in pairs) / len(pairs) < 0.55


def test_tokenizer_round_trip(tmp_path):
    tok = build_tokenizer()
    text = corpus.corpus_text(0, 2_000) + "what is 12 plus 9? 12\n"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert list(encode_text(tok, text)) == ids
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == ids and again.decode(ids) == text


def test_task_data_shipped_matches_generator_and_splits_are_disjoint(tmp_path):
    corpus.write_task_data(tmp_path)
    for task in corpus.TASKS:
        pairs = {}
        for split in ("train", "test"):
            shipped = REPO / "evals" / "toy" / "data" / f"{task}_{split}.jsonl"
            assert shipped.read_text() == (tmp_path / shipped.name).read_text(), f"regenerate {shipped.name}"
            rows = [json.loads(line) for line in shipped.read_text().splitlines()]
            pairs[split] = {(r["a"], r["b"]) for r in rows}
            for r in rows:
                assert r["answer"] == str(r["a"] + r["b"])[::-1]
                if "choices" in r:
                    assert r["choices"][r["label"]] == r["answer"] and len(set(r["choices"])) == 4
        assert not pairs["train"] & pairs["test"]


def test_choice_test_split_comes_in_blocks_where_each_option_is_right_once():
    # A model blind to the units digit then scores exactly 1/4 of every block, whatever digit it prefers.
    test = corpus.task_docs("toy_sum_choice")["test"]
    assert len(test) == corpus.N_TEST["toy_sum_choice"]
    for i in range(0, len(test), 4):
        block = test[i : i + 4]
        options = {frozenset(r["choices"]) for r in block}
        assert len(options) == 1 and {r["answer"] for r in block} == set(block[0]["choices"])
        units = sorted(int(c[0]) for c in block[0]["choices"])
        assert units == list(range(units[0], units[0] + 4))  # four consecutive units digits
        assert len({c[1:] for c in block[0]["choices"]}) == 1  # the same after the units digit

    # A fixed preference among the options is right on exactly a quarter of the items.
    def prefer_lowest(r):
        return min(range(4), key=lambda k: r["choices"][k])

    assert sum(prefer_lowest(r) == r["label"] for r in test) == len(test) // 4


def test_micro_ladder_table_and_store(micro_ladder):
    out, table, store = micro_ladder
    size = SIZES["micro"]
    assert list(table["step"]) == size.save_steps
    assert (table["flops"] == 6 * table["params"] * table["tokens"]).all()
    assert table["pretraining_loss"].iloc[-1] < table["pretraining_loss"].iloc[0] < 5
    stored = store.checkpoints()
    assert len(stored) == len(table)  # sources relative to the ladder folder: no machine's paths
    assert stored["source"].iloc[0] == f"toy-ladder:micro/step-{size.save_steps[0]:06d}"
    for path in table["path"]:
        assert (Path(path) / "model.safetensors").exists() and (Path(path) / "tokenizer.json").exists()
    assert (out / "ladder.csv").exists()


def test_the_build_reports_every_training_step(micro_ladder):
    steps = SIZES["micro"].steps
    assert HEARD[0] == (0, steps, "micro") and HEARD[-1] == (steps, steps, "micro")
    assert [done for done, _, _ in HEARD] == [*range(steps + 1), steps]


def test_rebuild_trains_nothing(micro_ladder, monkeypatch):
    out, table, _ = micro_ladder
    import emergence.ladder.toy.train as train

    monkeypatch.setattr(train, "LlamaForCausalLM", None)  # any training would fail
    heard = []
    again = build_toy_ladder(out, sizes=["micro"], progress=lambda *report: heard.append(report))
    assert again.equals(table)
    assert heard == [(24, 24, "micro")] * 2  # done at once


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    tok = build_tokenizer()
    size = SIZES["micro"]
    full = train_size(size, tmp_path / "full", tok)

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    with pytest.raises(Stop):
        train_size(size, tmp_path / "cut", tok, on_checkpoint=stop)
    assert len(list((tmp_path / "cut").glob("step-*"))) == 1
    resumed = train_size(size, tmp_path / "cut", tok)
    assert [r["pretraining_loss"] for r in resumed] == pytest.approx([r["pretraining_loss"] for r in full])
    from safetensors.torch import load_file

    last = f"step-{size.steps:06d}/model.safetensors"
    a, b = load_file(tmp_path / "full" / last), load_file(tmp_path / "cut" / last)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_tasks_load_and_score_in_lm_eval(micro_ladder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergence.harness.evaluate import evaluate

    _, table, _ = micro_ladder
    path = table["path"].iloc[-1]
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    qa = evaluate(model, tok, "toy_sum_qa", limit=8)
    assert qa["metric"] == "exact_match" and qa["n_examples"] == 8 and qa["num_fewshot"] == 3
    choice = evaluate(model, tok, REPO / "evals" / "toy" / "toy_sum_choice.yaml", limit=8, num_fewshot=0)
    assert choice["metric"] == "acc" and 0 <= choice["value"] <= 1 and 0 < choice["prob_correct"] < 1


@pytest.mark.slow
def test_lm_eval_cli_finds_the_tasks_from_any_directory(micro_ladder, tmp_path):
    _, table, _ = micro_ladder
    path = table["path"].iloc[-1]
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={path},tokenizer={path}",
        "--include_path",
        str(REPO / "evals" / "toy"),
        "--tasks",
        "toy_sum_qa,toy_sum_choice",
        "--limit",
        "4",
        "--device",
        "cpu",
        "--batch_size",
        "4",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "toy_sum_qa" in done.stdout and "toy_sum_choice" in done.stdout


def test_training_threads_leave_busy_cores_alone():
    cores = os.cpu_count() or 1
    assert 1 <= free_threads(cap=cores, seconds=0.2) <= cores
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        assert free_threads(cap=cores, seconds=0.5) == 1  # every core taken: one thread, not contention
    finally:
        for p in busy:
            p.kill()


def test_a_larger_size_that_learned_less_from_more_tokens_is_named():
    # final losses and tokens of the shipped ladders: knowledge (l retrained with compiled kernels ended at
    # 1.605) and arithmetic (larger sizes train on fewer tokens, and m ends above s)
    def ladder(rows):
        return pd.DataFrame(
            [dict(size=n, params=p, step=1, tokens=t, pretraining_loss=loss) for n, p, t, loss in rows]
        )

    knowledge = [("s", 138_528, 280_576, 2.202), ("m", 612_192, 1_300_480, 1.483)]
    assert disorder(ladder([*knowledge, ("l", 947_328, 3_500_032, 1.440)])) == []
    (warning,) = disorder(ladder([*knowledge, ("l", 947_328, 3_500_032, 1.605)]))
    assert warning.startswith(
        "size l ended at loss 1.605, above the smaller size m's 1.483 after no more tokens"
    )
    arithmetic = [("xs", 135_872, 4_096_000, 0.695), ("s", 449_760, 3_276_800, 0.688),
                  ("m", 1_058_688, 2_048_000, 0.706), ("l", 3_165_440, 1_843_200, 0.692)]  # fmt: skip
    assert disorder(ladder(arithmetic)) == []
    # every smaller size counts, not only the next one; equal tokens count
    skipped = [("s", 1, 100, 1.0), ("m", 2, 200, 1.5), ("l", 3, 200, 1.2)]
    assert [w.split(",")[0] for w in disorder(ladder(skipped))] == [
        "size m ended at loss 1.500",
        "size l ended at loss 1.200",
    ]
