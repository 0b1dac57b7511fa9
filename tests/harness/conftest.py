"""Fixtures of the harness tests: tiny checkpoints, a tiny lm-eval task, the toy world's micro ladder."""

import os

import pytest

from tests.builders import tiny_ladder as build_tiny_ladder
from tests.builders import write_task

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory):
    """Three tiny checkpoints of rising width: a list of (id, folder)."""
    return build_tiny_ladder(tmp_path_factory.mktemp("ladder"))


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
