"""Forecast documents (emergence.forecast.document): schema refusals name the field, files round-trip."""

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence.errors import EmergenceError
from emergence.forecast import (
    loads_document,
    read_document,
    validate_document,
    write_document,
)


def _set(path, value):
    def edit(doc):
        *parents, last = path
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return edit


def _drop(*path):
    def edit(doc):
        *parents, last = path
        target = doc
        for key in parents:
            target = target[key]
        del target[last]

    return edit


@pytest.mark.parametrize(
    "edit, where",
    [
        (_set(("budgets", 0, "accuracy", "lower"), 1.5), "$.budgets[0].accuracy.lower"),
        (_set(("budgets", 1, "prob_emerged"), -0.1), "$.budgets[1].prob_emerged"),
        (_set(("budgets", 0, "kind"), "dollars"), "$.budgets[0].kind"),
        (_drop("task"), "$: 'task' is a required property"),
        (_drop("provenance", "command"), "$.provenance: 'command' is a required property"),
        (_set(("provenance", "data_hash"), "md5:abc"), "$.provenance.data_hash"),
        (_set(("provenance", "created_at"), "yesterday"), "$.provenance.created_at"),
        (_set(("chance",), math.nan), "$.chance: must be a finite number"),
        (_set(("law", "link"), "tanh"), "$.law"),
        (_set(("emergence_point", "status"), "maybe"), "$.emergence_point.status"),
        (_set(("surprise",), 1), "$: Additional properties are not allowed ('surprise' was unexpected)"),
        (_set(("budgets", 2, "pretraining_loss", "lower"), 9.0), "$.budgets[2].pretraining_loss.lower: must not exceed"),
        (_set(("schema_version",), "0.9"), "$.schema_version"),
        (_set(("backtest",), {"status": "done"}), "$.backtest: 'cutoffs' is a required property"),
    ],
)  # fmt: skip
def test_schema_refusals_name_the_field(document, edit, where):
    bad = copy.deepcopy(document)
    edit(bad)
    with pytest.raises(EmergenceError) as info:
        validate_document(bad, "f.json")
    message = str(info.value)
    assert message.startswith("f.json: ") and where in message and "\n" not in message


def test_file_round_trip(tmp_path, document, budgets):
    path = write_document(document, tmp_path / "out" / "toy.json")
    assert read_document(path) == document
    text = path.read_text()
    with pytest.raises(EmergenceError, match=r"toy.json: not valid JSON .*\(the file looks truncated\)"):
        loads_document(text[: len(text) // 2], "toy.json")
    with pytest.raises(EmergenceError, match="NaN is not valid JSON"):
        loads_document(
            text.replace('"chance": ' + json.dumps(document["chance"]), '"chance": NaN'), "toy.json"
        )
    with pytest.raises(EmergenceError, match=r"\$.schema_version: 2.0 is not readable"):
        loads_document(json.dumps({**document, "schema_version": "2.0"}), "toy.json")
    with pytest.raises(EmergenceError, match=r"a forecast document is a JSON object"):
        loads_document("[1, 2]", "toy.json")
    bad = copy.deepcopy(document)
    bad["budgets"][0]["accuracy"]["upper"] = 7
    with pytest.raises(EmergenceError, match=r"\$.budgets\[0\].accuracy.upper"):
        write_document(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


# -- property: any edit of a valid document validates or is refused in one line ------------------------------

json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@pytest.mark.parametrize("edit", [{"\n": math.nan}, {"a'b\n": 1}, {"x\ny": [math.inf]}])
def test_a_refusal_names_an_odd_key_on_one_line(document, edit):
    doc = copy.deepcopy(document)
    doc["schema_version"] = edit  # keys with a newline or a quote (found by the property test below)
    with pytest.raises(EmergenceError) as exc:
        validate_document(doc, "f.json")
    assert str(exc.value).startswith("f.json: $.schema_version") and "\n" not in str(exc.value)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_edited_documents_validate_or_are_refused(document, data):
    doc = copy.deepcopy(document)
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(json_value)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        validate_document(doc, "f.json")
        loads_document(json.dumps(doc, allow_nan=True), "f.json")
    except EmergenceError as exc:
        assert str(exc).startswith("f.json: ") and "\n" not in str(exc)
