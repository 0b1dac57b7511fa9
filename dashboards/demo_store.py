"""A store of simulated results, for the dashboard's tests, its speed benchmark and its screenshots.

Every task is observed on one shared ladder of checkpoints; each has its own emergence law drawn from the
regime of practice (emergence.law.simulate), few-shot results for every checkpoint (so backtests run), and
optionally a few failed and pending jobs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from emergence import forecast
from emergence.law.simulate import draw_law, simulate_table
from emergence.store import Store

TASKS = ("arith_sum", "copy_span", "bracket_match", "word_sort")


def simulated_rows(
    tasks: tuple[str, ...] = TASKS, *, n_checkpoints: int = 8, seeds: int = 2, seed: int = 0
) -> pd.DataFrame:
    """The tidy results table of ``tasks`` on one simulated ladder."""
    rng = np.random.default_rng(seed)
    ladder = draw_law(rng, n_checkpoints=n_checkpoints)
    lmin = min(ladder.losses)
    frames = []
    for i, task in enumerate(tasks):
        law = draw_law(rng, link=("relu", "softplus", "sigmoid")[i % 3], n_checkpoints=n_checkpoints)
        # move the task's law onto the shared ladder, keeping where its elbow sits relative to the ladder
        params = dict(law.params, elbow_d0=law.params["elbow_d0"] - min(law.losses) + lmin)
        law = dataclasses.replace(law, losses=ladder.losses, params=params)
        t = simulate_table(law, rng, seeds=seeds, fewshot="all")
        t["task"] = task
        frames.append(t)
    t = pd.concat(frames, ignore_index=True)
    t["checkpoint"] = "sim-" + t["checkpoint"].str.removeprefix("ckpt-").str.zfill(2)
    t["metric"] = "acc"
    t["family"] = "sim"
    t["step"] = t["checkpoint"].str.removeprefix("sim-").astype(int)
    t["params"] = np.sqrt(t["flops"] / 120.0)  # Chinchilla-style: tokens = 20 params, C = 6 N T
    t["tokens"] = 20.0 * t["params"]
    t["stderr"] = np.sqrt(t["accuracy"] * (1 - t["accuracy"]) / t["n_examples"])
    return t


def build_store(
    path: str | Path,
    tasks: tuple[str, ...] = TASKS,
    *,
    n_checkpoints: int = 8,
    seeds: int = 2,
    failed: int = 3,
    pending: int = 2,
    seed: int = 0,
    forecasts: int = 0,
    n_boot: int = 20,
) -> dict:
    """Write simulated results of ``tasks`` (plus ``failed`` failed and ``pending`` pending jobs) to a store,
    and forecast documents (emergence.forecast, ``n_boot`` resamples) for the first ``forecasts`` tasks."""
    rows = simulated_rows(tasks, n_checkpoints=n_checkpoints, seeds=seeds, seed=seed)
    with Store(path) as store:
        summary = store.add_results(rows, fmt="tidy", source="simulated")
        extra = []
        reasons = ["CUDA out of memory while finetuning", "lm-eval: task data file missing"]
        for i in range(failed + pending):
            task = tasks[i % len(tasks)]
            run_id = hashlib.sha256(f"{path}:{task}:{i}".encode()).hexdigest()[:16]
            extra.append(
                dict(
                    run_id=run_id,
                    checkpoint_id=rows["checkpoint"].iloc[-1],
                    task=task,
                    data_amount=16384,
                    seed=i,
                    method="full",
                    spec={"task": task, "i": i},
                )
            )
        store.add_runs(extra)
        for i, run in enumerate(extra[:failed]):
            store.claim_run(run["run_id"], "worker-0")
            store.fail_run(run["run_id"], reasons[i % len(reasons)])
        top = float(rows["flops"].max())
        budgets = [forecast.Budget(flops=top * f, label=f"{f:g}x largest") for f in (1, 4, 16)]
        options = forecast.FitOptions(n_boot=n_boot, d0_values=(1.0, 4.0))
        for task in tasks[:forecasts]:
            forecast.forecast(store, task, "acc", budgets, options, command="dashboards/demo_store.py")
    return summary
