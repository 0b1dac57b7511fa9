"""Forecasts made from and kept in the store (emergence.forecast.stored), on simulated and OLMo-format data."""

import pytest

from emergence.forecast import (
    Budget,
    forecast,
    forecast_table,
    import_documents,
    stored_forecasts,
    validate_document,
    write_document,
)
from emergence.forecast.stored import fitted_laws
from emergence.ingest import ingest
from emergence.store import Store
from tests.tables import OLMO_ELBOW, olmo_accuracy, olmo_loss, write_olmo_ladder


def test_forecast_of_simulated_ladder(simulated, document, budgets):
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


def test_no_elbow_is_a_valid_document(simulated, fast, budgets):
    _, table = simulated
    flat = table.assign(accuracy=0.25, data_amount=table["data_amount"])
    doc, fit = forecast_table(flat, budgets, fast)
    assert doc["emergence_point"]["status"] == "not_found" and doc["emergence_point"]["reason"]
    assert doc["law"] is None and doc["budgets"] == [] and "emergence_law" not in fitted_laws(fit)
    validate_document(doc)


def test_store_forecast_export_import_same_forecast(tmp_path, simulated, fast, budgets):
    _, table = simulated
    with Store(tmp_path / "a.sqlite") as a:
        a.add_results(table.drop(columns="run_id"), fmt="tidy", source="sim")
        doc = forecast(a, "toy_mc", "acc", budgets[:2], fast, command="pytest")
        assert len(a.fits()) == 2 and stored_forecasts(a) == [doc]
        exported = write_document(stored_forecasts(a, "toy_mc", "acc")[0], tmp_path / "f.json")
        from emergence.ingest import write_tidy

        write_tidy(a.results(), tmp_path / "results.csv")
    with Store(tmp_path / "b.sqlite") as b:
        assert [d for d, _, new in import_documents(b, [exported]) if new] == [doc]
        assert stored_forecasts(b) == [doc]
        # the exported results, ingested elsewhere, give the same forecast
        ingest(b, tmp_path / "results.csv")
        again = forecast(b, "toy_mc", "acc", budgets[:2], fast, command="pytest")
    strip = lambda d: {**d, "provenance": {**d["provenance"], "created_at": None, "store": None}}  # noqa: E731
    assert strip(again) == strip(doc)


def test_olmo_ladder_forecast_for_a_larger_model_through_the_chain(tmp_path, fast, budgets):
    folder = write_olmo_ladder(tmp_path / "ladder")
    params, tokens = 1.3e9, 2.6e10
    with Store(tmp_path / "s.sqlite") as st:
        ingest(st, folder)
        doc = forecast(st, "hellaswag_val_rc_5shot", "len_norm", [Budget(params=params, tokens=tokens)], fast)
    validate_document(doc)
    assert doc["method"] == "chain" and doc["law"] is None  # few-shot logs of several sizes: the chain
    assert doc["chain"]["chosen"] == "corpus loss" and doc["chain"]["loss_law"]["a"] == pytest.approx(0.3, abs=0.02)
    assert abs(doc["emergence_point"]["loss"]["estimate"] - OLMO_ELBOW) < 0.05
    (budget,) = doc["budgets"]
    assert budget["kind"] == "params_tokens" and budget["params"] == params and budget["tokens"] == tokens
    true_loss = olmo_loss(params, tokens)
    assert budget["pretraining_loss"]["estimate"] == pytest.approx(true_loss, abs=0.005)
    assert budget["accuracy"]["estimate"] == pytest.approx(olmo_accuracy(true_loss, 0.25), abs=0.03)
    assert budget["accuracy"]["lower"] <= budget["accuracy"]["estimate"] <= budget["accuracy"]["upper"]
    assert budget["prob_emerged"] > 0.95  # its loss is far below the elbow
    assert len(doc["provenance"]["run_ids"]) == 36


def test_olmo_ladder_through_the_emergence_law_when_asked(tmp_path, fast):
    from dataclasses import replace

    with Store(tmp_path / "s.sqlite") as st:
        ingest(st, write_olmo_ladder(tmp_path / "ladder"))
        doc = forecast(st, "hellaswag_val_rc_5shot", "len_norm", [Budget(params=1.3e9, tokens=2.6e10)],
                       replace(fast, method="law"))  # fmt: skip
    assert doc["method"] == "emergence_law" and doc["law"]["shift"] == "none"  # the elbow cannot shift
    assert doc["loss_law"]["kind"] == "compute" and doc["loss_law"]["others"][0]["kind"] == "params_tokens"
    assert abs(doc["emergence_point"]["loss"]["estimate"] - OLMO_ELBOW) < 0.05
