"""The checkpoints of a store: added once, never changed silently; a replacement keeps the old values."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterable

import pandas as pd

from emergence.errors import EmergenceError
from emergence.table import CHECKPOINT_VALUES, same_value, validate_results

FIELDS = ("source", "family", "run", "step", "params", "tokens", "flops", "pretraining_loss", "loss_corpus")
HISTORY = ("source", *CHECKPOINT_VALUES, "loss_corpus")
"""What `checkpoint_history` keeps of a replaced checkpoint."""


def _value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


class CheckpointTable:
    """Store methods for checkpoints (mixed into `Store`)."""

    def add_checkpoint(self, checkpoint_id: str, source: str, **fields) -> None:
        """Add one checkpoint (fields: family, run, step, params, tokens, flops, pretraining_loss, loss_corpus).

        Adding it again with the same values changes nothing; missing values are filled in. A different
        params, tokens, flops or pretraining loss is refused (see `add_checkpoints`)."""
        self.add_checkpoints([{"checkpoint": checkpoint_id, "source": source, **fields}])

    def add_checkpoints(
        self, rows: Iterable[dict] | pd.DataFrame, *, replace: bool = False, reason: str = "replaced"
    ) -> dict[str, int]:
        """Add checkpoints (dicts or a frame with ``checkpoint``, ``source`` and any of the other fields).

        A dict leaves out a value it does not know; one it gives must be a finite number (a NaN there is a
        diverged training or a bug, refused in one line), where a frame's NaN means not known.

        Args:
            replace: a known checkpoint whose params, tokens, FLOPs or loss differ takes the new values;
                the old ones are kept in ``checkpoint_history`` with ``reason``. Without it such a
                checkpoint is refused in one line naming both values, and nothing is written.

        Returns:
            {"new": ..., "replaced": ...}
        """
        if not isinstance(rows, pd.DataFrame):
            rows = list(rows)
            for row in rows:
                for name, value in row.items():
                    if isinstance(value, float) and not math.isfinite(value):
                        raise EmergenceError(
                            f"checkpoint {row.get('checkpoint')}: {name} must be a finite number, got {value}"
                        )
        frame = _checkpoint_frame(rows)
        with self.transaction() as conn:
            return write_checkpoints(conn, frame, replace=replace, reason=reason)

    def checkpoints(self) -> pd.DataFrame:
        """All checkpoints, ordered by family and step."""
        return self._frame("SELECT * FROM checkpoints ORDER BY family, step, checkpoint_id")

    def checkpoint_history(self) -> pd.DataFrame:
        """Values of checkpoints that were replaced explicitly, with when and why."""
        return self._frame("SELECT * FROM checkpoint_history ORDER BY checkpoint_id, replaced_at")


def _checkpoint_frame(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows if isinstance(rows, pd.DataFrame) else list(rows))
    if frame.empty:
        return frame
    for name in FIELDS:
        if name not in frame.columns:
            frame[name] = None
    frame = validate_results(frame, "checkpoint", required=("checkpoint",), unique=False)
    return frame.drop_duplicates("checkpoint", keep="first")


def write_checkpoints(conn: sqlite3.Connection, frame: pd.DataFrame, *, replace: bool, reason: str) -> dict:
    """Insert or check each checkpoint of a validated frame, inside the caller's transaction."""
    now, new, replaced = time.time(), 0, 0
    for row in frame.to_dict("records"):
        row = {k: _value(row.get(k)) for k in ("checkpoint", *FIELDS)}
        if row["source"] is None:
            raise EmergenceError(
                f"checkpoint {row['checkpoint']}: its source is missing (a path, hub id or file)"
            )
        if row["step"] is not None:
            row["step"] = int(row["step"])
        cursor = conn.execute("SELECT * FROM checkpoints WHERE checkpoint_id=?", (row["checkpoint"],))
        names = [d[0] for d in cursor.description]
        found = cursor.fetchone()
        if found is None:
            conn.execute(
                f"INSERT INTO checkpoints (checkpoint_id, {', '.join(FIELDS)}, created_at) "
                f"VALUES (?, {', '.join('?' * len(FIELDS))}, ?)",
                (row["checkpoint"], *(row[k] for k in FIELDS), now),
            )
            new += 1
            continue
        old = dict(zip(names, found, strict=True))
        differ = [
            k for k in CHECKPOINT_VALUES if None not in (old[k], row[k]) and not same_value(old[k], row[k])
        ]
        if differ and not replace:
            k = differ[0]
            raise EmergenceError(
                f"checkpoint {row['checkpoint']} is stored with {k} {old[k]:.6g}, this input gives {row[k]:.6g}; "
                "give it another id, or replace it explicitly (ingest --replace-checkpoints; for a toy ladder "
                "retrained into the same folder, ladder build --replace-checkpoints before the sweep): the old "
                "values are kept as history and the fits move"
            )
        if differ:
            conn.execute(
                f"INSERT INTO checkpoint_history (checkpoint_id, {', '.join(HISTORY)}, replaced_at, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["checkpoint"], *(old[k] for k in HISTORY), now, reason),
            )
            replaced += 1
        # missing values are filled in; differing ones replaced only when asked (history kept above)
        refreshed = (*differ, "source", "loss_corpus") if differ else ()
        updates = {k: row[k] for k in FIELDS if row[k] is not None and (old[k] is None or k in refreshed)}
        if updates:
            conn.execute(
                f"UPDATE checkpoints SET {', '.join(f'{k}=?' for k in updates)} WHERE checkpoint_id=?",
                (*updates.values(), row["checkpoint"]),
            )
    return {"new": new, "replaced": replaced}
