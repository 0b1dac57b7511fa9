"""Shared pieces of the reliability and security tests: tiny checkpoints, a tiny task, sweep specs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # tests/ and dashboards/ are folders of the repository, not installed packages
    sys.path.insert(0, str(ROOT))

from tests.harness.conftest import save_tiny_llama, write_task  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


def write_spec(folder: Path, ladder, tasks, *, data_amounts=(0, 8), store: Path | None = None) -> Path:
    """A quick sweep YAML over ``ladder`` (a list of (id, folder)): 2 finetuning steps, 8 test examples."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = dict(
        store=str(store or folder / "store.sqlite"),
        ladder=dict(
            checkpoints=[dict(id=n, path=str(p), pretraining_loss=5.0 - i) for i, (n, p) in enumerate(ladder)]
        ),
        tasks=[str(t) for t in tasks],
        data_amounts=list(data_amounts),
        seeds=[0],
        finetune=dict(method="full", learning_rate=1e-3, epochs=2, batch_size=4),
        eval=dict(limit=8, batch_size=8),
    )
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@contextmanager
def read_only(path: Path):
    """Make ``path`` unwritable for this process: immutable for root (who ignores modes), else mode 0444."""
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a file read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.fixture
def restore_main_module():
    """streamlit's AppTest leaves sys.modules['__main__'] pointing at the app script; put it back so later
    spawn-based process pools do not run the dashboard (see tests/dashboards/test_app.py)."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
