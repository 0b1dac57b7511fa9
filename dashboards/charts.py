"""The dashboard's altair charts: fitted laws with their intervals, on log axes where compute is involved."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
from emergence.dashboards.fits import ALPHA, BenchmarkFit

Z90 = 1.6449
TRUST_COLORS = alt.Scale(
    domain=["high", "medium", "low", "untested"], range=["#1a9850", "#fdae61", "#d73027", "#9e9e9e"]
)


def sci(x: float | None) -> str:
    """A FLOPs-like number in short scientific notation ("3.2e21"); an en dash when unknown."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if abs(x) < 1e4 else f"{x:.2e}".replace("e+", "e")


def emergence_flops(fit: BenchmarkFit) -> float | None:
    """The predicted emergence FLOPs, when there are any: an elbow below the loss law's floor is never
    reached (infinite FLOPs)."""
    flops = fit.point.flops if fit.point is not None else None
    return flops if flops and math.isfinite(flops) else None


def default_budget(fit: BenchmarkFit, checkpoints: pd.DataFrame) -> float:
    """A first budget to show: the predicted emergence FLOPs, else 10x the ladder's largest model."""
    if flops := emergence_flops(fit):
        return float(f"{flops:.3g}")
    top = checkpoints["flops"].max() if "flops" in checkpoints else None
    return float(f"{10 * top:.3g}") if top and math.isfinite(top) else 1e21


def _amount_label(d: float) -> str:
    return "few-shot" if d == 0 else f"D = {int(d):,}"


def _observed(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per checkpoint and data amount, with a 90% binomial interval over all examples."""
    g = (
        table.groupby(["checkpoint", "pretraining_loss", "flops", "data_amount"], dropna=False)
        .agg(accuracy=("accuracy", "mean"), n=("n_examples", "sum"), seeds=("seed", "nunique"))
        .reset_index()
    )
    se = np.sqrt(g["accuracy"] * (1 - g["accuracy"]) / g["n"])
    g["lower"], g["upper"] = (g["accuracy"] - Z90 * se).clip(0, 1), (g["accuracy"] + Z90 * se).clip(0, 1)
    g["data"] = g["data_amount"].map(_amount_label)
    return g


def _amount_order(amounts) -> list[str]:
    return [_amount_label(d) for d in sorted(set(amounts))]


def _weak_end(obs: pd.DataFrame, lo_loss: float) -> float:
    """Where the loss axis stops on the weak side: twice as far from the strongest checkpoint as the weakest
    one that any data amount lifts 5 points above the weakest third's level; the weaker ones, all at that
    level, only squeeze the rise into a sliver (a ladder whose first checkpoints are far up its warm-up)."""
    losses = obs["pretraining_loss"]
    floor = obs.loc[losses >= losses.quantile(2 / 3), "accuracy"].median()
    lifted = losses[obs["accuracy"] >= floor + 0.05]
    return (
        float(losses.max()) if lifted.empty else min(float(losses.max()), 2 * float(lifted.max()) - lo_loss)
    )


def accuracy_vs_loss(fit: BenchmarkFit) -> alt.LayerChart:
    """Observed accuracy against pretraining loss per data amount, the fitted curves, and the few-shot
    extrapolation with its band and the predicted elbow (the x axis runs from weak to strong models)."""
    obs = _observed(fit.table)
    amounts = sorted(obs["data_amount"].unique())
    order = _amount_order([0.0, *amounts])
    color = alt.Color(
        "data:N", sort=order, scale=alt.Scale(scheme="viridis", reverse=True), title="finetuning data"
    )
    lo_loss = float(obs["pretraining_loss"].min())
    if fit.point is not None:
        lo_loss = min(lo_loss, fit.point.loss_lower) - 0.05
    hi_loss = _weak_end(obs, lo_loss) + 0.02
    off = obs.loc[obs["pretraining_loss"] > hi_loss, "checkpoint"].nunique()
    obs = obs[obs["pretraining_loss"] <= hi_loss]
    x = alt.X(
        "pretraining_loss:Q",
        scale=alt.Scale(reverse=True, domain=[hi_loss, lo_loss], nice=False, zero=False),
        title=["pretraining loss (nats) → stronger models"]
        + ([f"{off} weaker checkpoints, all at the weakest level, off the chart"] if off else []),
    )
    y = alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="accuracy")
    points = (
        alt.Chart(obs)
        .mark_point(filled=True, size=45)
        .encode(
            x=x,
            y=y,
            color=color,
            tooltip=["checkpoint", "data", alt.Tooltip("accuracy:Q", format=".3f"), "seeds"],
        )
    )
    bars = alt.Chart(obs).mark_rule().encode(x=x, y="lower:Q", y2="upper:Q", color=color)
    layers = [bars, points]
    if fit.result is not None:
        grid = np.linspace(lo_loss, hi_loss, 120)
        curves = []
        for d in amounts:
            if d == 0:
                continue
            pred = fit.result.predict(grid, d, alpha=ALPHA)
            pred["data"] = _amount_label(d)
            curves.append(pred)
        if curves:
            curve = pd.concat(curves).rename(columns={"mean": "accuracy"})
            layers.append(alt.Chart(curve).mark_line().encode(x=x, y=y, color=color, detail="data:N"))
        few = fit.result.predict(grid, 0, alpha=ALPHA).rename(columns={"mean": "accuracy"})
        few["data"] = "few-shot"
        layers.append(
            alt.Chart(few).mark_area(opacity=0.15, color="#444").encode(x=x, y="lower:Q", y2="upper:Q")
        )
        layers.append(
            alt.Chart(few).mark_line(strokeDash=[6, 4], color="#222").encode(x=x, y=y, detail="data:N")
        )
        if fit.point is not None:
            p = fit.point
            band = pd.DataFrame([{"lo": p.loss_lower, "hi": p.loss_upper, "elbow": p.loss}])
            layers.insert(
                0, alt.Chart(band).mark_rect(opacity=0.12, color="#d62728").encode(x="lo:Q", x2="hi:Q")
            )
            layers.append(
                alt.Chart(band)
                .mark_rule(color="#d62728", strokeDash=[2, 2])
                .encode(x="elbow:Q", tooltip=[alt.Tooltip("elbow:Q", title="few-shot elbow", format=".3f")])
            )
    return alt.layer(*layers).properties(height=380)


def elbow_vs_amount(fit: BenchmarkFit, pts: pd.DataFrame) -> alt.LayerChart:
    """Per-amount elbows, the fitted shift law E(D) on a log data axis, and its extrapolation to D0."""
    x = alt.X("data_amount:Q", scale=alt.Scale(type="log"), title="finetuning data amount D (examples, log)")
    y = alt.Y("elbow:Q", scale=alt.Scale(zero=False), title="elbow (pretraining loss, nats)")
    layers = []
    if not pts.empty:
        layers.append(alt.Chart(pts).mark_rule(color="#3b528b").encode(x=x, y="lower:Q", y2="upper:Q"))
        layers.append(
            alt.Chart(pts)
            .mark_point(filled=True, size=60, color="#3b528b")
            .encode(x=x, y=y, tooltip=["data_amount", alt.Tooltip("elbow:Q", format=".3f")])
        )
    if fit.result is not None:
        d0 = float(fit.result.problem.d0)
        top = float(fit.table["data_amount"].max() or 10.0)
        grid = np.geomspace(d0, max(top, d0 * 10), 80)
        line = pd.DataFrame({"data_amount": grid, "elbow": fit.result.elbow(grid)})
        layers.append(alt.Chart(line).mark_line(color="#21918c").encode(x=x, y=y))
        if fit.point is not None:
            p = fit.point
            d0row = pd.DataFrame(
                [{"data_amount": d0, "elbow": p.loss, "lower": p.loss_lower, "upper": p.loss_upper}]
            )
            layers.append(alt.Chart(d0row).mark_rule(color="#d62728").encode(x=x, y="lower:Q", y2="upper:Q"))
            layers.append(
                alt.Chart(d0row)
                .mark_point(shape="diamond", filled=True, size=120, color="#d62728")
                .encode(x=x, y=y, tooltip=[alt.Tooltip("elbow:Q", title="few-shot elbow", format=".3f")])
            )
    if not layers:
        return (
            alt.Chart(pd.DataFrame({"data_amount": [1.0], "elbow": [0.0]}))
            .mark_point(opacity=0)
            .encode(x=x, y=y)
        )
    return alt.layer(*layers).properties(height=380)


def forecast_vs_compute(
    fit: BenchmarkFit, budget_flops: float | None
) -> tuple[alt.LayerChart, alt.LayerChart]:
    """Expected few-shot accuracy (with band), and P(emerged), against training FLOPs on a log axis."""
    ckpt_flops = fit.table["flops"].dropna()
    lo = float(ckpt_flops.min()) if len(ckpt_flops) else 1e18
    hi = float(ckpt_flops.max()) * 10 if len(ckpt_flops) else 1e23
    for v in (budget_flops, getattr(fit.point, "flops_upper", None)):
        if v and math.isfinite(v):
            hi = max(hi, 2 * v)
    grid = np.geomspace(lo / 2, hi, 120)
    loss = fit.flops_to_loss(grid)
    pred = fit.result.predict(loss, 0, alpha=ALPHA).rename(columns={"mean": "accuracy"})
    pred["flops"] = grid
    pred["prob"] = np.asarray(fit.result.prob_emerged(flops=grid), float)
    x = alt.X(
        "flops:Q", scale=alt.Scale(type="log"), title="training FLOPs (log)", axis=alt.Axis(format=".0e")
    )
    acc = [
        alt.Chart(pred).mark_area(opacity=0.2, color="#21918c").encode(x=x, y="lower:Q", y2="upper:Q"),
        alt.Chart(pred)
        .mark_line(color="#21918c")
        .encode(
            x=x, y=alt.Y("accuracy:Q", title="expected few-shot accuracy", scale=alt.Scale(domain=[0, 1]))
        ),
    ]
    obs = _observed(fit.table[fit.table["data_amount"] == 0].dropna(subset=["flops"]))
    if not obs.empty:
        acc.append(
            alt.Chart(obs)
            .mark_point(filled=True, color="#222", size=40)
            .encode(x=x, y="accuracy:Q", tooltip=["checkpoint", alt.Tooltip("accuracy:Q", format=".3f")])
        )
    prob = [
        alt.Chart(pred)
        .mark_line(color="#d62728")
        .encode(x=x, y=alt.Y("prob:Q", title="P(emerged by this budget)", scale=alt.Scale(domain=[0, 1])))
    ]
    marks = []
    if emergence_flops(fit):
        p = fit.point
        marks.append(
            pd.DataFrame([{"flops": p.flops, "lo": p.flops_lower, "hi": p.flops_upper, "what": "emergence"}])
        )
    if budget_flops:
        marks.append(pd.DataFrame([{"flops": budget_flops, "lo": None, "hi": None, "what": "budget"}]))
    if marks:
        m = pd.concat(marks)
        rule = (
            alt.Chart(m)
            .mark_rule(strokeDash=[4, 3])
            .encode(
                x="flops:Q",
                color=alt.Color(
                    "what:N", scale=alt.Scale(domain=["emergence", "budget"], range=["#d62728", "#444"])
                ),
                tooltip=["what", alt.Tooltip("flops:Q", format=".3e")],
            )
        )
        band = (
            alt.Chart(m.dropna(subset=["lo"]))
            .mark_rect(opacity=0.1, color="#d62728")
            .encode(x="lo:Q", x2="hi:Q")
        )
        acc = [band, *acc, rule]
        prob = [band, *prob, rule]
    return alt.layer(*acc).properties(height=300), alt.layer(*prob).properties(height=300)


def emergence_points(rows: pd.DataFrame, axis: str = "flops") -> alt.LayerChart:
    """The portfolio: each benchmark's few-shot emergence point with its interval, coloured by trust."""
    rows = rows.replace([np.inf, -np.inf], np.nan)  # an unbounded end (beyond the loss law's floor)
    if axis == "flops":
        # the axis spans every estimate and the intervals up to x100 beyond them: a longer interval is cut at
        # the edge, an estimate never is
        first, last = float(rows["estimate"].min()), float(rows["estimate"].max())
        lo = min(max(first / 100, float(rows["lower"].min()) / 1.5), first / 1.5)
        hi = max(min(last * 100, float(rows["upper"].max()) * 1.5), last * 1.5)
        rows = rows.assign(lower=rows["lower"].fillna(lo), upper=rows["upper"].fillna(hi))
        x = alt.X(
            "estimate:Q",
            scale=alt.Scale(type="log", domain=[lo, hi], clamp=True, nice=False),
            title="few-shot emergence (training FLOPs, log)",
            axis=alt.Axis(format=".0e"),
        )
    else:
        x = alt.X(
            "estimate:Q", scale=alt.Scale(zero=False, reverse=True), title="few-shot emergence (loss, nats)"
        )
    y = alt.Y(
        "benchmark:N",
        sort=alt.EncodingSortField("estimate", order="ascending"),
        title=None,
        axis=alt.Axis(labelLimit=320),
    )
    color = alt.Color("trust:N", scale=TRUST_COLORS, title="backtest trust")
    tip = ["benchmark", alt.Tooltip("estimate:Q", format=".3e"), alt.Tooltip("lower:Q", format=".3e"),
           alt.Tooltip("upper:Q", format=".3e"), "trust", "ladder", "source"]  # fmt: skip
    bars = alt.Chart(rows).mark_rule(strokeWidth=2).encode(x="lower:Q", x2="upper:Q", y=y, color=color)
    pts = alt.Chart(rows).mark_point(filled=True, size=80).encode(x=x, y=y, color=color, tooltip=tip)
    return alt.layer(bars, pts).properties(height=max(180, 36 * len(rows)))


def plan_grid(plan_runs: pd.DataFrame, table: pd.DataFrame) -> alt.LayerChart:
    """The planned runs as a grid of checkpoint (weakest first) x data amount: a cell's number is how many
    seeds the plan buys there; grey cells are already measured."""
    planned = (
        plan_runs.groupby(["checkpoint", "pretraining_loss", "data_amount"], as_index=False)
        .agg(runs=("seed", "size"))
        .assign(what="planned")
    )
    done = (
        table.groupby(["checkpoint", "pretraining_loss", "data_amount"], as_index=False)
        .agg(runs=("seed", "nunique"))
        .assign(what="measured")
    )
    cells = pd.concat([done, planned], ignore_index=True)
    cells["data"] = cells["data_amount"].map(_amount_label)
    order_ck = (
        cells.drop_duplicates("checkpoint")
        .sort_values("pretraining_loss", ascending=False)["checkpoint"]
        .tolist()
    )
    order_d = _amount_order(cells["data_amount"])
    x = alt.X("data:N", sort=order_d, title="finetuning data amount")
    y = alt.Y(
        "checkpoint:N",
        sort=order_ck,
        title="checkpoint (weakest first)",
        axis=alt.Axis(labelLimit=260, labelOverlap=False, labelFontSize=10),
    )
    tip = ["checkpoint", alt.Tooltip("pretraining_loss:Q", format=".3f"), "data", "runs", "what"]
    measured = (
        alt.Chart(cells[cells["what"] == "measured"]).mark_rect(color="#e0e0e0").encode(x=x, y=y, tooltip=tip)
    )
    plan = cells[cells["what"] == "planned"]
    rects = (
        alt.Chart(plan)
        .mark_rect(stroke="#222", strokeWidth=0.5)
        .encode(
            x=x,
            y=y,
            color=alt.Color("runs:Q", scale=alt.Scale(scheme="oranges", domainMin=0), title="planned runs"),
            tooltip=tip,
        )
    )
    text = alt.Chart(plan).mark_text(fontSize=11).encode(x=x, y=y, text="runs:Q")
    return alt.layer(measured, rects, text).properties(height=max(200, 15 * len(order_ck)))


def trust_by_ladder(table: pd.DataFrame) -> alt.Chart:
    """How many of each ladder's benchmarks the backtest rates high, medium, low or untested."""
    counts = table.groupby(["ladder", "trust"], as_index=False).agg(benchmarks=("benchmark", "size"))
    order = list(TRUST_COLORS.domain)
    counts["order"] = counts["trust"].map(order.index)
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("benchmarks:Q", title="benchmarks", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("ladder:N", title=None),
            color=alt.Color("trust:N", scale=TRUST_COLORS, title="trust"),
            order=alt.Order("order:Q"),
            tooltip=["ladder", "trust", "benchmarks"],
        )
        .properties(height=90 + 30 * counts["ladder"].nunique())
    )
