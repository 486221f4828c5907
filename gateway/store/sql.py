"""The store on a SQL database: one implementation, two dialects (SQLite and PostgreSQL).

SQLite is the embedded default (WAL, ``synchronous=FULL``: a commit survives power loss);
PostgreSQL serves several gateway nodes. Queries are written once with ``?`` placeholders; the
PostgreSQL dialect rewrites them. Each thread gets its own connection (gunicorn sync workers
use one thread; tests and the demo server may use several).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.audit.chain import AuditRecord, next_record
from gateway.store.base import (
    AgencyRecord,
    AlreadyExists,
    Delivery,
    NewPackage,
    PendingRow,
    SignatureCheck,
    StorageError,
    StoredPackage,
    TraceRow,
)
from gateway.store.delegation_sql import DelegationTables
from gateway.store.relay_sql import RelayTables, insert_outbound

log = logging.getLogger(__name__)
Row = Sequence[Any]
Mode = Literal["write", "read", "cache"]
"""``write``: durable commit; ``read``: no write lock; ``cache``: commit without its own fsync."""
_PACKAGE_COLUMNS = (
    "id, kind, sender, document_id, content_sha256, blob_sha256, size, received_at, "
    "summary_json, warnings_json, signature_json, receipt_sha256, raw_sha256, origin"
)
_CHECK_COLUMNS = (
    "seq, package_id, checked_at, status, previous_status, trust_domain, signature_json"
)
_AUDIT_COLUMNS = "seq, at, event, actor, subject, details_json, prev_hash, hash"
_DELIVERY_COLUMNS = (
    "package_id, recipient, kind, state, reason, created_at, done_at, seq, progress, progress_note"
)
_DELIVERY_BY_KEY = (
    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE package_id = ? AND recipient = ?"
)
_AGENCY_COLUMNS = (
    "code, name, email, enabled, secret_version, secret_hash, created_at, updated_at, parent"
)


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...


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

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    def sql(self, query: str) -> str:
        return query

    @contextlib.contextmanager
    def transaction(self, connection: sqlite3.Connection, mode: Mode = "write") -> Iterator[Cursor]:
        """Reads take no write lock; a ``cache`` commit skips its own fsync.

        With WAL, ``synchronous=NORMAL`` keeps the database consistent; the commit becomes
        durable with the next FULL commit's fsync, which covers the whole WAL.
        """
        cursor = connection.cursor()
        if mode == "cache":
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("BEGIN" if mode == "read" else "BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            connection.rollback()
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            if mode == "cache":
                cursor.execute("PRAGMA synchronous=FULL")
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


class SqlStore(RelayTables, DelegationTables):
    """:class:`gateway.store.base.Store` on SQLite or PostgreSQL (with the relay's tables)."""

    def __init__(self, dialect: SqliteDialect | PostgresDialect) -> None:
        self.dialect = dialect
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------
    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.dialect.connect()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextlib.contextmanager
    def _tx(self, mode: Mode = "write") -> Iterator[_Q]:
        try:
            with self.dialect.transaction(self._connection(), mode) as cursor:
                yield _Q(cursor, self.dialect)
        except (sqlite3.Error, OSError) as exc:
            raise _storage_error(exc) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise _storage_error(exc) from exc
            raise

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(Exception):
                    connection.close()
            self._connections.clear()
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------------
    def _migrations(self) -> list[tuple[int, str, str]]:
        folder = importlib.resources.files("gateway.store.migrations") / self.dialect.name
        found = []
        for entry in folder.iterdir():
            match = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
            if match:
                found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
        return sorted(found)

    def schema_version(self) -> int:
        with self._tx("read") as q:
            return self._version(q)

    def _version(self, q: _Q) -> int:
        q.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = q.one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self) -> int:
        with self._tx() as q:
            self.dialect.lock_for_migration(q.cursor)
            current = self._version(q)
            for version, _name, script in self._migrations():
                if version <= current:
                    continue
                for statement in _statements(script):
                    q.run(statement)
                q.run("INSERT INTO schema_version (version) VALUES (?)", (version,))
                current = version
            return current

    # -- agencies ----------------------------------------------------------------------------
    def add_agency(self, agency: AgencyRecord) -> None:
        try:
            with self._tx() as q:
                q.run(
                    f"INSERT INTO agencies ({_AGENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        agency.code,
                        agency.name,
                        agency.email,
                        agency.enabled,
                        agency.secret_version,
                        agency.secret_hash,
                        agency.created_at,
                        agency.updated_at,
                        agency.parent,
                    ),
                )
                self._audit(
                    q,
                    agency.created_at,
                    "admin.agency.added",
                    "operator",
                    agency.code,
                    {
                        "name": agency.name,
                        "secret_version": agency.secret_version,
                        **({"parent": agency.parent} if agency.parent else {}),
                    },
                )
        except StorageError as exc:
            if exc.__cause__ is not None and self.dialect.is_unique_violation(exc.__cause__):
                raise AlreadyExists(
                    "M.Agency.Exists", f"agency {agency.code} is already registered"
                ) from None
            raise

    def get_agency(self, code: str) -> AgencyRecord | None:
        with self._tx("read") as q:
            row = q.one(f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE code = ?", (code,))
        return _agency(row) if row else None

    def list_agencies(self) -> list[AgencyRecord]:
        with self._tx("read") as q:
            rows = q.all(f"SELECT {_AGENCY_COLUMNS} FROM agencies ORDER BY code")
        return [_agency(row) for row in rows]

    def update_agency(
        self,
        code: str,
        *,
        updated_at: int,
        enabled: bool | None = None,
        secret_version: int | None = None,
        secret_hash: str | None = None,
    ) -> AgencyRecord:
        changes: dict[str, Any] = {"updated_at": updated_at}
        if enabled is not None:
            changes["enabled"] = enabled
        if secret_version is not None:
            changes["secret_version"] = secret_version
        if secret_hash is not None:
            changes["secret_hash"] = secret_hash
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._tx() as q:
            q.run(f"UPDATE agencies SET {assignments} WHERE code = ?", (*changes.values(), code))
            row = q.one(f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE code = ?", (code,))
            if row is not None:
                self._audit(
                    q,
                    updated_at,
                    "admin.agency.updated",
                    "operator",
                    code,
                    {k: v for k, v in changes.items() if k not in ("updated_at", "secret_hash")},
                )
        if row is None:
            raise StorageError("N.Agency", f"no agency {code} is registered")
        return _agency(row)

    def remember_nonce(self, agency: str, nonce: str, now: int, forget_before: int) -> bool:
        with self._tx("cache") as q:
            q.run("DELETE FROM nonces WHERE seen_at < ?", (forget_before,))
            inserted = q.one(
                "INSERT INTO nonces (agency, nonce, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (agency, nonce) DO NOTHING RETURNING 1",
                (agency, nonce, now),
            )
        return inserted is not None

    # -- packages ----------------------------------------------------------------------------
    def accept(self, package: NewPackage) -> tuple[StoredPackage, bool]:
        with self._tx() as q:
            inserted = self._insert_package(q, package)
            row = q.one(
                f"SELECT {_PACKAGE_COLUMNS} FROM packages WHERE dedupe_key = ?",
                (package.dedupe_key,),
            )
            assert row is not None, "the package or its original is stored"
            stored = _package(row)
            if not inserted:
                self._audit(
                    q,
                    package.received_at,
                    f"{package.kind}.duplicate",
                    package.sender,
                    stored.package_id,
                    {"sha256": package.content_sha256},
                )
        return stored, not inserted

    @staticmethod
    def _insert_package(q: _Q, package: NewPackage) -> bool:
        """Insert a package and what hangs off it; False if its dedupe key is already known."""
        inserted = q.one(
            f"INSERT INTO packages ({_PACKAGE_COLUMNS}, dedupe_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            (
                package.package_id,
                package.kind,
                package.sender,
                package.document_id,
                package.content_sha256,
                package.blob_sha256,
                package.size,
                package.received_at,
                package.summary_json,
                package.warnings_json,
                package.signature_json,
                package.receipt_sha256,
                package.raw_sha256,
                package.origin,
                package.dedupe_key,
            ),
        )
        if inserted is None:
            return False
        SqlStore._insert_children(q, package)
        SqlStore._audit(
            q,
            package.received_at,
            f"{package.kind}.accepted",
            package.sender,
            package.package_id,
            {
                "document_id": package.document_id,
                "sha256": package.content_sha256,
                "size": package.size,
                "recipients": ",".join(package.recipients),
                "receipt_sha256": package.receipt_sha256,
                **dict(package.audit_details),
            },
        )
        return True

    @staticmethod
    def _audit(
        q: _Q, at: int, event: str, actor: str, subject: str, details: dict[str, Any]
    ) -> None:
        """Append to the hash chain inside the caller's transaction (see gateway.audit)."""
        q.dialect.lock_for_audit(q.cursor)
        row = q.one(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1")
        record = next_record(
            _audit_record(row) if row else None,
            at=at,
            event=event,
            actor=actor or "gateway",
            subject=subject,
            details=details,
        )
        q.run(
            f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    def record_event(
        self,
        at: int,
        event: str,
        actor: str,
        subject: str,
        details: dict[str, str | int | bool | None],
        *,
        durable: bool = True,
    ) -> None:
        with self._tx("write" if durable else "cache") as q:
            self._audit(q, at, event, actor, subject, details)

    def audit_records(self, after_seq: int, limit: int) -> list[AuditRecord]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        return [_audit_record(row) for row in rows]

    def packages_received(
        self, since: int, after: tuple[int, str] | None, limit: int
    ) -> list[StoredPackage]:
        at, last = after if after is not None else (since, "")
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_PACKAGE_COLUMNS} FROM packages "
                "WHERE received_at >= ? AND (received_at > ? OR (received_at = ? AND id > ?)) "
                "ORDER BY received_at, id LIMIT ?",
                (since, at, at, last, limit),
            )
        return [_package(row) for row in rows]

    def record_signature_check(
        self, check: SignatureCheck, actor: str, details: dict[str, str | int | bool | None]
    ) -> SignatureCheck:
        with self._tx() as q:
            row = q.one(
                "INSERT INTO signature_checks (package_id, checked_at, status, previous_status, "
                "trust_domain, signature_json) VALUES (?, ?, ?, ?, ?, ?) "
                f"RETURNING {_CHECK_COLUMNS}",
                (
                    check.package_id,
                    check.checked_at,
                    check.status,
                    check.previous_status,
                    check.trust_domain,
                    check.signature_json,
                ),
            )
            assert row is not None
            self._audit(
                q,
                check.checked_at,
                "package.reverified",
                actor,
                check.package_id,
                {
                    "status": check.status,
                    "previous_status": check.previous_status,
                    "trust_domain": check.trust_domain,
                    **details,
                },
            )
        return _signature_check(row)

    def signature_checks(self, package_id: str) -> list[SignatureCheck]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_CHECK_COLUMNS} FROM signature_checks WHERE package_id = ? ORDER BY seq",
                (package_id,),
            )
        return [_signature_check(row) for row in rows]

    @staticmethod
    def _insert_children(q: _Q, package: NewPackage) -> None:
        for blob in sorted({package.blob_sha256, *package.attachment_blobs}):
            q.run(
                "INSERT INTO package_blobs (package_id, blob_sha256) VALUES (?, ?)",
                (package.package_id, blob),
            )
        for recipient in dict.fromkeys(package.recipients):
            q.run(
                "INSERT INTO deliveries (package_id, recipient, kind, state, created_at) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (package.package_id, recipient, package.kind, package.received_at),
            )
        for outbound in package.outbound:
            insert_outbound(q, package, outbound)
        if package.trace is not None:
            t = package.trace
            q.run(
                "INSERT INTO traces (document_id, status_package_id, from_agency, to_agency, "
                "status_code, description, status_time, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    t.document_id,
                    package.package_id,
                    t.from_agency,
                    t.to_agency,
                    t.status_code,
                    t.description,
                    t.status_time,
                    package.received_at,
                ),
            )

    def get_package(self, package_id: str) -> StoredPackage | None:
        with self._tx("read") as q:
            row = q.one(f"SELECT {_PACKAGE_COLUMNS} FROM packages WHERE id = ?", (package_id,))
        return _package(row) if row else None

    def get_delivery(self, package_id: str, recipient: str) -> Delivery | None:
        with self._tx("read") as q:
            row = q.one(
                _DELIVERY_BY_KEY,
                (package_id, recipient),
            )
        return _delivery(row) if row else None

    def pending(self, recipient: str, kind: str, limit: int, after_seq: int) -> list[PendingRow]:
        columns = ", ".join(f"p.{c.strip()}" for c in _PACKAGE_COLUMNS.split(","))
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT d.seq, {columns} FROM deliveries d JOIN packages p ON p.id = d.package_id "
                "WHERE d.recipient = ? AND d.kind = ? AND d.state = 'pending' AND d.seq > ? "
                "ORDER BY d.seq LIMIT ?",
                (recipient, kind, after_seq, limit),
            )
        return [PendingRow(int(row[0]), _package(row[1:])) for row in rows]

    def finish_delivery(
        self,
        package_id: str,
        recipient: str,
        state: str,
        reason: str,
        now: int,
        followup: NewPackage | None = None,
    ) -> tuple[Delivery, StoredPackage | None]:
        with self._tx() as q:
            updated = q.one(
                "UPDATE deliveries SET state = ?, reason = ?, done_at = ? "
                "WHERE package_id = ? AND recipient = ? AND state = 'pending' RETURNING seq",
                (state, reason, now, package_id, recipient),
            )
            stored = None
            if updated is not None:
                self._audit(
                    q,
                    now,
                    f"delivery.{state}",
                    recipient,
                    package_id,
                    {"reason": reason} if reason else {},
                )
            if updated is not None and followup is not None:
                self._insert_package(q, followup)
                row = q.one(
                    f"SELECT {_PACKAGE_COLUMNS} FROM packages WHERE dedupe_key = ?",
                    (followup.dedupe_key,),
                )
                stored = _package(row) if row else None
            row = q.one(
                _DELIVERY_BY_KEY,
                (package_id, recipient),
            )
        if row is None:
            raise StorageError(
                "N.Delivery", f"package {package_id} was never addressed to {recipient}"
            )
        return _delivery(row), stored

    def traces(self, agency: str, document_id: str, since: int) -> list[TraceRow]:
        with self._tx("read") as q:
            rows = q.all(
                "SELECT seq, document_id, status_package_id, from_agency, to_agency, status_code, "
                "description, status_time, recorded_at FROM traces "
                "WHERE document_id = ? AND (from_agency = ? OR to_agency = ?) AND recorded_at >= ? "
                "ORDER BY seq",
                (document_id, agency, agency, since),
            )
        return [
            TraceRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8])) for r in rows
        ]


    # -- the legacy eDoc dialect ---------------------------------------------------------------
    def legacy_id(self, package_id: str) -> int:
        with self._tx() as q:
            q.run(
                "INSERT INTO legacy_ids (package_id) VALUES (?) "
                "ON CONFLICT (package_id) DO NOTHING",
                (package_id,),
            )
            row = q.one("SELECT id FROM legacy_ids WHERE package_id = ?", (package_id,))
        assert row is not None
        return int(row[0])

    def legacy_package_id(self, legacy_id: int) -> str | None:
        with self._tx("read") as q:
            row = q.one("SELECT package_id FROM legacy_ids WHERE id = ?", (legacy_id,))
        return str(row[0]) if row else None

    def traces_to(self, agency: str, since: int, limit: int) -> list[TraceRow]:
        with self._tx("read") as q:
            rows = q.all(
                "SELECT seq, document_id, status_package_id, from_agency, to_agency, status_code, "
                "description, status_time, recorded_at FROM traces "
                "WHERE to_agency = ? AND recorded_at >= ? ORDER BY recorded_at, seq LIMIT ?",
                (agency, since, limit),
            )
        return [
            TraceRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8])) for r in rows
        ]

def _storage_error(exc: BaseException) -> StorageError:
    """A fault message that names the failure's kind; the database's own text goes to the log."""
    log.error("database error: %s: %s", type(exc).__name__, exc)
    return StorageError(
        "M.Store", f"the database could not complete the operation ({type(exc).__name__})"
    )


class _Q:
    """A cursor that speaks the dialect's placeholders."""

    def __init__(self, cursor: Cursor, dialect: SqliteDialect | PostgresDialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self.dialect.sql(sql), params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.cursor.execute(self.dialect.sql(sql), params)
        return self.cursor.fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cursor.execute(self.dialect.sql(sql), params)
        return self.cursor.fetchall()


def _statements(script: str) -> list[str]:
    """Split a migration script on semicolons at line ends (the scripts hold no procedures)."""
    without_comments = "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in without_comments.split(";\n") if s.strip().rstrip(";")]


def _agency(row: Row) -> AgencyRecord:
    return AgencyRecord(
        code=row[0],
        name=row[1],
        email=row[2],
        enabled=bool(row[3]),
        secret_version=int(row[4]),
        secret_hash=row[5],
        created_at=int(row[6]),
        updated_at=int(row[7]),
        parent=row[8],
    )


def _package(row: Row) -> StoredPackage:
    return StoredPackage(
        package_id=row[0],
        kind=row[1],
        sender=row[2],
        document_id=row[3],
        content_sha256=row[4],
        blob_sha256=row[5],
        size=int(row[6]),
        received_at=int(row[7]),
        summary_json=row[8],
        warnings_json=row[9],
        signature_json=row[10],
        receipt_sha256=row[11],
        raw_sha256=row[12],
        origin=row[13],
    )


def _signature_check(row: Row) -> SignatureCheck:
    return SignatureCheck(
        seq=int(row[0]),
        package_id=row[1],
        checked_at=int(row[2]),
        status=row[3],
        previous_status=row[4],
        trust_domain=row[5],
        signature_json=row[6],
    )


def _audit_record(row: Row) -> AuditRecord:
    return AuditRecord(
        seq=int(row[0]),
        at=int(row[1]),
        event=row[2],
        actor=row[3],
        subject=row[4],
        details=json.loads(row[5]),
        prev_hash=row[6],
        hash=row[7],
    )


def _delivery(row: Row) -> Delivery:
    return Delivery(
        package_id=row[0],
        recipient=row[1],
        kind=row[2],
        state=row[3],
        reason=row[4],
        created_at=int(row[5]),
        done_at=None if row[6] is None else int(row[6]),
        seq=int(row[7]),
        progress=row[8],
        progress_note=row[9],
    )
