"""The interfaces of the gateway's durable state, one per concern, and their compositions.

Callers name the narrowest interface they need (the router a :class:`RoutingStore`, the relay a
:class:`RelayStore`), so a test or a new engine implements only what it is asked for.
:class:`gateway.store.sql.SqlStore` implements them all on SQLite and PostgreSQL. The records
they exchange live in :mod:`gateway.store.records` (re-exported here for older imports).

Every method that changes state is one transaction: it has committed when it returns, so a
client receives success only for what is on disk. :meth:`UnitOfWork.transaction` groups several
calls into one transaction when they must commit together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gateway.audit.chain import AuditRecord
from gateway.errors import AlreadyExists, StorageError
from gateway.store.records import (
    AgencyRecord,
    Delivery,
    DirectoryEntry,
    NewOutbound,
    NewPackage,
    NewTrace,
    OutboxDepth,
    OutboxItem,
    OutboxState,
    PendingRow,
    SentRow,
    SignatureCheck,
    StoredPackage,
    TraceRow,
    UpstreamHealth,
    from_micros,
    to_micros,
)

if TYPE_CHECKING:
    from gateway.store.console_sql import ConsoleTables

__all__ = [
    "AgencyRecord",
    "AgencyStore",
    "AlreadyExists",
    "AuditLog",
    "DelegationStore",
    "Delivery",
    "DirectoryStore",
    "LeaseStore",
    "LegacyIdStore",
    "MailboxStore",
    "NewOutbound",
    "NewPackage",
    "NewTrace",
    "OperationsStore",
    "OutboxStore",
    "PackageStore",
    "PendingRow",
    "RelayStore",
    "RetentionStore",
    "RoutingStore",
    "SchemaStore",
    "SignatureCheck",
    "StorageError",
    "Store",
    "StoredPackage",
    "TraceRow",
    "UnitOfWork",
    "from_micros",
    "to_micros",
]


class SchemaStore(Protocol):
    """The schema and the connections."""

    def migrate(self) -> int:
        """Apply pending schema migrations; returns the schema version now in force."""
        ...

    def schema_version(self) -> int: ...

    def existing_schema_version(self) -> int | None:
        """The version as it is, creating nothing (None: no gateway schema there)."""
        ...

    def latest_schema_version(self) -> int:
        """The version this release migrates to."""
        ...

    def close(self) -> None: ...


class UnitOfWork(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Run every store call inside the ``with`` block in one database transaction.

        The calls commit together when the block ends, or roll back together when it raises;
        nested blocks join the outer one. A call's own "committed when it returns" then holds
        for the block as a whole.
        """
        ...


class AgencyStore(Protocol):
    """Agencies with a mailbox here, and the replay cache of their UsernameToken nonces."""

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
        """Record a UsernameToken nonce; False when it was already seen (a replay). Inside a
        request's riders block (:mod:`gateway.store.riders`) it is held for the request's
        durable transaction, which raises ``ReplayedNonce`` on a replay."""
        ...


class AuditLog(Protocol):
    """The hash-chained audit log (gateway.audit)."""

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


class PackageStore(Protocol):
    """Accepted packages, their duplicate index and their signature re-checks."""

    def accept(self, package: NewPackage) -> tuple[StoredPackage, bool]:
        """Store a package with its deliveries and trace, atomically.

        Returns the stored package and ``duplicate``: when ``dedupe_key`` is already known,
        nothing is written and the original package is returned with True.
        """
        ...

    def get_package(self, package_id: str) -> StoredPackage | None: ...

    def package_by_dedupe_key(self, dedupe_key: str) -> StoredPackage | None:
        """The package already accepted under this duplicate key, if any (a read: the
        exchange asks before it writes anything for a resend)."""
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


class MailboxStore(Protocol):
    """Deliveries to local mailboxes and the traces (statuses) about documents."""

    def get_delivery(self, package_id: str, recipient: str) -> Delivery | None: ...

    def deliveries_of(self, package_id: str) -> list[Delivery]:
        """Every mailbox delivery of one package, oldest first."""
        ...

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

    def mark_progress(
        self, package_id: str, recipient: str, progress: str, note: str, now: int
    ) -> Delivery | None:
        """Record that the recipient is working on a pending delivery (audited as
        ``delivery.<progress>``); a finished delivery is returned unchanged; None if absent."""
        ...

    def traces(self, agency: str, document_id: str, since: int) -> list[TraceRow]:
        """Statuses about a document that ``agency`` sent or received, oldest first."""
        ...

    def traces_to(self, agency: str, since: int, limit: int) -> list[TraceRow]:
        """Statuses addressed to ``agency`` recorded at or after ``since``, oldest first."""
        ...


class DelegationStore(Protocol):
    """Queries over several agencies at once, for a parent acting for its children."""

    def agency_children(self, parent: str) -> list[AgencyRecord]:
        """The agencies registered directly under ``parent`` (enabled or not), by code."""
        ...

    def pending_in(
        self, recipients: Sequence[str], kind: str, limit: int
    ) -> list[tuple[Delivery, StoredPackage]]:
        """Pending deliveries of a kind to any of ``recipients``, in arrival order."""
        ...

    def sent_by(
        self, senders: Sequence[str], kind: str, package_id: str, limit: int
    ) -> list[SentRow]:
        """Packages of a kind that any of ``senders`` sent (or just ``package_id``), newest
        first: one row per local recipient and per upstream recipient."""
        ...


class LegacyIdStore(Protocol):
    """The legacy eDoc dialect's numeric document ids."""

    def legacy_id(self, package_id: str) -> int:
        """The dialect's numeric document id for a package (assigned on first use, then fixed)."""
        ...

    def legacy_package_id(self, legacy_id: int) -> str | None: ...


class DirectoryStore(Protocol):
    """The agency directory: agencies reached through an upstream or a peer gateway."""

    def directory_entry(self, code: str) -> DirectoryEntry | None:
        """The agency reached through an upstream under this QCVN 102 or QĐ 20 code."""
        ...

    def list_directory(self) -> list[DirectoryEntry]: ...

    def upsert_directory(
        self, entries: Sequence[DirectoryEntry], now: int, actor: str
    ) -> tuple[int, int]:
        """Insert or refresh entries (never deletes); returns (added, updated)."""
        ...

    def learn_directory(self, code: str, upstream: str, now: int) -> None:
        """Remember the upstream a package from ``code`` came through (if nothing is known)."""
        ...

    def relayed_from_here(self, sender: str, document_id: str) -> bool:
        """Whether a package from ``sender`` about ``document_id`` was sent upstream from here."""
        ...


class OutboxStore(Protocol):
    """Sends to upstreams, claimed under a lease, with their attempts' outcomes."""

    def claim_outbox(
        self, upstream: str, owner: str, now: int, lease_until: int, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due items for one upstream (in document order)."""
        ...

    def release_outbox(self, item_id: int, owner: str, now: int) -> None:
        """Give a claimed item back untried."""
        ...

    def finish_outbox(
        self,
        item_id: int,
        owner: str,
        now: int,
        state: OutboxState,
        *,
        error: str = "",
        error_code: str = "",
        remote_id: str = "",
        next_attempt_at: int = 0,
        reporter: str = "",
    ) -> OutboxItem | None:
        """Record one attempt's outcome; None when this owner's lease was lost."""
        ...

    def expire_outbox(
        self,
        now: int,
        created_before: int,
        reason: str,
        *,
        error_code: str = "",
        reporter: str = "",
    ) -> int:
        """Dead-letter queued items older than the age limit; returns how many."""
        ...

    def outbox_item(self, item_id: int) -> OutboxItem | None: ...

    def outbox_items(
        self, state: str = "", upstream: str = "", package_id: str = "", limit: int = 100
    ) -> list[OutboxItem]: ...

    def outbox_counts(self) -> dict[str, int]: ...

    def retry_outbox(self, item_id: int, now: int, actor: str) -> OutboxItem:
        """Queue an item again now (a dead letter or a cancelled one gets fresh attempts)."""
        ...

    def cancel_outbox(self, item_id: int, now: int, actor: str, reason: str) -> OutboxItem:
        """Stop relaying an item (queued or dead)."""
        ...


class LeaseStore(Protocol):
    """Named leases: one node at a time does a periodic job (a poll, a sync)."""

    def acquire_lease(self, name: str, owner: str, now: int, until: int) -> bool:
        """Take or renew a named lease; False while another owner's lease is live."""
        ...

    def release_lease(self, name: str, owner: str) -> None: ...


class OperationsStore(Protocol):
    """What health checks and metrics read: upstream contact and the operational gauges."""

    def record_upstream_contact(
        self, upstream: str, ok: bool, now: int, error: str = "", *, polled: bool = False
    ) -> None:
        """Record one contact outcome (the relay throttles how often it calls this);
        ``polled``: a successful listing by the inbound poller."""
        ...

    def upstream_health(self) -> list[UpstreamHealth]: ...

    def outbox_depth(self) -> list[OutboxDepth]: ...

    def mailbox_backlog(self) -> dict[tuple[str, str], int]: ...

    def oldest_pending_delivery_at(self) -> int: ...


class ConsoleAccess(Protocol):
    def console_tables(self) -> ConsoleTables:
        """The web console's queries and tables over this store (``gateway.store.console_sql``)."""
        ...


class RetentionStore(Protocol):
    """Purging content, forgetting identities, and the collector's question
    (:mod:`gateway.store.retention_sql`)."""

    def purge_candidates(
        self, kind: str, before: int, after: tuple[int, str], limit: int
    ) -> list[tuple[int, str]]: ...

    def purge_packages(
        self, ids: Sequence[str], now: int, actor: str, details: dict[str, Any]
    ) -> list[str]: ...

    def forget_candidates(
        self, kind: str, before: int, after: tuple[int, str], limit: int
    ) -> list[tuple[int, str]]: ...

    def forget_packages(
        self, ids: Sequence[str], now: int, actor: str, details: dict[str, Any]
    ) -> list[str]: ...

    def referenced_blobs(self, digests: Sequence[str]) -> set[str]:
        """Which of these blobs some package still needs."""
        ...


class RoutingStore(AgencyStore, DirectoryStore, Protocol):
    """What the router reads: local agencies first, then the directory."""


class RelayStore(
    OutboxStore, LeaseStore, DirectoryStore, AgencyStore, AuditLog, OperationsStore, Protocol
):
    """What the relay's worker, poller and directory sync use."""


class Store(
    SchemaStore,
    UnitOfWork,
    AgencyStore,
    AuditLog,
    PackageStore,
    MailboxStore,
    DelegationStore,
    LegacyIdStore,
    DirectoryStore,
    OutboxStore,
    LeaseStore,
    OperationsStore,
    ConsoleAccess,
    RetentionStore,
    Protocol,
):
    """The gateway's whole durable state (what :func:`gateway.store.open_store` returns)."""
