"""The chain's laws (emergence.law.chain): a known ladder is recovered, draws resample runs within sizes."""

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.law.chain import Chain, fit_link, fit_loss_law, link_at, loss_at, run_weights

TRUE_LOSS = (1.7, 300.0, 0.28, 900.0, 0.28)  # E, A, a, B, b
TRUE_LINK = (0.25, 1.0, 3.3, 0.35)  # floor, ceiling, midpoint, scale: the ladder spans the rise


def ladder(seed: int = 0, noise: float = 0.005):
    """Four sizes x three token budgets, eight checkpoints per run, accuracy a sigmoid of the loss."""
    rng = np.random.default_rng(seed)
    runs, checkpoints = [], []
    for params in (2e8, 4e8, 8e8, 1.6e9):
        for mult in (5, 20, 80):
            run = f"{params:.0e}-{mult}"
            tokens = params * mult
            steps = tokens * np.linspace(0.3, 1.0, 8)
            loss = loss_at(np.array(TRUE_LOSS), params, steps)[0] + rng.normal(0, noise, 8)
            accuracy = link_at(np.array(TRUE_LINK), loss)[0] + rng.normal(0, noise, 8)
            checkpoints.append(pd.DataFrame({"run": run, "params": params, "tokens": steps, "loss": loss,
                                             "accuracy": accuracy}))  # fmt: skip
            runs.append({"run": run, "size": params, "params": params, "tokens": tokens, "loss": loss[-1],
                         "accuracy": accuracy[-1]})  # fmt: skip
    return pd.DataFrame(runs), pd.concat(checkpoints, ignore_index=True)


def test_a_known_ladder_is_recovered_and_extrapolated():
    runs, checkpoints = ladder()
    result = Chain(n_boot=50).fit(runs, checkpoints)
    e, a_coef, a, b_coef, b = result.loss_theta[0]
    assert a == b == pytest.approx(0.28, abs=0.03)  # one shared exponent
    floor, ceiling, midpoint, scale = result.link_theta[0]
    assert (
        ceiling == 1.0 and floor == pytest.approx(0.25, abs=0.02) and midpoint == pytest.approx(3.3, abs=0.05)
    )
    far = (1e10, 1e12)  # six times the largest size, 60 times its compute
    truth = link_at(np.array(TRUE_LINK), loss_at(np.array(TRUE_LOSS), *far))[0, 0]
    draws = result.accuracy_draws(*far)[:, 0]
    assert draws[0] == pytest.approx(truth, abs=0.02)
    assert np.quantile(draws[1:], 0.02) <= truth <= np.quantile(draws[1:], 0.98)


def test_bootstrap_resamples_runs_within_each_size():
    sizes = np.repeat([1, 2, 3], 4)
    w = run_weights(sizes, 200, seed=3)
    assert (w[0] == 1).all()
    for size in (1, 2, 3):  # every draw keeps each size's number of runs
        assert (w[1:, sizes == size].sum(1) == 4).all()
    assert not np.array_equal(w[1], w[2]) and np.array_equal(w, run_weights(sizes, 200, seed=3))


def test_the_loss_law_needs_a_rise_with_size_or_tokens():
    w = run_weights(np.zeros(4), 0)
    with pytest.raises(EmergenceError, match="cannot be fitted"):
        fit_loss_law([1e8, 2e8, 4e8, 8e8], [1e9] * 4, [2.0, 2.2, 2.4, 2.6], w)  # loss rising with size


def test_link_fixed_floor_and_fitted_ceiling():
    x = np.linspace(2.0, 3.5, 60)
    y = link_at(np.array([0.2, 0.8, 2.7, 0.2]), x)[0]
    run = np.zeros(len(x), int)
    w = np.ones((1, 1))
    fitted = fit_link(x, y, run, w, floor=None, ceiling=None)[0]
    assert fitted == pytest.approx([0.2, 0.8, 2.7, 0.2], abs=1e-3)
    fixed = fit_link(x, y, run, w, floor=0.2, ceiling=None)[0]
    assert fixed[0] == 0.2 and fixed[1] == pytest.approx(0.8, abs=1e-3)


def test_a_chain_on_compute_alone():
    runs, checkpoints = ladder()
    result = Chain("compute", n_boot=0).fit(runs, checkpoints)
    assert result.loss_theta is None and result.intermediate_at(1e9, 1e11)[0, 0] == pytest.approx(
        -np.log(6e20)
    )
    with pytest.raises(EmergenceError, match="'loss' or 'compute'"):
        Chain("bpb")
