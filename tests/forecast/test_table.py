"""Which rows a forecast fits (emergence.forecast.table)."""

import pytest

from emergence.errors import EmergenceError
from emergence.forecast import (
    choose_pair,
    fit_table,
)


def test_choose_pair(simulated):
    _, table = simulated
    two = table.assign(metric="acc_norm")
    both = __import__("pandas").concat([table, two])
    assert choose_pair(table, None, None) == ("toy_mc", "acc")
    assert choose_pair(both, "toy_mc", None) == ("toy_mc", "acc")
    with pytest.raises(EmergenceError, match="no finished results"):
        choose_pair(table, "other", None)
    with pytest.raises(EmergenceError, match="several metrics"):
        choose_pair(both.assign(metric=both["metric"] + "_x"), "toy_mc", None)
    with pytest.raises(EmergenceError, match="several metrics|choose one with --metric"):
        fit_table(both, "toy_mc")
