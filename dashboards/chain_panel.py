"""The Benchmark page for a ladder of few-shot results: the chain (compute -> loss -> sigmoid accuracy)
that made the forecast, why it was chosen, accuracy against compute beyond the ladder, and a budget."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from emergence.dashboards import budget_panel, chain_charts, charts, trust
from emergence.dashboards.fits import BenchmarkFit

from emergence.forecast.chain_sections import chain_section

CHAINS = {
    "corpus loss": "compute → corpus loss → sigmoid accuracy",
    "corpus loss with fitted ceiling": "compute → corpus loss → sigmoid accuracy with a fitted ceiling",
    "task loss": "compute → the task's own loss (bits per byte) → sigmoid accuracy",
    "compute": "compute → sigmoid accuracy (no loss in between)",
}


def mark(fit: BenchmarkFit) -> dict:
    """The trust mark of the live chain, from its own backtest."""
    return trust.chain_trust(fit.chain.backtest, fit.chain.scale)


def headline(fit: BenchmarkFit) -> None:
    """Where accuracy leaves its floor, in corpus loss and FLOPs; the ladder fitted; the backtest's trust."""
    point, chain = fit.chain_point or {}, fit.chain
    cols = st.columns(4)
    if point.get("status") == "found":
        loss, flops = point.get("loss"), point.get("flops")
        if loss:
            cols[0].metric("Few-shot emergence (loss)", f"{loss['estimate']:.3f} nats")
            cols[0].caption(f"90%: {loss['lower']:.3f} – {loss['upper']:.3f} nats (corpus loss)")
        if flops:
            cols[1].metric("Few-shot emergence (FLOPs)", charts.sci(flops["estimate"]))
            cols[1].caption(
                f"90%: {charts.sci(flops['lower'])} – {charts.sci(flops['upper'])}, compute-optimal"
            )
    else:
        cols[0].metric("Few-shot emergence", "beyond reach")
        st.info(f"No emergence point: {point.get('reason') or 'the chain placed none'}.")
    runs = chain.result.info.get("n_runs") or fit.table["checkpoint"].nunique()
    cols[2].metric("Training runs fitted", f"{runs:,}")
    sizes = fit.table["params"].nunique()
    cols[2].caption(f"{sizes} model sizes, {fit.table['checkpoint'].nunique():,} checkpoints")
    m = mark(fit)
    cols[3].metric("Backtest", m["mark"], help=trust.chain_trust.__doc__)
    cols[3].caption(m["detail"])


def compute_section(fit: BenchmarkFit, path: str) -> None:
    """Accuracy against training FLOPs, with a budget the user names, and the fitted link."""
    st.subheader("Accuracy vs training FLOPs")
    budget = budget_panel.budget_inputs(fit, path)
    flops = budget_panel.budget_numbers(fit, budget)
    left, right = st.columns([3, 2])
    with left:
        st.altair_chart(chain_charts.accuracy_vs_compute(fit, flops), width="stretch")
        st.caption(
            "Points: every checkpoint of the ladder by model size; line: the chain at compute-optimal "
            "allocations (dashed beyond the largest run fitted), band: its 90% interval calibrated by the "
            "backtest; red: the emergence point. Over-trained runs sit off the compute-optimal line."
        )
    with right:
        st.altair_chart(chain_charts.link_chart(fit), width="stretch")
        st.caption(
            "The chain's last stage: accuracy against its intermediate, the fitted sigmoid (band: bootstrap "
            "90%) and where accuracy leaves its floor (red)."
        )


def why_section(fit: BenchmarkFit) -> None:
    """Which chain made the forecast, and the backtest errors that chose it over the others."""
    chain = fit.chain
    st.subheader("Which chain, and why")
    bt = chain.backtest
    st.markdown(
        f"**{chain.name}**: {CHAINS.get(chain.name, chain.name)}. Chosen by a backtest on the ladder itself: "
        f"{bt.get('n_targets', 0)} runs predicted from smaller sizes or shorter runs over "
        f"{len(bt.get('splits') or [])} splits."
    )
    rows = pd.DataFrame(chain.candidates)
    rows["error"] = 100 * rows["mae"]
    rows["role"] = [
        "chosen"
        if n == chain.name
        else "as good: widens the interval"
        if n in chain.peers
        else "clearly worse"
        for n in rows["name"]
    ]
    rows["chain"] = rows["name"].map(CHAINS)
    st.dataframe(
        rows[["name", "error", "role", "n_targets", "chain"]],
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("candidate"),
            "error": st.column_config.ProgressColumn(
                "backtest error (points)",
                min_value=0.0,
                max_value=float(rows["error"].max() or 1.0),
                format="%.2f",
            ),
            "n_targets": st.column_config.NumberColumn("held-out runs"),
        },
    )
    st.caption(
        "The corpus-loss chain is the default; another is taken only when it beat it on every split and by "
        "more than two standard errors overall. Candidates the backtest cannot tell from the chosen one add "
        "their spread to the interval, which is then scaled (×"
        f"{chain.scale:.2f} here) so that it would have covered the backtest's held-out runs."
    )


def show(fit: BenchmarkFit, path: str, chance: float | None = None) -> None:
    """The chain view of one benchmark (not its parameters), and the plan of the finetuning runs that would
    let the emergence law forecast it: a ladder of few-shot results is where the first plan is made."""
    from emergence.dashboards import plan_panel

    st.caption(
        "A ladder of few-shot results only: the forecast is the peers' chain (OLMo ladder, observational "
        "scaling laws) fitted across the ladder's training runs, not the emergence law (which needs finetuning)."
    )
    headline(fit)
    compute_section(fit, path)
    why_section(fit)
    plan_panel.show(fit, path, "relu", chance)


def parameters(fit: BenchmarkFit) -> None:
    """The chain's fitted stages as the forecast document records them."""
    with st.expander("Fitted parameters"):
        st.json(chain_section(fit.chain), expanded=True)


def backtest(fit: BenchmarkFit) -> None:
    """The chain's backtest replayed: each held-out run's predicted accuracy against what it reached, per
    split, with the mean error and the 90% intervals' coverage."""
    from emergence.dashboards import backtest_charts, fits

    chain, m = fit.chain, mark(fit)
    st.caption(
        f"Forecast by the chain ({chain.name}). Its backtest fits the smaller sizes (or each size's shorter "
        "runs) and predicts every larger or longer run's final accuracy; the chain with the lowest error was "
        "chosen, and its interval scaled so that it would have covered these runs."
    )
    splits = fits.chain_splits(fit)
    bt = chain.backtest
    cols = st.columns(4)
    cols[0].metric("Trust", m["mark"], help=trust.chain_trust.__doc__)
    cols[1].metric("Mean error", f"{100 * bt['mae']:.1f} points" if bt.get("mae") is not None else "–")
    raw, scaled = bt.get("coverage_raw"), bt.get("coverage_scaled")
    cols[2].metric("90% coverage", f"{scaled:.0%}" if scaled is not None else "–",
                   help="Share of held-out runs inside the forecast's 90% interval (after its widening).")  # fmt: skip
    if raw is not None:
        cols[2].caption(f"{raw:.0%} before widening ×{chain.scale:.2f}")
    cols[3].metric("Held-out runs", f"{bt.get('n_targets', 0)}")
    cols[3].caption(f"over {len(bt.get('splits') or [])} splits")
    if splits.empty:
        st.info(
            "The ladder allows no backtest split (it needs runs of at least two model sizes before a larger one)."
        )
        return
    left, right = st.columns([3, 2])
    left.altair_chart(backtest_charts.chain_backtest(splits), width="stretch")
    right.altair_chart(backtest_charts.chain_backtest_vs_compute(splits), width="stretch")
    st.caption(
        "Left: predicted against reached accuracy (diagonal: exact; bars: 90% intervals). Right: the same runs "
        "against their training FLOPs: crosses reached, circles predicted."
    )
    per = splits.groupby("split", sort=False).agg(
        fitted_runs=("fitted_runs", "first"),
        held_out_runs=("run", "size"),
        mean_error_points=("error", lambda e: 100 * e.abs().mean()),
        bias_points=("error", lambda e: 100 * e.mean()),
        coverage=("covered", lambda c: 100 * c.mean()),
    )
    st.dataframe(
        per.reset_index(),
        hide_index=True,
        width="stretch",
        column_config={
            "fitted_runs": st.column_config.NumberColumn("runs fitted"),
            "held_out_runs": st.column_config.NumberColumn("runs held out"),
            "mean_error_points": st.column_config.NumberColumn("mean |error| (points)", format="%.2f"),
            "bias_points": st.column_config.NumberColumn("bias (points, + = too high)", format="%+.2f"),
            "coverage": st.column_config.NumberColumn("90% coverage", format="%.0f%%"),
        },
    )
