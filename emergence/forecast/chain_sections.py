"""The forecast document's sections when the chain made the forecast (emergence.forecast.chain)."""

from __future__ import annotations

import numpy as np

from emergence.forecast.document import interval, plain

LOSS_LAW_PARAMS = ("E", "A", "a", "B", "b")


def chain_section(chain) -> dict:
    """$.chain: the chosen chain, its fitted stages, its backtest and the candidates it beat."""
    result = chain.result
    floor, ceiling, midpoint, scale = result.link_theta[0]
    loss_law = None
    if result.loss_theta is not None:
        loss_law = dict(zip(LOSS_LAW_PARAMS, result.loss_theta[0], strict=True))
    return plain({
        "chosen": chain.name, "intermediate": result.intermediate, "loss_law": loss_law,
        "link": {"floor": floor, "ceiling": ceiling, "midpoint": midpoint, "scale": scale},
        "residual_sd": result.residual_sd, "interval_scale": chain.scale, "backtest": chain.backtest,
        "candidates": chain.candidates,
    })  # fmt: skip


def chain_loss_law_section(chain) -> dict:
    """$.loss_law: the corpus-loss law of the runs' final losses, with intervals from the run bootstrap."""
    draws = chain.loss_chain.loss_theta
    section = {"kind": "params_tokens", "params": dict(zip(LOSS_LAW_PARAMS, draws[0], strict=True)),
               "diagnostics": {"fitted_on": "each training run's final loss", "n_runs": chain.loss_chain.info["n_runs"],
                               "exponents": "one shared exponent (a = b)"}}  # fmt: skip
    if len(draws) > 2:
        lo, hi = np.quantile(draws[1:], [chain.alpha / 2, 1 - chain.alpha / 2], axis=0)
        section["conf_int"] = {k: [lo[i], hi[i]] for i, k in enumerate(LOSS_LAW_PARAMS)}
    return plain(section)


def chain_emergence_point(chain) -> dict:
    """$.emergence_point: where accuracy leaves its floor, in corpus loss and compute-optimal FLOPs; not
    found when that lies beyond the ladder's reach (a benchmark flat on the ladder)."""
    loss, lower, upper = chain.emergence_loss()
    seen = chain.loss_chain.x_range
    span = seen[1] - seen[0]
    if not (seen[0] - span <= loss <= seen[1] + span) or not loss > 0:
        return {"status": "not_found", "reason": "accuracy does not leave its floor within the ladder's reach "
                "(the fitted rise lies beyond its losses)", "loss": None, "flops": None}  # fmt: skip
    flops = [chain.flops_for_loss(v) for v in (loss, upper, lower)]
    return {
        "status": "found", "reason": None, "loss": interval(loss, max(lower, 1e-9), upper),
        "flops": interval(*flops) if all(f is not None for f in flops) else None, "method": "bootstrap",
    }  # fmt: skip
