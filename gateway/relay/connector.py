"""What the relay needs from an upstream, whatever protocol reaches it.

The relay (outbox worker, inbound poller) talks to the world only through a :class:`Connector`.
Connectors sort every failure into one of two kinds, because the worker acts on the kind:

- :class:`TransientRelayError`: the network, a timeout, an HTTP 5xx, a circuit that is open.
  The package stays queued and is retried with backoff.
- :class:`PermanentRelayError`: the upstream refused the package itself (invalid edXML, an
  unknown recipient, a sender not registered under this system). Retrying cannot help: the
  package becomes a dead letter with the upstream's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

from gateway.errors import PermanentRelayError as PermanentRelayError
from gateway.errors import RelayError as RelayError
from gateway.errors import TransientRelayError as TransientRelayError

Kind = Literal["document", "status"]


@dataclass(frozen=True, slots=True)
class OutboundPackage:
    """One send to an upstream: a package and the external recipients it carries."""

    package_id: str
    """The gateway's package id (for logs and the audit trail)."""
    kind: Kind
    sender: str
    """``From/OrganId``: the agency the package is sent on behalf of."""
    recipients: tuple[str, ...]
    """The recipients this upstream delivers to (already bundled by the router)."""
    open: Callable[[], BinaryIO]
    """Opens the edXML bytes to send (read it once, in chunks)."""
    size: int
    sha256: str
    """Lowercase hex SHA-256 of those bytes (VXP's ``hash-file``)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    remote_id: str
    """The upstream's id for the package (VXP ``DocId``; a peer's package id)."""


@dataclass(frozen=True, slots=True)
class InboundItem:
    """A package waiting for this gateway at the upstream."""

    remote_id: str
    kind: Kind
    sender: str = ""
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoteAgency:
    """An agency in the upstream's directory (``getAgenciesList`` / ``getAgenciesListQD20``)."""

    code: str
    """QCVN 102:2016 code (``000.00.17.H36``) where the upstream gives one."""
    name: str
    email: str = ""
    code_qd20: str = ""
    """QĐ 20/2020 code (``H36.17``) where the upstream gives one."""
    parent: str = ""


class Connector(Protocol):
    """An upstream, as the relay sees it. Every call is bounded by the upstream's timeout and
    raises :class:`TransientRelayError` or :class:`PermanentRelayError` on failure.
    ``send`` is called from several threads at once (``relay_concurrency``), never for two
    items about the same document."""

    name: str

    def send(self, package: OutboundPackage) -> SendResult: ...

    def list_inbound(self, kind: Kind, limit: int) -> list[InboundItem]:
        """Packages of one kind waiting here; listing changes nothing at the upstream."""
        ...

    def fetch(self, item: InboundItem, into: BinaryIO) -> None:
        """Write the package's edXML bytes into ``into``."""
        ...

    def acknowledge(self, item: InboundItem, ok: bool, reason: str) -> None:
        """Transport ack, sent only after the package is committed here (``done``/``fail``)."""
        ...

    def agencies(self) -> Iterable[RemoteAgency]:
        """The upstream's directory, for import and periodic sync."""
        ...

    def close(self) -> None: ...
