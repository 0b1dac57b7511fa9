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


def test_one_checkpoint_measured_in_two_files_is_kept_once_or_refused(tmp_path):
    out = tmp_path / "lmeval-out"
    write_lmeval(out, date="2026-01-01T00-00-00.0", mc_acc=0.3, samples=False)
    write_lmeval(out, date="2026-02-01T00-00-00.0", mc_acc=0.3, samples=False)
    rows = read_lmeval(out, models=MODELS)  # the same values twice: one measurement
    assert rows.loc[(rows["task"] == "toy_mc") & (rows["metric"] == "acc"), "accuracy"].tolist() == [0.3]
    write_lmeval(out, date="2026-03-01T00-00-00.0", mc_acc=0.5, samples=False)
    with pytest.raises(
        EmergenceError, match=r"results_2026-01-01T00-00-00.0.json and .* both measure toy_mc"
    ):
        read_lmeval(out, models=MODELS)  # never collapsed silently


def _v03(revision: str, acc: float, stderr: float, shots: int = 0) -> dict:
    """A results file as lm-eval 0.3 wrote Pythia's evals."""
    return {
        "results": {"arc_easy": {"acc": acc, "acc_stderr": stderr, "acc_norm": acc, "acc_norm_stderr": stderr}},
        "versions": {"arc_easy": 0},
        "config": {"model": "hf-causal", "model_args": f"pretrained=EleutherAI/pythia-160m,revision={revision}",
                   "num_fewshot": shots, "batch_size": 32, "limit": None},
    }  # fmt: skip


def test_lmeval_03_files_are_one_checkpoint_per_revision(tmp_path):
    folder = tmp_path / "pythia" / "zero-shot"
    folder.mkdir(parents=True)
    n = 2376  # arc_easy's test split
    for step, acc in (("step1000", 0.3), ("step143000", 0.0), ("step5000", 0.45)):
        se = (acc * (1 - acc) / (n - 1)) ** 0.5
        (folder / f"160m_{step}.json").write_text(json.dumps(_v03(step, acc, se)))
    five = tmp_path / "pythia" / "five-shot"
    five.mkdir()
    (five / "160m-5shot_step5000.json").write_text(json.dumps(_v03("step5000", 0.5, 0.0103, shots=5)))
    (tmp_path / "pythia" / "notes.json").write_text('{"not": "results"}')
    rows = read_lmeval(tmp_path / "pythia")
    zero = rows[rows["task"] == "arc_easy"]
    assert sorted(zero["checkpoint"].unique()) == [
        f"EleutherAI__pythia-160m@step{s}" for s in (1000, 143000, 5000)
    ]
    assert set(zero["run"]) == {"EleutherAI__pythia-160m"} and sorted(zero["step"].unique()) == [
        1000,
        5000,
        143000,
    ]
    assert set(zero["n_examples"]) == {
        n
    }  # from each accuracy's standard error; step143000's 0.0 from the others
    assert set(rows.loc[rows["task"] == "arc_easy_5shot", "checkpoint"]) == {
        "EleutherAI__pythia-160m@step5000"
    }
    assert any("standard error" in note for note in rows.attrs["notes"])
    assert any("1 JSON file(s)" in note for note in rows.attrs["notes"])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(lm_eval_version="1.0.2"), r"written by lm-eval 1.0.2"),
        (lambda d: d["results"].update(toy_mc={"acc": 0.4, "acc_stderr": 0.02}), r"results.toy_mc has metric keys without a filter .*the 0.3 layout"),
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
