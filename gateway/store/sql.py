"""The store on a SQL database: one implementation of every interface in
:mod:`gateway.store.base`, two dialects (SQLite and PostgreSQL, :mod:`gateway.store.engine`).

The agencies, packages, mailboxes, audit log and legacy ids are here; the relay's tables
(directory, outbox, leases) are in :mod:`gateway.store.relay_sql` and the delegated agencies'
queries in :mod:`gateway.store.delegation_sql`, both building on the same engine.
"""

from __future__ import annotations

import importlib.resources
import re
from typing import Any

from gateway.audit.chain import AuditRecord
from gateway.errors import AlreadyExists, ReplayedNonce, StorageError
from gateway.store import memo, riders
from gateway.store.blobs_inline import insert_inline_blobs
from gateway.store.console_sql import ConsoleTables
from gateway.store.delegation_sql import DelegationTables
from gateway.store.engine import (
    AUDIT_COLUMNS,
    PostgresDialect,
    Query,
    SqliteDialect,
    append_audit,
    audit_record,
)
from gateway.store.ops_sql import OpsTables
from gateway.store.records import (
    AgencyRecord,
    Delivery,
    NewPackage,
    PendingRow,
    SignatureCheck,
    StoredPackage,
    TraceRow,
)
from gateway.store.relay_sql import RelayTables, insert_outbound
from gateway.store.retention_sql import RetentionTables
from gateway.store.rows import (
    AGENCY_COLUMNS,
    CHECK_COLUMNS,
    DELIVERY_BY_KEY,
    PACKAGE_COLUMNS,
    TRACE_COLUMNS,
    agency_from,
    check_from,
    delivery_from,
    package_from,
    select,
    trace_from,
)

__all__ = ["PostgresDialect", "SqlStore", "SqliteDialect"]


class SqlStore(RelayTables, DelegationTables, OpsTables, RetentionTables):
    """:class:`gateway.store.base.Store` on SQLite or PostgreSQL."""

    def console_tables(self) -> ConsoleTables:
        return ConsoleTables(self)

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

    def existing_schema_version(self) -> int | None:
        """The schema version as it is, creating nothing (None: no gateway schema here)."""
        try:
            with self._tx("read") as q:
                row = q.one("SELECT MAX(version) AS version FROM schema_version")
        except StorageError:
            return None
        return int(row["version"]) if row and row["version"] is not None else None

    def latest_schema_version(self) -> int:
        """The version this release migrates to."""
        return max(version for version, _name, _script in self._migrations())

    def _version(self, q: Query) -> int:
        q.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = q.one("SELECT MAX(version) AS version FROM schema_version")
        return int(row["version"]) if row and row["version"] is not None else 0

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
        memo.forget(self, agency.code)
        try:
            with self._tx() as q:
                q.run(
                    f"INSERT INTO agencies ({AGENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                append_audit(
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
        return memo.recalled(self, code, self._read_agency)

    def _read_agency(self, code: str) -> AgencyRecord | None:
        with self._tx("read") as q:
            row = q.one(f"SELECT {AGENCY_COLUMNS} FROM agencies WHERE code = ?", (code,))
        return agency_from(row) if row else None

    def list_agencies(self) -> list[AgencyRecord]:
        with self._tx("read") as q:
            rows = q.all(f"SELECT {AGENCY_COLUMNS} FROM agencies ORDER BY code")
        return [agency_from(row) for row in rows]

    def update_agency(
        self,
        code: str,
        *,
        updated_at: int,
        enabled: bool | None = None,
        secret_version: int | None = None,
        secret_hash: str | None = None,
    ) -> AgencyRecord:
        memo.forget(self, code)
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
            row = q.one(f"SELECT {AGENCY_COLUMNS} FROM agencies WHERE code = ?", (code,))
            if row is not None:
                append_audit(
                    q,
                    updated_at,
                    "admin.agency.updated",
                    "operator",
                    code,
                    {k: v for k, v in changes.items() if k not in ("updated_at", "secret_hash")},
                )
        if row is None:
            raise StorageError("N.Agency", f"no agency {code} is registered")
        return agency_from(row)

    def remember_nonce(self, agency: str, nonce: str, now: int, forget_before: int) -> bool:
        def record(q: Query) -> bool:
            q.run("DELETE FROM nonces WHERE seen_at < ?", (forget_before,))
            inserted = q.one(
                "INSERT INTO nonces (agency, nonce, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (agency, nonce) DO NOTHING RETURNING 1",
                (agency, nonce, now),
            )
            return inserted is not None

        def alone() -> bool:
            with self._tx("cache") as q:
                return record(q)

        def within(q: Query) -> None:
            if not record(q):
                raise ReplayedNonce()

        def held_alone() -> None:
            if not alone():
                raise ReplayedNonce()

        # Inside the request's riders block the accept's own transaction records it (a replay
        # then rolls the accept back); True here means "not known to be a replay yet".
        if riders.board(riders.Rider(self, within, held_alone)):
            return True
        return alone()

    # -- packages ----------------------------------------------------------------------------
    def accept(self, package: NewPackage) -> tuple[StoredPackage, bool]:
        with self._tx() as q:
            inserted = self._insert_package(q, package)
            row = q.one(
                f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE dedupe_key = ?",
                (package.dedupe_key,),
            )
            assert row is not None, "the package or its original is stored"
            stored = package_from(row)
            if not inserted:
                append_audit(
                    q,
                    package.received_at,
                    f"{package.kind}.duplicate",
                    package.sender,
                    stored.package_id,
                    {"sha256": package.content_sha256},
                )
        return stored, not inserted

    def package_by_dedupe_key(self, dedupe_key: str) -> StoredPackage | None:
        with self._tx("read") as q:
            row = q.one(
                f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE dedupe_key = ?", (dedupe_key,)
            )
        return package_from(row) if row is not None else None

    @staticmethod
    def _insert_package(q: Query, package: NewPackage) -> bool:
        """Insert a package and what hangs off it; False if its dedupe key is already known."""
        inserted = q.one(
            f"INSERT INTO packages ({PACKAGE_COLUMNS}, dedupe_key) "
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
        insert_inline_blobs(q, package.inline_blobs)
        SqlStore._insert_children(q, package)
        append_audit(
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
            append_audit(q, at, event, actor, subject, details)

    def audit_records(self, after_seq: int, limit: int) -> list[AuditRecord]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        return [audit_record(row) for row in rows]

    def packages_received(
        self, since: int, after: tuple[int, str] | None, limit: int
    ) -> list[StoredPackage]:
        at, last = after if after is not None else (since, "")
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {PACKAGE_COLUMNS} FROM packages "
                "WHERE received_at >= ? AND (received_at > ? OR (received_at = ? AND id > ?)) "
                "ORDER BY received_at, id LIMIT ?",
                (since, at, at, last, limit),
            )
        return [package_from(row) for row in rows]

    def record_signature_check(
        self, check: SignatureCheck, actor: str, details: dict[str, str | int | bool | None]
    ) -> SignatureCheck:
        with self._tx() as q:
            row = q.one(
                "INSERT INTO signature_checks (package_id, checked_at, status, previous_status, "
                "trust_domain, signature_json) VALUES (?, ?, ?, ?, ?, ?) "
                f"RETURNING {CHECK_COLUMNS}",
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
            append_audit(
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
        return check_from(row)

    def signature_checks(self, package_id: str) -> list[SignatureCheck]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {CHECK_COLUMNS} FROM signature_checks WHERE package_id = ? ORDER BY seq",
                (package_id,),
            )
        return [check_from(row) for row in rows]

    @staticmethod
    def _insert_children(q: Query, package: NewPackage) -> None:
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
            row = q.one(f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE id = ?", (package_id,))
        return package_from(row) if row else None

    def get_delivery(self, package_id: str, recipient: str) -> Delivery | None:
        with self._tx("read") as q:
            row = q.one(
                DELIVERY_BY_KEY,
                (package_id, recipient),
            )
        return delivery_from(row) if row else None

    def pending(self, recipient: str, kind: str, limit: int, after_seq: int) -> list[PendingRow]:
        columns = select(PACKAGE_COLUMNS, "p", "p_")
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT d.seq AS delivery_seq, {columns} FROM deliveries d "
                "JOIN packages p ON p.id = d.package_id "
                "WHERE d.recipient = ? AND d.kind = ? AND d.state = 'pending' AND d.seq > ? "
                "ORDER BY d.seq LIMIT ?",
                (recipient, kind, after_seq, limit),
            )
        return [PendingRow(int(row["delivery_seq"]), package_from(row, "p_")) for row in rows]

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
                append_audit(
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
                    f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE dedupe_key = ?",
                    (followup.dedupe_key,),
                )
                stored = package_from(row) if row else None
            row = q.one(
                DELIVERY_BY_KEY,
                (package_id, recipient),
            )
        if row is None:
            raise StorageError(
                "N.Delivery", f"package {package_id} was never addressed to {recipient}"
            )
        return delivery_from(row), stored

    def traces(self, agency: str, document_id: str, since: int) -> list[TraceRow]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {TRACE_COLUMNS} FROM traces "
                "WHERE document_id = ? AND (from_agency = ? OR to_agency = ?) AND recorded_at >= ? "
                "ORDER BY seq",
                (document_id, agency, agency, since),
            )
        return [trace_from(r) for r in rows]

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
        return int(row["id"])

    def legacy_package_id(self, legacy_id: int) -> str | None:
        with self._tx("read") as q:
            row = q.one("SELECT package_id FROM legacy_ids WHERE id = ?", (legacy_id,))
        return str(row["package_id"]) if row else None

    def traces_to(self, agency: str, since: int, limit: int) -> list[TraceRow]:
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {TRACE_COLUMNS} FROM traces "
                "WHERE to_agency = ? AND recorded_at >= ? ORDER BY recorded_at, seq LIMIT ?",
                (agency, since, limit),
            )
        return [trace_from(r) for r in rows]


def _statements(script: str) -> list[str]:
    """Split a migration script on semicolons at line ends (the scripts hold no procedures)."""
    without_comments = "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in without_comments.split(";\n") if s.strip().rstrip(";")]
