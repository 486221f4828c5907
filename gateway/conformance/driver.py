"""What a dialect offers the assertions: send, pull, get, confirm, status, traces, raw request.

A dialect's driver speaks its protocol and answers in these plain types, so assertions about
behaviour (a duplicate gets its original receipt, a status reaches the sender) can be written
once against :class:`Driver`. Faults of every dialect become :class:`ServiceFault`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.conformance.exchanges import Exchange


class ServiceFault(Exception):
    """The endpoint answered with a fault (SOAP fault, or an HTTP refusal)."""

    def __init__(
        self, code: str, message: str, *, path: str = "", standard: str = "", http_status: int = 0
    ) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        """The gateway's error code (``M.Security.Authentication``), empty if the fault has none."""
        self.message = message
        self.path = path
        self.standard = standard
        """The SOAP fault code's local name: Client/Server (1.1), Sender/Receiver (1.2)."""
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class Receipt:
    package_id: str
    kind: str
    received_at: dt.datetime | None
    duplicate: bool
    signed_receipt: bytes = b""


@dataclass(frozen=True, slots=True)
class PendingItem:
    package_id: str
    kind: str
    sender: str
    document_id: str
    subject: str
    size: int


@dataclass(frozen=True, slots=True)
class Fetched:
    package_id: str
    kind: str
    sender: str
    size: int
    package: bytes
    summary: dict[str, Any] = field(default_factory=dict)
    """The endpoint's parsed summary (fields as ``gateway.edxml.summary`` names them)."""


@dataclass(frozen=True, slots=True)
class Confirmation:
    package_id: str
    outcome: str
    status_package_id: str


@dataclass(frozen=True, slots=True)
class Trace:
    status_package_id: str
    from_agency: str
    to_agency: str
    status_code: str
    description: str


class Driver(Protocol):
    """One agency's connection to the endpoint in one dialect."""

    @property
    def agency(self) -> str: ...

    def send_document(self, package: bytes) -> Receipt: ...

    def send_status(self, package: bytes) -> Receipt: ...

    def pending(
        self, kind: str, limit: int = 0, cursor: str = ""
    ) -> tuple[list[PendingItem], str]: ...

    def get(self, package_id: str) -> Fetched: ...

    def confirm(self, package_id: str, outcome: str = "ok", reason: str = "") -> Confirmation: ...

    def traces(
        self, document_id: str = "", package_id: str = "", since: dt.datetime | None = None
    ) -> list[Trace]: ...

    def raw(
        self,
        body: bytes | Iterable[bytes],
        *,
        content_type: str,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Exchange: ...
