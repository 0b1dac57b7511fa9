"""Forecasts at budgets: the pretraining loss a budget reaches (loss laws) and the few-shot accuracy and
probability of emergence there (the emergence law), with both uncertainties joined."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError
from emergence.forecast.options import Budget

BUDGET_COLUMNS = ("label", "kind", "flops", "params", "tokens", "loss", "loss_lower", "loss_upper", "accuracy",
                  "accuracy_lower", "accuracy_upper", "prob_emerged")  # fmt: skip


def _draws_interval(draws: Any, estimate: float, alpha: float) -> tuple[float, float]:
    draws = np.asarray(draws, dtype=float).ravel()
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return estimate, estimate
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def loss_at_budget(budget: Budget, loss_laws: dict, alpha: float) -> tuple[float, float, float, Any]:
    """Predicted pretraining loss at a budget: (estimate, lower, upper, bootstrap draws or None).

    FLOPs use the compute law; params + tokens the params-tokens law (or, on a ladder of one model size,
    the compute law at C = 6 N T)."""
    if budget.kind == "loss":
        return budget.loss, budget.loss, budget.loss, None
    if budget.kind == "params_tokens" and "params_tokens" not in loss_laws:
        if "compute" not in loss_laws:
            raise EmergenceError(
                f"budget {budget.name}: no loss law fits this ladder (see the notes); give --loss"
            )
        return loss_at_budget(Budget(flops=6.0 * budget.params * budget.tokens), loss_laws, alpha)
    if budget.kind == "flops":
        law = loss_laws.get("compute")
        if law is None:
            raise EmergenceError(
                f"budget {budget.name}: no loss-vs-compute law (the ladder lacks FLOPs); give --loss"
            )
        x = (budget.flops,)
    else:
        law, x = loss_laws["params_tokens"], (budget.params, budget.tokens)
    estimate = float(law.predict(*x, alpha=alpha)["mean"].iloc[0])
    if law.draws_ is None:
        return estimate, estimate, estimate, None
    draws = np.array([np.ravel(law.law.loss(theta, *x))[0] for theta in law.draws_.to_numpy()])
    w = getattr(law, "widening_factor", 1.0)
    lo, hi = _draws_interval(draws, estimate, alpha)
    return (
        estimate,
        estimate - w * (estimate - lo),
        estimate + w * (hi - estimate),
        estimate + w * (draws - estimate),
    )


def budget_forecasts(result, loss_laws: dict, budgets: list[Budget], alpha: float = 0.1) -> pd.DataFrame:
    """Per budget: the predicted loss and few-shot accuracy with intervals, and P(emerged by then).

    The accuracy interval joins both uncertainties: its lower end is the law's lower bound at the upper
    end of the loss interval, and its upper end the law's upper bound at the loss interval's lower end
    (accuracy falls as loss rises).
    """
    if not budgets:
        return pd.DataFrame(columns=list(BUDGET_COLUMNS))
    losses = [loss_at_budget(budget, loss_laws, alpha) for budget in budgets]
    for budget, (loss, *_) in zip(budgets, losses, strict=True):
        if not (loss > 0 and math.isfinite(loss)):
            raise EmergenceError(
                f"budget {budget.name}: the loss law predicts a loss of {loss}; it cannot be used"
            )
    at = np.array([[loss, max(lo, 1e-9), hi] for loss, lo, hi, _ in losses])
    pred = result.predict(at.ravel(), data_amount=0, alpha=alpha)
    mean, lower, upper = (pred[c].to_numpy().reshape(-1, 3) for c in ("mean", "lower", "upper"))
    if getattr(result, "draws_", None) is None:  # no elbow draws: one call for all budgets (it profiles)
        probs = np.ravel(result.prob_emerged(loss=at[:, 0]))
    else:  # pair the elbow's draws with each budget's loss draws
        probs = [
            np.ravel(result.prob_emerged(loss=d.reshape(-1, 1) if d is not None else loss))[0]
            for loss, _, _, d in losses
        ]
    rows = []
    for i, budget in enumerate(budgets):
        loss, loss_lo, loss_hi, _ = losses[i]
        rows.append(
            {
                "label": budget.name,
                "kind": budget.kind,
                "flops": budget.flops,
                "params": budget.params,
                "tokens": budget.tokens,
                "loss": loss,
                "loss_lower": loss_lo,
                "loss_upper": loss_hi,
                "accuracy": float(mean[i, 0]),
                "accuracy_lower": float(min(lower[i, 0], lower[i, 2])),
                "accuracy_upper": float(max(upper[i, 0], upper[i, 1])),
                "prob_emerged": float(np.clip(probs[i], 0.0, 1.0)),
            }
        )
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def chain_budget_forecasts(chain, budgets: list[Budget], alpha: float = 0.1) -> pd.DataFrame:
    """Per budget, through a fitted chain (emergence.forecast.chain.ChainForecast): the corpus loss and the
    accuracy with their intervals, and P(accuracy has left its floor). FLOPs are split into params and
    tokens compute-optimally under the corpus-loss law."""
    rows = []
    for budget in budgets:
        row = {"label": budget.name, "kind": budget.kind, "flops": budget.flops, "params": budget.params,
               "tokens": budget.tokens}  # fmt: skip
        if budget.kind == "loss":
            result = chain.loss_chain
            draws = result.accuracy_at_draws(budget.loss)
            lo, hi = _draws_interval(draws[1:], draws[0], alpha)
            elbows = result.link_theta[:, 2] + 2.0 * result.link_theta[:, 3]
            row |= {"loss": budget.loss, "loss_lower": budget.loss, "loss_upper": budget.loss,
                    "accuracy": float(draws[0]), "accuracy_lower": min(lo, float(draws[0])),
                    "accuracy_upper": max(hi, float(draws[0])), "prob_emerged": float(np.mean(budget.loss < elbows))}  # fmt: skip
            rows.append(row)
            continue
        params, tokens = (
            (np.array([budget.params]), np.array([budget.tokens])) if budget.kind == "params_tokens"
            else chain.allocation([budget.flops])
        )  # fmt: skip
        losses = chain.loss_draws(params, tokens)[:, 0]
        lo, hi = _draws_interval(losses[1:], losses[0], alpha)
        accuracy = chain.accuracy(params, tokens).iloc[0]
        row |= {"loss": float(losses[0]), "loss_lower": min(lo, float(losses[0])), "loss_upper": max(hi, float(losses[0])),
                "accuracy": float(accuracy["mean"]), "accuracy_lower": float(accuracy["lower"]),
                "accuracy_upper": float(accuracy["upper"]), "prob_emerged": float(chain.prob_emerged(params, tokens)[0])}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))
