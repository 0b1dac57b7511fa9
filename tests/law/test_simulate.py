"""The simulator: its accuracy is the likelihood's mean at the true parameters (one formula, one place)."""

import numpy as np
import pytest

from emergence.law import EmergenceLaw
from emergence.law.links import LINKS
from emergence.law.simulate import DATA_AMOUNTS, draw_law, simulate_table


@pytest.mark.parametrize("link", LINKS)
def test_the_simulators_accuracy_is_the_likelihoods_mean(link):
    rng = np.random.default_rng(11)
    law = draw_law(rng, link=link)
    table = simulate_table(law, rng, fewshot="all")
    prob = EmergenceLaw(link=link).problem(table)
    truth = np.array([law.params.get(nm, law.extra_sd) for nm in prob.names])
    expected = law.accuracy(prob.loss, prob.amount)
    np.testing.assert_allclose(prob.mean(truth), np.clip(expected, 1e-6, 1 - 1e-6), rtol=0, atol=1e-15)


def test_table_holds_every_amount_and_the_few_shot_rows_at_chance():
    rng = np.random.default_rng(3)
    law = draw_law(rng)
    table = simulate_table(law, rng)
    assert set(table["data_amount"]) == {0, *DATA_AMOUNTS}
    assert (table.loc[table["data_amount"] == 0, "pretraining_loss"] > law.elbow_d0).all()
    assert table["accuracy"].between(0, 1).all() and (table["n_examples"] == 500).all()
