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
# The knowledge world's elbows do not rise with the amount (point 4 of issue #23, missed): see below.
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
def test_knowledge_finetuning_moves_the_elbow_up_at_every_amount_but_not_further_with_more(results, task):
    # Finetuning teaches the second hop (city -> country) that few-shot lacks, and 16 examples teach it
    # about as well as 480: every finetuned elbow sits above the few-shot one's 90% interval, and the
    # finetuned elbows stay within 0.1 nats of each other (docs/toy-world.md).
    metric, chance = TASKS[task]
    elbows = elbows_by_amount(fit_table(results, task, metric), link="sigmoid", chance=chance)
    fewshot, tuned = elbows[elbows["data_amount"] == 0].iloc[0], elbows[elbows["data_amount"] > 0]
    assert len(tuned) == 4 and (tuned["lower"] > fewshot["upper"]).all()
    assert tuned["elbow"].max() - tuned["elbow"].min() <= 0.1


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
    # After finetuning too: the midpoints agree, but one sigmoid leaves 5.7 / 6.8 points (missed: <= 5)
    rmse, tuned = line_up(t, chance, int(t["data_amount"].max()))
    assert max(tuned.values()) - min(tuned.values()) <= 0.05 and rmse <= 0.07


# The multiple choice's ReLU errs by +0.18 nats (missed); its sigmoid, the link the forecasts use, does not.
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


def test_the_knowledge_worlds_finetuned_results_replayed_no_test_persons_fact(results):
    # Replaying the test people's lines rehearsed the answers (docs/toy-world.md): every finetuned result the
    # fits read must come from the replay text the world writes now, which leaves those lines out.
    import hashlib

    from emergence.ladder.toy.build import REPLAY_SEED, REPLAY_TOKENS
    from emergence.ladder.toy.worlds import WORLDS

    text = WORLDS["knowledge"].text(REPLAY_SEED, REPLAY_TOKENS)
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    tuned = results[results["task"].isin(KNOWLEDGE) & (results["data_amount"] > 0)]
    with Store(SHIPPED, read_only=True) as store:
        hashes = {store.run_spec(r)["finetune"]["replay_hash"] for r in tuned["run_id"].unique()}
    assert len(tuned["run_id"].unique()) == 192 and hashes == {expected}


def test_the_knowledge_worlds_finetunes_at_480_examples_ran_at_most_100_steps(results):
    # 300 steps at 480 examples forgot the test people's facts (docs/toy-world.md): the fits must read the
    # capped runs, and the cap must have left the other amounts' runs as they were
    tuned = results[results["task"].isin(KNOWLEDGE) & (results["data_amount"] > 0)].drop_duplicates("run_id")
    with Store(SHIPPED, read_only=True) as store:
        caps = {r.run_id: store.run_spec(r.run_id)["finetune"].get("max_steps") for r in tuned.itertuples()}
    capped = {r.data_amount for r in tuned.itertuples() if caps[r.run_id] == 100}
    assert capped == {480} and sum(v is not None for v in caps.values()) == 48
