"""Fixtures of the harness tests: a tiny lm-eval task and the toy world's micro ladder (tiny_ladder is shared)."""

import pytest

from tests.builders import write_task


@pytest.fixture(scope="session")
def micro_toy_ladder(tmp_path_factory):
    """The toy world's micro ladder (two checkpoints, trained in seconds): a list of (id, folder)."""
    from emergence.ladder.sources import checkpoints_from_table
    from emergence.ladder.toy.build import build_toy_ladder

    table = build_toy_ladder(tmp_path_factory.mktemp("toy"), seed=0, sizes=["micro"])
    return [(c.id, c.path) for c in checkpoints_from_table(table)]


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("task"))
