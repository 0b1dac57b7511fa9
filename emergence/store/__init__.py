"""The run store: checkpoints, runs, evaluations, fits and forecasts in one SQLite file.

The only code that writes SQL. WAL mode lets one writer and many readers (a sweep, the dashboard, a
second CLI) work at once; every write is one transaction, so a process killed mid-write leaves no partial
row. Nothing stored is rewritten: a new measurement, a new forecast or an import is added beside the old
one, and a checkpoint's values change only when replaced explicitly (the old values kept as history).
Readers open the file read-only and write nothing. The schema is versioned with ``PRAGMA user_version``
and migrated forward when a writer opens the store.
"""

from __future__ import annotations

from emergence.store.checkpoints import CheckpointTable
from emergence.store.connection import MIN_FREE_MB, Connection
from emergence.store.forecasts import ForecastTable
from emergence.store.runs import RunTable
from emergence.store.schema import SCHEMA_VERSION

__all__ = ["MIN_FREE_MB", "SCHEMA_VERSION", "Store"]


class Store(Connection, CheckpointTable, RunTable, ForecastTable):
    """A SQLite run store at ``path``.

    Args:
        path: the database file; for writing, it and its folder are created if missing.
        read_only: open an existing store for reading only (what every read command does).
        create: for writing, create a missing store; False refuses it (the store must exist).
        timeout: seconds to wait for another writer's lock before giving up.
    """
