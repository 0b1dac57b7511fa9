"""Tidy CSVs: the columns of `Store.results()`, one row per checkpoint x task x metric x amount x seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emergence.errors import EmergenceError
from emergence.files import csv_text, read_csv
from emergence.table import OPTIONAL, REQUIRED


def read_tidy(path: str | Path) -> pd.DataFrame:
    """Rows of a tidy CSV. Required: task, metric, checkpoint, pretraining_loss, data_amount, seed,
    accuracy, n_examples; optional: family, step, params, tokens, flops, stderr (method and run_id are
    ignored: rows become "ingested" runs)."""
    path = Path(path)
    frame = read_csv(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise EmergenceError(
            f"{path}: missing column(s) {', '.join(missing)}; a tidy CSV needs {', '.join(REQUIRED)}"
        )
    frame = frame[[c for c in (*REQUIRED, *OPTIONAL) if c in frame.columns]].copy()
    frame["source_file"] = str(path)
    frame["row_label"] = [f"line {i + 2}" for i in range(len(frame))]
    return frame


def tidy_csv(results: pd.DataFrame) -> str:
    """A results table (as `Store.results()` returns it) as tidy CSV text that `read_tidy` reads back."""
    return csv_text(results[[c for c in (*REQUIRED, *OPTIONAL) if c in results.columns]])


def write_tidy(results: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table as a tidy CSV file (see `tidy_csv`)."""
    path = Path(path)
    try:
        path.write_text(tidy_csv(results))
    except OSError as exc:
        raise EmergenceError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
