"""Links (accuracy against pretraining loss around an elbow) and shifts (the elbow against data amount).

Every link is written in terms of the gap `elbow - loss` (positive once a model is past the elbow), so
the three forms share one meaning of "elbow": the loss at which accuracy leaves chance.

- relu:     chance + slope * max(gap, 0)                       (the paper's sharp form)
- softplus: chance + slope * s * log(1 + exp(gap / s))          (smoothed ReLU; s = sharpness in nats;
            its two asymptotes meet at the elbow)
- sigmoid:  chance + (ceiling - chance) * expit(gap / s - 2)     (the peers' form; the elbow is where the
            tangent at the midpoint meets chance, i.e. midpoint + 2 s in loss)

Shifts give the elbow at data amount D, parametrised by the elbow at the low-data limit D0 so that
`elbow_d0` IS the few-shot emergence point:

- log_power: E(D) = elbow_d0 + k * ((ln D)^alpha - (ln D0)^alpha)   (paper: k (log D)^alpha + C; D, D0 >= 1)
- power:     E(D) = elbow_d0 + k * ((D/Dref)^alpha - (D0/Dref)^alpha)  (Dref: geometric mean of the D > 0)
- none:      E(D) = elbow_d0                                        (one elbow; few-shot-only data)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

LINKS = ("relu", "softplus", "sigmoid")
SHIFTS = ("log_power", "power", "none")


@dataclass(frozen=True)
class Param:
    """One named parameter with its bounds."""

    name: str
    lower: float
    upper: float


LINK_PARAMS: dict[str, tuple[Param, ...]] = {
    "relu": (Param("slope", 1e-4, 50.0),),
    "softplus": (Param("slope", 1e-4, 50.0), Param("sharpness", 2e-3, 0.5)),
    "sigmoid": (Param("ceiling", 0.0, 1.0), Param("scale", 2e-3, 1.0)),
}
SHIFT_PARAMS: dict[str, tuple[Param, ...]] = {
    "log_power": (Param("shift_k", 0.0, 10.0), Param("shift_alpha", 0.05, 5.0)),
    "power": (Param("shift_k", 0.0, 10.0), Param("shift_alpha", 0.01, 2.0)),
    "none": (),
}


def link_accuracy(link: str, gap: np.ndarray, chance: float, p: dict[str, float]) -> np.ndarray:
    """Expected accuracy for each gap = elbow - loss (not clipped)."""
    if link == "relu":
        return chance + p["slope"] * np.maximum(gap, 0.0)
    if link == "softplus":
        s = p["sharpness"]
        return chance + p["slope"] * s * np.logaddexp(0.0, gap / s)
    if link == "sigmoid":
        return chance + (p["ceiling"] - chance) * expit(gap / p["scale"] - 2.0)
    raise ValueError(f"unknown link {link!r}; choose one of {LINKS}")


def shift_basis(shift: str, data_amount: np.ndarray, alpha: float, d0: float, d_ref: float) -> np.ndarray:
    """The term multiplying k in E(D); zero at D = D0. Few-shot rows (D = 0) are evaluated at D0."""
    d = np.where(data_amount > 0, data_amount, d0).astype(float)
    if shift == "log_power":
        return np.log(d) ** alpha - np.log(d0) ** alpha
    if shift == "power":
        return (d / d_ref) ** alpha - (d0 / d_ref) ** alpha
    if shift == "none":
        return np.zeros_like(d)
    raise ValueError(f"unknown shift {shift!r}; choose one of {SHIFTS}")


def elbow_at(shift: str, data_amount, p: dict[str, float], d0: float, d_ref: float = 1.0) -> np.ndarray:
    """Elbow E(D) in nats for each data amount (0 means few-shot, i.e. D0)."""
    d = np.atleast_1d(np.asarray(data_amount, dtype=float))
    if shift == "none":
        return np.full(d.shape, p["elbow_d0"])
    return p["elbow_d0"] + p["shift_k"] * shift_basis(shift, d, p["shift_alpha"], d0, d_ref)
