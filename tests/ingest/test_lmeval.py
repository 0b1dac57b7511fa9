"""lm-eval 0.4.x output folders (emergence.ingest.lmeval) into the store, all or nothing."""

import json

import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.ingest import detect_format, ingest, read_lmeval
from tests.tables import (
    MODELS,
    write_lmeval,
)


def test_lmeval_folder(tmp_path, store):
    out = tmp_path / "lmeval-out"
    write_lmeval(out)
    assert detect_format(out) == "lmeval"
    summary = ingest(store, out, models=MODELS)
    assert summary["tasks"] == ["toy_add", "toy_mc"]  # not the group, not the perplexity task
    results = store.results().set_index(["task", "metric"])
    assert set(results.index) == {
        ("toy_mc", "acc"),
        ("toy_mc", "acc_norm"),
        ("toy_add", "exact_match,strict-match"),
        ("toy_add", "exact_match,flexible-extract"),
    }
    mc = results.loc[("toy_mc", "acc")]
    assert mc["accuracy"] == 0.41 and mc["stderr"] == 0.022 and mc["n_examples"] == 400  # effective n
    assert mc["checkpoint"] == "ck-3" and mc["pretraining_loss"] == 2.8
    assert mc["data_amount"] == 256 and mc["seed"] == 1 and mc["params"] == 4.7e6
    add = results.loc[("toy_add", "exact_match,strict-match")]
    assert add["n_examples"] == 250 and pd.isna(add["stderr"])  # counted from the samples file


def test_lmeval_without_map_is_fewshot_on_model_checkpoint(tmp_path, store):
    out = tmp_path / "lmeval-out"
    write_lmeval(out, samples=False)
    summary = ingest(store, out)
    assert summary["warnings"] and "without a pretraining loss" in summary["warnings"][0]
    r = store.results("toy_mc", "acc").iloc[0]
    assert r["checkpoint"] == "models__ck-3__d256__s1" and r["data_amount"] == 0 and r["params"] == 840000
    # a later ingest of the loss keeps what is known and fills the rest
    store.add_checkpoint("other", "x", pretraining_loss=2.0)
    assert store.results("toy_add", "exact_match,strict-match").iloc[0]["n_examples"] == 300


def test_lmeval_newest_results_win(tmp_path):
    out = tmp_path / "lmeval-out"
    write_lmeval(out, date="2026-01-01T00-00-00.0", mc_acc=0.3, samples=False)
    write_lmeval(out, date="2026-02-01T00-00-00.0", mc_acc=0.5, samples=False)
    rows = read_lmeval(out, models=MODELS)
    assert rows.loc[(rows["task"] == "toy_mc") & (rows["metric"] == "acc"), "accuracy"].tolist() == [0.5]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(lm_eval_version="0.3.0"), r"written by lm-eval 0.3.0; only the 0.4.x layout"),
        (lambda d: d.update(lm_eval_version="1.0.2"), r"written by lm-eval 1.0.2"),
        (lambda d: d["results"].update(toy_mc={"acc": 0.4, "acc_stderr": 0.02}), r"results.toy_mc has metric keys without a filter .*lm-eval 0.3"),
        (lambda d: d.pop("results"), r"not an lm-eval results file"),
        (lambda d: d["results"]["toy_mc"].update({"acc,none": 1.7}), r"results.toy_mc.acc,none: accuracy must be a fraction within \[0, 1\]"),
        (lambda d: d["results"]["toy_mc"].update({"acc,none": "high"}), r"results.toy_mc: acc,none must be a number"),
        (lambda d: d["results"]["toy_mc"].update({"acc,none": None}), r"acc,none must be a number"),
        (lambda d: (d.pop("n-samples"), d["results"]["toy_mc"].pop("sample_len", None)), r"cannot tell how many examples toy_mc used"),
    ],
)  # fmt: skip
def test_bad_lmeval_results_refused(tmp_path, store, mutate, message):
    out = tmp_path / "lmeval-out"
    sub = write_lmeval(out, samples=False)
    path = next(sub.glob("results_*.json"))
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(EmergenceError, match=message) as info:
        ingest(store, out, models=MODELS)
    assert "\n" not in str(info.value)
    assert store.counts()["runs"] == 0


def test_truncated_lmeval_files_refused(tmp_path, store):
    out = tmp_path / "lmeval-out"
    sub = write_lmeval(out)
    samples = next(sub.glob("samples_*.jsonl"))
    samples.write_text(samples.read_text()[:-40])
    with pytest.raises(EmergenceError, match=r"samples_toy_add_.*jsonl: line 500 is not valid JSON"):
        ingest(store, out, models=MODELS)
    path = next(sub.glob("results_*.json"))
    path.write_text(path.read_text()[:1000])
    with pytest.raises(
        EmergenceError, match=r"results_.*\.json: not valid JSON .*\(the file looks truncated\)"
    ):
        ingest(store, out, models=MODELS)
    assert store.counts()["runs"] == 0


def test_models_map_files(tmp_path):
    out = tmp_path / "lmeval-out"
    write_lmeval(out, samples=False)
    csv_map = tmp_path / "models.csv"
    csv_map.write_text(
        "model,checkpoint,pretraining_loss,data_amount,seed\nmodels__ck-3__d256__s1,ck-3,2.8,64,0\n"
    )
    rows = read_lmeval(out, models=csv_map)
    assert set(rows["checkpoint"]) == {"ck-3"} and set(rows["data_amount"].astype(int)) == {64}
    yaml_map = tmp_path / "models.yaml"
    yaml_map.write_text(
        "- model: models/ck-3__d256__s1\n  checkpoint: ck-3\n  pretraining_loss: 2.8\n  lr: 3\n"
    )
    with pytest.raises(EmergenceError, match=r"models map: models/ck-3__d256__s1: unknown field\(s\) lr"):
        read_lmeval(out, models=yaml_map)


# -- tidy CSV ---------------------------------------------------------------------------------------------
