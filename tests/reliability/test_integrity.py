"""Data integrity: what is stored stays as stored; reading never writes; no work is left stuck.

One test per finding of issue 19 (its numbers in the names), each through the CLI as a user meets it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from emergence.store import Store
from tests.builders import ROOT, write_spec
from tests.builders import run_cli as cli

SHIPPED = ROOT / "data" / "demo" / "store.sqlite"
HEADER = "task,metric,checkpoint,pretraining_loss,data_amount,seed,accuracy,n_examples\n"


@pytest.fixture
def shipped_copy(tmp_path) -> Path:
    copy = tmp_path / "c2.sqlite"
    shutil.copy(SHIPPED, copy)
    return copy


def _loss(store: Path, checkpoint: str) -> float:
    with Store(store, read_only=True) as st:
        return float(st.checkpoints().set_index("checkpoint_id").loc[checkpoint, "pretraining_loss"])


def test_1_an_ingest_never_rewrites_a_checkpoint_silently(tmp_path, capsys, shipped_copy):
    csv = tmp_path / "c.csv"
    csv.write_text(HEADER + "unrelated_task,acc,toy-s0-m-step000500,1.6,0,0,0.5,100\n")
    before = _loss(shipped_copy, "toy-s0-m-step000500")
    code, _, err = cli(capsys, "ingest", csv, "--store", shipped_copy)
    assert code == 2 and err.count("\n") == 1
    assert "toy-s0-m-step000500" in err and f"{before:.6g}" in err and "1.6" in err
    assert _loss(shipped_copy, "toy-s0-m-step000500") == before
    with Store(shipped_copy, read_only=True) as st:
        assert "unrelated_task" not in set(st.results()["task"])  # nothing of the refused file landed
    # asked for explicitly: the new value counts, the old one is kept as history
    code, out, _ = cli(capsys, "ingest", csv, "--store", shipped_copy, "--replace-checkpoints")
    assert code == 0 and "1 replaced" in out
    assert _loss(shipped_copy, "toy-s0-m-step000500") == 1.6
    with Store(shipped_copy, read_only=True) as st:
        history = st.checkpoint_history()
    assert history["pretraining_loss"].tolist() == [before] and history["checkpoint_id"].tolist() == [
        "toy-s0-m-step000500"
    ]


def test_2_a_new_forecast_or_an_import_never_replaces_a_stored_one(tmp_path, capsys, shipped_copy):
    with Store(shipped_copy, read_only=True) as st:
        shipped = st.forecasts()
        computed = st.forecasts(current=True).set_index("task").loc["toy_sum_qa", "document"]
    code, _, _ = cli(capsys, "forecast", "--task", "toy_sum_qa", "--link", "relu", "--n-boot", "0",
                     "--no-backtest", "--store", shipped_copy)  # fmt: skip
    assert code in (0, 1)
    with Store(shipped_copy, read_only=True) as st:
        after = st.forecasts()
        current = st.forecasts(current=True).set_index("task").loc["toy_sum_qa", "document"]
    assert len(after) == len(shipped) + 1 and computed in after["document"].tolist()  # the old one kept
    assert current["law"]["link"] == "relu"  # the newest computed one is shown
    spoof = json.loads(json.dumps(current))
    spoof["emergence_point"]["flops"] = {"estimate": 1e30, "lower": 1e29, "upper": 1e31}
    path = tmp_path / "spoof.json"
    path.write_text(json.dumps(spoof))
    code, out, _ = cli(capsys, "import", path, "--store", shipped_copy)
    assert code == 0 and "marked imported" in out
    code, _, _ = cli(capsys, "export", "--task", "toy_sum_qa", "--out", tmp_path / "out.json", "--store",
                     shipped_copy)  # fmt: skip
    assert code == 0
    exported = json.loads((tmp_path / "out.json").read_text())
    assert exported["emergence_point"]["flops"] == current["emergence_point"]["flops"]
    with Store(shipped_copy, read_only=True) as st:
        assert st.counts()["forecasts_imported"] == 1 and len(st.forecasts()) == len(shipped) + 2


def test_2_the_dashboard_never_imports_into_the_shipped_store(restore_main_module):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=120)
    at.session_state["store_path"] = str(SHIPPED)
    at.run()
    at.switch_page("views/import_export.py").run()
    at.radio(key="upload_kind").set_value("Tidy results CSV").run()
    uploader = next(u for u in at.get("file_uploader") if u.label == "Files")
    uploader.set_value(("r.csv", (HEADER + "t,acc,new,2.0,0,0,0.5,100\n").encode(), "text/csv")).run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "upload_import"]
    assert any("shipped demo store is read-only" in w.value for w in at.warning)


def test_3_a_corrected_ingest_is_a_new_measurement_and_the_old_one_stays(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    for value in ("0.30", "0.90"):
        csv = tmp_path / f"{value}.csv"
        csv.write_text(HEADER + f"t,acc,ck,2.0,64,0,{value},100\n")
        code, out, _ = cli(capsys, "ingest", csv, "--store", store)
        assert code == 0
    assert "1 supersede earlier measurements" in out
    with Store(store, read_only=True) as st:
        assert st.results()["accuracy"].tolist() == [0.90]
        assert sorted(st.results(superseded=True)["accuracy"]) == [0.30, 0.90]
        assert st.counts()["runs_superseded"] == 1


def test_4_claims_of_a_dead_sweep_on_another_host_are_released(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with Store(store) as st:
        st.add_checkpoint("ck", "x", pretraining_loss=2.0)
        st.add_runs([dict(run_id=f"r{i}", checkpoint_id="ck", task="t", data_amount=i, seed=0, method="full",
                          spec={}) for i in range(3)])  # fmt: skip
        assert st.claim_run("r0", "another-host:123") and st.claim_run("r1", "live-host:7")
    with sqlite3.connect(store) as conn:  # the other host's sweep died an hour ago; live-host beats on
        conn.execute(
            "UPDATE runs SET heartbeat_at=?, started_at=? WHERE run_id='r0'", (time.time() - 3600,) * 2
        )
    code, out, _ = cli(capsys, "store", "release", "--store", store)
    assert code == 0 and "released 1 job(s) of another-host:123: no heartbeat for 60 min" in out
    assert "left 1 job(s) of live-host:7: alive" in out
    code, out, _ = cli(capsys, "store", "release", "--store", store, "--worker", "live-host:7")
    assert code == 0 and "released 1 job(s) of live-host:7: released as asked" in out
    with Store(store, read_only=True) as st:
        assert set(st.runs()["status"]) == {"pending"}


def test_4_a_sweep_blocked_by_claims_says_how_to_release_them(tmp_path, two_checkpoints, task_yaml):
    from emergence.config import SweepSpec
    from emergence.harness.sweep import run_sweep

    spec = SweepSpec.from_yaml(write_spec(tmp_path, two_checkpoints[:1], [task_yaml], data_amounts=(0,)))
    run_sweep(spec, job_fn=lambda job: {"evaluations": []})  # registers the job
    with Store(spec.store) as st:
        run_id = st.runs()["run_id"].iloc[0]
    with sqlite3.connect(spec.store) as conn:  # as if a live sweep elsewhere held it
        conn.execute("UPDATE runs SET status='running', worker='elsewhere:1', started_at=?, heartbeat_at=? "
                     "WHERE run_id=?", (time.time(), time.time(), run_id))  # fmt: skip
    summary = run_sweep(spec, job_fn=lambda job: {"evaluations": []})
    assert f"`emergence store release --store {spec.store}`" in summary.message()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_5_workers_end_with_a_killed_sweep(tmp_path, two_checkpoints, task_yaml):
    spec = write_spec(tmp_path, two_checkpoints, [task_yaml], data_amounts=(0, 8, 16, 24, 32))
    sweep = subprocess.Popen(
        [sys.executable, "-m", "emergence.cli", "sweep", str(spec), "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 120
    workers: list[psutil.Process] = []
    while time.time() < deadline and len(workers) < 2:
        workers = [p for p in _children(sweep.pid) if "resource_tracker" not in " ".join(p.cmdline())]
        time.sleep(0.2)
    assert len(workers) >= 2, "the sweep did not start its workers"
    everything = _children(sweep.pid)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    gone, alive = psutil.wait_procs(everything, timeout=20)
    assert alive == [], [p.cmdline() for p in alive]


@pytest.mark.parametrize("command", [["store", "info"], ["export", "--out", "x.json"], ["backtest"],
                                     ["forecast", "--n-boot", "0"], ["fit", "--n-boot", "0"]])  # fmt: skip
def test_6_reading_never_creates_a_store_or_its_folders(tmp_path, capsys, command):
    path = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    code, _, err = cli(capsys, *command, "--store", path)
    assert code == 2 and err.count("\n") == 1 and f"no store at {path}" in err
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("command", [["store", "info"], ["export", "--out", "x.json"], ["backtest"],
                                     ["forecast", "--n-boot", "0"], ["ingest", "r.csv"]])  # fmt: skip
def test_6_another_applications_sqlite_file_is_refused_unchanged(tmp_path, capsys, command):
    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    before = other.read_bytes()
    (tmp_path / "r.csv").write_text(HEADER + "t,acc,ck,2.0,0,0,0.5,100\n")
    os.chdir(tmp_path)
    code, _, err = cli(capsys, *command, "--store", other)
    assert code == 2 and f"{other} is an SQLite file but not an emergence store" in err
    assert other.read_bytes() == before and not list(tmp_path.glob("app.sqlite-*"))


def test_6_a_refused_ingest_leaves_no_store_behind(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + "t,acc,ck,2.0,0,0,1.5,100\n")
    code, _, err = cli(capsys, "ingest", csv, "--store", tmp_path / "new" / "s.sqlite")
    assert code == 2 and "accuracy" in err
    assert not (tmp_path / "new").exists()


def test_6_reading_the_shipped_store_writes_nothing_next_to_it(capsys, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in SHIPPED.parent.iterdir()}
    for command in (["store", "info"], ["backtest", "--task", "toy_sum_qa", "--n-boot", "0"],
                    ["export", "--out", tmp_path / "o"]):  # fmt: skip
        code, _, _ = cli(capsys, *command, "--store", SHIPPED)
        assert code in (0, 1)
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED.parent.iterdir()} == before


@pytest.mark.parametrize(
    "extra, words",
    [
        ("finetune: {epochs: .inf}\n", "finetune.epochs"),
        ("data_amounts: [0, 123456789012345678901234567890123456]\n", "data_amounts.1"),
        ("seeds: [123456789012345678901234567890]\n", "seeds.0"),
        ("tasks: [t2]\n", "key 'tasks' appears twice"),
    ],
)
def test_7_spec_values_out_of_range_and_duplicate_keys_are_refused(tmp_path, capsys, extra, words):
    path = tmp_path / "sweep.yaml"
    path.write_text(f"store: {tmp_path / 's.sqlite'}\nladder: {{toy: {{}}}}\ntasks: [t]\n{extra}")
    for command in (["spec", "check", path], ["sweep", path, "--no-progress"]):
        code, _, err = cli(capsys, *command)
        assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "s.sqlite").exists()


def test_7_a_binary_spec_file_is_one_line_naming_it(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    code, _, err = cli(capsys, "spec", "check", path)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_8_a_sweep_refuses_an_unknown_task_before_anything_is_stored(
    tmp_path, capsys, two_checkpoints, task_yaml
):
    spec = write_spec(tmp_path, two_checkpoints[:1], [task_yaml, "foo/bar"])
    code, _, err = cli(capsys, "sweep", spec, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "task foo/bar cannot be loaded" in err
    assert not (tmp_path / "store.sqlite").exists()


def test_9_a_store_of_one_task_needs_no_task_option(tmp_path, capsys):
    csv = tmp_path / "r.csv"
    csv.write_text(
        HEADER + "toy_sum_choice,acc,ck,2.0,0,0,0.5,100\ntoy_sum_choice,prob_correct,ck,2.0,0,0,0.4,100\n"
    )
    cli(capsys, "ingest", csv, "--store", tmp_path / "s.sqlite")
    code, out, err = cli(capsys, "backtest", "--store", tmp_path / "s.sqlite")
    assert "several tasks" not in err and out.startswith("toy_sum_choice/acc:")


def test_10_export_onto_an_existing_file_says_what_to_do(tmp_path, capsys):
    for name in ("z", "z.json"):
        target = tmp_path / name
        target.write_text("mine")
        code, _, err = cli(capsys, "export", "--task", "toy_sum_qa", "--out", target, "--store", SHIPPED)
        assert code == 2 and f"{target} exists; choose another path, or pass --overwrite" in err
        assert target.read_text() == "mine"
        code, _, _ = cli(capsys, "export", "--task", "toy_sum_qa", "--out", target, "--store", SHIPPED,
                         "--overwrite")  # fmt: skip
        assert code == 0 and json.loads(target.read_text())["task"] == "toy_sum_qa"


def test_10_reduced_and_micro_together_are_refused(tmp_path, capsys):
    code, _, err = cli(capsys, "ladder", "build", "--toy", "--reduced", "--micro", "--out", tmp_path / "l",
                       "--store", tmp_path / "s.sqlite")  # fmt: skip
    assert code == 2 and "--reduced and --micro" in err and not (tmp_path / "l").exists()


def test_a_retrained_ladder_is_refused_and_then_replaced_only_when_asked(tmp_path, capsys):
    out, first, store = tmp_path / "ladder", tmp_path / "first.sqlite", tmp_path / "s.sqlite"
    args = ("ladder", "build", "--toy", "--micro", "--out", out, "--no-progress", "--store")
    assert cli(capsys, *args, first)[0] == 0
    early, last = (f"toy-s0-micro-step{step:06d}" for step in (12, 24))
    built = _loss(first, last)
    with Store(store) as st:  # the store knows the last checkpoint from an earlier training of this folder
        st.add_checkpoint(last, f"toy-ladder:micro/step-{24:06d}", pretraining_loss=built + 0.25)
    before = store.read_bytes()
    code, _, err = cli(capsys, *args, store)
    assert code == 2 and f"checkpoint {last} is stored with pretraining_loss" in err
    assert "ladder build --replace-checkpoints" in err
    assert store.read_bytes() == before  # the early checkpoint, new to the store, is not added either
    assert cli(capsys, *args, store, "--replace-checkpoints")[0] == 0
    with Store(store, read_only=True) as st:
        assert set(st.checkpoints()["checkpoint_id"]) == {early, last}
        history = st.checkpoint_history()
    assert _loss(store, last) == pytest.approx(built)
    assert history["checkpoint_id"].tolist() == [last]
    assert history["pretraining_loss"].iloc[0] == pytest.approx(built + 0.25)
    assert "retrained" in history["reason"].iloc[0]


def test_a_ladder_with_a_diverged_checkpoint_is_refused_whole(tmp_path, capsys):
    out, store = tmp_path / "ladder", tmp_path / "s.sqlite"
    args = ("ladder", "build", "--toy", "--micro", "--out", out, "--no-progress", "--store", store)
    assert cli(capsys, *args)[0] == 0
    record = out / "micro" / f"step-{24:06d}" / "checkpoint.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "pretraining_loss": float("nan")}))
    before = store.read_bytes()
    code, _, err = cli(capsys, *args, "--replace-checkpoints")
    assert (
        code == 2 and f"checkpoint toy-s0-micro-step{24:06d}: pretraining_loss must be a finite number" in err
    )
    assert store.read_bytes() == before


def test_10_the_shipped_store_names_no_machines_paths():
    with Store(SHIPPED, read_only=True) as st:
        sources = st.checkpoints()["source"]
    relative = sources.str.match(r"^(toy|knowledge)-ladder:[a-z]+/step-\d{6}$")
    assert relative.all(), sources[~relative].tolist()


def test_10_names_that_start_a_formula_are_escaped_in_csv_and_read_back(tmp_path, capsys):
    csv = tmp_path / "r.csv"
    csv.write_text(HEADER + '"=HYPERLINK(""http://x"")",acc,-ck,2.0,0,0,0.5,100\n')
    assert cli(capsys, "ingest", csv, "--store", tmp_path / "s.sqlite")[0] == 0
    with Store(tmp_path / "s.sqlite") as st:
        st.add_forecast(json.loads((ROOT / "data/demo/forecasts/toy_sum_qa__exact_match.json").read_text()))
    code, _, _ = cli(capsys, "export", "--out", tmp_path / "f", "--results", tmp_path / "out.csv", "--store",
                     tmp_path / "s.sqlite")  # fmt: skip
    assert code == 0
    text = (tmp_path / "out.csv").read_text()
    assert "\n\"'=HYPERLINK" in text and ",'-ck," in text  # a spreadsheet shows them as text
    code, out, _ = cli(capsys, "ingest", tmp_path / "out.csv", "--store", tmp_path / "s.sqlite")
    assert code == 0 and "(0 new" in out.split("runs")[1]  # the same cell, the same values: read back exactly
