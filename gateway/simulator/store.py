"""The simulator's own storage: one SQLite file and a content-addressed blob folder under its
data directory. It is not the gateway's store (the simulator plays a different system, the
national axis), so it keeps its SQL here and never touches the gateway's database."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS agencies (
    code TEXT PRIMARY KEY, pcode TEXT NOT NULL, name TEXT NOT NULL, mail TEXT NOT NULL,
    mobile TEXT NOT NULL, fax TEXT NOT NULL, code_qd20 TEXT NOT NULL, id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS packages (
    doc_id TEXT PRIMARY KEY, system_id TEXT NOT NULL, from_code TEXT NOT NULL,
    to_codes TEXT NOT NULL, message_type TEXT NOT NULL, service_type TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS packages_resend
    ON packages (system_id, from_code, sha256, message_type);
CREATE TABLE IF NOT EXISTS deliveries (
    doc_id TEXT PRIMARY KEY, package_id TEXT NOT NULL REFERENCES packages (doc_id),
    system_id TEXT NOT NULL, to_codes TEXT NOT NULL, status TEXT NOT NULL,
    status_desc TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_inbox ON deliveries (system_id, status, created);
CREATE INDEX IF NOT EXISTS deliveries_package ON deliveries (package_id);
"""


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Row:
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class SimulatorStore:
    """SQLite (WAL, synchronous=NORMAL) behind one lock: the simulator's load is a test's load."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.blob_dir = data_dir / "blobs"
        self.blob_dir.mkdir(exist_ok=True)
        self.spool_dir = data_dir / "spool"
        self.spool_dir.mkdir(exist_ok=True)
        self._db = sqlite3.connect(
            data_dir / "simulator.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A simulator need not survive power loss: WAL with synchronous=NORMAL stays consistent
        # and skips the fsync per commit (a process crash still loses nothing committed).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock:
            return [Row(dict(row)) for row in self._db.execute(sql, params).fetchall()]

    def put_blob(self, source: Path, sha256: str) -> Path:
        """Keep a package's bytes under their hash (a resend stores nothing new)."""
        target = self.blob_dir / sha256
        if not target.exists():
            partial = target.with_suffix(".partial")
            shutil.copyfile(source, partial)
            partial.replace(target)
        return target

    def blob(self, sha256: str) -> Path:
        return self.blob_dir / sha256

    def close(self) -> None:
        with self._lock:
            self._db.close()

