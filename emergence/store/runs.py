"""Runs and their evaluations: jobs claimed and finished by sweeps, and results ingested from files.

A cell (checkpoint, task, data amount, seed) measured again is a new run beside the old one; reads take
each cell's newest finished run, and the older ones stay stored (``superseded``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable

import pandas as pd

from emergence.errors import EmergenceError, one_line
from emergence.store.checkpoints import write_checkpoints
from emergence.store.schema import SUPERSEDED
from emergence.table import checkpoint_rows, validate_results


def _optional(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class RunTable:
    """Store methods for runs, evaluations and the results table (mixed into `Store`)."""

    # -- jobs of sweeps ------------------------------------------------------------------------------
    def add_runs(self, runs: Iterable[dict]) -> int:
        """Register jobs (each a dict with run_id, checkpoint_id, task, data_amount, seed, method, spec).

        Idempotent by run_id: a job already known keeps its status. Returns how many were new.
        """
        rows = [
            (r["run_id"], r["checkpoint_id"], r["task"], int(r["data_amount"]), int(r["seed"]), r["method"],
             json.dumps(r["spec"], sort_keys=True), time.time())
            for r in runs
        ]  # fmt: skip
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
        now = time.time()
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status='running', worker=?, started_at=?, heartbeat_at=?, attempts=attempts+1, "
                f"error=NULL WHERE run_id=? AND status IN ({', '.join('?' * len(statuses))})",
                (worker, now, now, run_id, *statuses),
            )
            return cursor.rowcount == 1

    def heartbeat(self, worker: str) -> None:
        """Mark ``worker``'s claims as alive now (a sweep calls this while its jobs run)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET heartbeat_at=? WHERE status='running' AND worker=?", (time.time(), worker)
            )

    def claims(self) -> pd.DataFrame:
        """Running claims per worker: how many runs, since when, and its last heartbeat (epoch seconds)."""
        return self._frame(
            "SELECT worker, COUNT(*) AS runs, MIN(started_at) AS since, "
            "MAX(COALESCE(heartbeat_at, started_at)) AS heartbeat FROM runs WHERE status='running' "
            "GROUP BY worker ORDER BY worker"
        )

    def release_runs(self, workers: Iterable[str]) -> int:
        """Put the running jobs of dead ``workers`` back to pending; returns how many."""
        workers = list(workers)
        if not workers:
            return 0
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status='pending', worker=NULL WHERE status='running' "
                f"AND worker IN ({', '.join('?' * len(workers))})",
                workers,
            )
            return cursor.rowcount

    def finish_run(
        self, run_id: str, evaluations: Iterable[dict], *, finetune_s: float | None = None,
        evaluate_s: float | None = None,
    ) -> None:  # fmt: skip
        """Store a run's evaluations (dicts: metric, value, n_examples, stderr) and mark it done, atomically."""
        rows = []
        for e in evaluations:
            value, n = float(e["value"]), int(e["n_examples"])
            if not math.isfinite(value) or n <= 0:
                raise EmergenceError(
                    f"run {run_id}: metric {e['metric']} has value {value} over {n} examples"
                )
            rows.append((run_id, e["metric"], value, n, _optional(e.get("stderr"))))
        with self.transaction() as conn:
            status = conn.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if status is None:
                raise EmergenceError(f"run {run_id} is not in the store; register it with add_runs first")
            if status[0] == "done":
                raise EmergenceError(f"run {run_id} is done already; its results are never rewritten")
            conn.execute("DELETE FROM evaluations WHERE run_id=?", (run_id,))  # a failed attempt's, if any
            conn.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute(
                "UPDATE runs SET status='done', error=NULL, finished_at=?, finetune_s=?, evaluate_s=? "
                "WHERE run_id=?",
                (time.time(), finetune_s, evaluate_s, run_id),
            )

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run failed with a one-line reason."""
        reason = one_line(error)[:500] or "unknown error"
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status='failed', error=?, finished_at=? WHERE run_id=? AND status != 'done'",
                (reason, time.time(), run_id),
            )

    # -- results from files --------------------------------------------------------------------------
    def add_results(
        self, rows: pd.DataFrame, *, fmt: str, source: str, replace_checkpoints: bool = False
    ) -> dict:
        """Store a results table (checkpoints, done runs, evaluations) in one transaction; bad rows store
        nothing. A cell already stored with the same values adds nothing; with other values it is a new
        measurement that supersedes the old one (kept).

        Returns:
            A summary: format, source, rows, checkpoints, new_checkpoints, replaced_checkpoints, runs,
            new_runs, superseded (cells whose newest measurement changed), tasks, metrics, warnings.
        """
        rows = validate_results(rows, source)
        checkpoints = checkpoint_rows(rows)
        files = rows["source_file"] if "source_file" in rows.columns else pd.Series(source, index=rows.index)
        checkpoints["source"] = (
            files.groupby(rows["checkpoint"])
            .first()
            .reindex(checkpoints["checkpoint"])
            .map(lambda f: f"ingested:{fmt}:{f}")
            .to_numpy()
        )
        runs = _ingested_runs(rows, fmt, files)
        now = time.time()
        with self.transaction() as conn:
            counted = write_checkpoints(
                conn, checkpoints, replace=replace_checkpoints, reason=f"replaced by {fmt} input {source}"
            )
            current = {
                tuple(cell): run_id
                for run_id, *cell in conn.execute(
                    "SELECT run_id, checkpoint_id, task, data_amount, seed FROM runs WHERE status='done' "
                    f"AND run_id NOT IN ({SUPERSEDED})"
                )
            }
            new_runs = superseded = 0
            for run, measured in runs:
                newest = current.get(run[1:5])
                if newest is not None and newest.startswith(run[0]):
                    continue  # the cell's newest measurement has these values already
                if conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run[0],)).fetchone():
                    run = (f"{run[0]}-{int(now * 1e6):x}", *run[1:])  # an older measurement's values, anew
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO runs (run_id, checkpoint_id, task, data_amount, seed, method, spec, "
                    "status, attempts, created_at, finished_at) VALUES (?, ?, ?, ?, ?, 'ingested', ?, 'done', 0, ?, ?)",
                    (*run, now, now),
                ).rowcount
                if inserted:
                    conn.executemany(
                        "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?)", [(run[0], *m) for m in measured]
                    )
                new_runs += inserted
                superseded += inserted and newest is not None
        warnings = []
        no_loss = sorted(checkpoints.loc[checkpoints["pretraining_loss"].isna(), "checkpoint"])
        if no_loss:
            warnings.append(
                f"{len(no_loss)} checkpoint(s) without a pretraining loss (e.g. {no_loss[0]}): "
                "fits skip them until it is given"
            )
        return {
            "format": fmt, "source": source, "rows": len(rows), "checkpoints": len(checkpoints),
            "new_checkpoints": counted["new"], "replaced_checkpoints": counted["replaced"], "runs": len(runs),
            "new_runs": int(new_runs), "superseded": int(superseded),
            "tasks": sorted(rows["task"].unique().tolist()), "metrics": sorted(rows["metric"].unique().tolist()),
            "warnings": warnings,
        }  # fmt: skip

    # -- reading -------------------------------------------------------------------------------------
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

        Columns: task, metric, checkpoint, family, run (the training run), step, pretraining_loss, params,
        tokens, flops, data_amount, seed, method, accuracy, n_examples, stderr, run_id.
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
            "SELECT r.task, e.metric, r.checkpoint_id AS checkpoint, c.family, c.run, c.step, c.pretraining_loss, c.params, "
            "c.tokens, c.flops, r.data_amount, r.seed, r.method, e.value AS accuracy, e.n_examples, e.stderr, "
            "r.run_id FROM evaluations e JOIN runs r USING (run_id) "
            "JOIN checkpoints c USING (checkpoint_id) "
            f"WHERE {' AND '.join(clauses)} ORDER BY r.task, e.metric, c.pretraining_loss DESC, "
            "r.data_amount, r.seed",
            params,
        )


def _ingested_runs(rows: pd.DataFrame, fmt: str, files: pd.Series) -> list[tuple[tuple, list[tuple]]]:
    """(run row, its evaluations as (metric, value, n_examples, stderr)) for each cell of a validated
    results table. A run's id hashes its cell and what was measured, so the same file ingested twice adds
    nothing and a corrected value is a new run."""
    out = []
    rows = rows.assign(_file=files.astype(str).to_numpy())
    for (checkpoint, task, amount, seed), part in rows.groupby(
        ["checkpoint", "task", "data_amount", "seed"], sort=False
    ):
        stderr = part["stderr"] if "stderr" in part else [None] * len(part)
        measured = sorted(
            (str(m), float(a), int(n), _optional(s))
            for m, a, n, s in zip(part["metric"], part["accuracy"], part["n_examples"], stderr, strict=True)
        )
        cell = {"method": "ingested", "checkpoint": checkpoint, "task": task, "data_amount": int(amount),
                "seed": int(seed)}  # fmt: skip
        key = json.dumps(
            {**cell, "measured": [[m, repr(a), n, repr(s)] for m, a, n, s in measured]}, sort_keys=True
        )
        run_id = "ingested-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        spec = {**cell, "format": fmt, "source": part["_file"].iloc[0]}
        out.append(
            ((run_id, checkpoint, task, int(amount), int(seed), json.dumps(spec, sort_keys=True)), measured)
        )
    return out
