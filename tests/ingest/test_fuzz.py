"""Property tests: the ingest readers, fed random and mutated files, raise EmergenceError or succeed."""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emergence.errors import EmergenceError
from emergence.ingest import read_lmeval, read_olmo, read_tidy
from emergence.table import validate_results
from tests.tables import VALID, mutate, mutation

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _parse(kind: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "lmeval":
            path = Path(tmp) / "m" / "results_2026-01-01T00-00-00.json"
            path.parent.mkdir()
            path.write_bytes(data)
            rows = read_lmeval(Path(tmp), models={"m": {"pretraining_loss": 3.0}})
        elif kind == "olmo":
            path = Path(tmp) / "190M-1xC.csv"
            path.write_bytes(data)
            rows = read_olmo(path, params_map={"190M": 1.9e8})
        else:
            path = Path(tmp) / "t.csv"
            path.write_bytes(data)
            rows = read_tidy(path)
        validate_results(rows, str(path))


def _ok_or_emergence_error(kind: str, data: bytes) -> None:
    try:
        _parse(kind, data)
    except EmergenceError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("kind", ["lmeval", "olmo", "tidy"])
def test_valid_files_parse(kind):
    _parse(kind, VALID[kind].encode())


@pytest.mark.parametrize("kind", ["lmeval", "olmo", "tidy"])
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(kind, data):
    _ok_or_emergence_error(kind, data)


@pytest.mark.parametrize("kind", ["lmeval", "olmo", "tidy"])
@FUZZ
@given(steps=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_files(kind, steps):
    text = VALID[kind]
    for step in steps:
        text = mutate(text, *step)
    _ok_or_emergence_error(kind, text.encode("utf-8", "surrogatepass"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(task=st.text(max_size=6), metrics=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
       top=st.dictionaries(st.sampled_from(["n-samples", "groups", "group_subtasks", "config", "model_name",
                                            "lm_eval_version", "model_name_sanitized"]), json_values))  # fmt: skip
@example(task="/", metrics={}, top={})  # a task name that is no file name: no samples file to look for
def test_lmeval_structure_fuzz(task, metrics, top):
    doc = {"results": {task: metrics}, **top}
    _ok_or_emergence_error("lmeval", json.dumps(doc).encode())
