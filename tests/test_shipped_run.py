"""The shipped full toy run (data/demo/store.sqlite) shows what the README says it shows.

These read the shipped results only (no model is run): few-shot emergence, the finetuning shift of the
elbow, and the few-shot elbow forecast from the checkpoints still at chance. `benchmarks/toy_world.py`
prints the same figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emergence.forecast import fit_table
from emergence.law import EmergenceLaw, elbows_by_amount, forecast_before_emergence
from emergence.store import Store

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "demo" / "store.sqlite"
TASKS = {"toy_sum_qa": ("exact_match", 0.0), "toy_sum_choice": ("acc", 0.25)}

pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store yet")


@pytest.fixture(scope="module")
def results():
    with Store(SHIPPED) as store:
        return store.results()


@pytest.mark.parametrize("task", TASKS)
def test_fewshot_emergence(results, task):
    metric, chance = TASKS[task]
    t = fit_table(results, task, metric)
    fewshot = (
        t[t["data_amount"] == 0]
        .groupby("checkpoint")
        .agg(loss=("pretraining_loss", "first"), acc=("accuracy", "mean"))
    )
    fewshot = fewshot.sort_values("loss", ascending=False)
    weak = fewshot.iloc[: len(fewshot) // 3]
    assert abs(weak["acc"].mean() - chance) <= 0.03
    assert fewshot["acc"].max() - chance >= 0.30
    if task == "toy_sum_qa":  # each weak checkpoint too (the multiple choice's are up to 6.4 points off)
        assert (weak["acc"] - chance).abs().max() <= 0.03


@pytest.mark.parametrize(
    "task,link", [("toy_sum_qa", "relu"), ("toy_sum_qa", "sigmoid"), ("toy_sum_choice", "sigmoid")]
)
def test_finetuning_moves_the_elbow_to_higher_loss(results, task, link):
    metric, chance = TASKS[task]
    elbows = elbows_by_amount(fit_table(results, task, metric), link=link, chance=chance)
    tuned = elbows[elbows["data_amount"] > 0]
    assert len(tuned) >= 4 and tuned["data_amount"].max() / tuned["data_amount"].min() >= 30
    assert np.all(np.diff(tuned["elbow"].to_numpy()) > 0)


@pytest.mark.parametrize(
    "task,link", [("toy_sum_qa", "relu"), ("toy_sum_qa", "sigmoid"), ("toy_sum_choice", "sigmoid")]
)
def test_forecast_from_checkpoints_at_chance_lands_near_the_fewshot_elbow(results, task, link):
    metric, chance = TASKS[task]
    f = forecast_before_emergence(fit_table(results, task, metric), EmergenceLaw(link=link, chance=chance))
    assert abs(f["error"]) <= 0.1 and abs(f["error"]) <= 0.15 * f["loss_range"]
    assert f["lower"] <= f["reference_elbow"] <= f["upper"]
