"""The fits the Benchmark, Portfolio and Backtest pages make live on the store's current results.

A benchmark with finetuned runs is fitted by the emergence law (point estimates with profile/Wald
intervals, no bootstrap, so a page stays fast; the exported forecast documents carry the bootstrap
intervals widened by the backtest). A ladder of few-shot results only is fitted by the chain with the same
options as `emergence forecast` (its bootstrap takes a second or two), so the page shows the chain a
forecast document holds. Fits are cached on the benchmark's rows, so a result landing for one task refits
only that task; the objects are shared read-only between sessions (st.cache_resource).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import streamlit as st
from emergence.dashboards import data

from emergence import forecast
from emergence.errors import EmergenceError
from emergence.forecast.budgets import chain_budget_forecasts
from emergence.forecast.chain_sections import chain_emergence_point
from emergence.law import elbows_by_amount

ALPHA = 0.1  # 90% intervals throughout
CHAIN_DRAWS = forecast.FitOptions().n_boot  # as `emergence forecast` makes it
TASK_LOSS = "bpb"  # a task's own loss, the chain's other intermediate (as `emergence fit` takes it)


@dataclass
class BenchmarkFit:
    """One benchmark's fitted rows and what could be fitted on them (None, with a reason, where not):
    the emergence law (``result``) or the chain (``chain``, a ChainForecast)."""

    task: str
    metric: str
    table: pd.DataFrame
    result: object | None = None
    error: str | None = None
    point: object | None = None
    loss_laws: dict = field(default_factory=dict)
    loss_law_error: str | None = None
    data_hash: str = ""
    chain: object | None = None
    chain_point: dict | None = None  # the forecast document's emergence_point section of the chain
    task_loss: pd.DataFrame | None = None

    @property
    def loss_law(self):
        """The loss-vs-compute law, or None."""
        return self.loss_laws.get("compute")

    @property
    def flops_warning(self) -> str | None:
        """Why FLOPs read through the loss law are not to be trusted; None when they are (or the chain, not
        the loss law, gives them)."""
        why = self.loss_law.warning() if self.chain is None and self.loss_law is not None else None
        return f"{why}." if why else None

    def flops_to_loss(self, flops) -> np.ndarray:
        """Pretraining loss the loss law predicts at each FLOPs budget."""
        return self.loss_law.predict(np.atleast_1d(np.asarray(flops, float)))["mean"].to_numpy(float)

    def at_budget(self, budget: forecast.Budget) -> dict:
        """Predicted loss, few-shot accuracy (90% interval) and P(emerged) at one budget."""
        if self.chain is not None:
            return chain_budget_forecasts(self.chain, [budget], ALPHA).iloc[0].to_dict()
        return forecast.budget_forecasts(self.result, self.loss_laws, [budget], alpha=ALPHA).iloc[0].to_dict()


def _fit(table: pd.DataFrame, options: forecast.FitOptions, task_loss: pd.DataFrame | None):
    few_shot_only = bool((table["data_amount"] == 0).all())
    if few_shot_only:
        fitted = forecast.fit_benchmark(
            table, replace(options, method="chain", n_boot=CHAIN_DRAWS), task_loss
        )
        if fitted.chain is not None:
            return fitted
    return forecast.fit_benchmark(table, options, task_loss)


@st.cache_resource(show_spinner="Fitting the forecast…", max_entries=256)
def _benchmark_fit(
    task: str, metric: str, results: pd.DataFrame, task_loss: pd.DataFrame | None, link: str, chance
):
    try:
        table = forecast.fit_table(results, task, metric)
    except EmergenceError as exc:
        return BenchmarkFit(task, metric, results.iloc[0:0], error=str(exc))
    options = forecast.FitOptions(link=link, chance=chance, n_boot=0, backtest=False, d0_values=())
    fitted = _fit(table, options, task_loss)
    fit = BenchmarkFit(
        task, metric, table, data_hash=fitted.data_hash, loss_laws=fitted.loss_laws, task_loss=task_loss
    )
    if fitted.chain is not None:
        fit.chain, fit.chain_point = fitted.chain, chain_emergence_point(fitted.chain)
        return fit
    fit.loss_law_error = "; ".join(fitted.loss_notes) if fit.loss_law is None else None
    if fitted.result is None:
        fit.error = fitted.reason
        return fit
    fit.result = fitted.result
    fit.point = fit.result.emergence_point(alpha=ALPHA)
    return fit


def _task_loss(path: str, task: str, metric: str) -> pd.DataFrame | None:
    rows = data.read(path, "results", task, TASK_LOSS) if metric != TASK_LOSS else None
    return rows if rows is not None and len(rows) else None


def benchmark_fit(
    path: str, task: str, metric: str, link: str = "relu", chance: float | None = None
) -> BenchmarkFit:
    """The live fit of one benchmark on the store's current rows."""
    results = data.read(path, "results", task, metric)
    return _benchmark_fit(task, metric, results, _task_loss(path, task, metric), link, chance)


@st.cache_data(show_spinner=False, max_entries=256)
def _elbows(results: pd.DataFrame, link: str, chance: float | None) -> pd.DataFrame:
    finetuned = results[results["pretraining_loss"].notna() & (results["data_amount"] > 0)]
    return elbows_by_amount(finetuned, link, chance, alpha=ALPHA)


def per_amount_elbows(path: str, task: str, metric: str, link: str = "relu", chance: float | None = None):
    """An elbow fitted at each finetuning data amount alone, with 90% Wald intervals."""
    return _elbows(data.read(path, "results", task, metric), link, chance)


def _section(make, task: str, metric: str, results: pd.DataFrame, link: str, chance: float | None) -> dict:
    """A backtest-like section made from the benchmark's table, or "skipped" with the reason."""
    try:
        table = forecast.fit_table(results, task, metric)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}
    return make(table, forecast.FitOptions(link=link, chance=chance, n_boot=0))


@st.cache_data(show_spinner="Running the backtest (a fit per FLOPs cutoff)…", max_entries=64)
def _backtest(task: str, metric: str, results: pd.DataFrame, link: str, chance: float | None) -> dict:
    return _section(lambda t, o: forecast.backtest_section(t, o)[0], task, metric, results, link, chance)


def backtest(path: str, task: str, metric: str, link: str = "relu", chance: float | None = None) -> dict:
    """The live backtest of one benchmark, shaped like a forecast document's "backtest" section."""
    return _backtest(task, metric, data.read(path, "results", task, metric), link, chance)


@st.cache_data(show_spinner="Forecasting from the checkpoints still at chance…", max_entries=64)
def _before(task: str, metric: str, results: pd.DataFrame, link: str, chance: float | None) -> dict:
    return _section(forecast.run_before_emergence, task, metric, results, link, chance)


def before_emergence(
    path: str, task: str, metric: str, link: str = "relu", chance: float | None = None
) -> dict:
    """The few-shot elbow forecast from the checkpoints still at chance few-shot, against the actual one."""
    return _before(task, metric, data.read(path, "results", task, metric), link, chance)


@st.cache_data(show_spinner="Replaying the chain's backtest…", max_entries=64)
def _chain_splits(key: tuple, _fit: BenchmarkFit) -> pd.DataFrame:
    from emergence.forecast.chain import CALIBRATION_DRAWS, fit_chain, half_widths, ladder_from, splits

    chain = _fit.chain
    ladder = ladder_from(_fit.table, _fit.task_loss)
    names = [chain.name, *chain.peers]
    frames = []
    for label, fit_runs, target_runs in splits(ladder):
        part, targets = ladder.only(fit_runs), ladder.runs[ladder.runs["run"].isin(target_runs)]
        try:
            result = fit_chain(chain.name, part, CALIBRATION_DRAWS, 0)
        except EmergenceError:
            continue
        points = []
        for name in names[1:]:
            try:
                points.append(
                    fit_chain(name, part, 0, 0).accuracy_draws(targets["params"], targets["tokens"])[0]
                )
            except EmergenceError:
                continue
        own = result.accuracy_draws(targets["params"], targets["tokens"])[0]
        spread = np.std([own, *points], axis=0) if points else np.zeros(len(targets))
        point, low, high = half_widths(result, targets["params"], targets["tokens"], spread, chain.alpha)
        frames.append(
            targets.assign(
                split=label,
                predicted=point,
                lower=np.clip(point - chain.scale * low, 0, 1),
                upper=np.clip(point + chain.scale * high, 0, 1),
                flops=6.0 * targets["params"] * targets["tokens"],
                fitted_runs=len(part.runs),
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=[
                "split",
                "run",
                "size",
                "params",
                "tokens",
                "flops",
                "accuracy",
                "predicted",
                "lower",
                "upper",
                "error",
                "covered",
            ]
        )
    out = pd.concat(frames, ignore_index=True)
    out["error"] = out["predicted"] - out["accuracy"]
    out["covered"] = (out["accuracy"] >= out["lower"]) & (out["accuracy"] <= out["upper"])
    return out


def chain_splits(fit: BenchmarkFit) -> pd.DataFrame:
    """The chain's backtest replayed split by split: each held-out run's final accuracy, the accuracy the
    chosen chain predicted from the runs fitted, and its calibrated 90% interval (the chain's own scale)."""
    return _chain_splits((fit.task, fit.metric, fit.data_hash, fit.chain.name), fit)


@st.cache_data(show_spinner="Planning the runs that narrow the elbow most…", max_entries=64)
def _plan(key: tuple, budget: int, link: str, chance: float | None, _table: pd.DataFrame):
    from emergence.forecast.plan import plan_task

    try:
        return plan_task(
            _table, float(budget), unit="runs", options=forecast.FitOptions(link=link, chance=chance)
        )
    except EmergenceError as exc:
        return str(exc)


def plan(fit: BenchmarkFit, budget: int, link: str, chance: float | None):
    """The plan of ``budget`` finetuning runs for a benchmark (emergence.forecast.plan.Plan), or why not."""
    return _plan((fit.task, fit.metric, fit.data_hash), int(budget), link, chance, fit.table)
