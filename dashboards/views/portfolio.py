"""Portfolio: every benchmark's predicted few-shot emergence point, with its interval and backtest trust."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from emergence.dashboards import charts, data, fits, trust

st.title("Portfolio")
st.caption(
    "When each capability is predicted to emerge few-shot: the elbow of the emergence law extrapolated to "
    "the low-data limit, in pretraining loss and in training FLOPs, with 90% intervals. Trust comes from "
    "the backtest (predicting the elbow from checkpoints before emergence)."
)
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)

docs = data.latest_forecasts(path)
hashes = data.read(path, "data_hashes")
rows = []
for b in benchmarks.itertuples(index=False):
    doc = data.forecast_document(path, b.task, b.metric) if not docs.empty else None
    row = {
        "benchmark": b.task,
        "metric": b.metric,
        "ladder": b.ladder,
        "runs": b.runs,
        "checkpoints": b.checkpoints,
    }
    if doc is not None:
        ep = doc["emergence_point"]
        loss, flops = ep.get("loss") or {}, ep.get("flops") or {}
        fresh = doc["provenance"].get("data_hash") == hashes.get((b.task, b.metric))
        mark = trust.trust_mark(doc)
        row |= {
            "status": "found" if ep["status"] == "found" else "no elbow",
            "loss": loss.get("estimate"),
            "loss_lower": loss.get("lower"),
            "loss_upper": loss.get("upper"),
            "flops": flops.get("estimate"),
            "flops_lower": flops.get("lower"),
            "flops_upper": flops.get("upper"),
            "trust": mark["mark"],
            "backtest": mark["detail"],
            "advance": mark["advance"],
            "source": f"forecast {doc['provenance']['created_at'][:10]}"
            + ("" if fresh else " (results changed since)"),
            "note": ep.get("reason") or "",
        }
    else:
        fit = fits.benchmark_fit(path, b.task, b.metric)
        p = fit.point
        row |= {
            "status": "found" if p is not None else "no elbow",
            "loss": getattr(p, "loss", None),
            "loss_lower": getattr(p, "loss_lower", None),
            "loss_upper": getattr(p, "loss_upper", None),
            "flops": getattr(p, "flops", None),
            "flops_lower": getattr(p, "flops_lower", None),
            "flops_upper": getattr(p, "flops_upper", None),
            "trust": "untested",
            "backtest": "no exported forecast: see the Backtest page",
            "advance": None,
            "source": "live fit",
            "note": fit.error or "",
        }
    rows.append(row)
table = pd.DataFrame(rows)

found = table[table["status"] == "found"]
c = st.columns(4)
c[0].metric("Benchmarks", len(table))
c[1].metric("Emergence located", len(found))
c[2].metric("Trusted (backtest high)", int((table["trust"] == "high").sum()))
c[3].metric("From exported forecasts", int(table["source"].str.startswith("forecast").sum()))

st.subheader("Few-shot emergence points")
axis = "flops" if found["flops"].notna().any() else "loss"
if found.empty:
    st.info("No benchmark has a located emergence point yet.")
else:
    key = "flops" if axis == "flops" else "loss"
    points = found[found[key].notna()].rename(
        columns={key: "estimate", f"{key}_lower": "lower", f"{key}_upper": "upper"}
    )
    st.altair_chart(charts.emergence_points(points, axis), width="stretch")
    if axis == "loss":
        st.caption("No loss-vs-compute law for these results (no FLOPs on the checkpoints): shown in loss.")

st.subheader("All benchmarks")
st.caption("Click a column to sort (FLOPs follow the loss order); select a row to open its Benchmark page.")
shown = table.assign(**{c: table[c].map(charts.sci) for c in ("flops", "flops_lower", "flops_upper")})
event = st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="portfolio_table",
    column_config={
        "loss": st.column_config.NumberColumn("loss (nats)", format="%.3f"),
        "loss_lower": st.column_config.NumberColumn("loss 5%", format="%.3f"),
        "loss_upper": st.column_config.NumberColumn("loss 95%", format="%.3f"),
        "flops": st.column_config.TextColumn("FLOPs"),
        "flops_lower": st.column_config.TextColumn("FLOPs 5%"),
        "flops_upper": st.column_config.TextColumn("FLOPs 95%"),
        "advance": st.column_config.NumberColumn("advance ×", format="%.1f"),
        "backtest": st.column_config.TextColumn("backtest", width="medium"),
        "note": st.column_config.TextColumn("note", width="medium"),
    },
)
picked = event.selection.rows if event is not None and hasattr(event, "selection") else []
if picked:
    st.session_state["benchmark_task"] = table.iloc[picked[0]]["benchmark"]
    st.switch_page("views/benchmark.py")
