"""Speed-ups of lm-eval's per-call costs, which dwarf a tiny model's forward pass: patches of lm-eval 0.4
internals, applied once per process and only to the lm-eval versions they were written and tested against.

Every patch leaves lm-eval's results exactly as they were (tests/harness/test_lm_eval_speedups.py compares
scores and per-sample log-likelihoods with plain HFLM). On any other lm-eval version, or one whose
internals moved, none is applied: `evaluate` runs plain lm-eval, slower but correct, and says so once in
the log.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import importlib
import importlib.metadata
import logging
import re
import types
from typing import Any

from emergence.harness.tasks import build_key

log = logging.getLogger(__name__)

SUPPORTED = ((0, 4, 5), (0, 5, 0))
"""lm-eval versions the speed-ups apply to: from the first, up to and not including the second."""

PATCH_POINTS = (
    "lm_eval.utils:env.from_string",
    "lm_eval.utils:apply_template",
    "lm_eval.api.task:ast",
    "lm_eval.api.task:tqdm",
    "lm_eval.api.task:Task.build_all_requests",
    "lm_eval.api.instance:Instance",
    "lm_eval.evaluator:add_env_info",
    "lm_eval.evaluator:get_git_commit_hash",
    "lm_eval.models.huggingface:HFLM.max_length",
    "lm_eval.models.huggingface:HFLM.tok_encode",
    "lm_eval.models.utils:_add_special_kwargs",
    "lm_eval.models.utils:has_bos_prefix",
)
"""The lm-eval internals the speed-ups replace or call ("module:attribute")."""


def supported(version: str) -> bool:
    """Whether the speed-ups were written and tested for this lm-eval version ("0.4.13", "0.4.5.dev0")."""
    numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if numbers is None:
        return False
    release = tuple(int(n or 0) for n in numbers.groups())
    return SUPPORTED[0] <= release < SUPPORTED[1]


def installed_version() -> str:
    """The installed lm-eval's version."""
    return importlib.metadata.version("lm_eval")


def missing_patch_points() -> list[str]:
    """The PATCH_POINTS the installed lm-eval lacks."""
    missing = []
    for point in PATCH_POINTS:
        module, _, path = point.partition(":")
        try:
            functools.reduce(getattr, path.split("."), importlib.import_module(module))
        except (ImportError, AttributeError):
            missing.append(point)
    return missing


@functools.cache
def speed_up_lm_eval() -> bool:
    """Apply the speed-ups once per process, where the installed lm-eval is one they were written for;
    returns whether they are on (if not, the reason is logged, once)."""
    version = installed_version()
    low, high = (".".join(map(str, v)) for v in SUPPORTED)
    if not supported(version):
        log.warning(
            "lm-eval speed-ups off for version %s (written for %s <= lm-eval < %s): evaluation runs plain "
            "lm-eval, slower, with the same results",
            version,
            low,
            high,
        )
        return False
    missing = missing_patch_points()
    if missing:
        log.warning(
            "lm-eval speed-ups off: lm-eval %s lacks %s; evaluation runs plain lm-eval, slower, with the "
            "same results",
            version,
            ", ".join(missing),
        )
        return False
    _render_templates_once()
    _parse_literals_once()
    _reuse_requests_and_skip_extras()
    return True


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


def _render_templates_once() -> None:
    """lm-eval compiles every Jinja prompt template anew for each document (half of a 100-example
    evaluation here): templates are immutable, so each is compiled once. Rendering one still costs ~15 us,
    and a four-choice few-shot question renders 16 times; a sweep renders the same documents for every job,
    so each (template, document) is rendered once and the text reused (documents of plain types only; the
    templates are deterministic)."""
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


def _parse_literals_once() -> None:
    """Each rendered choice list and label is parsed with ast.literal_eval (12 times a few-shot question,
    ~13 us each): each text is parsed once, for lm-eval's task code only, and fresh copies handed out."""
    import lm_eval.api.task

    literal = functools.lru_cache(maxsize=100_000)(ast.literal_eval)

    def literal_eval(text):
        return _fresh_literal(literal(text) if type(text) is str else ast.literal_eval(text))

    lm_eval.api.task.ast = types.SimpleNamespace(**{**vars(ast), "literal_eval": literal_eval})


def _reuse_requests_and_skip_extras() -> None:
    """Requests built once per task copy (`_reused_requests`). And what a sweep never reads, not asked:
    the machine's environment that simple_evaluate collects for its results by shelling out (0.5 s a
    call), and `git describe` in the current folder (5 ms a call, and "fatal: not a git repository" on
    the screen outside one). The "building contexts" bar (one per evaluation) would interleave with the
    sweep's own: off."""
    import lm_eval.api.task
    import lm_eval.evaluator

    lm_eval.api.task.tqdm = functools.partial(lm_eval.api.task.tqdm, disable=True)
    lm_eval.api.task.Task.build_all_requests = _reused_requests(lm_eval.api.task.Task.build_all_requests)
    lm_eval.evaluator.add_env_info = lambda results: None
    lm_eval.evaluator.get_git_commit_hash = lambda: None


BUILT_REQUESTS: dict[tuple, tuple[list[tuple], Any]] = {}
"""Requests a task copy built, by its build key, config, few-shot sampler state and build arguments."""


def _reused_requests(build):
    """Task.build_all_requests that builds the requests of a task copy once and hands out fresh ones after.

    A sweep evaluates the same task, limit and few-shot seed on every checkpoint, and lm-eval renders every
    few-shot prompt anew each time (a seventh of an evaluation of the smallest toy model). The requests
    depend only on the task as built, its config, the few-shot sampler's random state and the arguments,
    so those are the key; a hit gets new Instances (new response lists, the documents copied) and leaves
    the sampler in the state the build left it. Tasks not copied by `load_task`, chat templates and
    lm-eval's own request cache go the usual way.
    """
    from lm_eval.api.instance import Instance

    def build_all_requests(self, **kwargs):
        spec = build_key(self)
        if spec is None or kwargs.get("apply_chat_template") or kwargs.get("cache_requests"):
            return build(self, **kwargs)
        rnds = [getattr(self, "fewshot_rnd", None), getattr(getattr(self, "sampler", None), "rnd", None)]
        try:
            key = (spec, repr(self.config), repr(sorted(kwargs.items())), *(r and r.getstate() for r in rnds))
            hash(key)
        except TypeError:
            return build(self, **kwargs)
        if key not in BUILT_REQUESTS:
            build(self, **kwargs)
            if len(BUILT_REQUESTS) >= 16:
                BUILT_REQUESTS.pop(next(iter(BUILT_REQUESTS)))
            fields = [(i.request_type, i.doc, i.arguments, i.idx, i.metadata) for i in self._instances]
            BUILT_REQUESTS[key] = fields, [r and r.getstate() for r in rnds]
            return None
        fields, states = BUILT_REQUESTS[key]
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


def _encode_all(lm, pairs: list[tuple[str, str]]) -> dict[str, list[int]]:
    """Ids of every string that TemplateLM._encode_pair encodes with default special tokens, for the HFLM
    `lm`, each distinct string encoded once in one tokenizer call per set of keyword arguments.

    Strings this tokenizer (the same vocabulary and settings, loaded anew for each checkpoint of a sweep)
    has encoded before are looked up, not encoded again: a sweep asks for the same prompts on every
    checkpoint."""
    from lm_eval.models.utils import _add_special_kwargs, has_bos_prefix

    known = _encodings(lm.tokenizer, lm.add_bos_token)
    strings: dict[str, None] = {}
    for context, continuation in pairs:
        if not context:
            continue
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        strings[context] = strings[context + continuation] = None
    bos = lm.tokenizer.decode(lm.prefix_token_id)
    groups: dict[tuple, list[str]] = {}
    for string in strings.keys() - known.keys():  # the keyword arguments HFLM.tok_encode passes
        kwargs = _add_special_kwargs(None, lm.add_bos_token)
        if has_bos_prefix(string, bos):
            kwargs["add_special_tokens"] = False
        groups.setdefault(tuple(sorted(kwargs.items())), []).append(string)
    for kwargs, group in groups.items():
        known.update(zip(group, lm.tokenizer(group, **dict(kwargs))["input_ids"], strict=True))
    return known


@functools.cache
def batch_tokenizing_hflm() -> type:
    """HFLM that tokenizes all of a loglikelihood call's strings in one batch before lm-eval runs it.

    lm-eval encodes each request's context and context + continuation one call at a time (800 calls for
    100 four-choice questions, a sixth of the evaluation of the smallest toy model). This fills a table
    with the very ids those calls would return (`_encode_all`); lm-eval's own code then runs unchanged and
    finds its strings there. It also reads the model's maximum length once per call instead of once per
    request, and runs without autograd. lm-eval's own progress bars (three per evaluation) are off.
    """
    import torch
    from lm_eval.models.huggingface import HFLM

    class BatchTokenizingHFLM(HFLM):
        _encoded: dict[str, list[int]] = {}
        """This call's strings and their ids (a view of the tokenizer's table in _ENCODED)."""

        _call_max_length: int | None = None

        def loglikelihood(self, requests, disable_tqdm: bool = True):
            self._encoded = _encode_all(self, [req.args for req in requests])
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

        def tok_encode(self, string, add_special_tokens=None, left_truncate_len=None, **kwargs):
            ids = self._encoded.get(string) if add_special_tokens is None and not kwargs else None
            if ids is None:
                return super().tok_encode(string, add_special_tokens, left_truncate_len, **kwargs)
            return list(ids[-left_truncate_len:] if left_truncate_len else ids)

    return BatchTokenizingHFLM
