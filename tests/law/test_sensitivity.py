"""Sensitivity of the few-shot elbow to the low-data limit D0."""

import pytest

from emergence.law import EmergenceLaw, d0_sensitivity


def test_d0_sensitivity_moves_the_elbow(relu_case):
    r = EmergenceLaw(chance=0.25, n_starts=2).fit(relu_case[1])
    sens = d0_sensitivity(r, [1.0, 8.0])
    assert list(sens["d0"]) == [1.0, 8.0] and sens["elbow"].notna().all()
    assert sens.loc[0, "elbow"] == pytest.approx(r.params_["elbow_d0"], abs=1e-6)
    assert (sens["lower"] <= sens["elbow"]).all() and (sens["elbow"] <= sens["upper"]).all()


def test_a_d0_the_law_refuses_keeps_a_row_that_says_why(relu_fit):
    sens = d0_sensitivity(relu_fit, [0.5])  # the log_power shift needs D0 >= 1
    assert sens["elbow"].isna().all() and "d0 must be" in sens.loc[0, "note"]
