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

from lxml import etree

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
from gateway.edxml.namespaces import PREFIX, QCVN, XLINK, q

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

_Element = etree._Element


class BlobSource(Protocol):
    """What the writer needs from a blob store: the bytes behind an address."""

    def open(self, ref: str) -> BinaryIO: ...


def _sub(parent: _Element, name: str, text: str | None = None) -> _Element:
    child = etree.SubElement(parent, q(name))
    if text:
        child.text = text
    return child


def _organization(parent: _Element, name: str, org: Organization) -> None:
    el = _sub(parent, name)
    _sub(el, "OrganId", org.organ_id)
    _sub(el, "OrganizationInCharge", org.organization_in_charge)
    _sub(el, "OrganName", org.organ_name)
    _sub(el, "OrganAdd", org.organ_add)
    _sub(el, "Email", org.email)
    _sub(el, "Telephone", org.telephone)
    _sub(el, "Fax", org.fax)
    _sub(el, "Website", org.website)


def _response_for(parent: _Element, rf: ResponseFor) -> None:
    el = _sub(parent, "ResponseFor")
    _sub(el, "OrganId", rf.organ_id)
    _sub(el, "Code", rf.code)
    _sub(el, "PromulgationDate", format_date(rf.promulgation_date) if rf.promulgation_date else "")
    _sub(el, "DocumentId", rf.document_id)


def _staff_info(parent: _Element, staff: StaffInfo, *, email_first: bool) -> None:
    """StaffInfo: Bussiness writes Email before Mobile (VNPT library), STATUS the reverse."""
    el = _sub(parent, "StaffInfo")
    _sub(el, "Department", staff.department)
    _sub(el, "Staff", staff.staff)
    contact = [("Email", staff.email), ("Mobile", staff.mobile)]
    for name, value in contact if email_first else reversed(contact):
        _sub(el, name, value)
    if staff.department_id:
        _sub(el, "DepartmentId", staff.department_id)
    if staff.staff_id:
        _sub(el, "StaffId", staff.staff_id)


_MARK_NS = "urn:edoc-gateway:writer"
_MARK_TAG = f"{{{_MARK_NS}}}kept"


def _opaque(parent: _Element, opaque: OpaqueXml) -> None:
    """Mark where a kept-as-is element goes; its bytes are spliced in after serialisation.

    Inserting it as an element would let lxml re-prefix it (``Signature`` becoming
    ``edXML:Signature``) and re-indent it; the bytes are exclusive C14N, so they carry every
    namespace declaration they need and can stand anywhere.
    """
    mark = etree.SubElement(parent, _MARK_TAG, nsmap={"kept": _MARK_NS})
    mark.text = opaque.xml.decode("utf-8")


def _splice_opaque(envelope: _Element) -> bytes:
    """Serialise the envelope, replacing each mark (in document order) by the kept bytes."""
    kept = [(mark.text or "").encode("utf-8") for mark in envelope.iter(_MARK_TAG)]
    data = etree.tostring(envelope, encoding="UTF-8")
    if not kept:
        return data
    opening, closing = b'<kept:kept xmlns:kept="%s">' % _MARK_NS.encode(), b"</kept:kept>"
    parts: list[bytes] = []
    position = 0
    for xml in kept:
        start = data.index(opening, position)
        parts += [data[position:start], xml]
        position = data.index(closing, start) + len(closing)
    parts.append(data[position:])
    return b"".join(parts)


def _business(parent: _Element, business: Business) -> None:
    el = _sub(parent, "Bussiness")
    if business.document_id:
        _sub(el, "DocumentId", business.document_id)
    _sub(el, "BussinessDocType", str(int(business.doc_type)))
    _sub(el, "BussinessDocReason", business.reason)
    _sub(el, "Paper", business.paper)
    if business.document_info is not None:
        info = _sub(el, "BussinessDocumentInfo")
        _sub(info, "DocumentInfo", business.document_info.document_info)
        _sub(info, "DocumentReceiver", business.document_info.document_receiver)
        receivers = _sub(info, "ReceiverList")
        for receiver in business.document_info.receivers:
            r = _sub(receivers, "Receiver")
            _sub(r, "OrganId", receiver.organ_id)
            _sub(r, "ReceiverType", str(int(receiver.receiver_type)))
    if business.replacements:
        replacements = _sub(el, "ReplacementInfoList")
        for replacement in business.replacements:
            r = _sub(replacements, "ReplacementInfo")
            _sub(r, "DocumentId", replacement.document_id)
            organs = _sub(r, "OrganIdList")
            for organ_id in replacement.organ_ids:
                _sub(organs, "OrganId", organ_id)
    if business.staff_info is not None:
        _staff_info(el, business.staff_info, email_first=True)


def _trace_header_list(parent: _Element, trace: TraceHeaderList) -> None:
    el = _sub(parent, "TraceHeaderList")
    for header in trace.trace_headers:
        h = _sub(el, "TraceHeader")
        if header.organ_id:
            _sub(h, "OrganId", header.organ_id)
        _sub(h, "Timestamp", format_timestamp(header.timestamp) if header.timestamp else "")
    _business(el, trace.business)


def _document_header(parent: _Element, pkg: DocumentPackage) -> None:
    h = pkg.header
    mh = _sub(parent, "MessageHeader")
    _organization(mh, "From", h.from_)
    for to in h.to:
        _organization(mh, "To", to)
    if h.document_id:
        _sub(mh, "DocumentId", h.document_id)
    code = _sub(mh, "Code")
    _sub(code, "CodeNumber", h.code.code_number)
    _sub(code, "CodeNotation", h.code.code_notation)
    info = _sub(mh, "PromulgationInfo")
    _sub(info, "Place", h.promulgation_info.place)
    date = h.promulgation_info.promulgation_date
    _sub(info, "PromulgationDate", format_date(date) if date else "")
    doc_type = _sub(mh, "DocumentType")
    _sub(doc_type, "Type", h.document_type.type)
    if h.document_type.type_detail:
        _sub(doc_type, "TypeDetail", h.document_type.type_detail)
    _sub(doc_type, "TypeName", h.document_type.type_name)
    _sub(mh, "Subject", h.subject)
    _sub(mh, "Content", h.content)
    signer = _sub(mh, "SignerInfo")
    _sub(signer, "Competence", h.signer_info.competence)
    _sub(signer, "Position", h.signer_info.position)
    _sub(signer, "FullName", h.signer_info.full_name)
    _sub(mh, "DueDate", format_date(h.due_date) if h.due_date else "")
    other = _sub(mh, "OtherInfo")
    o = h.other_info
    _sub(other, "Priority", str(int(o.priority)))
    _sub(other, "SphereOfPromulgation", o.sphere_of_promulgation)
    _sub(other, "TyperNotation", o.typer_notation)
    _sub(other, "PromulgationAmount", "" if o.promulgation_amount is None else str(o.promulgation_amount))
    _sub(other, "PageAmount", "" if o.page_amount is None else str(o.page_amount))
    if o.direction is not None:
        _sub(other, "Direction", "true" if o.direction else "false")
    appendixes = _sub(other, "Appendixes")
    for appendix in o.appendixes:
        _sub(appendixes, "Appendix", appendix)
    if o.reply_fors is not None:
        _opaque(other, o.reply_fors)
    if o.reference_codes is not None:
        _opaque(other, o.reference_codes)
    for rf in h.response_for:
        _response_for(mh, rf)
    _sub(mh, "SteeringType", str(int(h.steering_type)))
    if h.response_for_task:
        task = _sub(mh, "ResponseForTask")
        for task_code in h.response_for_task:
            _sub(task, "TaskCode", task_code)
    if h.application_type:
        _sub(mh, "ApplicationType", h.application_type)
    places = _sub(mh, "ToPlaces")
    for place in h.to_places:
        _sub(places, "Place", place)


def _status_header(parent: _Element, pkg: StatusPackage) -> None:
    h = pkg.header
    mh = _sub(parent, "MessageHeader")
    _organization(mh, "From", h.from_)
    if h.response_for is not None:
        _response_for(mh, h.response_for)
    _staff_info(mh, h.staff_info, email_first=False)
    _sub(mh, "StatusCode", h.status_code.value)
    _sub(mh, "Description", h.description)
    _sub(mh, "Timestamp", format_timestamp(h.timestamp) if h.timestamp else "")


def build_envelope(pkg: Package) -> _Element:
    """The ``edXML:edXMLEnvelope`` element of a package, ready to serialise."""
    envelope = etree.Element(q("edXMLEnvelope"), nsmap={PREFIX: QCVN})
    header = _sub(envelope, "edXMLHeader")
    if isinstance(pkg, StatusPackage):
        _status_header(header, pkg)
    else:
        _document_header(header, pkg)
        _trace_header_list(header, pkg.trace)
    if pkg.signature is not None:
        _opaque(header, pkg.signature)
    if isinstance(pkg, DocumentPackage):
        body = _sub(envelope, "edXMLBody")
        manifest = _sub(body, "edXMLManifest")
        manifest.set("version", pkg.manifest_version or "1.0")
        for ref in pkg.references:
            r = etree.SubElement(manifest, q("Reference"), nsmap={"xlink": XLINK} if ref.xlink else None)
            for name, value in ref.xlink:
                r.set(f"{{{XLINK}}}{name}", value)
            _sub(r, "ContentId", f"cid:{ref.content_id}")
            _sub(r, "ContentType", ref.content_type)
            _sub(r, "Description", ref.description)
            _sub(r, "AttachmentName", ref.attachment_name)
    etree.indent(envelope, space="  ", level=1)
    return envelope


def envelope_bytes(pkg: Package) -> bytes:
    """The serialised ``edXMLEnvelope`` (no XML declaration), kept elements spliced in."""
    return _splice_opaque(build_envelope(pkg))


def write_package(
    pkg: Package, out: BinaryIO, blobs: BlobSource | None, *, with_content: bool = True
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
                out.write(b"\n      <%s>%s</%s>" % (name.encode(), _escape(value), name.encode()))
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


_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escape(value: str) -> bytes:
    """Element text for the hand-written attachment section (the envelope goes through lxml)."""
    if _INVALID_XML_CHARS.search(value):
        raise ValueError(f"{value!r} contains characters that XML 1.0 cannot carry")
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")
    )


def package_bytes(pkg: Package, blobs: BlobSource | None, *, with_content: bool = True) -> bytes:
    """The package as bytes; for small packages and tests (large ones: :func:`write_package`)."""
    buffer = io.BytesIO()
    write_package(pkg, buffer, blobs, with_content=with_content)
    return buffer.getvalue()
