"""The one job function: load a checkpoint, finetune it on a subset of the task's train split, evaluate.

Executors (in process, a process pool, Ray) all call ``run_job``; it touches no store, so it can run on a
machine that never sees the SQLite file, and it returns plain data. One model is in memory at a time.
"""

from __future__ import annotations

import functools
import gc
import math
import resource
import time
from pathlib import Path

from emergence.harness.jobs import Job, draw_examples
from emergence.ladder.checkpoints import load_checkpoint
from emergence.ladder.quiet import quiet_libraries


def evaluation_rows(result: dict) -> list[dict]:
    """An ``evaluate()`` dict as store rows: the task's metric, and ``prob_correct`` when there is one."""
    n = int(result["n_examples"])
    rows = [
        dict(
            metric=result["metric"],
            value=float(result["value"]),
            n_examples=n,
            stderr=_number(result.get("stderr")),
        )
    ]
    if _number(result.get("prob_correct")) is not None:
        rows.append(
            dict(metric="prob_correct", value=float(result["prob_correct"]), n_examples=n, stderr=None)
        )
    return rows


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" where it has no stderr
        return None
    return value if math.isfinite(value) else None


@functools.lru_cache(maxsize=4)
def _train_split(task: str, num_fewshot: int | None) -> tuple[dict, ...]:
    """A task's train split as finetuning examples, read once per process (a sweep reads it per job)."""
    from emergence.harness.tasks import task_examples

    return tuple(task_examples(task, "train", num_fewshot=num_fewshot))


def finetuning_examples(job: Job) -> list[dict] | None:
    """The examples a job finetunes on (None for a few-shot job): its data amount, drawn with its seed.

    Prompts are as the evaluation will ask them (its shots before each question), unless the job's
    finetune.prompt says "zeroshot": finetuning on bare questions then asking with shots lost what the
    few-shot prompt had drawn out.
    """
    if job.data_amount == 0:
        return None
    shots = job.eval.get("num_fewshot") if job.finetune.get("prompt", "fewshot") == "fewshot" else 0
    return draw_examples(_train_split(job.task, shots), job.data_amount, job.seed)


def _finetuned(model, tokenizer, job: Job, examples: list[dict]):
    """The loaded model finetuned in place with the job's settings (only one model is ever in memory)."""
    from emergence.harness.finetune import finetune

    settings = dict(job.finetune)
    method = settings.pop("method")
    settings.pop("prompt", None)
    settings.pop("replay_hash", None)
    return finetune(model, tokenizer, examples, method=method, seed=job.seed, copy_model=False, **settings)


def _evaluated(model, tokenizer, job: Job) -> dict:
    from emergence.harness.evaluate import evaluate

    return evaluate(
        model,
        tokenizer,
        job.task,
        num_fewshot=job.eval.get("num_fewshot"),
        limit=job.eval.get("limit"),
        batch_size=job.eval["batch_size"],
        seed=job.seed,
    )


def run_job(job: Job) -> dict:
    """Run one job; returns ``run_id``, ``evaluations`` (store rows) and timings in seconds.

    Timings: ``data_s`` (reading the task's train split and drawing the subset), ``load_s`` (the
    checkpoint), ``finetune_s``, ``evaluate_s``, ``total_s``. Raises on any failure; the executors turn
    that into a one-line reason for the store.
    """
    import torch

    quiet_libraries()
    start = time.perf_counter()
    torch.manual_seed(job.seed)
    examples = finetuning_examples(job)  # the data first: a bad task fails before a model is loaded
    drawn = time.perf_counter()
    model, tokenizer = load_checkpoint(job.checkpoint)
    loaded = time.perf_counter()
    try:
        if examples is not None:
            model = _finetuned(model, tokenizer, job, examples)
        finetuned = time.perf_counter()
        result = _evaluated(model, tokenizer, job)
        evaluated = time.perf_counter()
        if job.keep_weights and job.weights_dir:
            folder = Path(job.weights_dir) / job.run_id
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
    finally:
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return dict(
        run_id=job.run_id,
        evaluations=evaluation_rows(result),
        data_s=drawn - start,
        load_s=loaded - drawn,
        finetune_s=finetuned - loaded,
        evaluate_s=evaluated - finetuned,
        total_s=time.perf_counter() - start,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
