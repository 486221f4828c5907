"""The exchange: what the gateway does with packages, whatever protocol brought them.

Adapters (the modern SOAP service, the legacy eDoc dialect, the national-axis connector) call
these operations with an authenticated agency code. Every accepting operation reads, validates,
stores the package's blobs, then commits the package, its mailbox deliveries and its trace in one
transaction; only then is a receipt returned. Nothing is stored for a package that is refused.
Reads never change state: a client that crashes mid-read can read again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from gateway import __version__
from gateway.config import Settings
from gateway.edxml.agency import parse_agency_code
from gateway.edxml.attachments import sniff_kind
from gateway.edxml.dates import ICT, format_date, format_timestamp
from gateway.edxml.enums import BusinessDocType, Priority, StatusCode, SteeringType
from gateway.edxml.model import (
    Attachment,
    BlobRef,
    Business,
    Code,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.reader import read_package
from gateway.edxml.summary import summarize
from gateway.edxml.validate import validate
from gateway.edxml.writer import package_bytes, write_package
from gateway.errors import (
    BadRequest,
    Finding,
    InvalidPackage,
    NotFound,
    PermissionDenied,
    Severity,
    StorageError,
)
from gateway.routing.router import Route, Router
from gateway.security.credentials import Credentials, UsernameToken, load_master_key
from gateway.security.keys import signing_material
from gateway.security.receipts import build_receipt, sign_receipt
from gateway.security.signatures import (
    SignatureResult,
    SignatureStatus,
    SigningKey,
    VerifyPolicy,
    enforce,
    sign_package,
    verify_package,
)
from gateway.store import open_blobs, open_store
from gateway.store.base import (
    AgencyRecord,
    Delivery,
    NewOutbound,
    NewPackage,
    NewTrace,
    Store,
    StoredPackage,
    TraceRow,
    from_micros,
    to_micros,
)
from gateway.store.blobs import FileBlobStore
from gateway.store.delegation_sql import SentRow
from gateway.trust import SenderTrust

Source = bytes | str | os.PathLike[str] | BinaryIO
P = TypeVar("P", DocumentPackage, StatusPackage)
MAX_PENDING_PAGE = 500
MAX_DELEGATION_DEPTH = 8
"""How far up a chain of parents an agency may act (a centre, its units, their units...)."""
MAX_MAILBOXES = 500


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
class _Received:
    """A package exactly as it arrived: in memory or in a file, with its SHA-256."""

    raw: bytes | Path
    sha256: str


@dataclass(frozen=True, slots=True)
class _Intake:
    """Everything known about a package the gateway is about to accept."""

    pkg: Package
    sender: str
    document_id: str
    identity: str
    """The business identity the duplicate key is built from."""
    recipients: list[str]
    findings: list[Finding]
    signature: SignatureResult
    received_sha256: str
    """SHA-256 of the bytes as received; empty when the gateway built the package itself."""
    attachment_blobs: tuple[str, ...] = ()
    trace: NewTrace | None = None
    upstreams: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Sends to queue: (upstream, the external recipients it delivers to)."""
    upstream_source: str = ""
    """The upstream the package arrived from (empty: a local client sent it)."""
    document_key: str = ""
    """The document this package is about (orders a status or revoke after its document)."""
    received: _Received | None = None
    """The bytes as received, kept with the package; None when the gateway built it."""
    delegate: str = ""
    """The parent agency that sent the package for its sender (empty: the sender itself)."""


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


_CHANGE_ARRIVED = {
    int(BusinessDocType.REVOKE): " (văn bản thu hồi)",
    int(BusinessDocType.UPDATE): " (văn bản cập nhật)",
    int(BusinessDocType.REPLACE): " (văn bản thay thế)",
}
"""What the automatic 01 adds for a change package, so it differs from the original's 01."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _trace_entry(row: TraceRow) -> TraceEntry:
    """A stored trace as the operations return it (status time as written, read as ICT)."""
    return TraceEntry(
        status_package_id=row.status_package_id,
        from_agency=row.from_agency,
        to_agency=row.to_agency,
        status_code=row.status_code,
        description=row.description,
        status_time=(
            dt.datetime.strptime(row.status_time, "%Y/%m/%d %H:%M:%S").replace(tzinfo=ICT)
            if row.status_time
            else None
        ),
        recorded_at=from_micros(row.recorded_at),
    )


class Exchange:
    """The gateway's operations over one store and one blob store."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        blobs: FileBlobStore | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings)
        self.blobs = blobs if blobs is not None else open_blobs(settings)
        self.clock = clock
        self.credentials = Credentials(
            self.store,
            load_master_key(self.settings.key_file),
            replay_window=dt.timedelta(seconds=self.settings.replay_window_seconds),
            password_text_allowed=self.settings.password_text_allowed,
        )
        key_file, cert_file = signing_material(settings)
        self.signing_key = SigningKey.from_files(key_file, cert_file)
        self.trust = SenderTrust(settings)
        self.check_certificate = self.trust.checker("*")
        """Signer certificates of senders no more specific trust mapping covers."""
        self.router = Router(settings, self.store)

    def close(self) -> None:
        self.store.close()

    # -- identity -----------------------------------------------------------------------------
    def authenticate(self, token: UsernameToken) -> str:
        return self.credentials.authenticate(token, self.clock())

    def _agency(self, code: str) -> AgencyRecord:
        record = self.store.get_agency(code)
        if record is None or not record.enabled:
            raise PermissionDenied("M.Permission", f"agency {code} is not enabled here")
        return record

    # -- sending ------------------------------------------------------------------------------
    def send_document(self, agency: str, source: Source) -> Receipt:
        with self._as_received(source) as received:
            pkg = self._read_as(received, DocumentPackage, "SendStatus")
            return self._accept_document(agency, pkg, received)

    def send_document_fields(self, agency: str, fields: DocumentFields) -> Receipt:
        return self._accept_document(agency, self._build_document(agency, fields))

    def send_status(self, agency: str, source: Source) -> Receipt:
        with self._as_received(source) as received:
            pkg = self._read_as(received, StatusPackage, "SendDocument")
            return self._accept_status(agency, pkg, received)

    def _read_as(self, received: _Received, kind: type[P], other_operation: str) -> P:
        """Read a package, refusing the other kind with a pointer to the right operation."""
        pkg = read_package(received.raw, self.blobs)
        if not isinstance(pkg, kind):
            message = f"this is a {pkg.kind} package: use {other_operation}"
            raise InvalidPackage([Finding("M.Package.Kind", "/edXML", message)])
        return pkg

    def send_status_fields(self, agency: str, fields: StatusFields) -> Receipt:
        return self._accept_status(agency, self._build_status(agency, fields))

    @contextlib.contextmanager
    def _as_received(self, source: Source) -> Iterator[_Received]:
        """The bytes exactly as received, with their SHA-256 (what the receipt attests).

        A stream, or a file that is not the gateway's own spool, is spooled to a file in the
        blob store's scratch directory first (hashing as it goes), so the reader, the signature
        check, the receipt and the kept raw copy all see the same bytes, and a large package is
        kept by linking that file into the blob store rather than copying it.
        """
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            yield _Received(data, hashlib.sha256(data).hexdigest())
            return
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if path.resolve().parent == self.blobs.tmp_dir.resolve():
                # The gateway's own spool (the streaming SOAP handler writes it here): no copy.
                digest = hashlib.sha256()
                with path.open("rb") as stream:
                    while chunk := stream.read(1 << 20):
                        digest.update(chunk)
                yield _Received(path, digest.hexdigest())
                return
            with path.open("rb") as stream, self._as_received(stream) as received:
                yield received
            return
        with tempfile.NamedTemporaryFile(dir=self.blobs.tmp_dir, prefix="received-") as spool:
            digest = hashlib.sha256()
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
            spool.flush()
            yield _Received(Path(spool.name), digest.hexdigest())

    def _policy(self, agency: str) -> VerifyPolicy:
        s = self.settings
        return VerifyPolicy(
            allow_sha1=agency in s.signature_sha1_allowed_for
            or "*" in s.signature_sha1_allowed_for,
            require_valid=agency in s.signature_required_for or "*" in s.signature_required_for,
        )

    def verify_signature(self, agency: str, raw: bytes | Path) -> SignatureResult:
        """Judge a package's signature as ``agency``'s: its SHA-1 allowance, its trust domain.

        Never refuses (see :meth:`_signature`); re-verification calls this on kept bytes.
        """
        return verify_package(
            raw, self._policy(agency), check_certificate=self.trust.checker(agency)
        )

    def _signature(self, agency: str, received: _Received | None) -> SignatureResult:
        """The package's own XML signature, judged by the sender's policy (may refuse)."""
        if received is None:
            return SignatureResult(
                SignatureStatus.ABSENT,
                "the gateway built this package from fields; it carries no signature",
                self.clock(),
            )
        result = self.verify_signature(agency, received.raw)
        enforce(result, self._policy(agency))
        return result

    def _keep_raw(self, received: _Received) -> str:
        """Keep the bytes as received in the blob store (the receipt attests their SHA-256)."""
        if isinstance(received.raw, bytes):
            kept = self.blobs.put_bytes(received.raw).sha256
        else:
            kept = self.blobs.adopt(received.raw, received.sha256).sha256
        if kept != received.sha256:
            raise StorageError("M.Blob.Changed", "the received package changed while it was kept")
        return kept

    def _check_valid(self, pkg: Package) -> list[Finding]:
        findings = validate(pkg, today=self.clock().astimezone(ICT).date())
        if any(f.is_error for f in findings):
            raise InvalidPackage(findings)
        return findings

    def _check_sender(self, agency: str, claimed: str) -> str:
        """The package's sender: the authenticated agency, or an agency it acts for."""
        if claimed != agency and not (claimed and self.acts_for(agency, claimed)):
            raise PermissionDenied(
                "M.MessageHeader.From.OrganId",
                f"agency {agency} cannot send as {claimed or 'nobody'}: "
                "From/OrganId must be the authenticated agency or one registered under it",
                "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
            )
        return claimed

    def _check_recipients(self, codes: list[str], path: str) -> Route:
        """Local mailboxes and the upstreams that reach the others; refuses unreachable ones."""
        return self.router.route(codes, path)

    def _accept_document(
        self, agency: str, pkg: DocumentPackage, received: _Received | None = None
    ) -> Receipt:
        self._agency(agency)
        findings = self._check_valid(pkg)
        sender = self._check_sender(agency, pkg.header.from_.organ_id)
        route = self._check_recipients(
            [t.organ_id for t in pkg.header.to], "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To"
        )
        signature = self._signature(sender, received)
        intake = self._document_intake(
            sender, pkg, list(route.local), findings, signature, received, route
        )
        return self._accept(self._delegated(intake, agency))

    @staticmethod
    def _document_intake(
        sender: str,
        pkg: DocumentPackage,
        recipients: list[str],
        findings: list[Finding],
        signature: SignatureResult,
        received: _Received | None,
        route: Route | None = None,
    ) -> _Intake:
        business = pkg.trace.business
        attachments = tuple(
            sha for a in pkg.attachments for sha in (a.encoded.sha256, a.file.sha256)
        )
        return _Intake(
            pkg,
            sender,
            pkg.header.document_id,
            f"document|{sender}|{pkg.header.document_id}|{int(business.doc_type)}",
            recipients,
            findings,
            signature,
            received.sha256 if received else "",
            attachments,
            upstreams=tuple(route.upstreams.items()) if route else (),
            received=received,
            # A revoke, update or replace is about the document it names.
            document_key=(
                business.document_id
                if business.doc_type != BusinessDocType.NEW and business.document_id
                else pkg.header.document_id
            ),
        )

    def _accept_status(
        self, agency: str, pkg: StatusPackage, received: _Received | None = None
    ) -> Receipt:
        self._agency(agency)
        findings = self._check_valid(pkg)
        sender = self._check_sender(agency, pkg.header.from_.organ_id)
        rf = pkg.header.response_for
        assert rf is not None, "validation refuses a status without ResponseFor"
        route = self._check_recipients(
            [rf.organ_id], "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor"
        )
        signature = self._signature(sender, received)
        intake = self._status_intake(
            sender, pkg, list(route.local), findings, signature, received, route
        )
        return self._accept(self._delegated(intake, agency))

    @staticmethod
    def _delegated(intake: _Intake, agency: str) -> _Intake:
        """Note the parent that sent for its child (the audit record names it)."""
        if intake.sender == agency:
            return intake
        return dataclasses.replace(intake, delegate=agency)

    @staticmethod
    def _status_intake(
        sender: str,
        pkg: StatusPackage,
        recipients: list[str],
        findings: list[Finding],
        signature: SignatureResult,
        received: _Received | None,
        route: Route | None = None,
    ) -> _Intake:
        rf = pkg.header.response_for
        assert rf is not None, "validation refuses a status without ResponseFor"
        agency = sender
        trace = NewTrace(
            document_id=rf.document_id,
            from_agency=agency,
            to_agency=rf.organ_id,
            status_code=pkg.header.status_code.value,
            description=pkg.header.description,
            status_time=format_timestamp(pkg.header.timestamp) if pkg.header.timestamp else "",
        )
        return _Intake(
            pkg,
            agency,
            rf.document_id,
            f"status|{agency}|{rf.document_id}|{pkg.header.status_code.value}",
            recipients,
            findings,
            signature,
            received.sha256 if received else "",
            trace=trace,
            upstreams=tuple(route.upstreams.items()) if route else (),
            received=received,
            document_key=rf.document_id,
        )

    def accept_from_upstream(self, upstream: str, source: Source) -> Receipt:
        """Accept a package an upstream delivered (the inbound poller calls this).

        The sender is an agency beyond the upstream, never a local one. A document is delivered
        to the recipients that have a mailbox here (``To`` also names the other agencies the
        sender addressed; reference §5.6); a status goes to the local original sender. A
        package fetched again is recognised by its duplicate key and stored once.
        """
        with self._as_received(source) as received:
            pkg = read_package(received.raw, self.blobs)
            findings = self._check_valid(pkg)
            sender = pkg.header.from_.organ_id
            if self.store.get_agency(sender) is not None:
                raise InvalidPackage(
                    [
                        Finding(
                            "R.MessageHeader.From.OrganId",
                            "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId",
                            f"{sender} has a mailbox here: a package from it cannot arrive "
                            f"from upstream {upstream}",
                        )
                    ]
                )
            if isinstance(pkg, DocumentPackage):
                codes = [t.organ_id for t in pkg.header.to]
                path = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To"
            else:
                rf = pkg.header.response_for
                assert rf is not None, "validation refuses a status without ResponseFor"
                codes = [rf.organ_id]
                path = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor"
            local = [code for code in dict.fromkeys(codes) if self._is_local(code)]
            if not local:
                raise InvalidPackage(
                    [
                        Finding(
                            "R.MessageHeader.To.OrganId",
                            path,
                            f"none of {', '.join(codes) or 'the recipients'} has a mailbox here",
                        )
                    ]
                )
            signature = self._signature(sender, received)
            self.store.learn_directory(sender, upstream, to_micros(self.clock()))
            if isinstance(pkg, DocumentPackage):
                intake = self._document_intake(sender, pkg, local, findings, signature, received)
            else:
                intake = self._status_intake(sender, pkg, local, findings, signature, received)
            return self._accept(dataclasses.replace(intake, upstream_source=upstream))

    def _is_local(self, code: str) -> bool:
        record = self.store.get_agency(code)
        return record is not None and record.enabled

    def _accept(self, intake: _Intake) -> Receipt:
        stored, duplicate = self.store.accept(self._new_package(intake))
        return self._receipt(stored, duplicate)

    def _new_package(self, intake: _Intake) -> NewPackage:
        """Write the normalised package and its signed receipt to the blob store, and describe
        them for the database.

        The duplicate key joins the sender, the business identity and the SHA-256 of the
        normalised package: a resend of the same content is recognised however it was formatted.
        """
        writer = self.blobs.writer()
        try:
            write_package(intake.pkg, writer, self.blobs)
        except BaseException:
            writer.abort()
            raise
        blob = writer.commit()
        raw_sha256 = self._keep_raw(intake.received) if intake.received is not None else ""
        package_id = str(uuid.uuid4())
        received_at = self.clock()
        receipt = sign_receipt(
            build_receipt(
                package_id,
                intake.sender,
                intake.document_id,
                intake.received_sha256 or blob.sha256,
                received_at,
                self.settings.gateway_id,
            ),
            self.signing_key,
        )
        receipt_blob = self.blobs.put_bytes(receipt)
        outbound = self._outbound(intake, blob.sha256)
        warnings = [f.as_dict() for f in intake.findings if f.severity is Severity.WARNING]
        return NewPackage(
            package_id=package_id,
            kind=intake.pkg.kind,
            sender=intake.sender,
            document_id=intake.document_id,
            dedupe_key=hashlib.sha256(f"{intake.identity}|{blob.sha256}".encode()).hexdigest(),
            content_sha256=blob.sha256,
            blob_sha256=blob.sha256,
            size=blob.size,
            received_at=to_micros(received_at),
            summary_json=json.dumps(summarize(intake.pkg), ensure_ascii=False),
            warnings_json=json.dumps(warnings, ensure_ascii=False),
            recipients=tuple(intake.recipients),
            attachment_blobs=(
                *intake.attachment_blobs,
                receipt_blob.sha256,
                *(o.blob_sha256 for o in outbound),
                *((raw_sha256,) if raw_sha256 else ()),
            ),
            trace=intake.trace,
            signature_json=json.dumps(intake.signature.as_dict(), ensure_ascii=False),
            receipt_sha256=receipt_blob.sha256,
            raw_sha256=raw_sha256,
            origin="received" if intake.received is not None else "built",
            audit_details=(
                ("signature", intake.signature.status.value),
                ("received_sha256", intake.received_sha256 or blob.sha256),
                *((("from_upstream", intake.upstream_source),) if intake.upstream_source else ()),
                *((("sent_by", intake.delegate),) if intake.delegate else ()),
                *(
                    (
                        (
                            "upstream_sends",
                            ";".join(f"{n}={','.join(c)}" for n, c in intake.upstreams),
                        ),
                    )
                    if intake.upstreams
                    else ()
                ),
            ),
            outbound=outbound,
        )

    def _outbound(self, intake: _Intake, blob_sha256: str) -> tuple[NewOutbound, ...]:
        """What each upstream is sent: the package with ``To`` = only that upstream's recipients
        (reference §5.6), written in the strict layout and signed by the gateway (up to the
        stream threshold, as GetPackage does)."""
        sends = []
        size = self.blobs.path_for(blob_sha256).stat().st_size
        small = size <= self.settings.stream_threshold_bytes
        for upstream, codes in intake.upstreams:
            pkg = intake.pkg
            if isinstance(pkg, DocumentPackage):
                header = dataclasses.replace(
                    pkg.header, to=tuple(t for t in pkg.header.to if t.organ_id in codes)
                )
                pkg = dataclasses.replace(pkg, header=header)
            if small:
                # Only the signed form is kept: one blob (and its fsyncs) per send, not two.
                content = (
                    package_bytes(pkg, self.blobs)
                    if pkg is not intake.pkg
                    else self.blobs.read_bytes(blob_sha256)
                )
                ref = self.blobs.put_bytes(sign_package(content, self.signing_key))
            elif pkg is not intake.pkg:
                writer = self.blobs.writer()
                try:
                    write_package(pkg, writer, self.blobs)
                except BaseException:
                    writer.abort()
                    raise
                ref = writer.commit()
            else:
                ref = BlobRef(blob_sha256, size)
            sends.append(NewOutbound(upstream, codes, intake.document_key, ref.sha256, ref.size))
        return tuple(sends)

    def _receipt(self, stored: StoredPackage, duplicate: bool) -> Receipt:
        warnings = tuple(
            Finding(w["code"], w["path"], w["message"], Severity(w["severity"]))
            for w in json.loads(stored.warnings_json)
        )
        signature = json.loads(stored.signature_json)
        return Receipt(
            package_id=stored.package_id,
            kind=stored.kind,
            received_at=from_micros(stored.received_at),
            duplicate=duplicate,
            warnings=warnings,
            signed_receipt=(
                self.blobs.read_bytes(stored.receipt_sha256) if stored.receipt_sha256 else b""
            ),
            signature_status=str(signature.get("status", "")),
            signature_reason=str(signature.get("reason", "")),
        )

    # -- building packages from fields ---------------------------------------------------------
    def _organization(self, code: str) -> Organization:
        record = self.store.get_agency(code)
        if record is None:
            return Organization(organ_id=code)
        return Organization(
            organ_id=record.code,
            organization_in_charge=record.name,
            organ_name=record.name,
            email=record.email,
        )

    def _build_document(self, agency: str, f: DocumentFields) -> DocumentPackage:
        now_ict = self.clock().astimezone(ICT).replace(tzinfo=None, microsecond=0)
        document_id = f.document_id or (
            f"{agency},{format_date(f.promulgation_date)},{f.code_number}/{f.code_notation}"
        )
        attachments: list[Attachment] = []
        references: list[ManifestReference] = []
        for index, item in enumerate(f.attachments, start=1):
            ref = self.blobs.put_bytes(item.data)
            content_id = f"{index}-{ref.sha256[:16]}"
            attachments.append(
                Attachment(
                    content_id=content_id,
                    name=item.name,
                    description=item.description,
                    content_type=item.content_type,
                    encoded=ref,
                    file=ref,
                    file_kind=sniff_kind(item.data[:16]),
                )
            )
            references.append(
                ManifestReference(content_id, item.content_type, item.description, item.name)
            )
        try:
            priority = Priority(f.priority)
            steering = SteeringType(f.steering_type)
        except ValueError as exc:
            raise InvalidPackage([Finding("R.DocumentFields", "", str(exc))]) from None
        return DocumentPackage(
            header=MessageHeader(
                from_=self._organization(agency),
                to=tuple(self._organization(code.strip()) for code in f.to),
                document_id=document_id,
                code=Code(f.code_number, f.code_notation),
                promulgation_info=PromulgationInfo(f.place, f.promulgation_date),
                document_type=DocumentType(f.type, "", f.type_name),
                subject=f.subject,
                content=f.content,
                signer_info=SignerInfo(f.signer_competence, f.signer_position, f.signer_full_name),
                due_date=f.due_date,
                other_info=OtherInfo(priority=priority),
                steering_type=steering,
            ),
            trace=TraceHeaderList(
                (TraceHeader(agency, now_ict),),
                Business(doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper="0"),
            ),
            references=tuple(references),
            attachments=tuple(attachments),
        )

    def _build_status(self, agency: str, f: StatusFields) -> StatusPackage:
        raw = f.status_code.strip()
        try:
            code = StatusCode(raw.zfill(2) if raw.isdigit() else raw)
        except ValueError:
            allowed = ", ".join(c.value for c in StatusCode)
            raise InvalidPackage(
                [
                    Finding(
                        "R.StatusFields.StatusCode",
                        "",
                        f"status code {raw!r} is not one of {allowed}",
                    )
                ]
            ) from None
        moment = f.timestamp or self.clock()
        if moment.tzinfo is not None:
            moment = moment.astimezone(ICT).replace(tzinfo=None)
        return StatusPackage(
            header=StatusHeader(
                from_=self._organization(agency),
                response_for=ResponseFor(
                    f.response_for_organ_id.strip(),
                    f.response_for_code,
                    f.response_for_promulgation_date,
                    f.response_for_document_id,
                ),
                staff_info=StaffInfo(
                    f.staff_department, f.staff_name, f.staff_mobile, f.staff_email
                ),
                status_code=code,
                description=f.description or code.vietnamese,
                timestamp=moment.replace(microsecond=0),
            )
        )

    # -- mailboxes ----------------------------------------------------------------------------
    def get_pending(self, agency: str, kind: str, limit: int, cursor: str) -> PendingPage:
        self._agency(agency)
        if kind not in ("document", "status"):
            raise BadRequest("R.GetPending.Kind", f"kind must be document or status, not {kind!r}")
        limit = MAX_PENDING_PAGE if limit <= 0 else min(limit, MAX_PENDING_PAGE)
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise BadRequest(
                "M.GetPending.Cursor", f"cursor {cursor!r} was not issued by this gateway"
            ) from None
        rows = self.store.pending(agency, kind, limit, after)
        items = tuple(
            PendingItem(
                package_id=row.package.package_id,
                kind=row.package.kind,
                sender=row.package.sender,
                document_id=row.package.document_id,
                subject=str(json.loads(row.package.summary_json).get("subject", "")),
                received_at=from_micros(row.package.received_at),
                size=row.package.size,
            )
            for row in rows
        )
        next_cursor = str(rows[-1].seq) if len(rows) == limit else ""
        return PendingPage(items, next_cursor)

    def _visible_package(self, agency: str, package_id: str) -> StoredPackage:
        """A package the agency sent or that was addressed to it; others look absent."""
        stored = self.store.get_package(package_id)
        if stored is not None and (
            stored.sender == agency
            or self.store.get_delivery(package_id, agency) is not None
            or self.acts_for(agency, stored.sender)
            or self.delegated_deliveries(agency, package_id)
        ):
            return stored
        raise NotFound("N.Package", f"no package {package_id} for agency {agency}", "packageId")

    def get_package(self, agency: str, package_id: str) -> PackageContent:
        self._agency(agency)
        stored = self._visible_package(agency, package_id)
        # Who read what, when: a read, so the record rides on the next durable commit.
        self.store.record_event(
            to_micros(self.clock()), f"{stored.kind}.fetched", agency, package_id, {}, durable=False
        )
        blob = stored.blob_sha256
        size, opener = stored.size, lambda: self.blobs.open(blob)
        if stored.size <= self.settings.stream_threshold_bytes:
            # What the gateway emits carries its signature (the sender's, if any, was recorded
            # as a verdict on arrival). Larger packages stream unsigned: signing holds the whole
            # document in memory several times over.
            signed = sign_package(self.blobs.read_bytes(blob), self.signing_key)
            size, opener = len(signed), lambda: io.BytesIO(signed)
        return PackageContent(
            package_id=stored.package_id,
            kind=stored.kind,
            sender=stored.sender,
            received_at=from_micros(stored.received_at),
            size=size,
            summary=json.loads(stored.summary_json),
            open=opener,
        )

    def confirm_received(
        self, agency: str, package_id: str, outcome: str, reason: str, *, mailbox: str = ""
    ) -> ConfirmResult:
        """Finish a delivery to ``agency``'s mailbox, or to ``mailbox``, an agency it acts for.

        ``ok``: the receiver's software has the package; for a document the gateway sends
        STATUS 01 to the sender at once (Decree 30/2020 Art. 21). ``relayed``: a transport
        acknowledgement from a system that passes the package on (a child gateway, or a system
        built on the national axis SDK, which sends its own statuses as the axis expects): the
        delivery is finished and no status is sent, so the sender never gets two 01s.
        ``failed``: the receiver could not take it (``reason`` says why).
        """
        self._agency(agency)
        agency = self._mailbox(agency, mailbox, package_id)
        receiver = self._agency(agency)
        if outcome not in ("ok", "relayed", "failed"):
            raise BadRequest(
                "R.ConfirmReceived.Outcome",
                f"outcome must be ok, relayed or failed, not {outcome!r}",
            )
        delivery = self.store.get_delivery(package_id, agency)
        if delivery is None:
            raise NotFound("N.Package", f"no package {package_id} for agency {agency}", "packageId")
        followup = None
        if outcome == "ok" and delivery.state == "pending" and delivery.kind == "document":
            stored = self.store.get_package(package_id)
            assert stored is not None
            followup = self._received_status(receiver, stored)
        state = "failed" if outcome == "failed" else "confirmed"
        finished, status = self.store.finish_delivery(
            package_id, agency, state, reason, to_micros(self.clock()), followup
        )
        outcome_now = "ok" if finished.state == "confirmed" else finished.state
        return ConfirmResult(package_id, outcome_now, status.package_id if status else "")

    def _mailbox(self, agency: str, mailbox: str, package_id: str) -> str:
        if mailbox and mailbox != agency and not self.acts_for(agency, mailbox):
            raise NotFound("N.Package", f"no package {package_id} for agency {agency}", "packageId")
        return mailbox or agency

    def mark_processing(
        self, agency: str, package_id: str, note: str, *, mailbox: str = ""
    ) -> Delivery:
        """Record that the recipient is working on a delivery; it stays pending (listed)."""
        self._agency(agency)
        box = self._mailbox(agency, mailbox, package_id)
        delivery = self.store.mark_progress(
            package_id, box, "processing", note, to_micros(self.clock())
        )
        if delivery is None:
            raise NotFound("N.Package", f"no package {package_id} for agency {agency}", "packageId")
        return delivery

    # -- delegated agencies -------------------------------------------------------------------
    def acts_for(self, agency: str, code: str) -> bool:
        """Whether ``agency`` may act as ``code``: itself, or an enabled agency registered under
        it (directly or further down), as a national-axis centre acts for its units."""
        if code == agency:
            return True
        record = self.store.get_agency(code)
        for _ in range(MAX_DELEGATION_DEPTH):
            if record is None or not record.enabled or not record.parent:
                return False
            if record.parent == agency:
                return True
            record = self.store.get_agency(record.parent)
        return False

    def mailboxes(self, agency: str) -> tuple[str, ...]:
        """The agency and every enabled agency it acts for, nearest first."""
        found = [agency]
        index = 0
        while index < len(found) and index < MAX_DELEGATION_DEPTH * MAX_MAILBOXES:
            for child in self.store.agency_children(found[index]):
                if child.enabled and child.code not in found and len(found) < MAX_MAILBOXES:
                    found.append(child.code)
            index += 1
        return tuple(found)

    def delegated_pending(
        self, agency: str, kind: str, limit: int = MAX_PENDING_PAGE
    ) -> list[tuple[Delivery, StoredPackage]]:
        """Pending deliveries to the agency and to every agency it acts for, oldest first."""
        self._agency(agency)
        if kind not in ("document", "status"):
            raise BadRequest("R.GetPending.Kind", f"kind must be document or status, not {kind!r}")
        limit = MAX_PENDING_PAGE if limit <= 0 else min(limit, MAX_PENDING_PAGE)
        return self.store.pending_in(self.mailboxes(agency), kind, limit)

    def delegated_deliveries(self, agency: str, package_id: str) -> list[Delivery]:
        """A package's deliveries to the agency's mailbox and those of the agencies it acts
        for (empty for a package none of them received)."""
        deliveries = self.store.deliveries_of(package_id)
        if not deliveries:
            return []
        boxes = set(self.mailboxes(agency))
        return [d for d in deliveries if d.recipient in boxes]

    def sent_report(
        self, agency: str, kind: str, package_id: str = "", limit: int = MAX_PENDING_PAGE
    ) -> list[SentRow]:
        """What the agency and the agencies it acts for sent, per recipient, newest first."""
        self._agency(agency)
        return self.store.sent_by(self.mailboxes(agency), kind, package_id, limit)

    def register_child(
        self, agency: str, code: str, name: str, email: str = "", parent: str = ""
    ) -> AgencyRecord:
        """Register ``code`` under ``parent`` (the agency itself or one it acts for). The child
        may then be acted for by its parents; registering it again under the same parent
        enables it again."""
        self._agency(agency)
        parent = parent or agency
        if not self.acts_for(agency, parent):
            raise PermissionDenied(
                "R.Agency.Parent", f"{parent} is not {agency} or an agency registered under it"
            )
        text = parse_agency_code(code.strip(), path="code").text
        existing = self.store.get_agency(text)
        if existing is None:
            record, _secret = self.credentials.add_agency(
                text, name, email, self.clock(), parent=parent
            )
            return record
        if existing.parent != parent:
            raise PermissionDenied(
                "R.Agency.Exists",
                f"agency {text} is already registered here"
                + (f" under {existing.parent}" if existing.parent else "")
                + f", not under {parent}",
            )
        if not existing.enabled:
            return self.credentials.set_enabled(text, True, self.clock())
        return existing

    def disable_child(self, agency: str, code: str) -> AgencyRecord:
        """Disable an agency registered under this one (or further down); its mail is kept."""
        self._agency(agency)
        record = self.store.get_agency(code.strip())
        if (
            record is None
            or record.code == agency
            or not record.parent
            or not self.acts_for(agency, record.parent)
        ):
            raise NotFound("N.Agency", f"no agency {code} is registered under {agency}")
        if not record.enabled:
            return record
        if any(child.enabled for child in self.store.agency_children(record.code)):
            raise BadRequest(
                "R.Agency.Children", f"{record.code} still has enabled agencies registered under it"
            )
        return self.credentials.set_enabled(record.code, False, self.clock())

    def _received_status(self, receiver: AgencyRecord, document: StoredPackage) -> NewPackage:
        """STATUS 01 "Đã đến" to the sender, as Decree 30/2020 Art. 21 asks the same day."""
        summary = json.loads(document.summary_json)
        promulgated = summary.get("promulgation_date")
        status = self._build_status(
            receiver.code,
            StatusFields(
                response_for_organ_id=document.sender,
                response_for_document_id=document.document_id,
                response_for_code=str(summary.get("code", "")),
                response_for_promulgation_date=(
                    dt.datetime.strptime(promulgated, "%Y/%m/%d").date() if promulgated else None
                ),
                status_code=StatusCode.RECEIVED.value,
                description="Đã đến: phần mềm QLVB đã nhận văn bản, văn thư chưa xử lý"
                + _CHANGE_ARRIVED.get(int(summary.get("business", {}).get("doc_type", 0)), ""),
            ),
        )
        destination = self.router.resolve(document.sender)
        sender_here = destination is not None and destination.local
        upstreams = (
            ((destination.upstream, (document.sender,)),)
            if destination is not None and not destination.local
            else ()
        )
        trace = NewTrace(
            document_id=document.document_id,
            from_agency=receiver.code,
            to_agency=document.sender,
            status_code=StatusCode.RECEIVED.value,
            description=status.header.description,
            status_time=format_timestamp(status.header.timestamp)
            if status.header.timestamp
            else "",
        )
        return self._new_package(
            _Intake(
                status,
                receiver.code,
                document.document_id,
                # A revoke, update or replace usually repeats the DocumentId it is about: its
                # 01 is still a status of its own, not a duplicate of the original's.
                f"status|{receiver.code}|{document.document_id}|01|auto|{document.package_id}",
                [document.sender] if sender_here else [],
                [],
                self._signature(receiver.code, None),
                "",
                trace=trace,
                upstreams=upstreams,
                document_key=document.document_id,
            )
        )

    # -- traces, directory, service -------------------------------------------------------------
    def get_traces(
        self,
        agency: str,
        document_id: str = "",
        package_id: str = "",
        since: dt.datetime | None = None,
    ) -> list[TraceEntry]:
        self._agency(agency)
        if package_id:
            document_id = self._visible_package(agency, package_id).document_id
        if not document_id:
            raise BadRequest("N.GetTraces.DocumentId", "give a documentId or a packageId")
        start = to_micros(since) if since is not None else 0
        return [_trace_entry(row) for row in self.store.traces(agency, document_id, start)]

    def get_traces_to(
        self, agency: str, since: dt.datetime, limit: int = MAX_PENDING_PAGE
    ) -> list[TraceEntry]:
        """Statuses addressed to the agency (about any document it sent), recorded at or after
        ``since``, oldest first: the feed a legacy client polls (GetTraces). A read."""
        self._agency(agency)
        limit = MAX_PENDING_PAGE if limit <= 0 else min(limit, MAX_PENDING_PAGE)
        return [_trace_entry(r) for r in self.store.traces_to(agency, to_micros(since), limit)]

    def get_agencies(self, agency: str) -> list[AgencyInfo]:
        self._agency(agency)
        return [
            AgencyInfo(a.code, a.name, a.email, a.enabled)
            for a in self.store.list_agencies()
            if a.enabled
        ]

    def service_info(self) -> ServiceInfo:
        s = self.settings
        return ServiceInfo(
            version=__version__,
            role=s.role,
            max_request_bytes=s.max_request_bytes,
            stream_threshold_bytes=s.stream_threshold_bytes,
            replay_window_seconds=s.replay_window_seconds,
            password_text_allowed=s.password_text_allowed,
        )
