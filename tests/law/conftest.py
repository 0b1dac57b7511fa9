"""Shared simulated tables for the law tests (the simulator itself lives in emergence.law.simulate)."""

import numpy as np
import pytest

from emergence.law.simulate import TrueLaw, draw_law, simulate_table


@pytest.fixture(scope="session")
def relu_case() -> tuple[TrueLaw, object]:
    """One draw of the issue's regime and its table."""
    rng = np.random.default_rng(7)
    law = draw_law(rng)
    return law, simulate_table(law, rng)


@pytest.fixture(scope="session")
def relu_fit(relu_case):
    """The default fit of relu_case."""
    from emergence.law import EmergenceLaw

    return EmergenceLaw(chance=0.25).fit(relu_case[1])


@pytest.fixture(scope="session")
def ladder_case() -> tuple[TrueLaw, object]:
    """A 12-checkpoint ladder with few-shot rows everywhere that crosses the few-shot elbow (for backtests)."""
    params = {"elbow_d0": 2.36, "shift_k": 0.045, "shift_alpha": 1.1, "chance": 0.25, "slope": 0.8}
    law = TrueLaw(losses=tuple(np.linspace(2.0, 3.45, 12)), params=params, extra_sd=0.01)
    return law, simulate_table(law, np.random.default_rng(3), fewshot="all")


class FixedBacktest:
    """Stands in for a BacktestResult that measured a widening factor."""

    def __init__(self, factor: float):
        self.factor = factor

    def widening(self, alpha: float) -> dict:
        return {"factor": self.factor, "n_cutoffs": 4, "alpha": alpha}


@pytest.fixture(scope="session")
def fixed_backtest():
    """A factory of stand-in backtests: fixed_backtest(2.0).widening(alpha) reports a factor of 2."""
    return FixedBacktest
