"""Rung-out backtest on AI2's OLMo ladder logs: how well each method forecasts a larger rung (prints figures).

    python benchmarks/olmo_ladder_backtest.py ../shared/data/olmo-ladder [--boot 200] [--methods default,law]

The logs are ingested as a user would (`emergence ingest --format olmo` into a temporary store: 190M,
370M, 760M, 1B, each at 0.5x-10x Chinchilla tokens plus a 1x rerun). For each protocol the forecaster
sees only the smaller rungs' runs:
  A: fit 190M + 370M -> predict every run of 760M and of 1B;
  B: fit 190M + 370M + 760M -> predict every run of 1B.
A run's actual value is the mean of its last 5 evaluations; the forecast is made at its final params and
tokens. Eight tasks, 5-shot ranked classification, len_norm: MMLU (its four test categories averaged,
weighted by their examples), HellaSwag, ARC-Challenge, ARC-Easy, PIQA, CSQA, SocialIQA, OpenBookQA.

Methods: "default" is what `emergence forecast` does (the chain chosen by its backtest on the fit rungs,
its interval calibrated there); each candidate chain alone (corpus loss; corpus loss with a fitted
ceiling; the task's own loss; compute); and "law", the emergence law's sigmoid fitted in loss with the
loss laws of every checkpoint (this product's forecast before the chain). Per method and held-out rung:
the mean absolute error in accuracy points and the share of actuals inside the 90% intervals.
Nothing is copied: the store is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.forecast import Budget, FitOptions, fit_table, forecast_table
from emergence.forecast.chain import CANDIDATES, forecast_chain, ladder_from, run_of
from emergence.ingest import ingest
from emergence.store import Store

TASKS = {
    "MMLU": "mmlu_test_rc_5shot", "HellaSwag": "hellaswag_val_rc_5shot", "ARC-Challenge": "arc_challenge_test_rc_5shot",
    "ARC-Easy": "arc_easy_test_rc_5shot", "PIQA": "piqa_val_rc_5shot", "CSQA": "csqa_val_rc_5shot",
    "SocialIQA": "socialiqa_val_rc_5shot", "OpenBookQA": "openbookqa_test_rc_5shot",
}  # fmt: skip
PROTOCOLS = {"A": (("190M", "370M"), ("760M", "1B")), "B": (("190M", "370M", "760M"), ("1B",))}
METHODS = ("default", *CANDIDATES, "law")


def actuals(table: pd.DataFrame, sizes: tuple[str, ...]) -> pd.DataFrame:
    """Per run of the given sizes: its final params and tokens, and the mean of its last 5 evaluations."""
    t = table[table["family"].isin(sizes)].assign(run=lambda d: run_of(d)).sort_values("step")
    return t.groupby("run").agg(
        size=("family", "first"), params=("params", "first"), tokens=("tokens", "max"),
        actual=("accuracy", lambda a: a.tail(5).mean()),
    ).reset_index()  # fmt: skip


def predict(
    method: str, fit: pd.DataFrame, losses: pd.DataFrame, targets: pd.DataFrame, boot: int
) -> pd.DataFrame:
    """(mean, lower, upper) at each target run's (params, tokens) by one method."""
    if method == "law":
        budgets = [
            Budget(params=p, tokens=d) for p, d in zip(targets["params"], targets["tokens"], strict=True)
        ]
        options = FitOptions(method="law", link="sigmoid", n_boot=boot, backtest=False, d0_values=())
        doc, _ = forecast_table(fit, budgets, options)
        if not doc["budgets"]:
            return pd.DataFrame({"mean": np.nan, "lower": np.nan, "upper": np.nan}, index=range(len(targets)))
        return pd.DataFrame([b["accuracy"] for b in doc["budgets"]]).rename(columns={"estimate": "mean"})
    chain = forecast_chain(
        ladder_from(fit, losses), n_boot=boot, candidates=None if method == "default" else [method]
    )
    return chain.accuracy(targets["params"], targets["tokens"]).assign(chosen=chain.name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "ladder", type=Path, help="the folder of OLMo ladder CSVs (../shared/data/olmo-ladder)"
    )
    parser.add_argument("--boot", type=int, default=200, help="bootstrap resamples of runs per fit")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated, of: " + ", ".join(METHODS)
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "olmo.sqlite") as store:
        started = time.perf_counter()
        ingest(store, args.ladder, "olmo")
        results = store.results()
        print(f"ingested {len(results):,} results in {time.perf_counter() - started:.0f} s")
    rows, seconds = [], {}
    for name, task in TASKS.items():
        table = fit_table(results, task, "len_norm")
        losses = results[(results["task"] == task) & (results["metric"] == "bpb")]
        for protocol, (fitted, held_out) in PROTOCOLS.items():
            fit = table[table["family"].isin(fitted)].reset_index(drop=True)
            fit_losses = losses[losses["family"].isin(fitted)]
            targets = actuals(table, held_out)
            for method in methods:
                started = time.perf_counter()
                pred = predict(method, fit, fit_losses, targets, args.boot)
                seconds.setdefault(method, []).append(time.perf_counter() - started)
                for i, target in targets.iterrows():
                    rows.append({"task": name, "protocol": protocol, "method": method, "size": target["size"],
                                 "actual": target["actual"], **pred.iloc[i].to_dict()})  # fmt: skip
    df = pd.DataFrame(rows)
    df["error"] = 100 * (df["mean"] - df["actual"])
    df["covered"] = (df["lower"] <= df["actual"]) & (df["actual"] <= df["upper"])
    df["width"] = 100 * (df["upper"] - df["lower"])
    print("\nMean absolute error (points) / share of actuals inside the 90% intervals, per held-out rung:")
    summary = df.groupby(["method", "protocol", "size"], sort=False).agg(
        mae=("error", lambda e: e.abs().mean()), covered=("covered", "mean"), median_width=("width", "median"),
        targets=("error", "size"),
    )  # fmt: skip
    print(summary.round(3).to_string())
    print("\nAll rung-out targets (A and B):")
    overall = df.groupby("method", sort=False).agg(
        mae=("error", lambda e: e.abs().mean()), covered=("covered", "mean")
    )
    overall["seconds per forecast"] = [np.mean(seconds[m]) for m in overall.index]
    print(overall.round(3).to_string())
    if "default" in methods:
        per_task = df[df["method"] == "default"].groupby(["task", "protocol"], sort=False).agg(
            chosen=("chosen", "first"), mae=("error", lambda e: e.abs().mean()), covered=("covered", "mean")
        )  # fmt: skip
        print("\nThe default per task:\n" + per_task.round(3).to_string())


if __name__ == "__main__":
    main()
