"""Forecasts: from the store's results for a (task, metric) to a versioned forecast document.

One function per step, tables in and out: `fit_emergence` (the emergence law), `fit_loss_laws` (loss vs
compute, and vs params + tokens when the ladder has several sizes), `run_backtest`, `budget_forecasts`
(accuracy and the probability of emergence at budgets given as FLOPs, params + tokens, or a loss), and
`build_document`. `forecast` chains them for the store. Documents follow ``schema/forecast-v1.json``
and are validated on every write and read (emergence.forecast_document; re-exported here).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence import __version__
from emergence.errors import EmergenceError, NoElbowFound
from emergence.forecast_document import (
    SCHEMA_VERSION,
    dumps_document,
    interval,
    loads_document,
    now_iso,
    plain,
    read_document,
    schema,
    validate_document,
    write_document,
)

FITTED_COLUMNS = ("checkpoint", "pretraining_loss", "data_amount", "seed", "accuracy", "n_examples")
__all__ = [
    "Budget",
    "FitOptions",
    "budget_forecasts",
    "build_document",
    "choose_pair",
    "dumps_document",
    "fit_emergence",
    "fit_loss_laws",
    "fit_pair",
    "fit_store",
    "fit_table",
    "forecast",
    "forecast_table",
    "import_documents",
    "loads_document",
    "read_document",
    "run_backtest",
    "schema",
    "stored_forecasts",
    "validate_document",
    "write_document",
]
SUCCESS_NATS = 0.1
BUDGET_COLUMNS = ("label", "kind", "flops", "params", "tokens", "loss", "loss_lower", "loss_upper", "accuracy",
                  "accuracy_lower", "accuracy_upper", "prob_emerged")  # fmt: skip  # the paper's criterion: an elbow within 0.1 nats of the truth


# -- budgets ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """A budget to forecast at: FLOPs, params + tokens, or a pretraining loss (exactly one form)."""

    flops: float | None = None
    params: float | None = None
    tokens: float | None = None
    loss: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        forms = [
            self.flops is not None,
            self.params is not None or self.tokens is not None,
            self.loss is not None,
        ]
        if sum(forms) != 1:
            raise EmergenceError("a budget is one of: flops, params + tokens, or a pretraining loss")
        if (self.params is None) != (self.tokens is None):
            raise EmergenceError(
                "a params budget needs both params and tokens (e.g. --params 1e9 --tokens 2e10)"
            )
        for name in ("flops", "params", "tokens", "loss"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise EmergenceError(f"budget {name} must be a finite number > 0 (got {value})")

    @property
    def kind(self) -> str:
        return "flops" if self.flops is not None else "loss" if self.loss is not None else "params_tokens"

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.kind == "flops":
            return f"{self.flops:.3g} FLOPs"
        if self.kind == "loss":
            return f"loss {self.loss:g}"
        return f"{self.params:.3g} params x {self.tokens:.3g} tokens"


# -- the table --------------------------------------------------------------------------------------------
def fit_table(results: pd.DataFrame, task: str | None = None, metric: str | None = None) -> pd.DataFrame:
    """The rows of `Store.results()` the laws can fit: one (task, metric), with a pretraining loss.

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
    t = t[pd.to_numeric(t["pretraining_loss"], errors="coerce").notna()]
    if t.empty:
        raise EmergenceError(
            f"no checkpoint of task {task!r} has a pretraining loss; give or measure it first"
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


# -- the steps --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitOptions:
    """How a forecast is fitted: the law's form, D0, interval level and bootstrap."""

    link: str = "relu"
    shift: str = "log_power"
    d0: float = 1.0
    chance: float | None = None
    alpha: float = 0.1
    n_boot: int = 200
    seed: int = 0
    n_jobs: int = 2
    backtest: bool = True
    d0_values: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


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


def effective_options(table: pd.DataFrame, options: FitOptions) -> FitOptions:
    """Options as fitted: with one data amount only (e.g. few-shot ladder logs) the elbow cannot shift,
    so the shift is "none" and there is no D0 to vary."""
    from dataclasses import replace

    if options.shift != "none" and table["data_amount"].nunique() < 2:
        return replace(options, shift="none", d0_values=())
    return options


def fit_emergence(table: pd.DataFrame, options: FitOptions = FitOptions()):
    """Fit the emergence law on a (task, metric)'s rows, with a bootstrap when options.n_boot > 0."""
    from emergence.law import EmergenceLaw

    options = effective_options(table, options)
    law = EmergenceLaw(link=options.link, shift=options.shift, d0=options.d0, chance=options.chance)
    result = law.fit(table)
    if options.n_boot > 0:
        result.bootstrap(n=options.n_boot, n_jobs=options.n_jobs, seed=options.seed)
    return result


def fit_loss_laws(table: pd.DataFrame, options: FitOptions = FitOptions()) -> tuple[dict, list[str]]:
    """The loss laws the ladder supports: "compute" (FLOPs, or 6 N T, on 4+ checkpoints) and
    "params_tokens" (params and tokens on 6+ checkpoints of 2+ sizes). Returns (laws, notes on the rest)."""
    from emergence.law import ComputeLossLaw, ParamsTokensLossLaw

    ck = checkpoint_table(table)
    laws, notes = {}, []
    with_flops = ck[ck["flops"] > 0]
    sized = ck[(ck["params"] > 0) & (ck["tokens"] > 0)]
    for kind, law, rows in (
        ("compute", ComputeLossLaw, with_flops),
        ("params_tokens", ParamsTokensLossLaw, sized),
    ):
        if kind == "params_tokens" and rows.empty:
            continue
        try:
            laws[kind] = law(n_boot=options.n_boot, seed=options.seed).fit(rows)
        except EmergenceError as exc:
            notes.append(f"{kind} loss law: {exc}")
    return laws, notes


def _draws_interval(draws: Any, estimate: float, alpha: float) -> tuple[float, float]:
    draws = np.asarray(draws, dtype=float).ravel()
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return estimate, estimate
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def loss_at_budget(budget: Budget, loss_laws: dict, alpha: float) -> tuple[float, float, float, Any]:
    """Predicted pretraining loss at a budget: (estimate, lower, upper, bootstrap draws or None).

    FLOPs use the compute law; params + tokens the params-tokens law (or, on a ladder of one model size,
    the compute law at C = 6 N T)."""
    if budget.kind == "loss":
        return budget.loss, budget.loss, budget.loss, None
    if budget.kind == "params_tokens" and "params_tokens" not in loss_laws:
        if "compute" not in loss_laws:
            raise EmergenceError(
                f"budget {budget.name}: no loss law fits this ladder (see the notes); give --loss"
            )
        return loss_at_budget(Budget(flops=6.0 * budget.params * budget.tokens), loss_laws, alpha)
    if budget.kind == "flops":
        law = loss_laws.get("compute")
        if law is None:
            raise EmergenceError(
                f"budget {budget.name}: no loss-vs-compute law (the ladder lacks FLOPs); give --loss"
            )
        x = (budget.flops,)
    else:
        law, x = loss_laws["params_tokens"], (budget.params, budget.tokens)
    estimate = float(law.predict(*x, alpha=alpha)["mean"].iloc[0])
    if law.draws_ is None:
        return estimate, estimate, estimate, None
    draws = np.array([np.ravel(law.law.loss(theta, *x))[0] for theta in law.draws_.to_numpy()])
    w = getattr(law, "widening_factor", 1.0)
    lo, hi = _draws_interval(draws, estimate, alpha)
    return (
        estimate,
        estimate - w * (estimate - lo),
        estimate + w * (hi - estimate),
        estimate + w * (draws - estimate),
    )


def budget_forecasts(result, loss_laws: dict, budgets: list[Budget], alpha: float = 0.1) -> pd.DataFrame:
    """Per budget: the predicted loss and few-shot accuracy with intervals, and P(emerged by then).

    The accuracy interval joins both uncertainties: its lower end is the law's lower bound at the upper
    end of the loss interval, and its upper end the law's upper bound at the loss interval's lower end
    (accuracy falls as loss rises).
    """
    if not budgets:
        return pd.DataFrame(columns=list(BUDGET_COLUMNS))
    losses = [loss_at_budget(budget, loss_laws, alpha) for budget in budgets]
    for budget, (loss, *_) in zip(budgets, losses, strict=True):
        if not (loss > 0 and math.isfinite(loss)):
            raise EmergenceError(
                f"budget {budget.name}: the loss law predicts a loss of {loss}; it cannot be used"
            )
    at = np.array([[loss, max(lo, 1e-9), hi] for loss, lo, hi, _ in losses])
    pred = result.predict(at.ravel(), data_amount=0, alpha=alpha)
    mean, lower, upper = (pred[c].to_numpy().reshape(-1, 3) for c in ("mean", "lower", "upper"))
    if getattr(result, "draws_", None) is None:  # no elbow draws: one call for all budgets (it profiles)
        probs = np.ravel(result.prob_emerged(loss=at[:, 0]))
    else:  # pair the elbow's draws with each budget's loss draws
        probs = [
            np.ravel(result.prob_emerged(loss=d.reshape(-1, 1) if d is not None else loss))[0]
            for loss, _, _, d in losses
        ]
    rows = []
    for i, budget in enumerate(budgets):
        loss, loss_lo, loss_hi, _ = losses[i]
        rows.append(
            {
                "label": budget.name,
                "kind": budget.kind,
                "flops": budget.flops,
                "params": budget.params,
                "tokens": budget.tokens,
                "loss": loss,
                "loss_lower": loss_lo,
                "loss_upper": loss_hi,
                "accuracy": float(mean[i, 0]),
                "accuracy_lower": float(min(lower[i, 0], lower[i, 2])),
                "accuracy_upper": float(max(upper[i, 0], upper[i, 1])),
                "prob_emerged": float(np.clip(probs[i], 0.0, 1.0)),
            }
        )
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def run_backtest(table: pd.DataFrame, options: FitOptions = FitOptions()):
    """The paper's backtest (emergence.law.backtest) with the forecast's law; needs few-shot rows of every
    checkpoint and FLOPs (6 N T when only params and tokens are known)."""
    from emergence.law import EmergenceLaw, backtest

    options = effective_options(table, options)
    flops = checkpoint_table(table).set_index("checkpoint")["flops"]
    table = table.assign(flops=table["checkpoint"].map(flops))
    law = EmergenceLaw(link=options.link, shift=options.shift, d0=options.d0, chance=options.chance)
    return backtest(table, law, tolerance=SUCCESS_NATS, alpha=options.alpha)


def run_before_emergence(table: pd.DataFrame, options: FitOptions = FitOptions()) -> dict:
    """The few-shot elbow forecast from the checkpoints still at chance few-shot, against the elbow fitted
    on all few-shot results (emergence.law.forecast_before_emergence, with the forecast's law):
    {"status": "done", ...} or {"status": "skipped", "reason": ...}."""
    from emergence.law import EmergenceLaw, forecast_before_emergence

    options = effective_options(table, options)
    law = EmergenceLaw(link=options.link, shift=options.shift, d0=options.d0, chance=options.chance)
    try:
        found = forecast_before_emergence(table, law, alpha=options.alpha)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}
    return {"status": "done", "reason": None, **plain(found), "success": abs(found["error"]) <= SUCCESS_NATS}


# -- the document -----------------------------------------------------------------------------------------
def _law_section(result, d: dict, options: FitOptions, comparison: list[dict] | None) -> dict:
    boot = d.get("bootstrap") or {}
    diagnostics = {
        "converged": bool(d["converged"]),
        "n_obs": int(d["n_obs"]),
        "n_checkpoints": int(d["n_checkpoints"]),
        "loglik": d.get("loglik"),
        "aic": d.get("aic"),
        "bic": d.get("bic"),
        "bootstrap_resamples": int(boot.get("n", 0)),
        "bootstrap_failed": int(boot.get("failed", 0)),
    }
    section = {
        "link": d["link"],
        "shift": d["shift"],
        "d0": d["d0"],
        "params": d["params"],
        "conf_int": d["conf_int"],
        "diagnostics": plain(diagnostics),
    }
    if options.d0_values:
        sens = result.d0_sensitivity(options.d0_values, alpha=options.alpha)
        keep = [c for c in ("d0", "elbow", "lower", "upper", "flops", "note") if c in sens.columns]
        section["d0_sensitivity"] = plain(sens[keep].to_dict("records"))
    if comparison is not None:
        section["comparison"] = comparison
    return section


def compare_links(
    table: pd.DataFrame, options: FitOptions, links=("relu", "softplus", "sigmoid")
) -> list[dict]:
    """The law fitted with each link (no bootstrap) for model choice by AIC/BIC."""
    from emergence.law import EmergenceLaw

    rows = []
    for link in links:
        try:
            r = EmergenceLaw(link=link, shift=options.shift, d0=options.d0, chance=options.chance).fit(table)
            rows.append(plain({"link": link, "aic": r.aic, "bic": r.bic, "loglik": r.loglik}))
        except EmergenceError as exc:
            rows.append({"link": link, "aic": None, "bic": None, "loglik": None, "note": str(exc)})
    return rows


def _loss_law_section(laws: dict, notes: list[str]) -> dict | None:
    sections = []
    for kind, law in laws.items():
        d = law.to_dict() if hasattr(law, "to_dict") else {}
        params = d.get("params")
        if params is None and hasattr(law, "params_"):
            params = dict(law.params_)
        conf_int = d.get("conf_int")
        diagnostics = {k: v for k, v in d.items() if k not in ("params", "conf_int", "kind") and _scalar(v)}
        section = {"kind": kind, "params": plain(params or {}), "diagnostics": plain(diagnostics)}
        if isinstance(conf_int, dict):
            section["conf_int"] = plain({k: list(v)[:2] for k, v in conf_int.items()})
        if notes:
            section["diagnostics"]["notes"] = "; ".join(notes)
        sections.append(section)
    if not sections:
        return None
    first = sections[0]
    if len(sections) > 1:
        first["others"] = sections[1:]
    return first


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float | np.integer | np.floating)


def build_document(
    task: str,
    metric: str,
    table: pd.DataFrame,
    *,
    result=None,
    reason: str | None = None,
    loss_laws: dict | None = None,
    loss_notes: list[str] | None = None,
    budgets: pd.DataFrame | None = None,
    backtest: dict | None = None,
    comparison: list[dict] | None = None,
    options: FitOptions = FitOptions(),
    command: str = "",
    store: str | None = None,
    law_dict: dict | None = None,
) -> dict:
    """Assemble (and validate) the forecast document from the fitted pieces.

    ``law_dict`` is ``result.to_dict(alpha)`` when the caller has it already (it is computed otherwise).

    With ``result`` None the emergence point is "not_found" with ``reason``, and there are no budgets.
    """
    alpha = options.alpha
    if result is not None:
        law_dict = law_dict or plain(result.to_dict(alpha=alpha))
        point = law_dict["emergence_point"]
        emergence_point = {
            "status": "found",
            "reason": None,
            "loss": interval(point["loss"], point["loss_lower"], point["loss_upper"]),
            "flops": interval(point["flops"], point["flops_lower"], point["flops_upper"]),
            "method": point["method"],
            "widening_factor": float(max(point["widening_factor"] or 1.0, 1.0)),
        }
        chance = float(result.params_["chance"])
    else:
        emergence_point = {
            "status": "not_found",
            "reason": reason or "no elbow found",
            "loss": None,
            "flops": None,
        }
        chance = options.chance if options.chance is not None else float(table["accuracy"].min())
    rows = [] if budgets is None or result is None else budgets.to_dict("records")
    document = {
        "schema_version": SCHEMA_VERSION,
        "task": str(task),
        "metric": str(metric),
        "chance": float(min(max(chance, 0.0), 1.0)),
        "interval_level": 1.0 - alpha,
        "emergence_point": emergence_point,
        "budgets": [
            {
                "label": r["label"],
                "kind": r["kind"],
                "flops": plain(r["flops"]),
                "params": plain(r["params"]),
                "tokens": plain(r["tokens"]),
                "pretraining_loss": interval(r["loss"], r["loss_lower"], r["loss_upper"]),
                "accuracy": interval(r["accuracy"], r["accuracy_lower"], r["accuracy_upper"]),
                "prob_emerged": float(r["prob_emerged"]),
            }
            for r in rows
        ],
        "law": None if result is None else _law_section(result, law_dict, options, comparison),
        "loss_law": _loss_law_section(loss_laws or {}, loss_notes or []),
        "backtest": backtest or {"status": "skipped", "reason": "not run"},
        "provenance": {
            "run_ids": sorted(set(map(str, table["run_id"]))) if "run_id" in table.columns else [],
            "data_hash": data_hash(table),
            "package_version": __version__,
            "created_at": now_iso(),
            "command": command,
            "store": store,
            "options": plain(options.to_dict()),
        },
    }
    return validate_document(plain(document))


def backtest_section(table: pd.DataFrame, options: FitOptions) -> tuple[dict, Any]:
    """The backtest as the document holds it, and the backtest object (None when skipped)."""
    if not options.backtest:
        return {"status": "skipped", "reason": "not requested"}, None
    try:
        bt = run_backtest(table, options)
    except EmergenceError as exc:
        return {"status": "skipped", "reason": str(exc)}, None
    return plain(_backtest_dict(bt)), bt


def _backtest_dict(bt) -> dict:
    """A BacktestResult as the document's backtest section (errors in nats, absolute)."""
    rows = []
    for c in bt.cutoffs.to_dict("records"):
        rows.append(
            {
                "cutoff_flops": c["cutoff_flops"],
                "n_checkpoints": c.get("n_checkpoints"),
                "predicted_elbow": c.get("predicted_elbow"),
                "lower": c.get("lower"),
                "upper": c.get("upper"),
                "actual_elbow": c.get("reference_elbow"),
                "error_nats": c.get("abs_error"),
                "signed_error_nats": c.get("error"),
                "success": bool(c.get("success")),
                "covered": bool(c.get("covered")),
                "advance_factor": c.get("advance_factor"),
                "note": str(c.get("note") or ""),
            }
        )
    errors = pd.to_numeric(bt.cutoffs["abs_error"], errors="coerce").dropna()
    d = bt.to_dict()
    return {
        "status": "done",
        "reason": None,
        "success_threshold_nats": float(bt.tolerance),
        "actual_elbow": bt.reference_elbow,
        "cutoffs": rows,
        "median_error_nats": float(errors.median()) if len(errors) else None,
        "success_rate": d.get("success_rate"),
        "advance_factor": d.get("advance_factor"),
        "coverage": d.get("coverage"),
    }


def forecast_table(
    table: pd.DataFrame,
    budgets: list[Budget],
    options: FitOptions = FitOptions(),
    *,
    compare: bool = False,
    command: str = "",
    store: str | None = None,
    progress=None,
) -> tuple[dict, dict]:
    """The whole forecast for one (task, metric)'s rows: fits, backtest, budgets, document.

    Args:
        progress: called with a short label before each step (for progress bars), or None.

    Returns:
        (document, fits) where fits maps a kind ("emergence_law", "loss_law:compute", ...) to its to_dict().
    """
    step = progress or (lambda label: None)
    task, metric = str(table["task"].iloc[0]), str(table["metric"].iloc[0])
    options = effective_options(table, options)
    step("emergence law")
    try:
        result = fit_emergence(table, options)
    except EmergenceError as exc:  # no elbow, or data the law cannot fit: the document says why
        reason = exc.reason if isinstance(exc, NoElbowFound) else str(exc)
        document = build_document(
            task, metric, table, reason=reason, options=options, command=command, store=store
        )
        return document, {}
    step("loss law")
    loss_laws, notes = fit_loss_laws(table, options)
    if "compute" in loss_laws:
        result.attach_loss_law(loss_laws["compute"])
    step("backtest")
    backtest, bt = backtest_section(table, options)
    if bt is not None and hasattr(result, "widen") and hasattr(bt, "widening"):
        try:
            result.widen(bt, alpha=options.alpha)
        except EmergenceError as exc:
            backtest["reason"] = f"intervals not widened by the backtest: {exc}"
    step("budgets")
    frame = budget_forecasts(result, loss_laws, budgets, options.alpha)
    comparison = compare_links(table, options) if compare else None
    step("document")
    law_dict = plain(result.to_dict(alpha=options.alpha))
    document = build_document(
        task,
        metric,
        table,
        result=result,
        loss_laws=loss_laws,
        loss_notes=notes,
        budgets=frame,
        backtest=backtest,
        comparison=comparison,
        options=options,
        command=command,
        store=store,
        law_dict=law_dict,
    )
    fits = {"emergence_law": law_dict}
    for kind, law in loss_laws.items():
        fits[f"loss_law:{kind}"] = plain(law.to_dict()) if hasattr(law, "to_dict") else {}
    return document, fits


def forecast(
    store,
    task: str,
    metric: str,
    budgets: list[Budget] = (),
    options: FitOptions = FitOptions(),
    *,
    compare: bool = False,
    command: str = "",
    progress=None,
) -> dict:
    """Forecast one (task, metric) from the store's results; keep the fits and the document beside earlier
    ones; return it."""
    table = fit_table(store.results(task, metric), task, metric)
    document, fits = forecast_table(
        table,
        list(budgets),
        options,
        compare=compare,
        command=command,
        store=str(store.path),
        progress=progress,
    )
    save_fits(store, task, metric, document["provenance"]["data_hash"], fits, options)
    store.add_forecast(document)
    return document


def save_fits(store, task: str, metric: str, data: str, fits: dict, options: FitOptions) -> None:
    """Keep each fitted law's to_dict() with the data hash and options it was fitted with."""
    for kind, result in fits.items():
        store.add_fit(task, metric, kind, data, result, options=plain(options.to_dict()))


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


def fit_pair(table: pd.DataFrame, options: FitOptions = FitOptions()) -> dict:
    """Fit the emergence law and the loss laws on one (task, metric)'s rows; a row for people and the fits.

    Returns:
        A dict with task, metric, status ("fitted" or "no_elbow"), the few-shot elbow and its FLOPs with
        intervals, the loss laws fitted, a note, and "fits" (kind -> to_dict()) to store.
    """
    task, metric = str(table["task"].iloc[0]), str(table["metric"].iloc[0])
    row = {"task": task, "metric": metric, "data_hash": data_hash(table), "n_rows": len(table)}
    options = effective_options(table, options)
    loss_laws, notes = fit_loss_laws(table, options)
    fits = {
        f"loss_law:{k}": plain(v.to_dict()) if hasattr(v, "to_dict") else {} for k, v in loss_laws.items()
    }
    row["loss_laws"] = sorted(loss_laws)
    try:
        result = fit_emergence(table, options)
    except NoElbowFound as exc:
        return row | {"status": "no_elbow", "note": exc.reason, "fits": fits}
    except EmergenceError as exc:
        return row | {"status": "error", "note": str(exc), "fits": fits}
    if "compute" in loss_laws:
        result.attach_loss_law(loss_laws["compute"])
    fits["emergence_law"] = law_dict = plain(result.to_dict(alpha=options.alpha))
    point = law_dict["emergence_point"]
    return row | {
        "status": "fitted",
        "elbow": interval(point["loss"], point["loss_lower"], point["loss_upper"]),
        "flops": interval(point["flops"], point["flops_lower"], point["flops_upper"]),
        "converged": bool(result.converged),
        "note": "; ".join(notes),
        "fits": fits,
    }


def fit_store(
    store, pairs: list[tuple[str, str]], options: FitOptions = FitOptions(), progress=None
) -> list[dict]:
    """`fit_pair` for each (task, metric) of the store; the fits are stored; returns the rows (no fits)."""
    rows = []
    results = store.results()
    for task, metric in pairs:
        if progress:
            progress(f"{task}/{metric}")
        try:
            row = fit_pair(fit_table(results, task, metric), options)
        except EmergenceError as exc:
            rows.append({"task": task, "metric": metric, "status": "error", "note": str(exc)})
            continue
        save_fits(store, task, metric, row["data_hash"], row.pop("fits"), options)
        rows.append(row)
    return rows


def choose_pair(results: pd.DataFrame, task: str | None, metric: str | None) -> tuple[str, str]:
    """The (task, metric) meant: as given, or the only one in the results; an error lists the choices."""
    pairs = [
        p
        for p in task_pairs(results)
        if (task is None or p[0] == task) and (metric is None or p[1] == metric)
    ]
    if len(pairs) == 1:
        return pairs[0]
    if not pairs and task is None and metric is None:
        raise EmergenceError(
            "the store has no finished results yet: run `emergence sweep` or `emergence ingest`"
        )
    if not pairs:
        known = ", ".join(f"{t}/{m}" for t, m in task_pairs(results)[:8]) or "none"
        raise EmergenceError(
            f"no finished results for task {task!r}, metric {metric!r}; the store has: {known}"
        )
    metrics = sorted({m for _, m in pairs})
    tasks = sorted({t for t, _ in pairs})
    if len(tasks) == 1:
        preferred = next((m for m in ("acc", "acc_norm", "exact_match", "len_norm") if m in metrics), None)
        if preferred and metric is None:
            return tasks[0], preferred
        raise EmergenceError(
            f"task {tasks[0]} has several metrics ({', '.join(metrics)}); choose one with --metric"
        )
    raise EmergenceError(f"the store has several tasks ({', '.join(tasks[:8])}); choose one with --task")
