"""Shared fixtures of the forecast tests: a simulated ladder and its forecast document."""

import numpy as np
import pytest

from emergence.forecast import Budget, FitOptions, forecast_table
from emergence.forecast.stored import fitted_laws
from emergence.law.simulate import draw_law, simulate_table

FAST = FitOptions(n_boot=0, d0_values=(), backtest=False)
BUDGETS = [Budget(flops=1e19), Budget(flops=1e22), Budget(params=1e9, tokens=2e10), Budget(loss=2.2)]


@pytest.fixture(scope="session")
def fast() -> FitOptions:
    """Options that fit quickly: no bootstrap, no D0 sensitivity, no backtest."""
    return FAST


@pytest.fixture(scope="session")
def budgets() -> list[Budget]:
    return BUDGETS


@pytest.fixture(scope="session")
def simulated():
    rng = np.random.default_rng(1)
    law = draw_law(rng)
    table = simulate_table(law, rng)
    table["task"], table["metric"] = "toy_mc", "acc"
    table["run_id"] = [f"run-{i}" for i in range(len(table))]
    return law, table


@pytest.fixture(scope="session")
def document(simulated):
    _, table = simulated
    doc, fit = forecast_table(table, BUDGETS, FAST, command="pytest")
    assert set(fitted_laws(fit)) == {"emergence_law", "loss_law:compute"}
    return doc
