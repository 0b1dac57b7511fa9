"""The Benchmark page's plan: the finetuning runs that most narrow the few-shot elbow within a budget of
runs (emergence.forecast.plan), against the default grid at the same budget, and the CLI line that writes
them as a runnable sweep spec."""

from __future__ import annotations

import shlex

import streamlit as st
from emergence.dashboards import charts, data, fits
from emergence.dashboards.fits import BenchmarkFit

SHIPPED_SPECS = {"know": "data/specs/knowledge-full.yaml", "toy": "data/specs/toy-full.yaml"}
"""The sweep specs that made the shipped demo store, by task prefix (one per built-in world)."""


def cli_line(path: str, task: str, metric: str, runs: int, link: str, chance: float | None) -> str:
    """The `emergence plan` command that writes this plan as a sweep spec (next.yaml)."""
    spec = SHIPPED_SPECS.get(task.split("_")[0], "SPEC.yaml") if data.is_shipped(path) else "SPEC.yaml"
    words = ["emergence", "plan", spec, "--task", task, "--metric", metric, "--runs", str(runs)]
    words += ["--link", link] + (["--chance", f"{chance:g}"] if chance is not None else [])
    return " ".join(map(shlex.quote, words)) + " --out next.yaml"


def show(fit: BenchmarkFit, path: str, link: str, chance: float | None) -> None:
    """The plan section: a budget of runs, the proposed runs, the expected interval and the assumptions."""
    st.subheader("Plan the next runs")
    st.caption(
        "The finetuning data amounts (each on every checkpoint less than halfway from chance to a perfect "
        "score few-shot, with its seeds) that most "
        "narrow the 90% interval of the few-shot elbow within a budget of runs, chosen greedily by expected "
        "Fisher information over plausible laws, and the default grid (64–4,096 examples on evenly spaced "
        "checkpoints) at the same budget."
    )
    budget = st.columns(3)[0].number_input(
        "Budget (finetuning runs)", min_value=1, max_value=2000, value=96, step=8, key="plan_runs"
    )
    plan = fits.plan(fit, int(budget), link, chance)
    if isinstance(plan, str):
        st.info(f"No plan for {fit.task}: {plan}")
        return
    finetuned = plan.runs[plan.runs["data_amount"] > 0]
    m = st.columns(4)
    m[0].metric(
        "Elbow ± now (90%)", f"{plan.start_half_width:.3f} nats", help="Half-width with what is stored."
    )
    m[1].metric(
        "After the plan",
        f"{plan.expected_half_width:.3f} nats",
        delta=f"{plan.expected_half_width - plan.start_half_width:+.3f}",
        delta_color="inverse",
        help="Expected 90% half-width of the few-shot elbow once the planned runs are in.",
    )
    if plan.default_half_width is not None:
        m[2].metric(
            "Default grid, same budget",
            f"{plan.default_half_width:.3f} nats",
            help=f"{plan.default_runs} runs of the default grid fit within the budget.",
        )
        m[2].caption(f"{plan.default_runs} runs of the default grid")
    else:
        m[2].metric(
            "Default grid, same budget", "–", help="Not one checkpoint of the default grid fits the budget."
        )
    m[3].metric("Runs planned", f"{len(finetuned):,}")
    fewshot = len(plan.runs) - len(finetuned)
    m[3].caption(
        f"on {finetuned['checkpoint'].nunique()} checkpoint{'s' * (finetuned['checkpoint'].nunique() != 1)}"
        + (f", plus {fewshot} few-shot evaluation(s)" if fewshot else "")
        + f"; from the {'stored fit' if plan.source == 'fit' else 'prior'}"
    )
    left, right = st.columns([3, 2])
    with left:
        st.altair_chart(charts.plan_grid(plan.runs, fit.table), width="stretch")
        st.caption("Numbers: seeds the plan buys in each cell; grey: already measured.")
    with right:
        cells = plan.runs.groupby(
            ["checkpoint", "pretraining_loss", "data_amount"], as_index=False, sort=False
        ).agg(seeds=("seed", "size"))
        st.dataframe(
            cells,
            hide_index=True,
            width="stretch",
            column_config={
                "pretraining_loss": st.column_config.NumberColumn("loss (nats)", format="%.3f"),
                "data_amount": st.column_config.NumberColumn("data amount", format="%d"),
                "seeds": st.column_config.NumberColumn("seeds"),
            },
        )
    st.markdown("**Write it as a runnable sweep spec**")
    st.code(cli_line(path, fit.task, fit.metric, int(budget), link, chance), language="bash", wrap_lines=True)
    st.caption(
        ("SPEC.yaml: the sweep spec of this ladder. " if not data.is_shipped(path) else "")
        + "Then `emergence sweep next.yaml` runs the planned runs (finished ones are never run twice)."
    )
    with st.expander("Assumptions of the plan"):
        st.markdown("\n".join(f"- {a}" for a in plan.assumptions))
