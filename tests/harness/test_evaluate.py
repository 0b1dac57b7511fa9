"""evaluate() on the toy tasks: names, YAML paths and dicts; score and prob_correct; no library chatter."""

import math
import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


from emergence.errors import EmergenceError  # noqa: E402
from emergence.harness.evaluate import evaluate  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer  # noqa: E402
from tests.builders import ROOT, lm_eval_run, tiny_llama  # noqa: E402

EVALS = ROOT / "evals" / "toy"


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


def test_a_task_given_as_a_dict_scores_as_its_yaml(model_and_tok, tiny_task):
    import json

    import yaml

    model, tok = model_and_tok
    as_dict = evaluate(model, tok, yaml.safe_load(tiny_task.read_text()), limit=8)
    as_yaml = evaluate(model, tok, tiny_task, limit=8)
    assert json.dumps(as_dict) == json.dumps(as_yaml) and as_dict["n_examples"] == 8  # NaN stderr in both


def test_a_sweep_process_shows_no_library_chatter(tmp_path):
    """Loading tasks as a sweep does and evaluating print nothing: no lm-eval warnings, no datasets bars."""
    script = tmp_path / "job.py"
    script.write_text(
        "from emergence.harness.evaluate import evaluate\n"
        "from emergence.harness.sweep import check_tasks\n"
        "from emergence.ladder.quiet import quiet_libraries\n"
        "from emergence.ladder.toy.tokenizer import build_tokenizer\n"
        "from tests.builders import tiny_llama, write_task\n"
        "import pathlib, sys\n"
        "quiet_libraries()\n"
        "check_tasks(['toy_sum_choice', 'toy_sum_qa', str(write_task(pathlib.Path(sys.argv[1])))])\n"
        "tok = build_tokenizer()\n"
        "evaluate(tiny_llama(tok, hidden=16, max_positions=256), tok, 'toy_sum_choice', limit=4)\n"
    )
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "task")], capture_output=True, text=True,
                         cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr


def test_missing_yaml_is_a_clear_error(model_and_tok):
    model, tok = model_and_tok
    with pytest.raises(EmergenceError, match="does not exist"):
        evaluate(model, tok, "nowhere/task.yaml")


@pytest.mark.parametrize("task", ["toy_sum_choice", "toy_sum_qa"])
def test_prob_correct_matches_lm_evals_logged_samples(model_and_tok, task):
    """prob_correct, read off the answered requests, is what lm-eval's own logged samples give."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from emergence.harness.tasks import resolve_task

    model, tok = model_and_tok
    spec, manager = resolve_task(task)
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=8)
    plain = lm_eval_run(lm, spec, task_manager=manager, limit=10, num_fewshot=2, fewshot_random_seed=0)
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


PLAIN = """
import json, logging, sys
import emergence.harness.lm_eval_speedups as speedups
from emergence.harness.evaluate import evaluate
from emergence.ladder.toy.tokenizer import build_tokenizer
from tests.builders import tiny_llama

speedups.installed_version = lambda: "0.5.0"  # an lm-eval the speed-ups were not written for
tok = build_tokenizer()
model = tiny_llama(tok, hidden=16, max_positions=256)
out = [evaluate(model, tok, task, **kwargs) for task, kwargs in json.loads(sys.argv[1])]
assert not speedups.speed_up_lm_eval()
print(json.dumps(out))
"""


def test_an_lm_eval_without_speed_ups_gives_the_same_results_and_says_so_once(model_and_tok):
    """On an lm-eval version the speed-ups were not written for, evaluate runs plain lm-eval: the same
    numbers, and one line in the log saying why it is slower."""
    import json

    cases = [("toy_sum_choice", dict(limit=12)), ("toy_sum_qa", dict(limit=6, num_fewshot=2))]
    run = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(cases)], capture_output=True, text=True,
                         cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    model, tok = model_and_tok
    fast = [evaluate(model, tok, task, **kwargs) for task, kwargs in cases]
    assert run.stdout.strip() == json.dumps(fast)  # every number to the last bit (stderr: NaN in both)
    assert run.stderr.count("lm-eval speed-ups off for version 0.5.0") == 1, run.stderr


def test_the_answer_scored_for_prob_correct_is_the_one_generation_would_give():
    """know_country_qa's answers follow the question after a space: scored without it, "?c81" is one unknown
    word and every model's prob_correct was ~1e-5 while its exact match reached 99%."""
    from emergence.harness.evaluate import answer_continuation
    from emergence.harness.tasks import load_task
    from emergence.ladder.toy.worlds import WORLDS

    task, tok = load_task("know_country_qa"), WORLDS["knowledge"].tokenizer()
    doc = next(iter(task.test_docs()))
    continuation = answer_continuation(task, doc, task.config.generation_kwargs["until"])
    context = task.doc_to_text(doc)
    whole = tok.convert_ids_to_tokens(tok(context + continuation)["input_ids"])
    assert tok.unk_token not in whole
    # the answer, the " ." every corpus line ends with (part of the target), and the stop generation ends at
    assert whole[len(tok(context)["input_ids"]) :] == [*doc["answer"].split(), ".", "\n"]
