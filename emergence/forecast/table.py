"""Which rows a forecast fits: one benchmark's results with a pretraining loss, its checkpoints, its hash."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError

FITTED_COLUMNS = ("checkpoint", "pretraining_loss", "data_amount", "seed", "accuracy", "n_examples")
HEADLINE_METRICS = ("acc", "acc_norm", "exact_match", "len_norm")
"""A task's metric taken when none is named, in this order."""


def fit_table(results: pd.DataFrame, task: str | None = None, metric: str | None = None) -> pd.DataFrame:
    """The rows of `Store.results()` the laws can fit: one (task, metric), with a pretraining loss or with
    params and tokens (the chain can run on compute alone).

    Raises:
        EmergenceError: when nothing is left, or the table mixes several tasks or metrics.
    """
    t = results
    if task is not None:
        t = t[t["task"] == task]
    if metric is not None:
        t = t[t["metric"] == metric]
    if t.empty:
        raise EmergenceError(
            f"no finished results for task {task!r}, metric {metric!r}; see `emergence store info`"
        )
    for column in ("task", "metric"):
        if column in t.columns and t[column].nunique() > 1:
            raise EmergenceError(
                f"the results hold several {column}s ({', '.join(sorted(map(str, t[column].unique()))[:5])}); "
                f"choose one with --{column}"
            )
    sized = (
        pd.to_numeric(t["params"], errors="coerce").notna()
        & pd.to_numeric(t["tokens"], errors="coerce").notna()
    )
    t = t[pd.to_numeric(t["pretraining_loss"], errors="coerce").notna() | sized]
    if t.empty:
        raise EmergenceError(
            f"no checkpoint of task {task!r} has a pretraining loss, or params and tokens; give them first"
        )
    return t.reset_index(drop=True)


def with_loss(table: pd.DataFrame) -> pd.DataFrame:
    """The rows with a pretraining loss (what the emergence law fits)."""
    t = table[pd.to_numeric(table["pretraining_loss"], errors="coerce").notna()]
    if t.empty:
        raise EmergenceError(
            "no checkpoint has a pretraining loss; the emergence law needs one (give or measure it)"
        )
    return t.reset_index(drop=True)


def data_hash(table: pd.DataFrame) -> str:
    """A hash of the fitted data: the sorted rows of the fitted columns (and flops/params/tokens)."""
    columns = [c for c in (*FITTED_COLUMNS, "flops", "params", "tokens") if c in table.columns]
    rows = table[columns].astype(str).sort_values(columns).to_csv(index=False)
    return "sha256:" + hashlib.sha256(rows.encode()).hexdigest()


def task_pairs(results: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (task, metric) in a results table, sorted."""
    return sorted({(str(a), str(b)) for a, b in zip(results["task"], results["metric"], strict=True)})


def matching_pairs(results: pd.DataFrame, task: str | None, metric: str | None) -> list[tuple[str, str]]:
    """The (task, metric) pairs that task and metric (None: any) select; none is an error listing the choices."""
    pairs = [
        p
        for p in task_pairs(results)
        if (task is None or p[0] == task) and (metric is None or p[1] == metric)
    ]
    if not pairs and results.empty:
        raise EmergenceError(
            "the store has no finished results yet: run `emergence sweep` or `emergence ingest`"
        )
    if not pairs:
        known = ", ".join(f"{t}/{m}" for t, m in task_pairs(results)[:8])
        raise EmergenceError(
            f"no finished results for task {task!r}, metric {metric!r}; the store has: {known}"
        )
    return pairs


def choose_pair(results: pd.DataFrame, task: str | None, metric: str | None) -> tuple[str, str]:
    """The (task, metric) meant: as given, or the only one in the results; an error lists the choices."""
    pairs = matching_pairs(results, task, metric)
    if len(pairs) == 1:
        return pairs[0]
    metrics = sorted({m for _, m in pairs})
    tasks = sorted({t for t, _ in pairs})
    if len(tasks) == 1:
        preferred = next((m for m in HEADLINE_METRICS if m in metrics), None)
        if preferred and metric is None:
            return tasks[0], preferred
        raise EmergenceError(
            f"task {tasks[0]} has several metrics ({', '.join(metrics)}); choose one with --metric"
        )
    raise EmergenceError(f"the store has several tasks ({', '.join(tasks[:8])}); choose one with --task")


def checkpoint_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint (pretraining_loss, params, tokens, flops); FLOPs default to 6 N T."""
    columns = [c for c in ("pretraining_loss", "params", "tokens", "flops") if c in table.columns]
    ck = table.groupby("checkpoint", sort=False)[columns].first().reset_index()
    for column in ("params", "tokens", "flops"):
        if column not in ck.columns:
            ck[column] = np.nan
        ck[column] = pd.to_numeric(ck[column], errors="coerce").astype(float)
    missing = ck["flops"].isna() & ck["params"].notna() & ck["tokens"].notna()
    ck.loc[missing, "flops"] = 6.0 * ck.loc[missing, "params"] * ck.loc[missing, "tokens"]
    return ck


def with_flops(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every row's FLOPs filled (6 N T where only params and tokens are known)."""
    flops = checkpoint_table(table).set_index("checkpoint")["flops"]
    return table.assign(flops=table["checkpoint"].map(flops))
