"""OLMo ladder logs (emergence.ingest.olmo) into the store, all or nothing."""

import json

import pytest

from emergence.errors import EmergenceError
from emergence.ingest import detect_format, ingest, read_olmo
from emergence.ingest.olmo import ACCURACY as OLMO_ACCURACY
from tests.tables import (
    LOSS,
    SIZES,
    olmo_loss,
    write_olmo_ladder,
)


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
    assert row["n_examples"] == 10042  # hellaswag's validation split: the logs do not say
    runs = store.runs()
    assert set(runs["status"]) == {"done"} and set(runs["method"]) == {"ingested"}
    assert row["run_id"].startswith("ingested-")
    # ingesting again adds nothing
    assert ingest(store, folder)["new_runs"] == 0
    assert store.counts()["evaluations"] == 108  # per run: its accuracy, and hellaswag's task loss too
    bpb = store.results("hellaswag_val_rc_5shot", "bpb")
    assert len(bpb) == 36 and (bpb["accuracy"] > 0.5).all()  # bits per byte: a loss, not an accuracy
    assert row["run"] == "370M-2xC"


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
