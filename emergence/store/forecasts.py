"""Fits and forecast documents: every one kept beside the others, the newest computed one current.

An imported document is marked ``imported`` and never hides a computed forecast of the same benchmark.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable

import pandas as pd

from emergence.store.schema import SUPERSEDED, TABLES


def _id(prefix: str, *parts: object) -> str:
    key = "\0".join(json.dumps(p, sort_keys=True, default=str) for p in parts)
    return f"{prefix}-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class ForecastTable:
    """Store methods for fits, forecasts and the summary counts (mixed into `Store`)."""

    def add_fit(
        self, task: str, metric: str, kind: str, data_hash: str, result: dict, *, options: dict | None = None
    ) -> str:
        """Keep a fitted law's description; returns its id (each fit is a new row)."""
        now = time.time()
        fit_id = _id("fit", task, metric, kind, data_hash, options, now)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO fits (fit_id, task, metric, kind, data_hash, result, created_at, options) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fit_id, task, metric, kind, data_hash, json.dumps(result), now, json.dumps(options)),
            )
        return fit_id

    def fits(self) -> pd.DataFrame:
        frame = self._frame("SELECT * FROM fits ORDER BY task, metric, created_at")
        frame["result"] = frame["result"].map(json.loads)
        return frame

    def add_forecast(self, document: dict) -> str:
        """Keep a computed forecast document beside the earlier ones; returns its id."""
        now = time.time()
        provenance = document.get("provenance") or {}
        forecast_id = _id(
            "forecast", document["task"], document["metric"], provenance.get("data_hash"),
            provenance.get("options"), now,
        )  # fmt: skip
        with self.transaction() as conn:
            self._insert_forecast(conn, forecast_id, document, "computed", now)
        return forecast_id

    def import_forecasts(self, documents: Iterable[dict]) -> list[tuple[str, bool]]:
        """Keep imported documents (all or none), marked imported; returns (id, newly stored) for each.
        The same document imported twice is stored once."""
        now, out = time.time(), []
        with self.transaction() as conn:
            for document in documents:
                forecast_id = _id("imported", document)
                known = conn.execute("SELECT 1 FROM forecasts WHERE forecast_id=?", (forecast_id,)).fetchone()
                if known is None:
                    self._insert_forecast(conn, forecast_id, document, "imported", now)
                out.append((forecast_id, known is None))
        return out

    @staticmethod
    def _insert_forecast(conn, forecast_id: str, document: dict, origin: str, now: float) -> None:
        conn.execute(
            "INSERT INTO forecasts (forecast_id, task, metric, document, created_at, origin, data_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (forecast_id, document["task"], document["metric"], json.dumps(document), now, origin,
             (document.get("provenance") or {}).get("data_hash")),
        )  # fmt: skip

    def forecasts(self, *, current: bool = False) -> pd.DataFrame:
        """Forecast documents, oldest first (columns forecast_id, task, metric, origin, created_at, document).

        current: only the one shown per (task, metric): the newest computed forecast, or the newest imported
        one where none was computed here.
        """
        frame = self._frame(
            "SELECT forecast_id, task, metric, origin, created_at, document FROM forecasts "
            "ORDER BY task, metric, created_at, forecast_id"
        )
        frame["document"] = frame["document"].map(json.loads)
        if current and not frame.empty:
            rank = (frame["origin"] == "computed").astype(int)
            frame = (
                frame.assign(_rank=rank)
                .sort_values(["_rank", "created_at"], kind="stable")
                .groupby(["task", "metric"], sort=True)
                .tail(1)
                .drop(columns="_rank")
                .sort_values(["task", "metric"])
                .reset_index(drop=True)
            )
        return frame

    def counts(self) -> dict[str, int]:
        """Row counts per table, and runs per status: a quick summary for people (one consistent snapshot,
        even while a sweep writes)."""
        with self.snapshot() as conn:
            out = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
            for status, n in conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"):
                out[f"runs_{status}"] = n
            superseded = conn.execute(f"SELECT COUNT(*) FROM ({SUPERSEDED})").fetchone()[0]
            if superseded:
                out["runs_superseded"] = superseded
            imported = conn.execute("SELECT COUNT(*) FROM forecasts WHERE origin='imported'").fetchone()[0]
            if imported:
                out["forecasts_imported"] = imported
            replaced = conn.execute("SELECT COUNT(*) FROM checkpoint_history").fetchone()[0]
            if replaced:
                out["checkpoints_replaced"] = replaced
        return out
