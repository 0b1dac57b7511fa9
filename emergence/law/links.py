"""Links (accuracy against pretraining loss around an elbow) and shifts (the elbow against data amount).

Each form is written once, its value and its gradient together, and every user (the likelihood, the
simulator) calls these functions.

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit

LINKS = ("relu", "softplus", "sigmoid")
SHIFTS = ("log_power", "power", "none")

Derivative = np.ndarray | float  # per row, or one number that holds on every row


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


class LinkValue(NamedTuple):
    """A link's accuracy per row and, when asked for, its derivatives in the gap and in each parameter."""

    accuracy: np.ndarray
    d_gap: np.ndarray | None = None
    d_params: dict[str, Derivative] | None = None


def _relu(gap, chance, p, grad) -> LinkValue:
    slope = p["slope"]
    pos = np.maximum(gap, 0.0)
    acc = chance + slope * pos
    if not grad:
        return LinkValue(acc)
    return LinkValue(acc, slope * (gap > 0), {"slope": pos, "chance": 1.0})


def _softplus(gap, chance, p, grad) -> LinkValue:
    slope, s = p["slope"], p["sharpness"]
    z = gap / s
    sp = np.logaddexp(0.0, z)
    acc = chance + slope * s * sp
    if not grad:
        return LinkValue(acc)
    sg = expit(z)
    return LinkValue(acc, slope * sg, {"slope": s * sp, "sharpness": slope * (sp - z * sg), "chance": 1.0})


def _sigmoid(gap, chance, p, grad) -> LinkValue:
    ceil, s = p["ceiling"], p["scale"]
    sg = expit(gap / s - 2.0)
    acc = chance + (ceil - chance) * sg
    if not grad:
        return LinkValue(acc)
    dz = (ceil - chance) * sg * (1 - sg)
    return LinkValue(acc, dz / s, {"ceiling": sg, "scale": -dz * gap / s**2, "chance": 1 - sg})


_LINK_FORMS = {"relu": _relu, "softplus": _softplus, "sigmoid": _sigmoid}


def link_value(
    link: str, gap: np.ndarray, chance: float, p: Mapping[str, float], grad: bool = False
) -> LinkValue:
    """Expected accuracy for each gap = elbow - loss (not clipped) and, with grad, its derivatives."""
    form = _LINK_FORMS.get(link)
    if form is None:
        raise ValueError(f"unknown link {link!r}; choose one of {LINKS}")
    return form(gap, chance, p, grad)


def link_accuracy(link: str, gap: np.ndarray, chance: float, p: Mapping[str, float]) -> np.ndarray:
    """Expected accuracy for each gap = elbow - loss (not clipped)."""
    return link_value(link, gap, chance, p).accuracy


@dataclass(frozen=True)
class ShiftBasis:
    """A shift evaluated at fixed data amounts: x (ln D, or D / Dref) per amount and at D0, and their logs.

    Built once per table, so the likelihood's many evaluations of E(D) only raise x to the exponent.
    Few-shot amounts (D = 0) sit at D0.
    """

    shift: str
    x: np.ndarray
    x0: float
    log_x: np.ndarray
    log_x0: float

    @classmethod
    def at(cls, shift: str, data_amount, d0: float, d_ref: float = 1.0) -> ShiftBasis:
        """The basis of a shift at these data amounts (0 means few-shot, i.e. D0)."""
        if shift not in SHIFTS:
            raise ValueError(f"unknown shift {shift!r}; choose one of {SHIFTS}")
        amount = np.asarray(data_amount)
        d = np.where(amount > 0, amount, d0).astype(float)
        if shift == "log_power":
            x, x0 = np.log(d), float(np.log(d0))
        else:
            x, x0 = d / d_ref, d0 / d_ref
        log_x = np.log(np.where(x > 0, x, 1.0))
        return cls(shift, x, x0, log_x, float(np.log(x0)) if x0 > 0 else 0.0)

    def basis(self, alpha: float) -> np.ndarray:
        """The term multiplying k in E(D); zero at D = D0."""
        if self.shift == "none":
            return np.zeros_like(self.x)
        return self.x**alpha - self.x0**alpha

    def elbow(self, p: Mapping[str, float], grad: bool = False) -> tuple[np.ndarray | float, dict]:
        """E(D) per amount (a scalar for shift "none") and, with grad, its derivatives in shift_k and
        shift_alpha (its derivative in elbow_d0 is one)."""
        e = p["elbow_d0"]
        if self.shift == "none":
            return e, {}
        a, k = p["shift_alpha"], p["shift_k"]
        xa, x0a = self.x**a, self.x0**a
        e = e + k * (xa - x0a)
        if not grad:
            return e, {}
        return e, {"shift_k": xa - x0a, "shift_alpha": k * (xa * self.log_x - x0a * self.log_x0)}


def shift_basis(shift: str, data_amount: np.ndarray, alpha: float, d0: float, d_ref: float) -> np.ndarray:
    """The term multiplying k in E(D); zero at D = D0. Few-shot rows (D = 0) are evaluated at D0."""
    return ShiftBasis.at(shift, data_amount, d0, d_ref).basis(alpha)


def elbow_at(shift: str, data_amount, p: Mapping[str, float], d0: float, d_ref: float = 1.0) -> np.ndarray:
    """Elbow E(D) in nats for each data amount (0 means few-shot, i.e. D0)."""
    d = np.atleast_1d(np.asarray(data_amount, dtype=float))
    e, _ = ShiftBasis.at(shift, d, d0, d_ref).elbow(p)
    return np.broadcast_to(e, d.shape).astype(float)
