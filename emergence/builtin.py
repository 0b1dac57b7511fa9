"""Where the installed package keeps what ships with it: the built-in tasks, the dashboard, the specs and
the shipped demo run. In a clone they are the repository's evals/, dashboards/ and data/ folders; in an
installed wheel they live inside the package (pyproject.toml maps them)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path


def _folder(package: str) -> Path:
    return Path(str(files(package)))


def tasks_dir() -> Path:
    """The built-in lm-eval tasks (``lm_eval --include_path`` takes this folder)."""
    return _folder("emergence.evals")


def dashboard_app() -> Path:
    """The dashboard's Streamlit script."""
    return _folder("emergence.dashboards") / "app.py"


def specs_dir() -> Path:
    """The shipped sweep specs: ``knowledge-demo.yaml`` (the demo's live run), ``knowledge-full.yaml`` and
    ``toy-full.yaml`` (the shipped runs of the two worlds), ``toy-demo.yaml`` (a live run of the arithmetic
    world)."""
    return _folder("emergence.data") / "specs"


def shipped_store() -> Path:
    """The shipped full run of the built-in world, which the dashboard opens first (never written by it)."""
    return _folder("emergence.data") / "demo" / "store.sqlite"


@cache
def known_chance(task: str) -> float | None:
    """A task's chance accuracy as its YAML's metadata states it (``chance``): a built-in task by name, or a
    task given as a YAML path; None when no YAML says.

    Read as text, not through lm-eval, so the fits can use it without the harness installed."""
    import re

    import yaml

    given = Path(task)
    paths = (
        [given]
        if given.suffix in (".yaml", ".yml")
        else [p for p in tasks_dir().rglob("*.yaml") if p.stem == task]
    )
    for path in paths:
        try:
            config = (
                yaml.safe_load(re.sub(r"!function\s+\S+", "null", path.read_text())) or {}
            )  # lm-eval's tags
        except (OSError, yaml.YAMLError):
            continue
        metadata = config.get("metadata") if isinstance(config, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("chance"), int | float):
            return float(metadata["chance"])
    return None
