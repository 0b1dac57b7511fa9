"""Backtest of the few-shot elbow (the paper's protocol) and interval widening by its measured error.

Given few-shot results for every checkpoint: the reference elbow is fitted on all few-shot rows. For each
FLOPs cutoff at which every checkpoint kept is still pre-emergence, hold out the checkpoints above it, fit
the emergence law on the rest (finetuned and few-shot rows) and compare its few-shot elbow with the
reference. A success is within `tolerance` nats (0.1 in the paper). The advance factor of a cutoff is the
FLOPs of the first emerged checkpoint over the largest FLOPs used in the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence.errors import EmergenceError, NoElbowFound
from emergence.law.emergence_law import EmergenceLaw, validate_table


@dataclass
class BacktestResult:
    """Per-cutoff table, the reference elbow, and the summary figures of a backtest."""

    cutoffs: pd.DataFrame
    reference_elbow: float
    first_emerged_flops: float
    tolerance: float
    alpha: float

    @property
    def advance_factor(self) -> float:
        """Largest advance factor among successful cutoffs (NaN if none succeeded)."""
        ok = self.cutoffs[self.cutoffs["success"]]
        return float(ok["advance_factor"].max()) if len(ok) else math.nan

    @property
    def success_rate(self) -> float:
        """Share of fitted cutoffs whose elbow is within tolerance."""
        fitted = self.cutoffs.dropna(subset=["error"])
        return float(fitted["success"].mean()) if len(fitted) else math.nan

    @property
    def coverage(self) -> float:
        """Share of fitted cutoffs whose interval holds the reference elbow."""
        fitted = self.cutoffs.dropna(subset=["error"])
        return float(fitted["covered"].mean()) if len(fitted) else math.nan

    def widening(self, alpha: float | None = None) -> dict:
        """Conformal-style factor that scales interval half-widths so they would have covered the reference
        at level 1 - alpha: the ceil((n+1)(1-alpha))-th smallest ratio |error| / half-width (the largest when
        there are too few cutoffs), at least 1."""
        alpha = self.alpha if alpha is None else alpha
        ratio = self.cutoffs["error_ratio"].dropna().to_numpy()
        if len(ratio) == 0:
            raise EmergenceError("the backtest has no fitted cutoff; it cannot measure interval widening")
        k = min(math.ceil((len(ratio) + 1) * (1 - alpha)), len(ratio))
        factor = max(1.0, float(np.sort(ratio)[k - 1]))
        return {
            "factor": factor,
            "n_cutoffs": int(len(ratio)),
            "coverage_raw": float(np.mean(ratio <= 1)),
            "coverage_widened_in_sample": float(np.mean(ratio <= factor)),
            "alpha": float(alpha),
        }

    def to_dict(self) -> dict:
        """JSON-serialisable summary and rows."""
        clean = self.cutoffs.astype(object).where(self.cutoffs.notna(), None)
        return {
            "reference_elbow": self.reference_elbow,
            "first_emerged_flops": self.first_emerged_flops,
            "advance_factor": None if math.isnan(self.advance_factor) else self.advance_factor,
            "success_rate": None if math.isnan(self.success_rate) else self.success_rate,
            "coverage": None if math.isnan(self.coverage) else self.coverage,
            "tolerance": self.tolerance,
            "cutoffs": clean.to_dict("records"),
        }


def elbows_by_amount(
    table: pd.DataFrame, link: str = "relu", chance: float | None = None, alpha: float = 0.1
) -> pd.DataFrame:
    """An elbow fitted at each data amount alone (few-shot rows at 0 included), with Wald intervals.

    These are the points the shift law runs through: finetuning moves emergence when they rise with the
    data amount. An amount whose rows locate no elbow is left out.
    """
    rows = []
    for d, part in table.groupby("data_amount"):
        try:
            pt = EmergenceLaw(link=link, shift="none", chance=chance).fit(part)
            pt = pt.emergence_point(alpha=alpha, method="wald")
        except EmergenceError:  # NoElbowFound included
            continue
        rows.append(
            {"data_amount": float(d), "elbow": pt.loss, "lower": pt.loss_lower, "upper": pt.loss_upper}
        )
    return pd.DataFrame(rows, columns=["data_amount", "elbow", "lower", "upper"])


def fewshot_elbow(fewshot: pd.DataFrame, law: EmergenceLaw) -> float:
    """The reference: the elbow of the law's link fitted on few-shot rows alone (no shift)."""
    return float(
        EmergenceLaw(link=law.link, shift="none", chance=law.chance).fit(fewshot).params_["elbow_d0"]
    )


def forecast_before_emergence(
    table: pd.DataFrame, law: EmergenceLaw | None = None, alpha: float = 0.1, method: str = "auto"
) -> dict:
    """The few-shot elbow forecast from the checkpoints still at chance few-shot, against the elbow fitted
    on all few-shot results (the paper's test by loss rather than by FLOPs).

    The reference elbow is fitted on every checkpoint's few-shot rows; the checkpoints whose pretraining
    loss lies above it (not yet emerged) keep all their rows, few-shot and finetuned, and the law fitted on
    them alone forecasts the few-shot elbow. Raises NoElbowFound when those rows cannot place one.
    """
    law = law or EmergenceLaw()
    t = validate_table(table)
    reference = fewshot_elbow(t[t["data_amount"] == 0], law)
    losses = t.groupby("checkpoint")["pretraining_loss"].first()
    before = losses.index[losses > reference]
    pt = law.fit(t[t["checkpoint"].isin(before)]).emergence_point(alpha=alpha, method=method)
    return {
        "reference_elbow": reference,
        "predicted_elbow": pt.loss,
        "lower": pt.loss_lower,
        "upper": pt.loss_upper,
        "error": pt.loss - reference,
        "n_checkpoints": int(len(before)),
        "loss_range": float(np.ptp(losses)),
    }


def backtest(
    table: pd.DataFrame,
    law: EmergenceLaw | None = None,
    tolerance: float = 0.1,
    alpha: float = 0.1,
    min_checkpoints: int = 4,
    method: str = "auto",
) -> BacktestResult:
    """Run the paper's backtest on a table holding few-shot rows for every checkpoint and a flops column."""
    law = law or EmergenceLaw()
    t = validate_table(table)
    if "flops" not in t.columns or t["flops"].isna().any():
        raise EmergenceError("the backtest needs a 'flops' value on every row to order checkpoints")
    ckpts = t.groupby("checkpoint").agg(flops=("flops", "first"), loss=("pretraining_loss", "first"))
    fewshot = t[t["data_amount"] == 0]
    if fewshot["checkpoint"].nunique() < ckpts.shape[0]:
        raise EmergenceError("the backtest needs few-shot rows (data_amount 0) for every checkpoint")
    reference = fewshot_elbow(fewshot, law)
    ckpts = ckpts.sort_values("flops")
    emerged = ckpts[ckpts["loss"] < reference]
    if emerged.empty:
        raise NoElbowFound(
            "no checkpoint has emerged few-shot; the backtest needs a ladder that crosses the elbow"
        )
    first = float(emerged["flops"].min())
    pre = ckpts[ckpts["flops"] < first]
    rows = []
    for i in range(min_checkpoints - 1, len(pre)):
        cutoff = float(pre["flops"].iloc[i])
        keep = t[t["checkpoint"].isin(pre.index[: i + 1])]
        row = {
            "cutoff_flops": cutoff,
            "n_checkpoints": i + 1,
            "reference_elbow": reference,
            "advance_factor": first / cutoff,
            "note": "",
        }
        try:
            pt = law.fit(keep).emergence_point(alpha=alpha, method=method)
            err = pt.loss - reference
            half = (pt.loss_upper - pt.loss) if err < 0 else (pt.loss - pt.loss_lower)
            row |= {
                "predicted_elbow": pt.loss,
                "lower": pt.loss_lower,
                "upper": pt.loss_upper,
                "error": err,
                "abs_error": abs(err),
                "success": abs(err) <= tolerance,
                "covered": pt.loss_lower <= reference <= pt.loss_upper,
                "error_ratio": abs(err) / half if half > 0 else math.inf,
            }
        except (NoElbowFound, EmergenceError) as e:
            row |= {
                "predicted_elbow": math.nan,
                "lower": math.nan,
                "upper": math.nan,
                "error": math.nan,
                "abs_error": math.nan,
                "success": False,
                "covered": False,
                "error_ratio": math.nan,
                "note": str(e),
            }
        rows.append(row)
    cols = [
        "cutoff_flops",
        "n_checkpoints",
        "predicted_elbow",
        "lower",
        "upper",
        "reference_elbow",
        "error",
        "abs_error",
        "success",
        "covered",
        "error_ratio",
        "advance_factor",
        "note",
    ]
    return BacktestResult(pd.DataFrame(rows, columns=cols), reference, first, tolerance, alpha)
