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
from tests.test_ingest import lmeval_results, write_olmo_ladder

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _valid_files() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_olmo_ladder(Path(tmp) / "l", sizes={"190M": 190354176}, multipliers=(1,), steps=4)
        olmo = (folder / "190M-1xC.csv").read_text()
    tidy = (
        "task,metric,checkpoint,pretraining_loss,params,tokens,flops,data_amount,seed,accuracy,n_examples\n"
        "t,acc,c0,3.1,1e6,1e8,6e14,0,0,0.25,500\nt,acc,c0,3.1,1e6,1e8,6e14,64,0,0.31,500\n"
        "t,acc,c1,2.9,2e6,1e8,1.2e15,64,1,0.42,500\n"
    )
    return {"olmo": olmo, "tidy": tidy, "lmeval": json.dumps(lmeval_results(), indent=1)}


VALID = _valid_files()


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


mutation = st.tuples(
    st.sampled_from(["truncate", "delete", "insert", "replace", "swap_lines", "blank_cell"]),
    st.floats(0, 1),
    st.floats(0, 1),
    st.text(alphabet=st.sampled_from(list(',"\n\r{}[]:-.e0123456789naNIfinity\\ \t\x00é')), max_size=12),
)


def _mutate(text: str, how: str, u: float, v: float, piece: str) -> str:
    i, j = sorted((int(u * len(text)), int(v * len(text))))
    if how == "truncate":
        return text[:i]
    if how == "delete":
        return text[:i] + text[j:]
    if how == "insert":
        return text[:i] + piece + text[i:]
    if how == "replace":
        return text[:i] + piece + text[i + len(piece) :]
    lines = text.splitlines()
    if not lines:
        return text
    a, b = int(u * (len(lines) - 1)), int(v * (len(lines) - 1))
    if how == "swap_lines":
        lines[a], lines[b] = lines[b], lines[a]
    else:
        cells = lines[a].split(",")
        cells[int(v * (len(cells) - 1))] = piece
        lines[a] = ",".join(cells)
    return "\n".join(lines)


@pytest.mark.parametrize("kind", ["lmeval", "olmo", "tidy"])
@FUZZ
@given(steps=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_files(kind, steps):
    text = VALID[kind]
    for step in steps:
        text = _mutate(text, *step)
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
