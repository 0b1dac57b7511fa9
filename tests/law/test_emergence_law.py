"""The emergence law estimator: recovery, every form, degenerate input and settings, and refused elbows."""

import numpy as np
import pytest

from emergence.errors import EmergenceError, NoElbowFound
from emergence.law import EmergenceLaw


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


def test_a_trend_past_the_elbow_needs_require_elbow_false(ladder_case):
    law, table = ladder_case
    emerged = table[(table["data_amount"] == 0) & (table["pretraining_loss"] < law.elbow_d0)]
    with pytest.raises(NoElbowFound, match="both sides"):
        EmergenceLaw(shift="none", chance=0.25).fit(emerged)
    r = EmergenceLaw(shift="none", chance=0.25, require_elbow=False).fit(emerged)
    pred = r.predict(emerged["pretraining_loss"].unique())
    assert np.abs(pred["mean"] - law.accuracy(pred["pretraining_loss"], 0)).max() < 0.03
