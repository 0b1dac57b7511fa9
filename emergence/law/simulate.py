"""Simulate emergence tables from known parameters, in the regime of practice (for tests and benchmarks).

The regime (issue 3): 8 checkpoints spanning 1.0-1.2 nats of pretraining loss, data amounts 64, 256, 1024
and 4096, an elbow that moves 0.2-0.5 nats across them, 2 seeds, 500 examples per evaluation, binomial
noise plus a seed/subset spread; the table holds every finetuned row and the few-shot rows of the
checkpoints still at chance (those above the true few-shot elbow).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emergence.law.links import elbow_at, link_accuracy

DATA_AMOUNTS = (64, 256, 1024, 4096)


@dataclass(frozen=True)
class TrueLaw:
    """Known parameters of a simulated emergence law and the ladder it is observed on."""

    losses: tuple[float, ...]
    params: dict[str, float]
    link: str = "relu"
    shift: str = "log_power"
    d0: float = 1.0
    data_amounts: tuple[int, ...] = DATA_AMOUNTS
    extra_sd: float = 0.01
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def elbow_d0(self) -> float:
        """The true few-shot elbow."""
        return self.params["elbow_d0"]

    def elbow(self, data_amount) -> np.ndarray:
        """The true elbow at each data amount."""
        return elbow_at(self.shift, data_amount, self.params, self.d0)

    def accuracy(self, loss, data_amount) -> np.ndarray:
        """Expected accuracy, clipped to [0, 1]."""
        gap = self.elbow(data_amount) - np.asarray(loss, dtype=float)
        return np.clip(link_accuracy(self.link, gap, self.params["chance"], self.params), 0.0, 1.0)


def draw_law(
    rng: np.random.Generator,
    link: str = "relu",
    n_checkpoints: int = 8,
    placement: str = "inside",
    alpha_range: tuple[float, float] = (0.5, 1.5),
) -> TrueLaw:
    """Draw one law of the issue's regime; placement "inside" puts the few-shot elbow within the ladder
    (so some checkpoints have emerged few-shot), "beyond" up to 0.3 nats past its strongest checkpoint."""
    lnd = np.log(DATA_AMOUNTS)
    while True:
        span = rng.uniform(1.0, 1.2)
        lmin = rng.uniform(2.0, 2.6)
        losses = lmin + span * np.linspace(0.0, 1.0, n_checkpoints)
        losses[1:-1] += rng.uniform(-0.02, 0.02, n_checkpoints - 2)
        lmax = losses[-1]
        alpha = rng.uniform(*alpha_range)
        move = rng.uniform(0.2, 0.5)  # E(4096) - E(64)
        k = move / (lnd[-1] ** alpha - lnd[0] ** alpha)
        to_top, to_first = k * lnd[-1] ** alpha, k * lnd[0] ** alpha  # E(4096) - E0, E(64) - E0
        hi = lmax - 0.15 - to_top  # leave finetuned rows at chance even at the largest D
        lo = lmin + 0.15 - to_first  # leave emerged rows at the smallest D
        lo = max(lo, lmin + 0.03) if placement == "inside" else max(lo, lmin - 0.3)
        if placement == "beyond":
            hi = min(hi, lmin - 0.03)
        if hi > lo:
            break
    params = {"elbow_d0": rng.uniform(lo, hi), "shift_k": k, "shift_alpha": alpha, "chance": 0.25}
    if link == "sigmoid":
        params |= {"ceiling": rng.uniform(0.75, 0.95), "scale": rng.uniform(0.06, 0.12)}
    else:
        params |= {"slope": rng.uniform(0.5, 1.0)}
        if link == "softplus":
            params["sharpness"] = rng.uniform(0.01, 0.05)
    return TrueLaw(
        losses=tuple(float(x) for x in losses),
        params=params,
        link=link,
        extra_sd=float(rng.uniform(0.005, 0.02)),
        meta={"move": move},
    )


def simulate_table(
    law: TrueLaw,
    rng: np.random.Generator,
    seeds: int = 2,
    n_examples: int = 500,
    fewshot: str = "at_chance",
    flops_scale: float = 1e19,
) -> pd.DataFrame:
    """Rows of the input table for a law: finetuned rows for every checkpoint, data amount and seed, and
    few-shot rows per `fewshot` ("at_chance": checkpoints above the true few-shot elbow; "all"; "none")."""
    losses = np.asarray(law.losses)
    rows = []
    for i, loss in enumerate(losses):
        amounts = list(law.data_amounts)
        if fewshot == "all" or (fewshot == "at_chance" and loss > law.elbow_d0):
            amounts = [0, *amounts]
        for d in amounts:
            for s in range(seeds):
                rows.append((f"ckpt-{i}", loss, d, s))
    t = pd.DataFrame(rows, columns=["checkpoint", "pretraining_loss", "data_amount", "seed"])
    return simulate_runs(law, t, rng, n_examples, flops_scale)


def simulate_runs(
    law: TrueLaw,
    runs: pd.DataFrame,
    rng: np.random.Generator,
    n_examples: int = 500,
    flops_scale: float = 1e19,
) -> pd.DataFrame:
    """Measure any set of runs (checkpoint, pretraining_loss, data_amount, seed) under a law: each accuracy
    drawn around the law with the seed/subset spread and binomial noise."""
    t = runs[["checkpoint", "pretraining_loss", "data_amount", "seed"]].reset_index(drop=True).copy()
    p = law.accuracy(t["pretraining_loss"].to_numpy(), t["data_amount"].to_numpy())
    p = np.clip(p + rng.normal(0.0, law.extra_sd, len(t)), 0.0, 1.0)
    t["accuracy"] = rng.binomial(n_examples, p) / n_examples
    t["n_examples"] = n_examples
    # a compute axis consistent with a loss law L = 1.7 + 2.2 * (C / scale)^-0.15 (for backtests)
    t["flops"] = flops_scale * ((t["pretraining_loss"] - 1.7) / 2.2) ** (-1 / 0.15)
    return t
