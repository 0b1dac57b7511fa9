"""finetune(): full and LoRA change the model and raise the probability of the answers it was shown."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

from emergence.errors import EmergenceError  # noqa: E402
from emergence.harness.finetune import finetune  # noqa: E402
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


def test_finetune_rejects_bad_input(base, tok):
    with pytest.raises(EmergenceError, match="prompt"):
        finetune(base, tok, [{"question": "x"}])
    with pytest.raises(EmergenceError, match="method"):
        finetune(base, tok, [{"prompt": "a", "target": "b"}], method="qlora")
