"""Opening a store: read-only for readers (they never write, not even a missing file), or for writing
(created and migrated on open). A file that is not an emergence store is refused either way. A writer
switches the file to WAL after its first committed write, not on open, so a command that opens a store for
writing and then refuses its input (before or inside a transaction) leaves the file as it was, byte for
byte."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from emergence.errors import EmergenceError
from emergence.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

MIN_FREE_MB = 100
"""A sweep refuses to start on a store whose disk has less free space than this."""


class Connection:
    """A connection to the SQLite file at ``path``; the base of `Store`.

    Args:
        path: the database file.
        read_only: open for reading only: the file must exist and be an emergence store of this schema
            version; nothing is created, migrated or written.
        create: for writing, create the store (and its folder) when missing; False refuses a missing one
            (commands that add to results already stored).
        timeout: seconds to wait for another writer's lock before giving up.
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, create: bool = True, timeout: float = 60.0
    ):
        self.path, self.read_only, self._wal = Path(path), read_only, False
        self._conn = _open(self.path, read_only, create and not read_only, timeout)
        try:
            self._check_schema()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it does."""
        if self.read_only:
            raise EmergenceError(f"the store {self.path} was opened read-only; open it for writing")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        if not self._wal:
            self._switch_to_wal()

    def _switch_to_wal(self) -> None:
        """WAL lets readers and a writer work at once. Tried once per connection, outside any transaction
        (SQLite refuses the switch inside one). A store that another connection is using at that moment
        stays in its journal mode: slower for concurrent readers, but nothing committed is lost."""
        self._wal = True
        with suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA journal_mode=WAL")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the store at the same moment."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    def _frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._conn, params=tuple(params))

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

    def _check_schema(self) -> None:
        try:
            version = self.schema_version
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise EmergenceError(f"{self.path} is not an emergence store (SQLite said: {exc})") from None
        if version > SCHEMA_VERSION:
            raise EmergenceError(
                f"the store {self.path} has schema version {version}, newer than this emergence "
                f"understands ({SCHEMA_VERSION}); upgrade emergence to read it"
            )
        fresh = version == 0 and not tables
        if not fresh and (version == 0 or not set(TABLES) <= tables):
            raise EmergenceError(
                f"{self.path} is an SQLite file but not an emergence store (its tables: "
                f"{', '.join(sorted(tables)) or 'none'}); give the path of an emergence store"
            )
        if self.read_only and version < SCHEMA_VERSION:
            raise EmergenceError(
                f"the store {self.path} has schema version {version}, older than this emergence's "
                f"({SCHEMA_VERSION}); upgrade it once with `emergence store upgrade --store {self.path}` "
                "(every row is kept)"
            )
        if not self.read_only:
            self._migrate()

    def _migrate(self) -> None:
        for target in range(self.schema_version, SCHEMA_VERSION):
            with self.transaction() as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] != target:
                    continue  # another process migrated it first
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target + 1}")


def _open(path: Path, read_only: bool, create: bool, timeout: float) -> sqlite3.Connection:
    if path.is_dir():
        raise EmergenceError(f"{path} is a folder; give the path of a store file (--store)")
    if not create and not path.is_file():
        raise EmergenceError(
            f"no store at {path}: give the path of an existing store (--store), or make one with "
            "`emergence sweep` or `emergence ingest`"
        )
    try:
        if read_only:
            conn = sqlite3.connect(
                f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=timeout, isolation_level=None
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            conn.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.OperationalError) as exc:
        raise EmergenceError(
            f"cannot open the store at {path}: {exc}; choose a {'readable' if read_only else 'writable'} "
            "path (--store)"
        ) from None
    except sqlite3.DatabaseError as exc:
        raise EmergenceError(f"{path} is not an emergence store (SQLite said: {exc})") from None
    return conn
