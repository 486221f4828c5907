"""The exchange's one entry point for the faces: a thin façade over its rooms.

Each operation is one call to the room that does it (intake, mailbox, delegation, directory);
the façade only composes them over one set of parts. The faces (modern SOAP, legacy eDoc, VXP
REST) use these operations and nothing behind them. The parts themselves (``store``, ``blobs``,
``credentials``...) stay reachable for the composition roots that wire workers to the same
store (relay, CLI) and for tests that inspect what was kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from gateway.config import Settings
from gateway.edxml.blobio import BlobStoreLike
from gateway.edxml.model import Package
from gateway.edxml.reader import ReadOptions
from gateway.exchange.delegation import Delegation
from gateway.exchange.directory import Directory
from gateway.exchange.fields import PackageBuilder
from gateway.exchange.intake import Intake
from gateway.exchange.keeper import Keeper
from gateway.exchange.mailbox import Mailbox
from gateway.exchange.parts import Parts
from gateway.exchange.types import (
    MAX_PENDING_PAGE,
    AgencyInfo,
    ConfirmResult,
    DocumentFields,
    PackageContent,
    PendingPage,
    Receipt,
    ServiceInfo,
    Source,
    StatusFields,
    TraceEntry,
    utc_now,
)
from gateway.security.credentials import UsernameToken
from gateway.security.signatures import SignatureResult
from gateway.store.base import AgencyRecord, Delivery, Store, StoredPackage
from gateway.store.blobs import BlobStore, StagedBlobs
from gateway.store.records import DirectoryEntry, SentRow


class Exchange:
    """The gateway's operations over one store and one blob store."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        blobs: BlobStore | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        parts = Parts.open(settings, store=store, blobs=blobs, clock=clock)
        self._parts = parts
        self.settings = parts.settings
        self.store = parts.store
        self.blobs = parts.blobs
        self.clock = parts.clock
        self.credentials = parts.credentials
        self.signing_key = parts.signing_key
        self.trust = parts.trust
        self.router = parts.router
        self.check_certificate = parts.trust.checker("*")
        """Signer certificates of senders no more specific trust mapping covers."""
        self._directory = Directory(parts)
        self._delegation = Delegation(parts)
        self._intake = Intake(parts, self._delegation, PackageBuilder(parts), Keeper(parts))
        self._mailbox = Mailbox(parts, self._delegation, self._intake)

    def close(self) -> None:
        self.store.close()

    # -- what a face needs besides the operations ----------------------------------------------
    @property
    def spool_dir(self) -> Path:
        """Where a face spools a large request: a package spooled here is linked into the
        blob store when it is kept, never copied."""
        return self.blobs.tmp_dir

    @property
    def blob_io(self) -> BlobStoreLike:
        """Where a face streams the files it parses out of a request, and reads them back."""
        return self.blobs

    def stage(self) -> StagedBlobs:
        """A staging area for the files a face parses out of one request: pass it to
        :meth:`send_translated`, which publishes them only if the package is accepted; the face
        calls ``discard()`` when the request ends (a refusal leaves no file behind)."""
        return StagedBlobs(self.blobs)

    @property
    def read_options(self) -> ReadOptions:
        """The attachment and unzip limits of the settings, for a face reading edXML itself."""
        return self._parts.read_options

    # -- identity and directory ----------------------------------------------------------------
    def authenticate(self, token: UsernameToken) -> str:
        return self._directory.authenticate(token)

    def agency_secret(self, code: str) -> str | None:
        return self._directory.agency_secret(code)

    def ensure_agency(self, code: str, name: str) -> str:
        return self._directory.ensure_agency(code, name)

    def remember_signature(self, system_id: str, signature: str, window_seconds: int) -> bool:
        return self._directory.remember_signature(system_id, signature, window_seconds)

    def get_agencies(self, agency: str) -> list[AgencyInfo]:
        return self._directory.get_agencies(agency)

    def local_agencies(self) -> list[AgencyRecord]:
        return self._directory.local_agencies()

    def upstream_agencies(self) -> list[DirectoryEntry]:
        return self._directory.upstream_agencies()

    def service_info(self) -> ServiceInfo:
        return self._directory.service_info()

    # -- sending -------------------------------------------------------------------------------
    def send_document(self, agency: str, source: Source) -> Receipt:
        return self._intake.send_document(agency, source)

    def send_status(self, agency: str, source: Source) -> Receipt:
        return self._intake.send_status(agency, source)

    def send_document_fields(self, agency: str, fields: DocumentFields) -> Receipt:
        return self._intake.send_document_fields(agency, fields)

    def send_status_fields(self, agency: str, fields: StatusFields) -> Receipt:
        return self._intake.send_status_fields(agency, fields)

    def send_translated(
        self, agency: str, pkg: Package, received: bytes, stage: StagedBlobs | None = None
    ) -> Receipt:
        return self._intake.send_translated(agency, pkg, received, stage)

    def accept_from_upstream(self, upstream: str, source: Source) -> Receipt:
        return self._intake.accept_from_upstream(upstream, source)

    def verify_signature(self, agency: str, raw: bytes | Path) -> SignatureResult:
        return self._intake.verify_signature(agency, raw)

    # -- mailboxes -----------------------------------------------------------------------------
    def get_pending(self, agency: str, kind: str, limit: int, cursor: str) -> PendingPage:
        return self._mailbox.get_pending(agency, kind, limit, cursor)

    def delegated_pending(
        self, agency: str, kind: str, limit: int = MAX_PENDING_PAGE
    ) -> list[tuple[Delivery, StoredPackage]]:
        return self._mailbox.delegated_pending(agency, kind, limit)

    def delegated_deliveries(self, agency: str, package_id: str) -> list[Delivery]:
        return self._mailbox.delegated_deliveries(agency, package_id)

    def sent_report(
        self, agency: str, kind: str, package_id: str = "", limit: int = MAX_PENDING_PAGE
    ) -> list[SentRow]:
        return self._mailbox.sent_report(agency, kind, package_id, limit)

    def get_package(self, agency: str, package_id: str) -> PackageContent:
        return self._mailbox.get_package(agency, package_id)

    def read_package(self, agency: str, package_id: str) -> Package:
        return self._mailbox.read_package(agency, package_id)

    def confirm_received(
        self, agency: str, package_id: str, outcome: str, reason: str, *, mailbox: str = ""
    ) -> ConfirmResult:
        return self._mailbox.confirm_received(agency, package_id, outcome, reason, mailbox=mailbox)

    def mark_processing(
        self, agency: str, package_id: str, note: str, *, mailbox: str = ""
    ) -> Delivery:
        return self._mailbox.mark_processing(agency, package_id, note, mailbox=mailbox)

    def get_traces(
        self,
        agency: str,
        document_id: str = "",
        package_id: str = "",
        since: dt.datetime | None = None,
    ) -> list[TraceEntry]:
        return self._mailbox.get_traces(agency, document_id, package_id, since)

    def get_traces_to(
        self, agency: str, since: dt.datetime, limit: int = MAX_PENDING_PAGE
    ) -> list[TraceEntry]:
        return self._mailbox.get_traces_to(agency, since, limit)

    def legacy_id(self, package_id: str) -> int:
        return self._mailbox.legacy_id(package_id)

    def legacy_package_id(self, legacy_id: int) -> str | None:
        return self._mailbox.legacy_package_id(legacy_id)

    # -- delegated agencies --------------------------------------------------------------------
    def acts_for(self, agency: str, code: str) -> bool:
        return self._delegation.acts_for(agency, code)

    def mailboxes(self, agency: str) -> tuple[str, ...]:
        return self._delegation.mailboxes(agency)

    def register_child(
        self, agency: str, code: str, name: str, email: str = "", parent: str = ""
    ) -> AgencyRecord:
        return self._delegation.register_child(agency, code, name, email, parent)

    def disable_child(self, agency: str, code: str) -> AgencyRecord:
        return self._delegation.disable_child(agency, code)
