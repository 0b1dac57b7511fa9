"""Benchmark: the emergence law of one benchmark, its few-shot extrapolation, and a budget to try."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from emergence.dashboards import charts, data, fits

from emergence import forecast
from emergence.errors import EmergenceError

st.title("Benchmark")
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)

tasks = sorted(benchmarks["task"].unique())
wanted = st.query_params.get("task")
if wanted in tasks and "benchmark_task" not in st.session_state:
    st.session_state["benchmark_task"] = wanted
left, mid, right = st.columns([3, 2, 2])
task = left.selectbox("Benchmark", tasks, key="benchmark_task")
metrics = sorted(benchmarks.loc[benchmarks["task"] == task, "metric"].unique())
metric = mid.selectbox("Metric", metrics, key="benchmark_metric")
doc = data.forecast_document(path, task, metric)
link = right.selectbox(
    "Link",
    ["relu", "softplus", "sigmoid"],
    index=["relu", "softplus", "sigmoid"].index(data.doc_link(doc) or "relu"),
    help="The form of accuracy against pretraining loss: the paper's ReLU, a smoothed ReLU, or a sigmoid.",
)
st.query_params["task"] = task

fit = fits.benchmark_fit(path, task, metric, link, data.doc_chance(doc))
if fit.table.empty:
    st.info(fit.error)
    st.stop()

# -- headline: the few-shot emergence point -------------------------------------------------------------
cols = st.columns(4)
if fit.point is not None:
    p = fit.point
    cols[0].metric(
        "Few-shot emergence (loss)",
        f"{p.loss:.3f} nats",
        help=f"90% interval {p.loss_lower:.3f}–{p.loss_upper:.3f}",
    )
    cols[0].caption(f"90%: {p.loss_lower:.3f} – {p.loss_upper:.3f} nats")
    if p.flops is not None:
        cols[1].metric("Few-shot emergence (FLOPs)", charts.sci(p.flops))
        cols[1].caption(f"90%: {charts.sci(p.flops_lower)} – {charts.sci(p.flops_upper)}")
else:
    cols[0].metric("Few-shot emergence", "not located")
    st.warning(f"The law cannot place an elbow on these results: {fit.error}")
cols[2].metric("Runs fitted", f"{fit.table['run_id'].nunique():,}")
cols[2].caption(
    f"{fit.table['checkpoint'].nunique()} checkpoints × {fit.table['data_amount'].nunique()} data amounts"
)
trust = data.trust_mark(doc)
cols[3].metric("Backtest", trust["mark"], help=trust["detail"])
cols[3].caption(trust["detail"])

# -- the emergence law ----------------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.subheader("Accuracy vs pretraining loss")
    st.altair_chart(charts.accuracy_vs_loss(fit), width="stretch")
    st.caption(
        "Points: mean over seeds with 90% binomial intervals; lines: the fitted law per finetuning data amount; "
        "dashed: the few-shot extrapolation (band: its 90% interval); shaded: the predicted few-shot elbow."
    )
with right:
    st.subheader("Elbow vs data amount")
    elbows = fits.per_amount_elbows(path, task, metric, link, data.doc_chance(doc))
    st.altair_chart(charts.elbow_vs_amount(fit, elbows), width="stretch")
    st.caption(
        "Points: an elbow fitted at each data amount alone; line: the fitted log-power shift; diamond: its "
        "extrapolation to the low-data limit D0, the few-shot emergence point."
    )

# -- a budget -------------------------------------------------------------------------------------------
st.subheader("At a budget")
modes = ["FLOPs", "Params + tokens", "Pretraining loss"] if fit.loss_law is not None else ["Pretraining loss"]
if fit.loss_law is None:
    st.caption(f"Budgets in FLOPs need the loss-vs-compute law: {fit.loss_law_error}")
mode = st.radio("Budget given as", modes, horizontal=True, key="budget_mode")
default_flops = charts.default_budget(fit, data.read(path, "checkpoints"))
c1, c2, c3 = st.columns(3)
if mode == "FLOPs":
    flops = c1.number_input("FLOPs", min_value=1.0, value=default_flops, format="%.3e", key="budget_flops")
    budget = forecast.Budget(flops=flops)
elif mode == "Params + tokens":
    n_default = float(f"{np.sqrt(default_flops / 120.0):.3g}")
    params = c1.number_input("Parameters", min_value=1.0, value=n_default, format="%.3e", key="budget_params")
    tokens = c2.number_input(
        "Tokens", min_value=1.0, value=20 * n_default, format="%.3e", key="budget_tokens"
    )
    budget = forecast.Budget(params=params, tokens=tokens)
    c3.caption(f"≈ {charts.sci(6.0 * params * tokens)} FLOPs (6 × params × tokens)")
else:
    first = round(float(fit.table["pretraining_loss"].min()) - 0.1, 3)
    loss = c1.number_input(
        "Pretraining loss (nats)", min_value=0.01, value=first, step=0.01, format="%.3f", key="budget_loss"
    )
    budget = forecast.Budget(loss=loss)

if fit.result is not None:
    try:
        at = fit.at_budget(budget)
    except EmergenceError as exc:
        st.error(str(exc))
    else:
        m1, m2, m3 = st.columns(3)
        m1.metric("Predicted pretraining loss", f"{at['loss']:.3f} nats")
        if at["loss_lower"] != at["loss_upper"]:
            m1.caption(f"90%: {at['loss_lower']:.3f} – {at['loss_upper']:.3f} nats")
        m2.metric("Expected few-shot accuracy", f"{at['accuracy']:.3f}")
        m2.caption(f"90%: {at['accuracy_lower']:.3f} – {at['accuracy_upper']:.3f}")
        m3.metric("P(emerged by this budget)", f"{at['prob_emerged']:.0%}")
        if fit.loss_law is not None:
            flops = at["flops"] if at["flops"] == at["flops"] and at["flops"] else None
            if flops is None and budget.kind == "params_tokens":
                flops = 6.0 * budget.params * budget.tokens
            acc_chart, prob_chart = charts.forecast_vs_compute(fit, flops)
            g1, g2 = st.columns(2)
            g1.altair_chart(acc_chart, width="stretch")
            g2.altair_chart(prob_chart, width="stretch")
            st.caption(
                "Few-shot accuracy expected at each compute budget (band: 90% interval) and the probability "
                "that few-shot emergence has happened by then; points: the ladder's observed few-shot accuracy."
            )

# -- the exported forecast ------------------------------------------------------------------------------
if doc is not None:
    with st.expander("Exported forecast for this benchmark"):
        budgets = data.doc_budgets(doc)
        if not budgets.empty:
            st.dataframe(budgets, hide_index=True, width="stretch")
        st.json(doc, expanded=False)

with st.expander("Fitted parameters"):
    if fit.result is not None:
        ci = fit.result.conf_int(fits.ALPHA)
        table = pd.DataFrame({"estimate": fit.result.params_, "lower": ci["lower"], "upper": ci["upper"]})
        st.dataframe(table, width="stretch")
        st.code(fit.result.summary(fits.ALPHA), language=None)
    else:
        st.write(fit.error)
