"""What a forecast is asked for (emergence.forecast.options)."""

import math

import pytest

from emergence.errors import EmergenceError
from emergence.forecast import (
    Budget,
)


def test_budgets_are_checked():
    for kwargs in ({}, {"params": 1e9}, {"flops": 1e21, "loss": 2.0}, {"flops": -1.0}, {"loss": math.nan}):
        with pytest.raises(EmergenceError):
            Budget(**kwargs)
    assert Budget(params=1e9, tokens=2e10).name == "1e+09 params x 2e+10 tokens"
