"""Does a built-in world show what the method needs? Prints the figures of its acceptance (never pass/fail).

    python benchmarks/toy_world.py [STORE]    # default: the shipped full run, data/demo/store.sqlite
    python benchmarks/toy_world.py --max-tokens-per-param 0.9   # a probe on part of the ladder (below)

Per built-in task found in the store (both worlds: arithmetic toy_sum_*, knowledge know_*) and its
headline metric, on the store's few-shot and finetuned results:
- like a real ladder: one sigmoid in pretraining loss fitted to every size's few-shot accuracies together
  (its RMSE, and each emerged size's midpoint with the shared width and ceiling), the same at the largest
  data amount; whether the smallest size ever leaves chance; the loss-vs-compute law over the ladder's
  compute frontier (its RMSE);
- few-shot emergence: the weaker third of checkpoints (by pretraining loss) against chance, and the
  strongest checkpoint;
- the finetuning shift: an elbow fitted at each data amount alone (few-shot included), and whether it
  rises with the amount;
- the forecast: the few-shot elbow predicted from the checkpoints still at chance few-shot (their
  finetuned and few-shot rows) against the elbow fitted on all few-shot results, in nats and as a share
  of the ladder's loss range; and the paper's backtest by FLOPs cutoff (error, advance factor).

--max-tokens-per-param R keeps only the checkpoints trained on at most R tokens per parameter: the ladder
a fixed budget per parameter would give (real ladders scale tokens with size; the toy ladder gives its
smallest size 30 tokens per parameter and its largest 0.6). A probe of what the backtest needs, made of
mid-schedule checkpoints, not a ladder trained that way (for that, see benchmarks/toy_finetune_reach.py
--size m --schedule-steps 200: it reaches no advance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from emergence.builtin import known_chance
from emergence.errors import EmergenceError
from emergence.forecast import fit_table
from emergence.law import ComputeLossLaw, EmergenceLaw, backtest, elbows_by_amount, forecast_before_emergence
from emergence.store import Store

ROOT = Path(__file__).resolve().parent.parent
LINKS = ("relu", "sigmoid")
TASKS = {"toy_sum_qa": "exact_match", "toy_sum_choice": "acc", "know_country_qa": "exact_match",
         "know_country_choice": "acc"}  # fmt: skip
"""Headline metric of each built-in task (their chance levels are in their YAMLs)."""


def size_of(checkpoint: pd.Series) -> pd.Series:
    return checkpoint.str.extract(r"-s\d+-([a-z]+)-step")[0]


def line_up(table, chance: float, amount: int) -> tuple[float, dict[str, float]]:
    """One sigmoid in loss over every size's accuracies at one data amount: its RMSE, and each emerged
    size's midpoint with the shared width and ceiling. Raises RuntimeError or ValueError when none fits."""
    t = table[table["data_amount"] == amount].groupby("checkpoint").agg(
        loss=("pretraining_loss", "first"), acc=("accuracy", "mean")).reset_index()  # fmt: skip
    t["size"] = size_of(t["checkpoint"])

    def curve(x, top, mid, width):
        return chance + (top - chance) / (1 + np.exp((x - mid) / width))

    (top, mid, width), _ = curve_fit(curve, t["loss"], t["acc"], p0=(0.9, t["loss"].median(), 0.05),
                                     bounds=([chance, 0, 1e-3], [1, 10, 1]))  # fmt: skip
    rmse = float(np.sqrt(np.mean((curve(t["loss"], top, mid, width) - t["acc"]) ** 2)))
    mids = {}
    for size, rows in t.groupby("size"):
        if rows["acc"].max() - chance > 0.05:  # a size that left chance
            (m,), _ = curve_fit(lambda x, m: curve(x, top, m, width), rows["loss"], rows["acc"], p0=(mid,))
            mids[size] = float(m)
    return rmse, mids


def print_line_up(table, chance: float, amount: int) -> None:
    try:
        rmse, mids = line_up(table, chance, amount)
    except (RuntimeError, ValueError) as exc:
        print(f"  D = {amount}: no sigmoid ({exc})")
        return
    spread = max(mids.values()) - min(mids.values()) if len(mids) > 1 else float("nan")
    print(f"  D = {amount}: one sigmoid over all sizes, RMSE {100 * rmse:.1f} points (target <= 5); emerged "
          f"sizes' midpoints " + ", ".join(f"{k} {v:.3f}" for k, v in mids.items())
          + f": spread {spread:.3f} nats (target <= 0.05)")  # fmt: skip


def like_a_ladder(table, chance: float) -> None:
    fewshot = table[table["data_amount"] == 0].assign(size=lambda d: size_of(d["checkpoint"]))
    smallest = fewshot.sort_values("params")["size"].iloc[0]
    top = fewshot.loc[fewshot["size"] == smallest, "accuracy"].max()
    print(f"like a real ladder: the smallest size ({smallest}) reaches {100 * (top - chance):+.1f} points over "
          "chance few-shot (never emerges: within 3)")  # fmt: skip
    print_line_up(table, chance, 0)
    print_line_up(table, chance, int(table["data_amount"].max()))
    ck = fewshot.groupby("checkpoint").agg(
        flops=("flops", "first"), pretraining_loss=("pretraining_loss", "first")
    )
    ck = ck.sort_values("flops")
    frontier = ck[ck["pretraining_loss"] <= ck["pretraining_loss"].cummin()].reset_index()
    try:
        law = ComputeLossLaw(n_boot=0).fit(frontier)
        print(f"  loss vs compute over the frontier ({len(frontier)} checkpoints): RMSE {law.rmse:.3f} nats "
              "(target <= 0.03)")  # fmt: skip
    except EmergenceError as exc:
        print(f"  loss vs compute over the frontier: no fit ({exc})")


def report(table, task: str, chance: float) -> None:
    fewshot = (
        table[table["data_amount"] == 0]
        .groupby("checkpoint")
        .agg(loss=("pretraining_loss", "first"), acc=("accuracy", "mean"), flops=("flops", "first"))
    )
    fewshot = fewshot.sort_values("loss", ascending=False)
    third = fewshot.iloc[: len(fewshot) // 3]
    gap = (third["acc"] - chance).abs().max()
    mean_gap = third["acc"].mean() - chance
    best = fewshot["acc"].max() - chance
    print(f"\n== {task} (chance {chance:g}); {len(fewshot)} checkpoints, loss {fewshot['loss'].min():.3f}"
          f"-{fewshot['loss'].max():.3f} nats")  # fmt: skip
    print(f"few-shot: weaker third (loss >= {third['loss'].min():.3f}) at most {100 * gap:.1f} points from "
          f"chance (target <= 3), {100 * mean_gap:+.1f} on average; strongest {100 * best:+.1f} points above "
          f"chance (target >= 30)")  # fmt: skip
    worst = (third["acc"] - chance).abs().sort_values(ascending=False).index[:3]
    print("  furthest from chance: " + ", ".join(
        f"{c} (loss {third.loc[c, 'loss']:.3f}) {third.loc[c, 'acc']:.3f}" for c in worst))  # fmt: skip
    like_a_ladder(table, chance)

    for link in LINKS:
        elbows = elbows_by_amount(table, link=link, chance=chance)
        tuned = elbows[elbows["data_amount"] > 0]
        monotone = bool(np.all(np.diff(tuned["elbow"].to_numpy()) > 0))
        span = tuned["data_amount"].max() / tuned["data_amount"].min() if len(tuned) else float("nan")
        print(f"elbow fitted at each data amount alone, {link} link (90% Wald interval); finetuned elbows "
              f"rise with D: {monotone} over {len(tuned)} amounts spanning {span:g}x")  # fmt: skip
        for row in elbows.itertuples():
            print(f"  D = {row.data_amount:>6g}: {row.elbow:.3f} [{row.lower:.3f}, {row.upper:.3f}]")

    for link in LINKS:
        law = EmergenceLaw(link=link, chance=chance)
        try:
            f = forecast_before_emergence(table, law)
            print(f"forecast ({link}) from the {f['n_checkpoints']} checkpoints still at chance few-shot: elbow "
                  f"{f['predicted_elbow']:.3f} [{f['lower']:.3f}, {f['upper']:.3f}] vs {f['reference_elbow']:.3f} "
                  f"fitted on all few-shot results: error {f['error']:+.3f} nats (target within 0.1), "
                  f"{100 * abs(f['error']) / f['loss_range']:.1f}% of the loss range (target within 15%)")  # fmt: skip
        except EmergenceError as exc:
            print(f"forecast ({link}) from the checkpoints still at chance few-shot: none ({exc})")
        try:
            bt = backtest(table, law)
            print(f"backtest ({link}) by FLOPs cutoff: first emerged checkpoint at {bt.first_emerged_flops:.3g} "
                  f"FLOPs; {len(bt.cutoffs)} cutoffs")  # fmt: skip
            for row in bt.cutoffs.itertuples():
                print(f"  cutoff {row.cutoff_flops:.3g} ({row.n_checkpoints} checkpoints, advance "
                      f"{row.advance_factor:.2f}x): error {row.error:+.3f} {row.note}")  # fmt: skip
            best = "none" if np.isnan(bt.advance_factor) else f"{bt.advance_factor:.2f}x"
            print(f"  largest advance factor among successes: {best} (target >= 4)")
        except EmergenceError as exc:
            print(f"backtest ({link}): {exc}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", default=str(ROOT / "data" / "demo" / "store.sqlite"))
    ap.add_argument(
        "--max-tokens-per-param", type=float, metavar="R", help="keep checkpoints with tokens <= R x params"
    )
    args = ap.parse_args()
    with Store(args.store, read_only=True) as store:
        results = store.results()
    if args.max_tokens_per_param is not None:
        results = results[results["tokens"] <= args.max_tokens_per_param * results["params"]]
        kept = results.groupby(results["checkpoint"].str.rsplit("-", n=1).str[0])["checkpoint"].nunique()
        print(f"checkpoints with at most {args.max_tokens_per_param:g} tokens per parameter: "
              + ", ".join(f"{size} {n}" for size, n in kept.items()))  # fmt: skip
    for task, metric in TASKS.items():
        if task not in set(results["task"]):
            continue
        table = fit_table(results, task, metric)
        report(table, task, known_chance(task))


if __name__ == "__main__":
    main()
