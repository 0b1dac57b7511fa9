"""Loss laws: recovery, inverses, compute-optimal allocation, intervals, and refusals."""

import json

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.law import ComputeLossLaw, ParamsTokensLossLaw

TRUE_C = (1.8, 40.0, 0.07)  # E, A, alpha in L = E + A C^-alpha
TRUE_NT = (1.7, 400.0, 0.34, 410.0, 0.28)  # E, A, a, B, b


@pytest.fixture(scope="module")
def compute_table():
    rng = np.random.default_rng(0)
    flops = np.logspace(18, 21, 12)
    loss = ComputeLossLaw.loss(TRUE_C, flops) + rng.normal(0, 0.005, flops.size)
    return pd.DataFrame(
        {"checkpoint": [f"c{i}" for i in range(12)], "flops": flops, "pretraining_loss": loss}
    )


@pytest.fixture(scope="module")
def nt_table():
    rng = np.random.default_rng(1)
    n, t = np.meshgrid([2e7, 5e7, 1e8, 2e8, 4e8], [1e9, 3e9, 1e10, 3e10])
    n, t = n.ravel(), t.ravel()
    loss = ParamsTokensLossLaw.loss(TRUE_NT, n, t) + rng.normal(0, 0.003, n.size)
    return pd.DataFrame({"params": n, "tokens": t, "pretraining_loss": loss, "run": np.arange(n.size)})


def test_compute_law_recovers_and_inverts(compute_table):
    r = ComputeLossLaw(n_boot=100).fit(compute_table)
    np.testing.assert_allclose(r.params_["alpha"], TRUE_C[2], rtol=0.25)
    pred = r.predict(np.array([1e19, 1e22]))
    truth = ComputeLossLaw.loss(TRUE_C, np.array([1e19, 1e22]))
    assert np.all(np.abs(pred["mean"] - truth) < 0.03)
    assert (pred["lower"] <= pred["mean"]).all() and (pred["mean"] <= pred["upper"]).all()
    assert r.inverse(float(pred["mean"][0])) == pytest.approx(1e19, rel=1e-6)
    assert r.inverse(r.params_["E"] - 0.1) == np.inf  # below the irreducible loss: never reached
    lo, hi = r.inverse_interval(np.full(50, 2.6))
    assert lo <= r.inverse(2.6) <= hi
    json.dumps(r.to_dict(), allow_nan=False)


def test_params_tokens_law_recovers_and_inverts(nt_table):
    r = ParamsTokensLossLaw(n_boot=50).fit(nt_table, group="run")
    n, t = 1e9, 2e10
    truth = ParamsTokensLossLaw.loss(TRUE_NT, n, t)
    assert abs(r.predict(n, t)["mean"][0] - truth) < 0.03
    loss = float(r.predict(n, t)["mean"][0])
    assert r.tokens_for(loss, n) == pytest.approx(t, rel=1e-6)
    assert r.inverse(loss, params=n) == pytest.approx(6 * n * t, rel=1e-6)
    # compute-optimal: the inverse without params spends no more FLOPs than any fixed size
    best = r.inverse(loss)
    assert best <= r.inverse(loss, params=n) * (1 + 1e-9)
    n_opt, t_opt, l_opt = ParamsTokensLossLaw.optimal(r.theta, best)
    assert l_opt == pytest.approx(loss, abs=1e-9) and 6 * n_opt * t_opt == pytest.approx(best)
    for scale in (0.5, 2.0):
        assert ParamsTokensLossLaw.loss(r.theta, n_opt * scale, best / (6 * n_opt * scale)) > l_opt
    assert r.predict_draws(np.array([1e20])).shape == (50, 1)


def test_widening_scales_intervals(compute_table):
    r = ComputeLossLaw(n_boot=60).fit(compute_table)
    before = r.predict(np.array([1e22]))
    after = r.widen(3.0).predict(np.array([1e22]))
    assert (after["upper"] - after["mean"])[0] == pytest.approx(3 * (before["upper"] - before["mean"])[0])
    pd.testing.assert_frame_equal(r.predict(np.array([1e22])), before)  # a new result; this one unchanged
    assert r.widening_factor == 1.0


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda t: t.drop(columns="flops"), "flops"),
        (lambda t: t.assign(flops=-t["flops"]), "positive"),
        (lambda t: t.head(3), "at least 4"),
        (lambda t: t.assign(flops=1e20), "distinct"),
    ],
)
def test_compute_law_refuses_bad_tables(compute_table, change, words):
    with pytest.raises(EmergenceError, match=words):
        ComputeLossLaw(n_boot=0).fit(change(compute_table))


def test_params_tokens_law_refuses_one_model_size(nt_table):
    with pytest.raises(EmergenceError, match="2 model sizes"):
        ParamsTokensLossLaw(n_boot=0).fit(nt_table.assign(params=1e8))


def test_bootstrap_can_be_run_after_fitting(compute_table):
    r = ComputeLossLaw(n_boot=0).fit(compute_table)
    assert r.draws_ is None and "lower" not in r.predict(np.array([1e20]))
    b = r.bootstrap(n=30, seed=1)
    assert b.draws_.shape[1] == 3 and 20 <= len(b.draws_) <= 30
    assert {"lower", "upper"} <= set(b.predict(np.array([1e20])))
    assert r.draws_ is None and "lower" not in r.predict(np.array([1e20]))  # a new result; this one unchanged
    pd.testing.assert_frame_equal(r.bootstrap(n=30, seed=1).draws_, b.draws_)


def test_a_result_does_not_depend_on_later_fits_of_its_estimator(compute_table):
    law = ComputeLossLaw(n_boot=0)
    r = law.fit(compute_table)
    draws = r.bootstrap(n=20, seed=2).draws_
    law.fit(compute_table.assign(flops=compute_table["flops"] * 1e3))  # another table, other units
    pd.testing.assert_frame_equal(r.bootstrap(n=20, seed=2).draws_, draws)


def test_a_law_that_contradicts_its_ladder_says_so():
    flops = np.logspace(10, 13, 12)
    # a plateau at 1.6 nats, then a last checkpoint at 1.5: the law levels off above a loss already reached
    plateau = ComputeLossLaw.loss((1.6, 2e10, 1.0), flops)
    plateau[-1] = 1.5
    law = ComputeLossLaw(n_boot=0).fit(pd.DataFrame({"flops": flops, "pretraining_loss": plateau}))
    assert (
        law.rmse < 0.1 and "levels off at 1.58" in law.warning() and law.to_dict()["warning"] == law.warning()
    )
    # a descent no power law follows: fitted, but missing its points by more than 0.1 nats
    kinked = np.r_[np.linspace(5.8, 2.2, 6), np.linspace(2.0, 1.44, 6)]
    law = ComputeLossLaw(n_boot=0).fit(pd.DataFrame({"flops": flops, "pretraining_loss": kinked}))
    assert law.params_["E"] < 1.44 and "misses the ladder's losses by" in law.warning()


@pytest.mark.parametrize("seed", range(6))
def test_a_clean_law_does_not_warn_when_its_floor_grazes_the_last_points(seed):
    rng = np.random.default_rng(seed)
    flops = np.logspace(18, 21, 12)  # the floor (1.5) within 0.01 of the last points; noise 0.005
    loss = ComputeLossLaw.loss((1.5, 40.0, 0.3), flops) + rng.normal(0, 0.005, flops.size)
    law = ComputeLossLaw(n_boot=0).fit(pd.DataFrame({"flops": flops, "pretraining_loss": loss}))
    assert law.warning() is None and "warning" not in law.to_dict()
