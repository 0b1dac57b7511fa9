"""The paper's backtest on a simulated ladder, its interval widening, and the elbows by data amount."""

import json

import numpy as np
import pytest

from emergence.errors import EmergenceError, NoElbowFound
from emergence.law import EmergenceLaw, backtest, elbows_by_amount


@pytest.fixture(scope="module")
def result(ladder_case):
    return backtest(ladder_case[1], EmergenceLaw(chance=0.25, n_starts=2))


def test_reference_elbow_and_cutoffs(ladder_case, result):
    law, table = ladder_case
    assert abs(result.reference_elbow - law.elbow_d0) < 0.05
    cut = result.cutoffs
    assert {
        "cutoff_flops",
        "predicted_elbow",
        "reference_elbow",
        "error",
        "success",
        "advance_factor",
    } <= set(cut)
    assert (cut["advance_factor"] > 1).all() and cut["cutoff_flops"].is_monotonic_increasing
    fitted = cut.dropna(subset=["error"])
    assert len(fitted) >= 2
    np.testing.assert_allclose(
        fitted["abs_error"], (fitted["predicted_elbow"] - result.reference_elbow).abs()
    )
    assert (fitted["success"] == (fitted["abs_error"] <= 0.1)).all()
    failed = cut[cut["error"].isna()]
    assert (failed["note"].str.len() > 0).all()  # cutoffs that cannot locate an elbow say why
    if fitted["success"].any():
        assert result.advance_factor == pytest.approx(fitted.loc[fitted["success"], "advance_factor"].max())
    json.dumps(result.to_dict(), allow_nan=False)


def test_widening_by_backtest_error(ladder_case, result):
    w = result.widening(0.1)
    assert w["factor"] >= 1 and 0 <= w["coverage_raw"] <= 1
    fit = EmergenceLaw(chance=0.25, n_starts=2).fit(ladder_case[1][ladder_case[1]["data_amount"] > 0])
    raw = fit.emergence_point()
    wide = fit.widen(result).emergence_point()
    assert fit.emergence_point() == raw  # widening returns a new result
    assert wide.widening_factor == pytest.approx(w["factor"])
    assert wide.loss_upper - wide.loss == pytest.approx(w["factor"] * (raw.loss_upper - raw.loss))


def test_a_widened_loss_interval_stops_at_zero(ladder_case, result):
    fit = EmergenceLaw(chance=0.25, n_starts=2).fit(ladder_case[1][ladder_case[1]["data_amount"] > 0])
    huge = fit._derived(widening_={**result.widening(0.1), "factor": 1e6})
    point = huge.emergence_point()
    assert point.loss_lower == 0.0 and point.loss_upper > point.loss


def test_backtest_refuses_tables_it_cannot_use(ladder_case):
    table = ladder_case[1]
    with pytest.raises(EmergenceError, match="flops"):
        backtest(table.drop(columns="flops"))
    with pytest.raises(EmergenceError, match="few-shot rows"):
        backtest(table[table["data_amount"] > 0])
    weak = table[table["pretraining_loss"] > 2.5]  # no checkpoint has emerged few-shot
    with pytest.raises(NoElbowFound):
        backtest(weak, EmergenceLaw(chance=0.25))


def test_elbows_by_amount_follow_the_true_shift(ladder_case):
    law, table = ladder_case
    elbows = elbows_by_amount(table, chance=0.25)
    assert list(elbows["data_amount"]) == [0, *law.data_amounts]  # few-shot and every finetuning amount
    for row in elbows.itertuples():
        assert abs(row.elbow - float(law.elbow(row.data_amount)[0])) < 0.06
        assert row.lower <= row.elbow <= row.upper
    assert np.all(np.diff(elbows["elbow"]) > 0)  # more data, higher elbow: the shift the law extrapolates


def test_elbows_by_amount_leaves_out_an_amount_without_an_elbow(ladder_case):
    table = ladder_case[1].copy()
    table.loc[table["data_amount"] == 64, "accuracy"] = 0.25  # all at chance: nothing to locate
    elbows = elbows_by_amount(table, chance=0.25)
    assert 64 not in set(elbows["data_amount"]) and len(elbows) == table["data_amount"].nunique() - 1
