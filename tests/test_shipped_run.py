"""The shipped full runs (data/demo/store.sqlite, both built-in worlds) show what docs/toy-world.md says.

These read the shipped results only (no model is run): few-shot emergence, the knowledge world's line-up
in loss across sizes, the finetuning shift of the elbow, and the few-shot elbow forecast from the
checkpoints still at chance. `benchmarks/toy_world.py` prints the same figures (and those that miss).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.toy_world import line_up, size_of
from emergence.builtin import known_chance
from emergence.forecast import fit_table
from emergence.forecast.fitting import fit_loss_laws
from emergence.law import EmergenceLaw, elbows_by_amount, forecast_before_emergence
from emergence.store import Store

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "demo" / "store.sqlite"
TASKS = {"toy_sum_qa": ("exact_match", 0.0), "toy_sum_choice": ("acc", 0.25),
         "know_country_qa": ("exact_match", 0.0), "know_country_choice": ("acc", 0.01)}  # fmt: skip
KNOWLEDGE = ["know_country_qa", "know_country_choice"]

pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store yet")


@pytest.fixture(scope="module")
def results():
    with Store(SHIPPED, read_only=True) as store:
        return store.results()


@pytest.fixture(scope="module")
def tuned(results):
    """The knowledge world's finetuned results the fits read."""
    return results[results["task"].isin(KNOWLEDGE) & (results["data_amount"] > 0)]


@pytest.fixture(scope="module")
def tuned_recipes(tuned):
    """The finetuning settings of every knowledge-world run the fits read, by run id."""
    with Store(SHIPPED, read_only=True) as store:
        return {r: store.run_spec(r)["finetune"] for r in tuned["run_id"].unique()}


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
    assert (weak["acc"] - chance).abs().max() <= 0.03  # each weak checkpoint too


# The sigmoid is the link the shipped forecasts use (AIC prefers it on both tasks). The ReLU's elbow on the
# multiple choice at 32 examples sits below its few-shot one (0.853 vs 0.877 nats) and is not pinned. On the
# multiple choice, 2,048 examples lift every checkpoint above chance: no elbow, so that amount drops out.
# The knowledge world's elbows rise with the amount from 16 examples on, not from few-shot: see below.
SHIFT_READINGS = [("toy_sum_qa", "relu"), ("toy_sum_qa", "sigmoid"), ("toy_sum_choice", "sigmoid")]


@pytest.mark.parametrize("task,link", SHIFT_READINGS)
def test_finetuning_moves_the_elbow_to_higher_loss(results, task, link):
    metric, chance = TASKS[task]
    elbows = elbows_by_amount(fit_table(results, task, metric), link=link, chance=chance)
    tuned = elbows[elbows["data_amount"] > 0]
    assert len(tuned) >= 4 and tuned["data_amount"].max() / tuned["data_amount"].min() >= 30
    # the few-shot elbow first, then each finetuned amount at higher loss than the one before
    assert np.all(np.diff(elbows.sort_values("data_amount")["elbow"].to_numpy()) > 0)


@pytest.mark.parametrize("task", KNOWLEDGE)
def test_knowledge_finetuning_moves_the_elbow_further_with_more_data(results, task):
    # LoRA finetuning, its steps growing with the amount (docs/toy-world.md): 16 examples leave the elbow
    # where few-shot has it, and each larger amount moves it to higher loss, 480 by more than 0.1 nats. On the
    # multiple choice 16 and 48 examples tie (1.559 / 1.558 nats over two seeds; 1.552 / 1.551 with
    # seed 0 alone), so its rise is pinned from 48 on.
    metric, chance = TASKS[task]
    elbows = elbows_by_amount(fit_table(results, task, metric), link="sigmoid", chance=chance)
    fewshot, tuned = elbows[elbows["data_amount"] == 0].iloc[0], elbows[elbows["data_amount"] > 0]
    assert list(tuned["data_amount"]) == [16, 48, 160, 480]
    rising = tuned["elbow"].to_numpy() if task == "know_country_qa" else tuned["elbow"].to_numpy()[1:]
    assert np.all(np.diff(rising) > 0)
    assert tuned["lower"].iloc[-1] > fewshot["upper"] and tuned["elbow"].iloc[-1] - fewshot["elbow"] > 0.1


# On the multiple choice no forecast is found: at 2,048 examples every checkpoint at chance few-shot is
# above chance, and at 32 to 1,024 they leave only one amount with checkpoints on both sides of its elbow.
@pytest.mark.parametrize("link", ["sigmoid", "relu"])
def test_forecast_from_checkpoints_at_chance_lands_near_the_fewshot_elbow(results, link):
    metric, chance = TASKS["toy_sum_qa"]
    law = EmergenceLaw(link=link, chance=chance)
    f = forecast_before_emergence(fit_table(results, "toy_sum_qa", metric), law)
    assert abs(f["error"]) <= 0.1 and abs(f["error"]) <= 0.15 * f["loss_range"]
    assert f["lower"] <= f["reference_elbow"] <= f["upper"]


@pytest.mark.parametrize("task", KNOWLEDGE)
def test_chance_is_the_tasks_own(task):
    assert known_chance(task) == TASKS[task][1]


@pytest.mark.parametrize("task", KNOWLEDGE)
def test_knowledge_world_lines_up_in_loss_and_its_smallest_size_never_emerges(results, task):
    metric, chance = TASKS[task]
    t = fit_table(results, task, metric)
    fewshot = t[t["data_amount"] == 0]
    assert fewshot.loc[size_of(fewshot["checkpoint"]) == "s", "accuracy"].max() - chance <= 0.03
    rmse, midpoints = line_up(t, chance, 0)  # one sigmoid in loss over every size's few-shot accuracies
    assert rmse <= 0.05 and len(midpoints) >= 2
    assert max(midpoints.values()) - min(midpoints.values()) <= 0.05
    # After finetuning too: the midpoints agree, but one sigmoid leaves 7.7 / 7.9 points (missed: <= 5)
    rmse, tuned = line_up(t, chance, int(t["data_amount"].max()))
    assert max(tuned.values()) - min(tuned.values()) <= 0.05 and rmse <= 0.09


# The multiple choice's ReLU errs by +0.097 nats, within 0.1 by less than its seed-to-seed noise (+0.101 with
# one seed), so it is not pinned; its sigmoid, the link the forecasts use, errs by +0.031.
@pytest.mark.parametrize("task,link", [("know_country_qa", "sigmoid"), ("know_country_qa", "relu"),
                                       ("know_country_choice", "sigmoid")])  # fmt: skip
def test_knowledge_forecast_from_checkpoints_at_chance_lands_near_the_fewshot_elbow(results, task, link):
    metric, chance = TASKS[task]
    f = forecast_before_emergence(fit_table(results, task, metric), EmergenceLaw(link=link, chance=chance))
    assert abs(f["error"]) <= 0.1


def test_the_knowledge_worlds_loss_law_says_its_flops_are_not_to_be_trusted(results):
    # Its compute law, fitted over every checkpoint, levels off above the loss size l reached (point 3 of
    # issue #23, missed): forecasts must say so rather than print FLOPs as if they held.
    laws, _ = fit_loss_laws(fit_table(results, "know_country_qa", "exact_match"))
    assert "levels off" in laws["compute"].warning()
    assert laws["compute"].to_dict()["warning"] == laws["compute"].warning()


def test_the_knowledge_worlds_finetuned_results_replayed_no_test_persons_fact(tuned_recipes):
    # Replaying the test people's lines rehearsed the answers (docs/toy-world.md): every finetuned result the
    # fits read must come from the replay text the world writes now, which leaves those lines out.
    import hashlib

    from emergence.ladder.toy.build import REPLAY_SEED, REPLAY_TOKENS
    from emergence.ladder.toy.worlds import WORLDS

    text = WORLDS["knowledge"].text(REPLAY_SEED, REPLAY_TOKENS)
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    hashes = {f["replay_hash"] for f in tuned_recipes.values()}
    assert len(tuned_recipes) == 384 and hashes == {expected}


def test_the_knowledge_worlds_finetunes_are_lora_with_steps_growing_with_the_amount(tuned_recipes):
    # Full finetuning for 300 steps forgot the test people's facts, and capped at 100 steps it left the amounts
    # alike (docs/toy-world.md): the fits must read the LoRA runs, 10 epochs and at least 20 steps, uncapped.
    recipes = {
        (f["method"], f["lora_r"], f["learning_rate"], f.get("max_steps")) for f in tuned_recipes.values()
    }
    assert len(tuned_recipes) == 384 and recipes == {("lora", 16, 3e-3, None)}


def test_every_finetuned_cell_of_the_knowledge_world_has_two_seeds(tuned):
    # One seed left the multiple choice's 16 / 48 tie within seed-to-seed noise; the fits read both seeds.
    seeds = tuned.groupby(["checkpoint", "task", "data_amount"])["seed"].agg(lambda s: tuple(sorted(set(s))))
    assert len(seeds) == 24 * 2 * 4 and set(seeds) == {(0, 1)}


@pytest.mark.parametrize("task", KNOWLEDGE)
def test_the_relu_law_fits_the_knowledge_world_where_finetuned_accuracy_saturates(results, task):
    # 480 examples take l to 99-100%: starts whose extra scatter was fixed at 0.01 missed those rows by so
    # much that the optimiser never left them and the ReLU (the CLI's default link) found no elbow
    metric, chance = TASKS[task]
    fit = EmergenceLaw(link="relu", chance=chance).fit(fit_table(results, task, metric))
    assert 1.45 < fit.params_["elbow_d0"] < 1.65 and fit.elbow(480) > fit.elbow(16) > fit.params_["elbow_d0"]
