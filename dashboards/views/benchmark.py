"""Benchmark: one benchmark's forecast (the emergence law, or the chain on a ladder of few-shot results),
its extrapolation, a budget to try, and the runs to plan next."""

from __future__ import annotations

import streamlit as st
from emergence.dashboards import chain_panel, data, fits, law_panel

LINKS = ["relu", "softplus", "sigmoid"]

st.title("Benchmark")
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)

tasks = sorted(benchmarks["task"].unique())
wanted = st.query_params.get("task")
if wanted in tasks and "benchmark_task" not in st.session_state:
    st.session_state["benchmark_task"] = wanted
left, mid, right = st.columns([3, 2, 2])
task = left.selectbox("Benchmark", tasks, key="benchmark_task")
rows = benchmarks[benchmarks["task"] == task]
metric = mid.selectbox("Metric", sorted(rows["metric"].unique()), key="benchmark_metric")
st.query_params["task"] = task
doc = data.forecast_document(path, task, metric)
chance = data.doc_chance(doc)
few_shot_only = bool(rows.loc[rows["metric"] == metric, "few_shot_only"].any())

fit = fits.benchmark_fit(path, task, metric, data.doc_link(doc) or "relu", chance) if few_shot_only else None
if fit is None or fit.chain is None:  # the emergence law: its link is a choice
    link = right.selectbox(
        "Link",
        LINKS,
        index=LINKS.index(data.doc_link(doc) or "relu"),
        help="The form of accuracy against pretraining loss: the paper's ReLU, a smoothed ReLU, or a sigmoid.",
    )
    fit = fits.benchmark_fit(path, task, metric, link, chance)
else:
    right.text_input("Forecast by", value=f"chain: {fit.chain.name}", disabled=True)
if fit.table.empty:
    st.info(fit.error)
    st.stop()

if fit.chain is not None:
    chain_panel.show(fit, path, chance)
else:
    law_panel.show(fit, doc, path, link)

if doc is not None:
    with st.expander("Exported forecast for this benchmark"):
        budgets = data.doc_budgets(doc)
        if not budgets.empty:
            st.dataframe(budgets, hide_index=True, width="stretch")
        st.json(doc, expanded=False)
(chain_panel if fit.chain is not None else law_panel).parameters(fit)
