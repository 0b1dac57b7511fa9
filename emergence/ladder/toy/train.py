"""Model sizes of the toy ladder and the pretraining loop (plain torch, AdamW, fp32, resumable)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from emergence.ladder.toy.corpus import CorpusConfig, corpus_text
from emergence.ladder.toy.tokenizer import encode_text

HELDOUT_SEED = 999_983
"""Seed of the held-out corpus slice on which every checkpoint's pretraining loss is measured."""
LOSS_CORPUS = "toy-heldout-v2"


@dataclass(frozen=True)
class ToySize:
    """One rung of the ladder: a Llama-style shape and how long and how it is trained."""

    name: str
    hidden: int
    layers: int
    heads: int
    steps: int
    batch_size: int = 32
    seq_len: int = 128
    lr: float = 3e-3
    warmup: int = 50
    save_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """Checkpoints, as fractions of `steps`: ten per size, so the transition holds several of each."""

    def config(self, vocab_size: int) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden,
            intermediate_size=4 * self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.heads,
            max_position_embeddings=max(512, self.seq_len),
            tie_word_embeddings=True,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
        )

    @property
    def save_steps(self) -> list[int]:
        return sorted({max(1, round(f * self.steps)) for f in self.save_fractions})

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


SIZES: dict[str, ToySize] = {
    s.name: s
    for s in [
        # For tests: builds in seconds, two checkpoints.
        ToySize(
            "micro",
            hidden=32,
            layers=1,
            heads=2,
            steps=24,
            batch_size=8,
            seq_len=64,
            warmup=4,
            save_fractions=(0.5, 1.0),
        ),
        ToySize("xs", hidden=64, layers=2, heads=4, steps=1000),
        ToySize("s", hidden=96, layers=3, heads=4, steps=800),
        ToySize("m", hidden=128, layers=4, heads=4, steps=500),
        ToySize("l", hidden=256, layers=3, heads=8, steps=450, lr=2e-3),
    ]
}
LADDER = ["xs", "s", "m", "l"]
"""The full ladder: losses of the sizes interleave, so the transition is crossed by several sizes."""
REDUCED_LADDER = ["xs", "s"]
"""The demo ladder: the two cheapest sizes (20 checkpoints), a sweep over it runs in minutes."""


def count_params(model: torch.nn.Module) -> int:
    """Parameters of a model, tied embeddings counted once."""
    return sum(p.numel() for p in model.parameters())


def lr_at(size: ToySize, step: int) -> float:
    """The learning rate at training step `step` (from 0): linear warmup from lr/warmup, then cosine
    decay to a tenth of the peak at the last step.

    Kept by hand, and set on the optimizer at each step so a resumed size continues on the very same
    rates: transformers' get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate=0.1) gives the same rates
    after the warmup, but starts its warmup at 0 (step/warmup, one step behind this one), so its ladder
    would not be this one.
    """
    if step < size.warmup:
        return size.lr * (step + 1) / size.warmup
    progress = min(1.0, (step - size.warmup) / max(1, size.steps - size.warmup))
    return size.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def token_stream(
    tokenizer: PreTrainedTokenizerFast, seed: int, n_tokens: int, corpus: CorpusConfig | None = None
) -> torch.Tensor:
    """The first n_tokens of the corpus for a seed, as one long tensor of token ids."""
    text = corpus_text(seed, n_tokens, corpus)[:n_tokens]
    return torch.from_numpy(encode_text(tokenizer, text))


@torch.no_grad()
def heldout_loss(
    model: torch.nn.Module, heldout: torch.Tensor, seq_len: int = 128, batch_size: int = 64
) -> float:
    """Mean next-token loss (nats per character) on the held-out slice, in windows of seq_len."""
    model.eval()
    n = (heldout.numel() - 1) // seq_len
    inputs = heldout[: n * seq_len].view(n, seq_len)
    labels = heldout[1 : n * seq_len + 1].view(n, seq_len)
    total = 0.0
    for i in range(0, n, batch_size):
        logits = model(input_ids=inputs[i : i + batch_size]).logits
        total += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), labels[i : i + batch_size].reshape(-1), reduction="sum"
        ).item()
    model.train()
    return total / (n * seq_len)


def heldout_tokens(tokenizer: PreTrainedTokenizerFast, n_tokens: int = 65_536) -> torch.Tensor:
    """The held-out slice shared by every size of the ladder (and every training seed)."""
    return token_stream(tokenizer, HELDOUT_SEED, n_tokens)


def _checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / f"step-{step:06d}"


def _new_optimizer(model: torch.nn.Module, size: ToySize) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=size.lr, betas=(0.9, 0.95), weight_decay=0.1)


def _start_or_resume(
    size: ToySize, run_dir: Path, tokenizer: PreTrainedTokenizerFast, records: list[dict], seed: int
) -> tuple[torch.nn.Module, torch.optim.Optimizer, int, list[dict]]:
    """The model and optimizer to train on from, the step to start at, and the checkpoints kept: the last
    checkpoint and its optimizer state where both were saved, else a new model (older checkpoints that
    cannot be continued exactly are removed)."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(size.config(len(tokenizer)))
    optimizer = _new_optimizer(model, size)
    state_path = run_dir / "optimizer.pt"
    if records and state_path.exists():
        state = torch.load(state_path, weights_only=True)
        start = state["step"]
        # A crash between saving a checkpoint and its optimizer state leaves one checkpoint too many.
        for r in [r for r in records if r["step"] > start]:
            shutil.rmtree(_checkpoint_dir(run_dir, r["step"]), ignore_errors=True)
        model = LlamaForCausalLM.from_pretrained(_checkpoint_dir(run_dir, start))
        optimizer = _new_optimizer(model, size)
        optimizer.load_state_dict(state["optimizer"])
        return model, optimizer, start, [r for r in records if r["step"] <= start]
    for r in records:  # checkpoints without optimizer state cannot be continued exactly: start over
        shutil.rmtree(_checkpoint_dir(run_dir, r["step"]), ignore_errors=True)
    return model, optimizer, 0, []


Stream = Callable[[int, int], torch.Tensor]
"""A world's pretraining stream: (seed, n_tokens) -> the first n_tokens token ids for that seed."""


def _batches(size: ToySize, seed: int, stream: Stream) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """The batch of each step (inputs, next-token labels): a fixed slice of one deterministic stream cut
    into windows and shuffled once, so a resumed run sees exactly the batches an uninterrupted one would."""
    tokens = stream(seed, size.steps * size.tokens_per_step + 1)
    order = np.random.default_rng(seed).permutation(size.steps * size.batch_size)  # windows, shuffled
    windows_x = tokens[:-1].view(-1, size.seq_len)
    windows_y = tokens[1:].view(-1, size.seq_len)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(order[step * size.batch_size : (step + 1) * size.batch_size])
        return windows_x[idx], windows_y[idx]

    return batch


def train_size(
    size: ToySize,
    run_dir: str | Path,
    tokenizer: PreTrainedTokenizerFast,
    *,
    seed: int = 0,
    corpus: CorpusConfig | None = None,
    stream: Stream | None = None,
    loss_corpus: str = LOSS_CORPUS,
    heldout: torch.Tensor | None = None,
    on_step: Callable[[int], None] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train one size from scratch, or resume it, saving checkpoints at `size.save_steps`.

    Every saved checkpoint is a directory with the model and tokenizer (`save_pretrained`, safetensors)
    and `checkpoint.json` (step, tokens, params, pretraining loss). The optimizer state is kept beside
    the latest checkpoint only, to resume from. Finished checkpoints are never retrained.

    The text is the arithmetic world's corpus (``corpus``), or any other world's ``stream`` (with its
    ``heldout`` slice and the ``loss_corpus`` name recorded with each loss).

    Returns one record per checkpoint (finished earlier or now), in step order.
    """
    torch.set_num_threads(min(2, torch.get_num_threads()))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    heldout = heldout if heldout is not None else heldout_tokens(tokenizer)
    records = [json.loads(p.read_text()) for p in sorted(run_dir.glob("step-*/checkpoint.json"))]
    done = {r["step"] for r in records}
    if all(s in done for s in size.save_steps):
        return sorted(records, key=lambda r: r["step"])

    model, optimizer, start, records = _start_or_resume(size, run_dir, tokenizer, records, seed)
    model.train()
    params = count_params(model)

    if stream is None:
        stream = lambda seed_, n: token_stream(tokenizer, seed_, n, corpus)  # noqa: E731
    batch = _batches(size, seed, stream)
    for step in range(start, size.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(size, step)
        inputs, labels = batch(step)
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if on_step:
            on_step(step + 1)
        if step + 1 in size.save_steps:
            record = _save_checkpoint(
                model, optimizer, tokenizer, run_dir, size, step + 1, params, heldout, loss_corpus
            )
            records.append(record)
            if on_checkpoint:
                on_checkpoint(record)
    return sorted(records, key=lambda r: r["step"])


def _save_checkpoint(
    model, optimizer, tokenizer, run_dir: Path, size: ToySize, step: int, params: int, heldout: torch.Tensor,
    loss_corpus: str,
) -> dict:  # fmt: skip
    path = _checkpoint_dir(run_dir, step)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    record = {
        "size": size.name,
        "step": step,
        "params": params,
        "tokens": step * size.tokens_per_step,
        "pretraining_loss": heldout_loss(model, heldout),
        "loss_corpus": loss_corpus,
        "size_config": asdict(size),
    }
    (tmp / "checkpoint.json").write_text(json.dumps(record, indent=1))
    torch.save({"step": step, "optimizer": optimizer.state_dict()}, run_dir / "optimizer.pt.tmp")
    # The checkpoint appears whole or not at all; then its optimizer state replaces the older one.
    tmp.rename(path)
    (run_dir / "optimizer.pt.tmp").replace(run_dir / "optimizer.pt")
    if step == size.steps:
        (run_dir / "optimizer.pt").unlink()
    return record
