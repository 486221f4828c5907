"""The canonical model of an edXML package: a document (§2.2–2.6) or a status (§2.7).

Every path through the gateway converts to and from these types. They are frozen dataclasses with
tuples for repeated elements, so two packages compare equal exactly when their content does.
Text fields use ``""`` for "absent or empty": QCVN 102 consumers (Bkav's XmlChecker) require most
tags to be present but allow them empty, and the writer always emits them. Attachment bytes never
live here: an attachment points at content-addressed blobs by SHA-256.

Findings made while reading (repairs, damaged values) ride along in ``findings`` and do not take
part in equality, so a package read from a quirky file equals the same package re-read from the
writer's clean output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from gateway.edxml.enums import (
    BusinessDocType,
    Priority,
    ReceiverType,
    StatusCode,
    SteeringType,
)
from gateway.errors import Finding, Severity


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Content-addressed bytes in the blob store."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class OpaqueXml:
    """An element kept as-is (exclusive C14N bytes), such as ``Signature`` or ``ReplyFors``."""

    xml: bytes

    @property
    def local_name(self) -> str:
        head = self.xml[1 : self.xml.find(b">") if b">" in self.xml else None]
        name = head.split(None, 1)[0].rstrip(b"/").decode("utf-8", "replace") if head else ""
        return name.rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class Organization:
    """``From`` or ``To``: an agency and how to reach it."""

    organ_id: str = ""
    organization_in_charge: str = ""
    organ_name: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class Code:
    """Số và ký hiệu văn bản: the number and notation, e.g. ``7816`` / ``VPCP-TTĐT``."""

    code_number: str = ""
    code_notation: str = ""


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    place: str = ""
    promulgation_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class DocumentType:
    """Loại văn bản. ``type`` and ``type_detail`` stay text: their code lists are unknown (§9)."""

    type: str = ""
    type_detail: str = ""
    type_name: str = ""


@dataclass(frozen=True, slots=True)
class SignerInfo:
    competence: str = ""
    position: str = ""
    full_name: str = ""


@dataclass(frozen=True, slots=True)
class OtherInfo:
    priority: Priority = Priority.NORMAL
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()
    reply_fors: OpaqueXml | None = None
    reference_codes: OpaqueXml | None = None


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """The document a reply (or a status) answers."""

    organ_id: str = ""
    code: str = ""
    promulgation_date: dt.date | None = None
    document_id: str = ""


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """A document's MessageHeader, fields in the VNPT library's emit order (§2.2)."""

    from_: Organization = field(default_factory=Organization)
    to: tuple[Organization, ...] = ()
    document_id: str = ""
    code: Code = field(default_factory=Code)
    promulgation_info: PromulgationInfo = field(default_factory=PromulgationInfo)
    document_type: DocumentType = field(default_factory=DocumentType)
    subject: str = ""
    content: str = ""
    signer_info: SignerInfo = field(default_factory=SignerInfo)
    due_date: dt.date | None = None
    other_info: OtherInfo = field(default_factory=OtherInfo)
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: SteeringType = SteeringType.NOT_DIRECTIVE
    response_for_task: tuple[str, ...] = ()
    application_type: str = ""
    to_places: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One hop: who handled the package and when (ICT, no timezone on the wire)."""

    organ_id: str = ""
    timestamp: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class StaffInfo:
    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""
    department_id: str = ""
    staff_id: str = ""


@dataclass(frozen=True, slots=True)
class Receiver:
    organ_id: str = ""
    receiver_type: ReceiverType = ReceiverType.ADDED


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """What an update package changes: the content, the recipient list, or both."""

    document_info: str = ""
    document_receiver: str = ""
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    document_id: str = ""
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Business:
    """``Bussiness`` (sic): new, revoke, update or replace, and the clerk who did it."""

    document_id: str = ""
    doc_type: BusinessDocType = BusinessDocType.NEW
    reason: str = ""
    paper: str = ""
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()
    staff_info: StaffInfo | None = None


@dataclass(frozen=True, slots=True)
class TraceHeaderList:
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business = field(default_factory=Business)


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """``edXMLManifest/Reference``. ``content_id`` is normalised: no ``cid:``, no ``<>``."""

    content_id: str = ""
    content_type: str = ""
    description: str = ""
    attachment_name: str = ""
    xlink: tuple[tuple[str, str], ...] = ()  # (local name, value) of xlink:* attributes


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file of ``AttachmentEncoded``.

    ``encoded`` is exactly what ``ContentTransferEncoded`` carried (written back unchanged);
    ``file`` is the document itself: the same blob, or the single entry of a zip wrapper that
    the sender added (the VNPT library zips most files, naming the entry with a UUID).
    ``file_kind`` comes from magic bytes, because declared content types are unreliable.
    """

    content_id: str = ""
    name: str = ""
    description: str = ""
    content_type: str = ""
    field_name: str = ""
    mime_type: str = ""
    encoded: BlobRef = field(default_factory=lambda: BlobRef(EMPTY_SHA256, 0))
    file: BlobRef = field(default_factory=lambda: BlobRef(EMPTY_SHA256, 0))
    file_kind: str = "empty"
    unwrapped_from_zip: bool = False


EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class _ReadFindings:
    """Split the findings recorded while reading into repairs (warnings) and damage (errors)."""

    __slots__ = ()
    findings: tuple[Finding, ...]

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)


@dataclass(frozen=True, slots=True)
class DocumentPackage(_ReadFindings):
    """An edXML document package (messagetype ``edoc``)."""

    header: MessageHeader = field(default_factory=MessageHeader)
    trace: TraceHeaderList = field(default_factory=TraceHeaderList)
    signature: OpaqueXml | None = None
    manifest_version: str = "1.0"
    references: tuple[ManifestReference, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    findings: tuple[Finding, ...] = field(default=(), compare=False)

    kind: ClassVar[Literal["document"]] = "document"


@dataclass(frozen=True, slots=True)
class StatusHeader:
    """A STATUS package's MessageHeader (§2.7)."""

    from_: Organization = field(default_factory=Organization)
    response_for: ResponseFor | None = None
    staff_info: StaffInfo = field(default_factory=StaffInfo)
    status_code: StatusCode = StatusCode.RECEIVED
    description: str = ""
    timestamp: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusPackage(_ReadFindings):
    """An edXML STATUS package (messagetype ``status``): no body, no attachments."""

    header: StatusHeader = field(default_factory=StatusHeader)
    signature: OpaqueXml | None = None
    findings: tuple[Finding, ...] = field(default=(), compare=False)

    kind: ClassVar[Literal["status"]] = "status"


Package = DocumentPackage | StatusPackage
