"""How far back in FLOPs can finetuning reach on the toy ladder? A probe of the 4x advance.

The paper's backtest needs at least 4 checkpoints with under a quarter of the FLOPs of the first checkpoint
that emerges few-shot. On the toy ladder that is xs (step 500 on `toy_sum_qa`, 400 on the multiple
choice), so the probe retrains xs (the same seed and schedule, hence the same weights: its step 100 loss
matches the ladder's) saving its early steps, sweeps them with a finetuning recipe of your choice (default:
16 epochs, four times the shipped run's), and runs the backtest on those rows plus the shipped run's
few-shot rows of every other checkpoint. It prints accuracy per checkpoint and data amount, and each cutoff.

    python benchmarks/toy_finetune_reach.py --out /tmp/reach [--epochs 16] [--steps 25 50 75 100 125 150]
        [--method full|lora] [--learning-rate 3e-4]

About 1 minute to train and 6 minutes to sweep (60 jobs, two workers) on a 2-core CPU.

--size and --schedule-steps train another size on a schedule of its own length instead (warmup, then
cosine decay over those steps), as a ladder built to a fixed budget of tokens per parameter would; with
--shipped-sizes, the rows of the shipped run added are every row of those sizes only. The probe of such a
ladder (m trained 200 steps, 0.77 tokens per parameter, beside the shipped l, 0.58):

    python benchmarks/toy_finetune_reach.py --out /tmp/fixed --size m --schedule-steps 200 --epochs 4 \
        --steps 20 40 60 80 100 120 140 160 180 200 --shipped-sizes l     # 2 + 16 minutes
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd
from toy_world import TASKS  # the sibling script's: each task's headline metric and chance

from emergence.config import SweepSpec
from emergence.forecast import fit_table
from emergence.harness.sweep import run_sweep
from emergence.ladder.toy.tokenizer import build_tokenizer
from emergence.ladder.toy.train import SIZES, train_size
from emergence.law import EmergenceLaw, backtest
from emergence.progress import progress_bar
from emergence.store import Store

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the checkpoints and the probe's store")
    ap.add_argument("--epochs", type=float, default=16.0)
    ap.add_argument("--method", choices=["full", "lora"], default="full")
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--steps", type=int, nargs="+", default=[25, 50, 75, 100, 125, 150])
    ap.add_argument("--size", default="xs", choices=[n for n in SIZES if n != "micro"])
    ap.add_argument("--schedule-steps", type=int, help="length of its schedule (default: the ladder's)")
    ap.add_argument("--shipped-sizes", nargs="+", help="add every row of these shipped sizes only")
    ap.add_argument("--shipped", default=str(ROOT / "data" / "demo" / "store.sqlite"))
    args = ap.parse_args()
    steps = args.schedule_steps or SIZES[args.size].steps
    if max(args.steps) > steps:
        ap.error(f"--steps go up to {max(args.steps)}, past the schedule's {steps} steps")
    return args


def train_probe(args: argparse.Namespace, out: Path) -> tuple[str, list[dict]]:
    """Train the probed size, saving the early steps asked for; its name and those checkpoints."""
    size = SIZES[args.size]
    name = size.name  # the ladder's own ids when its schedule is kept: the same weights
    if args.schedule_steps and args.schedule_steps != size.steps:
        size = dataclasses.replace(size, steps=args.schedule_steps)
        name = f"{size.name}{size.steps}"
    size = dataclasses.replace(size, save_fractions=tuple(s / size.steps for s in args.steps))
    records = train_size(size, out / name, build_tokenizer())
    checkpoints = [
        {
            "id": f"toy-s0-{name}-step{r['step']:06d}",
            "path": str(out / name / f"step-{r['step']:06d}"),
            "pretraining_loss": r["pretraining_loss"],
            "params": r["params"],
            "tokens": r["tokens"],
        }
        for r in records
        if r["step"] in args.steps
    ]
    return name, checkpoints


def sweep_probe(args: argparse.Namespace, out: Path, name: str, checkpoints: list[dict]) -> SweepSpec:
    """Sweep the probe's checkpoints with the recipe asked for; the sweep's spec."""
    spec = SweepSpec.from_dict(
        {
            "store": str(out / "reach.sqlite"),
            "ladder": {"name": f"toy-{name}-probe", "checkpoints": checkpoints},
            "tasks": list(TASKS),
            "data_amounts": [0, 32, 128, 512, 2048],
            "seeds": [0],
            "finetune": {
                "method": args.method,
                "learning_rate": args.learning_rate,
                "epochs": args.epochs,
                "batch_size": 16,
                "min_steps": 64,
                "prompt": "fewshot",
            },
            "eval": {"batch_size": 32},
            "executor": {"kind": "local", "workers": 2},
        }
    )
    with progress_bar("sweep", "job") as progress:
        print(run_sweep(spec, progress=progress).message())
    return spec


def print_backtests(args: argparse.Namespace, spec: SweepSpec) -> None:
    """Accuracy per checkpoint and data amount, and each backtest cutoff, on the probe's rows plus the
    shipped run's."""
    with Store(spec.store) as store:
        early = store.results()
    with Store(args.shipped, read_only=True) as store:
        shipped = store.results()
    if args.shipped_sizes:
        shipped = shipped[shipped["checkpoint"].str.split("-").str[2].isin(args.shipped_sizes)]
    else:
        shipped = shipped[(shipped["data_amount"] == 0) & ~shipped["checkpoint"].isin(early["checkpoint"])]
    results = pd.concat([shipped, early], ignore_index=True)
    for task, (metric, chance) in TASKS.items():
        table = fit_table(results, task, metric)
        mine = table[table["checkpoint"].isin(early["checkpoint"])]
        grid = mine.pivot_table(
            index=["checkpoint", "pretraining_loss"], columns="data_amount", values="accuracy"
        )
        print(
            f"\n== {task}: {metric} after {args.epochs:g} epochs (at least 64 steps), {args.method} at {args.learning_rate:g}\n{grid.round(3).to_string()}"
        )
        for link in ("sigmoid", "relu"):
            bt = backtest(table, EmergenceLaw(link=link, chance=chance))
            print(f"backtest ({link}): reference elbow {bt.reference_elbow:.3f}, first emerged at "
                  f"{bt.first_emerged_flops:.3g} FLOPs")  # fmt: skip
            for row in bt.cutoffs.itertuples():
                result = f"error {row.error:+.3f} nats" if row.note == "" else row.note
                print(f"  {row.n_checkpoints} checkpoints, advance {row.advance_factor:.2f}x: {result}")


def main() -> None:
    args = parse_args()
    out = Path(args.out).resolve()
    name, checkpoints = train_probe(args, out)
    print_backtests(args, sweep_probe(args, out, name, checkpoints))


if __name__ == "__main__":
    main()
