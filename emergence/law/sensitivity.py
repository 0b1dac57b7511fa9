"""Sensitivity of the few-shot emergence point to the choice of the low-data limit D0."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError, NoElbowFound
from emergence.law.emergence_law import EmergenceLaw
from emergence.law.result import EmergenceLawResult

COLUMNS = ["d0", "elbow", "lower", "upper", "flops", "loglik", "note"]


def d0_sensitivity(
    result: EmergenceLawResult, d0_values: Iterable[float] = (1.0, 2.0, 4.0, 8.0, 16.0), alpha: float = 0.1
) -> pd.DataFrame:
    """How the few-shot elbow (and its FLOPs, with the result's loss law) moves with D0: the same law
    refitted to the same table at each D0, with its profile interval. A D0 the data cannot fit keeps a
    row with NaNs and the reason in "note"."""
    rows = []
    for d0 in d0_values:
        try:
            r = EmergenceLaw(**{**result.law.get_params(), "d0": d0}).fit(result.table)
            pt = r.emergence_point(alpha=alpha, loss_law=result.loss_law, method="profile")
            found = [pt.loss, pt.loss_lower, pt.loss_upper, pt.flops, r.loglik, ""]
        except (NoElbowFound, EmergenceError) as err:
            found = [np.nan] * 5 + [str(err)]
        rows.append(dict(zip(COLUMNS, [float(d0), *found], strict=True)))
    return pd.DataFrame(rows)
