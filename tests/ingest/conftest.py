"""A fresh store per ingest test."""

import pytest

from emergence.store import Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        yield st
