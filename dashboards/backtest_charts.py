"""Charts of backtests: the forecast made before emergence and what then happened.

For the emergence law: per FLOPs cutoff, the few-shot elbow predicted from the checkpoints up to it
against the actual one, in loss and in FLOPs; when no cutoff placed an elbow, the few-shot accuracy with
the cutoffs marked. For the chain: each held-out run's predicted accuracy against what it measured.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

FLOPS_AXIS = alt.Axis(format=".0e")
CUTOFF_TITLE = "FLOPs used: the largest checkpoint fitted (log)"
CUTOFF_X = alt.X("cutoff_flops:Q", scale=alt.Scale(type="log"), title=CUTOFF_TITLE, axis=FLOPS_AXIS)


def _outcome(c: pd.DataFrame, threshold: float) -> pd.DataFrame:
    return c.assign(outcome=np.where(c["success"].astype(bool), f"within {threshold:g} nats", "missed"))


def _outcome_color(threshold: float) -> alt.Color:
    domain = [f"within {threshold:g} nats", "missed", "from checkpoints at chance"]
    return alt.Color(
        "outcome:N",
        scale=alt.Scale(domain=domain, range=["#1a9850", "#d73027", "#3b528b"]),
        title=None,
        legend=None,  # the captions name the colours: a legend would squeeze the plot in a half-width column
    )


def _with_before(c: pd.DataFrame, before: dict | None, threshold: float) -> pd.DataFrame:
    """The cutoffs plus the forecast from the checkpoints still at chance (run_before_emergence), if made."""
    if not before or before.get("status") != "done" or not before.get("flops_used"):
        return c
    row = {
        "cutoff_flops": before["flops_used"],
        "predicted_elbow": before["predicted_elbow"],
        "predicted_lower": before["lower"],
        "predicted_upper": before["upper"],
        "error_nats": abs(before["error"]),
        "outcome": "from checkpoints at chance",
        "n_checkpoints": before["n_checkpoints"],
    }
    return pd.concat([c, pd.DataFrame([row])], ignore_index=True)


def _points(c: pd.DataFrame, x, y, threshold: float, tip: list) -> list:
    """The cutoffs' forecasts as filled dots, and the one from the checkpoints still at chance as a hollow
    diamond drawn over them (it often uses the last cutoff's checkpoints, and then lands on its dot)."""
    before = c["outcome"] == "from checkpoints at chance"
    color = _outcome_color(threshold)
    return [
        alt.Chart(c[~before]).mark_point(filled=True, size=110).encode(x=x, y=y, color=color, tooltip=tip),
        alt.Chart(c[before])
        .mark_point(shape="diamond", filled=False, size=320, strokeWidth=2.5)
        .encode(x=x, y=y, color=color, tooltip=tip),
    ]


def backtest_elbows(
    cutoffs: pd.DataFrame, actual: float | None, threshold: float, before: dict | None = None
) -> alt.LayerChart:
    """Predicted few-shot elbow (90% interval) per FLOPs cutoff against the elbow fitted on all few-shot
    results (band: the success threshold); ``before``: the forecast from the checkpoints still at chance."""
    c = cutoffs.dropna(subset=["predicted_elbow"]).rename(
        columns={"lower": "predicted_lower", "upper": "predicted_upper"}
    )
    c = _with_before(_outcome(c, threshold), before, threshold)
    values = [*c["predicted_elbow"], *c.get("predicted_lower", []), *c.get("predicted_upper", [])]
    if actual is not None:
        values += [actual - threshold, actual + threshold]
    values = [v for v in values if v is not None and math.isfinite(v)]
    domain = [min(values) - 0.02, max(values) + 0.02] if values else alt.Undefined
    yscale = alt.Scale(zero=False, domain=domain, nice=False)
    y = alt.Y("predicted_elbow:Q", scale=yscale, title="few-shot elbow (pretraining loss, nats)")
    layers = []
    if actual is not None:
        band = pd.DataFrame([{"lo": actual - threshold, "hi": actual + threshold, "actual": actual}])
        layers.append(
            alt.Chart(band)
            .mark_rect(opacity=0.12, color="#1a9850")
            .encode(y=alt.Y("lo:Q", scale=yscale), y2="hi:Q")
        )
        layers.append(
            alt.Chart(band)
            .mark_rule(color="#222", strokeDash=[5, 3])
            .encode(
                y="actual:Q", tooltip=[alt.Tooltip("actual:Q", title="actual few-shot elbow", format=".3f")]
            )
        )
    if {"predicted_lower", "predicted_upper"} <= set(c.columns):
        layers.append(
            alt.Chart(c)
            .mark_rule()
            .encode(
                x=CUTOFF_X, y="predicted_lower:Q", y2="predicted_upper:Q", color=_outcome_color(threshold)
            )
        )
    tip = [
        alt.Tooltip("cutoff_flops:Q", format=".3e"),
        alt.Tooltip("predicted_elbow:Q", format=".3f"),
        alt.Tooltip("error_nats:Q", format=".3f"),
        "n_checkpoints",
        "outcome",
    ]
    layers += _points(c, CUTOFF_X, y, threshold, tip)
    return alt.layer(*layers).properties(height=340)


def elbow_flops(
    cutoffs: pd.DataFrame, loss_law, actual: float | None, threshold: float, before: dict | None = None
) -> alt.LayerChart:
    """The same forecasts in FLOPs (through the loss law): the emergence FLOPs predicted at each cutoff
    against the FLOPs used to make it (diagonal: a forecast above it was made before emergence) and the
    actual emergence FLOPs."""
    c = cutoffs.dropna(subset=["predicted_elbow"]).rename(
        columns={"lower": "predicted_lower", "upper": "predicted_upper"}
    )
    c = _with_before(_outcome(c, threshold), before, threshold)

    def to_flops(v):
        return loss_law.inverse(float(v)) if v is not None and math.isfinite(v) else None

    c["emergence_flops"] = c["predicted_elbow"].map(to_flops)
    c["flops_lower"] = c["predicted_upper"].map(to_flops)  # a higher loss is reached with fewer FLOPs
    c["flops_upper"] = c["predicted_lower"].map(to_flops)
    c = c.replace([np.inf, -np.inf], np.nan)
    span = [v for v in (*c["cutoff_flops"], *c["emergence_flops"].dropna()) if v and v > 0]
    truth = to_flops(actual) if actual is not None else None
    truth = truth if truth and math.isfinite(truth) else None  # inf: beyond the loss law's floor
    if truth:
        span.append(truth)
    lo, hi = (min(span) / 4, max(span) * 4) if span else (1.0, 10.0)
    # one scale for both axes, so that the diagonal is the diagonal; an interval open at either end (a loss
    # the loss law never reaches) runs to the chart's edge
    c["flops_lower"] = c["flops_lower"].fillna(lo).clip(lower=lo)
    c["flops_upper"] = c["flops_upper"].fillna(hi).clip(upper=hi)
    scale = alt.Scale(type="log", domain=[lo, hi], nice=False, clamp=True)
    x = alt.X("cutoff_flops:Q", scale=scale, title=CUTOFF_TITLE, axis=FLOPS_AXIS)
    y = alt.Y("emergence_flops:Q", scale=scale, title="predicted emergence (FLOPs, log)", axis=FLOPS_AXIS)
    diagonal = pd.DataFrame({"cutoff_flops": [lo, hi], "emergence_flops": [lo, hi]})
    layers = [alt.Chart(diagonal).mark_line(color="#aaa", strokeDash=[2, 3]).encode(x=x, y=y)]
    if truth:
        layers.append(
            alt.Chart(pd.DataFrame([{"actual": truth}]))
            .mark_rule(color="#222", strokeDash=[5, 3])
            .encode(
                y="actual:Q", tooltip=[alt.Tooltip("actual:Q", title="actual emergence FLOPs", format=".3e")]
            )
        )
    tip = [
        alt.Tooltip("cutoff_flops:Q", title="FLOPs used", format=".3e"),
        alt.Tooltip("emergence_flops:Q", title="predicted FLOPs", format=".3e"),
        "outcome",
    ]
    color = _outcome_color(threshold)
    bars = c.dropna(subset=["emergence_flops"])
    layers.append(alt.Chart(bars).mark_rule().encode(x=x, y="flops_lower:Q", y2="flops_upper:Q", color=color))
    layers += _points(c.dropna(subset=["emergence_flops"]), x, y, threshold, tip)
    return alt.layer(*layers).properties(height=340)


def backtest_errors(cutoffs: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Error of the predicted elbow (nats) per cutoff, with the success threshold."""
    c = cutoffs.dropna(subset=["error_nats"])
    pts = (
        alt.Chart(c)
        .mark_line(point=True, color="#3b528b")
        .encode(x=CUTOFF_X, y=alt.Y("error_nats:Q", title="|predicted − actual| (nats)"))
    )
    rule = (
        alt.Chart(pd.DataFrame([{"t": threshold}]))
        .mark_rule(color="#d73027", strokeDash=[4, 3])
        .encode(y="t:Q")
    )
    return alt.layer(pts, rule).properties(height=260)


def fewshot_with_cutoffs(table: pd.DataFrame, cutoffs: pd.DataFrame, actual: float | None) -> alt.LayerChart:
    """Few-shot accuracy of every checkpoint against its training FLOPs (coloured by whether its loss is past
    the actual few-shot elbow), with the backtest's cutoffs marked: what the backtest had to go on when no
    cutoff placed an elbow."""
    few = table[table["data_amount"] == 0].dropna(subset=["flops"])
    obs = few.groupby(["checkpoint", "flops", "pretraining_loss"], as_index=False).agg(
        accuracy=("accuracy", "mean")
    )
    states = ["before the elbow", "past the elbow"]
    obs["state"] = (
        states[0] if actual is None else np.where(obs["pretraining_loss"] < actual, states[1], states[0])
    )
    x = alt.X("flops:Q", scale=alt.Scale(type="log"), title="training FLOPs (log)", axis=FLOPS_AXIS)
    points = (
        alt.Chart(obs)
        .mark_point(filled=True, size=50)
        .encode(
            x=x,
            y=alt.Y("accuracy:Q", title="few-shot accuracy", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "state:N", scale=alt.Scale(domain=states, range=["#3b528b", "#1a9850"]), title=None
            ),
            tooltip=[
                "checkpoint",
                alt.Tooltip("flops:Q", format=".3e"),
                alt.Tooltip("pretraining_loss:Q", format=".3f"),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        )
    )
    marks = cutoffs.assign(flops=cutoffs["cutoff_flops"])
    tip = [alt.Tooltip("flops:Q", title="cutoff FLOPs", format=".3e"), "n_checkpoints"]
    rules = alt.Chart(marks).mark_rule(color="#d73027", strokeDash=[4, 3]).encode(x="flops:Q", tooltip=tip)
    return alt.layer(rules, points).properties(height=320)


def chain_backtest(splits: pd.DataFrame) -> alt.LayerChart:
    """Each held-out run's accuracy predicted by the chain fitted on the runs before it (90% interval)
    against the accuracy it reached, per split; on the diagonal a forecast was exact."""
    s = splits.copy()
    lo = float(min(s["accuracy"].min(), s["lower"].min())) - 0.02
    hi = float(max(s["accuracy"].max(), s["upper"].max())) + 0.02
    scale = alt.Scale(domain=[lo, hi], nice=False, zero=False)
    x = alt.X("accuracy:Q", scale=scale, title="accuracy the held-out run reached")
    y = alt.Y("predicted:Q", scale=scale, title="accuracy the chain predicted")
    color = alt.Color(
        "split:N", title="fitted → predicted", legend=alt.Legend(orient="right", labelLimit=280)
    )
    diagonal = pd.DataFrame({"accuracy": [lo, hi], "predicted": [lo, hi]})
    tip = [
        "split",
        "run",
        alt.Tooltip("accuracy:Q", format=".3f"),
        alt.Tooltip("predicted:Q", format=".3f"),
        alt.Tooltip("lower:Q", format=".3f"),
        alt.Tooltip("upper:Q", format=".3f"),
        "covered",
    ]
    return alt.layer(
        alt.Chart(diagonal).mark_line(color="#aaa", strokeDash=[2, 3]).encode(x=x, y=y),
        alt.Chart(s).mark_rule(opacity=0.5).encode(x=x, y="lower:Q", y2="upper:Q", color=color),
        alt.Chart(s).mark_point(filled=True, size=60).encode(x=x, y=y, color=color, tooltip=tip),
    ).properties(height=380)


def chain_backtest_vs_compute(splits: pd.DataFrame) -> alt.LayerChart:
    """The same held-out runs against their training FLOPs: measured (black) and predicted (with interval)."""
    s = splits.copy()
    x = alt.X(
        "flops:Q",
        scale=alt.Scale(type="log"),
        title="training FLOPs of the held-out run (log)",
        axis=FLOPS_AXIS,
    )
    color = alt.Color("split:N", title="fitted → predicted", legend=None)
    return alt.layer(
        alt.Chart(s).mark_rule(opacity=0.5).encode(x=x, y="lower:Q", y2="upper:Q", color=color),
        alt.Chart(s)
        .mark_point(size=50)
        .encode(
            x=x,
            y=alt.Y("predicted:Q", title="few-shot accuracy", scale=alt.Scale(zero=False)),
            color=color,
            tooltip=["split", "run", alt.Tooltip("predicted:Q", format=".3f")],
        ),
        alt.Chart(s)
        .mark_point(filled=True, size=30, color="#222", shape="cross")
        .encode(x=x, y="accuracy:Q", tooltip=["run", alt.Tooltip("accuracy:Q", format=".3f")]),
    ).properties(height=380)
