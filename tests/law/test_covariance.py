"""Covariance of the fitted parameters and delta-method standard errors."""

import numpy as np
import pytest
from statsmodels.tools.numdiff import approx_hess

from emergence.law import EmergenceLaw
from emergence.law.covariance import delta_se


@pytest.mark.parametrize("link", ["softplus", "sigmoid"])
def test_covariance_is_the_inverse_hessian_of_the_objective(relu_case, link):
    """On a smooth link the Hessian of the gradient agrees with second differences of the objective."""
    r = EmergenceLaw(chance=0.25, link=link).fit(relu_case[1])
    inner = np.flatnonzero(np.diag(r.cov_) > 0)
    hess = approx_hess(r.x_, r.problem.nll)[np.ix_(inner, inner)]
    cov, expected = r.cov_[np.ix_(inner, inner)], np.linalg.inv(hess)
    se, expected_se = np.sqrt(np.diag(cov)), np.sqrt(np.diag(expected))
    np.testing.assert_allclose(se, expected_se, rtol=1e-2)
    np.testing.assert_allclose(
        cov / np.outer(se, se), expected / np.outer(expected_se, expected_se), atol=1e-2
    )
    np.testing.assert_allclose(r.cov_, r.cov_.T, rtol=1e-9, atol=0)


def test_a_parameter_at_its_bound_has_no_variance(relu_fit):
    assert relu_fit.params_["extra_sd"] == pytest.approx(relu_fit.problem.lower[-1])
    assert relu_fit.bse_["extra_sd"] == 0 and np.isnan(relu_fit.bse_["chance"])  # chance is fixed


def test_delta_method_of_a_parameter_is_its_standard_error(relu_fit):
    r = relu_fit
    i = r.problem.names.index("shift_k")
    se = delta_se(r.problem, r.x_, r.cov_, lambda p: np.atleast_1d(p[i]))
    assert se[0] == pytest.approx(r.bse_["shift_k"], rel=1e-8)
    two = delta_se(r.problem, r.x_, r.cov_, lambda p: np.array([p[i], 2 * p[i]]))
    np.testing.assert_allclose(two, [r.bse_["shift_k"], 2 * r.bse_["shift_k"]], rtol=1e-8)
