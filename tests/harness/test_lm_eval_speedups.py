"""The lm-eval speed-ups (emergence/harness/lm_eval_speedups.py): only for the versions they were written
for, and exactly plain lm-eval's scores and log-likelihoods wherever they apply."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from emergence.harness import lm_eval_speedups  # noqa: E402
from emergence.harness.lm_eval_speedups import (  # noqa: E402
    BUILT_REQUESTS,
    batch_tokenizing_hflm,
    speed_up_lm_eval,
    supported,
)
from emergence.harness.tasks import load_task, resolve_task  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer  # noqa: E402
from tests.builders import lm_eval_run, tiny_llama  # noqa: E402


@pytest.mark.parametrize(
    "version, applies",
    [
        ("0.4.5", True),
        ("0.4.13", True),
        ("0.4.99.dev1", True),
        ("0.4.4", False),
        ("0.4", False),
        ("0.3.0", False),
        ("0.5.0", False),
        ("0.5.0rc1", False),
        ("1.0", False),
        ("unknown", False),
    ],
)
def test_the_speed_ups_apply_only_to_the_versions_they_were_written_for(version, applies):
    assert supported(version) == applies


def test_the_installed_lm_eval_gets_them_and_every_patch_point_is_there():
    assert supported(lm_eval_speedups.installed_version())  # pyproject pins lm-eval to these versions
    assert lm_eval_speedups.missing_patch_points() == []
    assert speed_up_lm_eval()


@pytest.fixture(scope="module")
def model_and_tok():
    tok = build_tokenizer()
    return tiny_llama(tok, hidden=16, max_positions=256), tok


@pytest.mark.parametrize(
    "task,kwargs", [("toy_sum_choice", dict(limit=12)), ("toy_sum_qa", dict(limit=6, num_fewshot=2))]
)
def test_cached_task_and_batch_tokenizing_hflm_match_plain_lm_eval(model_and_tok, task, kwargs):
    """The speed-ups (a task built once and copied, its requests built once and reused, strings tokenized
    in one batch and once per tokenizer) leave lm-eval's scores and per-sample log-likelihoods exactly as
    plain HFLM on a freshly loaded task gives them, the first time and every time after."""
    from lm_eval.models.huggingface import HFLM

    model, tok = model_and_tok
    spec, manager = resolve_task(task)
    plain = lm_eval_run(
        HFLM(pretrained=model, tokenizer=tok, batch_size=8), spec, task_manager=manager, **kwargs
    )
    assert speed_up_lm_eval()
    BUILT_REQUESTS.clear()
    fast_lm = batch_tokenizing_hflm()(pretrained=model, tokenizer=tok, batch_size=8)
    lm_eval_run(fast_lm, load_task(task), limit=3, num_fewshot=1, fewshot_random_seed=7)  # dirty
    for _ in range(2):  # requests built, then reused
        fast = lm_eval_run(fast_lm, load_task(task), **kwargs)
        assert fast["results"] == plain["results"]
        assert fast["samples"] == plain["samples"]  # args, resps (log-likelihoods or generations), metrics
    assert len(BUILT_REQUESTS) == 2  # the dirty run's and these
    other_seed = lm_eval_run(fast_lm, load_task(task), fewshot_random_seed=3, **kwargs)
    assert (
        len(BUILT_REQUESTS) == 3 and other_seed["samples"][0]["arguments"] != plain["samples"][0]["arguments"]
    )


@pytest.mark.parametrize("add_bos", [False, True])
def test_batch_tokenizing_hflm_encodes_like_hflm(model_and_tok, tmp_path, add_bos):
    """Same log-likelihoods as HFLM for contexts with trailing spaces, a BOS prefix, or none at all."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

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
    fast_lm = batch_tokenizing_hflm()(pretrained=model, tokenizer=tok, batch_size=4)
    assert fast_lm.loglikelihood(requests, disable_tqdm=True) == plain
    assert fast_lm._encoded == {}  # the table lives for one call only
