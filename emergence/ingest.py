"""Existing results into the store: lm-eval output folders, OLMo-style ladder CSVs, and tidy CSVs.

Each reader turns files into the tidy table (one row per checkpoint x task x data amount x seed x
metric); `write_rows` checks that table and writes it in ONE transaction, so bad input stores nothing.
Ingested rows become checkpoints, runs (status done, method "ingested", a run_id hashed from the run's
identity) and evaluations, and read back through `Store.results()` like swept results.

Formats:

- ``lmeval``: a folder written by lm-eval 0.4.x (``--output_path``): ``results_<date>.json`` files, in
  the folder or one level down (one sub-folder per model), and ``samples_<task>_<date>.jsonl`` when the
  run logged samples (they give the number of examples). lm-eval does not know the pretraining loss or
  the finetuning data amount: give them per model in a ``models`` map (CSV, JSON or YAML; keys ``model``
  and any of ``checkpoint, family, step, params, tokens, flops, pretraining_loss, data_amount, seed``).
  ``model`` matches the results' ``model_name``, the sanitized name, the ``pretrained=`` argument or the
  folder name. Unmapped models become few-shot runs (data_amount 0, seed 0) on a checkpoint named after
  the model.
- ``olmo``: the training-log CSVs of AI2's model ladder (one file per run ``<size>-<mult>xC[-rerun].csv``,
  one row per evaluated step; columns ``_step``, ``throughput/total_tokens``,
  ``throughput/total_training_Gflops``, ``eval/c4_en-validation/CrossEntropyLoss``,
  ``eval/downstream/<task>_{len_norm,acc}``). Each row is a checkpoint ``<run>@<step>`` with its 5-shot
  accuracies as few-shot runs. Parameter counts come from a params map (``params.json`` beside the files,
  or given), keyed by size. The first 10% of steps are warm-up noise and are skipped. The logs do not
  record the number of examples per task: 1000 unless given.
- ``tidy``: a CSV with the columns of `Store.results()`. Required: task, metric, checkpoint,
  pretraining_loss, data_amount, seed, accuracy, n_examples. Optional: family, step, params, tokens,
  flops, stderr (method and run_id are ignored: rows become "ingested" runs).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import inspect
import io
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.store import Store

FORMATS = ("lmeval", "olmo", "tidy")
TIDY_REQUIRED = (
    "task",
    "metric",
    "checkpoint",
    "pretraining_loss",
    "data_amount",
    "seed",
    "accuracy",
    "n_examples",
)
TIDY_OPTIONAL = ("family", "step", "params", "tokens", "flops", "stderr")
CHECKPOINT_COLUMNS = ("family", "step", "params", "tokens", "flops", "pretraining_loss")
# lm-eval metrics that are not accuracies in [0, 1]; they are not ingested.
NOT_ACCURACY = {"perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte", "likelihood"}
MODEL_MAP_KEYS = ("checkpoint", "family", "step", "params", "tokens", "flops", "pretraining_loss")

OLMO_STEP = "_step"
OLMO_TOKENS = "throughput/total_tokens"
OLMO_GFLOPS = "throughput/total_training_Gflops"
OLMO_LOSS = "eval/c4_en-validation/CrossEntropyLoss"
OLMO_ACCURACY = re.compile(r"^eval/downstream/(?P<task>.+)_(?P<metric>len_norm|acc)$")
OLMO_DEFAULT_N = 1000


def one_line_errors(func):
    """Decorator: an EmergenceError raised inside comes out on one line (names from files may hold
    newlines or control characters; they are escaped)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EmergenceError as exc:
            text = str(exc)
            if text.isprintable():
                raise
            clean = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
            raise EmergenceError(clean) from None

    return wrapper


# -- the common path: validate a tidy frame, write it in one transaction ---------------------------------
def run_id_for(checkpoint: str, task: str, data_amount: int, seed: int) -> str:
    """The id of an ingested run: a hash of what identifies it, so ingesting twice adds nothing."""
    key = json.dumps(
        {
            "method": "ingested",
            "checkpoint": checkpoint,
            "task": task,
            "data_amount": data_amount,
            "seed": seed,
        },
        sort_keys=True,
    )
    return "ingested-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@one_line_errors
def validate_rows(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a tidy frame (types, ranges, duplicates, one set of metadata per checkpoint); return it clean.

    Raises:
        EmergenceError: naming ``source``, the row and the field at fault.
    """
    if rows.empty:
        raise EmergenceError(f"{source}: no results found to ingest")
    missing = [c for c in TIDY_REQUIRED if c not in rows.columns and c != "pretraining_loss"]
    if missing:
        raise EmergenceError(f"{source}: missing column(s) {', '.join(missing)}")
    rows = rows.reset_index(drop=True).copy()
    if "source_file" not in rows.columns:
        rows["source_file"] = source
    if "row_label" not in rows.columns:
        rows["row_label"] = [f"row {i + 1}" for i in range(len(rows))]
    for column in ("pretraining_loss", *TIDY_OPTIONAL):
        if column not in rows.columns:
            rows[column] = None

    def bad(i: int, column: str, why: str) -> EmergenceError:
        got = rows.at[i, column]
        if isinstance(got, int | float | np.integer | np.floating) and not isinstance(got, bool):
            got = float(got)
        elif isinstance(got, str):
            with contextlib.suppress(ValueError):
                got = float(got)
        return EmergenceError(
            f"{rows.at[i, 'source_file']}: {rows.at[i, 'row_label']}: {column} {why} (got {got!r})"
        )

    for column in ("task", "metric", "checkpoint"):
        for i, value in rows[column].items():
            if not isinstance(value, str) or not value.strip():
                raise bad(i, column, "must be a non-empty name")
    numeric = {}
    for column in ("accuracy", "n_examples", "data_amount", "seed", "pretraining_loss", *TIDY_OPTIONAL[1:]):
        if column == "family":
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        for i in np.flatnonzero(values.isna().to_numpy() & rows[column].notna().to_numpy()):
            raise bad(int(i), column, "must be a number")
        numeric[column] = values.astype(float)
    for column in ("accuracy", "n_examples", "data_amount", "seed"):
        for i in np.flatnonzero(numeric[column].isna().to_numpy()):
            raise bad(int(i), column, "is missing")
    checks = {
        "accuracy": (lambda v: (v >= 0) & (v <= 1), "must be within [0, 1]"),
        "n_examples": (lambda v: (v >= 1) & (v == np.round(v)) & (v < 2**62), "must be a whole number >= 1"),
        "data_amount": (lambda v: (v >= 0) & (v == np.round(v)) & (v < 2**62), "must be a whole number >= 0"),
        "seed": (lambda v: (v == np.round(v)) & (np.abs(v) < 2**62), "must be a whole number"),
        "step": (
            lambda v: v.isna() | ((v >= 0) & (v == np.round(v)) & (v < 2**62)),
            "must be a whole number >= 0",
        ),
        "pretraining_loss": (lambda v: v.isna() | ((v > 0) & np.isfinite(v)), "must be a finite number > 0"),
        "params": (lambda v: v.isna() | ((v > 0) & np.isfinite(v)), "must be a finite number > 0"),
        "tokens": (lambda v: v.isna() | ((v >= 0) & np.isfinite(v)), "must be a finite number >= 0"),
        "flops": (lambda v: v.isna() | ((v >= 0) & np.isfinite(v)), "must be a finite number >= 0"),
        "stderr": (lambda v: v.isna() | ((v >= 0) & np.isfinite(v)), "must be a finite number >= 0"),
    }
    for column, (ok, why) in checks.items():
        failing = np.flatnonzero(~ok(numeric[column]).to_numpy(dtype=bool))
        if len(failing):
            raise bad(int(failing[0]), column, why)
    for column, values in numeric.items():
        rows[column] = values
    rows["family"] = rows["family"].map(lambda v: None if v is None or v != v else str(v))
    key = ["checkpoint", "task", "metric", "data_amount", "seed"]
    dup = rows.duplicated(key, keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        what = ", ".join(f"{k}={rows.at[i, k]}" for k in key)
        raise EmergenceError(f"{source}: two rows for the same run and metric ({what}); keep one")
    spread = rows.groupby("checkpoint")[list(CHECKPOINT_COLUMNS)].nunique(dropna=True)
    if (spread > 1).any(axis=None):
        name = spread.index[(spread > 1).any(axis=1)][0]
        column = spread.columns[(spread.loc[name] > 1).to_numpy()][0]
        raise EmergenceError(
            f"{source}: checkpoint {name} has different values of {column} in different rows; "
            "give each checkpoint one set of values"
        )
    return rows


@one_line_errors
def write_rows(store: Store, rows: pd.DataFrame, *, fmt: str, source: str) -> dict:
    """Validate a tidy frame and write it as checkpoints, done runs and evaluations in one transaction.

    Returns:
        A summary: format, source, rows, checkpoints, runs, new_runs, tasks, metrics, and warnings.
    """
    rows = validate_rows(rows, source)
    now = time.time()
    checkpoints = rows.groupby("checkpoint", sort=False).first().reset_index()  # first non-null values
    warnings = []
    no_loss = sorted(checkpoints.loc[checkpoints["pretraining_loss"].isna(), "checkpoint"])
    if no_loss:
        warnings.append(
            f"{len(no_loss)} checkpoint(s) without a pretraining loss (e.g. {no_loss[0]}): "
            "fits skip them until it is given"
        )
    checkpoint_rows = [
        (
            str(c.checkpoint),
            f"ingested:{fmt}:{c.source_file}",
            c.family,
            None if math.isnan(c.step) else int(c.step),
            _finite_or_none(c.params),
            _finite_or_none(c.tokens),
            _finite_or_none(c.flops),
            _finite_or_none(c.pretraining_loss),
            now,
        )
        for c in checkpoints.itertuples(index=False)
    ]
    keys = list(
        zip(
            rows["checkpoint"].tolist(),
            rows["task"].tolist(),
            rows["data_amount"].astype(int).tolist(),
            rows["seed"].astype(int).tolist(),
            rows["source_file"].astype(str).tolist(),
            strict=True,
        )
    )
    run_ids: dict[tuple, str] = {}
    run_rows = []
    for checkpoint, task, data_amount, seed, source_file in keys:
        if (checkpoint, task, data_amount, seed) in run_ids:
            continue
        run_id = run_ids[checkpoint, task, data_amount, seed] = run_id_for(
            checkpoint, task, data_amount, seed
        )
        spec = {"method": "ingested", "format": fmt, "source": source_file}
        spec |= {"checkpoint": checkpoint, "task": task, "data_amount": data_amount, "seed": seed}
        run_rows.append((run_id, checkpoint, task, data_amount, seed, json.dumps(spec, sort_keys=True)))
    stderr = rows["stderr"].astype(float)
    eval_rows = list(
        zip(
            [run_ids[k[:4]] for k in keys],
            rows["metric"].tolist(),
            rows["accuracy"].astype(float).tolist(),
            rows["n_examples"].astype(int).tolist(),
            stderr.astype(object).where(stderr.notna(), None).tolist(),
            strict=True,
        )
    )
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO checkpoints (checkpoint_id, source, family, step, params, tokens, flops, "
            "pretraining_loss, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(checkpoint_id) DO UPDATE SET family=COALESCE(excluded.family, family), "
            "step=COALESCE(excluded.step, step), params=COALESCE(excluded.params, params), "
            "tokens=COALESCE(excluded.tokens, tokens), flops=COALESCE(excluded.flops, flops), "
            "pretraining_loss=COALESCE(excluded.pretraining_loss, pretraining_loss)",
            checkpoint_rows,
        )
        before = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        conn.executemany(
            "INSERT INTO runs (run_id, checkpoint_id, task, data_amount, seed, method, spec, status, "
            "attempts, created_at, finished_at) VALUES (?, ?, ?, ?, ?, 'ingested', ?, 'done', 0, ?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET spec=excluded.spec, status='done', error=NULL, "
            "finished_at=excluded.finished_at",
            [(*r, now, now) for r in run_rows],
        )
        new_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] - before
        conn.executemany("INSERT OR REPLACE INTO evaluations VALUES (?, ?, ?, ?, ?)", eval_rows)
    return {
        "format": fmt,
        "source": source,
        "rows": len(rows),
        "checkpoints": len(checkpoint_rows),
        "runs": len(run_rows),
        "new_runs": int(new_runs),
        "tasks": sorted(rows["task"].unique().tolist()),
        "metrics": sorted(rows["metric"].unique().tolist()),
        "warnings": warnings,
    }


# -- reading files ----------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise EmergenceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise EmergenceError(f"{path}: not UTF-8 text; is it the right file?") from None


def json_error(source: str | Path, text: str, exc: json.JSONDecodeError) -> str:
    """One line for a JSON syntax error, saying so when the text looks cut short."""
    rest = text[exc.pos :].rstrip()
    truncated = exc.pos >= len(text.rstrip()) - 1 or (
        exc.msg.startswith("Unterminated string") and "\n" not in rest
    )
    hint = " (the file looks truncated)" if truncated else ""
    return f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}"


def _load_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmergenceError(json_error(path, text, exc)) from None
    except RecursionError:
        raise EmergenceError(f"{path}: JSON nested too deeply") from None


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV as strings (empty cells as None); every row must have the header's number of cells, so a
    truncated or malformed file is an EmergenceError naming it and the line."""
    text = _read_text(path)
    if not text.strip():
        raise EmergenceError(f"{path}: the file is empty")
    if "\x00" in text:
        raise EmergenceError(f"{path}: not a text CSV (it holds NUL bytes)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [c.strip() for c in next(reader)]
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                hint = " (truncated file?)" if len(row) < len(header) else ""
                raise EmergenceError(
                    f"{path}: line {reader.line_num} has {len(row)} cells, the header {len(header)}{hint}"
                )
            rows.append([cell.strip() or None for cell in row])
    except csv.Error as exc:
        raise EmergenceError(f"{path}: line {reader.line_num}: not a readable CSV: {exc}") from None
    if len(set(header)) != len(header):
        raise EmergenceError(f"{path}: a column name appears twice in the header")
    return pd.DataFrame(rows, columns=header, dtype=object)


@one_line_errors
def read_mapping(source: str | Path | dict, *, what: str) -> dict:
    """A name -> value(s) map from a dict, or a JSON/YAML file (a mapping) or CSV (first column = key)."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
        key = frame.columns[0]
        if len(frame.columns) == 2:
            return dict(zip(frame[key], frame[frame.columns[1]], strict=True))
        return {row[key]: {k: v for k, v in row.items() if k != key} for row in frame.to_dict("records")}
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(_read_text(path))
        except yaml.YAMLError as exc:
            raise EmergenceError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    else:
        data = _load_json(path)
    if isinstance(data, list) and all(isinstance(d, dict) and "model" in d for d in data):
        data = {d["model"]: {k: v for k, v in d.items() if k != "model"} for d in data}
    if not isinstance(data, dict):
        raise EmergenceError(f"{path}: a {what} must be a mapping of names to values")
    return data


def _number(value: Any, where: str, field: str) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise EmergenceError(f"{where}: {field} must be a number (got {value!r})") from None
    if math.isnan(number):
        raise EmergenceError(f"{where}: {field} is NaN")
    return number


# -- tidy CSV ---------------------------------------------------------------------------------------------
@one_line_errors
def read_tidy(path: str | Path) -> pd.DataFrame:
    """Rows of a tidy CSV (the columns of `Store.results()`; see the module docstring)."""
    path = Path(path)
    frame = _read_csv(path)
    missing = [c for c in TIDY_REQUIRED if c not in frame.columns]
    if missing:
        raise EmergenceError(
            f"{path}: missing column(s) {', '.join(missing)}; a tidy CSV needs {', '.join(TIDY_REQUIRED)}"
        )
    frame = frame[[c for c in (*TIDY_REQUIRED, *TIDY_OPTIONAL) if c in frame.columns]].copy()
    frame["source_file"] = str(path)
    frame["row_label"] = [f"line {i + 2}" for i in range(len(frame))]
    return frame


def write_tidy(results: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table (as `Store.results()` returns it) as a tidy CSV that `read_tidy` reads back."""
    path = Path(path)
    columns = [c for c in (*TIDY_REQUIRED, *TIDY_OPTIONAL) if c in results.columns]
    results[columns].to_csv(path, index=False, float_format="%.17g")
    return path


# -- OLMo ladder CSVs -------------------------------------------------------------------------------------
@one_line_errors
def read_olmo(
    path: str | Path,
    *,
    params_map: str | Path | dict | None = None,
    loss_column: str = OLMO_LOSS,
    n_examples: int | dict[str, int] = OLMO_DEFAULT_N,
    warmup_fraction: float = 0.1,
    tasks: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of OLMo ladder CSVs (one file, or every *.csv in a folder): 5-shot accuracies as few-shot runs.

    Args:
        path: a CSV or a folder of them; a ``params.json`` beside them is the default params map.
        params_map: size (the file name up to the first '-', e.g. '190M') -> parameter count.
        loss_column: the column holding the pretraining loss (C4 validation by default).
        n_examples: examples per evaluation (the logs do not say), one number or task -> number.
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
    frames = [
        _read_olmo_file(f, sizes, params_map is not None, loss_column, n_examples, warmup_fraction, tasks)
        for f in files
    ]
    return pd.concat(frames, ignore_index=True)


def _read_olmo_file(
    path: Path,
    sizes: dict,
    have_map: bool,
    loss_column: str,
    n_examples: int | dict[str, int],
    warmup_fraction: float,
    tasks: list[str] | None,
) -> pd.DataFrame:
    frame = _read_csv(path)
    accuracy = {c: OLMO_ACCURACY.match(c) for c in frame.columns}
    accuracy = {c: m for c, m in accuracy.items() if m and (tasks is None or m["task"] in tasks)}
    needed = [OLMO_STEP, OLMO_TOKENS, OLMO_GFLOPS, loss_column]
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
        params = _number(sizes[size], "params map", size)
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
    step = numbers[OLMO_STEP]
    keep = np.flatnonzero(step >= warmup_fraction * np.max(step))
    columns = list(accuracy)
    k, m = len(keep), len(columns)
    task_names = [accuracy[c]["task"] for c in columns]
    if isinstance(n_examples, dict):
        n = [int(n_examples.get(t, OLMO_DEFAULT_N)) for t in task_names]
    else:
        n = [int(n_examples)] * m
    labels = np.array([f"line {i + 2}" for i in keep], dtype=object)
    return pd.DataFrame(
        {
            "checkpoint": np.tile([f"{run}@{s:.0f}" for s in step[keep]], m),
            "family": size,
            "step": np.tile(step[keep], m),
            "params": params,
            "tokens": np.tile(numbers[OLMO_TOKENS][keep], m),
            "flops": np.tile(numbers[OLMO_GFLOPS][keep] * 1e9, m),
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


# -- lm-eval 0.4.x output folders -------------------------------------------------------------------------
@one_line_errors
def read_lmeval(path: str | Path, *, models: str | Path | dict | None = None) -> pd.DataFrame:
    """Rows of an lm-eval 0.4.x output folder (or one results_*.json); see the module docstring.

    Args:
        path: the ``--output_path`` folder, a model's sub-folder, or a results JSON.
        models: model -> checkpoint metadata and data_amount/seed (a dict or a CSV/JSON/YAML file).
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("results_*.json")) + sorted(path.glob("*/results_*.json"))
        if not files:
            raise EmergenceError(f"{path}: no lm-eval results_*.json found (in it or one folder down)")
    else:
        raise EmergenceError(f"no such file or folder: {path}")
    mapping = {} if models is None else read_mapping(models, what="models map")
    for name, meta in mapping.items():
        if not isinstance(meta, dict):
            raise EmergenceError(f"models map: {name} must map to fields such as pretraining_loss")
        unknown = set(meta) - {*MODEL_MAP_KEYS, "data_amount", "seed"}
        if unknown:
            raise EmergenceError(
                f"models map: {name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"allowed: {', '.join((*MODEL_MAP_KEYS, 'data_amount', 'seed'))}"
            )
    frames = [_read_lmeval_file(f, mapping) for f in files]
    rows = pd.concat(frames, ignore_index=True)
    # a task evaluated again later for the same model: the newest results file wins
    return rows.drop_duplicates(["checkpoint", "task", "metric", "data_amount", "seed"], keep="last")


def _lmeval_model(data: dict, path: Path) -> tuple[str, list[str]]:
    """The model's display name and every name it may be mapped by."""
    names = []
    for key in ("model_name", "model_name_sanitized"):
        if isinstance(data.get(key), str) and data[key]:
            names.append(data[key])
    config = data.get("config")
    if isinstance(config, dict):
        args = config.get("model_args")
        if isinstance(args, dict) and isinstance(args.get("pretrained"), str):
            names.append(args["pretrained"])
        elif isinstance(args, str):
            for part in args.split(","):
                key, _, value = part.partition("=")
                if key.strip() == "pretrained" and value.strip():
                    names.append(value.strip())
    if path.parent.name:
        names.append(path.parent.name)
    names = list(dict.fromkeys(names))
    if not names:
        raise EmergenceError(f"{path}: cannot tell which model these results are for")
    sanitized = data.get("model_name_sanitized")
    label = sanitized if isinstance(sanitized, str) and sanitized else re.sub(r"[^\w.-]+", "__", names[0])
    return label, names


def _check_lmeval_version(data: Any, path: Path) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EmergenceError(f"{path}: not an lm-eval results file (no 'results' mapping)")
    version = data.get("lm_eval_version")
    if isinstance(version, str) and re.match(r"^\d+\.\d+", version) and not version.startswith("0.4."):
        raise EmergenceError(f"{path}: written by lm-eval {version}; only the 0.4.x layout is supported")
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            raise EmergenceError(f"{path}: results.{task} must be a mapping of metrics")
        flat = [k for k in metrics if k not in ("alias", "name", "sample_len", "sample_count")]
        if flat and not any("," in str(k) for k in flat):
            raise EmergenceError(
                f"{path}: results.{task} has metric keys without a filter (e.g. '{flat[0]}'): that is "
                "lm-eval 0.3 output; only the 0.4.x layout ('acc,none') is supported"
            )
    return data


def _sample_counts(path: Path, task: str) -> dict[str, int] | None:
    """Examples per filter from samples_<task>_<date>.jsonl beside a results file, if it is there."""
    date = path.stem.removeprefix("results_")
    name = f"samples_{task}_{date}.jsonl"
    if Path(name).name != name or "\0" in name:  # a task name lm-eval could not have written a file for
        return None
    samples = path.with_name(name)
    if not samples.is_file():
        return None
    docs: dict[str, set] = {}
    for number, line in enumerate(_read_text(samples).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise EmergenceError(f"{samples}: line {number} is not valid JSON (truncated file?)") from None
        if not isinstance(sample, dict):
            raise EmergenceError(f"{samples}: line {number} is not a sample record")
        doc = sample.get("doc_id", number)
        docs.setdefault(str(sample.get("filter", "none")), set()).add(json.dumps(doc, sort_keys=True))
    return {f: len(d) for f, d in docs.items()}


def _read_lmeval_file(path: Path, mapping: dict) -> pd.DataFrame:
    data = _check_lmeval_version(_load_json(path), path)
    label, names = _lmeval_model(data, path)
    meta = next((mapping[n] for n in names if n in mapping), {})
    groups = set(data["groups"]) if isinstance(data.get("groups"), dict) else set()
    subtasks = data.get("group_subtasks")
    if isinstance(subtasks, dict):
        groups |= {g for g, members in subtasks.items() if isinstance(members, list) and members}
    n_samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    counted = config.get("model_num_parameters")
    params = meta.get("params", counted if isinstance(counted, int | float) and counted > 0 else None)
    rows = []
    for task, metrics in data["results"].items():
        if task in groups:
            continue
        counts = _sample_counts(path, task)
        for key, value in metrics.items():
            name, comma, filt = str(key).partition(",")
            if not comma or name.endswith("_stderr") or name in NOT_ACCURACY:
                continue
            where = f"{path}: results.{task}.{key}"
            accuracy = _number(value, where.rsplit(".", 1)[0], key)
            stderr = metrics.get(f"{name}_stderr,{filt}")
            stderr = (
                float(stderr) if isinstance(stderr, int | float) and not isinstance(stderr, bool) else None
            )
            n = _lmeval_n(counts, filt, n_samples.get(task), metrics.get("sample_len"))
            if n is None:
                raise EmergenceError(
                    f"{path}: cannot tell how many examples {task} used (no n-samples, sample_len or "
                    "samples file); rerun lm-eval with --log_samples"
                )
            rows.append(
                {
                    "task": str(task),
                    "metric": name if filt == "none" else f"{name},{filt}",
                    "checkpoint": str(meta.get("checkpoint", label)),
                    "family": meta.get("family"),
                    "step": meta.get("step"),
                    "params": params,
                    "tokens": meta.get("tokens"),
                    "flops": meta.get("flops"),
                    "pretraining_loss": meta.get("pretraining_loss"),
                    "data_amount": meta.get("data_amount", 0),
                    "seed": meta.get("seed", 0),
                    "accuracy": accuracy,
                    "n_examples": n,
                    "stderr": stderr,
                    "source_file": str(path),
                    "row_label": f"results.{task}.{key}",
                }
            )
    if not rows:
        raise EmergenceError(f"{path}: no accuracy metrics in its results")
    return pd.DataFrame(rows)


def _lmeval_n(counts: dict | None, filt: str, n_samples: Any, sample_len: Any) -> int | None:
    if counts:
        return counts.get(filt) or max(counts.values())
    if isinstance(n_samples, dict):
        effective = n_samples.get("effective", n_samples.get("original"))
        if isinstance(effective, int) and not isinstance(effective, bool) and effective > 0:
            return effective
    if isinstance(sample_len, int) and not isinstance(sample_len, bool) and sample_len > 0:
        return sample_len
    return None


# -- the door ---------------------------------------------------------------------------------------------
@one_line_errors
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
        header = _read_text(path).partition("\n")[0]
        if OLMO_STEP in header and "eval/" in header:
            return "olmo"
        return "tidy"
    raise EmergenceError(f"{path}: cannot tell its format from the name; give --format lmeval|olmo|tidy")


@one_line_errors
def read_results(path: str | Path, fmt: str | None = None, **options: Any) -> tuple[str, pd.DataFrame]:
    """Read ``path`` in format ``fmt`` (detected when None) into tidy rows; options go to the reader."""
    fmt = fmt or detect_format(path)
    readers = {"lmeval": read_lmeval, "olmo": read_olmo, "tidy": read_tidy}
    if fmt not in readers:
        raise EmergenceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reader = readers[fmt]
    options = {k: v for k, v in options.items() if v is not None}
    allowed = set(inspect.signature(reader).parameters) - {"path"}
    wrong = sorted(set(options) - allowed)
    if wrong:
        raise EmergenceError(
            f"option {wrong[0]} does not apply to the {fmt} format (it takes {', '.join(sorted(allowed)) or 'none'})"
        )
    return fmt, reader(path, **options)


@one_line_errors
def ingest(store: Store, path: str | Path, fmt: str | None = None, **options: Any) -> dict:
    """Read results at ``path`` and store them in one transaction; returns the summary of `write_rows`.

    Options by format: lmeval ``models``; olmo ``params_map``, ``loss_column``, ``n_examples``,
    ``warmup_fraction``, ``tasks``.
    """
    fmt, rows = read_results(path, fmt, **options)
    return write_rows(store, rows, fmt=fmt, source=str(path))
