"""Emergence-law engine: fit, uncertainty, loss-vs-compute laws and backtests (pure math on tables)."""

from emergence.law.backtest import BacktestResult, backtest, elbows_by_amount, forecast_before_emergence
from emergence.law.emergence_law import EmergenceLaw, validate_table
from emergence.law.loss_law import ComputeLossLaw, LossLawResult, ParamsTokensLossLaw
from emergence.law.point import EmergencePoint
from emergence.law.result import EmergenceLawResult
from emergence.law.sensitivity import d0_sensitivity

__all__ = [
    "BacktestResult",
    "ComputeLossLaw",
    "EmergenceLaw",
    "EmergenceLawResult",
    "EmergencePoint",
    "LossLawResult",
    "ParamsTokensLossLaw",
    "backtest",
    "d0_sensitivity",
    "elbows_by_amount",
    "forecast_before_emergence",
    "validate_table",
]
