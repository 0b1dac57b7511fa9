"""finetune(): full and LoRA change the model and raise the probability of the answers it was shown; its
schedule and its defaults."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

from emergence.errors import EmergenceError  # noqa: E402
from emergence.harness.finetune import finetune, warmup_then_linear_decay  # noqa: E402
from emergence.ladder.toy.corpus import task_docs  # noqa: E402
from emergence.ladder.toy.tokenizer import build_tokenizer  # noqa: E402
from tests.builders import tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


@pytest.fixture(scope="module")
def base(tok):
    return tiny_llama(tok, hidden=32).eval()


@pytest.fixture(scope="module")
def examples():
    docs = task_docs("toy_sum_qa")["train"][:16]
    return [{"prompt": d["question"] + " ", "target": d["answer"]} for d in docs]


def answer_logprob(model, tok, examples) -> float:
    """Mean log-probability of the targets given the prompts."""
    total = 0.0
    model.eval()
    with torch.no_grad():
        for ex in examples:
            p = tok(ex["prompt"])["input_ids"]
            t = tok(ex["target"])["input_ids"]
            logits = model(input_ids=torch.tensor([p + t])).logits[0]
            logp = torch.log_softmax(logits[len(p) - 1 : -1], -1)
            total += logp[torch.arange(len(t)), torch.tensor(t)].sum().item()
    return total / len(examples)


@pytest.mark.parametrize("method,lr,gain", [("full", 1e-2, 1.0), ("lora", 3e-2, 0.2)])
def test_finetune_raises_answer_probability(base, tok, examples, method, lr, gain):
    before = answer_logprob(base, tok, examples)
    weights = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = finetune(base, tok, examples, method=method, learning_rate=lr, steps=30, batch_size=8, lora_r=4)
    assert answer_logprob(tuned, tok, examples) > before + gain  # nats per answer
    assert type(tuned) is LlamaForCausalLM  # LoRA merged back: a plain model again
    assert set(tuned.state_dict()) == set(weights)
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in weights.items())  # the input is untouched
    assert any(not torch.equal(v, tuned.state_dict()[k]) for k, v in weights.items())


def test_finetune_is_deterministic_for_a_seed(base, tok, examples):
    a = finetune(base, tok, examples, learning_rate=1e-3, epochs=1, batch_size=4, seed=3)
    b = finetune(base, tok, examples, learning_rate=1e-3, epochs=1, batch_size=4, seed=3)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_min_steps_gives_a_small_amount_more_passes(base, tok, examples):
    # 16 examples in batches of 4 for 1 epoch is 4 steps; a floor of 10 runs exactly the 10 steps asked
    kw = dict(learning_rate=1e-3, batch_size=4, seed=3)
    floored = finetune(base, tok, examples, epochs=1, min_steps=10, **kw)
    ten = finetune(base, tok, examples, steps=10, **kw)
    four = finetune(base, tok, examples, epochs=1, **kw)
    assert all(torch.equal(v, ten.state_dict()[k]) for k, v in floored.state_dict().items())
    assert any(not torch.equal(v, four.state_dict()[k]) for k, v in floored.state_dict().items())
    not_binding = finetune(base, tok, examples, epochs=1, min_steps=3, **kw)
    assert all(torch.equal(v, four.state_dict()[k]) for k, v in not_binding.state_dict().items())
    capped = finetune(base, tok, examples, epochs=10, max_steps=4, **kw)  # 40 steps asked, 4 run
    assert all(torch.equal(v, four.state_dict()[k]) for k, v in capped.state_dict().items())


def test_finetune_rejects_bad_input(base, tok):
    with pytest.raises(EmergenceError, match="prompt"):
        finetune(base, tok, [{"question": "x"}])
    with pytest.raises(EmergenceError, match="method"):
        finetune(base, tok, [{"prompt": "a", "target": "b"}], method="qlora")


def test_defaults_are_the_sweep_specs():
    """A finetune() call and a sweep with nothing set train alike: one place holds the defaults."""
    import inspect

    from emergence.config import FinetuneSpec

    params = inspect.signature(finetune).parameters
    for name, field in FinetuneSpec.model_fields.items():
        if name in params:
            assert params[name].default == field.default, name
    assert {"method", "learning_rate", "epochs", "batch_size", "min_steps", "lora_r"} <= set(params)


@pytest.mark.parametrize(
    "warmup, total, expected",
    [
        (1, 4, [1.0, 1.0, 2 / 3, 1 / 3]),  # no warmup to speak of: the first step at the peak
        (2, 5, [0.5, 1.0, 1.0, 2 / 3, 1 / 3]),
        (4, 8, [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25]),
    ],
)
def test_the_schedule_warms_up_from_the_first_step_and_decays_to_zero(warmup, total, expected):
    rates = [warmup_then_linear_decay(step, warmup, total) for step in range(total)]
    assert rates == pytest.approx(expected) and warmup_then_linear_decay(total, warmup, total) == 0.0


def text_loss(model, tok, text: str) -> float:
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids, labels=ids).loss.item()


def test_replay_keeps_the_pretraining_text_that_finetuning_alone_forgets(base, tok, examples, tmp_path):
    """Mixing windows of a text into every step keeps its loss low where finetuning alone lets it drift."""
    from emergence.ladder.toy.corpus import corpus_text

    corpus = tmp_path / "replay.txt"
    corpus.write_text(corpus_text(7, 20_000))
    probe = corpus_text(7, 2_000)
    settings = dict(learning_rate=1e-2, steps=40, batch_size=8)
    alone = finetune(base, tok, examples, **settings)
    replayed = finetune(
        base, tok, examples, replay_corpus=str(corpus), replay_windows=8, replay_length=32, **settings
    )
    assert text_loss(replayed, tok, probe) < text_loss(alone, tok, probe) - 0.1
    assert answer_logprob(replayed, tok, examples) > answer_logprob(base, tok, examples) + 1.0  # still learns


def test_replay_without_a_corpus_or_with_too_short_a_one_is_refused(base, tok, examples, tmp_path):
    with pytest.raises(EmergenceError, match="needs a replay_corpus"):
        finetune(base, tok, examples, steps=1, replay_windows=4)
    (tmp_path / "short.txt").write_text("1+1=2\n")
    with pytest.raises(EmergenceError, match="fewer than 48 tokens"):
        finetune(base, tok, examples, steps=1, replay_corpus=str(tmp_path / "short.txt"), replay_windows=4)
