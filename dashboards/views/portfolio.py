"""Portfolio: every benchmark's predicted few-shot emergence point, with its interval and backtest trust."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from emergence.dashboards import charts, data, fits, trust

from emergence.forecast.document import flops_warning

LIVE_CHAINS = 4  # few-shot benchmarks without a forecast fitted live without asking (a chain takes seconds)

st.title("Portfolio")
st.caption(
    "When each capability is predicted to emerge few-shot, in pretraining loss and in training FLOPs with "
    "90% intervals: the elbow of the emergence law extrapolated to the low-data limit (ladders with "
    "finetuned runs), or where the chain's accuracy leaves its floor (ladders of few-shot results). Trust "
    "comes from each forecast's own backtest."
)
path = data.store_path()
benchmarks = data.benchmarks_or_stop(path)

docs = data.latest_forecasts(path)
hashes = data.read(path, "data_hashes")
documented = {(t, m) for t, m in zip(docs["task"], docs["metric"], strict=True)} if not docs.empty else set()
waiting = benchmarks[
    benchmarks["few_shot_only"]
    & ~pd.Series([(t, m) in documented for t, m in zip(benchmarks["task"], benchmarks["metric"], strict=True)],
                 index=benchmarks.index, dtype=bool)
]  # fmt: skip
live = len(waiting) <= LIVE_CHAINS or st.toggle(
    f"Fit the {len(waiting)} few-shot benchmarks without a forecast live (a few seconds each, once)",
    value=False,
    key="portfolio_live",
    help="Each is fitted by the chain, with its backtest, as `emergence forecast` would; the fits are kept "
    "while the store is unchanged. Off: they are listed without a forecast.",
)


def _interval(section: dict | None, key: str) -> dict:
    section = section or {}
    return {
        key: section.get("estimate"),
        f"{key}_lower": section.get("lower"),
        f"{key}_upper": section.get("upper"),
    }


rows = []
for b in benchmarks.itertuples(index=False):
    doc = data.forecast_document(path, b.task, b.metric) if (b.task, b.metric) in documented else None
    row = {
        "benchmark": b.task,
        "metric": b.metric,
        "ladder": b.ladder,
        "runs": b.runs,
        "checkpoints": b.checkpoints,
    }
    if doc is not None:
        ep = doc["emergence_point"]
        fresh = doc["provenance"].get("data_hash") == hashes.get((b.task, b.metric))
        mark = trust.trust_mark(doc)
        method = "chain" if doc.get("method") == "chain" else "emergence law"
        row |= {"status": "found" if ep["status"] == "found" else "no elbow", "method": method}
        row |= _interval(ep.get("loss"), "loss") | _interval(ep.get("flops"), "flops")
        row |= {"trust": mark["mark"], "backtest": mark["detail"], "advance": mark["advance"],
                "source": f"forecast {doc['provenance']['created_at'][:10]}" + ("" if fresh else " (results changed since)"),
                "note": ep.get("reason") or flops_warning(doc) or ""}  # fmt: skip
    elif b.few_shot_only and not live:
        row |= {"status": "not forecast", "method": "chain", "trust": "untested", "source": "none",
                "backtest": "no forecast yet", "note": f"emergence forecast --task {b.task} --metric {b.metric}"}  # fmt: skip
    else:
        fit = fits.benchmark_fit(path, b.task, b.metric)
        if fit.chain is not None:
            ep, mark = fit.chain_point or {}, trust.chain_trust(fit.chain.backtest, fit.chain.scale)
            row |= {"status": "found" if ep.get("status") == "found" else "no elbow", "method": "chain"}
            row |= _interval(ep.get("loss"), "loss") | _interval(ep.get("flops"), "flops")
            row |= {
                "trust": mark["mark"],
                "backtest": mark["detail"],
                "source": "live fit",
                "note": ep.get("reason") or "",
            }
        else:
            p = fit.point
            row |= {
                "status": "found" if p is not None else "no elbow",
                "method": "emergence law",
                "loss": getattr(p, "loss", None),
                "loss_lower": getattr(p, "loss_lower", None),
                "loss_upper": getattr(p, "loss_upper", None),
                "flops": getattr(p, "flops", None),
                "flops_lower": getattr(p, "flops_lower", None),
                "flops_upper": getattr(p, "flops_upper", None),
                "trust": "untested",
                "backtest": "no exported forecast: see the Backtest page",
                "source": "live fit",
                "note": fit.error or fit.flops_warning or "",
            }
    rows.append(row)
columns = ["benchmark", "metric", "trust", "status", "loss", "loss_lower", "loss_upper", "flops", "flops_lower",
           "flops_upper", "backtest", "ladder", "method", "advance", "source", "runs", "checkpoints", "note"]  # fmt: skip
table = pd.DataFrame(rows).reindex(columns=columns)

found = table[table["status"] == "found"]
c = st.columns(4)
c[0].metric("Benchmarks", len(table))
c[1].metric("Emergence located", len(found))
c[2].metric("Trusted (backtest high)", int((table["trust"] == "high").sum()))
c[3].metric("From exported forecasts", int(table["source"].str.startswith("forecast").sum()))

st.subheader("Trust by ladder")
VERDICTS = {
    "high": "believe them",
    "medium": "plan with a margin",
    "low": "do not act on them alone",
    "untested": "no track record yet",
}


def _verdict(marks: pd.Series) -> str:
    """The mark most of a ladder's tested benchmarks share (the weaker one on a tie), in a planner's words."""
    tested = marks[marks != "untested"].value_counts()
    if tested.empty:
        return VERDICTS["untested"]
    weakest = max((m for m in tested.index if tested[m] == tested.max()), key=list(VERDICTS).index)
    return f"{weakest}: {VERDICTS[weakest]}"


ladders = table.groupby("ladder").agg(
    verdict=("trust", _verdict),
    benchmarks=("benchmark", "size"),
    **{mark: ("trust", lambda s, m=mark: int((s == m).sum())) for mark in VERDICTS},
    located=("status", lambda s: int((s == "found").sum())),
    method=("method", lambda s: ", ".join(sorted(set(s.dropna())))),
)
ladders["families"] = benchmarks.groupby("ladder")["families"].first().reindex(ladders.index)
left, right = st.columns([1, 2])
left.altair_chart(charts.trust_by_ladder(table), width="stretch")
right.dataframe(
    ladders.reset_index(),
    hide_index=True,
    width="stretch",
    column_config={"verdict": st.column_config.TextColumn("verdict", width="medium")},
)
st.caption(
    "A ladder is where the checkpoints came from (the folder ingested, or the builder). The emergence law "
    "is trusted by its backtest in nats (the elbow predicted from checkpoints below a FLOPs cutoff); the "
    "chain by its own backtest in accuracy points (held-out larger or longer runs) and its 90% coverage."
)

st.subheader("Few-shot emergence points")
axis = "flops" if found["flops"].notna().any() else "loss"
if found.empty:
    st.info("No benchmark has a located emergence point yet.")
else:
    key = "flops" if axis == "flops" else "loss"
    finite = np.isfinite(
        pd.to_numeric(found[key], errors="coerce").astype(float)
    )  # a loss law's inf: no FLOPs
    named = found.assign(benchmark=found["benchmark"] + " (" + found["metric"].astype(str) + ")")
    points = named[finite].rename(columns={key: "estimate", f"{key}_lower": "lower", f"{key}_upper": "upper"})
    st.altair_chart(charts.emergence_points(points, axis), width="stretch")
    if axis == "loss":
        st.caption("No loss-vs-compute law for these results (no FLOPs on the checkpoints): shown in loss.")
    elif not finite.all():
        names = ", ".join(sorted(set(named.loc[~finite, "benchmark"])))
        st.caption(
            f"Not shown, no FLOPs estimate (their loss law gives none; their loss is in the table): {names}."
        )

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
