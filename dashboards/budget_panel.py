"""The Benchmark page's budget: a budget given as FLOPs, params + tokens or a pretraining loss, and the
loss, few-shot accuracy and probability of emergence the forecast (law or chain) expects there."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st
from emergence.dashboards import charts, data
from emergence.dashboards.fits import BenchmarkFit

from emergence import forecast
from emergence.errors import EmergenceError


def default_flops(fit: BenchmarkFit, path: str) -> float:
    """A first budget to show: the predicted emergence FLOPs, else 10x the ladder's largest model."""
    flops = ((fit.chain_point or {}).get("flops") or {}).get("estimate")
    if flops and math.isfinite(flops):
        return float(f"{flops:.3g}")
    return charts.default_budget(fit, data.read(path, "checkpoints"))


def budget_inputs(fit: BenchmarkFit, path: str) -> forecast.Budget:
    """The budget the user gives (a radio for its form, then its numbers)."""
    compute = fit.chain is not None or fit.loss_law is not None
    losses = fit.chain is None or fit.chain.corpus is not None
    modes = (["FLOPs", "Params + tokens"] if compute else []) + (["Pretraining loss"] if losses else [])
    if fit.chain is None and fit.loss_law is None:
        st.caption(f"Budgets in FLOPs need the loss-vs-compute law: {fit.loss_law_error}")
    mode = st.radio("Budget given as", modes, horizontal=True, key="budget_mode")
    first_flops = default_flops(fit, path)
    c1, c2, c3 = st.columns(3)
    if mode == "FLOPs":
        flops = c1.number_input("FLOPs", min_value=1.0, value=first_flops, format="%.3e", key="budget_flops")
        return forecast.Budget(flops=flops)
    if mode == "Params + tokens":
        n_default = float(f"{np.sqrt(first_flops / 120.0):.3g}")
        params = c1.number_input(
            "Parameters", min_value=1.0, value=n_default, format="%.3e", key="budget_params"
        )
        tokens = c2.number_input(
            "Tokens", min_value=1.0, value=20 * n_default, format="%.3e", key="budget_tokens"
        )
        c3.caption(f"≈ {charts.sci(6.0 * params * tokens)} FLOPs (6 × params × tokens)")
        return forecast.Budget(params=params, tokens=tokens)
    first = round(float(fit.table["pretraining_loss"].min()) - 0.1, 3)
    loss = c1.number_input(
        "Pretraining loss (nats)", min_value=0.01, value=first, step=0.01, format="%.3f", key="budget_loss"
    )
    return forecast.Budget(loss=loss)


def budget_numbers(fit: BenchmarkFit, budget: forecast.Budget) -> float | None:
    """The expected loss, accuracy and P(emerged) at the budget as metrics; returns the budget's FLOPs
    (None when it has none), or None after saying why nothing could be forecast."""
    try:
        at = fit.at_budget(budget)
    except EmergenceError as exc:
        st.error(str(exc))
        return None
    m1, m2, m3 = st.columns(3)
    if at["loss"] is not None and at["loss"] == at["loss"]:
        m1.metric("Predicted pretraining loss", f"{at['loss']:.3f} nats")
        if at["loss_lower"] != at["loss_upper"]:
            m1.caption(f"90%: {at['loss_lower']:.3f} – {at['loss_upper']:.3f} nats")
    else:
        m1.metric(
            "Predicted pretraining loss", "–", help="This ladder has no losses: the chain runs on compute."
        )
    m2.metric("Expected few-shot accuracy", f"{at['accuracy']:.3f}")
    m2.caption(f"90%: {at['accuracy_lower']:.3f} – {at['accuracy_upper']:.3f}")
    m3.metric("P(emerged by this budget)", f"{at['prob_emerged']:.0%}")
    flops = at["flops"] if at["flops"] is not None and at["flops"] == at["flops"] and at["flops"] else None
    if flops is None and budget.kind == "params_tokens":
        flops = 6.0 * budget.params * budget.tokens
    if flops is None and budget.kind == "loss" and fit.chain is not None and fit.chain.corpus is not None:
        flops = fit.chain.flops_for_loss(budget.loss)
    return flops
