"""The eDoc dialect's header blocks ↔ the canonical model, both ways, field for field.

The dialect's ``MessageHeader``, ``TraceHeaderList`` and ``Status`` carry the QCVN 102 children
under other names' namespace (``http://www.e-doc.vn/Schema/``, reference §5.2), read by local name.
So the translation moves the elements between namespaces and lets the core's lenient reader
(``gateway.edxml``) and strict writer do the field work: every field QCVN 102 knows survives,
with the same repairs and findings as a package file; the tree goes to the reader as a tree
(``read_element``), never serialised and parsed again. What is the dialect's own is done here:
agency code mapping, date and status code formats (per client profile), the manifest with its
MIME parts, and the ``Signature`` block, which in this dialect holds credentials (OrganId, Token)
and is therefore never copied into a package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lxml import etree

from gateway.edxml.attachments import (
    ZIP_BASED_EXTENSIONS,
    extension_of,
    normalize_content_id,
    single_zip_entry,
)
from gateway.edxml.blobio import BlobStoreLike
from gateway.edxml.dates import ICT, parse_date, parse_timestamp
from gateway.edxml.mapping import unzip_bound
from gateway.edxml.model import (
    Attachment,
    BlobRef,
    DocumentPackage,
    ManifestReference,
    StatusPackage,
)
from gateway.edxml.names import safe_file_name
from gateway.edxml.namespaces import EDOC_LEGACY, QCVN, XLINK
from gateway.edxml.reader import DEFAULT_OPTIONS, ReadOptions, read_element
from gateway.edxml.writer import envelope_bytes
from gateway.errors import DateFormatError, Finding, InvalidPackage
from gateway.exchange import TraceEntry
from gateway.safexml import tree_parser
from legacy_adapters.edoc_soap.mime import Part
from legacy_adapters.profiles import Profile

_Element = etree._Element
PREFIX = "edXML"
XOP = "http://www.w3.org/2004/08/xop/include"
_DATE_FIELDS = frozenset({"PromulgationDate", "DueDate"})


def local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def child(el: _Element | None, name: str) -> _Element | None:
    """The first child with this local name, whatever its namespace (the dialect's rule)."""
    if el is None:
        return None
    return next((c for c in el if local(c.tag) == name), None)


def child_text(el: _Element | None, name: str) -> str:
    found = child(el, name)
    return (found.text or "").strip() if found is not None else ""


def requalify(el: _Element, namespace: str, prefix: str = PREFIX) -> _Element:
    """A copy of ``el`` whose elements are all in ``namespace`` (attributes unchanged)."""
    nsmap = {prefix: namespace}
    copy = etree.Element(etree.QName(namespace, local(el.tag)).text, nsmap=nsmap)
    _copy_into(el, copy, namespace)
    return copy


def _copy_into(source: _Element, target: _Element, namespace: str) -> None:
    for name, value in source.attrib.items():
        target.set(name, value)
    target.text = source.text
    for c in source:
        if not isinstance(c.tag, str):
            continue
        new = etree.SubElement(target, etree.QName(namespace, local(c.tag)).text)
        _copy_into(c, new, namespace)
        new.tail = c.tail


def _map_codes(root: _Element, mapping: object) -> None:
    """Rewrite every OrganId (client ↔ gateway form) with ``mapping(code)``."""
    assert callable(mapping)
    for el in root.iter():
        if local(el.tag) == "OrganId" and el.text and el.text.strip():
            el.text = mapping(el.text.strip())


def _raise_errors(findings: Iterable[Finding]) -> None:
    errors = [f for f in findings if f.is_error]
    if errors:
        raise InvalidPackage(errors)


# -- dialect → canonical --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LegacyReference:
    """One ``Manifest/Reference``: which MIME part, and what the sender says about it."""

    content_id: str
    attachment_name: str
    description: str
    content_type: str = ""


def manifest_references(manifest: _Element | None) -> list[LegacyReference]:
    """``Manifest/Reference`` entries; the part is named by ``href`` in any namespace (plain,
    xlink) or by an MTOM ``xop:Include`` inside the Reference."""
    found = []
    for ref in manifest if manifest is not None else ():
        if local(ref.tag) != "Reference":
            continue
        href = next((str(v) for k, v in ref.attrib.items() if local(k) == "href"), "")
        if not href:
            include = next(ref.iter(f"{{{XOP}}}Include"), None)
            href = include.get("href", "") if include is not None else ""
        xlink_type = ref.get(f"{{{XLINK}}}type", "")
        found.append(
            LegacyReference(
                normalize_content_id(href),
                child_text(ref, "AttachmentName"),
                child_text(ref, "Description"),
                xlink_type if "/" in xlink_type else child_text(ref, "ContentType"),
            )
        )
    return found


def document_from_legacy(
    message_header: _Element,
    trace_header_list: _Element | None,
    references: list[LegacyReference],
    parts: dict[str, Part],
    blobs: BlobStoreLike,
    profile: Profile,
    options: ReadOptions = DEFAULT_OPTIONS,
) -> DocumentPackage:
    """A canonical document from SendDocument's header blocks, manifest and MIME parts.

    A part that is a zip of one file is judged by the unzip limits of ``options`` as an edXML
    attachment is (it is unwrapped when the package is read back for a receiver)."""
    mh = requalify(message_header, QCVN)
    _map_codes(mh, profile.to_gateway)
    header = etree.Element(f"{{{QCVN}}}edXMLHeader", nsmap={PREFIX: QCVN})
    header.append(mh)
    if trace_header_list is not None:
        trace = requalify(trace_header_list, QCVN)
        _map_codes(trace, profile.to_gateway)
        header.append(trace)
    pkg = _read_header(header, blobs)
    if not isinstance(pkg, DocumentPackage):
        raise InvalidPackage(
            [
                Finding(
                    "M.MessageHeader",
                    "/Envelope/Header/MessageHeader",
                    "this MessageHeader is a status (it has StatusCode): use UpdateTraces",
                )
            ]
        )
    attachments: list[Attachment] = []
    manifest: list[ManifestReference] = []
    used: set[str] = set()
    for index, ref in enumerate(references, start=1):
        part = parts.get(ref.content_id)
        if part is None:
            raise InvalidPackage(
                [
                    Finding(
                        "N.Manifest.Reference",
                        f"/Envelope/Body/Manifest/Reference[{index}]",
                        f"no MIME part has the Content-ID {ref.content_id!r} this Reference names",
                    )
                ]
            )
        used.add(ref.content_id)
        where = f"/Envelope/Body/Manifest/Reference[{index}]"
        _judge_zip(part, ref.attachment_name, where, blobs, options)
        content_type = ref.content_type or part.content_type
        attachments.append(_attachment(ref.content_id, ref, content_type, part))
        manifest.append(
            ManifestReference(ref.content_id, content_type, ref.description, ref.attachment_name)
        )
    for content_id, part in parts.items():
        if content_id not in used:  # a part the manifest forgot: kept, named by its Content-ID
            ref = LegacyReference(content_id, content_id, "")
            _judge_zip(part, content_id, f"MIME part <{content_id}>", blobs, options)
            attachments.append(_attachment(content_id, ref, part.content_type, part))
            manifest.append(ManifestReference(content_id, part.content_type, "", content_id))
    return replace(pkg, signature=None, references=tuple(manifest), attachments=tuple(attachments))


def _judge_zip(
    part: Part, name: str, where: str, blobs: BlobStoreLike, options: ReadOptions
) -> None:
    """Refuse a zip bomb on arrival rather than when a receiver's read unwraps it."""
    if part.kind != "zip" or extension_of(name) in ZIP_BASED_EXTENSIONS:
        return
    with blobs.open(part.blob) as stream:
        entry = single_zip_entry(stream)
    if entry is not None:
        unzip_bound(name, where, part.blob.size, entry.size, options)


def _attachment(content_id: str, ref: LegacyReference, content_type: str, part: Part) -> Attachment:
    return Attachment(
        content_id=content_id,
        name=ref.attachment_name,
        description=ref.description,
        content_type=content_type,
        encoded=part.blob,
        file=part.blob,
        file_kind=part.kind,
    )


def status_from_legacy(status: _Element, blobs: BlobStoreLike, profile: Profile) -> StatusPackage:
    """A canonical STATUS from UpdateTraces' ``Status`` (``"1"`` is read as ``"01"``)."""
    mh = requalify(status, QCVN)
    mh.tag = f"{{{QCVN}}}MessageHeader"
    _map_codes(mh, profile.to_gateway)
    code = child(mh, "StatusCode")
    if code is None:
        raise InvalidPackage(
            [Finding("N.Status.StatusCode", "/Envelope/Body/Status", "<StatusCode> is missing")]
        )
    raw = (code.text or "").strip()
    if raw.isdigit() and len(raw) < 2:
        code.text = raw.zfill(2)
    header = etree.Element(f"{{{QCVN}}}edXMLHeader", nsmap={PREFIX: QCVN})
    header.append(mh)
    pkg = _read_header(header, blobs)
    if not isinstance(pkg, StatusPackage):
        raise InvalidPackage([Finding("M.Status", "/Envelope/Body/Status", "not a status")])
    return pkg


def _read_header(header: _Element, blobs: BlobStoreLike) -> DocumentPackage | StatusPackage:
    root = etree.Element(f"{{{QCVN}}}edXML", nsmap={None: QCVN})  # type: ignore[dict-item]
    envelope = etree.SubElement(root, f"{{{QCVN}}}edXMLEnvelope", nsmap={PREFIX: QCVN})
    envelope.append(header)
    if child(header, "TraceHeaderList") is not None:
        body = etree.SubElement(envelope, f"{{{QCVN}}}edXMLBody")
        etree.SubElement(body, f"{{{QCVN}}}edXMLManifest", version="1.0")
    pkg = read_element(root, blobs)
    _raise_errors(pkg.findings)
    return pkg


# -- canonical → dialect --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LegacyFile:
    content_id: str
    content_type: str
    blob: BlobRef


@dataclass(frozen=True, slots=True)
class LegacyDocument:
    """What GetDocument answers: header blocks, the manifest, and the files as MIME parts."""

    header_blocks: tuple[_Element, ...]
    manifest: _Element
    files: tuple[LegacyFile, ...]


def _canonical_header(pkg: DocumentPackage | StatusPackage) -> _Element:
    bare: DocumentPackage | StatusPackage
    if isinstance(pkg, DocumentPackage):
        bare = replace(pkg, signature=None, references=(), attachments=())
    else:
        bare = replace(pkg, signature=None)
    envelope = etree.fromstring(envelope_bytes(bare), tree_parser())
    header = child(envelope, "edXMLHeader")
    assert header is not None
    return header


def _reformat_dates(root: _Element, profile: Profile, timestamps: str) -> None:
    for el in root.iter():
        name = local(el.tag)
        text = (el.text or "").strip()
        if not text:
            continue
        try:
            if name in _DATE_FIELDS:
                el.text = profile.format_date(parse_date(text)[0])
            elif name == "Timestamp":
                el.text = profile.format_timestamp(parse_timestamp(text)[0], timestamps)
        except DateFormatError:
            continue  # the writer only writes real dates; nothing to convert otherwise


def document_to_legacy(pkg: DocumentPackage, profile: Profile) -> LegacyDocument:
    """GetDocument's answer for a canonical document (files: the documents themselves, unzipped
    where the sender's library had zipped them)."""
    header = _canonical_header(pkg)
    blocks = []
    for name in ("MessageHeader", "TraceHeaderList"):
        found = child(header, name)
        if found is None:
            continue
        block = requalify(found, EDOC_LEGACY)
        _map_codes(block, profile.to_client)
        _reformat_dates(block, profile, "trace")
        blocks.append(block)
    manifest = etree.Element(
        f"{{{EDOC_LEGACY}}}Manifest", nsmap={PREFIX: EDOC_LEGACY, "xlink": XLINK}
    )
    files: list[LegacyFile] = []
    by_id = {a.content_id: a for a in pkg.attachments}
    refs = pkg.references or tuple(
        ManifestReference(a.content_id, a.content_type, a.description, a.name)
        for a in pkg.attachments
    )
    for ref in refs:
        attachment = by_id.get(ref.content_id)
        if attachment is None:
            continue
        content_type = attachment.content_type or ref.content_type or "application/octet-stream"
        el = etree.SubElement(manifest, f"{{{EDOC_LEGACY}}}Reference")
        el.set(f"{{{XLINK}}}href", f"cid:{ref.content_id}")
        el.set(f"{{{XLINK}}}type", content_type)  # sic: a MIME type here (reference §5.9)
        # The dialect has one name, which clients save the file under: never a path.
        etree.SubElement(el, f"{{{EDOC_LEGACY}}}AttachmentName").text = safe_file_name(
            attachment.name or ref.attachment_name, f"attachment-{len(files) + 1}"
        )
        etree.SubElement(el, f"{{{EDOC_LEGACY}}}Description").text = (
            attachment.description or ref.description
        )
        files.append(LegacyFile(ref.content_id, content_type, attachment.file))
    return LegacyDocument(tuple(blocks), manifest, tuple(files))


def status_to_legacy(pkg: StatusPackage, profile: Profile) -> _Element:
    """One ``edXML:Status`` of GetTraces, with the profile's code and timestamp formats."""
    header = _canonical_header(pkg)
    mh = child(header, "MessageHeader")
    assert mh is not None
    status = requalify(mh, EDOC_LEGACY)
    status.tag = f"{{{EDOC_LEGACY}}}Status"
    _map_codes(status, profile.to_client)
    _reformat_dates(status, profile, "status")
    code = child(status, "StatusCode")
    if code is not None and code.text:
        code.text = profile.status_code(code.text.strip())
    return status


def _legacy_q(name: str) -> str:
    return etree.QName(EDOC_LEGACY, name).text


def transport_to_legacy(entry: TraceEntry, profile: Profile) -> _Element:
    """The gateway's report on relaying a package, as a GetTraces ``edXML:Status``.

    It is no receiver's status: ``From`` is the gateway itself, ``StatusCode`` is empty, and
    the Description names the outcome, the recipients, the upstream and its error code.
    """
    status = etree.Element(_legacy_q("Status"), nsmap={PREFIX: EDOC_LEGACY})
    sender = etree.SubElement(status, _legacy_q("From"))
    etree.SubElement(sender, _legacy_q("OrganId")).text = entry.from_agency
    etree.SubElement(sender, _legacy_q("OrganName")).text = (
        "Cổng trao đổi văn bản: kết quả chuyển (the gateway's transport report)"
    )
    about = etree.SubElement(status, _legacy_q("ResponseFor"))
    etree.SubElement(about, _legacy_q("OrganId")).text = profile.to_client(entry.to_agency)
    etree.SubElement(about, _legacy_q("DocumentId")).text = entry.document_id
    etree.SubElement(status, _legacy_q("StatusCode")).text = ""
    outcome = "TRANSPORT-FAILED" if entry.outcome == "failed" else "TRANSPORT-DELIVERED"
    code = f" {entry.error_code}" if entry.error_code else ""
    etree.SubElement(status, _legacy_q("Description")).text = (
        f"[{outcome}{code}] {entry.description}"
    )
    etree.SubElement(status, _legacy_q("Timestamp")).text = profile.format_timestamp(
        entry.recorded_at.astimezone(ICT).replace(tzinfo=None), "status"
    )
    return status


def legacy_timestamp_text(value: dt.datetime, profile: Profile) -> str:
    return profile.format_timestamp(value, "status")
