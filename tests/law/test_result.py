"""The result object: its API, information criteria, FLOPs through a loss law, and that it is a value."""

import json

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.law import ComputeLossLaw, EmergenceLaw
from emergence.law.simulate import draw_law, simulate_table


def test_result_api(relu_case, relu_fit):
    law, table = relu_case
    r = relu_fit
    assert list(r.params_.index[:3]) == ["elbow_d0", "shift_k", "shift_alpha"]
    assert np.isfinite([r.aic, r.bic, r.loglik]).all() and r.aic < r.bic  # n > e^2
    assert r.aic == pytest.approx(2 * r.df_model - 2 * r.loglik, rel=1e-12)
    assert r.bic == pytest.approx(r.df_model * np.log(r.n_obs) - 2 * r.loglik, rel=1e-12)
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
    with pytest.raises(EmergenceError, match="with_loss_law"):
        r.prob_emerged(flops=1e20)
    text = r.summary()
    assert "elbow_d0" in text and "few-shot elbow" in text
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["link"] == "relu" and isinstance(d["params"]["elbow_d0"], float)


def test_prior_is_kept_out_of_the_likelihood(relu_case, relu_fit):
    assert relu_fit.objective_ >= -relu_fit.loglik  # the objective adds the prior's penalty
    plain = EmergenceLaw(chance=0.25, shift_prior=None).fit(relu_case[1])
    assert plain.objective_ == pytest.approx(-plain.loglik)


@pytest.mark.parametrize("truth, rival", [("sigmoid", "relu"), ("relu", "sigmoid")])
def test_information_criteria_prefer_the_generating_link(truth, rival):
    wins = 0
    for i in range(4):
        rng = np.random.default_rng(50 + i)
        table = simulate_table(draw_law(rng, link=truth), rng)
        fits = {lk: EmergenceLaw(link=lk, chance=0.25).fit(table) for lk in (truth, rival)}
        wins += fits[truth].aic < fits[rival].aic and fits[truth].bic < fits[rival].bic
    assert wins >= 3


def test_emergence_point_in_flops(ladder_case):
    table = ladder_case[1]
    law = ComputeLossLaw(n_boot=50).fit(table)
    fit = EmergenceLaw(chance=0.25, n_starts=2).fit(table[table["data_amount"] > 0]).with_loss_law(law)
    pt = fit.emergence_point()
    assert pt.flops_lower <= pt.flops <= pt.flops_upper
    assert pt.flops == pytest.approx(law.inverse(pt.loss))
    p = fit.prob_emerged(flops=np.array([pt.flops_lower / 10, pt.flops * 10]))
    assert p[0] < 0.5 < p[1]


def _answers(r) -> dict:
    return {
        "conf_int": r.conf_int(0.1),
        "point": r.emergence_point(),
        "predict": r.predict([2.4, 2.8, 3.2], data_amount=256),
        "prob": r.prob_emerged(loss=np.array([2.5, 2.7, 2.9])),
        "dict": r.to_dict(),
    }


def _assert_same(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["conf_int"], b["conf_int"])
    pd.testing.assert_frame_equal(a["predict"], b["predict"])
    np.testing.assert_array_equal(a["prob"], b["prob"])
    assert a["point"] == b["point"] and a["dict"] == b["dict"]


def test_bootstrap_widen_and_a_loss_law_return_new_results_and_leave_this_one_as_it_was(
    relu_case, relu_fit, fixed_backtest
):
    before = _answers(relu_fit)
    loss_law = ComputeLossLaw(n_boot=20).fit(relu_case[1])
    booted = relu_fit.bootstrap(n=6, n_jobs=1, seed=0)
    wide = relu_fit.widen(fixed_backtest(2.0))
    priced = relu_fit.with_loss_law(loss_law)
    _assert_same(_answers(relu_fit), before)
    assert relu_fit.draws_ is None and relu_fit.widening_ is None and relu_fit.loss_law is None
    assert booted.draws_ is not None and booted.emergence_point().method == "bootstrap"
    pt, raw = wide.emergence_point(), before["point"]
    assert pt.widening_factor == 2.0
    assert pt.loss_upper - pt.loss == pytest.approx(2.0 * (raw.loss_upper - raw.loss), rel=1e-12)
    assert priced.emergence_point().flops == pytest.approx(loss_law.inverse(raw.loss))


def test_derived_results_do_not_depend_on_the_order_of_calls(relu_case, fixed_backtest):
    r = EmergenceLaw(chance=0.25, n_starts=2).fit(relu_case[1])
    loss_law, backtest = ComputeLossLaw(n_boot=20).fit(relu_case[1]), fixed_backtest(1.5)
    a = r.bootstrap(n=6, n_jobs=1, seed=0).widen(backtest).with_loss_law(loss_law)
    b = r.with_loss_law(loss_law).widen(backtest).bootstrap(n=6, n_jobs=1, seed=0)
    assert a.emergence_point() == b.emergence_point()
    np.testing.assert_array_equal(a.prob_emerged(flops=[1e19, 1e21]), b.prob_emerged(flops=[1e19, 1e21]))
