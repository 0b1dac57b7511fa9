"""Charts of a chain forecast (compute -> intermediate loss -> sigmoid accuracy) on a ladder of few-shot
results: accuracy against training FLOPs with the forecast band beyond the ladder, and the fitted link."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
from emergence.dashboards.fits import BenchmarkFit

from emergence.forecast.chain import CANDIDATES, ladder_from

FLOPS_AXIS = alt.Axis(format=".0e")
X_NAMES = {"pretraining_loss": "corpus loss (nats)", "task_loss": "task loss (bits per byte)"}


SIZE_UNITS = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def size_label(params: float) -> str:
    """A model size as people write it, to three digits: 190M, 1.3B, and 949k or 45.3k for the toy ladders."""
    if not params or not math.isfinite(params) or params <= 0:
        return "?"
    for bigger, (unit, scale) in zip((None, *SIZE_UNITS), SIZE_UNITS, strict=False):
        if params >= scale or not unit:
            x = params / scale
            text = f"{x:.{2 if x < 10 else 1 if x < 100 else 0}f}"
            text = text.rstrip("0").rstrip(".") if "." in text else text
            return f"1{bigger[0]}" if bigger and float(text) >= 1000 else text + unit  # 999.9k is 1M


def observed_checkpoints(fit: BenchmarkFit) -> pd.DataFrame:
    """The ladder's checkpoints as the chain saw them (accuracy averaged per checkpoint), with FLOPs = 6 N D
    and a size label, smallest models first."""
    ck = ladder_from(fit.table, fit.task_loss).checkpoints.copy()
    ck["flops"] = 6.0 * ck["params"] * ck["tokens"]
    ck["size"] = ck["params"].map(size_label)
    return ck.sort_values(["params", "tokens"]).reset_index(drop=True)


def _size_color(ck: pd.DataFrame) -> alt.Color:
    order = list(dict.fromkeys(ck["size"]))
    return alt.Color("size:N", sort=order, scale=alt.Scale(scheme="viridis"), title="model size")


def forecast_grid(fit: BenchmarkFit, budget_flops: float | None = None, n: int = 140) -> pd.DataFrame:
    """The chain's accuracy (90% band) at compute-optimal allocations of FLOPs, from the ladder's smallest
    run to well beyond its largest (and past the emergence point and the budget)."""
    ck = observed_checkpoints(fit)
    lo, top = float(ck["flops"].min()), float(ck["flops"].max())
    hi = 100 * top
    flops = (fit.chain_point or {}).get("flops") or {}
    for v in (budget_flops, flops.get("upper")):
        if v and math.isfinite(v):
            hi = max(hi, 3 * v)
    grid = np.geomspace(lo, hi, n)
    params, tokens = fit.chain.allocation(grid)
    out = fit.chain.accuracy(params, tokens).rename(columns={"mean": "accuracy"})
    out["flops"], out["params"], out["tokens"] = grid, params, tokens
    out["where"] = np.where(grid <= top, "within the ladder", "beyond the ladder")
    return out


def accuracy_vs_compute(fit: BenchmarkFit, budget_flops: float | None = None) -> alt.LayerChart:
    """Observed few-shot accuracy of every checkpoint against training FLOPs (by model size), the chain's
    forecast (band: calibrated 90% interval) beyond the ladder, the emergence point and a budget."""
    ck = observed_checkpoints(fit)
    grid = forecast_grid(fit, budget_flops)
    x = alt.X("flops:Q", scale=alt.Scale(type="log"), title="training FLOPs (6 N D, log)", axis=FLOPS_AXIS)
    y = alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="few-shot accuracy")
    layers = [
        alt.Chart(grid).mark_area(opacity=0.18, color="#21918c").encode(x=x, y="lower:Q", y2="upper:Q"),
        alt.Chart(ck)
        .mark_circle(size=14, opacity=0.55)
        .encode(
            x=x,
            y=y,
            color=_size_color(ck),
            tooltip=[
                "run",
                "size",
                alt.Tooltip("tokens:Q", format=".3e"),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        ),
        alt.Chart(grid)
        .mark_line(color="#21918c", strokeWidth=2.5)
        .encode(
            x=x,
            y=y,
            strokeDash=alt.StrokeDash(
                "where:N",
                sort=["within the ladder", "beyond the ladder"],
                scale=alt.Scale(range=[[1, 0], [6, 4]]),
                title="forecast",
            ),
            tooltip=[
                alt.Tooltip("flops:Q", format=".3e"),
                alt.Tooltip("accuracy:Q", format=".3f"),
                alt.Tooltip("lower:Q", format=".3f"),
                alt.Tooltip("upper:Q", format=".3f"),
                alt.Tooltip("params:Q", format=".3e"),
                alt.Tooltip("tokens:Q", format=".3e"),
            ],
        ),
    ]
    layers += _marks(fit, float(ck["flops"].max()), budget_flops)
    return alt.layer(*layers).resolve_scale(color="independent").properties(height=380)


def _marks(fit: BenchmarkFit, top: float, budget_flops: float | None) -> list:
    """Vertical rules: the ladder's largest run, the emergence point (with its band), the budget."""
    rows = [{"flops": top, "what": "largest run fitted", "lo": None, "hi": None}]
    flops = (fit.chain_point or {}).get("flops") or {}
    if flops.get("estimate"):
        rows.append(
            {"flops": flops["estimate"], "what": "emergence", "lo": flops["lower"], "hi": flops["upper"]}
        )
    if budget_flops:
        rows.append({"flops": budget_flops, "what": "budget", "lo": None, "hi": None})
    m = pd.DataFrame(rows)
    color = alt.Color(
        "what:N",
        title=None,
        scale=alt.Scale(
            domain=["largest run fitted", "emergence", "budget"], range=["#888", "#d62728", "#222"]
        ),
    )
    rule = (
        alt.Chart(m)
        .mark_rule(strokeDash=[4, 3])
        .encode(x="flops:Q", color=color, tooltip=["what", alt.Tooltip("flops:Q", format=".3e")])
    )
    band = (
        alt.Chart(m.dropna(subset=["lo"])).mark_rect(opacity=0.1, color="#d62728").encode(x="lo:Q", x2="hi:Q")
    )
    return [band, rule]


def link_chart(fit: BenchmarkFit) -> alt.LayerChart:
    """Accuracy against the chosen chain's intermediate (a loss, or FLOPs for a chain on compute): every
    checkpoint, the fitted sigmoid link with its bootstrap band, and where accuracy leaves its floor."""
    ck = observed_checkpoints(fit)
    chain, result = fit.chain, fit.chain.result
    column = CANDIDATES[chain.name]["x"]
    if column is None:  # a chain on compute: its intermediate is -ln(FLOPs)
        ck["x"] = ck["flops"]
        x = alt.X("x:Q", scale=alt.Scale(type="log"), title="training FLOPs (log)", axis=FLOPS_AXIS)
        grid = np.geomspace(ck["x"].min(), ck["x"].max() * 100, 120)
        inner = -np.log(grid)
    else:
        ck["x"] = ck[column]
        span = float(np.ptp(ck["x"]))
        grid = np.linspace(ck["x"].min() - 0.6 * span, ck["x"].max() + 0.05 * span, 120)
        inner = grid
        x = alt.X(
            "x:Q",
            scale=alt.Scale(reverse=True, zero=False, nice=False),
            title=f"{X_NAMES[column]} → stronger models",
        )
    from emergence.law.chain import link_at

    draws = np.clip(
        link_at(result.link_theta, np.broadcast_to(inner, (len(result.link_theta), len(inner)))), 0, 1
    )
    curve = pd.DataFrame({"x": grid, "accuracy": draws[0]})
    if len(draws) > 2:
        curve["lower"], curve["upper"] = np.quantile(draws[1:], [0.05, 0.95], axis=0)
    else:
        curve["lower"] = curve["upper"] = draws[0]
    y = alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="few-shot accuracy")
    elbow, lower, upper = chain.elbow(result)
    mark = pd.DataFrame([{"x": elbow, "lo": lower, "hi": upper}])
    if column is None:
        mark = np.exp(-mark).rename(columns={"lo": "hi", "hi": "lo"})
    return alt.layer(
        alt.Chart(mark).mark_rect(opacity=0.12, color="#d62728").encode(x="lo:Q", x2="hi:Q"),
        alt.Chart(curve).mark_area(opacity=0.2, color="#21918c").encode(x=x, y="lower:Q", y2="upper:Q"),
        alt.Chart(ck)
        .mark_circle(size=14, opacity=0.55)
        .encode(
            x=x, y=y, color=_size_color(ck), tooltip=["run", "size", alt.Tooltip("accuracy:Q", format=".3f")]
        ),
        alt.Chart(curve).mark_line(color="#21918c", strokeWidth=2.5).encode(x=x, y=y),
        alt.Chart(mark)
        .mark_rule(color="#d62728", strokeDash=[2, 2])
        .encode(x="x:Q", tooltip=[alt.Tooltip("x:Q", title="leaves its floor", format=".3g")]),
    ).properties(height=380)
