"""Fixtures shared across test packages: nothing reaches a hub, and tiny checkpoints made here in seconds."""

import os

import pytest

from tests.builders import tiny_ladder as build_tiny_ladder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory):
    """Three tiny checkpoints of rising width: a list of (id, folder)."""
    return build_tiny_ladder(tmp_path_factory.mktemp("ladder"))
