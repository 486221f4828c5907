"""The SQL engine under every store table: the two dialects, a query helper whose rows are
mappings by column name, connections per thread, and transactions (one per store call, or one
for a block of calls, see :meth:`SqlDatabase.transaction`).

SQLite is the embedded default (WAL, ``synchronous=FULL``: a commit survives power loss);
PostgreSQL serves several gateway nodes. Queries are written once with ``?`` placeholders; the
PostgreSQL dialect rewrites them. Each thread gets its own connection for reads (and, on
PostgreSQL, for writes); SQLite's writers of one process share one connection and group their
commits (:mod:`gateway.store.group_commit`). A durable transaction first runs the writes its
request holds for it (:mod:`gateway.store.riders`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway import instruments
from gateway.audit.chain import AuditRecord, next_record
from gateway.errors import StorageError
from gateway.store import riders
from gateway.store.group_commit import GroupCommit

log = logging.getLogger(__name__)
Row = Mapping[str, Any]
"""A result row, by column name (the column's alias where the query gives one)."""
Mode = Literal["write", "read", "cache"]
"""``write``: durable commit; ``read``: no write lock; ``cache``: commit without its own fsync."""
AUDIT_COLUMNS = "seq, at, event, actor, subject, details_json, prev_hash, hash"


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Sequence[Any] | None: ...

    def fetchall(self) -> list[Sequence[Any]]: ...


class Dialect(Protocol):
    """What differs between the databases: connecting, placeholders, transactions, locking."""

    name: str

    def connect(self) -> Any: ...

    def sql(self, query: str) -> str: ...

    @contextlib.contextmanager
    def transaction(self, connection: Any, mode: Mode = "write") -> Iterator[Cursor]: ...

    def is_unique_violation(self, exc: BaseException) -> bool: ...

    def lock_for_migration(self, cursor: Cursor) -> None: ...

    def lock_for_audit(self, cursor: Cursor) -> None: ...


class SqliteDialect:
    """SQLite in WAL mode with full fsync; writers serialise on ``BEGIN IMMEDIATE``."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self, shared: bool = False) -> sqlite3.Connection:
        """A connection in autocommit mode; ``shared`` ones may pass between threads (the
        group committer's, used by one thread at a time under its lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=not shared
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    def sql(self, query: str) -> str:
        return query

    @contextlib.contextmanager
    def transaction(self, connection: sqlite3.Connection, mode: Mode = "read") -> Iterator[Cursor]:
        """A read, which takes no write lock. Writes (durable or replay-cache) go through the
        process's :class:`GroupCommit`, which sets the sync level per batch."""
        if mode != "read":
            raise ValueError(f"a SQLite {mode} transaction goes through GroupCommit")
        cursor = connection.cursor()
        cursor.execute("BEGIN")
        try:
            yield cursor
        except BaseException:
            connection.rollback()
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            cursor.close()

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def lock_for_migration(self, cursor: Cursor) -> None:
        """``BEGIN IMMEDIATE`` already excludes every other writer."""

    def lock_for_audit(self, cursor: Cursor) -> None:
        """``BEGIN IMMEDIATE`` already excludes every other writer."""


class PostgresDialect:
    """PostgreSQL through psycopg 3; migrations serialise on an advisory lock."""

    name = "postgres"
    _PLACEHOLDER = re.compile(r"\?")

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:  # the optional extra is not installed
            raise StorageError(
                "M.Store.Driver",
                "PostgreSQL needs psycopg: pip install 'edoc-gateway[postgres]'",
            ) from exc
        try:
            return psycopg.connect(self.dsn, autocommit=False)
        except psycopg.Error as exc:
            raise StorageError("M.Store.Connect", f"cannot connect to PostgreSQL: {exc}") from exc

    def sql(self, query: str) -> str:
        return self._PLACEHOLDER.sub("%s", query)

    @contextlib.contextmanager
    def transaction(self, connection: Any, mode: Mode = "write") -> Iterator[Cursor]:
        with connection.transaction(), connection.cursor() as cursor:
            if mode == "cache":  # a replay cache: losing its last commits in a crash is harmless
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            yield cursor

    def is_unique_violation(self, exc: BaseException) -> bool:
        return type(exc).__name__ == "UniqueViolation"

    def lock_for_migration(self, cursor: Cursor) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(7418529061)")

    def lock_for_audit(self, cursor: Cursor) -> None:
        """One appender at a time across nodes: each record links to the tip it read."""
        cursor.execute("SELECT pg_advisory_xact_lock(7418529062)")


class SqlDatabase:
    """Connections and transactions on one database; the store's tables build on it."""

    def __init__(self, dialect: SqliteDialect | PostgresDialect) -> None:
        self.dialect = dialect
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._group: GroupCommit | None = None
        if isinstance(dialect, SqliteDialect):
            self._group = GroupCommit(lambda: dialect.connect(shared=True))

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.dialect.connect()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextlib.contextmanager
    def _tx(self, mode: Mode = "write") -> Iterator[Query]:
        """One store call's transaction, or the enclosing :meth:`transaction`'s."""
        current: Query | None = getattr(self._local, "unit", None)
        if current is not None:
            yield current
            return
        started = time.perf_counter()
        carried = riders.waiting(self) if mode == "write" else []
        try:
            with self._cursor(mode) as cursor:
                query = Query(cursor, self.dialect)
                for rider in carried:  # a replay here rolls the whole transaction back
                    rider.within(query)
                yield query
            riders.arrived(carried)
            if mode == "write":  # the commit latency operators watch (``/metrics``)
                instruments.STORE_COMMIT_SECONDS.labels(self.dialect.name).observe(
                    time.perf_counter() - started
                )
        except (sqlite3.Error, OSError) as exc:
            raise storage_error(exc) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise storage_error(exc) from exc
            raise

    def _cursor(self, mode: Mode) -> contextlib.AbstractContextManager[Cursor]:
        if self._group is not None and mode != "read":
            return self._group.write(durable=mode == "write")
        return self.dialect.transaction(self._connection(), mode)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A unit of work: every store call in the block commits in one durable transaction
        (or none does, when the block raises). Nested blocks join the outer one."""
        if getattr(self._local, "unit", None) is not None:
            yield
            return
        with self._tx("write") as q:
            self._local.unit = q
            try:
                yield
            finally:
                self._local.unit = None

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(Exception):
                    connection.close()
            self._connections.clear()
        self._local = threading.local()


class Query:
    """A cursor that speaks the dialect's placeholders and returns rows by column name."""

    def __init__(self, cursor: Cursor, dialect: SqliteDialect | PostgresDialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self.dialect.sql(sql), params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.cursor.execute(self.dialect.sql(sql), params)
        row = self.cursor.fetchone()
        return None if row is None else dict(zip(self._names(), row, strict=True))

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cursor.execute(self.dialect.sql(sql), params)
        names = self._names()
        return [dict(zip(names, row, strict=True)) for row in self.cursor.fetchall()]

    def _names(self) -> list[str]:
        return [column[0] for column in self.cursor.description]


def storage_error(exc: BaseException) -> StorageError:
    """A fault message that names the failure's kind; the database's own text goes to the log."""
    log.error("database error: %s: %s", type(exc).__name__, exc)
    return StorageError(
        "M.Store", f"the database could not complete the operation ({type(exc).__name__})"
    )


def audit_record(row: Row) -> AuditRecord:
    return AuditRecord(
        seq=int(row["seq"]),
        at=int(row["at"]),
        event=row["event"],
        actor=row["actor"],
        subject=row["subject"],
        details=json.loads(row["details_json"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def append_audit(
    q: Query, at: int, event: str, actor: str, subject: str, details: dict[str, Any]
) -> None:
    """Append to the hash chain inside the caller's transaction (see gateway.audit)."""
    q.dialect.lock_for_audit(q.cursor)
    row = q.one(f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1")
    record = next_record(
        audit_record(row) if row else None,
        at=at,
        event=event,
        actor=actor or "gateway",
        subject=subject,
        details=details,
    )
    q.run(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.seq,
            record.at,
            record.event,
            record.actor,
            record.subject,
            json.dumps(record.details, ensure_ascii=False, sort_keys=True),
            record.prev_hash,
            record.hash,
        ),
    )
