"""Fitting one benchmark: the emergence law, the loss laws that turn loss into compute, and the backtest.

`fit_benchmark` is the one way through, used by the CLI, the pipeline and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError, NoElbowFound
from emergence.forecast.chain import forecast_chain, ladder_from
from emergence.forecast.document import plain
from emergence.forecast.options import DEFAULT_OPTIONS, SUCCESS_NATS, FitOptions
from emergence.forecast.table import checkpoint_table, data_hash, with_flops, with_loss


@dataclass(frozen=True)
class BenchmarkFit:
    """Everything fitted on one benchmark's rows; ``result`` is None (with ``reason``) when the emergence
    law could not be placed."""

    task: str
    metric: str
    table: pd.DataFrame
    options: FitOptions
    result: object | None = None
    reason: str | None = None
    loss_laws: dict = field(default_factory=dict)
    loss_notes: list[str] = field(default_factory=list)
    backtest: dict = field(default_factory=lambda: {"status": "skipped", "reason": "not run"})
    chain: object | None = None  # a ChainForecast when the chain made the forecast

    @property
    def data_hash(self) -> str:
        return data_hash(self.table)

    @property
    def loss_law(self):
        """The loss-vs-compute law, or None."""
        return self.loss_laws.get("compute")


def fit_benchmark(
    table: pd.DataFrame, options: FitOptions = DEFAULT_OPTIONS, task_loss: pd.DataFrame | None = None
) -> BenchmarkFit:
    """Fit one (task, metric)'s rows: the chain (emergence.forecast.chain) for a ladder of few-shot results,
    else the emergence law (bootstrapped when options.n_boot > 0) and the loss laws, with the backtest
    (when options.backtest) widening the law's intervals by the error it measured.

    task_loss: the task's own loss rows (metric bpb), a candidate intermediate of the chain.
    """
    task, metric = str(table["task"].iloc[0]), str(table["metric"].iloc[0])
    options = options.for_table(table)
    fit = BenchmarkFit(task, metric, table, options)
    few_shot_only = (table["data_amount"] == 0).all()
    if options.method == "chain" or (options.method == "auto" and few_shot_only):
        try:
            chain = forecast_chain(ladder_from(table, task_loss), alpha=options.alpha, n_boot=options.n_boot,
                                   seed=options.seed)  # fmt: skip
            return replace(fit, chain=chain, reason="the chain made the forecast")
        except EmergenceError as exc:
            if options.method == "chain":
                return replace(fit, reason=f"no chain: {exc}")
            fit = replace(fit, loss_notes=[f"no chain: {exc}"])
    return _fit_law(fit)


def _fit_law(fit: BenchmarkFit) -> BenchmarkFit:
    try:
        fit = replace(fit, table=with_loss(fit.table))
    except EmergenceError as exc:
        return replace(fit, reason=str(exc))
    table, options = fit.table, fit.options
    loss_laws, notes = fit_loss_laws(table, options)
    fit = replace(fit, loss_laws=loss_laws, loss_notes=[*fit.loss_notes, *notes])
    try:
        result = options.law().fit(table)
    except EmergenceError as exc:  # no elbow, or data the law cannot fit: the fit says why
        return replace(fit, reason=exc.reason if isinstance(exc, NoElbowFound) else str(exc))
    if options.n_boot > 0:
        result = result.bootstrap(n=options.n_boot, n_jobs=options.n_jobs, seed=options.seed)
    if "compute" in loss_laws:
        result = result.with_loss_law(loss_laws["compute"])
    section = {"status": "skipped", "reason": "not requested"}
    if options.backtest:
        section, bt = backtest_section(table, options, loss_laws.get("compute"))
        if bt is not None:
            try:
                result = result.widen(bt, alpha=options.alpha)
            except EmergenceError as exc:
                section["reason"] = f"intervals not widened by the backtest: {exc}"
    return replace(fit, result=result, backtest=section)


def fit_loss_laws(table: pd.DataFrame, options: FitOptions = DEFAULT_OPTIONS) -> tuple[dict, list[str]]:
    """The loss laws the ladder supports: "compute" (FLOPs, or 6 N T, on 4+ checkpoints) and
    "params_tokens" (params and tokens on 6+ checkpoints of 2+ sizes). Returns (laws, notes on the rest)."""
    from emergence.law import ComputeLossLaw, ParamsTokensLossLaw

    ck = checkpoint_table(table)
    laws, notes = {}, []
    sized = ck[(ck["params"] > 0) & (ck["tokens"] > 0)]
    for kind, law, rows in (
        ("compute", ComputeLossLaw, ck[ck["flops"] > 0]),
        ("params_tokens", ParamsTokensLossLaw, sized),
    ):
        if kind == "params_tokens" and rows.empty:
            continue
        try:
            laws[kind] = law(n_boot=options.n_boot, seed=options.seed).fit(rows)
        except EmergenceError as exc:
            notes.append(f"{kind} loss law: {exc}")
    return laws, notes


def run_backtest(table: pd.DataFrame, options: FitOptions = DEFAULT_OPTIONS):
    """The paper's backtest (emergence.law.backtest) with the forecast's law; needs few-shot rows of every
    checkpoint and FLOPs (6 N T when only params and tokens are known)."""
    from emergence.law import backtest

    options = options.for_table(table)
    return backtest(with_flops(table), options.law(), tolerance=SUCCESS_NATS, alpha=options.alpha)


def backtest_section(table: pd.DataFrame, options: FitOptions, loss_law=None) -> tuple[dict, object | None]:
    """The backtest as the document holds it (elbows in FLOPs too, through ``loss_law`` when given), and
    the backtest object (None when it could not run)."""
    try:
        bt = run_backtest(table, options)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}, None
    rows = [
        {
            "cutoff_flops": c["cutoff_flops"], "n_checkpoints": c.get("n_checkpoints"),
            "predicted_elbow": c.get("predicted_elbow"), "lower": c.get("lower"), "upper": c.get("upper"),
            "actual_elbow": c.get("reference_elbow"), "error_nats": c.get("abs_error"),
            "signed_error_nats": c.get("error"), "success": bool(c.get("success")), "covered": bool(c.get("covered")),
            "advance_factor": c.get("advance_factor"), "note": str(c.get("note") or ""),
            "predicted_flops": _flops(loss_law, c.get("predicted_elbow")),
            "actual_flops": _flops(loss_law, c.get("reference_elbow")),
        }
        for c in bt.cutoffs.to_dict("records")
    ]  # fmt: skip
    errors = pd.to_numeric(bt.cutoffs["abs_error"], errors="coerce").dropna()
    d = bt.to_dict()
    section = {
        "status": "done", "reason": None, "success_threshold_nats": float(bt.tolerance),
        "actual_elbow": bt.reference_elbow, "first_emerged_flops": bt.first_emerged_flops, "cutoffs": rows,
        "median_error_nats": float(errors.median()) if len(errors) else None,
        "success_rate": d.get("success_rate"), "advance_factor": d.get("advance_factor"), "coverage": d.get("coverage"),
    }  # fmt: skip
    return plain(section), bt


def _flops(loss_law, loss) -> float | None:
    """FLOPs at which the loss law reaches a loss (None without a law, or beyond its floor)."""
    if loss_law is None or loss is None or not np.isfinite(loss):
        return None
    try:
        flops = float(loss_law.inverse(loss))
    except (EmergenceError, ValueError, FloatingPointError):
        return None
    return flops if np.isfinite(flops) and flops > 0 else None


def run_before_emergence(table: pd.DataFrame, options: FitOptions = DEFAULT_OPTIONS) -> dict:
    """The few-shot elbow forecast from the checkpoints still at chance few-shot, against the elbow fitted
    on all few-shot results (emergence.law.forecast_before_emergence, with the forecast's law):
    {"status": "done", ...} or {"status": "skipped", "reason": ...}."""
    from emergence.law import forecast_before_emergence

    options = options.for_table(table)
    try:
        found = forecast_before_emergence(table, options.law(), alpha=options.alpha)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}
    return {"status": "done", "reason": None, **plain(found), "success": abs(found["error"]) <= SUCCESS_NATS}


def compare_links(
    table: pd.DataFrame, options: FitOptions, links=("relu", "softplus", "sigmoid")
) -> list[dict]:
    """The law fitted with each link (no bootstrap) for model choice by AIC/BIC."""
    rows = []
    for link in links:
        try:
            r = options.law(link=link).fit(table)
            rows.append(plain({"link": link, "aic": r.aic, "bic": r.bic, "loglik": r.loglik}))
        except EmergenceError as exc:
            rows.append({"link": link, "aic": None, "bic": None, "loglik": None, "note": str(exc)})
    return rows
