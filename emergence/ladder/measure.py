"""What a ladder spec may leave out, measured: parameters from the safetensors headers, and pretraining
loss on a held-out corpus (mean next-token loss in nats per token, so comparable only between checkpoints
sharing a tokenizer)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from emergence.config import CheckpointSpec
from emergence.errors import EmergenceError
from emergence.ladder.checkpoints import checkpoint_identity, load_checkpoint
from emergence.ladder.quiet import quiet_libraries

LOSS_TOKENS = 65_536
"""Loss is measured on at most this many tokens of the corpus..."""
LOSS_WINDOW = 1024
"""...in windows of at most this many (or the model's context, if shorter)."""


def count_params(folder: Path) -> float:
    """Parameters in a checkpoint folder, from its safetensors headers (no weights loaded).

    Tied weights are saved once, so they count once.
    """
    from safetensors import safe_open

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise EmergenceError(f"{folder} has no .safetensors weights")
    total = 0
    for file in files:
        with safe_open(file, framework="np") as weights:
            for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                total += math.prod(weights.get_slice(name).get_shape())
    return float(total)


def corpus_name(corpus: Path) -> str:
    """How a loss corpus is named in the store: file name and a short hash of its content."""
    digest = hashlib.sha256(Path(corpus).read_bytes()).hexdigest()[:12]
    return f"{Path(corpus).name}#{digest}"


def measure_pretraining_loss(
    checkpoint: CheckpointSpec, corpus: Path, *, max_tokens: int = LOSS_TOKENS
) -> float:
    """Mean next-token loss (nats/token) of a checkpoint on the first ``max_tokens`` tokens of ``corpus``."""
    import torch

    quiet_libraries()
    model, tokenizer = load_checkpoint(checkpoint_identity(checkpoint))
    text = Path(corpus).read_text(errors="replace")[: max_tokens * 16]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
    if len(ids) < 2:
        raise EmergenceError(f"the loss corpus {corpus} has fewer than 2 tokens; give a longer held-out text")
    window = min(LOSS_WINDOW, getattr(model.config, "max_position_embeddings", None) or LOSS_WINDOW)
    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for begin in range(0, len(ids) - 1, window):
            chunk = torch.tensor([ids[begin : begin + window + 1]], device=device)
            if chunk.shape[1] < 2:
                break
            logits = model(chunk[:, :-1]).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum")
            total += nll.item()
            count += chunk.shape[1] - 1
    del model
    return total / count
