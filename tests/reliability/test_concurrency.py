"""Concurrency: the dashboard, a second CLI and a reader in this process read the store while a real sweep
process writes it: no lock errors, no torn reads. (Two sweeps on one store never running the same job twice
is tests/harness/test_sweep.py::test_two_sweeps_on_one_store_never_run_a_job_twice.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from emergence.store import Store
from tests.builders import ROOT

# A real sweep (the driver, its claims and its store writes) whose jobs are a stand-in: two metrics per
# run, a few ms each, until the test drops a stop file; then the rest run at once.
SWEEP = textwrap.dedent(
    """
    import os, sys, time
    from emergence.config import CheckpointSpec, SweepSpec
    from emergence.harness.sweep import run_sweep

    store, stop = sys.argv[1], sys.argv[2]
    ck = CheckpointSpec(id="ck", hub="org/model", revision="r1", pretraining_loss=2.0)

    def job(job):
        if not os.path.exists(stop):
            time.sleep(0.01)
        value = int(job.run_id[:4], 16) / 0xFFFF
        return dict(run_id=job.run_id, evaluations=[dict(metric="acc", value=value, n_examples=20),
                                                    dict(metric="prob_correct", value=value, n_examples=20)])

    spec = SweepSpec.from_dict(dict(store=store, ladder=dict(checkpoints=[ck.model_dump(exclude_none=True)]),
                                    tasks=["t1", "t2"], data_amounts=list(range(0, 1500, 4)), seeds=[0, 1]))
    print(run_sweep(spec, checkpoints=[ck], job_fn=job).message(), flush=True)
    """
)


def _consistent(counts: dict) -> None:
    """One snapshot: every done run has both its metrics, and no other run has any."""
    assert counts["evaluations"] == 2 * counts.get("runs_done", 0), counts


@pytest.fixture
def live_sweep(tmp_path):
    """A sweep process writing the store at tmp_path/s.sqlite; yields (store path, process)."""
    path, stop = tmp_path / "s.sqlite", tmp_path / "stop"
    Store(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", SWEEP, str(path), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the first results to land
        with Store(path) as st:
            if st.counts().get("runs_done", 0) > 0:
                break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    yield path, proc
    stop.write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert out.startswith("ran 1498, skipped 0, failed 0 of 1498 jobs"), out
    with Store(path) as st:
        _consistent(st.counts())
        assert st.counts()["runs_done"] == 1498


def test_readers_never_see_a_torn_store_while_a_sweep_writes(live_sweep, restore_main_module):
    from streamlit.testing.v1 import AppTest

    path, sweep = live_sweep
    seen = []
    with Store(path, timeout=30) as reader:  # the reader in this process: counts from one snapshot each
        for _ in range(300):
            counts = reader.counts()
            _consistent(counts)
            seen.append(counts["runs_done"])

    # a second CLI: `emergence store info` in its own process, twice
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-m", "emergence.cli", "store", "info", "--store", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0 and out.stderr == "", out.stderr
        counts = json.loads(out.stdout)
        _consistent(counts)
        seen.append(counts["runs_done"])

    # the dashboard: its overview and runs pages, re-run as results land
    at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=120)
    at.session_state["store_path"] = str(path)
    at.run()
    for page in ("views/runs.py", "views/portfolio.py", "views/runs.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    with Store(path) as st:
        seen.append(st.counts()["runs_done"])

    assert sweep.poll() is None, "the sweep finished before the readers did: nothing was tested concurrently"
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the readers saw the sweep's writes land
