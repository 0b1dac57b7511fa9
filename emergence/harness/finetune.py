"""Finetune a causal LM on task examples (prompt -> target), full or LoRA, with loss on the answer only."""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from emergence.config import FinetuneSpec
from emergence.errors import EmergenceError
from emergence.harness.jobs import finetune_steps

# LoRA target modules by architecture (model.config.model_type); "all-linear" for anything else.
LORA_TARGETS: dict[str, list[str] | str] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gpt2": ["c_attn", "attn.c_proj"],
    "gpt_neox": ["query_key_value", "dense"],
}


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _encode(tokenizer: PreTrainedTokenizerBase, examples: Sequence[dict]) -> list[tuple[list[int], int]]:
    """Token ids of prompt + target, and where the target starts (the loss covers the target only)."""
    encoded = []
    for i, ex in enumerate(examples):
        if "prompt" not in ex or "target" not in ex:
            raise EmergenceError(f"finetuning example {i} needs 'prompt' and 'target' keys, got {sorted(ex)}")
        prompt = tokenizer(ex["prompt"], add_special_tokens=False)["input_ids"]
        target = tokenizer(ex["target"], add_special_tokens=False)["input_ids"]
        if not target:
            raise EmergenceError(f"finetuning example {i} has an empty target")
        encoded.append((prompt + target, len(prompt)))
    return encoded


def _batch(
    items: list[tuple[list[int], int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs, attention mask and labels (-100 outside the targets)."""
    width = max(len(ids) for ids, _ in items)
    inputs = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, (ids, start) in enumerate(items):
        inputs[row, : len(ids)] = torch.tensor(ids)
        labels[row, start : len(ids)] = torch.tensor(ids[start:])
        mask[row, : len(ids)] = 1
    return inputs, mask, labels


_DEFAULTS = FinetuneSpec()
"""finetune()'s defaults are the sweep spec's, so a call and a sweep with nothing set train alike."""


def warmup_then_linear_decay(step: int, warmup: int, total: int) -> float:
    """The learning rate at optimizer step `step` (from 0), as a fraction of the peak: linear warmup over
    `warmup` steps from 1/warmup (the first step already learns), then linear decay to zero at step
    `total`.

    Kept by hand: transformers' get_linear_schedule_with_warmup has the same decay but starts its warmup at
    0 (step/warmup, one step behind this one), so its learning rates, and the weights trained with them,
    would differ from every finetune run so far.
    """
    return min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))


def _with_lora(model: PreTrainedModel, r: int, alpha: int | None, targets: list[str] | str | None):
    """The model wrapped with peft LoRA adapters (no dropout) on `targets` (default per architecture)."""
    from peft import LoraConfig, get_peft_model  # slow import: only when asked for

    config = LoraConfig(
        r=r,
        lora_alpha=alpha or 2 * r,
        target_modules=targets or LORA_TARGETS.get(model.config.model_type, "all-linear"),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[dict],
    *,
    method: str = _DEFAULTS.method,
    learning_rate: float = _DEFAULTS.learning_rate,
    epochs: float = _DEFAULTS.epochs,
    steps: int | None = None,
    min_steps: int = _DEFAULTS.min_steps,
    max_steps: int | None = _DEFAULTS.max_steps,
    batch_size: int = _DEFAULTS.batch_size,
    seed: int = 0,
    lora_r: int = _DEFAULTS.lora_r,
    lora_alpha: int | None = None,
    lora_targets: list[str] | str | None = _DEFAULTS.lora_targets,
    weight_decay: float = 0.0,
    warmup_fraction: float = 0.1,
    replay_corpus: str | None = None,
    replay_windows: int = 0,
    replay_length: int = _DEFAULTS.replay_length,
    copy_model: bool = True,
) -> PreTrainedModel:
    """Finetune a causal LM on examples; the finetuned model (LoRA merged back in), in eval mode, on the
    device it was trained on (CUDA if available).

    The loss is next-token cross-entropy on the target tokens only. With a fixed number of `epochs`,
    more examples mean more optimizer steps, i.e. more task signal. AdamW with linear warmup and
    linear decay to zero (`warmup_then_linear_decay`); the data order is shuffled per epoch from `seed`.
    Defaults shared with a sweep are `FinetuneSpec`'s.

    Args:
        model: a transformers causal LM (not changed when copy_model is True).
        tokenizer: its tokenizer.
        examples: dicts with "prompt" and "target" strings; the model learns target after prompt.
        method: "full" (all weights) or "lora" (peft LoRA adapters, merged with merge_and_unload).
        learning_rate: peak learning rate (1e-4..3e-4 for full finetuning; LoRA tolerates ~1e-3).
        epochs: passes over the examples; ignored when steps is given.
        steps: optimizer steps, overriding epochs.
        min_steps: at least this many optimizer steps when epochs decide (a small amount then gets more
            passes, so its finetuning is not a handful of steps that draw nothing out).
        max_steps: at most this many optimizer steps when epochs decide (a large amount then gets fewer
            passes instead of a longer finetune that forgets more of what pretraining stored).
        batch_size: examples per step.
        seed: seeds the data order (and LoRA initialisation).
        lora_r, lora_alpha: LoRA rank and scale (alpha defaults to 2 * r).
        lora_targets: module names for LoRA; default per architecture (LORA_TARGETS) or "all-linear".
        weight_decay, warmup_fraction: AdamW weight decay; the share of steps with linear warmup.
        replay_corpus, replay_windows, replay_length: mix ``replay_windows`` windows of ``replay_length``
            tokens of this text file into every step (next-token loss on all their tokens, added to the
            answers' loss), so that finetuning keeps what pretraining stored.
        copy_model: finetune a deep copy, leaving the given model as it was.
    """
    _check(method, examples)
    device = _device()
    torch.manual_seed(seed)
    model = copy.deepcopy(model) if copy_model else model
    model.to(device)
    if method == "lora":
        model = _with_lora(model, lora_r, lora_alpha, lora_targets)
    encoded = _encode(tokenizer, examples)
    total = (
        steps if steps is not None else finetune_steps(len(encoded), epochs, batch_size, min_steps, max_steps)
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = (_batch(batch, pad_id) for batch in _batches(encoded, batch_size, total, seed))
    replay = _replay(tokenizer, replay_corpus, replay_windows, replay_length, seed)
    _train(model, batches, total, learning_rate, weight_decay, warmup_fraction, device, replay)
    if method == "lora":
        model = model.merge_and_unload()
    model.eval()
    return model


def _check(method: str, examples: Sequence[dict]) -> None:
    if method not in ("full", "lora"):
        raise EmergenceError(f"finetune method must be 'full' or 'lora', not {method!r}")
    if not examples:
        raise EmergenceError("finetune needs at least one example")


def _replay(tokenizer, corpus: str | None, windows: int, length: int, seed: int):
    """Endless batches of `windows` windows of the replay corpus (None without replay)."""
    if not windows:
        return None
    if corpus is None:
        raise EmergenceError("replay_windows needs a replay_corpus")
    from emergence.files import read_text

    ids = torch.tensor(tokenizer(read_text(corpus), add_special_tokens=False)["input_ids"])
    n = len(ids) // length
    if n < 1:
        raise EmergenceError(
            f"the replay corpus {corpus} holds fewer than {length} tokens; give a longer text"
        )
    chunks, generator = ids[: n * length].view(n, length), torch.Generator().manual_seed(seed)
    return (chunks[torch.randint(0, n, (windows,), generator=generator)] for _ in iter(int, 1))  # endless


def _train(
    model, batches, total: int, learning_rate: float, weight_decay: float, warmup_fraction: float, device,
    replay=None,
):  # fmt: skip
    """`total` optimizer steps of AdamW on `batches` (inputs, mask, labels), gradients clipped to norm 1,
    the learning rate on `warmup_then_linear_decay`; with `replay` (batches of token windows), their
    next-token loss is added at every step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    warmup = max(1, round(warmup_fraction * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(warmup_then_linear_decay, warmup=warmup, total=total)
    )
    model.train()
    for batch in batches:
        inputs, mask, labels = (t.to(device) for t in batch)
        loss = model(input_ids=inputs, attention_mask=mask, labels=labels).loss
        if replay is not None:
            windows = next(replay).to(device)
            loss = loss + model(input_ids=windows, labels=windows).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)


def _batches(encoded: list, batch_size: int, steps: int, seed: int):
    """`steps` batches of `batch_size` items, in epochs each shuffled anew from `seed`; a batch that would
    cross an epoch's end takes the first items of the next one."""
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            epoch = list(range(len(encoded)))
            rng.shuffle(epoch)
            order += epoch
        batch, order = [encoded[i] for i in order[:batch_size]], order[batch_size:]
        yield batch
