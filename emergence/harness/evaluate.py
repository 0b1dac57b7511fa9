"""Evaluate an in-memory model on an lm-eval task, in process, with a continuous metric beside the score."""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import logging
import math
import os
import types
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from emergence.builtin import tasks_dir
from emergence.errors import EmergenceError

EVALS_DIR = tasks_dir()
"""The repo's own task folder, always on the include path."""

_PRIMARY_METRICS = ("acc", "exact_match", "acc_norm", "f1", "bleu")


def _offline() -> None:
    """lm-eval as jobs run it: no hub; errors only, as `simple_evaluate(verbosity="ERROR")` leaves its
    logger, from the start (its warnings on loading a task or wrapping a model object, which do not apply
    here, would otherwise break up a sweep's progress bar before the first evaluation)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.getLogger("lm_eval").setLevel(logging.ERROR)


def _frozen(value: Any) -> tuple:
    """A hashable, type-exact stand-in for a document value of plain types; TypeError for anything else."""
    kind = type(value)
    if kind in (str, int, bool, type(None)):
        return kind, value
    if kind is float:
        return kind, repr(value)  # 0.0 and -0.0 compare equal but render differently
    if kind in (list, tuple):
        if all(type(v) is str for v in value):
            return kind, tuple(value)
        return kind, tuple(map(_frozen, value))
    if kind is dict:
        return kind, tuple((k if type(k) is str else _frozen(k), _frozen(v)) for k, v in value.items())
    raise TypeError(f"no frozen form for {kind.__name__}")


def _fresh_literal(value: Any) -> Any:
    """A copy of a literal's mutable containers, so that a cached literal is never handed out twice."""
    kind = type(value)
    if kind is list:
        return [_fresh_literal(v) for v in value]
    if kind is dict:
        return {k: _fresh_literal(v) for k, v in value.items()}
    if kind is set:
        return set(value)
    if kind is tuple:
        return tuple(_fresh_literal(v) for v in value)
    return value


@functools.cache
def _speed_up_lm_eval() -> None:
    """Per-call costs of lm-eval 0.4 that dwarf a tiny model's forward pass, removed once per process.

    lm-eval compiles every Jinja prompt template anew for each document (half of a 100-example evaluation
    here): templates are immutable, so compile each once. Rendering one still costs ~15 us, and a
    four-choice few-shot question renders 16 times; a sweep renders the same documents for every job, so
    each (template, document) is rendered once and the text reused (documents of plain types only; the
    templates are deterministic). And simple_evaluate shells out to collect the machine's environment for
    its results (0.5 s a call), which a sweep never reads, and runs `git describe` in the current folder
    (5 ms a call), which is asked once per folder. Its "building contexts" bar (one per evaluation) would
    interleave with the sweep's own: off.
    """
    import lm_eval.api.task
    import lm_eval.evaluator
    import lm_eval.utils

    lm_eval.utils.env.from_string = functools.lru_cache(maxsize=4096)(lm_eval.utils.env.from_string)
    render = lm_eval.utils.apply_template
    rendered: dict[tuple, str] = {}

    def apply_template(template: str, doc: dict) -> str:
        try:
            key = (template, _frozen(doc))
        except TypeError:
            return render(template, doc)
        text = rendered.get(key)
        if text is None:
            if len(rendered) >= 100_000:
                rendered.clear()
            text = rendered[key] = render(template, doc)
        return text

    lm_eval.utils.apply_template = apply_template

    # Each rendered choice list and label is parsed with ast.literal_eval (12 times a few-shot question,
    # ~13 us each): parse each text once, for lm-eval's task code only, and hand out fresh copies.
    literal = functools.lru_cache(maxsize=100_000)(ast.literal_eval)

    def literal_eval(text):
        return _fresh_literal(literal(text) if type(text) is str else ast.literal_eval(text))

    lm_eval.api.task.ast = types.SimpleNamespace(**{**vars(ast), "literal_eval": literal_eval})
    lm_eval.api.task.tqdm = functools.partial(lm_eval.api.task.tqdm, disable=True)
    lm_eval.api.task.Task.build_all_requests = _reused_requests(lm_eval.api.task.Task.build_all_requests)
    lm_eval.evaluator.add_env_info = lambda results: None
    describe = lm_eval.evaluator.get_git_commit_hash
    git_hash = functools.lru_cache(maxsize=64)(lambda folder: describe())
    lm_eval.evaluator.get_git_commit_hash = lambda: git_hash(os.getcwd())


_BUILT_REQUESTS: dict[tuple, tuple[list[tuple], Any]] = {}
"""Requests a task copy built, by its spec, config, few-shot sampler state and build arguments."""


def _reused_requests(build):
    """Task.build_all_requests that builds the requests of a task copy once and hands out fresh ones after.

    A sweep evaluates the same task, limit and few-shot seed on every checkpoint, and lm-eval renders every
    few-shot prompt anew each time (a seventh of an evaluation of the smallest toy model). The requests
    depend only on the task as built, its config, the few-shot sampler's random state and the arguments,
    so those are the key; a hit gets new Instances (new response lists, the documents copied) and leaves
    the sampler in the state the build left it. Tasks not copied by _fresh_task, chat templates and
    lm-eval's own request cache go the usual way.
    """
    from lm_eval.api.instance import Instance

    def build_all_requests(self, **kwargs):
        spec = getattr(self, "_emergence_spec", None)
        if spec is None or kwargs.get("apply_chat_template") or kwargs.get("cache_requests"):
            return build(self, **kwargs)
        rnds = [getattr(self, "fewshot_rnd", None), getattr(getattr(self, "sampler", None), "rnd", None)]
        try:
            key = (spec, repr(self.config), repr(sorted(kwargs.items())), *(r and r.getstate() for r in rnds))
            hash(key)
        except TypeError:
            return build(self, **kwargs)
        if key not in _BUILT_REQUESTS:
            build(self, **kwargs)
            if len(_BUILT_REQUESTS) >= 16:
                _BUILT_REQUESTS.pop(next(iter(_BUILT_REQUESTS)))
            fields = [(i.request_type, i.doc, i.arguments, i.idx, i.metadata) for i in self._instances]
            _BUILT_REQUESTS[key] = fields, [r and r.getstate() for r in rnds]
            return None
        fields, states = _BUILT_REQUESTS[key]
        docs: dict[int, Any] = {}
        self._instances = [
            Instance(kind, docs.setdefault(id(doc), copy.copy(doc)), args, idx, meta)
            for kind, doc, args, idx, meta in fields
        ]
        for r, state in zip(rnds, states, strict=True):
            if r is not None:
                r.setstate(state)
        return None

    return build_all_requests


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


def _fresh_task(spec: str | dict, manager):
    """The lm-eval Task of `spec` as TaskManager.load builds it, read once per process and copied per use.

    Building a task reads its dataset and turns the whole few-shot split into dicts row by row (~55 ms
    for the toy tasks, a fifth of a 100-example evaluation), every call. The copy shares the read-only
    data (datasets, few-shot pool) and copies everything an evaluation changes (config, seeds, requests),
    so each call starts from the task exactly as built. A task whose YAML folder (data included) has
    changed since is built anew.
    """
    key = (_spec_key(spec), id(manager))
    if key not in _BUILT_TASKS:
        tasks = manager.load([spec])["tasks"]
        if len(tasks) != 1:
            raise EmergenceError(f"{spec!r} names {len(tasks)} tasks; give a single task")
        if len(_BUILT_TASKS) >= 16:
            _BUILT_TASKS.pop(next(iter(_BUILT_TASKS)))
        _BUILT_TASKS[key] = next(iter(tasks.values()))
    built = _BUILT_TASKS[key]
    dataset = getattr(built, "dataset", None)
    shared = [
        dataset,
        getattr(built, "task_docs", None),
        getattr(getattr(built, "sampler", None), "df", None),
    ]
    if isinstance(dataset, dict):
        shared += list(dataset.values())
    try:
        task = copy.deepcopy(built, {id(x): x for x in shared if x is not None})
        task._emergence_spec = key  # its requests can be reused (_reused_requests)
        return task
    except Exception:  # a task holding something that cannot be copied: build it anew, as lm-eval does
        del _BUILT_TASKS[key]
        return next(iter(manager.load([spec])["tasks"].values()))


def _load_task(task: str | dict | Path):
    return _fresh_task(*resolve_task(task))


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
    _offline()
    task_obj = _load_task(task)
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
    examples = []
    for doc in docs:
        prompt = task_obj.fewshot_context(doc, num_fewshot) if num_fewshot else task_obj.doc_to_text(doc)
        target = task_obj.doc_to_target(doc)
        if task_obj.OUTPUT_TYPE == "multiple_choice":
            choices = task_obj.doc_to_choice(doc)
            target = choices[target] if isinstance(target, int) else target
            target = task_obj.config.target_delimiter + str(target)
        else:
            target = str(target) + (task_obj.config.fewshot_delimiter or "")
        examples.append({"prompt": str(prompt), "target": target})
    return examples


def task_fingerprint(task: str | dict | Path) -> str:
    """A hash of what a task's results depend on besides the model: its config as lm-eval builds it
    (prompt templates, shots, metrics; functions by their source) and the documents of its splits.

    The same for a task wherever it lies on disk; it changes when its prompt, its code or any document of
    its training, validation or test split changes. Raises what loading the task raises.
    """
    _offline()
    task_obj = _load_task(task)
    config = task_obj.dump_config()
    config.get("metadata", {}).pop("config_source", None)  # where the YAML lies, not what it says
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for split in ("training_docs", "validation_docs", "test_docs"):
        docs = getattr(task_obj, split)() if getattr(task_obj, f"has_{split}")() else None
        digest.update(f"\n{split}:".encode())
        for doc in docs or ():
            digest.update(json.dumps(doc, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()


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


def _prob_correct_target(lm, task, answered: list[tuple[dict, list]]) -> float:
    """Mean probability of the exact target (and the stop string after it) given the prompt."""
    from lm_eval.api.instance import Instance

    requests = []
    for i, (doc, reqs) in enumerate(answered):
        context, gen_kwargs = reqs[0].arguments[0], reqs[0].arguments[1]
        until = gen_kwargs.get("until") or [""]
        stop = until[0] if isinstance(until, list) else until
        target = str(task.doc_to_target(doc)) + stop
        requests.append(Instance(request_type="loglikelihood", doc=doc, arguments=(context, target), idx=i))
    results = lm.loglikelihood(requests, disable_tqdm=True)
    return sum(math.exp(ll) for ll, _ in results) / len(results)


_ENCODED: dict[tuple, dict[str, list[int]]] = {}
"""Token ids of the strings evaluated so far, per tokenizer definition (see _encodings)."""


def _encodings(tokenizer, add_bos_token: bool) -> dict[str, list[int]]:
    """The table of a tokenizer's ids by string, shared by every tokenizer with the same definition.

    What decides a string's ids: the fast tokenizer's whole definition (vocabulary, normalizer, pre- and
    post-processing), its class and whether HFLM adds BOS. A tokenizer without a fast backend gets a table
    of its own, for one call."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return {}
    key = (hashlib.sha1(backend.to_str().encode()).hexdigest(), type(tokenizer).__name__, add_bos_token)
    if key not in _ENCODED and len(_ENCODED) >= 4:
        _ENCODED.pop(next(iter(_ENCODED)))
    known = _ENCODED.setdefault(key, {})
    if len(known) > 200_000:
        known.clear()
    return known


@functools.cache
def _batch_tokenizing_hflm() -> type:
    """HFLM that tokenizes all of a loglikelihood call's strings in one batch before lm-eval runs it.

    lm-eval encodes each request's context and context + continuation one call at a time (800 calls for
    100 four-choice questions, a sixth of the evaluation of the smallest toy model). This fills a table
    with the very ids those calls would return, encoding each distinct string once in a single tokenizer
    call; lm-eval's own code then runs unchanged and finds its strings there. It also reads the model's
    maximum length once per call instead of once per request.
    """
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.models.utils import _add_special_kwargs, has_bos_prefix

    class BatchTokenizingHFLM(HFLM):
        _encoded: dict[str, list[int]] = {}
        """This call's strings and their ids (a view of the tokenizer's table in _ENCODED)."""

        _call_max_length: int | None = None

        # lm-eval's own progress bars (three per evaluation) would interleave with the sweep's: off.
        def loglikelihood(self, requests, disable_tqdm: bool = True):
            self._encoded = self._encode_all([req.args for req in requests])
            self._call_max_length = HFLM.max_length.fget(self)
            try:
                with torch.inference_mode():  # lm-eval's per-request tensor work, without autograd's upkeep
                    return super().loglikelihood(requests, disable_tqdm=True)
            finally:
                self._encoded, self._call_max_length = {}, None

        def generate_until(self, requests, disable_tqdm: bool = True):
            return super().generate_until(requests, disable_tqdm=True)

        @property
        def max_length(self) -> int:
            """Looked up in the model's config once per call, not for every request as HFLM does."""
            return self._call_max_length or HFLM.max_length.fget(self)

        def _encode_all(self, pairs: list[tuple[str, str]]) -> dict[str, list[int]]:
            """Ids of every string that TemplateLM._encode_pair encodes with default special tokens.

            Strings this tokenizer (the same vocabulary and settings, loaded anew for each checkpoint of a
            sweep) has encoded before are looked up, not encoded again: a sweep asks for the same prompts
            on every checkpoint."""
            known = _encodings(self.tokenizer, self.add_bos_token)
            strings: dict[str, None] = {}
            for context, continuation in pairs:
                if not context:
                    continue
                n_spaces = len(context) - len(context.rstrip())
                if n_spaces:
                    context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
                strings[context] = strings[context + continuation] = None
            bos = self.tokenizer.decode(self.prefix_token_id)
            groups: dict[tuple, list[str]] = {}
            for string in strings.keys() - known.keys():  # the keyword arguments HFLM.tok_encode passes
                kwargs = _add_special_kwargs(None, self.add_bos_token)
                if has_bos_prefix(string, bos):
                    kwargs["add_special_tokens"] = False
                groups.setdefault(tuple(sorted(kwargs.items())), []).append(string)
            for kwargs, group in groups.items():
                known.update(zip(group, self.tokenizer(group, **dict(kwargs))["input_ids"], strict=True))
            return known

        def tok_encode(self, string, add_special_tokens=None, left_truncate_len=None, **kwargs):
            ids = self._encoded.get(string) if add_special_tokens is None and not kwargs else None
            if ids is None:
                return super().tok_encode(string, add_special_tokens, left_truncate_len, **kwargs)
            return list(ids[-left_truncate_len:] if left_truncate_len else ids)

    return BatchTokenizingHFLM


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

    spec, manager = resolve_task(task)
    task_obj = _fresh_task(spec, manager)
    lm = _batch_tokenizing_hflm()(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    res = simple_evaluate(
        model=lm,
        tasks=[task_obj],
        task_manager=manager,
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
    name = next(iter(res["results"]))
    task_results = res["results"][name]
    metric, key = _primary_metric(task_results)
    answered = _answered(task_obj)
    output_type = res["configs"][name]["output_type"]
    if output_type == "multiple_choice":
        prob = _prob_correct_choice(task_obj, answered)
    elif output_type == "generate_until":
        prob = _prob_correct_target(lm, task_obj, answered)
    else:
        prob = float("nan")
    stderr = task_results.get(key.replace(",", "_stderr,", 1))
    return {
        "task": name,
        "metric": metric,
        "value": float(task_results[key]),
        "stderr": float(stderr) if isinstance(stderr, (int, float)) else float("nan"),
        "n_examples": len(answered),
        "num_fewshot": int(res["configs"][name].get("num_fewshot") or 0),
        "prob_correct": float(prob),
    }
