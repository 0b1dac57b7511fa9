"""Jobs: a sweep spec expanded into checkpoint x task x data amount x seed, each with a stable run id.

A job is plain data (JSON-able), so it pickles to a process pool or a Ray worker unchanged. Its run id is a
hash of everything that decides its result and nothing else: the checkpoint's identity (with a
fingerprint of its weights, for a local folder), the task and the fingerprint of its content (config and
documents, when the sweep could load it), the data amount, the seed, and the finetuning and evaluation
settings that apply to it. Where results go (store, weights folder) is not part of it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emergence.config import CheckpointSpec, SweepSpec, finetune_steps
from emergence.errors import EmergenceError
from emergence.ladder.checkpoints import checkpoint_identity, weights_fingerprint

# Bump only when the meaning of a job changes (old run ids then stop matching, and jobs run again).
JOB_SCHEMA = 1
RUN_ID_LENGTH = 20


@dataclass(frozen=True)
class Job:
    """One finetune-then-evaluate job (``data_amount`` 0: few-shot evaluation of the base checkpoint)."""

    checkpoint: dict
    task: str
    data_amount: int
    seed: int
    finetune: dict | None
    eval: dict
    task_data: str | None = None
    """The task's fingerprint (``tasks.task_fingerprint``): a task whose prompt or data change runs again."""
    keep_weights: bool = False
    weights_dir: str | None = None
    run_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.run_id:
            object.__setattr__(self, "run_id", run_id(self.identity()))

    @property
    def checkpoint_id(self) -> str:
        return self.checkpoint["id"]

    @property
    def method(self) -> str:
        return "fewshot" if self.finetune is None else self.finetune["method"]

    def identity(self) -> dict:
        """What decides this job's result: the dict its run id hashes."""
        identity = dict(
            schema=JOB_SCHEMA,
            checkpoint=self.checkpoint,
            task=self.task,
            data_amount=self.data_amount,
            seed=self.seed,
            finetune=self.finetune,
            eval=self.eval,
        )
        if self.task_data is not None:
            identity["task_data"] = self.task_data
        return identity

    def store_row(self) -> dict:
        """The row ``Store.add_runs`` takes."""
        return dict(
            run_id=self.run_id,
            checkpoint_id=self.checkpoint_id,
            task=self.task,
            data_amount=self.data_amount,
            seed=self.seed,
            method=self.method,
            spec=self.identity(),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def run_id(identity: dict) -> str:
    """A stable hash of a job's identity (canonical JSON, sorted keys)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:RUN_ID_LENGTH]


def _finetune_settings(spec: SweepSpec) -> dict:
    settings = spec.finetune.model_dump(mode="json")
    if settings["method"] != "lora":  # LoRA knobs do not change a full finetune: keep its id stable
        settings.pop("lora_r")
        settings.pop("lora_targets")
    if not settings["replay_windows"]:  # nor do replay knobs without replay
        for key in ("replay_corpus", "replay_windows", "replay_length"):
            settings.pop(key)
        return settings
    path = Path(settings["replay_corpus"])
    if not path.is_file():
        raise EmergenceError(f"the replay corpus {path} does not exist: give a text file (a toy ladder writes "
                             "replay.txt into its folder when it is built)")  # fmt: skip
    settings["replay_hash"] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()  # new text, new runs
    return settings


def _settings_for(settings: dict, data_amount: int) -> dict:
    """The finetuning settings that apply to a data amount: min_steps only where it adds steps and max_steps
    only where it removes some, so the jobs they do not change keep their run ids."""
    out = dict(settings)
    floor, cap = out.pop("min_steps", 0), out.pop("max_steps", None)
    epochs, batch = out["epochs"], out["batch_size"]
    plain = finetune_steps(data_amount, epochs, batch)
    floored = finetune_steps(data_amount, epochs, batch, floor)
    if floored > plain:
        out["min_steps"] = floor
    if finetune_steps(data_amount, epochs, batch, floor, cap) < floored:
        out["max_steps"] = cap
    return out


def expand_jobs(
    spec: SweepSpec,
    checkpoints: Sequence[CheckpointSpec],
    *,
    weights_dir: Path | None = None,
    task_data: dict[str, str] | None = None,
) -> list[Job]:
    """All jobs of a sweep, in a stable order: checkpoint, task, data amount, seed.

    Few-shot jobs (data amount 0) do not depend on the seed (no data is drawn and evaluation is
    deterministic), so there is one per checkpoint and task, recorded with seed 0.

    Args:
        spec: the sweep.
        checkpoints: the resolved ladder (see ``emergence.ladder.sources.resolve_ladder``).
        weights_dir: where finetuned weights go when ``spec.keep_weights``.
        task_data: each task's fingerprint (``emergence.harness.tasks.task_fingerprint``), where known.
    """
    if not checkpoints:
        raise EmergenceError("the ladder has no checkpoints; nothing to sweep")
    evaluation = spec.eval.model_dump(mode="json")
    finetune = _finetune_settings(spec)
    jobs = []
    planned = _planned_runs(spec, checkpoints)
    for checkpoint in checkpoints:
        identity = checkpoint_identity(checkpoint)
        weights = None if checkpoint.path is None else weights_fingerprint(Path(checkpoint.path))
        if weights is not None:  # a checkpoint saved anew into the same folder is a new checkpoint
            identity["weights"] = weights
        for task in spec.tasks:
            for amount, seed in planned.get(checkpoint.id, ()):
                jobs.append(
                    Job(
                        checkpoint=identity,
                        task=task,
                        data_amount=amount,
                        seed=seed,
                        finetune=None if amount == 0 else _settings_for(finetune, amount),
                        eval=evaluation,
                        task_data=(task_data or {}).get(task),
                        keep_weights=spec.keep_weights and amount > 0,
                        weights_dir=None if weights_dir is None else str(weights_dir),
                    )
                )
    return list({job.run_id: job for job in jobs}.values())  # a task named twice is one job


def _planned_runs(spec: SweepSpec, checkpoints: Sequence[CheckpointSpec]) -> dict[str, list[tuple[int, int]]]:
    """Each checkpoint's (data amount, seed) pairs: the spec's runs, or the grid (one few-shot run, seed 0)."""
    grid = [(amount, seed) for amount in spec.data_amounts for seed in ([0] if amount == 0 else spec.seeds)]
    if spec.runs is None:
        return {c.id: grid for c in checkpoints}
    known = {c.id for c in checkpoints}
    unknown = sorted({r.checkpoint for r in spec.runs} - known)
    if unknown:
        raise EmergenceError(
            f"the spec's runs name checkpoint {unknown[0]!r}, which the ladder does not have "
            f"(it has {', '.join(sorted(known)[:6])}{', ...' if len(known) > 6 else ''})"
        )
    out: dict[str, list[tuple[int, int]]] = {}
    for r in spec.runs:
        out.setdefault(r.checkpoint, []).append((r.data_amount, 0 if r.data_amount == 0 else r.seed))
    return out


def draw_examples(examples: Sequence[dict], data_amount: int, seed: int) -> list[dict]:
    """The first ``data_amount`` examples of a seeded permutation of the train split.

    Nested by construction: for one seed, a smaller amount is a prefix (so a subset, in the same order) of
    a larger one; the seed chooses both the subset and the finetuning order.
    """
    if data_amount > len(examples):
        raise EmergenceError(
            f"data amount {data_amount} is larger than the task's train split ({len(examples)} examples); "
            "lower data_amounts in the sweep spec or give the task more training data"
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [examples[i] for i in order[:data_amount]]


def jobs_table(jobs: Iterable[Job]):
    """The jobs as a DataFrame (for printing and tests)."""
    import pandas as pd

    return pd.DataFrame(
        [
            dict(
                run_id=j.run_id,
                checkpoint=j.checkpoint_id,
                task=j.task,
                data_amount=j.data_amount,
                seed=j.seed,
                method=j.method,
            )
            for j in jobs
        ]
    )
