"""fit / forecast / backtest, and the ingest -> forecast -> export -> import round trip, as a user meets them."""

import json
import sqlite3
from contextlib import closing

import pytest

from emergence.builtin import shipped_store
from emergence.forecast import read_document
from emergence.store import Store

TASK = ["--task", "hellaswag_val_rc_5shot", "--metric", "len_norm"]
FAST = ["--n-boot", "0"]
SHIPPED = shipped_store()


def test_ingest_forecast_export_import(tmp_path, store, run):
    code, out, err = run("fit", *TASK, *FAST, "--store", store, "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["status"] == "fitted" and row["method"] == "chain: corpus loss"

    out_file = tmp_path / "forecast.json"
    code, out, err = run("forecast", *TASK, *FAST, "--no-backtest", "--params", "1.3e9", "--tokens",
                         "2.6e10", "--flops", "1e21", "--loss", "2.5", "--store", store, "--out", out_file)  # fmt: skip
    assert code == 0, err
    assert "few-shot emergence at loss" in out and "1.3e+09 params x 2.6e+10 tokens" in out
    doc = read_document(out_file)
    assert [b["kind"] for b in doc["budgets"]] == ["flops", "params_tokens", "loss"]

    code, out, _ = run("export", "--store", store, "--out", tmp_path / "exported")
    assert code == 0
    exported = tmp_path / "exported" / "hellaswag_val_rc_5shot__len_norm.json"
    assert read_document(exported) == doc
    other = tmp_path / "other.sqlite"
    code, out, _ = run("import", exported, "--store", other)
    assert code == 0 and "imported 1 forecast" in out
    code, out, _ = run("export", "--store", other, "--out", tmp_path / "again.json", "--results",
                       tmp_path / "results.csv", "--json")  # fmt: skip
    assert code == 0 and read_document(tmp_path / "again.json") == doc


def test_user_errors_exit_2(tmp_path, store, run):
    code, _, err = run("forecast", *TASK, *FAST, "--params", "1e9", "--store", store)
    assert code == 2 and "give --params and --tokens in pairs" in err
    code, _, err = run("forecast", "--task", "nope", "--store", store)
    assert code == 2 and "no finished results for task 'nope'" in err
    code, _, err = run("forecast", *FAST, "--store", store)
    assert code == 2 and "choose one with --task" in err
    code, _, err = run("ingest", tmp_path / "missing", "--store", store)
    assert code == 2 and "no such file or folder" in err
    code, _, err = run("export", "--store", tmp_path / "none.sqlite", "--out", tmp_path / "x.json")
    assert code == 2 and "no store at" in err and not (tmp_path / "none.sqlite").exists()
    Store(tmp_path / "empty.sqlite").close()
    code, _, err = run("export", "--store", tmp_path / "empty.sqlite", "--out", tmp_path / "x.json")
    assert code == 2 and "no stored forecast" in err


def test_backtest_command_runs(store, run):
    code, out, err = run("backtest", *TASK, *FAST, "--store", store, "--json")
    assert code in (0, 1), err
    section = json.loads(out)
    assert section["status"] in ("done", "skipped") and section["task"] == "hellaswag_val_rc_5shot"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store yet")
def test_backtest_also_forecasts_from_the_checkpoints_still_at_chance(run):
    qa = ["--task", "toy_sum_qa", "--metric", "exact_match", "--chance", "0", "--link", "sigmoid"]
    args = ["backtest", *qa, *FAST]  # the sigmoid: the link the shipped forecasts use
    code, out, err = run(*args, "--store", SHIPPED, "--json")
    before = json.loads(out)["before_emergence"]
    assert code == 0 and before["status"] == "done" and before["success"], err
    assert before["n_checkpoints"] == 18 and abs(before["error"]) <= 0.1
    code, out, _ = run(*args, "--store", SHIPPED)
    assert code == 0 and "from the 18 checkpoints still at chance few-shot" in out and "within 0.1" in out
    # the cutoffs that place no elbow say why, beside the table's dashes
    assert "why not" in out and "no elbow found: only 0 data amount(s) have checkpoints on both sides" in out
    mc = ["--task", "toy_sum_choice", "--metric", "acc", "--chance", "0.25"]
    code, out, _ = run("backtest", *mc, *FAST, "--store", SHIPPED)
    assert "no forecast from the checkpoints still at chance: no elbow found: only 1 data amount(s)" in out


@pytest.mark.parametrize("command", ["fit", "forecast", "backtest"])
def test_an_unknown_task_is_refused_with_the_stores_choices_and_the_file_untouched(store, command, run):
    with closing(sqlite3.connect(store)) as raw:  # as a store shipped for read-only readers is kept
        raw.execute("PRAGMA journal_mode=delete")
    before = store.read_bytes()
    code, _, err = run(command, "--task", "nope", *FAST, "--store", store)
    assert code == 2 and "no finished results for task 'nope'" in err
    assert "the store has: " in err and "hellaswag_val_rc_5shot/len_norm" in err and "none" not in err
    assert store.read_bytes() == before and not store.with_name(store.name + "-wal").exists()


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped demo store yet")
def test_fit_and_forecast_say_when_their_flops_are_not_to_be_trusted(tmp_path, run):
    # the knowledge world's compute law levels off above the loss its largest size reached
    store = tmp_path / "s.sqlite"
    store.write_bytes(SHIPPED.read_bytes())
    code, out, err = run(
        "fit", "--task", "know_country_qa", "--metric", "exact_match", *FAST, "--store", store
    )
    assert code == 0, err
    assert "FLOPs not to be trusted: the loss law levels off at" in out and "…" in out  # cut, and says so
    code, out, err = run("forecast", "--task", "know_country_qa", "--metric", "exact_match", *FAST,
                         "--no-backtest", "--store", store)  # fmt: skip
    assert code == 0, err
    assert "at FLOPs -" in out and "levels off" in out and "read the forecast in loss" in out


def test_a_backtest_with_no_fitted_cutoff_gives_the_reason_most_cutoffs_give(capsys):
    # the weakest cutoff often fails for its own reason (no finetuned rows yet); the rest say what matters
    from emergence.cli.render import echo_story

    cutoffs = [{"note": "no finetuned rows"}, *[{"note": "every accuracy is at chance"}] * 2]
    doc = {"task": "t", "metric": "acc", "backtest": {"status": "done", "cutoffs": cutoffs,
                                                       "reason": "intervals not widened by the backtest"}}  # fmt: skip
    echo_story(doc)
    assert ("by FLOPs cutoff: no forecast (none of the 3 FLOPs cutoffs could be fitted: every accuracy is at "
            "chance (2 of them))") in capsys.readouterr().out  # fmt: skip
