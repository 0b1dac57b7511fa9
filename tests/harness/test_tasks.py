"""Tasks (emergence/harness/tasks.py): found by name or path, built once and copied, rendered as finetuning
examples exactly as lm-eval prompts them, fingerprinted by content."""

import json
import re
import shutil

import pytest

from emergence.errors import EmergenceError
from emergence.harness.tasks import build_key, load_task, resolve_task, task_examples, task_fingerprint
from tests.builders import ROOT, write_task

EVALS = ROOT / "evals" / "toy"


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


def test_a_built_task_is_reused_until_its_files_change(tmp_path):
    path = write_task(tmp_path / "task", n_test=16)
    first, again = load_task(path), load_task(path)
    assert first is not again and first.dataset is again.dataset  # copies of one build
    assert build_key(first) == build_key(again) is not None
    again.set_config(key="num_fewshot", value=5)
    assert load_task(path).get_config("num_fewshot") == first.get_config("num_fewshot")  # nothing leaks
    write_task(tmp_path / "task", n_test=8)
    edited = load_task(path)
    assert len(edited.eval_docs) == 8 and build_key(edited) != build_key(first)


def test_own_names_skip_lm_evals_registry_and_paths_must_exist(tmp_path):
    spec, manager = resolve_task("toy_sum_qa")
    assert spec == "toy_sum_qa" and manager is resolve_task(EVALS / "toy_sum_qa.yaml")[1]  # no registry scan
    with pytest.raises(EmergenceError, match="does not exist"):
        resolve_task(tmp_path / "missing.yaml")


def test_a_task_fingerprint_follows_its_content_not_its_location(tmp_path):
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
