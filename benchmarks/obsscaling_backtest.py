"""Forecasts on a compute axis with no loss: models below 1e22 FLOPs predict the larger ones (prints figures).

    python benchmarks/obsscaling_backtest.py OBSSCALING_REPO/eval_results [--boot 200]

Data: ObsScaling's published evaluations (ryoungj/ObsScaling, eval_results/): base models of many
families with their parameters, pretraining tokens and FLOPs, and their scores on GSM8K
(base_llm_benchmark_eval.csv) and on BIG-Bench arithmetic (base_llm_emergent_capability_eval.csv). No
pretraining loss is known, so the forecast runs on compute alone: the product's chain (`emergence
forecast` on such a store), each model its own run, bands of compute standing in for a ladder's sizes.
Fit: the models below 1e22 FLOPs; forecast: every larger model with known FLOPs. Prints, per task, the
mean absolute error in points, the share of actuals inside the 90% intervals, and beside them the error of
predicting every larger model at the fit set's mean.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.forecast import Budget, FitOptions, fit_table, forecast_table

CUTOFF = 1e22
TASKS = {  # task: (file, column, examples per evaluation)
    "gsm8k": ("base_llm_benchmark_eval.csv", "GSM8K", 1319),
    "arithmetic_3da": ("base_llm_emergent_capability_eval.csv", "arithmetic_3da_2_acc", 2000),
    "arithmetic_2dm": ("base_llm_emergent_capability_eval.csv", "arithmetic_2dm_2_acc", 2000),
}


def results(folder: Path, task: str) -> pd.DataFrame:
    """One task's scores as the results table (each model a checkpoint and a run of its own)."""
    models = pd.read_csv(folder / "base_llm_benchmark_eval.csv")
    file, column, n = TASKS[task]
    scores = pd.read_csv(folder / file)[["Model", column]].rename(columns={column: "accuracy"})
    t = models[
        ["Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)"]
    ].merge(scores)
    t = t.dropna()
    return pd.DataFrame({
        "task": task, "metric": "acc", "checkpoint": t["Model"], "run": t["Model"], "family": t["Model Family"],
        "params": t["Model Size (B)"] * 1e9, "tokens": t["Pretraining Data Size (T)"] * 1e12,
        "flops": t["FLOPs (1E21)"] * 1e21, "pretraining_loss": np.nan, "data_amount": 0, "seed": 0,
        "accuracy": t["accuracy"].clip(0, 1), "n_examples": n, "run_id": t["Model"],
    }).reset_index(drop=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("eval_results", type=Path, help="ObsScaling's eval_results folder")
    parser.add_argument("--boot", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for task in TASKS:
        table = results(args.eval_results, task)
        fit = fit_table(table[table["flops"] < CUTOFF], task, "acc")
        targets = table[table["flops"] >= CUTOFF].reset_index(drop=True)
        budgets = [
            Budget(params=p, tokens=d) for p, d in zip(targets["params"], targets["tokens"], strict=True)
        ]
        doc, _ = forecast_table(fit, budgets, FitOptions(n_boot=args.boot))
        predicted = pd.DataFrame([b["accuracy"] for b in doc["budgets"]])
        error = 100 * (predicted["estimate"] - targets["accuracy"])
        covered = (predicted["lower"] <= targets["accuracy"]) & (targets["accuracy"] <= predicted["upper"])
        constant = 100 * (fit["accuracy"].mean() - targets["accuracy"])
        chain = doc.get("chain") or {}
        rows.append({
            "task": task, "fitted": len(fit), "forecast": len(targets), "method": doc["method"],
            "chain": chain.get("chosen"), "MAE": error.abs().mean(), "covered": covered.mean(),
            "median width": 100 * (predicted["upper"] - predicted["lower"]).median(),
            "MAE of the fit set's mean": constant.abs().mean(),
        })  # fmt: skip
    print(f"fit: models below {CUTOFF:.0e} FLOPs; forecast: every larger one (accuracy points)")
    print(pd.DataFrame(rows).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
