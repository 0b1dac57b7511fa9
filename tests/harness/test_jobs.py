"""Jobs: the grid, stable run ids that change exactly when a result could, nested data subsets."""

import pickle

import pytest

from emergence.config import CheckpointSpec, SweepSpec
from emergence.errors import EmergenceError
from emergence.harness.jobs import Job, draw_examples, expand_jobs, finetune_steps
from tests.builders import save_tiny_llama

HUB = CheckpointSpec(
    id="p160m@step1000", hub="EleutherAI/pythia-160m", revision="step1000", pretraining_loss=3.1
)


def _spec(**overrides) -> SweepSpec:
    data = dict(
        store="s.sqlite",
        ladder=dict(checkpoints=[HUB.model_dump(mode="json", exclude_none=True)]),
        tasks=["toy_sum"],
        data_amounts=[0, 8, 32],
        seeds=[0, 1],
    )
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return SweepSpec.from_dict(data, base=None)


def _ids(spec: SweepSpec, checkpoints=(HUB,)) -> list[str]:
    return [job.run_id for job in expand_jobs(spec, list(checkpoints))]


def test_grid_is_checkpoint_x_task_x_amount_x_seed_with_one_fewshot_job():
    ck2 = HUB.model_copy(update=dict(id="p160m@step2000", revision="step2000"))
    jobs = expand_jobs(_spec(tasks=["a", "b"]), [HUB, ck2])
    # per checkpoint and task: one few-shot job + 2 amounts x 2 seeds
    assert len(jobs) == 2 * 2 * (1 + 2 * 2)
    assert len({job.run_id for job in jobs}) == len(jobs)
    fewshot = [job for job in jobs if job.data_amount == 0]
    assert len(fewshot) == 4 and all(
        j.finetune is None and j.seed == 0 and j.method == "fewshot" for j in fewshot
    )
    assert {j.method for j in jobs if j.data_amount} == {"full"}


def test_run_id_is_stable_and_golden():
    assert _ids(_spec()) == _ids(_spec())
    # A change here means every stored run would run again: bump JOB_SCHEMA on purpose, never by accident.
    assert _ids(_spec())[0] == "0eff0fe629262a44c43d"


@pytest.mark.parametrize(
    "overrides, changes",
    [
        (dict(finetune={"learning_rate": 1e-3}), True),
        (dict(finetune={"epochs": 3}), True),
        (dict(finetune={"batch_size": 4}), True),
        (dict(finetune={"method": "lora"}), True),
        (dict(eval={"limit": 10}), True),
        (dict(eval={"num_fewshot": 3}), True),
        (dict(tasks=["other"]), True),
        (dict(finetune={"lora_r": 4}), False),  # a LoRA knob does not change a full finetune
        (dict(finetune={"max_steps": 10_000}), False),  # a cap no amount reaches changes no finetune
        (dict(keep_weights=True), False),
        (dict(store="elsewhere.sqlite"), False),
        (dict(executor={"kind": "ray", "workers": 4}), False),
    ],
)
def test_run_id_changes_exactly_with_what_decides_the_result(overrides, changes):
    base, other = _ids(_spec()), _ids(_spec(**overrides))
    finetuned = slice(1, None)  # the few-shot job has no finetuning settings
    assert (base[finetuned] != other[finetuned]) == changes
    if "eval" in overrides or "tasks" in overrides:
        assert base[0] != other[0]
    elif "finetune" in overrides:
        assert base[0] == other[0]  # finetuning settings never rerun the few-shot job


def test_min_steps_reruns_only_the_amounts_it_lengthens():
    # 2 epochs in batches of 16: 8 examples take 2 steps, 32 take 4; a floor of 3 lengthens only the 8
    assert [finetune_steps(d, 2, 16, 3) for d in (8, 32)] == [3, 4]
    base, floored = expand_jobs(_spec(), [HUB]), expand_jobs(_spec(finetune={"min_steps": 3}), [HUB])
    changed = {a.data_amount for a, b in zip(base, floored, strict=True) if a.run_id != b.run_id}
    assert changed == {8}
    assert all(j.finetune.get("min_steps") == 3 for j in floored if j.data_amount == 8)


def test_max_steps_reruns_only_the_amounts_it_shortens():
    # 2 epochs in batches of 16: 8 examples take 2 steps, 32 take 4; a cap of 3 shortens only the 32
    assert [finetune_steps(d, 2, 16, 0, 3) for d in (8, 32)] == [2, 3]
    assert finetune_steps(32, 2, 16, 3, 3) == 3 and finetune_steps(8, 2, 16, 3, 3) == 3
    base, capped = expand_jobs(_spec(), [HUB]), expand_jobs(_spec(finetune={"max_steps": 3}), [HUB])
    changed = {a.data_amount for a, b in zip(base, capped, strict=True) if a.run_id != b.run_id}
    assert changed == {32}
    assert all(j.finetune.get("max_steps") == 3 for j in capped if j.data_amount == 32)
    with pytest.raises(EmergenceError, match=r"finetune: max_steps \(3\) is below min_steps \(4\)"):
        _spec(finetune={"min_steps": 4, "max_steps": 3})


@pytest.mark.parametrize(
    "update",
    [
        dict(revision="step2000"),
        dict(hub="EleutherAI/pythia-70m"),
        dict(trust_remote_code=True),
        dict(id="x"),
    ],
)
def test_run_id_follows_the_checkpoint_identity(update):
    assert _ids(_spec(), [HUB]) != _ids(_spec(), [HUB.model_copy(update=update)])


def test_measured_checkpoint_values_do_not_change_run_ids():
    measured = HUB.model_copy(update=dict(pretraining_loss=2.5, params=1.6e8, flops=1e18))
    assert _ids(_spec(), [HUB]) == _ids(_spec(), [measured])


def test_local_checkpoint_path_is_part_of_identity(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = CheckpointSpec(id="ck", path=tmp_path / "a", pretraining_loss=2.0)
    b = CheckpointSpec(id="ck", path=tmp_path / "b", pretraining_loss=2.0)
    assert _ids(_spec(), [a]) != _ids(_spec(), [b])


def test_job_pickles_with_its_run_id():
    job = expand_jobs(_spec(keep_weights=True), [HUB], weights_dir=None)[-1]
    again = pickle.loads(pickle.dumps(job))
    assert again == job and again.run_id == job.run_id and again.keep_weights
    assert Job(**{**job.to_dict(), "run_id": ""}).run_id == job.run_id
    row = job.store_row()
    assert row["spec"]["checkpoint"]["revision"] == "step1000" and row["method"] == "full"


EXAMPLES = [dict(prompt=f"q{i}", target=f"a{i}") for i in range(100)]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_data_amounts_are_nested_prefixes(seed):
    amounts = [1, 4, 16, 64, 100]
    subsets = [draw_examples(EXAMPLES, n, seed) for n in amounts]
    for small, large in zip(subsets, subsets[1:], strict=False):
        assert large[: len(small)] == small  # inside, and in the same order
    assert [len(s) for s in subsets] == amounts
    assert len({e["prompt"] for e in subsets[-1]}) == 100
    assert draw_examples(EXAMPLES, 16, seed) == subsets[2]  # deterministic


def test_seeds_choose_different_subsets_and_orders():
    a, b = draw_examples(EXAMPLES, 16, 0), draw_examples(EXAMPLES, 16, 1)
    assert a != b
    full_a, full_b = draw_examples(EXAMPLES, 100, 0), draw_examples(EXAMPLES, 100, 1)
    assert sorted(e["prompt"] for e in full_a) == sorted(e["prompt"] for e in full_b) and full_a != full_b


def test_too_much_data_is_a_clear_error():
    with pytest.raises(EmergenceError, match="larger than the task's train split"):
        draw_examples(EXAMPLES, 101, 0)


def test_empty_ladder_is_a_clear_error():
    with pytest.raises(EmergenceError, match="no checkpoints"):
        expand_jobs(_spec(), [])


def test_a_task_fingerprint_changes_the_run_ids_of_that_task_only():
    spec = _spec(tasks=["a", "b"])

    def ids(task_data):
        return {
            (j.task, j.data_amount, j.seed): j.run_id for j in expand_jobs(spec, [HUB], task_data=task_data)
        }

    plain, marked, edited = ids(None), ids({"a": "sha256:1"}), ids({"a": "sha256:2"})
    for cell, run_id in plain.items():
        if cell[0] == "a":
            assert run_id != marked[cell] != edited[cell]
        else:
            assert run_id == marked[cell] == edited[cell]
    job = expand_jobs(spec, [HUB], task_data={"a": "sha256:1"})[0]
    assert job.identity()["task_data"] == "sha256:1" and job.store_row()["spec"]["task_data"] == "sha256:1"


def test_a_checkpoint_saved_anew_to_the_same_folder_gets_new_run_ids(tmp_path):
    folder = tmp_path / "ck"
    save_tiny_llama(folder, seed=0, hidden=8)
    ck = CheckpointSpec(id="ck", path=folder, pretraining_loss=2.0)
    first = _ids(_spec(), [ck])
    assert _ids(_spec(), [ck]) == first  # the same weights: the same jobs
    save_tiny_llama(folder, seed=1, hidden=8)  # retrained into the same folder: same shapes, new values
    assert set(_ids(_spec(), [ck])).isdisjoint(first)


def test_a_planned_spec_runs_only_its_runs_and_names_an_unknown_checkpoint():
    ladder = {"checkpoints": [{"id": "a", "hub": "o/a", "pretraining_loss": 3.0},
                              {"id": "b", "hub": "o/b", "pretraining_loss": 2.9}]}  # fmt: skip
    runs = [{"checkpoint": "a", "data_amount": 0}, {"checkpoint": "b", "data_amount": 64, "seed": 3}]
    spec = SweepSpec.model_validate({"ladder": ladder, "tasks": ["t"], "runs": runs})
    jobs = expand_jobs(spec, spec.ladder.checkpoints)
    assert sorted((j.checkpoint["id"], j.data_amount, j.seed) for j in jobs) == [("a", 0, 0), ("b", 64, 3)]
    bad = SweepSpec.model_validate(
        {"ladder": ladder, "tasks": ["t"], "runs": [{"checkpoint": "z", "data_amount": 8}]}
    )
    with pytest.raises(EmergenceError, match="checkpoint 'z', which the ladder does not have"):
        expand_jobs(bad, bad.ladder.checkpoints)


def test_replay_settings_enter_the_run_id_only_with_replay(tmp_path):
    ladder = {"checkpoints": [{"id": "a", "hub": "o/a", "pretraining_loss": 3.0}]}
    base = {"ladder": ladder, "tasks": ["t"], "data_amounts": [64]}
    plain = expand_jobs(SweepSpec.model_validate(base), SweepSpec.model_validate(base).ladder.checkpoints)
    idle = SweepSpec.model_validate(base | {"finetune": {"replay_length": 64}})  # no windows: no replay
    assert [j.run_id for j in expand_jobs(idle, idle.ladder.checkpoints)] == [j.run_id for j in plain]
    corpus = tmp_path / "replay.txt"
    corpus.write_text("some text\n" * 100)
    replay = SweepSpec.model_validate(
        base | {"finetune": {"replay_corpus": str(corpus), "replay_windows": 8}}
    )
    first = expand_jobs(replay, replay.ladder.checkpoints)[0]
    assert first.run_id != plain[0].run_id and first.finetune["replay_hash"].startswith("sha256:")
    corpus.write_text("other text\n" * 100)  # new text: new runs
    assert expand_jobs(replay, replay.ladder.checkpoints)[0].run_id != first.run_id
    corpus.unlink()
    with pytest.raises(EmergenceError, match="replay corpus .* does not exist"):
        expand_jobs(replay, replay.ladder.checkpoints)
    with pytest.raises(ValueError, match="replay_windows needs a replay_corpus"):
        SweepSpec.model_validate(base | {"finetune": {"replay_windows": 8}})
