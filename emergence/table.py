"""The results table, the currency between stages: its columns and the one validator of its rows.

Ingest, the store and the law engine all check rows here, so a row is either good everywhere or refused
everywhere, with the same one-line reason: ``<source>: <row>: <column> <what is wrong> (got <value>)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError

REQUIRED = (
    "task",
    "metric",
    "checkpoint",
    "pretraining_loss",
    "data_amount",
    "seed",
    "accuracy",
    "n_examples",
)
OPTIONAL = ("family", "run", "step", "params", "tokens", "flops", "stderr")
CHECKPOINT_VALUES = ("pretraining_loss", "params", "tokens", "flops")
"""What a checkpoint is measured by: a known checkpoint may not change them silently."""
MAX_COUNT = 2**62
LOSS_METRICS = ("bpb", "bits_per_byte", "nll", "loss")
"""Metrics that are losses, not accuracies: their values are any number >= 0 (e.g. a task's bits per byte)."""


def is_loss_metric(metric: str) -> bool:
    """Whether a metric is a loss (lower is better, not bounded by 1) rather than an accuracy."""
    return str(metric).split(",")[0] in LOSS_METRICS


def _whole(v: pd.Series, low: float) -> pd.Series:
    return (v >= low) & (v == np.round(v)) & (v < MAX_COUNT)


# column -> (test on the numeric values, what the value must be); NaN (missing) is tested separately
RULES = {
    "accuracy": (lambda v: (v >= 0) & (v <= 1), "must be a fraction within [0, 1], not a percentage"),
    "n_examples": (lambda v: _whole(v, 1), "must be a whole number >= 1"),
    "data_amount": (lambda v: _whole(v, 0), "must be a whole number >= 0 (0 = few-shot)"),
    "seed": (lambda v: (v == np.round(v)) & (np.abs(v) < MAX_COUNT), "must be a whole number"),
    "step": (lambda v: _whole(v, 0), "must be a whole number >= 0"),
    "pretraining_loss": (lambda v: v > 0, "must be a positive number of nats"),
    "params": (lambda v: v > 0, "must be a number > 0"),
    "tokens": (lambda v: v >= 0, "must be a number >= 0"),
    "flops": (lambda v: v >= 0, "must be a number >= 0"),
    "stderr": (lambda v: v >= 0, "must be a number >= 0"),
}
TEXT = ("task", "metric", "checkpoint")


def validate_results(
    rows: pd.DataFrame,
    source: str = "table",
    *,
    required: Iterable[str] = REQUIRED,
    require_loss: bool = False,
    unique: bool = True,
) -> pd.DataFrame:
    """Check a results table and return a clean copy (numbers as floats, names as text).

    Args:
        rows: one row per checkpoint x task x metric x data amount x seed; optional columns
            ``source_file`` and ``row_label`` name each row in messages.
        source: what the rows came from, for messages.
        required: the columns that must be present (and, except pretraining_loss, filled).
        require_loss: every row needs a pretraining loss (the law fits only those).
        unique: refuse two rows of the same run and metric.

    Raises:
        EmergenceError: one line naming the source, the row and the column at fault.
    """
    if not isinstance(rows, pd.DataFrame):
        raise EmergenceError(f"{source}: expected a table (pandas DataFrame), got {type(rows).__name__}")
    required = tuple(required)
    missing = [c for c in required if c not in rows.columns]
    if missing:
        raise EmergenceError(
            f"{source}: missing column(s) {', '.join(missing)}; it needs {', '.join(required)}"
        )
    if rows.empty:
        raise EmergenceError(f"{source}: the table has no rows")
    rows = rows.reset_index(drop=True).copy()
    labels = rows["row_label"] if "row_label" in rows.columns else [f"row {i + 1}" for i in range(len(rows))]
    files = rows["source_file"] if "source_file" in rows.columns else [source] * len(rows)

    def bad(i: int, column: str, why: str) -> EmergenceError:
        got = rows.at[i, column]
        if isinstance(got, str):
            with contextlib.suppress(ValueError):
                got = float(got)
        elif isinstance(got, int | float | np.integer | np.floating) and not isinstance(got, bool):
            got = float(got)
        return EmergenceError(f"{files[i]}: {labels[i]}: {column} {why} (got {got!r})")

    for column in TEXT:
        if column in rows.columns:
            for i, value in rows[column].items():
                if not isinstance(value, str) or not value.strip():
                    raise bad(int(i), column, "must be a non-empty name")
    needed = {c for c in required if c not in TEXT and c != "pretraining_loss"}
    if require_loss:
        needed.add("pretraining_loss")
    for column, (ok, why) in RULES.items():
        if column not in rows.columns:
            continue
        values = pd.to_numeric(rows[column], errors="coerce").astype(float)
        given = rows[column].notna().to_numpy()
        for i in np.flatnonzero(values.isna().to_numpy() & given):
            raise bad(int(i), column, "is non-numeric text")
        for i in np.flatnonzero(np.isinf(values.to_numpy())):
            raise bad(int(i), column, "is infinite; give a finite number")
        if column in needed:
            for i in np.flatnonzero(values.isna().to_numpy()):
                raise bad(int(i), column, "is missing")
        passes = values.isna() | ok(values)
        if column == "accuracy" and "metric" in rows.columns:  # a loss metric's value is any number >= 0
            losses = rows["metric"].map(is_loss_metric).to_numpy(dtype=bool)
            passes = passes.where(~losses, values.isna() | (values >= 0))
        failing = np.flatnonzero(~passes.to_numpy(dtype=bool))
        if len(failing):
            raise bad(int(failing[0]), column, why)
        rows[column] = values
    for column in ("family", "run"):
        if column in rows.columns:
            rows[column] = rows[column].map(lambda v: None if v is None or v != v else str(v))
    rows["checkpoint"] = rows["checkpoint"].astype(str)
    key = [c for c in ("checkpoint", "task", "metric", "data_amount", "seed") if c in rows.columns]
    duplicated = rows.duplicated(key, keep=False) if unique else pd.Series(False, index=rows.index)
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        what = ", ".join(f"{k}={rows.at[i, k]}" for k in key)
        raise EmergenceError(f"{source}: two rows for the same run and metric ({what}); keep one")
    per_checkpoint = [c for c in (*CHECKPOINT_VALUES, "family", "run", "step") if c in rows.columns]
    spread = rows.groupby("checkpoint")[per_checkpoint].nunique(dropna=True)
    if (spread > 1).any(axis=None):
        name = spread.index[(spread > 1).any(axis=1)][0]
        column = spread.columns[(spread.loc[name] > 1).to_numpy()][0]
        raise EmergenceError(
            f"{source}: checkpoint {name} has different values of {column} in different rows; give each "
            f"checkpoint one {'loss' if column == 'pretraining_loss' else column}"
        )
    return rows


def checkpoint_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint of a validated results table: its first non-missing values."""
    columns = [c for c in ("family", "run", "step", *CHECKPOINT_VALUES) if c in rows.columns]
    return rows.groupby("checkpoint", sort=False)[columns].first().reset_index()


def same_value(old: Any, new: Any) -> bool:
    """Two stored measurements agree: equal up to float round-off (a loss measured again in another
    precision is a new measurement, not the same one)."""
    return bool(np.isclose(float(old), float(new), rtol=1e-9, atol=0.0))
