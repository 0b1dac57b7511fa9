"""Profile-likelihood intervals: the band they mark, open ends, memoising, calibration and robustness."""

import numpy as np
import pytest
from scipy.stats import chi2

from emergence.law import EmergenceLaw
from emergence.law.likelihood import optimise
from emergence.law.simulate import draw_law, simulate_table


def test_the_ends_lie_where_the_profile_leaves_the_chi_square_band(relu_fit):
    prof = relu_fit.profile("elbow_d0", 0.1)
    assert prof.interval[0] < relu_fit.params_["elbow_d0"] < prof.interval[1] and prof.open == (False, False)
    for value, params in zip(prof.interval, prof.ends, strict=True):
        assert params[0] == value
        sub = relu_fit.problem.with_fixed(elbow_d0=value)
        rise = optimise(sub, params[sub.free_idx]).fun - relu_fit.objective_
        assert rise == pytest.approx(chi2.ppf(0.9, 1) / 2, abs=0.01)


def test_a_fixed_parameter_has_a_point_interval(relu_fit):
    assert relu_fit.profile_interval("chance") == (0.25, 0.25)


def test_a_profile_that_never_drops_is_reported_open_at_the_bound(relu_fit):
    r = relu_fit
    lower = r.problem.lower[r.problem.names.index("extra_sd")]
    assert r.params_["extra_sd"] == pytest.approx(lower)  # this draw's spread is within the binomial noise
    lo, hi = r.profile_interval("extra_sd")
    assert lo == pytest.approx(lower) and hi > lo
    assert r.profile_open("extra_sd") == (True, False)
    assert r.profile_open("elbow_d0") == (False, False)
    pt = r.emergence_point()
    assert (pt.lower_open, pt.upper_open) == (False, False) and "lower_open" in pt.to_dict()


def test_the_profile_interval_is_computed_once_per_name_and_level(relu_case, fixed_backtest, monkeypatch):
    import emergence.law.result

    r = EmergenceLaw(chance=0.25, n_starts=2).fit(relu_case[1])
    calls = []
    real = emergence.law.result.profile_likelihood
    monkeypatch.setattr(emergence.law.result, "profile_likelihood", lambda *a: calls.append(a) or real(*a))
    first = r.prob_emerged(loss=2.5)
    for loss in (2.4, 2.6, np.array([2.5, 2.7])):
        r.prob_emerged(loss=loss)
    assert r.prob_emerged(loss=2.5) == first
    r.emergence_point()
    r.profile_interval("elbow_d0", 0.1, tol=1e-2)  # a looser tolerance reuses the cached interval
    assert len(calls) == 1
    r.widen(fixed_backtest(2.0)).emergence_point()  # derived results share the memo: the fit is the same
    assert len(calls) == 1
    r.profile_interval("elbow_d0", 0.2)
    assert len(calls) == 2


@pytest.mark.slow
def test_profile_interval_of_the_few_shot_elbow_is_calibrated():
    """Acceptance: the 90% interval covers the truth in 80-97% of 100 draws of the issue's regime."""
    hits = []
    for i in range(100):
        rng = np.random.default_rng(10_000 + i)
        law = draw_law(rng)
        r = EmergenceLaw(chance=0.25, n_starts=2).fit(simulate_table(law, rng))
        lo, hi = r.profile_interval("elbow_d0", alpha=0.1, tol=5e-3)
        hits.append(lo <= law.elbow_d0 <= hi)
    assert 0.80 <= np.mean(hits) <= 0.97, np.mean(hits)


@pytest.mark.slow
def test_profile_interval_never_crashes_and_contains_the_estimate():
    """The refits behind the profile depend on their warm starts, so the profile is not exactly a function
    of the value; the bracket search must stay valid anyway (it memoises every value it has seen)."""
    for seed in range(30):
        rng = np.random.default_rng(seed)
        r = EmergenceLaw().fit(simulate_table(draw_law(rng), rng))
        pt = r.emergence_point()
        assert pt.loss_lower <= pt.loss <= pt.loss_upper, (seed, pt)
        assert np.isfinite([pt.loss_lower, pt.loss_upper]).all()
