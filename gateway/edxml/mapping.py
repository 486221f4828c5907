"""Map a parsed edXML tree onto the canonical model, repairing what real traffic gets wrong.

Elements are read by local name in any order, in the QCVN namespace or in none (never by prefix).
Each repair adds a ``W.`` warning; each value that cannot be repaired adds an error and leaves the
model's default, so a validator reports every problem of a package in one pass.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from lxml import etree

from gateway.edxml.attachments import (
    ZIP_BASED_EXTENSIONS,
    copy_zip_entry,
    extension_of,
    normalize_content_id,
    single_zip_entry,
    sniff_kind,
)
from gateway.edxml.blobio import BlobStoreLike
from gateway.edxml.dates import parse_date, parse_timestamp
from gateway.edxml.enums import BusinessDocType, Priority, ReceiverType, StatusCode, SteeringType
from gateway.edxml.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    MessageHeader,
    OpaqueXml,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.namespaces import QCVN, XLINK, local_name, namespace_of
from gateway.errors import DateFormatError, Finding, LimitExceeded, Severity, UnzipLimit

if TYPE_CHECKING:
    from gateway.edxml.reader import DecodedContent, ReadOptions

_Element = etree._Element
E = TypeVar("E", bound=enum.Enum)
W = TypeVar("W", dt.date, dt.datetime)

_ORG_FIELDS = (
    "OrganId",
    "OrganizationInCharge",
    "OrganName",
    "OrganAdd",
    "Email",
    "Telephone",
    "Fax",
    "Website",
)
_KNOWN: dict[str, frozenset[str]] = {
    "edXML": frozenset({"edXMLEnvelope", "AttachmentEncoded"}),
    "edXMLEnvelope": frozenset({"edXMLHeader", "edXMLBody"}),
    "edXMLHeader": frozenset({"MessageHeader", "TraceHeaderList", "Signature", "DigitalSignature"}),
    "document": frozenset(
        {
            "From",
            "To",
            "DocumentId",
            "Code",
            "PromulgationInfo",
            "DocumentType",
            "Subject",
            "Content",
            "SignerInfo",
            "DueDate",
            "OtherInfo",
            "ResponseFor",
            "SteeringType",
            "ResponseForTask",
            "ApplicationType",
            "ToPlaces",
        }
    ),
    "status": frozenset(
        {"From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"}
    ),
    "OtherInfo": frozenset(
        {
            "Priority",
            "SphereOfPromulgation",
            "TyperNotation",
            "PromulgationAmount",
            "PageAmount",
            "Direction",
            "Appendixes",
            "ReplyFors",
            "ReferenceCodes",
        }
    ),
    "TraceHeaderList": frozenset({"TraceHeader", "Bussiness", "Business"}),
    "Bussiness": frozenset(
        {
            "DocumentId",
            "BussinessDocType",
            "BussinessDocReason",
            "Paper",
            "BussinessDocumentInfo",
            "ReplacementInfoList",
            "StaffInfo",
        }
    ),
    "Attachment": frozenset(
        {
            "ContentId",
            "AttachmentName",
            "Description",
            "ContentType",
            "FieldName",
            "MimeType",
            "ContentTransferEncoded",
        }
    ),
    "Reference": frozenset({"ContentId", "ContentType", "Description", "AttachmentName"}),
}
_DECLARED_KIND = {
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
}


def path_of(el: _Element) -> str:
    """An XPath-like location with 1-based positions for repeated siblings."""
    parts: list[str] = []
    node: _Element | None = el
    while node is not None:
        name = local_name(node.tag)
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and local_name(c.tag) == name]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def code_path(el: _Element) -> str:
    """The dotted element path used in error codes, e.g. ``MessageHeader.To.OrganId``."""
    names: list[str] = []
    node: _Element | None = el
    while node is not None:
        names.append(local_name(node.tag))
        node = node.getparent()
    names.reverse()
    skip = {"edXML", "edXMLEnvelope", "edXMLHeader", "edXMLBody", "AttachmentEncoded"}
    return ".".join(n for n in names if n not in skip)


class _Mapper:
    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self._index: dict[_Element, dict[str, list[_Element]]] = {}

    # -- findings ---------------------------------------------------------------------------
    def warn(self, code: str, el: _Element, message: str) -> None:
        self.findings.append(Finding(code, path_of(el), message, Severity.WARNING))

    def error(self, code: str, el: _Element, message: str) -> None:
        self.findings.append(Finding(code, path_of(el), message, Severity.ERROR))

    # -- navigation -------------------------------------------------------------------------
    def _children_by_name(self, el: _Element) -> dict[str, list[_Element]]:
        """Each element's QCVN (or namespace-less) children by local name, built once."""
        index = self._index.get(el)
        if index is None:
            index = {}
            for c in el:  # plain iteration: 2-3x faster than a tag-filtered iterchildren
                tag = c.tag
                if not isinstance(tag, str):
                    continue
                if tag.startswith(_QCVN_BRACE):
                    name = tag[_QCVN_BRACE_LEN:]
                elif tag[0] != "{":
                    name = tag
                else:
                    continue  # another namespace: reported by check_unknown
                found = index.get(name)
                if found is None:
                    index[name] = [c]
                else:
                    found.append(c)
            self._index[el] = index
        return index

    def children(self, el: _Element | None, *names: str) -> list[_Element]:
        """Children by local name, in the QCVN namespace or in none, in document order."""
        if el is None:
            return []
        if len(names) == 1:
            return self._children_by_name(el).get(names[0], [])
        return list(el.iterchildren(*_tags(names)))

    def child(self, el: _Element | None, *names: str) -> _Element | None:
        if el is None:
            return None
        index = self._children_by_name(el)
        for name in names:
            found = index.get(name)
            if found:
                return found[0]
        return None

    def text(self, el: _Element | None, name: str) -> str:
        if el is None:
            return ""
        found = self._children_by_name(el).get(name)
        return _text(found[0]) if found else ""

    def check_unknown(self, el: _Element, known: frozenset[str]) -> None:
        index = self._children_by_name(el)
        indexed = sum(len(v) for v in index.values())
        if index.keys() <= known and indexed == len(el):
            return  # the common case: nothing unknown, nothing in a foreign namespace
        for c in el:
            if not isinstance(c.tag, str):
                continue
            name = local_name(c.tag)
            if name not in known:
                self.warn(
                    f"W.{code_path(c)}",
                    c,
                    f"<{name}> is not part of QCVN 102:2016 and was dropped",
                )

    # -- typed values -----------------------------------------------------------------------
    def _moment(
        self,
        el: _Element | None,
        name: str,
        parse: Callable[[str], tuple[W, bool]],
        form: str,
        show: str,
    ) -> W | None:
        """A date or timestamp: canonical text silently, other known forms with a warning."""
        found = self.child(el, name)
        raw = _text(found)
        if found is None or not raw:
            return None
        try:
            value, exact = parse(raw)
        except DateFormatError as exc:
            self.error(f"M.{code_path(found)}", found, f"{exc}; expected {form}")
            return None
        if not exact:
            self.warn(f"W.{code_path(found)}", found, f"{raw!r} read as {value:{show}}")
        return value

    def date(self, el: _Element | None, name: str) -> dt.date | None:
        return self._moment(el, name, parse_date, "yyyy/MM/dd", "%Y/%m/%d")

    def timestamp(self, el: _Element | None, name: str) -> dt.datetime | None:
        return self._moment(el, name, parse_timestamp, "yyyy/MM/dd HH:mm:ss", "%Y/%m/%d %H:%M:%S")

    def integer(self, el: _Element | None, name: str) -> int | None:
        found = self.child(el, name)
        raw = _text(found)
        if found is None or not raw:
            return None
        try:
            value = int(raw)
        except ValueError:
            self.error(f"M.{code_path(found)}", found, f"{raw!r} is not a whole number")
            return None
        if value < 0:
            self.error(f"R.{code_path(found)}", found, f"{value} is negative")
            return None
        return value

    def choice(
        self,
        el: _Element | None,
        name: str,
        enum_type: type[E],
        default: E,
        convert: Callable[[str], object] = int,
        *,
        required: bool = False,
    ) -> E:
        found = self.child(el, name)
        raw = _text(found)
        if found is None or not raw:
            if required and el is not None:
                self.warn(
                    f"W.{code_path(el)}.{name}",
                    el,
                    f"<{name}> is missing; taken as {_enum_text(default)}",
                )
            return default
        try:
            return enum_type(convert(raw))
        except (ValueError, TypeError):
            allowed = ", ".join(_enum_text(m) for m in enum_type)
            self.error(f"R.{code_path(found)}", found, f"{raw!r} is not one of {allowed}")
            return default

    def boolean(self, el: _Element | None, name: str) -> bool | None:
        found = self.child(el, name)
        raw = _text(found).lower()
        if found is None or not raw:
            return None
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        self.error(f"M.{code_path(found)}", found, f"{raw!r} is not true or false")
        return None

    def opaque(self, el: _Element | None, name: str) -> OpaqueXml | None:
        found = self.child(el, name)
        return None if found is None else _opaque(found)

    # -- structures -------------------------------------------------------------------------
    def organization(self, el: _Element) -> Organization:
        values = [self.text(el, name) for name in _ORG_FIELDS]
        return Organization(*values)

    def response_for(self, el: _Element) -> ResponseFor | None:
        rf = ResponseFor(
            organ_id=self.text(el, "OrganId"),
            code=self.text(el, "Code"),
            promulgation_date=self.date(el, "PromulgationDate"),
            document_id=self.text(el, "DocumentId"),
        )
        if rf == ResponseFor():
            self.warn(f"W.{code_path(el)}", el, "an empty <ResponseFor> was dropped")
            return None
        return rf

    def staff_info(self, el: _Element | None) -> StaffInfo | None:
        if el is None:
            return None
        return StaffInfo(
            department=self.text(el, "Department"),
            staff=self.text(el, "Staff"),
            mobile=self.text(el, "Mobile"),
            email=self.text(el, "Email"),
            department_id=self.text(el, "DepartmentId"),
            staff_id=self.text(el, "StaffId"),
        )

    def message_header(self, mh: _Element) -> MessageHeader:
        self.check_unknown(mh, _KNOWN["document"])
        from_el = self.child(mh, "From")
        code = self.child(mh, "Code")
        info = self.child(mh, "PromulgationInfo")
        doc_type = self.child(mh, "DocumentType")
        signer = self.child(mh, "SignerInfo")
        other = self.child(mh, "OtherInfo")
        if other is not None:
            self.check_unknown(other, _KNOWN["OtherInfo"])
        response_for = [self.response_for(rf) for rf in self.children(mh, "ResponseFor")]
        return MessageHeader(
            from_=self.organization(from_el) if from_el is not None else Organization(),
            to=tuple(self.organization(t) for t in self.children(mh, "To")),
            document_id=self.text(mh, "DocumentId"),
            code=Code(self.text(code, "CodeNumber"), self.text(code, "CodeNotation")),
            promulgation_info=PromulgationInfo(
                self.text(info, "Place"), self.date(info, "PromulgationDate")
            ),
            document_type=DocumentType(
                self.text(doc_type, "Type"),
                self.text(doc_type, "TypeDetail"),
                self.text(doc_type, "TypeName"),
            ),
            subject=self.text(mh, "Subject"),
            content=self.text(mh, "Content"),
            signer_info=SignerInfo(
                self.text(signer, "Competence"),
                self.text(signer, "Position"),
                self.text(signer, "FullName"),
            ),
            due_date=self.date(mh, "DueDate"),
            other_info=OtherInfo(
                priority=self.choice(other, "Priority", Priority, Priority.NORMAL, required=True),
                sphere_of_promulgation=self.text(other, "SphereOfPromulgation"),
                typer_notation=self.text(other, "TyperNotation"),
                promulgation_amount=self.integer(other, "PromulgationAmount"),
                page_amount=self.integer(other, "PageAmount"),
                direction=self.boolean(other, "Direction"),
                appendixes=tuple(
                    _text(a)
                    for a in self.children(self.child(other, "Appendixes"), "Appendix")
                    if _text(a)
                ),
                reply_fors=self.opaque(other, "ReplyFors"),
                reference_codes=self.opaque(other, "ReferenceCodes"),
            ),
            response_for=tuple(rf for rf in response_for if rf is not None),
            steering_type=self.choice(
                mh, "SteeringType", SteeringType, SteeringType.NOT_DIRECTIVE, required=True
            ),
            response_for_task=tuple(
                _text(t)
                for t in self.children(self.child(mh, "ResponseForTask"), "TaskCode")
                if _text(t)
            ),
            application_type=self.text(mh, "ApplicationType"),
            to_places=tuple(
                _text(p) for p in self.children(self.child(mh, "ToPlaces"), "Place") if _text(p)
            ),
        )

    def business(self, trace_list: _Element | None) -> Business:
        el = self.child(trace_list, "Bussiness", "Business")
        if el is None:
            if trace_list is not None:
                self.warn(
                    "W.TraceHeaderList.Bussiness",
                    trace_list,
                    "<Bussiness> is missing (as in some VPCP traffic); taken as a new document",
                )
            return Business()
        name = local_name(el.tag)
        if name == "Business" or self.child(el, "BusinessDocType") is not None:
            self.warn(
                "W.TraceHeaderList.Bussiness",
                el,
                "the 'Business' spelling was read as QCVN 102's 'Bussiness'",
            )
        self.check_unknown(
            el,
            _KNOWN["Bussiness"] | {"BusinessDocType", "BusinessDocReason", "BusinessDocumentInfo"},
        )
        info_el = self.child(el, "BussinessDocumentInfo", "BusinessDocumentInfo")
        info = None
        if info_el is not None:
            receivers = self.children(self.child(info_el, "ReceiverList"), "Receiver")
            info = BusinessDocumentInfo(
                document_info=self.text(info_el, "DocumentInfo"),
                document_receiver=self.text(info_el, "DocumentReceiver"),
                receivers=tuple(
                    Receiver(
                        self.text(r, "OrganId"),
                        self.choice(r, "ReceiverType", ReceiverType, ReceiverType.ADDED),
                    )
                    for r in receivers
                ),
            )
        replacements = tuple(
            ReplacementInfo(
                self.text(r, "DocumentId"),
                tuple(
                    _text(o)
                    for o in self.children(self.child(r, "OrganIdList"), "OrganId")
                    if _text(o)
                ),
            )
            for r in self.children(self.child(el, "ReplacementInfoList"), "ReplacementInfo")
        )
        doc_type_name = (
            "BussinessDocType"
            if self.child(el, "BussinessDocType") is not None
            else "BusinessDocType"
        )
        reason_name = (
            "BussinessDocReason"
            if self.child(el, "BussinessDocReason") is not None
            else "BusinessDocReason"
        )
        return Business(
            document_id=self.text(el, "DocumentId"),
            doc_type=self.choice(el, doc_type_name, BusinessDocType, BusinessDocType.NEW),
            reason=self.text(el, reason_name),
            paper=self.text(el, "Paper"),
            document_info=info,
            replacements=replacements,
            staff_info=self.staff_info(self.child(el, "StaffInfo")),
        )

    def trace_header_list(self, el: _Element | None) -> TraceHeaderList:
        if el is None:
            return TraceHeaderList()
        self.check_unknown(el, _KNOWN["TraceHeaderList"])
        headers = tuple(
            TraceHeader(self.text(h, "OrganId"), self.timestamp(h, "Timestamp"))
            for h in self.children(el, "TraceHeader")
        )
        return TraceHeaderList(headers, self.business(el))

    def status_code(self, mh: _Element) -> StatusCode:
        found = self.child(mh, "StatusCode")
        raw = _text(found)
        if found is None or not raw:
            self.error("N.MessageHeader.StatusCode", mh, "<StatusCode> is missing")
            return StatusCode.RECEIVED
        normalised = raw.zfill(2) if raw.isdigit() and len(raw) < 2 else raw
        try:
            code = StatusCode(normalised)
        except ValueError:
            allowed = ", ".join(c.value for c in StatusCode)
            self.error(
                "R.MessageHeader.StatusCode",
                found,
                f"status code {raw!r} is not one of {allowed}",
            )
            return StatusCode.RECEIVED
        if normalised != raw:
            self.warn(
                "W.MessageHeader.StatusCode", found, f"status code {raw!r} read as {code.value!r}"
            )
        return code

    def status_header(self, mh: _Element) -> StatusHeader:
        self.check_unknown(mh, _KNOWN["status"])
        from_el = self.child(mh, "From")
        rf_el = self.child(mh, "ResponseFor")
        return StatusHeader(
            from_=self.organization(from_el) if from_el is not None else Organization(),
            response_for=self.response_for(rf_el) if rf_el is not None else None,
            staff_info=self.staff_info(self.child(mh, "StaffInfo")) or StaffInfo(),
            status_code=self.status_code(mh),
            description=self.text(mh, "Description"),
            timestamp=self.timestamp(mh, "Timestamp"),
        )

    def references(self, body: _Element | None) -> tuple[str, list[tuple[ManifestReference, str]]]:
        manifest = self.child(body, "edXMLManifest")
        version = manifest.get("version", "1.0") if manifest is not None else "1.0"
        refs: list[tuple[ManifestReference, str]] = []
        for r in self.children(manifest, "Reference"):
            self.check_unknown(r, _KNOWN["Reference"])
            raw_id = self.text(r, "ContentId")
            xlink = tuple(
                (local_name(str(k)), str(v))
                for k, v in sorted(r.attrib.items())
                if namespace_of(str(k)) == XLINK
            )
            refs.append(
                (
                    ManifestReference(
                        content_id=normalize_content_id(raw_id),
                        content_type=self.text(r, "ContentType"),
                        description=self.text(r, "Description"),
                        attachment_name=self.text(r, "AttachmentName"),
                        xlink=xlink,
                    ),
                    raw_id,
                )
            )
        return version, refs


_QCVN_BRACE = f"{{{QCVN}}}"
_QCVN_BRACE_LEN = len(_QCVN_BRACE)


def _qualified(name: str) -> str:
    return f"{{{QCVN}}}{name}"


@functools.cache
def _tags(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(tag for name in names for tag in (f"{{{QCVN}}}{name}", name))


def _text(el: _Element | None) -> str:
    if el is None:
        return ""
    if len(el):
        return "".join(str(t) for t in el.itertext()).strip()
    return (el.text or "").strip()


def _enum_text(member: enum.Enum) -> str:
    return str(member.value)


def _opaque(el: _Element) -> OpaqueXml:
    return OpaqueXml(etree.tostring(el, method="c14n", exclusive=True, with_comments=False))


def map_package(
    root: _Element,
    contents: dict[int, DecodedContent],
    blobs: BlobStoreLike,
    options: ReadOptions,
    findings: list[Finding],
) -> Package:
    """Turn the parsed tree (attachment text already in blobs) into a document or status."""
    m = _Mapper(findings)
    m.check_unknown(root, _KNOWN["edXML"])
    envelope = m.child(root, "edXMLEnvelope")
    if envelope is None:
        m.error("N.edXMLEnvelope", root, "<edXMLEnvelope> is missing")
    else:
        m.check_unknown(envelope, _KNOWN["edXMLEnvelope"])
    header = m.child(envelope, "edXMLHeader")
    if header is not None:
        m.check_unknown(header, _KNOWN["edXMLHeader"])
    mh = m.child(header, "MessageHeader")
    if mh is None:
        m.error(
            "N.MessageHeader", header if header is not None else root, "<MessageHeader> is missing"
        )
        mh = etree.Element(_qualified("MessageHeader"))
    signature_el = m.child(header, "Signature", "DigitalSignature")
    if signature_el is None and header is not None:
        signature_el = next(
            (c for c in header if isinstance(c.tag, str) and local_name(c.tag) == "Signature"), None
        )
    signature = _opaque(signature_el) if signature_el is not None else None

    if m.child(mh, "StatusCode") is not None:
        return StatusPackage(m.status_header(mh), signature, tuple(findings))

    message_header = m.message_header(mh)
    trace = m.trace_header_list(m.child(header, "TraceHeaderList"))
    version, refs = m.references(m.child(envelope, "edXMLBody"))
    attachments = _attachments(m, root, refs, contents, blobs, options)
    return DocumentPackage(
        header=message_header,
        trace=trace,
        signature=signature,
        manifest_version=version,
        references=tuple(ref for ref, _raw in refs),
        attachments=attachments,
        findings=tuple(findings),
    )


def _attachments(
    m: _Mapper,
    root: _Element,
    refs: list[tuple[ManifestReference, str]],
    contents: dict[int, DecodedContent],
    blobs: BlobStoreLike,
    options: ReadOptions,
) -> tuple[Attachment, ...]:
    by_id = {ref.content_id: (ref, raw) for ref, raw in refs}
    result: list[Attachment] = []
    encoded_section = m.child(root, "AttachmentEncoded")
    for index, el in enumerate(m.children(encoded_section, "Attachment"), start=1):
        m.check_unknown(el, _KNOWN["Attachment"])
        raw_id = m.text(el, "ContentId")
        content_id = normalize_content_id(raw_id)
        ref_pair = by_id.get(content_id)
        if ref_pair is not None and ref_pair[1] != raw_id:
            m.warn(
                "W.Attachment.ContentId",
                el,
                f"content id {raw_id!r} matched manifest reference {ref_pair[1]!r} "
                "after removing 'cid:' and '<>'",
            )
        name = m.text(el, "AttachmentName")
        if not name and ref_pair is not None and ref_pair[0].attachment_name:
            name = ref_pair[0].attachment_name
            m.warn(
                "W.Attachment.AttachmentName",
                el,
                f"<AttachmentName> is missing; taken from the manifest: {name!r}",
            )
        decoded = contents.get(index)
        content_type = m.text(el, "ContentType")
        attachment = Attachment(
            content_id=content_id,
            name=name,
            description=m.text(el, "Description"),
            content_type=content_type,
            field_name=m.text(el, "FieldName"),
            mime_type=m.text(el, "MimeType"),
        )
        if decoded is None:
            m.error(
                "N.Attachment.ContentTransferEncoded",
                el,
                "<ContentTransferEncoded> is missing: the attachment has no content",
            )
            result.append(attachment)
            continue
        _report_decoding(m, el, decoded)
        result.append(_with_content(m, el, attachment, decoded, blobs, options))
    return tuple(result)


def _report_decoding(m: _Mapper, el: _Element, decoded: DecodedContent) -> None:
    target = m.child(el, "ContentTransferEncoded")
    where = target if target is not None else el
    if decoded.invalid_characters:
        m.error(
            "M.Attachment.ContentTransferEncoded",
            where,
            f"{decoded.invalid_characters} character(s) outside the base64 alphabet were "
            "dropped; the attachment content is damaged",
        )
    if decoded.dangling_characters:
        m.error(
            "M.Attachment.ContentTransferEncoded",
            where,
            f"the base64 text ends with {decoded.dangling_characters} character(s) that do not "
            "form a full group; the attachment is truncated or damaged",
        )
    if decoded.padding_inside:
        m.warn(
            "W.Attachment.ContentTransferEncoded",
            where,
            "base64 padding appears inside the text (several encodings joined); decoded each part",
        )


def _with_content(
    m: _Mapper,
    el: _Element,
    attachment: Attachment,
    decoded: DecodedContent,
    blobs: BlobStoreLike,
    options: ReadOptions,
) -> Attachment:
    encoded_kind = sniff_kind(decoded.head)
    file_ref, file_kind, unwrapped = decoded.blob, encoded_kind, False
    declared = _DECLARED_KIND.get(attachment.content_type.lower())
    extension = extension_of(attachment.name)
    if (
        encoded_kind == "zip"
        and options.unwrap_single_entry_zips
        and extension not in ZIP_BASED_EXTENSIONS
    ):
        with blobs.open(decoded.blob) as stream:
            entry = single_zip_entry(stream)
        if entry is not None:
            bound = unzip_bound(
                attachment.name, path_of(el), decoded.blob.size, entry.size, options
            )
            writer = blobs.writer()
            try:
                with blobs.open(decoded.blob) as stream:
                    copy_zip_entry(stream, entry.name, writer, bound[0] if bound else None)
            except UnzipLimit:
                writer.abort()
                assert bound is not None
                raise bound[1] from None
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
                # ValueError: zipfile seeking before the start of a truncated archive held in
                # memory (a file answers OSError for the same archive).
                writer.abort()
                m.error(
                    "M.Attachment.Zip",
                    el,
                    f"the attachment is a zip whose entry {entry.name!r} cannot be read "
                    f"({exc}); it was kept as the zip itself",
                )
                return replace(
                    attachment, encoded=decoded.blob, file=decoded.blob, file_kind=encoded_kind
                )
            except BaseException:
                writer.abort()
                raise
            file_ref = writer.commit()
            with blobs.open(file_ref) as stream:
                file_kind = sniff_kind(stream.read(16))
            unwrapped = True
            m.warn(
                "W.Attachment.Zip",
                el,
                f"the content is a zip holding one file ({entry.name!r}); it was unwrapped and "
                f"named {attachment.name!r} from AttachmentName",
            )
    if declared is not None and declared != encoded_kind:
        m.warn(
            "W.Attachment.ContentType",
            el,
            f"declared {attachment.content_type!r} but the bytes are {encoded_kind}",
        )
    return replace(
        attachment,
        encoded=decoded.blob,
        file=file_ref,
        file_kind=file_kind,
        unwrapped_from_zip=unwrapped,
    )


RATIO_FREE_BYTES = 1 << 20
"""Up to this size an unwrapped file is not judged by its ratio: a small file of blank pages
compresses hundreds of times, and a bomb only matters at scale."""


def unzip_bound(
    name: str, where: str, zipped: int, declared: int, options: ReadOptions
) -> tuple[int, LimitExceeded] | None:
    """The tightest bound on what a zip's one entry may inflate to, with the refusal it meets
    past it (none if nothing bounds it); refused at once if the entry's header already declares
    more. (Python's zipfile stops inflating at the declared size, so a header that lies small
    yields a CRC error, not a bomb.) Every face that unwraps zips judges them here."""
    bounds: list[tuple[int, LimitExceeded]] = []
    if options.max_attachment_bytes is not None:
        message = (
            f"the file unwrapped from the zip in attachment {name!r} is larger than the "
            f"configured maximum of {options.max_attachment_bytes} bytes"
        )
        refusal = LimitExceeded("R.Attachment.Size", message, where)
        bounds.append((options.max_attachment_bytes, refusal))
    if options.max_decompressed_bytes is not None:
        message = (
            f"the zip in attachment {name!r} inflates to more than "
            f"{options.max_decompressed_bytes} bytes"
        )
        refusal = LimitExceeded("R.Attachment.Decompressed", message, where)
        bounds.append((options.max_decompressed_bytes, refusal))
    if options.max_compression_ratio is not None:
        message = (
            f"the zip in attachment {name!r} ({zipped} bytes) inflates to more than "
            f"{options.max_compression_ratio} times its size (a zip bomb?)"
        )
        refusal = LimitExceeded("R.Attachment.Ratio", message, where)
        ratio_bound = max(options.max_compression_ratio * zipped, RATIO_FREE_BYTES)
        bounds.append((ratio_bound, refusal))
    if not bounds:
        return None
    tightest = min(bounds, key=lambda bound: bound[0])
    if declared > tightest[0]:
        raise tightest[1]
    return tightest
