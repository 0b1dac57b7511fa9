"""Who holds a run: each sweep claims the jobs it runs as ``host:pid`` and keeps those claims alive with a
heartbeat; a claim whose sweep is dead (its process gone, or silent too long) is handed back to pending."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pandas as pd

from emergence.store import Store

HEARTBEAT_S = 30.0
"""How often a running sweep marks its claims as alive."""
STALE_S = 600.0
"""A claim whose sweep has not marked it alive for this long is taken as dead, whatever its host."""


def worker_id() -> str:
    """This process, as recorded on the runs it claims: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_claims(claims: pd.DataFrame, now: float | None = None) -> dict[str, str]:
    """The workers among ``claims`` (Store.claims()) that are dead, each with the reason.

    A worker of this host is dead when its process is gone (or its pid now belongs to a process started
    after the claim); a worker of any host, when it has not beaten its heartbeat for STALE_S seconds.
    """
    import psutil

    now = time.time() if now is None else now
    host, dead = socket.gethostname(), {}
    for row in claims.itertuples(index=False):
        worker_host, _, pid = str(row.worker).rpartition(":")
        if worker_host == host and pid.isdigit():
            try:
                began = psutil.Process(int(pid)).create_time()
                alive = began <= row.since + 1.0 and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if not alive:
                dead[row.worker] = "its process is gone"
                continue
        if now - row.heartbeat > STALE_S:
            dead[row.worker] = f"no heartbeat for {(now - row.heartbeat) / 60:.0f} min"
    return dead


def release_dead_runs(store: Store) -> int:
    """Release runs left 'running' by dead sweeps (see `dead_claims`); returns how many."""
    return store.release_runs(sorted(dead_claims(store.claims())))


class Heartbeat:
    """A thread that marks a sweep's claims as alive every HEARTBEAT_S seconds, on its own connection, so
    that a job running for hours in this process still shows a live sweep to every host."""

    def __init__(self, path: Path, worker: str, every: float = HEARTBEAT_S):
        self.path, self.worker, self.every = path, worker, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emergence-heartbeat", daemon=True)

    def _run(self) -> None:
        with Store(self.path) as store:
            while not self._stop.wait(self.every):
                try:
                    store.heartbeat(self.worker)
                except Exception:  # a busy store: the next beat tries again
                    continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
