"""`emergence plan` as a user runs it: a table, JSON, a spec `emergence sweep` accepts, one-line refusals."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from emergence.config import SweepSpec

LOSSES = np.linspace(3.3, 2.7, 6)


@pytest.fixture
def planned_store(tmp_path, run):
    """A store with six checkpoints' few-shot results, all at chance (the tidy CSV format)."""
    table = pd.DataFrame([{"task": "t", "metric": "acc", "checkpoint": f"c{i}", "pretraining_loss": v,
                           "data_amount": 0, "seed": 0, "accuracy": 0.25 + 0.01 * (i % 2), "n_examples": 400,
                           "params": 1e6 * (i + 1), "tokens": 1e9} for i, v in enumerate(LOSSES)])  # fmt: skip
    table.to_csv(tmp_path / "fewshot.csv", index=False)
    path = tmp_path / "s.sqlite"
    assert run("ingest", tmp_path / "fewshot.csv", "--store", path)[0] == 0
    spec = {"store": "s.sqlite", "tasks": ["t"], "data_amounts": [0, 1024],
            "ladder": {"checkpoints": [{"id": f"c{i}", "hub": f"o/m{i}", "pretraining_loss": float(v)}
                                       for i, v in enumerate(LOSSES)]}}  # fmt: skip
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def test_plan_prints_runs_and_the_default_grid(planned_store, run):
    code, out, _ = run("plan", "--store", planned_store / "s.sqlite", "--runs", 18, "--chance", 0.25)
    assert code == 0
    assert (
        "expected 90% interval of the few-shot elbow" in out and "the default grid at the same budget" in out
    )


def test_plan_json_lists_runs_and_the_expected_interval(planned_store, run):
    code, out, _ = run("plan", planned_store / "spec.yaml", "--flops", 1e13, "--chance", 0.25, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["unit"] == "FLOPs" and doc["cost"] <= 1e13
    assert {"checkpoint", "data_amount", "seed"} <= set(doc["runs"][0])
    assert max(r["data_amount"] for r in doc["runs"]) <= 1024  # the spec's largest amount
    assert 0 < doc["expected_interval_half_width_nats"] < doc["current_interval_half_width_nats"]


def test_plan_writes_a_spec_the_sweep_accepts(planned_store, run, tmp_path):
    out = tmp_path / "plans" / "next.yaml"
    out.parent.mkdir()
    code, _, err = run("plan", planned_store / "spec.yaml", "--runs", 18, "--chance", 0.25, "--out", out)
    assert code == 0, err
    spec = SweepSpec.from_yaml(out)
    assert spec.store.resolve() == (planned_store / "s.sqlite").resolve()
    assert sum(r.data_amount > 0 for r in spec.runs) == 18


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--runs", 4, "--flops", 1e12), "give one budget"),
        (("--flops", 1.0), "smaller than the cheapest run"),
        (("--runs", 4, "--out", "x.yaml"), "give the spec to start from"),
        (("--runs", 12), "needs finetuned runs at 3 data amounts"),
    ],
)
def test_bad_plans_get_one_line(planned_store, run, args, message):
    code, _, err = run("plan", "--store", planned_store / "s.sqlite", "--chance", 0.25, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
