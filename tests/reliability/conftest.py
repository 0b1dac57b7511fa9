"""Fixtures of the reliability and security tests: tiny checkpoints, a tiny task (built by tests/builders.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.builders import save_tiny_llama, write_task


@pytest.fixture(scope="session")
def two_checkpoints(tmp_path_factory) -> list[tuple[str, Path]]:
    """Two tiny random Llamas (safetensors, the toy char tokenizer): a list of (id, folder)."""
    root = tmp_path_factory.mktemp("ladder")
    for i, hidden in enumerate((8, 16)):
        save_tiny_llama(root / f"ck{i}", seed=i, hidden=hidden)
    return [(f"ck{i}", root / f"ck{i}") for i in range(2)]


@pytest.fixture(scope="session")
def task_yaml(tmp_path_factory) -> Path:
    """A small multiple-choice lm-eval task YAML (absolute data paths)."""
    return write_task(tmp_path_factory.mktemp("task"), n_train=32, n_test=8)


@pytest.fixture
def restore_main_module():
    """streamlit's AppTest leaves sys.modules['__main__'] pointing at the app script; put it back so later
    spawn-based process pools do not run the dashboard (see tests/dashboards/test_app.py)."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
