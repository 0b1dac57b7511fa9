"""Ladder sources: a LadderSpec resolved into checkpoints with params, tokens, FLOPs and pretraining loss.

Three kinds: the built-in toy ladder (trained here on first use), local checkpoint folders, and hub ids +
revisions (only where a model hub is reachable, or already in the local cache). What the spec does not
give is measured: params from the safetensors headers, pretraining loss on the ladder's ``loss_corpus``
(mean next-token loss in nats per token, so comparable only between checkpoints sharing a tokenizer),
FLOPs as 6 x params x tokens. Every checkpoint is registered in the store; a measured loss is reused from
the store while the checkpoint's source and the corpus are unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from emergence.config import CheckpointSpec, LadderSpec
from emergence.errors import EmergenceError
from emergence.store import Store

log = logging.getLogger("emergence")

# Loss is measured on at most this many tokens of the corpus, in windows of at most this many.
LOSS_TOKENS = 65_536
LOSS_WINDOW = 1024
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"]


def resolve_ladder(
    ladder: LadderSpec, *, store: Store | None = None, progress: bool = False
) -> list[CheckpointSpec]:
    """The ladder's checkpoints, each with params, tokens, FLOPs and pretraining loss filled where known.

    Registers every checkpoint in ``store``. A checkpoint whose folder cannot be read is still returned
    (with a warning), so that its jobs fail one by one with the reason while the rest of a sweep goes on.

    Raises:
        EmergenceError: a hub checkpoint that this machine cannot fetch (no network, HF_HUB_OFFLINE=1).
    """
    if ladder.toy is not None:
        return _toy_ladder(ladder, store=store, progress=progress)
    corpus = None if ladder.loss_corpus is None else Path(ladder.loss_corpus)
    known = _known_checkpoints(store)
    out = []
    for checkpoint in ladder.checkpoints:
        folder = checkpoint_folder(checkpoint)
        source = (
            str(folder) if checkpoint.hub is None else f"hub:{checkpoint.hub}@{checkpoint.revision or 'main'}"
        )
        params, loss, corpus_tag = checkpoint.params, checkpoint.pretraining_loss, None
        try:
            if params is None:
                params = count_params(folder)
            if loss is None and corpus is not None:
                corpus_tag = corpus_name(corpus)
                previous = known.get(checkpoint.id, {})
                if previous.get("source") == source and previous.get("loss_corpus") == corpus_tag:
                    loss = previous.get("pretraining_loss")
                if loss is None or math.isnan(loss):
                    if progress:
                        log.warning("measuring the pretraining loss of %s on %s", checkpoint.id, corpus.name)
                    loss = measure_pretraining_loss(checkpoint, corpus)
        except Exception as exc:  # a broken checkpoint: its jobs will fail with the reason, the rest go on
            log.warning("checkpoint %s: cannot read %s (%s); its jobs will fail", checkpoint.id, folder, exc)
        tokens = checkpoint.tokens
        flops = checkpoint.flops
        if flops is None and params is not None and tokens is not None:
            flops = 6.0 * params * tokens
        resolved = checkpoint.model_copy(update=dict(params=params, flops=flops, pretraining_loss=loss))
        if store is not None:
            register_checkpoint(
                store,
                resolved,
                source=source,
                loss_corpus=corpus_tag if checkpoint.pretraining_loss is None else "given",
            )
        out.append(resolved)
    return out


def register_checkpoint(
    store: Store, checkpoint: CheckpointSpec, *, source: str | None = None, loss_corpus: str | None = None
) -> None:
    """Insert or update a checkpoint row in the store."""
    if source is None:
        where = (
            checkpoint.path if checkpoint.hub is None else f"{checkpoint.hub}@{checkpoint.revision or 'main'}"
        )
        source = str(where) if checkpoint.hub is None else f"hub:{where}"
    store.add_checkpoint(
        checkpoint.id,
        source,
        family=checkpoint.family,
        step=checkpoint.step,
        params=checkpoint.params,
        tokens=checkpoint.tokens,
        flops=checkpoint.flops,
        pretraining_loss=checkpoint.pretraining_loss,
        loss_corpus=loss_corpus,
    )


def _known_checkpoints(store: Store | None) -> dict[str, dict]:
    if store is None:
        return {}
    return store.checkpoints().set_index("checkpoint_id").to_dict("index")


def checkpoint_folder(checkpoint: CheckpointSpec) -> Path:
    """The local folder of a checkpoint: its ``path``, or its hub snapshot (fetched, or from the cache)."""
    if checkpoint.path is not None:
        return Path(checkpoint.path)
    from huggingface_hub import snapshot_download

    where = f"{checkpoint.hub}@{checkpoint.revision or 'main'}"
    try:
        return Path(snapshot_download(checkpoint.hub, revision=checkpoint.revision, allow_patterns=HUB_FILES))
    except Exception as exc:
        raise EmergenceError(
            f"checkpoint {checkpoint.id}: cannot fetch {where} from the model hub ({type(exc).__name__}); this "
            "machine has no hub access (no network, or HF_HUB_OFFLINE=1) and it is not in the local cache: "
            f"download it where a hub is reachable (`hf download {checkpoint.hub} --revision "
            f"{checkpoint.revision or 'main'} --local-dir DIR`) and give that folder as the checkpoint's 'path'"
        ) from None


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

    from emergence.harness.jobs import checkpoint_identity
    from emergence.harness.run_job import load_checkpoint

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


def _toy_ladder(ladder: LadderSpec, *, store: Store | None, progress: bool) -> list[CheckpointSpec]:
    from emergence.ladder.toy.build import build_toy_ladder

    toy = ladder.toy
    table = build_toy_ladder(
        toy.out_dir, seed=toy.seed, sizes=toy.sizes, reduced=toy.reduced, store=store, progress=progress
    )
    return checkpoints_from_table(table, family_default=ladder.name)


def checkpoints_from_table(table, *, family_default: str | None = None) -> list[CheckpointSpec]:
    """Checkpoint specs from a ladder table (a DataFrame with checkpoint_id/id, path, and the measures)."""
    out = []
    for row in table.to_dict("records"):
        values = {k: (None if _missing(v) else v) for k, v in row.items()}
        out.append(
            CheckpointSpec(
                id=values.get("checkpoint_id") or values["id"],
                path=Path(values["path"]),
                family=values.get("family") or family_default,
                step=None if values.get("step") is None else int(values["step"]),
                params=values.get("params"),
                tokens=values.get("tokens"),
                flops=values.get("flops"),
                pretraining_loss=values.get("pretraining_loss"),
            )
        )
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
