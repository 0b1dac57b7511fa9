"""The Ray executor, on a real local Ray: the same table as the local executor, failures recorded."""

import shutil

import pytest

from emergence.config import SweepSpec
from emergence.harness.sweep import run_sweep
from emergence.store import Store

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _spec(folder, ladder, task) -> SweepSpec:
    return SweepSpec.from_dict(
        dict(
            store=str(folder / "store.sqlite"),
            ladder=dict(checkpoints=[dict(id=n, path=str(p), pretraining_loss=4.0) for n, p in ladder]),
            tasks=[str(task)],
            data_amounts=[0, 8],
            seeds=[0],
            finetune=dict(learning_rate=1e-3, epochs=1, batch_size=8),
            eval=dict(limit=16, batch_size=16),
        )
    )


def _table(spec):
    with Store(spec.store) as st:
        return (
            st.results()
            .drop(columns=["run_id"])
            .set_index(["checkpoint", "data_amount", "metric"])
            .sort_index()
        )


@pytest.mark.slow
def test_ray_gives_the_local_table_and_records_failures(local_ray, tiny_ladder, tiny_task, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ladder[0][1], broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    ladder = [*tiny_ladder[:2], ("broken", broken)]

    local = _spec(tmp_path / "local", ladder, tiny_task)
    on_ray = _spec(tmp_path / "ray", ladder, tiny_task)
    assert run_sweep(local).ran == 4
    summary = run_sweep(on_ray, executor="ray")
    assert (summary.ran, summary.failed) == (4, 2)
    with Store(on_ray.store) as st:
        runs = st.runs()
        failed = runs[runs.status == "failed"]
        assert set(failed.checkpoint_id) == {"broken"} and failed.error.str.len().gt(0).all()
        assert runs.worker.str.contains(":").all()  # claimed by the driver (host:pid), never by a Ray worker

    a, b = _table(local), _table(on_ray)
    assert a.index.equals(b.index)
    assert (
        a.accuracy[a.index.get_level_values("metric") == "acc"]
        == b.accuracy[b.index.get_level_values("metric") == "acc"]
    ).all()
    assert (
        (a.accuracy - b.accuracy).abs() < 1e-5
    ).all()  # prob_correct: Ray workers use 1 thread, so sums may differ in the last bits
    assert run_sweep(on_ray, executor="ray").message().startswith("nothing to run")
