"""Ladder sources: a LadderSpec resolved into checkpoints with params, tokens, FLOPs and pretraining loss.

Three kinds: the built-in toy ladder (trained here on first use), local checkpoint folders, and hub ids +
revisions (only where a model hub is reachable, or already in the local cache). What the spec does not
give is measured (``emergence.ladder.measure``): params from the safetensors headers, pretraining loss on
the ladder's ``loss_corpus``, FLOPs as 6 x params x tokens. Every checkpoint is registered in the store;
a measured loss is reused from the store while the checkpoint's source and the corpus are unchanged.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from emergence.config import CheckpointSpec, LadderSpec
from emergence.ladder import measure
from emergence.ladder.checkpoints import checkpoint_folder
from emergence.progress import Progress, silent
from emergence.store import Store

log = logging.getLogger(__name__)


def resolve_ladder(
    ladder: LadderSpec, *, store: Store | None = None, progress: Progress | None = None
) -> list[CheckpointSpec]:
    """The ladder's checkpoints, each with params, tokens, FLOPs and pretraining loss filled where known.

    Registers every checkpoint in ``store``. A checkpoint whose folder cannot be read is still returned
    (with a warning), so that its jobs fail one by one with the reason while the rest of a sweep goes on.
    ``progress`` hears of each checkpoint (of each training step, for the toy ladder).

    Raises:
        EmergenceError: a hub checkpoint that this machine cannot fetch (no network, HF_HUB_OFFLINE=1).
    """
    if ladder.toy is not None:
        return _toy_ladder(ladder, store=store, progress=progress)
    report = progress or silent
    corpus = None if ladder.loss_corpus is None else Path(ladder.loss_corpus)
    known = _known_checkpoints(store)
    out = []
    for i, checkpoint in enumerate(ladder.checkpoints):
        report(i, len(ladder.checkpoints), checkpoint.id)
        resolved, source, loss_corpus = _resolve_checkpoint(checkpoint, corpus, known.get(checkpoint.id, {}))
        if store is not None:
            register_checkpoint(store, resolved, source=source, loss_corpus=loss_corpus)
        out.append(resolved)
    report(len(out), len(out), "")
    return out


def _source(checkpoint: CheckpointSpec, folder: Path | None = None) -> str:
    """Where a checkpoint comes from, as the store records it."""
    if checkpoint.hub is not None:
        return f"hub:{checkpoint.hub}@{checkpoint.revision or 'main'}"
    return str(folder if folder is not None else checkpoint.path)


def _resolve_checkpoint(
    checkpoint: CheckpointSpec, corpus: Path | None, previous: dict
) -> tuple[CheckpointSpec, str, str | None]:
    """One checkpoint with what it lacks measured (or reused from ``previous``, its row in the store):
    the resolved spec, its source, and the loss corpus its loss was measured on ("given" if it came
    with one)."""
    folder = checkpoint_folder(checkpoint)
    source = _source(checkpoint, folder)
    params, loss, corpus_tag = checkpoint.params, checkpoint.pretraining_loss, None
    try:
        if params is None:
            params = measure.count_params(folder)
        if loss is None and corpus is not None:
            corpus_tag = measure.corpus_name(corpus)
            if previous.get("source") == source and previous.get("loss_corpus") == corpus_tag:
                loss = previous.get("pretraining_loss")
            if loss is None or math.isnan(loss):
                log.info("measuring the pretraining loss of %s on %s", checkpoint.id, corpus.name)
                loss = measure.measure_pretraining_loss(checkpoint, corpus)
    except Exception as exc:  # a broken checkpoint: its jobs will fail with the reason, the rest go on
        log.warning("checkpoint %s: cannot read %s (%s); its jobs will fail", checkpoint.id, folder, exc)
    flops = checkpoint.flops
    if flops is None and params is not None and checkpoint.tokens is not None:
        flops = 6.0 * params * checkpoint.tokens
    resolved = checkpoint.model_copy(update=dict(params=params, flops=flops, pretraining_loss=loss))
    return resolved, source, corpus_tag if checkpoint.pretraining_loss is None else "given"


def register_checkpoint(
    store: Store, checkpoint: CheckpointSpec, *, source: str | None = None, loss_corpus: str | None = None
) -> None:
    """Insert or update a checkpoint row in the store."""
    store.add_checkpoint(
        checkpoint.id,
        source if source is not None else _source(checkpoint),
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


def _toy_ladder(
    ladder: LadderSpec, *, store: Store | None, progress: Progress | None
) -> list[CheckpointSpec]:
    from emergence.ladder.toy.build import build_toy_ladder

    toy = ladder.toy
    table = build_toy_ladder(
        toy.out_dir,
        world=toy.world,
        seed=toy.seed,
        sizes=toy.sizes,
        reduced=toy.reduced,
        store=store,
        progress=progress,
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
