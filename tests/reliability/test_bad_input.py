"""Bad input: each a clear one-line error with nothing half-stored.

Covered elsewhere and not repeated here: malformed and schema-violating spec YAML (tests/test_config.py),
NaN and out-of-range accuracies and lm-eval files of other versions at ingest (tests/test_ingest.py),
truncated and schema-violating forecast JSON (tests/test_forecast.py, tests/test_cli_forecast.py), one
checkpoint or all-at-chance tables in the law engine (tests/law/test_emergence_law.py), and the parsers
and the spec loader under random and mutated files (tests/test_ingest_fuzz.py, tests/test_config_fuzz.py).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence.cli import main
from emergence.config import CheckpointSpec, SweepSpec
from emergence.errors import EmergenceError
from emergence.forecast import read_document
from emergence.harness.sweep import run_sweep
from emergence.ingest import ingest
from emergence.store import Store
from tests.builders import run_cli as _cli
from tests.builders import write_spec
from tests.tables import MODELS, VALID, mutate, mutation, write_lmeval


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- specs and tasks: refused before a store exists --------------------------------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        ("store: s.sqlite\nladder: {toy: {}\ntasks: [t]\n", "not valid YAML at line"),
        ("store: s.sqlite\nladder: {toy: {}}\ntasks: t1, t2\n", "tasks: Input should be a valid list"),
        ("store: s.sqlite\nladder: {toy: {sizes: []}}\ntasks: [t]\n", "ladder.toy.sizes"),
    ],
)
def test_a_malformed_spec_stops_a_sweep_before_a_store_exists(tmp_path, capsys, text, words):
    (tmp_path / "sweep.yaml").write_text(text)
    code, _, err = _cli(capsys, "sweep", tmp_path / "sweep.yaml", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and words in err
    assert _files(tmp_path) == ["sweep.yaml"]


@pytest.fixture
def ladder_yaml(two_checkpoints, tmp_path) -> Path:
    path = tmp_path / "ladder.yaml"
    checkpoints = [
        dict(id=n, path=str(p), pretraining_loss=3.0 - i) for i, (n, p) in enumerate(two_checkpoints)
    ]
    path.write_text(yaml.safe_dump({"checkpoints": checkpoints}))
    return path


def _task_without_train_file(task_yaml: Path, folder: Path) -> Path:
    """A copy of the task whose YAML names a train file that is not there."""
    folder.mkdir()
    path = folder / "gone.yaml"
    text = task_yaml.read_text().replace("task: tiny_mc", "task: tiny_mc_gone")
    path.write_text(text.replace(str(task_yaml.parent / "train.jsonl"), str(folder / "train.jsonl")))
    return path


@pytest.mark.parametrize(
    "task, words",
    [
        pytest.param("no_such_task_xyz", "is not a registered task", marks=pytest.mark.slow),
        ("missing-data", "Unable to find"),
    ],
)  # the unknown name is slow: lm-eval scans its whole task registry (~15 s) before it says no
def test_emergence_run_refuses_a_task_it_cannot_load_before_anything_is_stored(
    tmp_path, capsys, ladder_yaml, task_yaml, task, words
):
    if task == "missing-data":
        task = _task_without_train_file(task_yaml, tmp_path / "task")
    before = _files(tmp_path)
    store = tmp_path / "runs" / "s.sqlite"
    code, _, err = _cli(capsys, "run", task, "--ladder", ladder_yaml, "--store", store, "--no-progress")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: task {task} cannot be loaded (") and words in err
    assert _files(tmp_path) == before  # no store, no forecast


def test_a_sweep_refuses_a_task_it_cannot_load_before_anything_is_stored(
    tmp_path, two_checkpoints, task_yaml
):
    """Issue 19, item 8: a typo or a task with missing data used to leave permanently failed runs."""
    gone = _task_without_train_file(task_yaml, tmp_path / "task")
    for bad in (gone, "foo/bar", "no_such_task_xyz"):
        spec = SweepSpec.from_yaml(write_spec(tmp_path / "spec", two_checkpoints[:1], [task_yaml, bad]))
        with pytest.raises(EmergenceError, match="cannot be loaded") as info:
            run_sweep(spec)
        assert "\n" not in str(info.value) and str(bad) in str(info.value)
        assert not Path(spec.store).exists()


# -- results: NaN and infinite values never land --------------------------------------------------------
CK = CheckpointSpec(id="ck", hub="org/model", revision="r1", pretraining_loss=2.0)
VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "ok": 0.5}


def _job(job) -> dict:
    value = VALUES[job.task]
    rows = [
        dict(metric="prob_correct", value=0.3, n_examples=20),
        dict(metric="acc", value=value, n_examples=20),
    ]
    return dict(run_id=job.run_id, evaluations=rows)


def test_a_job_with_a_nan_or_infinite_result_fails_and_stores_no_row(tmp_path):
    spec = SweepSpec.from_dict(
        dict(store=str(tmp_path / "s.sqlite"), ladder=dict(checkpoints=[CK.model_dump(exclude_none=True)]),
             tasks=list(VALUES), data_amounts=[0, 8])
    )  # fmt: skip
    summary = run_sweep(spec, checkpoints=[CK], job_fn=_job)
    assert (summary.ran, summary.failed) == (2, 6)
    with Store(spec.store) as st:
        failed = st.runs("failed")
        assert set(failed.task) == {"nan", "inf", "-inf"}
        assert failed.error.str.match(
            r"bad evaluation result: run \w+: metric acc has value -?(nan|inf)"
        ).all()
        assert set(st.evaluations().run_id) == set(st.runs("done").run_id)  # not even prob_correct
        assert set(st.results().task) == {"ok"}
    with Store(tmp_path / "s.sqlite") as st, pytest.raises(EmergenceError, match="finite number"):
        st.add_checkpoint("c2", "x", pretraining_loss=math.inf)


def test_lmeval_folder_with_one_file_of_another_version_stores_nothing(tmp_path):
    out = tmp_path / "lmeval-out"
    write_lmeval(out, samples=False)
    write_lmeval(out, model="models/other", samples=False, version="1.0.2")
    with Store(tmp_path / "s.sqlite") as st:
        with pytest.raises(EmergenceError, match="written by lm-eval 1.0.2"):
            ingest(st, out, models=MODELS)
        assert st.counts()["runs"] == 0 and st.counts()["checkpoints"] == 0


# -- forecasts: all or nothing; a degenerate ladder is a clear "no emergence point" ---------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path]:
    """A tidy CSV of simulated results on 8 checkpoints, and a valid forecast JSON made from it."""
    from emergence.dashboards.demo_store import simulated_rows

    folder = tmp_path_factory.mktemp("sim")
    csv = folder / "results.csv"
    simulated_rows(("arith",), seed=1).to_csv(csv, index=False)
    store, doc = folder / "s.sqlite", folder / "doc.json"
    main_args = (
        ["ingest", csv, "--store", store],
        ["forecast", "--store", store, "--n-boot", "0", "--out", doc],
    )
    for args in main_args:
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            assert exc.code in (0, 1)
    return csv, doc


def test_importing_forecasts_is_all_or_nothing(tmp_path, capsys, simulated):
    _, good = simulated
    text = good.read_text()
    truncated, violating = tmp_path / "truncated.json", tmp_path / "violating.json"
    truncated.write_text(text[: len(text) // 2])
    violating.write_text(json.dumps({**json.loads(text), "chance": 1.5}))
    store = tmp_path / "s.sqlite"
    for bad, words in [(truncated, "the file looks truncated"), (violating, "$.chance")]:
        code, _, err = _cli(capsys, "import", good, bad, "--store", store)
        assert code == 2 and err.count("\n") == 1 and words in err and str(bad) in err
    assert not store.exists()  # every file is checked before the store is even opened
    assert _cli(capsys, "import", good, "--store", store)[0] == 0
    with Store(store) as st:
        assert st.counts()["forecasts"] == 1


@pytest.mark.parametrize("how", ["one checkpoint", "no loss variation"])
def test_a_degenerate_ladder_gives_a_clear_no_emergence_point(tmp_path, capsys, simulated, how):
    import pandas as pd

    rows = pd.read_csv(simulated[0])
    if how == "one checkpoint":
        rows = rows[rows.checkpoint == rows.checkpoint.iloc[0]]
    else:
        rows = rows.assign(pretraining_loss=3.0)
    rows.to_csv(tmp_path / "r.csv", index=False)
    store, out = tmp_path / "s.sqlite", tmp_path / "f.json"
    assert _cli(capsys, "ingest", tmp_path / "r.csv", "--store", store)[0] == 0
    code, stdout, _ = _cli(capsys, "forecast", "--store", store, "--n-boot", "0", "--out", out)
    assert code == 1
    assert "no emergence point: the table has 1 checkpoint loss(es); at least 3 distinct" in stdout
    doc = read_document(out)  # a complete, schema-valid document that says why, not a half one
    assert (
        doc["emergence_point"]["status"] == "not_found"
        and "1 checkpoint loss" in doc["emergence_point"]["reason"]
    )


# -- property: a mutated file either lands whole or leaves the store exactly as it was --------------------
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["tidy", "lmeval"]), steps=st.lists(mutation, min_size=1, max_size=3))
def test_ingesting_a_mutated_file_stores_all_of_it_or_nothing(kind, steps):
    text = VALID[kind]
    for step in steps:
        text = mutate(text, *step)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "tidy":
            path = Path(tmp) / "t.csv"
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
        else:
            path = Path(tmp) / "out"
            (path / "m").mkdir(parents=True)
            (path / "m" / "results_2026-01-01T00-00-00.json").write_bytes(
                text.encode("utf-8", "surrogatepass")
            )
        with Store(Path(tmp) / "s.sqlite") as store:
            store.add_checkpoint("keep", "x", pretraining_loss=1.0)
            before = store.counts()
            try:
                options = {"models": {"m": {"pretraining_loss": 3.0}}} if kind == "lmeval" else {}
                summary = ingest(store, path, kind, **options)
            except EmergenceError as exc:
                assert "\n" not in str(exc)
                assert store.counts() == before
            else:
                assert store.counts()["evaluations"] == before["evaluations"] + summary["rows"]
