"""The built-in worlds: what each trains on, its model sizes, and how its checkpoints are named.

- "arithmetic" (corpus.py): reversed sums with rare carries. Its skill is a phase change in training time
  (the carry is learned at about the same number of tokens by every size), so pretraining loss is not a
  sufficient statistic there: an honest example on which the backtest says "low trust".
- "knowledge" (knowledge.py): people and their facts; the skill is bound by capacity, so loss lines up
  across sizes and larger models reach it at lower loss and higher compute, as in real ladders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from transformers import PreTrainedTokenizerFast

from emergence.ladder.toy import train
from emergence.ladder.toy.corpus import corpus_text
from emergence.ladder.toy.knowledge import KnowledgeWorld
from emergence.ladder.toy.tokenizer import build_tokenizer, build_word_tokenizer
from emergence.ladder.toy.train import ToySize


@dataclass(frozen=True)
class ToyWorld:
    name: str
    sizes: dict[str, ToySize]
    ladder: tuple[str, ...]
    """The full ladder's sizes."""
    reduced: tuple[str, ...]
    """The demo ladder's sizes."""
    id_prefix: str
    """Checkpoint ids are <id_prefix>-s<seed>-<size>-step<NNNNNN>."""
    source: str
    """A checkpoint's source in the store is <source>:<size>/step-<NNNNNN> (relative to the ladder folder)."""
    loss_corpus: str
    tokenizer: Callable[[], PreTrainedTokenizerFast]
    stream: Callable[[PreTrainedTokenizerFast, int, int], torch.Tensor]
    """(tokenizer, seed, n_tokens) -> the first n_tokens token ids of the pretraining text for a seed."""
    heldout_tokens: int
    text: Callable[[int, int], str]
    """(seed, n_tokens) -> about n_tokens of pretraining-like text for finetuning's replay (the knowledge
    world's leaves out its test people, whose facts are the benchmarks' answers)."""

    def heldout(self, tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
        """The held-out slice on which every checkpoint's pretraining loss is measured."""
        return self.stream(tokenizer, train.HELDOUT_SEED, self.heldout_tokens)


@cache
def knowledge_world() -> KnowledgeWorld:
    """The knowledge world's facts (fixed: the benchmarks in evals/knowledge were written from them)."""
    return KnowledgeWorld(seed=0)


def _knowledge_stream(tokenizer, seed: int, n_tokens: int) -> torch.Tensor:
    return torch.from_numpy(knowledge_world().token_ids(seed, n_tokens))


def _knowledge_size(name: str, hidden: int, tokens: float, lr: float) -> ToySize:
    steps = round(tokens / (32 * 64))
    return ToySize(name, hidden=hidden, layers=2, heads=max(2, hidden // 32), steps=steps, seq_len=64, lr=lr,
                   warmup=max(10, steps // 20), save_fractions=tuple(i / 8 for i in range(1, 9)))  # fmt: skip


KNOWLEDGE_SIZES = {
    "micro": ToySize("micro", hidden=32, layers=1, heads=2, steps=24, batch_size=8, seq_len=64, warmup=4,
                     save_fractions=(0.5, 1.0)),
    **{s.name: s for s in (_knowledge_size("s", 32, 0.28e6, 5e-3), _knowledge_size("m", 96, 1.3e6, 3e-3),
                           _knowledge_size("l", 128, 3.5e6, 3e-3))},
}  # fmt: skip

WORLDS = {
    "arithmetic": ToyWorld(
        "arithmetic", train.SIZES, tuple(train.LADDER), tuple(train.REDUCED_LADDER), "toy", "toy-ladder",
        train.LOSS_CORPUS,
        build_tokenizer, train.token_stream, 65_536, lambda seed, n: corpus_text(seed, n),
    ),
    "knowledge": ToyWorld(
        "knowledge", KNOWLEDGE_SIZES, ("s", "m", "l"), ("s", "m"), "know", "knowledge-ladder",
        "knowledge-heldout-v1",
        lambda: build_word_tokenizer(knowledge_world().words), _knowledge_stream, 32_768,
        lambda seed, n: knowledge_world().replay_text(seed, n),
    ),
}  # fmt: skip
