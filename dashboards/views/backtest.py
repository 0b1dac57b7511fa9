"""Backtest: how well each forecast predicted what then happened. The emergence law per FLOPs cutoff (the
paper's protocol) and from the checkpoints still at chance; the chain by held-out larger or longer runs."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st
from emergence.dashboards import backtest_charts, chain_panel, charts, data, fits, trust

from emergence.forecast import checkpoint_table

st.title("Backtest")
st.caption(
    "The forecast made before emergence, and what then happened. For the emergence law: hold out every "
    "checkpoint above a FLOPs cutoff, fit the law on the rest, and compare the predicted few-shot elbow with "
    "the elbow fitted on all few-shot results; a prediction succeeds within 0.1 nats (the paper's "
    "criterion), and the advance factor is the FLOPs of the first emerged checkpoint over the largest FLOPs "
    "fitted. For the chain: predict the larger or longer runs' accuracy from the smaller ones."
)
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)


def _percent(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


# -- every benchmark with an exported forecast ----------------------------------------------------------
docs = data.latest_forecasts(path)
if not docs.empty:
    rows = []
    for doc in docs["document"]:
        bt, mark, chain = doc.get("backtest") or {}, trust.trust_mark(doc), doc.get("chain") or {}
        cbt = chain.get("backtest") or {}
        rows.append(
            {
                "benchmark": doc["task"],
                "metric": doc["metric"],
                "method": "chain" if doc.get("method") == "chain" else "emergence law",
                "trust": mark["mark"],
                "median error (nats)": bt.get("median_error_nats"),
                "success rate": bt.get("success_rate"),
                "advance ×": bt.get("advance_factor"),
                "chain error (points)": 100 * cbt["mae"] if cbt.get("mae") is not None else None,
                "coverage": _percent(cbt.get("coverage_scaled") if chain else bt.get("coverage")),
                "cutoffs / runs": len(bt.get("cutoffs") or []) if not chain else cbt.get("n_targets"),
                "note": mark["detail"] if chain else bt.get("reason") or "",
            }
        )
    st.subheader("All exported forecasts")
    table = pd.DataFrame(rows).replace("", None).dropna(axis=1, how="all")  # one method's columns only
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "median error (nats)": st.column_config.NumberColumn(format="%.3f"),
            "success rate": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
            "advance ×": st.column_config.NumberColumn(format="%.1f"),
            "chain error (points)": st.column_config.NumberColumn(format="%.1f"),
            "coverage": st.column_config.NumberColumn("90% coverage", format="%.0f%%"),
        },
    )

# -- one benchmark --------------------------------------------------------------------------------------
st.subheader("One benchmark")
tasks = sorted(benchmarks["task"].unique())
wanted = st.query_params.get("task")
if wanted in tasks and "backtest_task" not in st.session_state:
    st.session_state["backtest_task"] = wanted
left, right = st.columns([3, 2])
task = left.selectbox("Benchmark", tasks, key="backtest_task")
rows = benchmarks[benchmarks["task"] == task]
metric = right.selectbox("Metric", sorted(rows["metric"].unique()), key="backtest_metric")
doc = data.forecast_document(path, task, metric)
link, chance = data.doc_link(doc) or "relu", data.doc_chance(doc)
fit = fits.benchmark_fit(path, task, metric, link, chance)
if fit.chain is not None:
    chain_panel.backtest(fit)
    st.stop()

fresh = doc is not None and doc["provenance"].get("data_hash") == data.read(path, "data_hashes").get(
    (task, metric)
)
if fresh and (doc.get("backtest") or {}).get("status") == "done":
    bt, source = doc["backtest"], f"exported forecast of {doc['provenance']['created_at'][:10]}"
else:
    bt = fits.backtest(path, task, metric, link, chance)
    source = "live backtest on the store's current results"
st.caption(f"Source: {source}.")
if bt.get("status") != "done":
    st.warning(f"No backtest for {task}: {bt.get('reason') or 'not run'}")
    st.stop()

threshold = float(bt.get("success_threshold_nats") or 0.1)
cutoffs = pd.DataFrame(bt.get("cutoffs") or [])
for col in (
    "predicted_elbow",
    "lower",
    "upper",
    "actual_elbow",
    "error_nats",
    "advance_factor",
    "n_checkpoints",
):
    if col not in cutoffs:
        cutoffs[col] = None
    cutoffs[col] = pd.to_numeric(cutoffs[col], errors="coerce")
if "success" not in cutoffs:
    cutoffs["success"] = False
m = st.columns(4)
err, rate, adv = bt.get("median_error_nats"), bt.get("success_rate"), bt.get("advance_factor")
m[0].metric("Median error", "–" if err is None else f"{err:.3f} nats")
m[1].metric(f"Within {threshold:g} nats", "–" if rate is None else f"{rate:.0%}")
m[2].metric("Advance factor", "–" if not adv else f"{adv:.1f}×", help="Largest among successful cutoffs.")
m[3].metric("Cutoffs", len(cutoffs))
if cutoffs.empty:
    st.info("The backtest found no usable cutoff.")
    st.stop()

# the forecast from the checkpoints still at chance few-shot (the paper's test by loss)
before = dict(fits.before_emergence(path, task, metric, link, chance))
if before.get("status") == "done":
    ck = checkpoint_table(fit.table)
    before["flops_used"] = ck.loc[ck["pretraining_loss"] > before["reference_elbow"], "flops"].max()
    verdict = f"within {threshold:g} nats" if before["success"] else f"missed by more than {threshold:g} nats"
    st.markdown(
        f"**Before emergence**: from the {before['n_checkpoints']} checkpoints still at chance "
        f"(up to {charts.sci(before['flops_used'])} FLOPs), the predicted few-shot elbow was "
        f"{before['predicted_elbow']:.3f} nats (90%: {before['lower']:.3f} – {before['upper']:.3f}); the actual "
        f"one is {before['reference_elbow']:.3f}: off by {abs(before['error']):.3f} nats, {verdict}."
    )
else:
    st.caption(f"No forecast from the checkpoints still at chance: {before.get('reason') or 'not run'}.")

if cutoffs["predicted_elbow"].notna().any():
    law = fit.loss_law
    left, right = st.columns(2)
    with left:
        st.altair_chart(
            backtest_charts.backtest_elbows(cutoffs, bt.get("actual_elbow"), threshold, before),
            width="stretch",
        )
        st.caption(
            "In loss: the few-shot elbow predicted from the checkpoints up to each cutoff (bars: 90%; green: "
            f"within {threshold:g} nats, red: missed), the blue diamond from the checkpoints still at chance; "
            f"dashed: the actual elbow, band ±{threshold:g} nats."
        )
    with right:
        if law is not None:
            chart = backtest_charts.elbow_flops(cutoffs, law, bt.get("actual_elbow"), threshold, before)
            st.altair_chart(chart, width="stretch")
            st.caption(
                "In FLOPs (through the loss law fitted on the ladder): the emergence FLOPs predicted against "
                "the FLOPs used to predict it; dashed: the actual emergence FLOPs; a forecast above the "
                "dotted diagonal was made before emergence."
            )
            if fit.flops_warning:
                st.warning(fit.flops_warning, icon="⚠️")
        else:
            st.altair_chart(backtest_charts.backtest_errors(cutoffs, threshold), width="stretch")
            st.caption(f"No loss-vs-compute law ({fit.loss_law_error}): the error per cutoff instead.")
else:  # no cutoff placed an elbow: show what the backtest had to go on, and say why in one line
    notes = cutoffs.get("note", pd.Series(index=cutoffs.index, dtype=str))  # optional in imported documents
    notes = (
        notes.fillna("")
        .map(lambda n: re.sub(r"\s*\([^)]*\d[^)]*\)", "", n))
        .replace("", "no reason recorded")
    )
    why = "; ".join(
        f"{reason} ({n} cutoffs)" if n > 1 else reason for reason, n in notes.value_counts().items()
    )
    st.info(f"None of the {len(cutoffs)} cutoffs placed a few-shot elbow: {why}")
    if fit.table["flops"].notna().any():
        chart = backtest_charts.fewshot_with_cutoffs(fit.table, cutoffs, bt.get("actual_elbow"))
        st.altair_chart(chart, width="stretch")
        st.caption(
            "Few-shot accuracy of every checkpoint against its training FLOPs, coloured by whether its loss is "
            "past the actual few-shot elbow; red: the backtest's cutoffs (each fits the checkpoints up to it)."
        )
shown = cutoffs.assign(cutoff_flops=cutoffs["cutoff_flops"].map(charts.sci))
keep = ["cutoff_flops", "n_checkpoints", "predicted_elbow", "lower", "upper", "actual_elbow", "error_nats",
        "success", "advance_factor", "note"]  # fmt: skip
st.dataframe(
    shown[[c for c in keep if c in shown]],
    hide_index=True,
    width="stretch",
    column_config={
        "cutoff_flops": st.column_config.TextColumn("FLOPs used"),
        "n_checkpoints": st.column_config.NumberColumn("checkpoints", format="%d"),
        "predicted_elbow": st.column_config.NumberColumn("predicted", format="%.3f"),
        "lower": st.column_config.NumberColumn("5%", format="%.3f"),
        "upper": st.column_config.NumberColumn("95%", format="%.3f"),
        "actual_elbow": st.column_config.NumberColumn("actual", format="%.3f"),
        "error_nats": st.column_config.NumberColumn("error (nats)", format="%.3f"),
        "advance_factor": st.column_config.NumberColumn("advance ×", format="%.2f"),
    },
)
