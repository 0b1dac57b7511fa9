"""The Benchmark page for a finetuned ladder: the emergence law, its few-shot extrapolation, a budget."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from emergence.dashboards import budget_panel, charts, data, fits, trust
from emergence.dashboards.fits import BenchmarkFit


def headline(fit: BenchmarkFit, doc: dict | None) -> None:
    """The few-shot emergence point in loss and FLOPs, what was fitted, and the backtest's trust."""
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
    mark = trust.trust_mark(doc)
    cols[3].metric("Backtest", mark["mark"], help=mark["detail"])
    cols[3].caption(mark["detail"])


def law_charts(fit: BenchmarkFit, path: str, link: str, chance: float | None) -> None:
    """Accuracy vs pretraining loss per data amount, and the elbow's shift with the data amount."""
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Accuracy vs pretraining loss")
        st.altair_chart(charts.accuracy_vs_loss(fit), width="stretch")
        st.caption(
            "Points: mean over seeds with 90% binomial intervals; lines: the fitted law per finetuning data "
            "amount; dashed: the few-shot extrapolation (band: its 90% interval); shaded: the predicted "
            "few-shot elbow."
        )
    with right:
        st.subheader("Elbow vs data amount")
        elbows = fits.per_amount_elbows(path, fit.task, fit.metric, link, chance)
        st.altair_chart(charts.elbow_vs_amount(fit, elbows), width="stretch")
        st.caption(
            "Points: an elbow fitted at each data amount alone; line: the fitted log-power shift; diamond: "
            "its extrapolation to the low-data limit D0, the few-shot emergence point."
        )


def at_budget(fit: BenchmarkFit, path: str) -> None:
    """The budget the user names, what the law expects there, and the forecast against compute."""
    st.subheader("At a budget")
    budget = budget_panel.budget_inputs(fit, path)
    if fit.result is None:
        return
    flops = budget_panel.budget_numbers(fit, budget)
    if fit.flops_warning:
        st.warning(fit.flops_warning, icon="⚠️")
    if fit.loss_law is not None:
        acc_chart, prob_chart = charts.forecast_vs_compute(fit, flops)
        g1, g2 = st.columns(2)
        g1.altair_chart(acc_chart, width="stretch")
        g2.altair_chart(prob_chart, width="stretch")
        st.caption(
            "Few-shot accuracy expected at each compute budget (band: 90% interval) and the probability "
            "that few-shot emergence has happened by then; points: the ladder's observed few-shot accuracy."
        )


def parameters(fit: BenchmarkFit) -> None:
    """The fitted law's parameters with 90% intervals, and its summary."""
    with st.expander("Fitted parameters"):
        if fit.result is not None:
            ci = fit.result.conf_int(fits.ALPHA)
            table = pd.DataFrame({"estimate": fit.result.params_, "lower": ci["lower"], "upper": ci["upper"]})
            st.dataframe(table, width="stretch")
            st.code(fit.result.summary(fits.ALPHA), language=None)
        else:
            st.write(fit.error)


def show(fit: BenchmarkFit, doc: dict | None, path: str, link: str) -> None:
    """The law view of one benchmark, the plan of its next runs included (not its parameters)."""
    from emergence.dashboards import plan_panel

    chance = data.doc_chance(doc)
    headline(fit, doc)
    law_charts(fit, path, link, chance)
    at_budget(fit, path)
    plan_panel.show(fit, path, link, chance)
