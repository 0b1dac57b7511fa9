"""Evaluate an in-memory model on an lm-eval task, in process, with a continuous metric beside the score.

lm-eval runs with its speed-ups (`emergence.harness.lm_eval_speedups`) where the installed version is one
they were written for, else plain; the results are the same either way.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from emergence.errors import EmergenceError
from emergence.harness.lm_eval_speedups import batch_tokenizing_hflm, speed_up_lm_eval
from emergence.harness.tasks import load_task, offline_lm_eval, resolve_task

_PRIMARY_METRICS = ("acc", "exact_match", "acc_norm", "f1", "bleu")


def _primary_metric(task_results: dict) -> tuple[str, str]:
    keys = [k for k in task_results if "," in k and not k.endswith("_stderr") and "_stderr," not in k]
    for name in _PRIMARY_METRICS:
        for key in keys:
            if key.split(",")[0] == name:
                return name, key
    if not keys:
        raise EmergenceError(f"lm-eval returned no metric; results were {task_results}")
    return keys[0].split(",")[0], keys[0]


def _answered(task) -> list[tuple[dict, list]]:
    """Each evaluated document with its requests in order, answered (read off the task after lm-eval ran,
    rather than from logged samples: logging hashes and serialises every document, a tenth of an
    evaluation of the smallest toy model)."""
    by_doc: dict[int, list] = {}
    for inst in task.instances:
        by_doc.setdefault(inst.doc_id, []).append(inst)
    return [(reqs[0].doc, sorted(reqs, key=lambda r: r.idx)) for _, reqs in sorted(by_doc.items())]


def _prob_correct_choice(task, answered: list[tuple[dict, list]]) -> float:
    """Mean softmax probability, over the choices, of the right choice (from the log-likelihoods)."""
    probs = []
    for doc, reqs in answered:
        lls = [float(r.resps[0][0]) for r in reqs]
        gold = task.doc_to_target(doc)
        gold = task.doc_to_choice(doc).index(gold) if isinstance(gold, str) else int(gold)
        top = max(lls)
        z = sum(math.exp(x - top) for x in lls)
        probs.append(math.exp(lls[gold] - top) / z)
    return sum(probs) / len(probs)


def answer_continuation(task, doc: dict, until) -> str:
    """The text that answers a question exactly: the task's target delimiter, the answer, and the first
    stop string (so a longer answer with the same start does not count). Without the delimiter the answer
    runs into the question's last word ("?c81", one unknown word on `know_country_qa`) and its probability
    is near zero for every model."""
    until = [until] if isinstance(until, str) else list(until or [""])
    return f"{task.config.target_delimiter or ''}{task.doc_to_target(doc)}{until[0]}"


def _prob_correct_target(lm, task, answered: list[tuple[dict, list]]) -> float:
    """Mean probability of the exact answer given the prompt (``answer_continuation``)."""
    from lm_eval.api.instance import Instance

    requests = []
    for i, (doc, reqs) in enumerate(answered):
        context, gen_kwargs = reqs[0].arguments[0], reqs[0].arguments[1]
        target = answer_continuation(task, doc, gen_kwargs.get("until"))
        requests.append(Instance(request_type="loglikelihood", doc=doc, arguments=(context, target), idx=i))
    results = lm.loglikelihood(requests, disable_tqdm=True)
    return sum(math.exp(ll) for ll, _ in results) / len(results)


@functools.cache
def _quiet_hflm() -> type:
    """Plain HFLM without its progress bars (three per evaluation), which would interleave with a sweep's."""
    from lm_eval.models.huggingface import HFLM

    class QuietHFLM(HFLM):
        def loglikelihood(self, requests, disable_tqdm: bool = True):
            return super().loglikelihood(requests, disable_tqdm=True)

        def generate_until(self, requests, disable_tqdm: bool = True):
            return super().generate_until(requests, disable_tqdm=True)

    return QuietHFLM


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
    offline_lm_eval()  # before lm-eval imports datasets, which reads it then
    lm_class = batch_tokenizing_hflm() if speed_up_lm_eval() else _quiet_hflm()
    from lm_eval import simple_evaluate

    task_obj = load_task(task)
    lm = lm_class(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    res = simple_evaluate(
        model=lm,
        tasks=[task_obj],
        task_manager=resolve_task(task)[1],
        num_fewshot=num_fewshot,
        limit=limit,
        log_samples=False,
        bootstrap_iters=0,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
        verbosity="ERROR",
    )
    return _result(lm, task_obj, res)


def _result(lm, task, res: dict) -> dict[str, Any]:
    """evaluate()'s dict from simple_evaluate's output for one task and the task's answered requests."""
    name = next(iter(res["results"]))
    task_results, config = res["results"][name], res["configs"][name]
    metric, key = _primary_metric(task_results)
    answered = _answered(task)
    if config["output_type"] == "multiple_choice":
        prob = _prob_correct_choice(task, answered)
    elif config["output_type"] == "generate_until":
        prob = _prob_correct_target(lm, task, answered)
    else:
        prob = float("nan")
    stderr = task_results.get(key.replace(",", "_stderr,", 1))
    return {
        "task": name,
        "metric": metric,
        "value": float(task_results[key]),
        "stderr": float(stderr) if isinstance(stderr, (int, float)) else float("nan"),
        "n_examples": len(answered),
        "num_fewshot": int(config.get("num_fewshot") or 0),
        "prob_correct": float(prob),
    }
