"""The laws the Benchmark, Portfolio and Backtest pages fit live on the store's current results.

Live fits use point estimates with profile/Wald intervals (no bootstrap, so a page stays fast); the
exported forecast documents carry the bootstrap intervals widened by the backtest. Fits are cached on the
benchmark's rows, so a result landing for one task refits only that task; the objects are shared
read-only between sessions (st.cache_resource).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
from emergence.dashboards import data

from emergence import forecast
from emergence.errors import EmergenceError
from emergence.law import elbows_by_amount

ALPHA = 0.1  # 90% intervals throughout


@dataclass
class BenchmarkFit:
    """One benchmark's fitted rows and what could be fitted on them (None, with a reason, where not)."""

    task: str
    metric: str
    table: pd.DataFrame
    result: object | None = None
    error: str | None = None
    point: object | None = None
    loss_laws: dict = field(default_factory=dict)
    loss_law_error: str | None = None
    data_hash: str = ""

    @property
    def loss_law(self):
        """The loss-vs-compute law, or None."""
        return self.loss_laws.get("compute")

    def flops_to_loss(self, flops) -> np.ndarray:
        """Pretraining loss the loss law predicts at each FLOPs budget."""
        return self.loss_law.predict(np.atleast_1d(np.asarray(flops, float)))["mean"].to_numpy(float)

    def at_budget(self, budget: forecast.Budget) -> dict:
        """Predicted loss, few-shot accuracy (90% interval) and P(emerged) at one budget."""
        return forecast.budget_forecasts(self.result, self.loss_laws, [budget], alpha=ALPHA).iloc[0].to_dict()


@st.cache_resource(show_spinner="Fitting the emergence law…", max_entries=256)
def _benchmark_fit(task: str, metric: str, results: pd.DataFrame, link: str, chance: float | None):
    try:
        table = forecast.fit_table(results, task, metric)
    except EmergenceError as exc:
        return BenchmarkFit(task, metric, results.iloc[0:0], error=str(exc))
    options = forecast.FitOptions(link=link, chance=chance, n_boot=0, backtest=False, d0_values=())
    fitted = forecast.fit_benchmark(table, options)
    fit = BenchmarkFit(task, metric, table, data_hash=fitted.data_hash, loss_laws=fitted.loss_laws)
    fit.loss_law_error = "; ".join(fitted.loss_notes) if fit.loss_law is None else None
    if fitted.result is None:
        fit.error = fitted.reason
        return fit
    fit.result = fitted.result
    fit.point = fit.result.emergence_point(alpha=ALPHA)
    return fit


def benchmark_fit(
    path: str, task: str, metric: str, link: str = "relu", chance: float | None = None
) -> BenchmarkFit:
    """The live fit of one benchmark on the store's current rows."""
    results = data.read(path, "results", task, metric)
    return _benchmark_fit(task, metric, results, link, chance)


@st.cache_data(show_spinner=False, max_entries=256)
def _elbows(results: pd.DataFrame, link: str, chance: float | None) -> pd.DataFrame:
    finetuned = results[results["pretraining_loss"].notna() & (results["data_amount"] > 0)]
    return elbows_by_amount(finetuned, link, chance, alpha=ALPHA)


def per_amount_elbows(path: str, task: str, metric: str, link: str = "relu", chance: float | None = None):
    """An elbow fitted at each finetuning data amount alone, with 90% Wald intervals."""
    return _elbows(data.read(path, "results", task, metric), link, chance)


@st.cache_data(show_spinner="Running the backtest (a fit per FLOPs cutoff)…", max_entries=64)
def _backtest(task: str, metric: str, results: pd.DataFrame, link: str, chance: float | None) -> dict:
    try:
        table = forecast.fit_table(results, task, metric)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}
    section, _ = forecast.backtest_section(table, forecast.FitOptions(link=link, chance=chance, n_boot=0))
    return section


def backtest(path: str, task: str, metric: str, link: str = "relu", chance: float | None = None) -> dict:
    """The live backtest of one benchmark, shaped like a forecast document's "backtest" section."""
    return _backtest(task, metric, data.read(path, "results", task, metric), link, chance)
