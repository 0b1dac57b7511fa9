"""evaluate() and task_examples() on the toy tasks: names, YAML paths and dicts; score and prob_correct."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


from emergence.errors import EmergenceError  # noqa: E402
from emergence.harness.evaluate import evaluate, task_examples  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer  # noqa: E402
from tests.builders import tiny_llama  # noqa: E402

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


def test_a_sweep_process_shows_no_lm_eval_warnings(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(
        "from emergence.harness.evaluate import evaluate\n"
        "from emergence.harness.sweep import check_tasks\n"
        "from emergence.ladder.toy.tokenizer import build_tokenizer\n"
        "from tests.builders import tiny_llama\n"
        "check_tasks(['toy_sum_choice', 'toy_sum_qa'])\n"
        "tok = build_tokenizer()\n"
        "evaluate(tiny_llama(tok, hidden=16, max_positions=256), tok, 'toy_sum_choice', limit=4)\n"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root,
                         env=os.environ | {"PYTHONPATH": str(root)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "WARNING" not in run.stderr and "already-initialized" not in run.stderr, run.stderr


def test_task_examples_render_like_lm_eval():
    qa = task_examples("toy_sum_qa", "train", limit=3)
    assert re.fullmatch(r"\d+\+\d+=", qa[0]["prompt"])
    # a generated target ends as a solved example in a few-shot prompt does, so the model learns to stop
    assert qa[0]["target"][:-1].isdigit() and qa[0]["target"].endswith("\n")
    shots = task_examples("toy_sum_qa", "train", limit=3, num_fewshot=None)  # the task's own 3 shots
    assert shots[0]["prompt"].count("\n") == 3 and shots[0]["prompt"].endswith(qa[0]["prompt"])
    mc = task_examples(EVALS / "toy_sum_choice.yaml", "train", limit=3, num_fewshot=2)
    assert mc[0]["prompt"].count("\n") == 2 and mc[0]["prompt"].endswith("=")
    assert mc[0]["target"].isdigit()
    test = task_examples("toy_sum_qa", "test")
    assert len(test) == 500 and not {e["prompt"] for e in test} & {
        e["prompt"] for e in task_examples("toy_sum_qa")
    }


def test_missing_yaml_is_a_clear_error(model_and_tok):
    model, tok = model_and_tok
    with pytest.raises(EmergenceError, match="does not exist"):
        evaluate(model, tok, "nowhere/task.yaml")


def _lm_eval_run(lm, task, **kwargs) -> dict:
    from lm_eval import simple_evaluate

    res = simple_evaluate(
        model=lm, tasks=[task], log_samples=True, bootstrap_iters=0, verbosity="ERROR", **kwargs
    )
    name = next(iter(res["results"]))
    return dict(results=res["results"][name], samples=res["samples"][name])


@pytest.mark.parametrize(
    "task,kwargs", [("toy_sum_choice", dict(limit=12)), ("toy_sum_qa", dict(limit=6, num_fewshot=2))]
)
def test_cached_task_and_batch_tokenizing_hflm_match_plain_lm_eval(model_and_tok, task, kwargs):
    """evaluate()'s speed-ups (a task built once and copied, its requests built once and reused, strings
    tokenized in one batch and once per tokenizer) leave lm-eval's scores and per-sample log-likelihoods
    exactly as plain HFLM on a freshly loaded task gives them, the first time and every time after."""
    from lm_eval.models.huggingface import HFLM

    from emergence.harness.evaluate import (
        _BUILT_REQUESTS,
        _batch_tokenizing_hflm,
        _fresh_task,
        _speed_up_lm_eval,
        resolve_task,
    )

    model, tok = model_and_tok
    spec, manager = resolve_task(task)
    plain = _lm_eval_run(
        HFLM(pretrained=model, tokenizer=tok, batch_size=8), spec, task_manager=manager, **kwargs
    )
    _speed_up_lm_eval()
    _BUILT_REQUESTS.clear()
    fast_lm = _batch_tokenizing_hflm()(pretrained=model, tokenizer=tok, batch_size=8)
    _lm_eval_run(fast_lm, _fresh_task(spec, manager), limit=3, num_fewshot=1, fewshot_random_seed=7)  # dirty
    for _ in range(2):  # requests built, then reused
        fast = _lm_eval_run(fast_lm, _fresh_task(spec, manager), **kwargs)
        assert fast["results"] == plain["results"]
        assert fast["samples"] == plain["samples"]  # args, resps (log-likelihoods or generations), metrics
    assert len(_BUILT_REQUESTS) == 2  # the dirty run's and these
    other_seed = _lm_eval_run(fast_lm, _fresh_task(spec, manager), fewshot_random_seed=3, **kwargs)
    assert (
        len(_BUILT_REQUESTS) == 3
        and other_seed["samples"][0]["arguments"] != plain["samples"][0]["arguments"]
    )


@pytest.mark.parametrize("add_bos", [False, True])
def test_batch_tokenizing_hflm_encodes_like_hflm(model_and_tok, tmp_path, add_bos):
    """Same log-likelihoods as HFLM for contexts with trailing spaces, a BOS prefix, or none at all."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from emergence.harness.evaluate import _batch_tokenizing_hflm

    model, tok = model_and_tok
    if add_bos:  # a tokenizer that prepends BOS: lm-eval then skips special tokens for a BOS-led context
        tok.save_pretrained(tmp_path)
        tok = AutoTokenizer.from_pretrained(tmp_path, add_bos_token=True)
        assert tok.encode("1")[0] == tok.bos_token_id
    pairs = [
        ("12+3=", "15"),
        ("12+3= ", "15"),
        ("a  ", " b"),
        ("", "7"),
        (tok.bos_token + "1+1=", "2"),
        ("x", "y"),
    ]
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs * 2)]
    plain = HFLM(pretrained=model, tokenizer=tok, batch_size=4).loglikelihood(requests, disable_tqdm=True)
    fast_lm = _batch_tokenizing_hflm()(pretrained=model, tokenizer=tok, batch_size=4)
    assert fast_lm.loglikelihood(requests, disable_tqdm=True) == plain
    assert fast_lm._encoded == {}  # the table lives for one call only


def test_a_built_task_is_reused_until_its_files_change(tmp_path):
    from emergence.harness.evaluate import _load_task
    from tests.builders import write_task

    path = write_task(tmp_path / "task", n_test=16)
    first, again = _load_task(path), _load_task(path)
    assert first is not again and first.dataset is again.dataset  # copies of one build
    again.set_config(key="num_fewshot", value=5)
    assert _load_task(path).get_config("num_fewshot") == first.get_config("num_fewshot")  # nothing leaks
    write_task(tmp_path / "task", n_test=8)
    assert len(_load_task(path).eval_docs) == 8


@pytest.mark.parametrize("task", ["toy_sum_choice", "toy_sum_qa"])
def test_prob_correct_matches_lm_evals_logged_samples(model_and_tok, task):
    """prob_correct, read off the answered requests, is what lm-eval's own logged samples give."""
    import math

    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from emergence.harness.evaluate import resolve_task

    model, tok = model_and_tok
    spec, manager = resolve_task(task)
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=8)
    plain = _lm_eval_run(lm, spec, task_manager=manager, limit=10, num_fewshot=2, fewshot_random_seed=0)
    samples = plain["samples"]
    if task == "toy_sum_choice":
        probs = []
        for s in samples:
            lls = [r[0][0] for r in s["resps"]]
            probs.append(math.exp(lls[int(s["target"])]) / sum(math.exp(x) for x in lls))
    else:
        requests = [
            Instance("loglikelihood", s["doc"], (s["arguments"][0][0], s["target"] + "\n"), i)
            for i, s in enumerate(samples)
        ]
        probs = [math.exp(ll) for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)]
    r = evaluate(model, tok, task, limit=10, num_fewshot=2)
    assert r["n_examples"] == len(samples) == 10
    assert r["prob_correct"] == pytest.approx(sum(probs) / len(probs), rel=1e-6)
    assert (
        r["value"] == plain["results"][next(k for k in plain["results"] if k.startswith(r["metric"] + ","))]
    )


def test_a_task_fingerprint_follows_its_content_not_its_location(tmp_path):
    import shutil

    from emergence.harness.evaluate import task_fingerprint

    copy = tmp_path / "toy"
    shutil.copytree(EVALS, copy)
    yaml_path = copy / "toy_sum_qa.yaml"
    original = task_fingerprint("toy_sum_qa")
    assert task_fingerprint(yaml_path) == original  # the same task and data, elsewhere on disk
    assert task_fingerprint("toy_sum_choice") != original

    data = copy / "data" / "toy_sum_qa_test.jsonl"
    lines = data.read_text().splitlines(keepends=True)
    row = json.loads(lines[-1])
    row["answer"] = row["answer"][::-1]  # one test answer corrected (say)
    data.write_text("".join(lines[:-1]) + json.dumps(row) + "\n")
    edited = task_fingerprint(yaml_path)
    assert edited != original

    yaml_path.write_text(yaml_path.read_text().replace("num_fewshot: 3", "num_fewshot: 2"))
    assert task_fingerprint(yaml_path) not in (original, edited)  # the prompt changed
