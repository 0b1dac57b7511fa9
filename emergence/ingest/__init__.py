"""Existing results into the store: lm-eval output folders, OLMo-style ladder CSVs, and tidy CSVs.

Each reader turns files into the results table (emergence.table); the store checks it and writes it in
one transaction (`Store.add_results`), so bad input stores nothing. Read first, then open the store: a
file that is refused never leaves a store behind.

Formats: ``lmeval`` (emergence.ingest.lmeval), ``olmo`` (emergence.ingest.olmo), ``tidy``
(emergence.ingest.tidy).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pandas as pd

from emergence.errors import EmergenceError
from emergence.files import read_text
from emergence.ingest.lmeval import read_lmeval
from emergence.ingest.olmo import STEP as OLMO_STEP
from emergence.ingest.olmo import read_olmo
from emergence.ingest.tidy import read_tidy, tidy_csv, write_tidy
from emergence.table import validate_results

FORMATS = ("lmeval", "olmo", "tidy")
READERS = {"lmeval": read_lmeval, "olmo": read_olmo, "tidy": read_tidy}
__all__ = ["FORMATS", "detect_format", "ingest", "read_results", "read_tidy", "tidy_csv", "write_tidy"]


def detect_format(path: str | Path) -> str:
    """Guess the format of ``path``: lmeval (results JSON or its folder), olmo or tidy (CSV)."""
    path = Path(path)
    if not path.exists():
        raise EmergenceError(f"no such file or folder: {path}")
    if path.is_dir():
        if any(path.glob("results_*.json")) or any(path.glob("*/results_*.json")):
            return "lmeval"
        csvs = sorted(path.glob("*.csv"))
        if csvs:
            return detect_format(csvs[0])
        raise EmergenceError(f"{path}: no lm-eval results_*.json or *.csv files; give --format")
    if path.suffix.lower() == ".json":
        return "lmeval"
    if path.suffix.lower() == ".csv":
        header = read_text(path).partition("\n")[0]
        return "olmo" if OLMO_STEP in header and "eval/" in header else "tidy"
    raise EmergenceError(f"{path}: cannot tell its format from the name; give --format lmeval|olmo|tidy")


def read_results(path: str | Path, fmt: str | None = None, **options: Any) -> tuple[str, pd.DataFrame]:
    """Read and check ``path`` in format ``fmt`` (detected when None): (format, results table).

    Options by format: lmeval ``models``; olmo ``params_map``, ``loss_column``, ``n_examples``,
    ``warmup_fraction``, ``tasks``. Nothing is stored. What a reader assumed (e.g. example counts it took
    from split sizes) is in ``rows.attrs["notes"]``.
    """
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise EmergenceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reader = READERS[fmt]
    options = {k: v for k, v in options.items() if v is not None}
    allowed = set(inspect.signature(reader).parameters) - {"path"}
    wrong = sorted(set(options) - allowed)
    if wrong:
        raise EmergenceError(
            f"option {wrong[0]} does not apply to the {fmt} format (it takes {', '.join(sorted(allowed)) or 'none'})"
        )
    rows = reader(path, **options)
    notes = rows.attrs.get("notes", [])
    rows = validate_results(rows, str(path))
    rows.attrs["notes"] = notes
    return fmt, rows


def ingest(
    store, path: str | Path, fmt: str | None = None, *, replace_checkpoints: bool = False, **options: Any
) -> dict:
    """Read results at ``path`` and store them in one transaction; returns `Store.add_results`'s summary."""
    fmt, rows = read_results(path, fmt, **options)
    return store.add_results(rows, fmt=fmt, source=str(path), replace_checkpoints=replace_checkpoints)
