"""Runs: every job in the store, filtered by task, status and data amount; failed jobs with their reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from emergence.dashboards import charts, data

st.title("Runs")
path = data.store_path()
runs = data.read(path, "runs")
if runs.empty:
    st.info("No runs in this store yet. Start a sweep (`emergence run`) or import results (Import / export).")
    st.stop()

ckpts = data.read(path, "checkpoints")[["checkpoint_id", "pretraining_loss", "flops"]]
runs = runs.merge(ckpts, on="checkpoint_id", how="left")
runs["flops"] = runs["flops"].map(charts.sci)
for col in ("created_at", "started_at", "finished_at"):
    runs[col] = pd.to_datetime(runs[col], unit="s", utc=True)

runs.loc[runs["superseded"], "status"] = "replaced"  # done, but a newer run of its cell is the one fitted
by_status = runs["status"].value_counts()
cols = st.columns(5)
cols[0].metric("Runs", f"{len(runs):,}")
for col, status in zip(cols[1:], ("done", "running", "pending", "failed"), strict=True):
    col.metric(status.capitalize(), f"{int(by_status.get(status, 0)):,}")
if replaced := int(by_status.get("replaced", 0)):
    st.caption(
        f"{replaced:,} more {'run is' if replaced == 1 else 'runs are'} done but replaced: a newer run "
        "measured the same checkpoint, task, data amount and seed (after a change of settings, task data or "
        "checkpoint weights), and fits take the newest."
    )

left, mid, right = st.columns([2, 2, 1])
tasks = left.multiselect("Tasks", sorted(runs["task"].unique()), placeholder="All tasks")
statuses = mid.multiselect(
    "Status",
    ["done", "replaced", "running", "pending", "failed"],
    placeholder="Any status",
    key="runs_status",
)
amounts = right.multiselect("Data amount", sorted(runs["data_amount"].unique()), placeholder="Any")
shown = runs
if tasks:
    shown = shown[shown["task"].isin(tasks)]
if statuses:
    shown = shown[shown["status"].isin(statuses)]
if amounts:
    shown = shown[shown["data_amount"].isin(amounts)]

failed = shown[shown["status"] == "failed"]
if not failed.empty:
    st.subheader(f"Failed jobs ({len(failed):,})")
    reasons = (
        failed.groupby("error", dropna=False)
        .agg(jobs=("run_id", "count"), tasks=("task", lambda t: ", ".join(sorted(set(t)))))
        .reset_index()
        .sort_values("jobs", ascending=False)
        .rename(columns={"error": "reason"})
    )
    st.dataframe(reasons, hide_index=True, width="stretch")
    st.dataframe(
        failed[["run_id", "task", "checkpoint_id", "data_amount", "seed", "attempts", "worker", "error"]],
        hide_index=True,
        width="stretch",
        column_config={"error": st.column_config.TextColumn("reason", width="large")},
    )

st.subheader(f"All runs ({len(shown):,} shown)")
st.dataframe(
    shown[
        [
            "run_id",
            "task",
            "checkpoint_id",
            "pretraining_loss",
            "flops",
            "data_amount",
            "seed",
            "method",
            "status",
            "attempts",
            "finetune_s",
            "evaluate_s",
            "finished_at",
            "error",
        ]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "run_id": st.column_config.TextColumn("run", width="small"),
        "pretraining_loss": st.column_config.NumberColumn("loss (nats)", format="%.3f"),
        "flops": st.column_config.TextColumn("FLOPs"),
        "finetune_s": st.column_config.NumberColumn("finetune s", format="%.1f"),
        "evaluate_s": st.column_config.NumberColumn("eval s", format="%.1f"),
        "finished_at": st.column_config.DatetimeColumn("finished", format="YYYY-MM-DD HH:mm"),
    },
)
