"""What the gateway keeps, and the interface every database backend implements.

Times are integers: microseconds since the Unix epoch (UTC), the same in SQLite and PostgreSQL.
Every method that changes state is one transaction: it has committed when it returns, so a
client receives success only for what is on disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.audit.chain import AuditRecord
from gateway.errors import GatewayError, StorageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gateway.store.delegation_sql import SentRow
    from gateway.store.relay_sql import DirectoryEntry

__all__ = [
    "AgencyRecord",
    "AlreadyExists",
    "Delivery",
    "NewOutbound",
    "NewPackage",
    "NewTrace",
    "PendingRow",
    "SignatureCheck",
    "StorageError",
    "Store",
    "StoredPackage",
    "TraceRow",
    "from_micros",
    "to_micros",
]


class AlreadyExists(GatewayError):
    """A record with that key is already stored."""


def to_micros(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000)


def from_micros(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1_000_000, dt.UTC)


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """An agency with a mailbox here. Its secret is never stored, only a hash (see security)."""

    code: str
    name: str
    email: str = ""
    enabled: bool = True
    secret_version: int = 1
    secret_hash: str = ""
    created_at: int = 0
    updated_at: int = 0
    parent: str = ""
    """The agency that may act for this one (send as it, read and confirm its mailbox); ''."""


@dataclass(frozen=True, slots=True)
class NewTrace:
    """A status about a document, recorded when the status package is accepted."""

    document_id: str
    from_agency: str
    to_agency: str
    status_code: str
    description: str
    status_time: str
    """The status's own Timestamp as written (``yyyy/MM/dd HH:mm:ss``, ICT), or empty."""


@dataclass(frozen=True, slots=True)
class NewOutbound:
    """A send to an upstream, queued in the same transaction as the package it carries."""

    upstream: str
    recipients: tuple[str, ...]
    """The external recipients this upstream delivers to (the edXML's ``To`` says the same)."""
    document_key: str
    """The document the package is about: a status, revoke, update or replace waits for any
    earlier queued send about the same document to the same upstream."""
    blob_sha256: str
    """The bytes to send (the package rewritten for this upstream, signed by the gateway)."""
    size: int


@dataclass(frozen=True, slots=True)
class NewPackage:
    """A validated package ready to be accepted, with its mailbox deliveries and trace."""

    package_id: str
    kind: str
    sender: str
    document_id: str
    dedupe_key: str
    content_sha256: str
    blob_sha256: str
    size: int
    received_at: int
    summary_json: str
    warnings_json: str
    recipients: tuple[str, ...]
    attachment_blobs: tuple[str, ...] = ()
    trace: NewTrace | None = None
    signature_json: str = "{}"
    """The XML signature check's result (gateway.security.signatures), as JSON."""
    receipt_sha256: str = ""
    """The gateway-signed receipt, kept in the blob store."""
    audit_details: tuple[tuple[str, str | int | bool | None], ...] = ()
    """Extra facts for the audit record of the acceptance."""
    outbound: tuple[NewOutbound, ...] = ()
    """Sends to upstreams (the recipients that are not local), queued with the package."""
    raw_sha256: str = ""
    """The blob of the bytes exactly as received, kept to re-verify the signature later."""
    origin: str = ""
    """``received`` (bytes from a client) or ``built`` (by the gateway, from fields)."""


@dataclass(frozen=True, slots=True)
class StoredPackage:
    package_id: str
    kind: str
    sender: str
    document_id: str
    content_sha256: str
    blob_sha256: str
    size: int
    received_at: int
    summary_json: str
    warnings_json: str
    signature_json: str = "{}"
    receipt_sha256: str = ""
    raw_sha256: str = ""
    origin: str = ""
    """``received``, ``built``, or empty for packages accepted before raw bytes were kept."""


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """A later check of a package's signature; the verdict given on arrival stays unchanged."""

    seq: int
    package_id: str
    checked_at: int
    status: str
    previous_status: str
    """The verdict in force before this check (the latest earlier check, else the original)."""
    trust_domain: str
    signature_json: str


@dataclass(frozen=True, slots=True)
class Delivery:
    package_id: str
    recipient: str
    kind: str
    state: str
    """``pending``, ``confirmed`` or ``failed``."""
    reason: str
    created_at: int
    done_at: int | None
    seq: int
    progress: str = ""
    """``processing`` once the recipient's client said it is working on a pending delivery."""
    progress_note: str = ""


@dataclass(frozen=True, slots=True)
class PendingRow:
    seq: int
    package: StoredPackage


@dataclass(frozen=True, slots=True)
class TraceRow:
    seq: int
    document_id: str
    status_package_id: str
    from_agency: str
    to_agency: str
    status_code: str
    description: str
    status_time: str
    recorded_at: int


class Store(Protocol):
    """The gateway's durable state; :mod:`gateway.store.sql` implements it (SQLite, PostgreSQL)."""

    def migrate(self) -> int:
        """Apply pending schema migrations; returns the schema version now in force."""
        ...

    def schema_version(self) -> int: ...

    # agencies ------------------------------------------------------------------------------
    def add_agency(self, agency: AgencyRecord) -> None: ...

    def get_agency(self, code: str) -> AgencyRecord | None: ...

    def list_agencies(self) -> list[AgencyRecord]: ...

    def update_agency(
        self,
        code: str,
        *,
        updated_at: int,
        enabled: bool | None = None,
        secret_version: int | None = None,
        secret_hash: str | None = None,
    ) -> AgencyRecord: ...

    def remember_nonce(self, agency: str, nonce: str, now: int, forget_before: int) -> bool:
        """Record a UsernameToken nonce; False when it was already seen (a replay)."""
        ...

    # delegated agencies (gateway.store.delegation_sql) -------------------------------------
    def agency_children(self, parent: str) -> list[AgencyRecord]: ...

    def deliveries_of(self, package_id: str) -> list[Delivery]: ...

    def pending_in(
        self, recipients: Sequence[str], kind: str, limit: int
    ) -> list[tuple[Delivery, StoredPackage]]: ...

    def mark_progress(
        self, package_id: str, recipient: str, progress: str, note: str, now: int
    ) -> Delivery | None: ...

    def sent_by(
        self, senders: Sequence[str], kind: str, package_id: str, limit: int
    ) -> list[SentRow]: ...

    def list_directory(self) -> list[DirectoryEntry]: ...

    # agency directory (gateway.routing) ---------------------------------------------------
    def directory_entry(self, code: str) -> DirectoryEntry | None:
        """The agency reached through an upstream under this QCVN 102 or QĐ 20 code."""
        ...

    def learn_directory(self, code: str, upstream: str, now: int) -> None:
        """Remember the upstream a package from ``code`` came through (if nothing is known)."""
        ...

    # packages ------------------------------------------------------------------------------
    def accept(self, package: NewPackage) -> tuple[StoredPackage, bool]:
        """Store a package with its deliveries and trace, atomically.

        Returns the stored package and ``duplicate``: when ``dedupe_key`` is already known,
        nothing is written and the original package is returned with True.
        """
        ...

    def get_package(self, package_id: str) -> StoredPackage | None: ...

    def get_delivery(self, package_id: str, recipient: str) -> Delivery | None: ...

    def pending(
        self, recipient: str, kind: str, limit: int, after_seq: int
    ) -> list[PendingRow]: ...

    def finish_delivery(
        self,
        package_id: str,
        recipient: str,
        state: str,
        reason: str,
        now: int,
        followup: NewPackage | None = None,
    ) -> tuple[Delivery, StoredPackage | None]:
        """Mark a pending delivery confirmed or failed and accept ``followup`` in one transaction.

        A delivery that is already finished is returned unchanged (with no followup stored):
        confirming twice is harmless.
        """
        ...

    def traces(self, agency: str, document_id: str, since: int) -> list[TraceRow]:
        """Statuses about a document that ``agency`` sent or received, oldest first."""
        ...

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
        """Append one audit record in a transaction of its own (reads, relay attempts)."""
        ...

    def audit_records(self, after_seq: int, limit: int) -> list[AuditRecord]:
        """The audit log in order, a page at a time (for verification and export)."""
        ...

    def packages_received(
        self, since: int, after: tuple[int, str] | None, limit: int
    ) -> list[StoredPackage]:
        """Packages received at or after ``since``, oldest first, a page at a time (``after``
        is the (received_at, package_id) of the previous page's last row)."""
        ...

    def record_signature_check(
        self, check: SignatureCheck, actor: str, details: dict[str, str | int | bool | None]
    ) -> SignatureCheck:
        """Store a re-verification and its ``package.reverified`` audit record, atomically."""
        ...

    def signature_checks(self, package_id: str) -> list[SignatureCheck]:
        """Every re-verification of a package, oldest first."""
        ...

    # the legacy eDoc dialect ------------------------------------------------------------------
    def legacy_id(self, package_id: str) -> int:
        """The dialect's numeric document id for a package (assigned on first use, then fixed)."""
        ...

    def legacy_package_id(self, legacy_id: int) -> str | None: ...

    def traces_to(self, agency: str, since: int, limit: int) -> list[TraceRow]:
        """Statuses addressed to ``agency`` recorded at or after ``since``, oldest first."""
        ...

    def close(self) -> None: ...
