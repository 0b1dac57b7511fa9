"""Backtest: how well the law predicted emergence before it happened, per FLOPs cutoff (the paper's protocol)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from emergence.dashboards import backtest_charts, charts, data, fits, trust

st.title("Backtest")
st.caption(
    "Hold out every checkpoint above a FLOPs cutoff, fit the law on the rest, and compare the predicted "
    "few-shot elbow with the elbow fitted on all few-shot results. A prediction succeeds within 0.1 nats "
    "(the paper's criterion); the advance factor is the FLOPs of the first emerged checkpoint over the "
    "largest FLOPs fitted, the largest among successes."
)
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)

# -- every benchmark with an exported forecast ----------------------------------------------------------
docs = data.latest_forecasts(path)
if not docs.empty:
    rows = []
    for doc in docs["document"]:
        bt, mark = doc.get("backtest") or {}, trust.trust_mark(doc)
        rows.append(
            {
                "benchmark": doc["task"],
                "metric": doc["metric"],
                "trust": mark["mark"],
                "median error (nats)": bt.get("median_error_nats"),
                "success rate": bt.get("success_rate"),
                "advance ×": bt.get("advance_factor"),
                "coverage": bt.get("coverage"),
                "cutoffs": len(bt.get("cutoffs") or []),
                "note": bt.get("reason") or "",
            }
        )
    st.subheader("All exported forecasts")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "median error (nats)": st.column_config.NumberColumn(format="%.3f"),
            "success rate": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
            "advance ×": st.column_config.NumberColumn(format="%.1f"),
            "coverage": st.column_config.NumberColumn(format="percent"),
        },
    )

# -- one benchmark --------------------------------------------------------------------------------------
st.subheader("Per cutoff")
tasks = sorted(benchmarks["task"].unique())
left, right = st.columns([3, 2])
task = left.selectbox("Benchmark", tasks, key="backtest_task")
metric = right.selectbox(
    "Metric", sorted(benchmarks.loc[benchmarks["task"] == task, "metric"].unique()), key="backtest_metric"
)
doc = data.forecast_document(path, task, metric)
fresh = doc is not None and doc["provenance"].get("data_hash") == data.read(path, "data_hashes").get(
    (task, metric)
)
if fresh and (doc.get("backtest") or {}).get("status") == "done":
    bt, source = doc["backtest"], f"exported forecast of {doc['provenance']['created_at'][:10]}"
else:
    bt = fits.backtest(path, task, metric, data.doc_link(doc) or "relu", data.doc_chance(doc))
    source = "live backtest on the store's current results"
st.caption(f"Source: {source}.")
if bt.get("status") != "done":
    st.warning(f"No backtest for {task}: {bt.get('reason') or 'not run'}")
    st.stop()

threshold = float(bt.get("success_threshold_nats") or 0.1)
cutoffs = pd.DataFrame(bt.get("cutoffs") or [])
for col in ("predicted_elbow", "actual_elbow", "error_nats", "advance_factor"):
    if col not in cutoffs:
        cutoffs[col] = None
    cutoffs[col] = pd.to_numeric(cutoffs[col], errors="coerce")
m = st.columns(4)
err, rate, adv = bt.get("median_error_nats"), bt.get("success_rate"), bt.get("advance_factor")
m[0].metric("Median error", "–" if err is None else f"{err:.3f} nats")
m[1].metric(f"Within {threshold:g} nats", "–" if rate is None else f"{rate:.0%}")
m[2].metric("Advance factor", "–" if not adv else f"{adv:.1f}×", help="Largest among successful cutoffs.")
m[3].metric("Cutoffs", len(cutoffs))
if cutoffs.empty:
    st.info("The backtest found no usable cutoff.")
    st.stop()
if cutoffs["predicted_elbow"].notna().any():
    left, right = st.columns([3, 2])
    with left:
        st.altair_chart(
            backtest_charts.backtest_elbows(cutoffs, bt.get("actual_elbow"), threshold), width="stretch"
        )
        st.caption("Points: the few-shot elbow predicted from checkpoints up to each cutoff; dashed: the "
                   f"elbow fitted on all few-shot results; band: ±{threshold:g} nats.")  # fmt: skip
    with right:
        st.altair_chart(backtest_charts.backtest_errors(cutoffs, threshold), width="stretch")
        st.caption(f"Error per cutoff; red: the {threshold:g}-nat success threshold.")
else:  # nothing to chart: say why instead of drawing empty axes
    notes = cutoffs.get("note", pd.Series(index=cutoffs.index, dtype=str))  # optional in imported documents
    notes = notes.fillna("").replace("", "no reason recorded")
    why = "; ".join(
        f"{reason} ({n} cutoffs)" if n > 1 else reason for reason, n in notes.value_counts().items()
    )
    st.info(f"None of the {len(cutoffs)} cutoffs placed a few-shot elbow: {why}")
shown = cutoffs.assign(cutoff_flops=cutoffs["cutoff_flops"].map(charts.sci))
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    column_config={
        "cutoff_flops": st.column_config.TextColumn("cutoff FLOPs"),
        "predicted_elbow": st.column_config.NumberColumn("predicted", format="%.3f"),
        "actual_elbow": st.column_config.NumberColumn("actual", format="%.3f"),
        "error_nats": st.column_config.NumberColumn("error (nats)", format="%.3f"),
        "advance_factor": st.column_config.NumberColumn("advance ×", format="%.2f"),
    },
)
