"""Claims (emergence/harness/claims.py): which sweeps are dead, and the heartbeat that shows one alive."""

import multiprocessing
import os
import time

import pandas as pd

from emergence.harness.claims import STALE_S, Heartbeat, dead_claims, worker_id
from emergence.store import Store


def _claims(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["worker", "runs", "since", "heartbeat"])


def test_a_claim_is_dead_when_its_process_is_gone_or_silent_too_long():
    host = worker_id().rsplit(":", 1)[0]
    gone = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    gone.start()
    gone.join()  # a pid that existed and is gone
    now = time.time()
    claims = _claims(
        (f"{host}:{gone.pid}", 1, now, now),
        (worker_id(), 1, now, now),  # this very process, beating
        (f"{host}:{os.getpid()}", 1, 1.0, now),  # this pid, but claimed before it started: reused since
        ("other-host:123", 1, now, now - STALE_S - 60),  # another machine, silent for 11 minutes
        ("other-host:456", 1, now, now - 5),  # another machine, beating
    )
    dead = dead_claims(claims, now=now)
    assert dead == {
        f"{host}:{gone.pid}": "its process is gone",
        f"{host}:{os.getpid()}": "its process is gone",
        "other-host:123": "no heartbeat for 11 min",
    }


def test_a_heartbeat_marks_its_claims_alive(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.add_checkpoint("ck", "hub:org/model@r1")
        st.add_runs([dict(run_id="r1", checkpoint_id="ck", task="t", data_amount=0, seed=0, method="fewshot",
                          spec={})])  # fmt: skip
        assert st.claim_run("r1", "me:1")
        claimed = st.claims().heartbeat.iloc[0]
        with Heartbeat(st.path, "me:1", every=0.05):
            time.sleep(0.3)
        assert st.claims().heartbeat.iloc[0] > claimed
