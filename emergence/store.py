"""The run store: checkpoints, runs, evaluations, fits and forecasts in one SQLite file.

WAL mode lets one writer and many readers (a sweep, the dashboard, a second CLI) work at once; every
write is one transaction, so a process killed mid-write leaves no partial row. The schema is versioned
with ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from emergence.errors import EmergenceError

# Finished runs that a newer finished run of the same cell (checkpoint, task, data amount, seed) replaces.
SUPERSEDED = (
    "SELECT run_id FROM (SELECT run_id, ROW_NUMBER() OVER (PARTITION BY checkpoint_id, task, data_amount, "
    "seed ORDER BY finished_at DESC, created_at DESC, run_id DESC) AS newest FROM runs "
    "WHERE status = 'done') WHERE newest > 1"
)

# Each entry migrates the schema from version i to i + 1. Append only; never edit a released step.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE checkpoints (
        checkpoint_id    TEXT PRIMARY KEY,
        source           TEXT NOT NULL,
        family           TEXT,
        step             INTEGER,
        params           REAL,
        tokens           REAL,
        flops            REAL,
        pretraining_loss REAL,
        loss_corpus      TEXT,
        created_at       REAL NOT NULL
    );
    CREATE TABLE runs (
        run_id        TEXT PRIMARY KEY,
        checkpoint_id TEXT NOT NULL REFERENCES checkpoints(checkpoint_id),
        task          TEXT NOT NULL,
        data_amount   INTEGER NOT NULL CHECK (data_amount >= 0),
        seed          INTEGER NOT NULL,
        method        TEXT NOT NULL,
        spec          TEXT NOT NULL,
        status        TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'done', 'failed')),
        error         TEXT,
        worker        TEXT,
        attempts      INTEGER NOT NULL DEFAULT 0,
        created_at    REAL NOT NULL,
        started_at    REAL,
        finished_at   REAL,
        finetune_s    REAL,
        evaluate_s    REAL
    );
    CREATE INDEX runs_status ON runs(status);
    CREATE INDEX runs_task ON runs(task);
    CREATE TABLE evaluations (
        run_id     TEXT NOT NULL REFERENCES runs(run_id),
        metric     TEXT NOT NULL,
        value      REAL NOT NULL,
        n_examples INTEGER NOT NULL CHECK (n_examples > 0),
        stderr     REAL,
        PRIMARY KEY (run_id, metric)
    );
    CREATE TABLE fits (
        fit_id     TEXT PRIMARY KEY,
        task       TEXT NOT NULL,
        metric     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        data_hash  TEXT NOT NULL,
        result     TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE forecasts (
        forecast_id TEXT PRIMARY KEY,
        task        TEXT NOT NULL,
        metric      TEXT NOT NULL,
        document    TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
MIN_FREE_MB = 100
"""A sweep refuses to start on a store whose disk has less free space than this."""

CHECKPOINT_FIELDS = (
    "source",
    "family",
    "step",
    "params",
    "tokens",
    "flops",
    "pretraining_loss",
    "loss_corpus",
)


class Store:
    """A SQLite run store at ``path`` (created and migrated on open).

    Args:
        path: the database file; its folder is created if missing.
        timeout: seconds to wait for another writer's lock before giving up.
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.OperationalError) as exc:
            raise EmergenceError(
                f"cannot open the store at {self.path}: {exc}; choose a writable path (--store)"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise EmergenceError(f"{self.path} is not an emergence store (SQLite said: {exc})") from exc
        self._conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it does."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def check_writable(self, min_free_mb: float = MIN_FREE_MB) -> None:
        """Refuse, before any work starts, a store that cannot take writes: read-only, or a disk nearly full."""
        free_mb = shutil.disk_usage(self.path.parent).free / 2**20
        if free_mb < min_free_mb:
            raise EmergenceError(
                f"only {free_mb:.0f} MB free on the disk of the store {self.path} (a sweep needs "
                f"{min_free_mb:.0f} MB); free some space or choose a store on another disk (--store)"
            )
        try:
            with self.transaction() as conn:
                conn.execute("UPDATE runs SET status=status WHERE 0")  # takes the write lock, changes nothing
        except sqlite3.OperationalError as exc:
            raise EmergenceError(
                f"cannot write the store at {self.path}: {exc}; choose a writable path (--store)"
            ) from None

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        try:
            version = self.schema_version
        except sqlite3.DatabaseError as exc:
            raise EmergenceError(f"{self.path} is not an emergence store (SQLite said: {exc})") from exc
        if version > SCHEMA_VERSION:
            raise EmergenceError(
                f"the store {self.path} has schema version {version}, newer than this emergence "
                f"understands ({SCHEMA_VERSION}); upgrade emergence to read it"
            )
        for target in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] != target:
                    continue  # another process migrated it first
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target + 1}")

    def _frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._conn, params=tuple(params))

    # -- checkpoints ----------------------------------------------------------------------------------
    def add_checkpoint(
        self,
        checkpoint_id: str,
        source: str,
        *,
        family: str | None = None,
        step: int | None = None,
        params: float | None = None,
        tokens: float | None = None,
        flops: float | None = None,
        pretraining_loss: float | None = None,
        loss_corpus: str | None = None,
    ) -> None:
        """Insert or update a checkpoint; calling it twice with the same values changes nothing."""
        values = dict(
            source=str(source),
            family=family,
            step=step,
            params=params,
            tokens=tokens,
            flops=flops,
            pretraining_loss=pretraining_loss,
            loss_corpus=loss_corpus,
        )
        for name in ("params", "tokens", "flops", "pretraining_loss"):
            value = values[name]
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0):
                raise EmergenceError(
                    f"checkpoint {checkpoint_id}: {name} must be a finite number >= 0, got {value!r}"
                )
        columns = ", ".join(CHECKPOINT_FIELDS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in CHECKPOINT_FIELDS)
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO checkpoints (checkpoint_id, {columns}, created_at) "
                f"VALUES (?, {', '.join('?' * len(CHECKPOINT_FIELDS))}, ?) "
                f"ON CONFLICT(checkpoint_id) DO UPDATE SET {updates}",
                (checkpoint_id, *values.values(), time.time()),
            )

    def checkpoints(self) -> pd.DataFrame:
        """All checkpoints, ordered by family and step."""
        return self._frame("SELECT * FROM checkpoints ORDER BY family, step, checkpoint_id")

    # -- runs -----------------------------------------------------------------------------------------
    def add_runs(self, runs: Iterable[dict]) -> int:
        """Register jobs (each a dict with run_id, checkpoint_id, task, data_amount, seed, method, spec).

        Idempotent by run_id: a job already known keeps its status. Returns how many were new.
        """
        rows = [
            (
                r["run_id"],
                r["checkpoint_id"],
                r["task"],
                int(r["data_amount"]),
                int(r["seed"]),
                r["method"],
                json.dumps(r["spec"], sort_keys=True),
                time.time(),
            )
            for r in runs
        ]
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO runs (run_id, checkpoint_id, task, data_amount, seed, method, spec, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def claim_run(self, run_id: str, worker: str, *, retry_failed: bool = False) -> bool:
        """Atomically mark a pending run as running by ``worker``; False if another has it or it is done."""
        statuses = ("pending", "failed") if retry_failed else ("pending",)
        with self.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE runs SET status='running', worker=?, started_at=?, attempts=attempts+1, error=NULL "
                f"WHERE run_id=? AND status IN ({', '.join('?' * len(statuses))})",
                (worker, time.time(), run_id, *statuses),
            )
            return cursor.rowcount == 1

    def release_runs(self, workers: Iterable[str]) -> int:
        """Put the running jobs of dead ``workers`` back to pending (after a crash); returns how many."""
        workers = list(workers)
        if not workers:
            return 0
        with self.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE runs SET status='pending', worker=NULL WHERE status='running' "
                f"AND worker IN ({', '.join('?' * len(workers))})",
                workers,
            )
            return cursor.rowcount

    def finish_run(
        self,
        run_id: str,
        evaluations: Iterable[dict],
        *,
        finetune_s: float | None = None,
        evaluate_s: float | None = None,
    ) -> None:
        """Store a run's evaluations (dicts: metric, value, n_examples, stderr) and mark it done, atomically."""
        rows = []
        for e in evaluations:
            value, n = float(e["value"]), int(e["n_examples"])
            if not math.isfinite(value) or n <= 0:
                raise EmergenceError(
                    f"run {run_id}: metric {e['metric']} has value {value} over {n} examples"
                )
            stderr = e.get("stderr")
            rows.append((run_id, e["metric"], value, n, None if stderr is None else float(stderr)))
        with self.transaction() as conn:
            conn.execute("DELETE FROM evaluations WHERE run_id=?", (run_id,))
            conn.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?)", rows)
            cursor = conn.execute(
                "UPDATE runs SET status='done', error=NULL, finished_at=?, finetune_s=?, evaluate_s=? "
                "WHERE run_id=?",
                (time.time(), finetune_s, evaluate_s, run_id),
            )
            if cursor.rowcount != 1:
                raise EmergenceError(f"run {run_id} is not in the store; register it with add_runs first")

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run failed with a one-line reason."""
        reason = " ".join(str(error).split())[:500] or "unknown error"
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status='failed', error=?, finished_at=? WHERE run_id=?",
                (reason, time.time(), run_id),
            )

    def runs(self, status: str | None = None) -> pd.DataFrame:
        """Runs (optionally of one status), without their spec JSON; ``superseded`` marks finished runs that
        a newer finished run of the same cell replaces (see `results`)."""
        where, params = ("WHERE status=?", (status,)) if status else ("", ())
        frame = self._frame(
            "SELECT run_id, checkpoint_id, task, data_amount, seed, method, status, error, worker, attempts, "
            f"created_at, started_at, finished_at, finetune_s, evaluate_s, run_id IN ({SUPERSEDED}) "
            f"AS superseded FROM runs {where} ORDER BY created_at, run_id",
            params,
        )
        frame["superseded"] = frame["superseded"].astype(bool)
        return frame

    def run_spec(self, run_id: str) -> dict:
        row = self._conn.execute("SELECT spec FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise EmergenceError(f"no run {run_id} in {self.path}")
        return json.loads(row[0])

    def evaluations(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM evaluations ORDER BY run_id, metric")

    def results(
        self, task: str | None = None, metric: str | None = None, *, superseded: bool = False
    ) -> pd.DataFrame:
        """The tidy table the law engine fits: one row per finished run and metric.

        A cell (checkpoint, task, data amount, seed) measured by several finished runs, as after a sweep of
        a changed spec or a corrected ingest, counts once: its newest run. The older ones stay stored
        (`counts()["runs_superseded"]`) and come back with ``superseded=True``.

        Columns: task, metric, checkpoint, family, pretraining_loss, params, tokens, flops, data_amount,
        seed, method, accuracy, n_examples, stderr, run_id.
        """
        clauses, params = ["r.status = 'done'"], []
        if not superseded:
            clauses.append(f"r.run_id NOT IN ({SUPERSEDED})")
        if task is not None:
            clauses.append("r.task = ?")
            params.append(task)
        if metric is not None:
            clauses.append("e.metric = ?")
            params.append(metric)
        return self._frame(
            "SELECT r.task, e.metric, r.checkpoint_id AS checkpoint, c.family, c.pretraining_loss, c.params, "
            "c.tokens, c.flops, r.data_amount, r.seed, r.method, e.value AS accuracy, e.n_examples, e.stderr, "
            "r.run_id FROM evaluations e JOIN runs r USING (run_id) "
            "JOIN checkpoints c USING (checkpoint_id) "
            f"WHERE {' AND '.join(clauses)} ORDER BY r.task, e.metric, c.pretraining_loss DESC, "
            "r.data_amount, r.seed",
            params,
        )

    # -- fits and forecasts ---------------------------------------------------------------------------
    def add_fit(self, fit_id: str, task: str, metric: str, kind: str, data_hash: str, result: dict) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO fits VALUES (?, ?, ?, ?, ?, ?, ?)",
                (fit_id, task, metric, kind, data_hash, json.dumps(result), time.time()),
            )

    def fits(self) -> pd.DataFrame:
        frame = self._frame("SELECT * FROM fits ORDER BY task, metric, created_at")
        frame["result"] = frame["result"].map(json.loads)
        return frame

    def add_forecast(self, forecast_id: str, task: str, metric: str, document: dict) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO forecasts VALUES (?, ?, ?, ?, ?)",
                (forecast_id, task, metric, json.dumps(document), time.time()),
            )

    def forecasts(self) -> pd.DataFrame:
        frame = self._frame("SELECT * FROM forecasts ORDER BY task, metric, created_at")
        frame["document"] = frame["document"].map(json.loads)
        return frame

    def counts(self) -> dict[str, int]:
        """Row counts per table, and runs per status: a quick summary for people (one consistent snapshot,
        even while a sweep writes)."""
        self._conn.execute("BEGIN")  # one read transaction: every count from the same moment
        try:
            out = {
                t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("checkpoints", "runs", "evaluations", "fits", "forecasts")
            }
            for status, n in self._conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"):
                out[f"runs_{status}"] = n
            superseded = self._conn.execute(f"SELECT COUNT(*) FROM ({SUPERSEDED})").fetchone()[0]
            if superseded:
                out["runs_superseded"] = superseded
        finally:
            self._conn.execute("COMMIT")
        return out
