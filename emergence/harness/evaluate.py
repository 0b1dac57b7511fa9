"""Evaluate an in-memory model on an lm-eval task, in process, with a continuous metric beside the score."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from emergence.errors import EmergenceError

EVALS_DIR = Path(__file__).resolve().parents[2] / "evals"
"""The repo's own task folder, always on the include path."""

_PRIMARY_METRICS = ("acc", "exact_match", "acc_norm", "f1", "bleu")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@functools.cache
def _speed_up_lm_eval() -> None:
    """Two per-call costs of lm-eval 0.4 that dwarf a tiny model's forward pass, removed once per process.

    lm-eval compiles every Jinja prompt template anew for each document (half of a 100-example evaluation
    here): templates are immutable, so compile each once. And simple_evaluate shells out to collect the
    machine's environment for its results (0.5 s a call), which a sweep never reads.
    """
    import lm_eval.evaluator
    import lm_eval.utils

    lm_eval.utils.env.from_string = functools.lru_cache(maxsize=4096)(lm_eval.utils.env.from_string)
    lm_eval.evaluator.add_env_info = lambda results: None


@functools.lru_cache(maxsize=8)
def _task_manager(include: tuple[str, ...], include_defaults: bool):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include) or None, include_defaults=include_defaults)


def _own_task_names() -> set[str]:
    """Task names defined by YAMLs under evals/ (found without lm-eval's slow registry scan)."""
    names = set()
    for path in EVALS_DIR.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            if line.startswith("task:"):
                names.add(line.split(":", 1)[1].strip())
    return names


def resolve_task(task: str | dict | Path) -> tuple[str | dict, Any]:
    """A task given as a name, a YAML path or a dict, and a TaskManager that can load it.

    A YAML path is loaded by lm-eval itself (so `!function` resolves beside the file, wherever the
    repo is); a name is looked up in the repo's evals/ first, then in lm-eval's registry (slower).
    """
    include = (str(EVALS_DIR),) if EVALS_DIR.exists() else ()
    if isinstance(task, dict):
        return task, _task_manager(include, False)
    path = Path(task)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise EmergenceError(
                f"task file {path} does not exist; give a task name or an existing YAML path"
            )
        return str(path.resolve()), _task_manager(include, False)
    if str(task) in _own_task_names():
        return str(task), _task_manager(include, False)
    return str(task), _task_manager(include, True)


def _load_task(task: str | dict | Path):
    spec, manager = resolve_task(task)
    tasks = manager.load([spec])["tasks"]
    if len(tasks) != 1:
        raise EmergenceError(f"{task!r} names {len(tasks)} tasks; give a single task")
    return next(iter(tasks.values()))


def task_examples(
    task: str | dict | Path,
    split: str = "train",
    *,
    num_fewshot: int = 0,
    limit: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """A task's docs rendered as finetuning examples {"prompt", "target"}, exactly as lm-eval prompts them.

    `split` "train" is the finetuning pool (the task's training split). With num_fewshot > 0 each prompt
    carries that many solved examples from the few-shot split before the question.
    """
    _offline()
    task_obj = _load_task(task)
    docs = {
        "train": task_obj.training_docs,
        "validation": task_obj.validation_docs,
        "test": task_obj.test_docs,
    }[split]()
    if docs is None:
        raise EmergenceError(f"task {task_obj.config.task} has no {split} split")
    docs = list(docs)[:limit] if limit else list(docs)
    task_obj.set_config(key="num_fewshot", value=num_fewshot)
    task_obj.set_fewshot_seed(seed)
    examples = []
    for doc in docs:
        prompt = task_obj.fewshot_context(doc, num_fewshot) if num_fewshot else task_obj.doc_to_text(doc)
        target = task_obj.doc_to_target(doc)
        if task_obj.OUTPUT_TYPE == "multiple_choice":
            choices = task_obj.doc_to_choice(doc)
            target = choices[target] if isinstance(target, int) else target
            target = task_obj.config.target_delimiter + str(target)
        else:
            target = str(target)
        examples.append({"prompt": str(prompt), "target": target})
    return examples


def _primary_metric(task_results: dict) -> tuple[str, str]:
    keys = [k for k in task_results if "," in k and not k.endswith("_stderr") and "_stderr," not in k]
    for name in _PRIMARY_METRICS:
        for key in keys:
            if key.split(",")[0] == name:
                return name, key
    if not keys:
        raise EmergenceError(f"lm-eval returned no metric; results were {task_results}")
    return keys[0].split(",")[0], keys[0]


def _prob_correct_choice(samples: list[dict]) -> float:
    """Mean softmax probability, over the choices, of the right choice (from logged log-likelihoods)."""
    probs = []
    for s in samples:
        lls = [float(r[0][0]) if isinstance(r[0], (list, tuple)) else float(r[0]) for r in s["resps"]]
        top = max(lls)
        z = sum(math.exp(x - top) for x in lls)
        probs.append(math.exp(lls[int(s["target"])] - top) / z)
    return sum(probs) / len(probs)


def _prob_correct_target(lm, samples: list[dict]) -> float:
    """Mean probability of the exact target (and the stop string after it) given the prompt."""
    from lm_eval.api.instance import Instance

    requests = []
    for i, s in enumerate(samples):
        context, gen_kwargs = s["arguments"][0][0], s["arguments"][0][1]
        until = gen_kwargs.get("until") or [""]
        stop = until[0] if isinstance(until, list) else until
        requests.append(
            Instance(
                request_type="loglikelihood",
                doc=s["doc"],
                arguments=(context, str(s["target"]) + stop),
                idx=i,
            )
        )
    results = lm.loglikelihood(requests, disable_tqdm=True)
    return sum(math.exp(ll) for ll, _ in results) / len(results)


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: str | dict | Path,
    *,
    num_fewshot: int | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Run one lm-eval task on an in-memory model and return its score and a continuous metric.

    Args:
        model: a transformers causal LM (lm-eval puts it in eval mode).
        tokenizer: its tokenizer.
        task: a task name (the repo's evals/ is on the include path), a task YAML path, or a task dict.
        num_fewshot: solved examples before each question; None keeps the task's own default.
        limit: evaluate only the first `limit` test docs.
        batch_size: lm-eval batch size.
        seed: few-shot sampling seed.

    Returns:
        {"task", "metric", "value", "stderr", "n_examples", "num_fewshot", "prob_correct"}: value is the
        task's primary metric (acc for multiple choice, exact_match for generation); prob_correct is the
        mean probability of the right answer (softmax over the choices for multiple choice, the exact
        target string for generation), which moves before the score does.
    """
    _offline()
    _speed_up_lm_eval()
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    spec, manager = resolve_task(task)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    res = simple_evaluate(
        model=lm,
        tasks=[spec],
        task_manager=manager,
        num_fewshot=num_fewshot,
        limit=limit,
        log_samples=True,
        bootstrap_iters=0,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
        verbosity="ERROR",
    )
    name = next(iter(res["results"]))
    task_results = res["results"][name]
    metric, key = _primary_metric(task_results)
    samples = res["samples"][name]
    output_type = res["configs"][name]["output_type"]
    if output_type == "multiple_choice":
        prob = _prob_correct_choice(samples)
    elif output_type == "generate_until":
        prob = _prob_correct_target(lm, samples)
    else:
        prob = float("nan")
    stderr = task_results.get(key.replace(",", "_stderr,", 1))
    return {
        "task": name,
        "metric": metric,
        "value": float(task_results[key]),
        "stderr": float(stderr) if isinstance(stderr, (int, float)) else float("nan"),
        "n_examples": len(samples),
        "num_fewshot": int(res["configs"][name].get("num_fewshot") or 0),
        "prob_correct": float(prob),
    }
