"""The store's schema: its migrations (append only) and the SQL that decides which runs count."""

from __future__ import annotations

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
    # 2: explicit history. Forecasts are kept side by side (computed or imported), a replaced checkpoint's
    # old values are kept, and a sweep's claims carry a heartbeat so that any host can tell a dead sweep.
    """
    ALTER TABLE forecasts ADD COLUMN origin TEXT NOT NULL DEFAULT 'computed';
    ALTER TABLE forecasts ADD COLUMN data_hash TEXT;
    ALTER TABLE fits ADD COLUMN options TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
    CREATE INDEX forecasts_pair ON forecasts(task, metric, created_at);
    CREATE TABLE checkpoint_history (
        checkpoint_id    TEXT NOT NULL REFERENCES checkpoints(checkpoint_id),
        source           TEXT,
        params           REAL,
        tokens           REAL,
        flops            REAL,
        pretraining_loss REAL,
        loss_corpus      TEXT,
        replaced_at      REAL NOT NULL,
        reason           TEXT NOT NULL
    );
    """,
    # 3: the training run a checkpoint belongs to (loss laws are fitted per run, and runs are what a
    # bootstrap resamples).
    """
    ALTER TABLE checkpoints ADD COLUMN run TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("checkpoints", "runs", "evaluations", "fits", "forecasts")
"""The tables every version of the schema has: a SQLite file without them is not an emergence store."""

SUPERSEDED = (
    "SELECT run_id FROM (SELECT run_id, ROW_NUMBER() OVER (PARTITION BY checkpoint_id, task, data_amount, "
    "seed ORDER BY finished_at DESC, created_at DESC, run_id DESC) AS newest FROM runs "
    "WHERE status = 'done') WHERE newest > 1"
)
"""Finished runs that a newer finished run of the same cell (checkpoint, task, data amount, seed) replaces."""
