"""The emergence law: recovery, calibration, model choice, degenerate input, and the result object's API."""

import json

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError, NoElbowFound
from emergence.law import EmergenceLaw
from emergence.law.simulate import draw_law, simulate_table


def test_recovers_the_few_shot_elbow_when_the_exponent_is_known(relu_case):
    law, table = relu_case
    r = EmergenceLaw(chance=0.25, fix={"shift_alpha": law.params["shift_alpha"]}).fit(table)
    assert abs(r.params_["elbow_d0"] - law.elbow_d0) < 0.05
    assert r.converged


def test_recovers_the_observed_elbows_and_stays_below_the_chance_rows(relu_case, relu_fit):
    law, table = relu_case
    d = np.array([64, 256, 1024, 4096])
    np.testing.assert_allclose(relu_fit.elbow(d), law.elbow(d), atol=0.04)
    at_chance = table.loc[table["data_amount"] == 0, "pretraining_loss"].min()
    assert relu_fit.params_["elbow_d0"] < at_chance + 0.02  # the few-shot rows at chance bound it


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


@pytest.mark.parametrize("truth, rival", [("sigmoid", "relu"), ("relu", "sigmoid")])
def test_information_criteria_prefer_the_generating_link(truth, rival):
    wins = 0
    for i in range(4):
        rng = np.random.default_rng(50 + i)
        table = simulate_table(draw_law(rng, link=truth), rng)
        fits = {lk: EmergenceLaw(link=lk, chance=0.25).fit(table) for lk in (truth, rival)}
        wins += fits[truth].aic < fits[rival].aic and fits[truth].bic < fits[rival].bic
    assert wins >= 3


def _break(table, **changes):
    t = table.copy()
    for col, (row, value) in changes.items():
        t[col] = t[col].astype(float) if col != "checkpoint" else t[col]
        t.loc[row, col] = value
    return t


DEGENERATE = [
    ("nan accuracy", lambda t: _break(t, accuracy=(3, np.nan)), EmergenceError, "missing"),
    ("negative loss", lambda t: _break(t, pretraining_loss=(0, -1.0)), EmergenceError, "positive"),
    ("infinite data amount", lambda t: _break(t, data_amount=(4, np.inf)), EmergenceError, "infinite"),
    (
        "text in accuracy",
        lambda t: t.assign(accuracy=t["accuracy"].astype(object).where(t.index != 1, "n/a")),
        EmergenceError,
        "non-numeric",
    ),
    ("negative data amount", lambda t: _break(t, data_amount=(5, -64)), EmergenceError, ">= 0"),
    ("accuracy above one", lambda t: _break(t, accuracy=(2, 87.0)), EmergenceError, "percentage"),
    ("missing column", lambda t: t.drop(columns="n_examples"), EmergenceError, "n_examples"),
    ("one checkpoint", lambda t: t[t["checkpoint"] == "ckpt-0"], NoElbowFound, "checkpoint"),
    ("all at chance", lambda t: t.assign(accuracy=0.25), NoElbowFound, "chance"),
    ("no variation in D", lambda t: t[t["data_amount"] == 256], NoElbowFound, "one data amount"),
    ("few-shot rows only", lambda t: t[t["data_amount"] == 0], NoElbowFound, "finetuned"),
    ("two data amounts", lambda t: t[t["data_amount"].isin([64, 4096])], EmergenceError, "fix"),
    ("empty", lambda t: t.iloc[:0], EmergenceError, "no rows"),
    ("two losses per checkpoint", lambda t: t.assign(checkpoint="same"), EmergenceError, "one loss"),
]


@pytest.mark.parametrize("name, breaker, error, words", DEGENERATE, ids=[c[0] for c in DEGENERATE])
def test_degenerate_input_raises_a_clear_error(relu_case, name, breaker, error, words):
    with pytest.raises(error, match=words):
        EmergenceLaw().fit(breaker(relu_case[1]))


def test_elbows_beyond_the_data_are_refused(relu_case):
    law, table = relu_case
    weak = table[table["pretraining_loss"] > law.elbow(4096)[0] + 0.05]  # every finetuned row at chance
    with pytest.raises(NoElbowFound):
        EmergenceLaw(chance=0.25).fit(weak)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"link": "nope"},
        {"shift": "cubic"},
        {"d0": 0.5},
        {"chance": 1.5},
        {"fix": {"gamma": 1.0}},
        {"shift_prior": (0.0, 1.0)},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(EmergenceError):
        EmergenceLaw(**kwargs)


def test_result_api(relu_case, relu_fit):
    law, table = relu_case
    r = relu_fit
    assert list(r.params_.index[:3]) == ["elbow_d0", "shift_k", "shift_alpha"]
    assert np.isfinite([r.aic, r.bic, r.loglik]).all() and r.aic < r.bic  # n > e^2
    assert len(r.residuals) == len(table) and abs(r.residuals.mean()) < 0.02
    for method in ("wald", "profile"):
        ci = r.conf_int(0.1, method=method)
        assert (ci["lower"] <= r.params_ + 1e-9).all() and (ci["upper"] >= r.params_ - 1e-9).all()
    pred = r.predict([2.0, 2.5, 3.0, 3.5], data_amount=1024)
    assert list(pred.columns) == ["pretraining_loss", "data_amount", "mean", "lower", "upper"]
    assert (np.diff(pred["mean"]) <= 0).all() and (pred["lower"] <= pred["mean"]).all()
    pt = r.emergence_point()
    assert pt.loss_lower < pt.loss <= pt.loss_upper and pt.method == "profile" and pt.flops is None
    assert r.emergence_point(1024).loss == pytest.approx(r.elbow(1024))
    probs = r.prob_emerged(loss=np.array([pt.loss_lower, pt.loss, pt.loss_upper]))
    np.testing.assert_allclose(probs, [0.95, 0.5, 0.05], atol=1e-6)  # consistent with the 90% interval
    assert r.prob_emerged(loss=pt.loss + 1.0) < 1e-3
    text = r.summary()
    assert "elbow_d0" in text and "few-shot elbow" in text
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["link"] == "relu" and isinstance(d["params"]["elbow_d0"], float)


def test_d0_sensitivity_moves_the_elbow(relu_case):
    table = relu_case[1]
    r = EmergenceLaw(chance=0.25, n_starts=2).fit(table)
    sens = r.d0_sensitivity([1.0, 8.0])
    assert list(sens["d0"]) == [1.0, 8.0] and sens["elbow"].notna().all()
    assert sens.loc[0, "elbow"] == pytest.approx(r.params_["elbow_d0"], abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"link": "softplus"},
        {"link": "sigmoid"},
        {"shift": "power"},
        {"fewshot_offset": True},
        {"shift_prior": None},
        {"chance": None},
    ],
)
def test_every_form_fits(relu_case, kwargs):
    r = EmergenceLaw(**{"chance": 0.25, **kwargs}).fit(relu_case[1])
    assert np.isfinite(r.params_.to_numpy()).all() and r.converged
    assert abs(r.elbow(256) - relu_case[0].elbow(256)[0]) < 0.1


def test_prior_is_kept_out_of_the_likelihood(relu_case):
    r = EmergenceLaw(chance=0.25).fit(relu_case[1])
    assert r.objective_ >= -r.loglik  # the objective adds the prior's penalty
    plain = EmergenceLaw(chance=0.25, shift_prior=None).fit(relu_case[1])
    assert plain.objective_ == pytest.approx(-plain.loglik)


def test_bootstrap_is_reproducible_across_job_counts(relu_case):
    table = relu_case[1]
    a = EmergenceLaw(chance=0.25, n_starts=2).fit(table).bootstrap(n=12, n_jobs=2, seed=1)
    b = EmergenceLaw(chance=0.25, n_starts=2).fit(table).bootstrap(n=12, n_jobs=1, seed=1)
    pd.testing.assert_frame_equal(a.draws_, b.draws_)
    pt = a.emergence_point()
    assert pt.method == "bootstrap" and pt.loss_lower <= pt.loss_upper
    assert a.conf_int().shape == (len(a.params_), 2)
    assert a.predict([2.5, 3.0])["upper"].ge(a.predict([2.5, 3.0])["lower"]).all()


def test_a_trend_past_the_elbow_needs_require_elbow_false(ladder_case):
    law, table = ladder_case
    emerged = table[(table["data_amount"] == 0) & (table["pretraining_loss"] < law.elbow_d0)]
    with pytest.raises(NoElbowFound, match="both sides"):
        EmergenceLaw(shift="none", chance=0.25).fit(emerged)
    r = EmergenceLaw(shift="none", chance=0.25, require_elbow=False).fit(emerged)
    pred = r.predict(emerged["pretraining_loss"].unique())
    assert np.abs(pred["mean"] - law.accuracy(pred["pretraining_loss"], 0)).max() < 0.03


@pytest.mark.slow
def test_profile_interval_never_crashes_and_contains_the_estimate():
    """Regression: the bracket search once raised brentq's "f(a) and f(b) must have different signs" (seeds
    2 and 5): the refits behind the profile depend on their warm starts, so the profile was not a function."""
    for seed in range(30):
        rng = np.random.default_rng(seed)
        r = EmergenceLaw().fit(simulate_table(draw_law(rng), rng))
        pt = r.emergence_point()
        assert pt.loss_lower <= pt.loss <= pt.loss_upper, (seed, pt)
        assert np.isfinite([pt.loss_lower, pt.loss_upper]).all()


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


def test_the_profile_interval_is_computed_once_per_name_and_level(relu_case, monkeypatch):
    r = EmergenceLaw(chance=0.25, n_starts=2).fit(relu_case[1])
    calls = []
    real = type(r)._profile
    monkeypatch.setattr(type(r), "_profile", lambda self, *a: calls.append(a) or real(self, *a))
    first = r.prob_emerged(loss=2.5)
    for loss in (2.4, 2.6, np.array([2.5, 2.7])):
        r.prob_emerged(loss=loss)
    assert r.prob_emerged(loss=2.5) == first
    r.emergence_point()
    r.profile_interval("elbow_d0", 0.1, tol=1e-2)  # a looser tolerance reuses the cached interval
    assert len(calls) == 1
    r.profile_interval("elbow_d0", 0.2)
    assert len(calls) == 2


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_bootstrap_workers_run_single_threaded_blas():
    pytest.importorskip("threadpoolctl")
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from emergence.law.bootstrap import _single_threaded_blas

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_single_threaded_blas) as pool:
        assert set(pool.submit(_blas_threads).result()) <= {1}
