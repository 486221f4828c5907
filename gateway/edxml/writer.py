"""Strict edXML writer: always the reference layout, whatever the input looked like.

Layout (reference §2.1, §7.1): the root ``edXML`` declares the QCVN namespace as default; every
descendant of ``edXMLEnvelope`` is prefixed ``edXML:``; ``AttachmentEncoded/Attachment`` children
are unprefixed except ``edXML:ContentTransferEncoded``, which re-declares the prefix. Elements come
in the VNPT library's order (§2.2) with ``yyyy/MM/dd`` dates. Tags that Bkav's checker requires are
written even when empty. Attachment content streams from the blob store in aligned chunks, so a
1 GB attachment needs no more memory than one chunk.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO, Protocol

from gateway.edxml.attachments import encode_base64_chunks
from gateway.edxml.dates import format_date, format_timestamp
from gateway.edxml.model import (
    Business,
    DocumentPackage,
    OpaqueXml,
    Organization,
    Package,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeaderList,
)
from gateway.edxml.namespaces import QCVN, XLINK

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class Sink(Protocol):
    """Anything bytes can be written to: a file, a socket wrapper, a blob writer."""

    def write(self, data: bytes, /) -> object: ...


class BlobSource(Protocol):
    """What the writer needs from a blob store: the bytes behind an address."""

    def open(self, ref: str) -> BinaryIO: ...


_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


_NEEDS_ESCAPING = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    if _NEEDS_ESCAPING.search(value) is None:
        return value
    if _INVALID_XML_CHARS.search(value):
        raise ValueError(f"{value!r} contains characters that XML 1.0 cannot carry")
    return value.translate(_TEXT_ESCAPES)


def _attribute(value: str) -> str:
    if _INVALID_XML_CHARS.search(value):
        raise ValueError(f"{value!r} contains characters that XML 1.0 cannot carry")
    return value.translate(_ATTR_ESCAPES)


class _Envelope:
    """Writes ``edXML:``-prefixed elements, indented two spaces a level, as text.

    Building an lxml tree only to serialise it cost more than reading the package did; the layout
    is fixed, so the writer emits it directly (escaping text and attributes as lxml would).
    """

    __slots__ = ("_open", "_pad", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = [f'<edXML:edXMLEnvelope xmlns:edXML="{QCVN}">']
        self._open: list[tuple[str, int, str]] = [("edXMLEnvelope", 1, "\n  ")]
        self._pad = "\n    "  # the envelope sits one level inside the root

    def leaf(self, name: str, text: str = "") -> None:
        if text:
            self.parts.append(f"{self._pad}<edXML:{name}>{_text(text)}</edXML:{name}>")
        else:
            self.parts.append(f"{self._pad}<edXML:{name}/>")

    def open(self, name: str, attributes: str = "") -> None:
        self.parts.append(f"{self._pad}<edXML:{name}{attributes}>")
        self._open.append((name, len(self.parts), self._pad))
        self._pad += "  "

    def close(self) -> None:
        name, after_open, pad = self._open.pop()
        self._pad = pad
        if len(self.parts) == after_open:  # no children: <edXML:Name/>
            self.parts[-1] = self.parts[-1][:-1] + "/>"
        else:
            self.parts.append(f"{pad}</edXML:{name}>")

    def kept(self, opaque: OpaqueXml) -> None:
        """A kept-as-is element: exclusive C14N bytes carry their own namespace declarations."""
        self.parts.append(self._pad + opaque.xml.decode("utf-8"))

    def finish(self) -> bytes:
        while self._open:
            self.close()
        return "".join(self.parts).encode("utf-8")


def _organization(w: _Envelope, name: str, org: Organization) -> None:
    w.open(name)
    w.leaf("OrganId", org.organ_id)
    w.leaf("OrganizationInCharge", org.organization_in_charge)
    w.leaf("OrganName", org.organ_name)
    w.leaf("OrganAdd", org.organ_add)
    w.leaf("Email", org.email)
    w.leaf("Telephone", org.telephone)
    w.leaf("Fax", org.fax)
    w.leaf("Website", org.website)
    w.close()


def _response_for(w: _Envelope, rf: ResponseFor) -> None:
    w.open("ResponseFor")
    w.leaf("OrganId", rf.organ_id)
    w.leaf("Code", rf.code)
    w.leaf("PromulgationDate", format_date(rf.promulgation_date) if rf.promulgation_date else "")
    w.leaf("DocumentId", rf.document_id)
    w.close()


def _staff_info(w: _Envelope, staff: StaffInfo, *, email_first: bool) -> None:
    """StaffInfo: Bussiness writes Email before Mobile (VNPT library), STATUS the reverse."""
    w.open("StaffInfo")
    w.leaf("Department", staff.department)
    w.leaf("Staff", staff.staff)
    contact = [("Email", staff.email), ("Mobile", staff.mobile)]
    for name, value in contact if email_first else reversed(contact):
        w.leaf(name, value)
    if staff.department_id:
        w.leaf("DepartmentId", staff.department_id)
    if staff.staff_id:
        w.leaf("StaffId", staff.staff_id)
    w.close()


def _business(w: _Envelope, business: Business) -> None:
    w.open("Bussiness")
    if business.document_id:
        w.leaf("DocumentId", business.document_id)
    w.leaf("BussinessDocType", str(int(business.doc_type)))
    w.leaf("BussinessDocReason", business.reason)
    w.leaf("Paper", business.paper)
    if business.document_info is not None:
        w.open("BussinessDocumentInfo")
        w.leaf("DocumentInfo", business.document_info.document_info)
        w.leaf("DocumentReceiver", business.document_info.document_receiver)
        w.open("ReceiverList")
        for receiver in business.document_info.receivers:
            w.open("Receiver")
            w.leaf("OrganId", receiver.organ_id)
            w.leaf("ReceiverType", str(int(receiver.receiver_type)))
            w.close()
        w.close()
        w.close()
    if business.replacements:
        w.open("ReplacementInfoList")
        for replacement in business.replacements:
            w.open("ReplacementInfo")
            w.leaf("DocumentId", replacement.document_id)
            w.open("OrganIdList")
            for organ_id in replacement.organ_ids:
                w.leaf("OrganId", organ_id)
            w.close()
            w.close()
        w.close()
    if business.staff_info is not None:
        _staff_info(w, business.staff_info, email_first=True)
    w.close()


def _trace_header_list(w: _Envelope, trace: TraceHeaderList) -> None:
    w.open("TraceHeaderList")
    for header in trace.trace_headers:
        w.open("TraceHeader")
        if header.organ_id:
            w.leaf("OrganId", header.organ_id)
        w.leaf("Timestamp", format_timestamp(header.timestamp) if header.timestamp else "")
        w.close()
    _business(w, trace.business)
    w.close()


def _document_header(w: _Envelope, pkg: DocumentPackage) -> None:
    h = pkg.header
    w.open("MessageHeader")
    _organization(w, "From", h.from_)
    for to in h.to:
        _organization(w, "To", to)
    if h.document_id:
        w.leaf("DocumentId", h.document_id)
    w.open("Code")
    w.leaf("CodeNumber", h.code.code_number)
    w.leaf("CodeNotation", h.code.code_notation)
    w.close()
    w.open("PromulgationInfo")
    w.leaf("Place", h.promulgation_info.place)
    date = h.promulgation_info.promulgation_date
    w.leaf("PromulgationDate", format_date(date) if date else "")
    w.close()
    w.open("DocumentType")
    w.leaf("Type", h.document_type.type)
    if h.document_type.type_detail:
        w.leaf("TypeDetail", h.document_type.type_detail)
    w.leaf("TypeName", h.document_type.type_name)
    w.close()
    w.leaf("Subject", h.subject)
    w.leaf("Content", h.content)
    w.open("SignerInfo")
    w.leaf("Competence", h.signer_info.competence)
    w.leaf("Position", h.signer_info.position)
    w.leaf("FullName", h.signer_info.full_name)
    w.close()
    w.leaf("DueDate", format_date(h.due_date) if h.due_date else "")
    o = h.other_info
    w.open("OtherInfo")
    w.leaf("Priority", str(int(o.priority)))
    w.leaf("SphereOfPromulgation", o.sphere_of_promulgation)
    w.leaf("TyperNotation", o.typer_notation)
    w.leaf(
        "PromulgationAmount", "" if o.promulgation_amount is None else str(o.promulgation_amount)
    )
    w.leaf("PageAmount", "" if o.page_amount is None else str(o.page_amount))
    if o.direction is not None:
        w.leaf("Direction", "true" if o.direction else "false")
    w.open("Appendixes")
    for appendix in o.appendixes:
        w.leaf("Appendix", appendix)
    w.close()
    if o.reply_fors is not None:
        w.kept(o.reply_fors)
    if o.reference_codes is not None:
        w.kept(o.reference_codes)
    w.close()
    for rf in h.response_for:
        _response_for(w, rf)
    w.leaf("SteeringType", str(int(h.steering_type)))
    if h.response_for_task:
        w.open("ResponseForTask")
        for task_code in h.response_for_task:
            w.leaf("TaskCode", task_code)
        w.close()
    if h.application_type:
        w.leaf("ApplicationType", h.application_type)
    w.open("ToPlaces")
    for place in h.to_places:
        w.leaf("Place", place)
    w.close()
    w.close()


def _status_header(w: _Envelope, pkg: StatusPackage) -> None:
    h = pkg.header
    w.open("MessageHeader")
    _organization(w, "From", h.from_)
    if h.response_for is not None:
        _response_for(w, h.response_for)
    _staff_info(w, h.staff_info, email_first=False)
    w.leaf("StatusCode", h.status_code.value)
    w.leaf("Description", h.description)
    w.leaf("Timestamp", format_timestamp(h.timestamp) if h.timestamp else "")
    w.close()


def _manifest(w: _Envelope, pkg: DocumentPackage) -> None:
    w.open("edXMLBody")
    w.open("edXMLManifest", f' version="{_attribute(pkg.manifest_version or "1.0")}"')
    for ref in pkg.references:
        attributes = "".join(f' xlink:{name}="{_attribute(value)}"' for name, value in ref.xlink)
        w.open("Reference", f' xmlns:xlink="{XLINK}"{attributes}' if ref.xlink else "")
        w.leaf("ContentId", f"cid:{ref.content_id}")
        w.leaf("ContentType", ref.content_type)
        w.leaf("Description", ref.description)
        w.leaf("AttachmentName", ref.attachment_name)
        w.close()
    w.close()
    w.close()


def envelope_bytes(pkg: Package) -> bytes:
    """The serialised ``edXML:edXMLEnvelope`` element (no XML declaration, no trailing newline)."""
    w = _Envelope()
    w.open("edXMLHeader")
    if isinstance(pkg, StatusPackage):
        _status_header(w, pkg)
    else:
        _document_header(w, pkg)
        _trace_header_list(w, pkg.trace)
    if pkg.signature is not None:
        w.kept(pkg.signature)
    w.close()
    if isinstance(pkg, DocumentPackage):
        _manifest(w, pkg)
    return w.finish()


def write_package(
    pkg: Package, out: Sink, blobs: BlobSource | None, *, with_content: bool = True
) -> None:
    """Serialise a package to a binary stream.

    With ``with_content=False`` the attachments are written with empty content: the envelope and
    attachment metadata can then be schema-validated without reading any blob.
    """
    out.write(XML_DECLARATION)
    out.write(b'<edXML xmlns="%s">\n  ' % QCVN.encode())
    out.write(envelope_bytes(pkg))
    if isinstance(pkg, DocumentPackage) and pkg.attachments:
        out.write(b"\n  <AttachmentEncoded>")
        for attachment in pkg.attachments:
            out.write(b"\n    <Attachment>")
            fields = [
                ("ContentId", f"cid:{attachment.content_id}"),
                ("AttachmentName", attachment.name),
                ("Description", attachment.description),
                ("ContentType", attachment.content_type),
            ]
            if attachment.field_name:
                fields.append(("FieldName", attachment.field_name))
            if attachment.mime_type:
                fields.append(("MimeType", attachment.mime_type))
            for name, value in fields:
                out.write(
                    b"\n      <%s>%s</%s>"
                    % (name.encode(), _text(value).encode("utf-8"), name.encode())
                )
            out.write(b'\n      <edXML:ContentTransferEncoded xmlns:edXML="%s">' % QCVN.encode())
            if with_content and attachment.encoded.size:
                if blobs is None:
                    raise ValueError("a blob store is needed to write attachment content")
                with blobs.open(attachment.encoded.sha256) as stream:
                    for chunk in encode_base64_chunks(stream):
                        out.write(chunk)
            out.write(b"</edXML:ContentTransferEncoded>\n    </Attachment>")
        out.write(b"\n  </AttachmentEncoded>")
    out.write(b"\n</edXML>\n")


def package_bytes(pkg: Package, blobs: BlobSource | None, *, with_content: bool = True) -> bytes:
    """The package as bytes; for small packages and tests (large ones: :func:`write_package`)."""
    buffer = io.BytesIO()
    write_package(pkg, buffer, blobs, with_content=with_content)
    return buffer.getvalue()
