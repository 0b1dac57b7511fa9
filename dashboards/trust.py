"""How far to trust a forecast, from its own backtest: one mark (high, medium, low, untested) and a line.

The emergence law is judged by the paper's protocol (the few-shot elbow predicted from checkpoints below a
FLOPs cutoff, in nats); the chain by its own backtest on the ladder (held-out larger or longer runs'
accuracy, in points, and how often its 90% intervals covered them).
"""

from __future__ import annotations

MARKS = ("high", "medium", "low", "untested")
CHAIN_HIGH_POINTS = 2.0
"""A chain whose held-out runs' accuracy it missed by at most 2 points on average (over 2+ splits) is high."""
CHAIN_MEDIUM_POINTS = 5.0
WIDENING_LIMIT = 1.5
"""A chain whose own intervals had to be widened by more than this to cover its backtest is at most medium."""


def trust_mark(doc: dict | None) -> dict:
    """The trust mark of a forecast document (either method): mark, detail line, and the numbers behind it."""
    if (doc or {}).get("method") == "chain" and (doc or {}).get("chain"):
        return chain_trust(doc["chain"].get("backtest") or {}, doc["chain"].get("interval_scale"))
    return law_trust(doc)


def law_trust(doc: dict | None) -> dict:
    """The emergence law's mark from the document's backtest section.

    high: median backtest error at most 0.05 nats over at least 3 fitted cutoffs, at least 80% of them within
    0.1 nats (the paper's success); medium: median error at most 0.1 nats (or a lower error from fewer
    than 3 fitted cutoffs: one good prediction is not a track record); low: otherwise.
    """
    bt = (doc or {}).get("backtest") or {}
    if bt.get("status") != "done":
        reason = bt.get("reason") or ("no exported forecast" if doc is None else "no backtest")
        return {"mark": "untested", "detail": reason, "median_error": None, "advance": None}
    err, rate, adv = bt.get("median_error_nats"), bt.get("success_rate"), bt.get("advance_factor")
    n = len(bt.get("cutoffs") or [])
    fitted = sum(c.get("error_nats") is not None for c in bt.get("cutoffs") or [])
    if err is None:
        mark = "low"
    elif err <= 0.05 and (rate is None or rate >= 0.8) and fitted >= 3:
        mark = "high"
    elif err <= 0.1:
        mark = "medium"
    else:
        mark = "low"
    parts = [f"median error {err:.3f} nats" if err is not None else "no successful cutoff"]
    parts.append(f"{fitted} of {n} cutoffs fitted")
    if rate is not None:
        parts.append(f"{rate:.0%} within {bt.get('success_threshold_nats', 0.1):g} nats")
    if adv:
        parts.append(f"advance {adv:.1f}×")
    return {"mark": mark, "detail": ", ".join(parts), "median_error": err, "advance": adv}


def chain_trust(backtest: dict, interval_scale: float | None = None) -> dict:
    """The chain's mark from its backtest ($.chain.backtest: mae, coverage_raw, coverage_scaled, splits).

    high: mean error at most 2 points of accuracy over 2+ splits, with intervals that needed at most 1.5x
    widening to cover them; medium: at most 5 points (or high numbers from one split); low: otherwise.
    """
    mae, n = backtest.get("mae"), int(backtest.get("n_targets") or 0)
    splits = len(backtest.get("splits") or [])
    if mae is None or n == 0:
        return {
            "mark": "untested",
            "detail": "the chain's backtest had no split to predict",
            "median_error": None,
            "advance": None,
            "mae_points": None,
        }
    points = 100.0 * mae
    scale = float(interval_scale or 1.0)
    if points <= CHAIN_HIGH_POINTS and splits >= 2 and scale <= WIDENING_LIMIT:
        mark = "high"
    elif points <= CHAIN_MEDIUM_POINTS:
        mark = "medium"
    else:
        mark = "low"
    parts = [f"mean error {points:.1f} points on {n} held-out runs ({splits} split{'s' * (splits != 1)})"]
    raw, scaled = backtest.get("coverage_raw"), backtest.get("coverage_scaled")
    if scaled is not None:
        widened = (
            f" ({raw:.0%} before widening ×{scale:.2f})" if raw is not None and scale > 1.0 + 1e-9 else ""
        )
        parts.append(f"90% intervals covered {scaled:.0%}{widened}")
    return {
        "mark": mark,
        "detail": "; ".join(parts),
        "median_error": None,
        "advance": None,
        "mae_points": points,
        "coverage": scaled,
    }
