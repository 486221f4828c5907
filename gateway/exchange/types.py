"""The exchange's data: what its operations take and return, and what intake hands on.

Plain frozen dataclasses with no behaviour beyond describing themselves; every room of the
exchange (intake, mailbox, delegation, fields) and every face speak in these types.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gateway.edxml.model import Package
from gateway.errors import Finding
from gateway.security.signatures import SignatureResult
from gateway.store.base import NewTrace

Source = bytes | str | os.PathLike[str] | BinaryIO
"""A package as a face received it: bytes, a file path, or a binary stream."""

MAX_PENDING_PAGE = 500
MAX_DELEGATION_DEPTH = 8
"""How far up a chain of parents an agency may act (a centre, its units, their units...)."""
MAX_MAILBOXES = 500


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- what the operations return --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    package_id: str
    kind: str
    received_at: dt.datetime
    duplicate: bool
    warnings: tuple[Finding, ...]
    signed_receipt: bytes = b""
    """The gateway-signed receipt (gateway.security.receipts): proof of what was received."""
    signature_status: str = ""
    """The verdict on the package's own XML signature: valid, invalid, absent, unverifiable."""
    signature_reason: str = ""


@dataclass(frozen=True, slots=True)
class PendingItem:
    package_id: str
    kind: str
    sender: str
    document_id: str
    subject: str
    received_at: dt.datetime
    size: int


@dataclass(frozen=True, slots=True)
class PendingPage:
    items: tuple[PendingItem, ...]
    next_cursor: str
    """Pass it back to read on; empty when this page reached the end of the mailbox."""


@dataclass(frozen=True, slots=True)
class PackageContent:
    package_id: str
    kind: str
    sender: str
    received_at: dt.datetime
    size: int
    summary: dict[str, Any]
    open: Callable[[], BinaryIO]
    """Opens the package's edXML (the gateway's normalised form)."""


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    package_id: str
    outcome: str
    status_package_id: str
    """The automatic STATUS 01 sent to the sender; empty when none was sent."""


@dataclass(frozen=True, slots=True)
class TraceEntry:
    status_package_id: str
    from_agency: str
    to_agency: str
    status_code: str
    description: str
    status_time: dt.datetime | None
    recorded_at: dt.datetime
    document_id: str = ""
    kind: str = "status"
    """``status``: a status the receiver sent. ``transport``: this gateway's report on relaying
    the package ``status_package_id`` (``status_code`` is empty: it is no receiver's status)."""
    outcome: str = ""
    """For ``transport``: ``failed`` (a dead letter) or ``delivered`` (after a retry)."""
    error_code: str = ""
    """For ``transport``: the upstream's code (e.g. ``M.Vxp.18``) or the gateway's own."""
    recipients: tuple[str, ...] = ()
    upstream: str = ""


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    code: str
    name: str
    email: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    version: str
    role: str
    max_request_bytes: int
    stream_threshold_bytes: int
    replay_window_seconds: int
    password_text_allowed: bool


# -- packages described field by field ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttachmentInput:
    name: str
    content_type: str
    description: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DocumentFields:
    """A document described field by field, for clients that cannot build edXML."""

    to: tuple[str, ...]
    subject: str
    code_number: str
    code_notation: str
    promulgation_date: dt.date
    place: str = ""
    type: str = "1"
    type_name: str = "Công văn"
    content: str = ""
    signer_competence: str = ""
    signer_position: str = ""
    signer_full_name: str = ""
    priority: int = 0
    due_date: dt.date | None = None
    document_id: str = ""
    steering_type: int = 1
    attachments: tuple[AttachmentInput, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusFields:
    """A status described field by field."""

    response_for_organ_id: str
    response_for_document_id: str
    status_code: str
    description: str = ""
    response_for_code: str = ""
    response_for_promulgation_date: dt.date | None = None
    staff_department: str = ""
    staff_name: str = ""
    staff_mobile: str = ""
    staff_email: str = ""
    timestamp: dt.datetime | None = None


# -- what intake hands on ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Received:
    """A package exactly as it arrived, with its SHA-256 (what the receipt attests).

    ``raw`` is the bytes in memory or in a file: they are kept with the package and its
    signature is judged on them. It is None for a package a face translated from its own
    dialect (the legacy eDoc SOAP): the request names the agency's secret, so it is never
    kept, and the dialect carries no XML signature.
    """

    raw: bytes | Path | None
    sha256: str

    @property
    def translated(self) -> bool:
        return self.raw is None


@dataclass(frozen=True, slots=True)
class Admission:
    """Everything known about a package the gateway is about to accept (read, validated,
    its sender and recipients checked, its signature judged): what the keeper stores."""

    pkg: Package
    sender: str
    document_id: str
    identity: str
    """The business identity the duplicate key is built from."""
    recipients: list[str]
    findings: list[Finding]
    signature: SignatureResult
    received: Received | None = None
    """The package as received; None when the gateway built it itself."""
    attachment_blobs: tuple[str, ...] = ()
    trace: NewTrace | None = None
    upstreams: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Sends to queue: (upstream, the external recipients it delivers to)."""
    upstream_source: str = ""
    """The upstream the package arrived from (empty: a local client sent it)."""
    document_key: str = ""
    """The document this package is about (orders a status or revoke after its document)."""
    delegate: str = ""
    """The parent agency that sent the package for its sender (empty: the sender itself)."""

    @property
    def received_sha256(self) -> str:
        """SHA-256 of the bytes as received; empty when the gateway built the package."""
        return self.received.sha256 if self.received is not None else ""
