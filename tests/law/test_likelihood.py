"""The likelihood: its analytic gradient against central finite differences over every link and shift."""

import numpy as np
import pytest
from statsmodels.tools.numdiff import approx_fprime

from emergence.law import EmergenceLaw
from emergence.law.likelihood import starts
from emergence.law.links import LINKS, SHIFTS

VARIANTS = {
    "plain": {"shift_prior": None},
    "delta": {"shift_prior": None, "fewshot_offset": True},
    "prior": {"shift_prior": (1.0, 0.5)},
    "delta and prior": {"shift_prior": (1.0, 0.5), "fewshot_offset": True},
}
CASES = [
    (link, shift, variant)
    for link in LINKS
    for shift in SHIFTS
    for variant in VARIANTS
    if not (shift == "none" and "prior" in variant)  # a prior needs a shift exponent
]


def _problem(table, link, shift, variant):
    """A problem with every parameter free (chance included) and a point inside its bounds, off any start."""
    prob = EmergenceLaw(link=link, shift=shift, **VARIANTS[variant]).problem(table)
    x = starts(prob)[0]
    lo, hi = prob.lower[prob.free_idx], prob.upper[prob.free_idx]
    x = x * (1 + 0.05 * np.random.default_rng(0).standard_normal(len(x)))
    if "delta" in prob.free:
        x[prob.free.index("delta")] = 0.03
    return prob, np.clip(x, lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo))


@pytest.mark.parametrize("link, shift, variant", CASES, ids=["-".join(c) for c in CASES])
def test_gradient_matches_finite_differences(relu_case, link, shift, variant):
    prob, x = _problem(relu_case[1], link, shift, variant)
    assert ("delta" in prob.free) == ("delta" in variant) and "chance" in prob.free
    value, grad = prob.nll_grad(x)
    numeric = approx_fprime(x, prob.nll, epsilon=1e-6 * np.maximum(np.abs(x), 0.1), centered=True)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-3)
    assert value == prob.nll(x)


def test_the_prior_adds_its_penalty_to_the_objective_only(relu_case):
    prob, x = _problem(relu_case[1], "relu", "log_power", "prior")
    plain = EmergenceLaw(shift_prior=None).problem(relu_case[1])
    assert prob.penalty(x) > 0 and plain.penalty(x) == 0
    assert prob.nll(x) == pytest.approx(plain.nll(x) + prob.penalty(x), rel=1e-12)


def test_mean_is_clipped_inside_the_unit_interval(relu_case):
    prob, x = _problem(relu_case[1], "relu", "log_power", "plain")
    p = prob.full(x)
    p[prob.ix["slope"]] = 50.0  # far past one on the strongest checkpoints
    m, _, inside = prob.mean_and_gradient(p)
    assert m.max() == pytest.approx(1 - 1e-6) and not inside.all() and (m > 0).all()
