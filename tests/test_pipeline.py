"""`emergence run`'s pipeline: sweep -> fit -> backtest -> forecast -> JSON, with a stand-in for training."""

import zlib

import numpy as np
import pytest
import yaml

from emergence.config import CheckpointSpec
from emergence.forecast import Budget, FitOptions, read_document
from emergence.law.simulate import draw_law
from emergence.pipeline import default_out, run_pipeline

LAW = draw_law(np.random.default_rng(1))
LOSSES = {f"ck{i}": loss for i, loss in enumerate(sorted(LAW.losses, reverse=True))}


def simulated_job(job) -> dict:
    """Stands in for finetune + evaluate: accuracy from a known emergence law, with binomial noise."""
    loss = LOSSES[job.checkpoint_id]
    p = float(LAW.accuracy(np.array([loss]), np.array([job.data_amount]))[0])
    rng = np.random.default_rng(zlib.crc32(job.run_id.encode()))
    value = rng.binomial(500, p) / 500
    return dict(run_id=job.run_id, evaluations=[dict(metric="acc", value=value, n_examples=500)])


def ladder(tmp_path):
    checkpoints = [
        CheckpointSpec(
            id=f"ck{i}",
            hub="org/ladder",
            revision=f"step{i}",
            pretraining_loss=loss,
            params=1e6 * 2**i,
            tokens=2e7 * 2**i,
        )  # fmt: skip
        for i, loss in enumerate(LOSSES.values())
    ]
    path = tmp_path / "ladder.yaml"
    path.write_text(
        yaml.safe_dump({"checkpoints": [c.model_dump(mode="json", exclude_none=True) for c in checkpoints]})
    )
    return path, checkpoints


def test_run_pipeline_writes_a_schema_valid_forecast(tmp_path):
    path, checkpoints = ladder(tmp_path)
    steps = []
    store = tmp_path / "runs" / "s.sqlite"
    doc, summary, out = run_pipeline(
        "toy_sum", path, store=store, budgets=[Budget(flops=1e17)], data_amounts=(0, 64, 256, 1024, 4096),
        options=FitOptions(n_boot=0, d0_values=()), progress=False, checkpoints=checkpoints,
        job_fn=simulated_job, on_step=steps.append, command="emergence run toy_sum",
    )  # fmt: skip
    assert steps == ["sweep", "forecast", "export"]
    assert summary.ran == 40 and summary.failed == 0
    assert out == default_out(store, "toy_sum", "acc") and read_document(out) == doc
    assert doc["task"] == "toy_sum" and doc["metric"] == "acc"
    assert doc["emergence_point"]["status"] == "found"
    assert abs(doc["emergence_point"]["loss"]["estimate"] - LAW.elbow_d0) < 0.15
    assert doc["backtest"]["status"] in ("done", "skipped")
    assert len(doc["provenance"]["run_ids"]) == 40
    # a second call runs no job again and gives the same forecast
    again, summary2, _ = run_pipeline(
        "toy_sum", path, store=store, budgets=[Budget(flops=1e17)], data_amounts=(0, 64, 256, 1024, 4096),
        options=FitOptions(n_boot=0, d0_values=(), backtest=False), progress=False, checkpoints=checkpoints, job_fn=simulated_job,
    )  # fmt: skip
    assert summary2.ran == 0
    assert again["emergence_point"]["loss"]["estimate"] == doc["emergence_point"]["loss"]["estimate"]


@pytest.mark.slow
def test_run_on_the_toy_ladder_end_to_end(tmp_path):
    """`emergence run` on a built-in task over the micro toy ladder (built here in seconds)."""
    import subprocess
    import sys

    ladder_yaml = tmp_path / "ladder.yaml"
    ladder_yaml.write_text(
        f"name: toy-micro\ntoy: {{sizes: [micro], seed: 0, out_dir: {tmp_path / 'toy'}}}\n"
    )
    out = tmp_path / "forecast.json"
    result = subprocess.run(
        [sys.executable, "-m", "emergence.cli", "run", "toy_sum_choice", "--ladder", str(ladder_yaml), "--store",
         str(tmp_path / "s.sqlite"), "--out", str(out), "--n-boot", "20", "--no-progress", "--flops", "1e15",
         "--data-amounts", "0,8,32"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    doc = read_document(out)
    assert doc["task"] == "toy_sum_choice"


@pytest.mark.slow
def test_emergence_run_through_the_real_harness(tmp_path):
    """`emergence run` with real finetuning and lm-eval on three tiny checkpoints: a schema-valid JSON."""
    import subprocess
    import sys

    from tests.builders import save_tiny_llama, write_task

    checkpoints = []
    for i, hidden in enumerate((8, 16, 24)):
        save_tiny_llama(tmp_path / f"ck{i}", seed=i, hidden=hidden)
        checkpoints.append({"id": f"ck{i}", "path": str(tmp_path / f"ck{i}"), "pretraining_loss": 3.0 - 0.3 * i,
                            "params": 1e4 * (i + 1), "tokens": 1e6})  # fmt: skip
    ladder_yaml = tmp_path / "ladder.yaml"
    ladder_yaml.write_text(yaml.safe_dump({"name": "tiny", "checkpoints": checkpoints}))
    task = write_task(tmp_path / "task")
    out = tmp_path / "forecast.json"
    result = subprocess.run(
        [sys.executable, "-m", "emergence.cli", "run", str(task), "--ladder", str(ladder_yaml), "--store",
         str(tmp_path / "s.sqlite"), "--out", str(out), "--data-amounts", "0,8,16", "--n-boot", "0",
         "--no-progress", "--flops", "1e12"],
        capture_output=True, text=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    doc = read_document(out)
    assert doc["task"] == str(task) and len(doc["provenance"]["run_ids"]) == 9
    assert "ran 9" in result.stdout
    if doc["emergence_point"]["status"] == "not_found":  # random tiny models: no elbow, and it says why
        assert result.returncode == 1 and doc["emergence_point"]["reason"]
