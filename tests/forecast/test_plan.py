"""Planning from a task's rows: what is measured, the budget's unit, the spec it writes, and refusals."""

import numpy as np
import pandas as pd
import pytest

from emergence.config import FinetuneSpec, SweepSpec
from emergence.errors import EmergenceError
from emergence.forecast import FitOptions
from emergence.forecast.plan import plan_spec, plan_task
from emergence.harness.jobs import expand_jobs
from emergence.law.simulate import TrueLaw, simulate_runs

TRUTH = TrueLaw(
    losses=tuple(np.linspace(3.3, 2.7, 6)),
    params={"elbow_d0": 2.5, "shift_k": 0.05, "shift_alpha": 1.0, "chance": 0.25, "slope": 0.8},
)
OPTIONS = FitOptions(chance=0.25, n_jobs=1)


def rows(amounts=(0,), seeds=1, losses=TRUTH.losses, accuracy=None):
    frame = pd.DataFrame([{"checkpoint": f"c{i}", "pretraining_loss": v, "data_amount": d, "seed": s}
                          for i, v in enumerate(losses) for d in amounts for s in range(seeds if d else 1)])  # fmt: skip
    table = simulate_runs(TRUTH, frame, np.random.default_rng(0))
    if accuracy is not None:
        table["accuracy"] = accuracy
    params = {f"c{i}": 1e6 * (i + 1) for i in range(len(losses))}
    return table.assign(task="t", metric="acc", params=table["checkpoint"].map(params), tokens=1e9)


def test_a_prior_plan_before_any_finetuned_run():
    plan = plan_task(rows(), 18, options=OPTIONS)
    finetuned = plan.runs[plan.runs["data_amount"] > 0]
    assert plan.source == "prior" and len(finetuned) == 18 and plan.cost == 18
    # whole data amounts: each chosen amount runs on every candidate checkpoint (all 6 here), and at three
    # amounts, as many as the law's fit (which has no prior) needs to place the shift with its exponent
    assert (finetuned.groupby(["data_amount", "seed"]).size() == 6).all()
    assert finetuned["data_amount"].nunique() == 3
    # spread over the range: a design blind to the shift (all amounts alike) would take the first three
    assert finetuned["data_amount"].max() >= 256
    assert plan.expected_half_width < plan.start_half_width
    assert plan.default_runs == 16 and plan.default_half_width is not None  # 4 amounts x 4 checkpoints
    assert (plan.runs["data_amount"] == 0).sum() == 0  # few-shot rows are stored already
    assert any("prior" in a for a in plan.assumptions)
    # the store does not know the task's data: the plan says how much its largest amount needs
    assert f"holds at least {finetuned['data_amount'].max()} examples" in " ".join(plan.assumptions)


def test_emerged_checkpoints_bound_the_prior_elbow():
    # a ladder that reaches past the elbow (2.5), with an early checkpoint far above it (a long warm-up)
    table = rows(losses=(6.0, 3.2, 3.0, 2.8, 2.6, 2.4, 2.2, 1.5))
    plan = plan_task(table, 21, options=OPTIONS)
    assert plan.source == "prior" and any("(2.600)" in a for a in plan.assumptions)
    assert plan.expected_half_width < plan.start_half_width <= 2.6 - 1.5  # the prior spans [1.5, 2.6] at most
    # the checkpoints a little above chance (2.4, 2.2) are candidates; the one past halfway (1.5) is not
    planned = set(plan.runs["pretraining_loss"].round(1))
    assert {2.4, 2.2} <= planned and 1.5 not in planned


def test_the_next_batch_starts_from_the_stored_fit():
    table = rows((0, 64, 256, 1024, 4096))
    plan = plan_task(table, 14, options=OPTIONS)
    per_amount = plan.runs.groupby(["data_amount", "seed"]).size()
    assert plan.source == "fit" and len(plan.runs) <= 14 and (per_amount == per_amount.iloc[0]).all()


def test_a_flops_budget_prices_runs_by_params_and_examples_seen():
    spec = FinetuneSpec(epochs=2, batch_size=16, min_steps=10)
    plan = plan_task(rows(), 1e13, unit="FLOPs", finetune=spec, tokens_per_example=50, options=OPTIONS)
    one = plan.runs.iloc[-1]
    params = 1e6 * (int(one["checkpoint"][1:]) + 1)
    assert one["cost"] == pytest.approx(6 * params * spec.examples_seen(int(one["data_amount"])) * 50)
    assert plan.cost <= 1e13


def test_a_step_cap_prices_a_capped_amount_as_the_steps_it_runs():
    # 10 epochs in batches of 16, 80 to 100 steps: 480 examples cost what 160 do
    spec = FinetuneSpec(epochs=10, batch_size=16, min_steps=80, max_steps=100)
    assert [spec.examples_seen(d) for d in (0, 16, 160, 480)] == [0, 80 * 16, 100 * 16, 100 * 16]
    plan = plan_task(rows(), 1e14, unit="FLOPs", finetune=spec, tokens_per_example=50, options=OPTIONS)
    assert any("at least 80 steps, at most 100 steps)" in a for a in plan.assumptions)


def test_unknown_chance_is_estimated_and_said():
    plan = plan_task(rows(), 18, options=FitOptions(n_jobs=1))
    assert any("median few-shot accuracy of the weakest third" in a for a in plan.assumptions)


@pytest.mark.parametrize(
    ("table", "budget", "unit", "message"),
    [
        (rows(losses=(3.0,)), 4, "runs", "needs at least 3"),
        (rows(accuracy=0.9), 4, "runs", "already above chance"),
        (rows(), 0.5, "runs", "smaller than the cheapest run"),
        (rows(), 12, "runs", "needs finetuned runs at 3 data amounts"),
        (rows().assign(params=np.nan), 1e12, "FLOPs", "no params"),
    ],
    ids=[
        "one checkpoint",
        "all emerged",
        "budget below one run",
        "budget below three amounts",
        "FLOPs without params",
    ],
)
def test_bad_input_gets_a_reason(table, budget, unit, message):
    with pytest.raises(EmergenceError, match=message):
        plan_task(table, budget, unit=unit, options=OPTIONS)


def test_the_written_spec_runs_exactly_the_plan(tmp_path):
    ladder = {"checkpoints": [{"id": f"c{i}", "hub": f"org/m{i}", "pretraining_loss": v}
                              for i, v in enumerate(TRUTH.losses)]}  # fmt: skip
    spec = SweepSpec.model_validate(
        {"store": str(tmp_path / "s.sqlite"), "ladder": ladder, "tasks": ["t", "u"]}
    )
    plan = plan_task(rows(), 18, options=OPTIONS)
    planned = SweepSpec.model_validate(plan_spec(plan, spec, tmp_path))
    assert planned.tasks == ["t"]
    jobs = expand_jobs(planned, planned.ladder.checkpoints)
    got = sorted((j.checkpoint["id"], j.data_amount, j.seed) for j in jobs)
    assert got == sorted(plan.runs[["checkpoint", "data_amount", "seed"]].itertuples(index=False, name=None))


def test_a_spec_with_runs_and_a_grid_is_refused():
    ladder = {"checkpoints": [{"id": "a", "hub": "o/a", "pretraining_loss": 3.0}]}
    with pytest.raises(ValueError, match="either 'runs' or 'data_amounts'"):
        SweepSpec.model_validate({"ladder": ladder, "tasks": ["t"], "data_amounts": [0, 64],
                                  "runs": [{"checkpoint": "a", "data_amount": 64}]})  # fmt: skip
