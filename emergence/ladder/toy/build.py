"""Build the toy ladder: train every size, save its checkpoints, measure their loss, register them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from emergence.errors import EmergenceError
from emergence.ladder.toy.tokenizer import build_tokenizer
from emergence.ladder.toy.train import LADDER, REDUCED_LADDER, SIZES, heldout_tokens, train_size

FLOPS_FORMULA = "6 * params * tokens"
COLUMNS = [
    "checkpoint_id",
    "path",
    "family",
    "size",
    "step",
    "params",
    "tokens",
    "flops",
    "pretraining_loss",
    "loss_corpus",
]


def _row(record: dict, path: Path, seed: int) -> dict[str, Any]:
    return {
        "checkpoint_id": f"toy-s{seed}-{record['size']}-step{record['step']:06d}",
        "path": str(path),
        "family": f"toy-llama-s{seed}",
        "size": record["size"],
        "step": record["step"],
        "params": record["params"],
        "tokens": record["tokens"],
        "flops": 6.0 * record["params"] * record["tokens"],
        "pretraining_loss": record["pretraining_loss"],
        "loss_corpus": record["loss_corpus"],
    }


def build_toy_ladder(
    out_dir: str | Path,
    *,
    seed: int = 0,
    sizes: list[str] | None = None,
    reduced: bool = False,
    store: Any = None,
    progress: bool = True,
    threads: int | None = None,
) -> pd.DataFrame:
    """Train the toy ladder into out_dir (or finish an interrupted build) and return its checkpoints.

    Sizes are trained one after another; each saves its checkpoints under out_dir/<size>/step-NNNNNN/
    (model and tokenizer via save_pretrained, safetensors, plus checkpoint.json). A rerun skips finished
    checkpoints and resumes a size from its last one; the same seed gives the same ladder.

    Args:
        out_dir: where the checkpoints go.
        seed: seeds the corpus stream and the initialisations.
        sizes: names from SIZES; default the full ladder (LADDER), or REDUCED_LADDER when reduced.
            ["micro"] builds a two-checkpoint model in seconds, for tests.
        reduced: the smaller ladder for demos (fewer sizes, a sweep over it runs in minutes).
        store: anything with `add_checkpoint(checkpoint_id=, source=, params=, tokens=, flops=,
            pretraining_loss=, loss_corpus=, family=, step=)`; each checkpoint is added to it.
        progress: show a tqdm bar over all training steps.
        threads: torch CPU threads (default: 2, or fewer if the machine has fewer cores).

    Returns:
        One row per checkpoint: checkpoint_id, path, family, size, step, params, tokens,
        flops (= 6 * params * tokens, the usual training estimate, attention not counted),
        pretraining_loss (nats per character on the held-out slice), loss_corpus.
    """
    names = sizes or (REDUCED_LADDER if reduced else LADDER)
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        raise EmergenceError(f"unknown toy sizes {unknown}; choose from {', '.join(SIZES)}")
    torch.set_num_threads(threads or min(2, torch.get_num_threads()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(out_dir / "tokenizer")
    heldout = heldout_tokens(tokenizer)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(SIZES[n].steps for n in names), desc="toy ladder", unit="step")
    rows = []
    for name in names:
        size = SIZES[name]
        run_dir = out_dir / name
        done_steps = {json.loads(p.read_text())["step"] for p in run_dir.glob("step-*/checkpoint.json")}
        base = 0
        if bar is not None:
            bar.set_postfix(size=name)
            base = bar.n
            bar.update(max(done_steps, default=0))

        def on_step(step: int, _base: int = base) -> None:
            if bar is not None:
                bar.update(_base + step - bar.n)

        records = train_size(size, run_dir, tokenizer, seed=seed, heldout=heldout, on_step=on_step)
        if bar is not None:
            bar.update(base + size.steps - bar.n)
        rows += [_row(r, run_dir / f"step-{r['step']:06d}", seed) for r in records]
    if bar is not None:
        bar.close()

    table = pd.DataFrame(rows, columns=COLUMNS)
    if store is not None:
        for row in table.itertuples(index=False):
            store.add_checkpoint(
                checkpoint_id=row.checkpoint_id,
                source=f"toy-ladder:{Path(row.path).relative_to(out_dir).as_posix()}",
                params=int(row.params),
                tokens=int(row.tokens),
                flops=float(row.flops),
                pretraining_loss=float(row.pretraining_loss),
                loss_corpus=row.loss_corpus,
                family=row.family,
                step=int(row.step),
            )
    table.to_csv(out_dir / "ladder.csv", index=False)
    return table
