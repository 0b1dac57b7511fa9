"""The job function: its finetuning examples, weights kept only when asked, results as store rows."""

import math

import pytest

from emergence.config import CheckpointSpec, SweepSpec
from emergence.harness.jobs import expand_jobs
from emergence.harness.run_job import evaluation_rows, finetuning_examples, run_job


def test_evaluation_rows_carry_the_metric_and_prob_correct():
    rows = evaluation_rows(
        dict(metric="acc", value=0.5, n_examples=10, stderr=float("nan"), prob_correct=0.4)
    )
    assert rows == [
        dict(metric="acc", value=0.5, n_examples=10, stderr=None),
        dict(metric="prob_correct", value=0.4, n_examples=10, stderr=None),
    ]
    rows = evaluation_rows(
        dict(metric="exact_match", value=1, n_examples=3, stderr="N/A", prob_correct=math.nan)
    )
    assert [r["metric"] for r in rows] == ["exact_match"]


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_a_job_runs_and_keeps_weights_only_when_asked(tiny_ladder, tiny_task, tmp_path, keep):
    name, folder = tiny_ladder[0]
    spec = SweepSpec.from_dict(
        dict(
            ladder=dict(checkpoints=[dict(id=name, path=str(folder), pretraining_loss=3.0)]),
            tasks=[str(tiny_task)],
            data_amounts=[8],
            finetune=dict(epochs=1, batch_size=8),
            eval=dict(limit=8, batch_size=8),
            keep_weights=keep,
        )
    )
    (job,) = expand_jobs(
        spec, [CheckpointSpec(id=name, path=folder, pretraining_loss=3.0)], weights_dir=tmp_path
    )
    out = run_job(job)
    assert out["run_id"] == job.run_id
    assert [r["metric"] for r in out["evaluations"]] == ["acc", "prob_correct"]
    assert all(r["n_examples"] == 8 for r in out["evaluations"])
    assert out["finetune_s"] > 0 and out["evaluate_s"] > 0
    assert (tmp_path / job.run_id / "model.safetensors").is_file() == keep


def _job(data_amount: int, finetune: dict | None = None, num_fewshot: int | None = None):
    spec = SweepSpec.from_dict(
        dict(
            ladder=dict(checkpoints=[dict(id="ck", hub="org/model", pretraining_loss=3.0)]),
            tasks=["toy_sum_qa"],
            data_amounts=[data_amount],
            finetune=finetune or {},
            eval=dict(num_fewshot=num_fewshot),
        )
    )
    (job,) = expand_jobs(spec, [CheckpointSpec(id="ck", hub="org/model", pretraining_loss=3.0)])
    return job


@pytest.mark.parametrize(
    "finetune,shots,newlines",
    [
        ({}, None, 3),
        ({}, 0, 0),
        ({}, 1, 1),
        (dict(prompt="zeroshot"), None, 0),
        (dict(prompt="zeroshot"), 2, 0),
    ],
)
def test_finetuning_examples_carry_the_evaluations_shots(finetune, shots, newlines):
    """finetune.prompt 'fewshot' (the default) puts the evaluation's shots (None: the task's own 3) before
    each finetuning question; 'zeroshot' none."""
    examples = finetuning_examples(_job(2048, finetune, shots))
    assert len(examples) == 2048  # the whole train split, drawn
    assert all(e["prompt"].count("\n") == newlines and e["target"].endswith("\n") for e in examples[:20])
    assert finetuning_examples(_job(0, finetune, shots)) is None  # few-shot: nothing to finetune on
