"""Forecasts made from, and kept in, the run store: one benchmark's forecast, every benchmark's fit, and
the forecast documents stored (computed here or imported)."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd

from emergence.errors import EmergenceError
from emergence.forecast.budgets import budget_forecasts, chain_budget_forecasts
from emergence.forecast.chain_sections import chain_emergence_point, chain_section
from emergence.forecast.document import interval, plain, read_document, validate_document
from emergence.forecast.fitting import BenchmarkFit, compare_links, fit_benchmark
from emergence.forecast.options import DEFAULT_OPTIONS, Budget, FitOptions
from emergence.forecast.sections import build_document
from emergence.forecast.table import data_hash, fit_table
from emergence.law.bootstrap import single_threaded_blas
from emergence.progress import Progress, silent
from emergence.table import is_loss_metric

STEPS = ("fit", "budgets", "document")
TASK_LOSS = "bpb"
"""The metric holding a task's own loss (bits per byte of the correct answer), the chain's other intermediate."""


def forecast_table(
    table: pd.DataFrame,
    budgets: list[Budget],
    options: FitOptions = DEFAULT_OPTIONS,
    *,
    compare: bool = False,
    command: str = "",
    store: str | None = None,
    progress: Progress | None = None,
    task_loss: pd.DataFrame | None = None,
) -> tuple[dict, BenchmarkFit]:
    """The whole forecast for one (task, metric)'s rows: fits, backtest, budgets, document (task_loss: the
    task's own loss rows, metric bpb, where the store has them)."""
    report = progress or silent
    report(0, len(STEPS), STEPS[0])
    fit = fit_benchmark(table, options, task_loss)
    report(1, len(STEPS), STEPS[1])
    frame = None
    if fit.chain is not None:
        frame = chain_budget_forecasts(fit.chain, list(budgets), fit.options.alpha)
    elif fit.result is not None:
        frame = budget_forecasts(fit.result, fit.loss_laws, list(budgets), fit.options.alpha)
    comparison = compare_links(table, fit.options) if compare and fit.result is not None else None
    report(2, len(STEPS), STEPS[2])
    document = build_document(fit, budgets=frame, comparison=comparison, command=command, store=store)
    report(len(STEPS), len(STEPS), "done")
    return document, fit


def task_loss_rows(store, task: str, metric: str) -> pd.DataFrame | None:
    """The task's own loss (metric bpb: bits per byte of the correct answer) where the store has it."""
    if metric == TASK_LOSS:
        return None
    rows = store.results(task, TASK_LOSS)
    return rows if len(rows) else None


def fitted_laws(fit: BenchmarkFit) -> dict[str, dict]:
    """Each fitted law's description by kind: "emergence_law", "loss_law:compute", ..."""
    out = {f"loss_law:{kind}": plain(law.to_dict()) for kind, law in fit.loss_laws.items()}
    if fit.result is not None:
        out["emergence_law"] = plain(fit.result.to_dict(alpha=fit.options.alpha))
    if fit.chain is not None:
        out["chain"] = chain_section(fit.chain)
    return out


def forecast(
    store,
    task: str,
    metric: str,
    budgets: list[Budget] = (),
    options: FitOptions = DEFAULT_OPTIONS,
    *,
    compare: bool = False,
    command: str = "",
    progress: Progress | None = None,
) -> dict:
    """Forecast one (task, metric) from the store's results; keep the fits and the document beside earlier
    ones; return the document."""
    table = fit_table(store.results(task, metric), task, metric)
    document, fit = forecast_table(
        table,
        list(budgets),
        options,
        compare=compare,
        command=command,
        store=str(store.path),
        progress=progress,
        task_loss=task_loss_rows(store, task, metric),
    )
    save_fits(store, fit)
    store.add_forecast(document)
    return document


def save_fits(store, fit: BenchmarkFit) -> None:
    """Keep each fitted law with the data hash and options it was fitted with."""
    options = plain(fit.options.to_dict())
    for kind, result in fitted_laws(fit).items():
        store.add_fit(fit.task, fit.metric, kind, fit.data_hash, result, options=options)


def fit_pair(
    table: pd.DataFrame, options: FitOptions = DEFAULT_OPTIONS, task_loss: pd.DataFrame | None = None
) -> tuple[dict, BenchmarkFit]:
    """Fit one (task, metric) without the elbow backtest: a row for people (status fitted/no_elbow/error,
    how it was fitted, the emergence point in loss and FLOPs with intervals, a note) and the fit."""
    fit = fit_benchmark(table, replace(options, backtest=False), task_loss)
    row = {"task": fit.task, "metric": fit.metric, "data_hash": data_hash(table), "n_rows": len(table)}
    if fit.chain is not None:
        point = chain_emergence_point(fit.chain)
        backtest = fit.chain.backtest
        note = f"backtest MAE {100 * backtest['mae']:.1f} points" if backtest.get("mae") is not None else ""
        return row | {"status": "fitted", "method": f"chain: {fit.chain.name}", "elbow": point["loss"],
                      "flops": point["flops"], "note": note}, fit  # fmt: skip
    row["loss_laws"] = sorted(fit.loss_laws)
    if fit.result is None:
        status = "no_elbow" if fit.reason and not fit.reason.startswith(("table", "column")) else "error"
        return row | {"status": status, "method": "emergence law", "note": fit.reason}, fit
    point = plain(fit.result.to_dict(alpha=fit.options.alpha))["emergence_point"]
    warning = fit.loss_law.warning() if fit.loss_law is not None else None  # FLOPs not to be trusted
    return row | {
        "status": "fitted",
        "method": "emergence law",
        "elbow": interval(point["loss"], point["loss_lower"], point["loss_upper"]),
        "flops": interval(point["flops"], point["flops_lower"], point["flops_upper"]),
        "converged": bool(fit.result.converged),
        "note": "; ".join(([warning] if warning else []) + fit.loss_notes),
    }, fit


def fit_store(
    store,
    pairs: list[tuple[str, str]],
    options: FitOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
    results: pd.DataFrame | None = None,
) -> list[dict]:
    """`fit_pair` for each (task, metric) of the store (a task's own loss, metric bpb, is an intermediate,
    not a benchmark); the fits are kept; returns the rows for people. Benchmarks are fitted on
    ``options.n_jobs`` processes. ``results``: the store's `results()` when the caller has read them."""
    report = progress or silent
    results = store.results() if results is None else results
    pairs = [(t, m) for t, m in pairs if not is_loss_metric(m)]
    work = []
    for task, metric in pairs:
        losses = results[(results["task"] == task) & (results["metric"] == TASK_LOSS)]
        work.append((task, metric, results[(results["task"] == task) & (results["metric"] == metric)],
                     losses if len(losses) else None))  # fmt: skip
    rows = []
    with _pool(options.n_jobs, len(work)) as pool:
        outcomes = pool.map(_fit_one, [(w, options) for w in work])
        for i, (row, fit) in enumerate(outcomes):
            report(i, len(work), f"{row['task']}/{row['metric']}")
            if fit is not None:
                save_fits(store, fit)
            rows.append(row)
    report(len(work), len(work), "done")
    return rows


def _fit_one(job) -> tuple[dict, BenchmarkFit | None]:
    (task, metric, rows, losses), options = job
    try:
        return fit_pair(fit_table(rows, task, metric), replace(options, n_jobs=1), losses)
    except EmergenceError as exc:
        return {"task": task, "metric": metric, "status": "error", "note": str(exc)}, None


@contextmanager
def _pool(n_jobs: int, n_work: int):
    """A process pool for fitting several benchmarks at once (forked: the results are already in memory),
    or this process alone for one benchmark or one job."""
    if n_jobs <= 1 or n_work <= 1 or "fork" not in mp.get_all_start_methods():
        yield _Serial()
        return
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork"),
                             initializer=single_threaded_blas) as pool:  # fmt: skip
        yield pool


class _Serial:
    @staticmethod
    def map(fn, items):
        return map(fn, items)


def import_documents(store, paths: list[str | Path]) -> list[tuple[dict, str, bool]]:
    """Read and validate forecast JSON files, then keep them all (or none) as imported forecasts: they
    never replace a computed one. Returns (document, id, newly stored) for each."""
    documents = [read_document(p) for p in paths]  # every file is checked before any is stored
    ids = store.import_forecasts(documents)
    return [(d, i, new) for d, (i, new) in zip(documents, ids, strict=True)]


def stored_forecasts(store, task: str | None = None, metric: str | None = None) -> list[dict]:
    """The current forecast document per (task, metric) (the newest computed one, else the newest
    imported), optionally of one task/metric."""
    frame = store.forecasts(current=True)
    if task is not None:
        frame = frame[frame["task"] == task]
    if metric is not None:
        frame = frame[frame["metric"] == metric]
    return [
        validate_document(d, f"stored forecast {d.get('task')}/{d.get('metric')}") for d in frame["document"]
    ]
