"""lm-eval tasks as the harness uses them: found by name, YAML path or dict, built once per process and
copied per use, rendered as finetuning examples, and fingerprinted by their content."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from emergence.builtin import tasks_dir
from emergence.errors import EmergenceError

EVALS_DIR = tasks_dir()
"""The repo's own task folder, always on the include path."""

BUILD_KEY = "_emergence_build"
"""The attribute under which a task copied by `load_task` keeps the key of the build it was copied from."""


def offline_lm_eval() -> None:
    """lm-eval as jobs run it: no hub; errors only, as `simple_evaluate(verbosity="ERROR")` leaves its
    logger, from the start (its warnings on loading a task or wrapping a model object, which do not apply
    here, would otherwise break up a sweep's progress bar before the first evaluation)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.getLogger("lm_eval").setLevel(logging.ERROR)


@functools.lru_cache(maxsize=8)
def _task_manager(include: tuple[str, ...], include_defaults: bool):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include) or None, include_defaults=include_defaults)


def _own_task_names() -> dict[str, Path]:
    """Task names defined by YAMLs under evals/, with their YAML (found without lm-eval's registry scan)."""
    names = {}
    for path in EVALS_DIR.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            if line.startswith("task:"):
                names[line.split(":", 1)[1].strip()] = path
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


_BUILT_TASKS: dict[tuple[str, int], Any] = {}
"""lm-eval Tasks as first built, by spec and TaskManager: never evaluated on, only copied."""


def _spec_key(spec: str | dict) -> str:
    """What identifies a built task: the spec and, for a task on disk, when its folder last changed."""
    if isinstance(spec, dict):
        return json.dumps(spec, sort_keys=True, default=repr)
    path = Path(spec)
    if path.suffix not in (".yaml", ".yml"):
        path = _own_task_names().get(spec, path)
    if path.suffix in (".yaml", ".yml") and path.exists():  # an edited YAML or data file is read again
        files = [*path.parent.glob("*"), *path.parent.glob("*/*")]  # the YAML, its data beside or below
        stamp = max(f.stat().st_mtime_ns for f in files if f.is_file())
        return f"{spec}@{stamp}"
    return spec


def _built(spec: str | dict, manager, key: tuple) -> Any:
    """The task of `spec` as TaskManager.load builds it, built on first use and kept under `key`."""
    if key not in _BUILT_TASKS:
        tasks = manager.load([spec])["tasks"]
        if len(tasks) != 1:
            raise EmergenceError(f"{spec!r} names {len(tasks)} tasks; give a single task")
        if len(_BUILT_TASKS) >= 16:
            _BUILT_TASKS.pop(next(iter(_BUILT_TASKS)))
        _BUILT_TASKS[key] = next(iter(tasks.values()))
    return _BUILT_TASKS[key]


def load_task(task: str | dict | Path) -> Any:
    """The lm-eval Task of `task` (a name, a YAML path or a dict), as TaskManager.load builds it.

    Building a task reads its dataset and turns the whole few-shot split into dicts row by row (~55 ms
    for the toy tasks, a fifth of a 100-example evaluation), every call; so each task is built once per
    process and each call gets a copy. The copy shares the read-only data (datasets, few-shot pool) and
    copies everything an evaluation changes (config, seeds, requests), so each call starts from the task
    exactly as built. A task whose YAML folder (data included) has changed since is built anew.

    Raises what lm-eval raises for a task it cannot load (KeyError for an unknown name, OSError for
    missing data), and EmergenceError for a missing YAML or a name that stands for several tasks.
    """
    offline_lm_eval()
    spec, manager = resolve_task(task)
    key = (_spec_key(spec), id(manager))
    built = _built(spec, manager, key)
    dataset = getattr(built, "dataset", None)
    shared = [
        dataset,
        getattr(built, "task_docs", None),
        getattr(getattr(built, "sampler", None), "df", None),
    ]
    if isinstance(dataset, dict):
        shared += list(dataset.values())
    try:
        copied = copy.deepcopy(built, {id(x): x for x in shared if x is not None})
    except Exception:  # a task holding something that cannot be copied: build it anew, as lm-eval does
        del _BUILT_TASKS[key]
        return next(iter(manager.load([spec])["tasks"].values()))
    setattr(copied, BUILD_KEY, key)
    return copied


def build_key(task: Any) -> tuple | None:
    """What a task copied by `load_task` was built from (equal keys: equal tasks as built); None for a
    task that `load_task` did not copy."""
    return getattr(task, BUILD_KEY, None)


def task_examples(
    task: str | dict | Path,
    split: str = "train",
    *,
    num_fewshot: int | None = 0,
    limit: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """A task's docs rendered as finetuning examples {"prompt", "target"}, exactly as lm-eval prompts them.

    `split` "train" is the finetuning pool (the task's training split). With num_fewshot > 0 each prompt
    carries that many solved examples from the few-shot split before the question (None: the task's own
    number of shots). A generated target ends with the few-shot delimiter, as a solved example in the
    prompt does, so a finetuned model still learns where its answer stops.
    """
    task_obj = load_task(task)
    if num_fewshot is None:
        num_fewshot = task_obj.config.num_fewshot or 0
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
    return [_example(task_obj, doc, num_fewshot) for doc in docs]


def _example(task, doc: dict, num_fewshot: int) -> dict:
    """One doc as a finetuning example: the prompt lm-eval asks, the answer it scores as right."""
    prompt = task.fewshot_context(doc, num_fewshot) if num_fewshot else task.doc_to_text(doc)
    target = task.doc_to_target(doc)
    if task.OUTPUT_TYPE == "multiple_choice":
        choices = task.doc_to_choice(doc)
        target = choices[target] if isinstance(target, int) else target
        target = task.config.target_delimiter + str(target)
    else:
        target = str(target) + (task.config.fewshot_delimiter or "")
    return {"prompt": str(prompt), "target": target}


def task_fingerprint(task: str | dict | Path) -> str:
    """A hash of what a task's results depend on besides the model: its config as lm-eval builds it
    (prompt templates, shots, metrics; functions by their source) and the documents of its splits.

    The same for a task wherever it lies on disk; it changes when its prompt, its code or any document of
    its training, validation or test split changes. Raises what loading the task raises.
    """
    task_obj = load_task(task)
    config = task_obj.dump_config()
    config.get("metadata", {}).pop("config_source", None)  # where the YAML lies, not what it says
    config.get("metadata", {}).pop("chance", None)  # a label the fits read, not what results depend on
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for split in ("training_docs", "validation_docs", "test_docs"):
        docs = getattr(task_obj, split)() if getattr(task_obj, f"has_{split}")() else None
        digest.update(f"\n{split}:".encode())
        for doc in docs or ():
            digest.update(json.dumps(doc, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()
