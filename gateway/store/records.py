"""Every record the store reads and writes, in one module (the interfaces are in
:mod:`gateway.store.base`, the SQL engines in :mod:`gateway.store.sql`).

Times are integers: microseconds since the Unix epoch (UTC), the same in SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

__all__ = [
    "OUTBOX_STATES",
    "AgencyRecord",
    "Delivery",
    "DirectoryEntry",
    "NewOutbound",
    "NewPackage",
    "NewTrace",
    "OutboxDepth",
    "OutboxItem",
    "OutboxState",
    "PendingRow",
    "SentRow",
    "SignatureCheck",
    "StoredPackage",
    "TraceRow",
    "UpstreamHealth",
    "from_micros",
    "to_micros",
]


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
    """``received`` (bytes from a client), ``built`` (by the gateway, from fields) or
    ``translated`` (by a face from its dialect; the request is not kept, see ``raw_sha256``)."""
    inline_blobs: tuple[tuple[str, bytes], ...] = ()
    """Small blobs (SHA-256, bytes) held for this package's transaction
    (``gateway.store.blobs_inline``): inserted with its rows, or not at all."""


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
    """``received``, ``built``, ``translated``, or empty for packages accepted before raw
    bytes were kept."""


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
    kind: str = "status"
    """``status``: a status package a receiver sent. ``transport``: the gateway's own report on
    relaying the package ``status_package_id`` (never a status from the receiver)."""
    outcome: str = ""
    """For a transport row: ``failed`` (a dead letter) or ``delivered`` (sent after a retry)."""
    error_code: str = ""
    """For a transport row: the upstream's code (``M.Vxp.18``) or the gateway's own."""
    recipients: tuple[str, ...] = ()
    """For a transport row: the recipients the outcome is about."""
    upstream: str = ""
    """For a transport row: the upstream the package was relayed to."""


@dataclass(frozen=True, slots=True)
class SentRow:
    """One recipient of a package a sender sent: a local mailbox or an upstream's send."""

    package: StoredPackage
    recipient: str
    route: str
    """``local``, or the name of the upstream the package is queued for."""
    state: str
    """A delivery's ``pending``/``confirmed``/``failed``, or an outbox ``queued``/``sent``/
    ``dead``/``cancelled``."""
    reason: str
    """The recipient's reason (local) or the last relay error (upstream)."""
    updated_at: int
    """When the state last changed (0 while a local delivery is still pending)."""
    remote_id: str = ""
    """The upstream's id for the send, once sent."""
    progress: str = ""
    error_code: str = ""
    """The stable code of the last relay failure (the upstream's own, e.g. ``M.Vxp.18``)."""


class OutboxState(enum.StrEnum):
    """Where an outbox item is (the ``outbox.state`` column's CHECK allows these only)."""

    QUEUED = "queued"
    """Waiting for its next attempt (or being attempted, under a lease)."""
    SENT = "sent"
    """The upstream accepted it."""
    DEAD = "dead"
    """Refused for good, or out of attempts or time: a dead letter (``queue retry`` requeues)."""
    CANCELLED = "cancelled"
    """An operator withdrew it (``queue cancel``)."""


OUTBOX_STATES: tuple[OutboxState, ...] = tuple(OutboxState)


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """An agency reached through an upstream (``kind='upstream'``) or a peer gateway
    (``kind='peer'``); both code forms are kept as the upstream gave them."""

    code: str
    upstream: str
    name: str = ""
    code_qd20: str = ""
    email: str = ""
    parent: str = ""
    kind: str = "upstream"
    source: str = "sync"
    """``sync`` (from the upstream's list), ``manual`` (an operator) or ``learned`` (a package
    arrived from that agency through the upstream)."""
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    package_id: str
    upstream: str
    kind: str
    sender: str
    recipients: tuple[str, ...]
    document_key: str
    blob_sha256: str
    size: int
    state: str
    attempts: int
    next_attempt_at: int
    lease_owner: str
    lease_expires_at: int
    last_error: str
    remote_id: str
    created_at: int
    updated_at: int
    last_error_code: str = ""
    """The stable code of the last failure (the upstream's own, e.g. ``M.Vxp.18``)."""


@dataclass(frozen=True, slots=True)
class UpstreamHealth:
    """The last contact outcomes with one upstream (times in microseconds, 0 = never)."""

    upstream: str
    last_ok_at: int
    last_failure_at: int
    failing_since: int
    """When the current run of failures began; 0 while contact succeeds."""
    last_error: str
    updated_at: int
    last_poll_at: int = 0
    """The poller's last successful listing (schema 12)."""


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """How many outbox items one upstream has in one state, and the oldest one's age."""

    upstream: str
    state: str
    count: int
    oldest_created_at: int
    """The oldest item's ``created_at`` in this (upstream, state) group."""
