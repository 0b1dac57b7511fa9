"""The emergence point: where accuracy leaves chance, in loss and (with a loss law) in FLOPs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class EmergencePoint:
    """Where accuracy leaves chance at a data amount (None = few-shot, D0): in loss, and in FLOPs if known."""

    data_amount: float | None
    loss: float
    loss_lower: float
    loss_upper: float
    alpha: float
    method: str
    widening_factor: float = 1.0
    flops: float | None = None
    flops_lower: float | None = None
    flops_upper: float | None = None
    lower_open: bool = False  # the data do not bound this side: the end is the search's limit, not a bound
    upper_open: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-serialisable values (non-finite numbers become None)."""
        return {k: plain(v) for k, v in asdict(self).items()}


def plain(v):
    """A JSON-serialisable scalar: Python int, float or bool, with non-finite numbers as None."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None
