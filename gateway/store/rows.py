"""The columns each record is read from, and the functions that turn a row (by column name)
into that record. A join selects a table's columns under a prefix (:func:`select`) so two
tables' ``kind`` or ``seq`` never collide; the mapper is given the same prefix."""

from __future__ import annotations

from typing import Any

from gateway.store.engine import Row
from gateway.store.records import (
    AgencyRecord,
    Delivery,
    DirectoryEntry,
    OutboxItem,
    SignatureCheck,
    StoredPackage,
    TraceRow,
)

PACKAGE_COLUMNS = (
    "id, kind, sender, document_id, content_sha256, blob_sha256, size, received_at, "
    "summary_json, warnings_json, signature_json, receipt_sha256, raw_sha256, origin"
)
CHECK_COLUMNS = "seq, package_id, checked_at, status, previous_status, trust_domain, signature_json"
DELIVERY_COLUMNS = (
    "package_id, recipient, kind, state, reason, created_at, done_at, seq, progress, progress_note"
)
DELIVERY_BY_KEY = (
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE package_id = ? AND recipient = ?"
)
AGENCY_COLUMNS = (
    "code, name, email, enabled, secret_version, secret_hash, created_at, updated_at, parent"
)
TRACE_COLUMNS = (
    "seq, document_id, status_package_id, from_agency, to_agency, status_code, description, "
    "status_time, recorded_at, kind, outcome, error_code, recipients, upstream"
)
DIRECTORY_COLUMNS = "code, code_qd20, name, email, parent, kind, upstream, source, updated_at"
OUTBOX_COLUMNS = (
    "id, package_id, upstream, kind, sender, recipients, document_key, blob_sha256, size, "
    "state, attempts, next_attempt_at, lease_owner, lease_expires_at, last_error, remote_id, "
    "created_at, updated_at, last_error_code"
)


def select(columns: str, alias: str, prefix: str) -> str:
    """``a.x AS px, a.y AS py, ...``: a table's columns in a join, named apart."""
    return ", ".join(f"{alias}.{c.strip()} AS {prefix}{c.strip()}" for c in columns.split(","))


def codes(value: Any) -> tuple[str, ...]:
    """A comma-separated list of agency codes, as the tables keep it."""
    return tuple(code for code in str(value).split(",") if code)


def agency_from(row: Row) -> AgencyRecord:
    return AgencyRecord(
        code=row["code"],
        name=row["name"],
        email=row["email"],
        enabled=bool(row["enabled"]),
        secret_version=int(row["secret_version"]),
        secret_hash=row["secret_hash"],
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
        parent=row["parent"],
    )


def package_from(row: Row, prefix: str = "") -> StoredPackage:
    p = prefix
    return StoredPackage(
        package_id=row[p + "id"],
        kind=row[p + "kind"],
        sender=row[p + "sender"],
        document_id=row[p + "document_id"],
        content_sha256=row[p + "content_sha256"],
        blob_sha256=row[p + "blob_sha256"],
        size=int(row[p + "size"]),
        received_at=int(row[p + "received_at"]),
        summary_json=row[p + "summary_json"],
        warnings_json=row[p + "warnings_json"],
        signature_json=row[p + "signature_json"],
        receipt_sha256=row[p + "receipt_sha256"],
        raw_sha256=row[p + "raw_sha256"],
        origin=row[p + "origin"],
    )


def delivery_from(row: Row, prefix: str = "") -> Delivery:
    p = prefix
    done_at = row[p + "done_at"]
    return Delivery(
        package_id=row[p + "package_id"],
        recipient=row[p + "recipient"],
        kind=row[p + "kind"],
        state=row[p + "state"],
        reason=row[p + "reason"],
        created_at=int(row[p + "created_at"]),
        done_at=None if done_at is None else int(done_at),
        seq=int(row[p + "seq"]),
        progress=row[p + "progress"],
        progress_note=row[p + "progress_note"],
    )


def check_from(row: Row) -> SignatureCheck:
    return SignatureCheck(
        seq=int(row["seq"]),
        package_id=row["package_id"],
        checked_at=int(row["checked_at"]),
        status=row["status"],
        previous_status=row["previous_status"],
        trust_domain=row["trust_domain"],
        signature_json=row["signature_json"],
    )


def trace_from(row: Row) -> TraceRow:
    """A ``traces`` row selected as :data:`TRACE_COLUMNS`."""
    return TraceRow(
        seq=int(row["seq"]),
        document_id=row["document_id"],
        status_package_id=row["status_package_id"],
        from_agency=row["from_agency"],
        to_agency=row["to_agency"],
        status_code=row["status_code"],
        description=row["description"],
        status_time=row["status_time"],
        recorded_at=int(row["recorded_at"]),
        kind=row["kind"],
        outcome=row["outcome"],
        error_code=row["error_code"],
        recipients=codes(row["recipients"]),
        upstream=row["upstream"],
    )


def directory_from(row: Row) -> DirectoryEntry:
    return DirectoryEntry(
        code=row["code"],
        code_qd20=row["code_qd20"],
        name=row["name"],
        email=row["email"],
        parent=row["parent"],
        kind=row["kind"],
        upstream=row["upstream"],
        source=row["source"],
        updated_at=int(row["updated_at"]),
    )


def outbox_from(row: Row, **override: Any) -> OutboxItem:
    values: dict[str, Any] = {
        "id": int(row["id"]),
        "package_id": row["package_id"],
        "upstream": row["upstream"],
        "kind": row["kind"],
        "sender": row["sender"],
        "recipients": codes(row["recipients"]),
        "document_key": row["document_key"],
        "blob_sha256": row["blob_sha256"],
        "size": int(row["size"]),
        "state": row["state"],
        "attempts": int(row["attempts"]),
        "next_attempt_at": int(row["next_attempt_at"]),
        "lease_owner": row["lease_owner"],
        "lease_expires_at": int(row["lease_expires_at"]),
        "last_error": row["last_error"],
        "remote_id": row["remote_id"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
        "last_error_code": row["last_error_code"],
    }
    values.update(override)
    return OutboxItem(**values)
