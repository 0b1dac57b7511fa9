"""The sweep designer: runs within the budget, information that only grows, and honest refusals."""

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.law import EmergenceLaw
from emergence.law.design import design_half_width, plan_runs, prior_draws
from emergence.law.simulate import draw_law, simulate_runs

LOSSES = np.linspace(3.2, 2.6, 8)
FORM = EmergenceLaw(chance=0.25)


def grid(amounts, seeds=1, losses=LOSSES):
    return pd.DataFrame([{"checkpoint": f"c{i}", "pretraining_loss": v, "data_amount": d, "seed": s, "cost": d * 4}
                         for i, v in enumerate(losses) for d in amounts for s in range(seeds)])  # fmt: skip


@pytest.fixture(scope="module")
def draws():
    return prior_draws(LOSSES, FORM, n=40, seed=1)


def test_prior_draws_place_the_elbow_beyond_the_ladder(draws):
    assert (draws["elbow_d0"] <= LOSSES.min()).all()
    assert (draws["elbow_d0"] >= LOSSES.min() - 0.5 * np.ptp(LOSSES)).all()
    assert (draws["chance"] == 0.25).all()


@pytest.mark.parametrize("whole_amounts", [True, False], ids=["whole amounts", "single runs"])
def test_plan_stays_within_budget_and_beats_the_default_grid_at_equal_cost(draws, whole_amounts):
    default = grid((64, 256, 1024, 4096), seeds=2)
    budget = float(default["cost"].sum())
    fewshot = grid((0,))
    design = plan_runs(FORM, draws, grid(2 ** np.arange(2, 13)).drop(columns="seed"), budget, measured=fewshot,
                       whole_amounts=whole_amounts)  # fmt: skip
    if whole_amounts:  # every chosen amount on every checkpoint
        assert (design.runs.groupby(["data_amount", "seed"]).size() == len(LOSSES)).all()
    assert design.cost <= budget and design.cost == pytest.approx(design.runs["cost"].sum())
    assert design.half_width < design.start_half_width
    assert design.runs.groupby(["checkpoint", "data_amount"]).size().max() <= 4
    assert design.half_width < design_half_width(FORM, draws, default, measured=fewshot)


@pytest.mark.parametrize("budget", [800.0, 5000.0, 8 * 4 * 1024 + 300.0, 40_000.0])
def test_every_plan_can_be_fitted_or_is_refused(draws, budget):
    # the fit has no prior: three distinct amounts, even where the most informative one is dear
    candidates = grid((4, 8, 16, 1024)).drop(columns="seed")
    if budget < 8 * 4 * (4 + 8 + 16):
        with pytest.raises(EmergenceError, match="at 3 data amounts"):
            plan_runs(FORM, draws, candidates, budget, measured=grid((0,)))
        return
    design = plan_runs(FORM, draws, candidates, budget, measured=grid((0,)))
    assert design.runs["data_amount"].nunique() >= 3 and design.cost <= budget


def test_more_runs_never_widen_the_expected_interval(draws):
    few = design_half_width(FORM, draws, grid((64, 1024)))
    more = design_half_width(FORM, draws, grid((64, 256, 1024, 4096)))
    assert more <= few


def test_a_budget_below_the_cheapest_run_is_refused(draws):
    with pytest.raises(EmergenceError, match="smaller than the cheapest run"):
        plan_runs(FORM, draws, grid((64, 256)).drop(columns="seed"), budget=10.0)


def test_planned_runs_pin_a_hidden_elbow_better_than_the_grid():
    """One simulated ladder whose truth the planner never sees: the planned sweep's fit lands closer."""
    rng = np.random.default_rng(11)
    truth = draw_law(rng, placement="beyond")
    losses = np.array(truth.losses)
    default = grid((64, 256, 1024, 4096), 2, losses)
    design = plan_runs(FORM, prior_draws(losses, FORM, n=60, seed=0), grid(2 ** np.arange(2, 13), 1, losses)
                       .drop(columns="seed"), float(default["cost"].sum()), measured=grid((0,), 1, losses))  # fmt: skip
    errors = {}
    for name, runs in (("grid", default), ("plan", design.runs)):
        table = simulate_runs(truth, pd.concat([grid((0,), 1, losses), runs], ignore_index=True), rng)
        errors[name] = abs(FORM.fit(table).emergence_point().loss - truth.elbow_d0)
    assert errors["plan"] < 0.1
