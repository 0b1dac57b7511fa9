"""OLMo-style ladder logs: the training-log CSVs of AI2's model ladder, one file per training run.

Files are named ``<size>-<mult>xC[-rerun].csv``, one row per evaluated step, with columns ``_step``,
``throughput/total_tokens``, ``throughput/total_training_Gflops``, ``eval/c4_en-validation/CrossEntropyLoss``
and ``eval/downstream/<task>_{len_norm,acc}``. Each row is a checkpoint ``<run>@<step>`` whose 5-shot
accuracies are few-shot runs. Parameter counts come from a params map (``params.json`` beside the files,
or given), keyed by size. Steps before ``warmup_fraction`` of a run are warm-up noise and are skipped.
The logs do not record the number of examples per task: each task's split size (SPLIT_SIZES) unless given,
else 1000. Each task's own loss (``eval/downstream_bpb/<task>_bpb``, bits per byte of the correct answer)
is read too, as metric "bpb", and MMLU's test categories are averaged into one benchmark (AGGREGATES).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.files import read_csv
from emergence.ingest.maps import number, read_mapping

STEP = "_step"
TOKENS = "throughput/total_tokens"
GFLOPS = "throughput/total_training_Gflops"
LOSS = "eval/c4_en-validation/CrossEntropyLoss"
ACCURACY = re.compile(r"^eval/downstream/(?P<task>.+)_(?P<metric>len_norm|acc)$")
TASK_LOSS = re.compile(r"^eval/downstream_bpb/(?P<task>.+)_(?P<metric>bpb)$")
DEFAULT_N = 1000
SPLIT_SIZES = {
    "hellaswag_val_rc_5shot": 10042, "arc_easy_test_rc_5shot": 2376, "arc_easy_val_rc_5shot": 570,
    "arc_challenge_test_rc_5shot": 1172, "arc_challenge_val_rc_5shot": 299, "boolq_val_rc_5shot": 3270,
    "csqa_val_rc_5shot": 1221, "openbookqa_test_rc_5shot": 500, "openbookqa_val_rc_5shot": 500,
    "piqa_val_rc_5shot": 1838, "socialiqa_val_rc_5shot": 1954, "winogrande_val_rc_5shot": 1267,
    "mmlu_stem_test_rc_5shot": 3018, "mmlu_humanities_test_rc_5shot": 4705,
    "mmlu_social_sciences_test_rc_5shot": 3077, "mmlu_other_test_rc_5shot": 3242,
}  # fmt: skip
"""Examples in each ladder task's split (the datasets' published sizes): the logs do not record them."""
AGGREGATES = {
    "mmlu_test_rc_5shot": ("mmlu_stem_test_rc_5shot", "mmlu_humanities_test_rc_5shot",
                           "mmlu_social_sciences_test_rc_5shot", "mmlu_other_test_rc_5shot"),
}  # fmt: skip
"""Benchmarks made of subtasks, forecast as one: each metric averaged over its subtasks, weighted by their
examples (as lm-eval weights a group), so one subtask at chance does not sink the whole."""


def read_olmo(
    path: str | Path,
    *,
    params_map: str | Path | dict | None = None,
    loss_column: str = LOSS,
    n_examples: int | dict[str, int] | None = None,
    warmup_fraction: float = 0.1,
    tasks: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of OLMo ladder CSVs (one file, or every *.csv in a folder): 5-shot accuracies as few-shot runs.

    Args:
        path: a CSV or a folder of them; a ``params.json`` beside them is the default params map.
        params_map: size (the file name up to the first '-', e.g. '190M') -> parameter count.
        loss_column: the column holding the pretraining loss (C4 validation by default).
        n_examples: examples per evaluation (the logs do not say), one number or task -> number; by
            default each task's published split size where known, else 1000.
        warmup_fraction: steps below this fraction of a run's last step are skipped (warm-up noise).
        tasks: only these tasks (names as ``hellaswag_val_rc_5shot``); all when None.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.csv") if p.is_file())
        if not files:
            raise EmergenceError(f"{path}: no *.csv files found")
        folder = path
    elif path.is_file():
        files, folder = [path], path.parent
    else:
        raise EmergenceError(f"no such file or folder: {path}")
    if params_map is None and (folder / "params.json").is_file():
        params_map = folder / "params.json"
    sizes = {} if params_map is None else read_mapping(params_map, what="params map")
    if not 0 <= warmup_fraction < 1:
        raise EmergenceError(f"warmup_fraction must be in [0, 1) (got {warmup_fraction})")
    counts = SPLIT_SIZES if n_examples is None else n_examples
    wanted = None if tasks is None else {*tasks, *(p for t in tasks for p in AGGREGATES.get(t, ()))}
    frames = [
        _read_file(f, sizes, params_map is not None, loss_column, counts, warmup_fraction, wanted)
        for f in files
    ]
    rows = pd.concat(frames, ignore_index=True)
    rows = pd.concat([rows, *aggregate(rows)], ignore_index=True)
    if tasks is not None:
        rows = rows[rows["task"].isin(tasks)].reset_index(drop=True)
    if n_examples is None:
        unknown = sorted(set(rows["task"]) - set(SPLIT_SIZES) - set(AGGREGATES))
        rows.attrs["notes"] = ["examples per task taken from the tasks' published split sizes"] + (
            [f"{len(unknown)} task(s) of unknown split size counted as {DEFAULT_N} examples: {', '.join(unknown)}"]
            if unknown else []
        )  # fmt: skip
    return rows


def aggregate(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """The AGGREGATES present in full: each metric's example-weighted mean over the subtasks per checkpoint."""
    out = []
    for name, parts in AGGREGATES.items():
        sub = rows[rows["task"].isin(parts)]
        for metric, group in sub.groupby("metric"):
            if group["task"].nunique() < len(parts):
                continue
            weighted = group.assign(_w=group["accuracy"] * group["n_examples"])
            sums = weighted.groupby("checkpoint").agg(_w=("_w", "sum"), n_examples=("n_examples", "sum"))
            first = group.groupby("checkpoint").first()
            frame = first.assign(task=name, metric=metric, accuracy=sums["_w"] / sums["n_examples"],
                                 n_examples=sums["n_examples"], row_label=first["row_label"] + f" ({name})")  # fmt: skip
            out.append(frame.reset_index())
    return out


def _read_file(
    path: Path,
    sizes: dict,
    have_map: bool,
    loss_column: str,
    n_examples: int | dict[str, int],
    warmup_fraction: float,
    tasks: list[str] | None,
) -> pd.DataFrame:
    frame = read_csv(path)
    accuracy = {c: ACCURACY.match(c) or TASK_LOSS.match(c) for c in frame.columns}
    accuracy = {c: m for c, m in accuracy.items() if m and (tasks is None or m["task"] in tasks)}
    needed = [STEP, TOKENS, GFLOPS, loss_column]
    missing = [c for c in needed if c not in frame.columns]
    if missing or not accuracy:
        what = ", ".join(missing) if missing else "eval/downstream/<task>_{len_norm,acc}"
        raise EmergenceError(f"{path}: not an OLMo ladder CSV: missing column(s) {what}")
    if frame.empty:
        raise EmergenceError(f"{path}: no rows")
    run = path.stem
    size = run.split("-")[0]
    params = None
    if have_map:
        if size not in sizes:
            raise EmergenceError(f"{path}: size '{size}' is not in the params map (it has {sorted(sizes)})")
        params = number(sizes[size], "params map", size)
        if not (params > 0 and math.isfinite(params)):
            raise EmergenceError(f"params map: {size} must be a finite number > 0 (got {sizes[size]!r})")
    numbers = {}
    for column in [*needed, *accuracy]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if len(bad):
            i = int(bad[0])
            got = frame[column].iloc[i]
            if got is None:
                what = "is missing"
            elif str(got).lower() in ("nan", "na", "n/a", "null", "none", "inf", "-inf", "infinity"):
                what = f"is not a finite number (got {got!r})"
            else:
                what = f"is not a number (got {got!r})"
            raise EmergenceError(f"{path}: line {i + 2}: {column} {what}")
        numbers[column] = values.to_numpy(dtype=float)
    step = numbers[STEP]
    keep = np.flatnonzero(step >= warmup_fraction * np.max(step))
    columns = list(accuracy)
    k, m = len(keep), len(columns)
    task_names = [accuracy[c]["task"] for c in columns]
    if isinstance(n_examples, dict):
        n = [int(n_examples.get(t, DEFAULT_N)) for t in task_names]
    else:
        n = [int(n_examples)] * m
    labels = np.array([f"line {i + 2}" for i in keep], dtype=object)
    return pd.DataFrame(
        {
            "checkpoint": np.tile([f"{run}@{s:.0f}" for s in step[keep]], m),
            "family": size,
            "run": run,
            "step": np.tile(step[keep], m),
            "params": params,
            "tokens": np.tile(numbers[TOKENS][keep], m),
            "flops": np.tile(numbers[GFLOPS][keep] * 1e9, m),
            "pretraining_loss": np.tile(numbers[loss_column][keep], m),
            "data_amount": 0,
            "seed": 0,
            "task": np.repeat(task_names, k),
            "metric": np.repeat([accuracy[c]["metric"] for c in columns], k),
            "accuracy": np.concatenate([numbers[c][keep] for c in columns]),
            "n_examples": np.repeat(n, k),
            "stderr": np.nan,
            "source_file": str(path),
            "row_label": np.concatenate([labels + f" ({c})" for c in columns]),
        }
    )
