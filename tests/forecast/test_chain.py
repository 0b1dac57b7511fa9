"""Chains chosen and calibrated on the ladder (emergence.forecast.chain), and refusals of ladders they
cannot serve."""

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.forecast import Budget, forecast_table
from emergence.forecast.chain import (
    Ladder,
    choose,
    clearly_better,
    forecast_chain,
    ladder_from,
    run_of,
    splits,
)
from emergence.law.chain import link_at, loss_at

LOSS, LINK = np.array([1.7, 300.0, 0.28, 900.0, 0.28]), np.array([0.25, 1.0, 3.3, 0.35])


def results(sizes=(2e8, 4e8, 8e8, 1.6e9), mults=(5, 20, 80), seed=0) -> pd.DataFrame:
    """A few-shot ladder as `Store.results()` gives it: checkpoints '<run>@<step>'."""
    rng = np.random.default_rng(seed)
    rows = []
    for params in sizes:
        for mult in mults:
            for i, share in enumerate(np.linspace(0.3, 1.0, 8)):
                tokens = params * mult * share
                loss = loss_at(LOSS, params, tokens)[0, 0] + rng.normal(0, 0.004)
                rows.append({"task": "t", "metric": "acc", "checkpoint": f"{params:.0e}-{mult}@{i}", "family": "f",
                             "params": params, "tokens": tokens, "flops": 6 * params * tokens, "pretraining_loss": loss,
                             "data_amount": 0, "seed": 0, "accuracy": link_at(LINK, loss)[0, 0] + rng.normal(0, 0.005),
                             "n_examples": 1000, "run_id": f"r{len(rows)}"})  # fmt: skip
    return pd.DataFrame(rows)


def test_runs_come_from_the_store_or_the_checkpoint_ids():
    table = results()
    assert run_of(table).nunique() == 12 and run_of(table).iloc[0] == "2e+08-5"
    table["run"] = "given"
    assert set(run_of(table)) == {"given"}


def test_splits_hold_out_larger_sizes_and_longer_runs():
    ladder = ladder_from(results())
    labels = [label for label, _, _ in splits(ladder)]
    assert "sizes 1-2 -> larger" in labels and "sizes 1-3 -> larger" in labels
    assert any(label.startswith("short runs of sizes 1-4") for label in labels)
    for _, fitted, predicted in splits(ladder):
        assert not set(fitted) & set(predicted)


def test_a_forecast_is_chosen_calibrated_and_covers_a_larger_model():
    chain = forecast_chain(ladder_from(results()), n_boot=60)
    assert chain.name == "corpus loss" and chain.scale >= 1
    assert chain.backtest["coverage_scaled"] >= 0.9 and chain.backtest["n_targets"] > 20
    far = (1e10, 1e12)
    truth = link_at(LINK, loss_at(LOSS, *far))[0, 0]
    band = chain.accuracy([far[0]], [far[1]]).iloc[0]
    assert band["lower"] <= truth <= band["upper"] and abs(band["mean"] - truth) < 0.03


def test_another_chain_is_chosen_only_when_clearly_better_on_every_split():
    errors = pd.DataFrame({"split": ["a"] * 6 + ["b"] * 6, "run": list(range(6)) * 2,
                           "candidate": (["x"] * 3 + ["y"] * 3) * 2,
                           "error": [0.05, 0.04, 0.06, 0.01, 0.012, 0.011, 0.05, 0.05, 0.04, 0.01, 0.01, 0.012]})  # fmt: skip
    errors["run"] = errors.index % 3
    assert clearly_better(errors, "y", "x") and choose(errors, ["x", "y"]) == "y"
    one_split = errors[errors["split"] == "a"]
    assert not clearly_better(one_split, "y", "x") and choose(one_split, ["x", "y"]) == "x"


def test_the_document_of_a_chain(fast):
    doc, fit = forecast_table(results(), [Budget(params=1e10, tokens=1e12), Budget(flops=1e21)], fast)
    assert doc["method"] == "chain" and doc["chain"]["chosen"] == "corpus loss" and doc["law"] is None
    assert doc["chain"]["interval_scale"] >= 1 and len(doc["chain"]["candidates"]) == 3
    assert [b["kind"] for b in doc["budgets"]] == ["params_tokens", "flops"]
    assert doc["emergence_point"]["status"] == "found" and doc["loss_law"]["kind"] == "params_tokens"


@pytest.mark.parametrize(
    "table, words",
    [
        (results(sizes=(4e8,)), "1 model size"),
        (results().assign(params=np.nan, tokens=np.nan), "params and tokens"),
    ],
)
def test_ladders_the_chain_cannot_serve_are_refused_in_one_line(table, words):
    with pytest.raises(EmergenceError, match=words) as info:
        forecast_chain(ladder_from(table), n_boot=0)
    assert "\n" not in str(info.value)


def test_asked_for_the_chain_on_one_size_the_document_says_why(fast):
    from dataclasses import replace

    doc, _ = forecast_table(results(sizes=(4e8,)), [], replace(fast, method="chain"))
    assert (
        doc["emergence_point"]["status"] == "not_found" and "1 model size" in doc["emergence_point"]["reason"]
    )


def test_a_ladder_where_nothing_rises_has_no_emergence_point(fast):
    flat = results().assign(accuracy=lambda t: 0.25 + np.random.default_rng(1).normal(0, 0.003, len(t)))
    doc, _ = forecast_table(flat, [Budget(params=1e10, tokens=1e12)], fast)
    assert doc["method"] == "chain" and doc["emergence_point"]["status"] == "not_found"
    assert doc["budgets"][0]["accuracy"]["estimate"] == pytest.approx(0.25, abs=0.03)


def test_models_of_many_sizes_one_run_each_use_bands_of_compute():
    rng = np.random.default_rng(2)
    params = np.exp(rng.uniform(np.log(1e8), np.log(1e10), 30))
    tokens = params * rng.uniform(5, 100, 30)
    x = -np.log(6 * params * tokens)
    table = pd.DataFrame({"task": "t", "metric": "acc", "checkpoint": [f"m{i}" for i in range(30)], "params": params,
                          "tokens": tokens, "pretraining_loss": np.nan, "data_amount": 0, "seed": 0,
                          "accuracy": link_at(np.array([0.2, 1.0, -46.0, 1.0]), x)[0], "n_examples": 500})  # fmt: skip
    ladder = ladder_from(table)
    assert isinstance(ladder, Ladder) and ladder.runs["size"].nunique() == 5
    chain = forecast_chain(ladder, n_boot=20)
    assert chain.name == "compute" and chain.corpus is None
