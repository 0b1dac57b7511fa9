"""Build the toy ladder: train every size, save its checkpoints, measure their loss, register them."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from emergence.errors import EmergenceError
from emergence.ladder.quiet import quiet_libraries
from emergence.ladder.toy.train import train_size
from emergence.ladder.toy.worlds import WORLDS, ToyWorld
from emergence.progress import Progress, silent

log = logging.getLogger(__name__)
FLOPS_FORMULA = "6 * params * tokens"
REPLAY_SEED, REPLAY_TOKENS = 555_557, 200_000
"""The replay text a built ladder writes: a stream seed no size trains on, and its length."""
COLUMNS = [
    "checkpoint_id",
    "path",
    "family",
    "run",
    "size",
    "step",
    "params",
    "tokens",
    "flops",
    "pretraining_loss",
    "loss_corpus",
]


def _row(record: dict, path: Path, seed: int, world: ToyWorld) -> dict[str, Any]:
    run = f"{world.id_prefix}-s{seed}-{record['size']}"
    return {
        "checkpoint_id": f"{run}-step{record['step']:06d}",
        "path": str(path),
        "family": f"{world.id_prefix}-llama-s{seed}",
        "run": run,
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
    world: str = "arithmetic",
    seed: int = 0,
    sizes: list[str] | None = None,
    reduced: bool = False,
    store: Any = None,
    progress: Progress | None = None,
    threads: int | None = None,
    replace_checkpoints: bool = False,
) -> pd.DataFrame:
    """Train the toy ladder into out_dir (or finish an interrupted build) and return its checkpoints.

    Sizes are trained one after another; each saves its checkpoints under out_dir/<size>/step-NNNNNN/
    (model and tokenizer via save_pretrained, safetensors, plus checkpoint.json). A rerun skips finished
    checkpoints and resumes a size from its last one; the same seed gives the same ladder.

    Args:
        out_dir: where the checkpoints go.
        world: "arithmetic" or "knowledge" (emergence.ladder.toy.worlds).
        seed: seeds the corpus stream and the initialisations.
        sizes: the world's size names; default its full ladder, or its reduced one when reduced.
            ["micro"] builds a two-checkpoint model in seconds, for tests.
        reduced: the smaller ladder for demos (fewer sizes, a sweep over it runs in minutes).
        store: a Store (or anything with its `add_checkpoints`); each checkpoint is added to it.
        progress: hears of every training step, over all sizes (``progress_bar`` draws it).
        threads: torch CPU threads (default: the cores other processes leave idle, measured before each
            size, at most 2; see ``free_threads``).
        replace_checkpoints: a checkpoint the store knows with another loss, params or tokens (a size
            retrained into the same folder) takes the new values, the old ones kept as its history; without
            it the store refuses it and nothing is registered.

    Returns:
        One row per checkpoint: checkpoint_id, path, family, size, step, params, tokens,
        flops (= 6 * params * tokens, the usual training estimate, attention not counted),
        pretraining_loss (nats per character on the held-out slice), loss_corpus.
    """
    if world not in WORLDS:
        raise EmergenceError(f"unknown toy world {world!r}; choose from {', '.join(WORLDS)}")
    toy = WORLDS[world]
    names = sizes or list(toy.reduced if reduced else toy.ladder)
    unknown = [n for n in names if n not in toy.sizes]
    if unknown:
        raise EmergenceError(f"unknown {world} sizes {unknown}; choose from {', '.join(toy.sizes)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet_libraries()
    rows = _train_sizes(out_dir, toy, names, seed, progress or silent, threads)
    _write_replay(out_dir / "replay.txt", toy.text(REPLAY_SEED, REPLAY_TOKENS))
    table = pd.DataFrame(rows, columns=COLUMNS)
    for warning in disorder(table):
        log.warning(warning)
    table.to_csv(out_dir / "ladder.csv", index=False)  # the folder's own record, whatever the store says
    if store is not None:
        _register(store, table, out_dir, toy, replace_checkpoints)
    return table


def disorder(table: pd.DataFrame) -> list[str]:
    """One warning per size that ended its schedule above a smaller size trained on no more tokens.

    A larger model that learned less from as much text is not a ladder: the knowledge world's l learns its
    geography table late in its schedule and not on every run (docs/toy-world.md, "Cost"). The arithmetic
    world's larger sizes train on fewer tokens, so their order is not checked.
    """
    finals = (
        table.sort_values("step")
        .groupby("size")
        .agg(params=("params", "first"), tokens=("tokens", "last"), loss=("pretraining_loss", "last"))
        .sort_values("params")
    )
    warnings = []
    for i, (large, row) in enumerate(finals.iterrows()):
        smaller = finals.iloc[:i]
        smaller = smaller[smaller["tokens"] <= row["tokens"]]
        if smaller.empty or not row["loss"] > smaller["loss"].min():
            continue
        small = smaller["loss"].idxmin()
        warnings.append(
            f"size {large} ended at loss {row['loss']:.3f}, above the smaller size {small}'s "
            f"{smaller['loss'][small]:.3f} after no more tokens: the larger model learned less, so this "
            "ladder's figures will differ from one where it did not (for a built-in world, the shipped ones); "
            "build it again with another seed, or read its results knowing that"
        )
    return warnings


def free_threads(cap: int = 2, seconds: float = 0.5) -> int:
    """The torch threads to train with: the cores other processes leave idle over ``seconds`` (from
    /proc/stat; ``cap`` where it cannot be read), at most ``cap``, at least 1.

    Beside one busy process on these 2 cores, 2-thread torch trains 3x slower than on a quiet machine (its
    threads wait on each other while one is descheduled), 1 thread 1.8x slower
    (`benchmarks/train_speed.py --threads`)."""

    def busy_total() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, all

    try:
        idle0, all0 = busy_total()
        time.sleep(seconds)
        idle1, all1 = busy_total()
    except (OSError, ValueError, IndexError):
        return cap
    idle_cores = (os.cpu_count() or 1) * (idle1 - idle0) / max(all1 - all0, 1)
    return max(1, min(cap, int(idle_cores + 0.5)))


def _train_sizes(
    out_dir: Path, world: ToyWorld, names: list[str], seed: int, report: Progress, threads: int | None
) -> list[dict[str, Any]]:
    """Train (or resume) each size in turn; the rows of all their checkpoints."""
    tokenizer = world.tokenizer()
    tokenizer.save_pretrained(out_dir / "tokenizer")
    heldout = world.heldout(tokenizer)
    total = sum(world.sizes[n].steps for n in names)
    base, rows = 0, []
    for name in names:
        size = world.sizes[name]
        run_dir = out_dir / name
        done_steps = {json.loads(p.read_text())["step"] for p in run_dir.glob("step-*/checkpoint.json")}
        report(base + max(done_steps, default=0), total, name)

        def on_step(step: int, _base: int = base, _name: str = name) -> None:
            report(_base + step, total, _name)

        if not set(size.save_steps) <= done_steps:  # a finished size trains nothing: no cores to count
            torch.set_num_threads(threads or free_threads(min(2, os.cpu_count() or 1)))
        records = train_size(
            size, run_dir, tokenizer, seed=seed, heldout=heldout, on_step=on_step,
            stream=lambda s, n: world.stream(tokenizer, s, n), loss_corpus=world.loss_corpus,
        )  # fmt: skip
        base += size.steps
        report(base, total, name)
        rows += [_row(r, run_dir / f"step-{r['step']:06d}", seed, world) for r in records]
    return rows


def _write_replay(path: Path, text: str) -> None:
    """Write the text finetuning replays (FinetuneSpec.replay_corpus); a different one is replaced, with a
    warning (a run's identity holds the replay's hash, so runs made with the old text stay apart)."""
    if path.exists() and path.read_text() == text:
        return
    if path.exists():
        log.warning("%s differs from this world's replay text; replaced (finetuned runs that used it will "
                    "run again)", path)  # fmt: skip
    path.write_text(text)


def _register(store: Any, table: pd.DataFrame, out_dir: Path, world: ToyWorld, replace: bool) -> None:
    """Add the checkpoints to the store in one transaction, each source relative to the ladder folder (no
    machine's paths)."""
    rows = [
        dict(
            checkpoint=row.checkpoint_id,
            source=f"{world.source}:{Path(row.path).relative_to(out_dir).as_posix()}",
            params=int(row.params),
            tokens=int(row.tokens),
            flops=float(row.flops),
            pretraining_loss=float(row.pretraining_loss),
            loss_corpus=row.loss_corpus,
            family=row.family,
            run=row.run,
            step=int(row.step),
        )
        for row in table.itertuples(index=False)
    ]
    store.add_checkpoints(rows, replace=replace, reason="retrained into the same folder (ladder build)")
