"""Ingest: OLMo ladder CSVs, lm-eval 0.4.x folders and tidy CSVs into the store, all or nothing."""

import json

import numpy as np
import pandas as pd
import pytest

from emergence.errors import EmergenceError
from emergence.ingest import detect_format, ingest, read_lmeval, read_olmo, read_tidy, write_tidy
from emergence.ingest.olmo import ACCURACY as OLMO_ACCURACY
from emergence.store import Store

SIZES = {"190M": 190354176, "370M": 371262464, "760M": 758220288}
LOSS = "eval/c4_en-validation/CrossEntropyLoss"
TASKS = {"hellaswag_val_rc_5shot_len_norm": 0.25, "boolq_val_rc_5shot_acc": 0.5}


def olmo_loss(params, tokens):
    """A ladder whose loss follows L = 1.8 + A / N^0.3 + B / T^0.3 (what the params-tokens law recovers)."""
    return 1.8 + 180.0 / params**0.3 + 330.0 / tokens**0.3


OLMO_ELBOW = 2.9  # the ladder spans about 2.45-3.15 nats, so it crosses the elbow


def olmo_accuracy(loss, chance, rng=None):
    p = np.clip(chance + 0.5 * np.maximum(OLMO_ELBOW - loss, 0.0), 0, 1)
    return p if rng is None else rng.binomial(1000, p) / 1000


def write_olmo_ladder(folder, sizes=SIZES, multipliers=(1, 2), steps=6, params_json=True):
    """OLMo ladder logs in the column format of ../shared/data/olmo-ladder: one CSV per run."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for size, n in sizes.items():
        for mult in multipliers:
            total = 20 * n * mult
            rows = []
            for i in range(1, steps + 1):
                tokens = total * i / steps
                loss = olmo_loss(n, tokens)
                row = {
                    "_step": int(i * 1000 * mult),
                    LOSS: loss,
                    "eval/pile-validation/CrossEntropyLoss": loss + 0.3,
                    "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb": loss / 3,
                }
                for column, chance in TASKS.items():
                    row[f"eval/downstream/{column}"] = olmo_accuracy(loss, chance, rng)
                row |= {
                    "throughput/total_tokens": tokens,
                    "throughput/total_training_Gflops": 6 * n * tokens / 1e9,
                    "optim/learning_rate_group0": 1e-4,
                    "learning_rate_peak": 1e-3,
                    "batch_size_in_tokens": 524288,
                }
                rows.append(row)
            pd.DataFrame(rows).to_csv(folder / f"{size}-{mult}xC.csv", index=False)
    if params_json:
        (folder / "params.json").write_text(json.dumps(sizes))
    return folder


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        yield st


def test_olmo_ladder_ingests_as_fewshot_runs(tmp_path, store):
    folder = write_olmo_ladder(tmp_path / "ladder")
    assert detect_format(folder) == "olmo"
    summary = ingest(store, folder)
    # 3 sizes x 2 runs x 6 steps, minus warm-up (steps below 10% of the last): none here; 2 tasks each
    assert summary["checkpoints"] == 36 and summary["runs"] == 72 and summary["new_runs"] == 72
    assert summary["tasks"] == ["boolq_val_rc_5shot", "hellaswag_val_rc_5shot"]
    results = store.results("hellaswag_val_rc_5shot", "len_norm")
    assert len(results) == 36 and (results["data_amount"] == 0).all()
    row = results[results["checkpoint"] == "370M-2xC@12000"].iloc[0]
    assert row["params"] == SIZES["370M"] and row["family"] == "370M"
    assert row["tokens"] == pytest.approx(20 * SIZES["370M"] * 2)
    assert row["flops"] == pytest.approx(6 * SIZES["370M"] * row["tokens"])
    assert row["pretraining_loss"] == pytest.approx(olmo_loss(row["params"], row["tokens"]))
    assert row["n_examples"] == 1000
    runs = store.runs()
    assert set(runs["status"]) == {"done"} and set(runs["method"]) == {"ingested"}
    assert row["run_id"].startswith("ingested-")
    # ingesting again adds nothing
    assert ingest(store, folder)["new_runs"] == 0
    assert store.counts()["evaluations"] == 72


def test_olmo_warmup_skipped_and_options(tmp_path, store):
    folder = write_olmo_ladder(tmp_path / "ladder", sizes={"190M": SIZES["190M"]}, multipliers=(1,), steps=20)
    rows = read_olmo(folder, warmup_fraction=0.1, n_examples={"boolq_val_rc_5shot": 3270})
    assert rows["step"].min() == 2000  # 1000 < 10% of 20000
    assert set(rows.loc[rows["task"] == "boolq_val_rc_5shot", "n_examples"]) == {3270}
    assert set(rows.loc[rows["task"] == "hellaswag_val_rc_5shot", "n_examples"]) == {1000}
    only = read_olmo(folder, tasks=["boolq_val_rc_5shot"], params_map={"190M": 1.9e8})
    assert set(only["task"]) == {"boolq_val_rc_5shot"} and set(only["params"]) == {1.9e8}
    with pytest.raises(EmergenceError, match="does not apply to the olmo format"):
        ingest(store, folder, models={"x": {}})


def test_olmo_accuracy_columns():
    assert (
        OLMO_ACCURACY.match("eval/downstream/arc_easy_val_rc_5shot_len_norm")["task"]
        == "arc_easy_val_rc_5shot"
    )
    assert OLMO_ACCURACY.match("eval/downstream/boolq_val_rc_5shot_acc")["metric"] == "acc"
    assert OLMO_ACCURACY.match("eval/downstream_bpb/boolq_val_rc_5shot_bpb") is None


def _corrupt(path, how):
    text = path.read_text()
    lines = text.splitlines()
    if how == "nan":
        header = lines[0].split(",")
        col = header.index("eval/downstream/boolq_val_rc_5shot_acc")
        cells = lines[3].split(",")
        cells[col] = "nan"
        lines[3] = ",".join(cells)
    elif how == "percent":
        header = lines[0].split(",")
        col = header.index("eval/downstream/boolq_val_rc_5shot_acc")
        cells = lines[3].split(",")
        cells[col] = "57.3"
        lines[3] = ",".join(cells)
    elif how == "truncated":
        path.write_text(text[: len(text) - len(lines[-1]) // 2 - 1])
        return
    elif how == "no_loss":
        header = lines[0].split(",")
        header[header.index(LOSS)] = "eval/c4/Loss"
        lines[0] = ",".join(header)
    elif how == "text":
        header = lines[0].split(",")
        col = header.index("throughput/total_tokens")
        cells = lines[2].split(",")
        cells[col] = "lots"
        lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "how, message",
    [
        (
            "nan",
            r"370M-2xC.csv: line 4: eval/downstream/boolq_val_rc_5shot_acc is not a finite number \(got 'nan'\)",
        ),
        (
            "percent",
            r"370M-2xC.csv: line 4 \(eval/downstream/boolq_val_rc_5shot_acc\): accuracy must be a fraction within",
        ),
        ("truncated", r"370M-2xC.csv: line 7 has \d+ cells, the header \d+ \(truncated file\?\)"),
        ("no_loss", r"370M-2xC.csv: not an OLMo ladder CSV: missing column\(s\) eval/c4_en-validation"),
        ("text", r"370M-2xC.csv: line 3: throughput/total_tokens is not a number \(got 'lots'\)"),
    ],
)
def test_bad_olmo_files_store_nothing(tmp_path, store, how, message):
    folder = write_olmo_ladder(tmp_path / "ladder")
    _corrupt(folder / "370M-2xC.csv", how)
    with pytest.raises(EmergenceError, match=message):
        ingest(store, folder)
    assert store.counts()["runs"] == 0 and store.counts()["checkpoints"] == 0


def test_olmo_size_missing_from_params_map(tmp_path, store):
    folder = write_olmo_ladder(tmp_path / "ladder", params_json=False)
    (folder / "sizes.json").write_text(json.dumps({"190M": 1.9e8}))
    with pytest.raises(EmergenceError, match="size '370M' is not in the params map"):
        ingest(store, folder, params_map=folder / "sizes.json")
    # without any map, params stay unknown (the compute law still works from FLOPs)
    ingest(store, folder)
    assert store.results()["params"].isna().all()


# -- lm-eval 0.4.x ------------------------------------------------------------------------------------------
def lmeval_results(model="models/ck-3__d256__s1", mc_acc=0.41, version="0.4.13", extra=None):
    """A results_<date>.json as lm-eval 0.4.x writes it (abridged to the keys it always has)."""
    doc = {
        "results": {
            "toy_mc": {
                "alias": "toy_mc",
                "acc,none": mc_acc,
                "acc_stderr,none": 0.022,
                "acc_norm,none": 0.44,
                "acc_norm_stderr,none": 0.0222,
            },
            "toy_add": {
                "alias": "toy_add",
                "exact_match,strict-match": 0.12,
                "exact_match_stderr,strict-match": "N/A",
                "exact_match,flexible-extract": 0.15,
                "exact_match_stderr,flexible-extract": "N/A",
            },
            "toy_ppl": {"alias": "toy_ppl", "word_perplexity,none": 35.2, "bits_per_byte,none": 1.2},
            "toy_group": {"alias": "toy_group", "acc,none": 0.3, "acc_stderr,none": 0.01},
        },
        "groups": {"toy_group": {"alias": "toy_group", "acc,none": 0.3}},
        "group_subtasks": {"toy_group": ["toy_mc"], "toy_add": [], "toy_ppl": []},
        "configs": {"toy_mc": {"task": "toy_mc", "output_type": "multiple_choice", "num_fewshot": 0}},
        "versions": {"toy_mc": 1.0, "toy_add": 1.0, "toy_ppl": 1.0},
        "n-shot": {"toy_mc": 0, "toy_add": 0, "toy_ppl": 0},
        "higher_is_better": {"toy_mc": {"acc": True, "acc_norm": True}, "toy_add": {"exact_match": True}},
        "n-samples": {
            "toy_mc": {"original": 500, "effective": 400},
            "toy_add": {"original": 300, "effective": 300},
            "toy_ppl": {"original": 50, "effective": 50},
        },
        "config": {
            "model": "hf",
            "model_args": f"pretrained={model},dtype=float32",
            "model_num_parameters": 840000,
            "batch_size": 32,
            "limit": 400.0,
            "bootstrap_iters": 0,
        },
        "git_hash": None,
        "date": 1732400000.0,
        "pretty_env_info": "N/A",
        "transformers_version": "5.23.0",
        "lm_eval_version": version,
        "upper_git_hash": None,
        "task_hashes": {},
        "model_source": "hf",
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "start_time": 1.0,
        "end_time": 2.0,
        "total_evaluation_time_seconds": "1.0",
    }
    doc.update(extra or {})
    return doc


def write_lmeval(
    folder, model="models/ck-3__d256__s1", date="2026-11-24T06-00-00.000001", samples=True, **kw
):
    sub = folder / model.replace("/", "__")
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"results_{date}.json").write_text(json.dumps(lmeval_results(model, **kw), indent=2))
    if samples:
        with open(sub / f"samples_toy_add_{date}.jsonl", "w") as f:
            for i in range(250):
                for filt in ("strict-match", "flexible-extract"):
                    sample = {"doc_id": i, "doc": {"q": f"{i}+1="}, "target": str(i + 1), "arguments": {},
                              "resps": [["x"]], "filtered_resps": ["x"], "filter": filt,
                              "metrics": ["exact_match"], "doc_hash": "h", "prompt_hash": "p",
                              "target_hash": "t", "exact_match": 0.0}  # fmt: skip
                    f.write(json.dumps(sample) + "\n")
    return sub


MODELS = {
    "models/ck-3__d256__s1": {
        "checkpoint": "ck-3",
        "pretraining_loss": 2.8,
        "params": 4.7e6,
        "tokens": 2e8,
        "data_amount": 256,
        "seed": 1,
    }
}


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
def test_tidy_round_trip(tmp_path, store):
    ingest(store, write_olmo_ladder(tmp_path / "ladder"))
    before = store.results()
    path = write_tidy(before, tmp_path / "results.csv")
    assert detect_format(path) == "tidy"
    with Store(tmp_path / "other.sqlite") as other:
        summary = ingest(other, path)
        after = other.results()
    assert summary["runs"] == 72
    columns = ["task", "metric", "checkpoint", "pretraining_loss", "params", "tokens", "flops", "data_amount",
               "seed", "accuracy", "n_examples", "run_id"]  # fmt: skip
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_each_cell_fits_its_newest_run_whether_swept_or_ingested(tmp_path, store):
    csv = tmp_path / "t.csv"
    row = "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\n"
    csv.write_text(row + "t,acc,ck,2.0,64,0,0.50,100\n")

    def sweep_run(run_id, value):
        store.add_runs([dict(run_id=run_id, checkpoint_id="ck", task="t", data_amount=64, seed=0,
                             method="full", spec={"lr": run_id})])  # fmt: skip
        store.claim_run(run_id, "w")
        store.finish_run(run_id, [dict(metric="acc", value=value, n_examples=100, stderr=0.05)])

    ingest(store, csv)
    sweep_run("swept", 0.70)  # newer than the ingest
    assert store.results()["accuracy"].tolist() == [0.70]
    ingest(store, csv)  # ingested again: now the newest measurement of the cell, every one kept
    assert store.results()["accuracy"].tolist() == [0.50]
    assert sorted(store.results(superseded=True)["accuracy"]) == [0.50, 0.50, 0.70]
    assert ingest(store, csv)["new_runs"] == 0  # the cell's newest measurement already has these values
    assert store.counts()["runs_superseded"] == 2


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.drop(columns="n_examples"), r"missing column\(s\) n_examples"),
        (lambda t: t.assign(accuracy=[np.nan] + [0.3] * (len(t) - 1)), r"line 2: accuracy is missing"),
        (lambda t: t.assign(accuracy=[41.0] + [0.3] * (len(t) - 1)), r"line 2: accuracy must be a fraction within \[0, 1\]"),
        (lambda t: t.assign(n_examples=0), r"line 2: n_examples must be a whole number >= 1"),
        (lambda t: t.assign(data_amount=-64), r"line 2: data_amount must be a whole number >= 0"),
        (lambda t: t.assign(pretraining_loss=-1.0), r"line 2: pretraining_loss must be a positive number of nats"),
        (lambda t: t.assign(seed=0.5), r"line 2: seed must be a whole number"),
        (lambda t: pd.concat([t, t.iloc[:1]]), r"two rows for the same run and metric"),
        (lambda t: t.assign(pretraining_loss=[2.0] + [3.0] * (len(t) - 1), checkpoint="c"), r"two rows|different values of pretraining_loss"),
    ],
)  # fmt: skip
def test_bad_tidy_refused(tmp_path, store, edit, message):
    table = pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "checkpoint": [f"c{i}" for i in range(4)],
            "pretraining_loss": 3.0,
            "data_amount": 0,
            "seed": 0,
            "accuracy": 0.3,
            "n_examples": 100,
        }  # fmt: skip
    )
    path = tmp_path / "bad.csv"
    edit(table).to_csv(path, index=False)
    with pytest.raises(EmergenceError, match=message):
        ingest(store, path, "tidy")
    assert store.counts()["runs"] == 0


def test_tidy_checkpoint_with_two_losses_refused(tmp_path, store):
    path = tmp_path / "t.csv"
    path.write_text(
        "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\n"
        "t,acc,c,3.0,0,0,0.3,100\nt,acc,c,2.9,64,0,0.3,100\n"
    )
    with pytest.raises(EmergenceError, match="checkpoint c has different values of pretraining_loss"):
        read_tidy(path) if False else ingest(store, path)


@pytest.mark.parametrize("content", ["", "\n", "a,b\n1,2\n", "task,metric\n\x00\x01", "\xff\xfe"])
def test_unreadable_files(tmp_path, store, content):
    path = tmp_path / "x.csv"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(EmergenceError):
        ingest(store, path, "tidy")


def test_unknown_paths_and_formats(tmp_path, store):
    with pytest.raises(EmergenceError, match="no such file or folder"):
        ingest(store, tmp_path / "nope")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(EmergenceError, match="give --format"):
        ingest(store, tmp_path / "x.parquet")
    with pytest.raises(EmergenceError, match="unknown format"):
        ingest(store, tmp_path / "x.parquet", "parquet")
