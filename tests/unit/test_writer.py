"""The writer always emits the reference layout (§2.1, §7.1), whatever the model came from."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from dataclasses import replace

import pytest
from lxml import etree

from gateway.edxml import package_bytes, read_package, write_package
from gateway.edxml.enums import BusinessDocType, ReceiverType, StatusCode
from gateway.edxml.model import (
    Business,
    BusinessDocumentInfo,
    DocumentPackage,
    MessageHeader,
    OpaqueXml,
    Organization,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.store.blobs import FileBlobStore
from tests.fixtures.packages import MINIMAL_PDF

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
NS = {"e": QCVN}
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'

# §2.2: the VNPT library's emit order of MessageHeader children.
DOCUMENT_ORDER = [
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
]
STATUS_ORDER = ["From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"]
DATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def envelope_text(data: bytes) -> str:
    text = data.decode("utf-8")
    start = text.index("<edXML:edXMLEnvelope")
    end = text.index("</edXML:edXMLEnvelope>") + len("</edXML:edXMLEnvelope>")
    return text[start:end]


def full_document(minimal: DocumentPackage) -> DocumentPackage:
    """Every optional element present, so the order check sees them all."""
    header = replace(
        minimal.header,
        to=(
            minimal.header.to[0],
            Organization(organ_id="000.00.00.H53", organ_name="UBND Tây Ninh"),
        ),
        response_for=(
            ResponseFor("000.00.00.H41", "7/UBND", dt.date(2024, 1, 2), "doc-7"),
            ResponseFor("000.00.00.H53", "8/UBND", None, ""),
        ),
        response_for_task=("TASK-1", "TASK-2"),
        application_type="QLVB",
        other_info=replace(
            minimal.header.other_info,
            direction=True,
            reply_fors=OpaqueXml(
                b'<edXML:ReplyFors xmlns:edXML="%s"></edXML:ReplyFors>' % QCVN.encode()
            ),
        ),
    )
    trace = TraceHeaderList(
        (
            TraceHeader("000.00.00.G22", dt.datetime(2024, 3, 5, 8, 9, 10)),
            TraceHeader("", dt.datetime(2024, 3, 5, 8, 9, 11)),
        ),
        Business(
            document_id="000.00.00.G22,2024/03/01,11/VPCP",
            doc_type=BusinessDocType.UPDATE,
            reason="Cập nhật",
            paper="0",
            document_info=BusinessDocumentInfo(
                "1",
                "1",
                (
                    Receiver("000.00.00.H41", ReceiverType.REMOVED),
                    Receiver("X", ReceiverType.ADDED),
                ),
            ),
            replacements=(ReplacementInfo("doc-0", ("000.00.00.H41", "000.00.00.H53")),),
            staff_info=StaffInfo("Văn thư", "Lê C", "0900000000", "c@example.vn", "VT", "S1"),
        ),
    )
    return replace(minimal, header=header, trace=trace)


# -- layout --------------------------------------------------------------------------------------


def test_xml_declaration_and_root(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    data = package_bytes(minimal_document, blob_store)
    assert data.startswith(DECLARATION + b"\n")
    root = parse(data)
    assert root.tag == f"{{{QCVN}}}edXML"
    assert root.prefix is None
    assert root.nsmap == {None: QCVN}
    assert data.split(b"\n", 2)[1] == b'<edXML xmlns="%s">' % QCVN.encode()


def test_every_envelope_descendant_is_edxml_prefixed(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    pkg = full_document(minimal_document)
    data = package_bytes(pkg, blob_store)
    root = parse(data)
    (envelope,) = root.findall("e:edXMLEnvelope", NS)
    assert envelope.prefix == "edXML"
    assert envelope.nsmap["edXML"] == QCVN
    descendants = [el for el in envelope.iter() if isinstance(el.tag, str)]
    assert len(descendants) > 100
    for el in descendants:
        assert el.prefix == "edXML", f"<{el.tag}> is not edXML:-prefixed"
        assert etree.QName(el).namespace == QCVN
    # And in the serialised text: every tag inside the envelope is <edXML:...> / </edXML:...>.
    tags = re.findall(r"</?([A-Za-z_][\w.:-]*)", envelope_text(data))
    assert tags and all(t.startswith("edXML:") for t in tags), sorted(
        {t for t in tags if ":" not in t}
    )


def test_kept_signature_is_spliced_unchanged(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    signature = OpaqueXml(
        b'<Signature xmlns="%s"><SignedInfo></SignedInfo><SignatureValue>AAA=</SignatureValue>'
        b"</Signature>" % XMLDSIG.encode()
    )
    data = package_bytes(replace(minimal_document, signature=signature), blob_store)
    assert signature.xml in data
    root = parse(data)
    header = root.find("e:edXMLEnvelope/e:edXMLHeader", NS)
    assert header is not None
    assert [local(c) for c in header] == ["MessageHeader", "TraceHeaderList", "Signature"]
    assert header[-1].tag == f"{{{XMLDSIG}}}Signature"
    others = [
        el
        for el in root.find("e:edXMLEnvelope", NS).iter()  # type: ignore[union-attr]
        if isinstance(el.tag, str) and etree.QName(el).namespace != XMLDSIG
    ]
    assert all(el.prefix == "edXML" for el in others)


def test_attachment_section_layout(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    pkg = replace(
        minimal_document,
        attachments=(
            replace(
                minimal_document.attachments[0], field_name="file1", mime_type="application/pdf"
            ),
        ),
    )
    data = package_bytes(pkg, blob_store)
    root = parse(data)
    assert [local(c) for c in root] == ["edXMLEnvelope", "AttachmentEncoded"]
    section = root[1]
    assert section.prefix is None and section.tag == f"{{{QCVN}}}AttachmentEncoded"
    (attachment,) = section
    assert attachment.prefix is None and attachment.tag == f"{{{QCVN}}}Attachment"
    names = [local(c) for c in attachment]
    assert names == [
        "ContentId",
        "AttachmentName",
        "Description",
        "ContentType",
        "FieldName",
        "MimeType",
        "ContentTransferEncoded",
    ]
    for child in attachment:
        assert etree.QName(child).namespace == QCVN
        if local(child) == "ContentTransferEncoded":
            assert child.prefix == "edXML"
        else:
            assert child.prefix is None, f"{local(child)} must be unprefixed"
    text = data.decode()
    assert f'<edXML:ContentTransferEncoded xmlns:edXML="{QCVN}">' in text
    assert "<AttachmentEncoded>" in text and "<Attachment>" in text
    assert "<ContentId>cid:a1b2c3</ContentId>" in text
    assert "<edXML:ContentId>cid:a1b2c3</edXML:ContentId>" in text  # the Reference
    encoded = attachment[-1].text
    assert encoded is not None and base64.b64decode(encoded, validate=True) == MINIMAL_PDF


def test_no_attachment_section_without_attachments(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, minimal_status: StatusPackage
) -> None:
    for pkg in (replace(minimal_document, attachments=()), minimal_status):
        data = package_bytes(pkg, blob_store)
        assert b"AttachmentEncoded" not in data
    status_root = parse(package_bytes(minimal_status, blob_store))
    assert status_root.find("e:edXMLEnvelope/e:edXMLBody", NS) is None
    assert status_root.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList", NS) is None


def test_message_header_order(blob_store: FileBlobStore, minimal_document: DocumentPackage) -> None:
    data = package_bytes(full_document(minimal_document), blob_store)
    mh = parse(data).find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS)
    assert mh is not None
    names = [local(c) for c in mh]
    collapsed = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    assert collapsed == DOCUMENT_ORDER
    assert names.count("To") == 2 and names.count("ResponseFor") == 2


def test_minimal_header_order_is_a_subsequence(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    mh = parse(package_bytes(minimal_document, blob_store)).find(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS
    )
    assert mh is not None
    names = [local(c) for c in mh]
    assert names == [n for n in DOCUMENT_ORDER if n in names]


def test_child_orders_of_nested_blocks(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    root = parse(package_bytes(full_document(minimal_document), blob_store))
    mh = root.find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS)
    assert mh is not None

    def children(path: str) -> list[str]:
        el = mh.find(path, NS) if path else mh
        assert el is not None, path
        return [local(c) for c in el]

    org = [
        "OrganId",
        "OrganizationInCharge",
        "OrganName",
        "OrganAdd",
        "Email",
        "Telephone",
        "Fax",
        "Website",
    ]
    assert children("e:From") == org
    assert children("e:To") == org
    assert children("e:Code") == ["CodeNumber", "CodeNotation"]
    assert children("e:PromulgationInfo") == ["Place", "PromulgationDate"]
    assert children("e:DocumentType") == ["Type", "TypeDetail", "TypeName"]
    assert children("e:SignerInfo") == ["Competence", "Position", "FullName"]
    assert children("e:OtherInfo") == [
        "Priority",
        "SphereOfPromulgation",
        "TyperNotation",
        "PromulgationAmount",
        "PageAmount",
        "Direction",
        "Appendixes",
        "ReplyFors",
    ]
    assert children("e:ResponseFor") == ["OrganId", "Code", "PromulgationDate", "DocumentId"]
    trace = root.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList", NS)
    assert trace is not None
    assert [local(c) for c in trace] == ["TraceHeader", "TraceHeader", "Bussiness"]
    business = trace[-1]
    assert [local(c) for c in business] == [
        "DocumentId",
        "BussinessDocType",
        "BussinessDocReason",
        "Paper",
        "BussinessDocumentInfo",
        "ReplacementInfoList",
        "StaffInfo",
    ]
    assert [local(c) for c in business[-1]] == [
        "Department",
        "Staff",
        "Email",
        "Mobile",
        "DepartmentId",
        "StaffId",
    ]
    assert b"Business" not in etree.tostring(trace)  # always the QCVN spelling
    manifest = root.find("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest", NS)
    assert manifest is not None and manifest.get("version") == "1.0"
    assert [local(c) for c in manifest[0]] == [
        "ContentId",
        "ContentType",
        "Description",
        "AttachmentName",
    ]


# -- dates, status codes -------------------------------------------------------------------------


def test_date_and_timestamp_formats(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    header = replace(
        minimal_document.header,
        due_date=dt.date(2025, 1, 9),
        response_for=(ResponseFor("x", "y", dt.date(987, 6, 5), "z"),),
    )
    trace = replace(
        minimal_document.trace, trace_headers=(TraceHeader("a", dt.datetime(2024, 2, 3, 4, 5, 6)),)
    )
    root = parse(package_bytes(replace(minimal_document, header=header, trace=trace), blob_store))

    def text(path: str) -> str:
        found = root.findtext(path, namespaces=NS)
        assert found is not None, path
        return found

    mh = "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/"
    assert text(mh + "e:PromulgationInfo/e:PromulgationDate") == "2024/03/05"
    assert text(mh + "e:DueDate") == "2025/01/09"
    assert text(mh + "e:ResponseFor/e:PromulgationDate") == "0987/06/05"
    stamp = text("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:TraceHeader/e:Timestamp")
    assert stamp == "2024/02/03 04:05:06"
    for el in root.iter(f"{{{QCVN}}}PromulgationDate", f"{{{QCVN}}}DueDate"):
        assert DATE.match(el.text or "")
    assert TIMESTAMP.match(stamp)


def test_status_layout_and_order(blob_store: FileBlobStore, minimal_status: StatusPackage) -> None:
    data = package_bytes(minimal_status, blob_store)
    root = parse(data)
    header = root.find("e:edXMLEnvelope/e:edXMLHeader", NS)
    assert header is not None and [local(c) for c in header] == ["MessageHeader"]
    mh = header[0]
    assert [local(c) for c in mh] == STATUS_ORDER
    assert [local(c) for c in mh.find("e:StaffInfo", NS)] == [
        "Department",
        "Staff",
        "Mobile",
        "Email",
    ]  # type: ignore[union-attr]
    assert mh.findtext("e:Timestamp", namespaces=NS) == "2024/03/05 09:10:11"
    assert mh.findtext("e:ResponseFor/e:PromulgationDate", namespaces=NS) == "2024/03/05"
    tags = re.findall(r"</?([A-Za-z_][\w.:-]*)", envelope_text(data))
    assert all(t.startswith("edXML:") for t in tags)


def test_status_without_response_for(
    blob_store: FileBlobStore, minimal_status: StatusPackage
) -> None:
    pkg = replace(minimal_status, header=replace(minimal_status.header, response_for=None))
    mh = parse(package_bytes(pkg, blob_store)).find(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS
    )
    assert mh is not None
    assert [local(c) for c in mh] == [n for n in STATUS_ORDER if n != "ResponseFor"]


@pytest.mark.parametrize("code", list(StatusCode), ids=lambda c: c.value)
def test_status_codes_are_two_digits(blob_store: FileBlobStore, code: StatusCode) -> None:
    pkg = StatusPackage(StatusHeader(status_code=code))
    data = package_bytes(pkg, blob_store)
    written = parse(data).findtext(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/e:StatusCode", namespaces=NS
    )
    assert written == code.value
    assert written is not None and re.fullmatch(r"\d{2}", written)


# -- required-but-empty tags ---------------------------------------------------------------------

REQUIRED_DOCUMENT_TAGS = [
    *(
        f"From/{n}"
        for n in (
            "OrganId",
            "OrganizationInCharge",
            "OrganName",
            "OrganAdd",
            "Email",
            "Telephone",
            "Fax",
            "Website",
        )
    ),
    "Code/CodeNumber",
    "Code/CodeNotation",
    "PromulgationInfo/Place",
    "PromulgationInfo/PromulgationDate",
    "DocumentType/Type",
    "DocumentType/TypeName",
    "Subject",
    "Content",
    "SignerInfo/Competence",
    "SignerInfo/Position",
    "SignerInfo/FullName",
    "DueDate",
    "OtherInfo/SphereOfPromulgation",
    "OtherInfo/TyperNotation",
    "OtherInfo/PromulgationAmount",
    "OtherInfo/PageAmount",
    "OtherInfo/Appendixes",
    "ToPlaces",
]


def _path(tags: str) -> str:
    return "/".join(f"e:{t}" for t in tags.split("/"))


@pytest.mark.parametrize("tag", REQUIRED_DOCUMENT_TAGS)
def test_required_document_tags_emitted_empty(blob_store: FileBlobStore, tag: str) -> None:
    empty = DocumentPackage(header=MessageHeader(to=(Organization(),)))
    mh = parse(package_bytes(empty, blob_store)).find(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS
    )
    assert mh is not None
    found = mh.find(_path(tag), NS)
    assert found is not None, f"<{tag}> must be written even when empty"
    assert (found.text or "") == "" and len(found) == 0


def test_required_values_with_defaults(blob_store: FileBlobStore) -> None:
    root = parse(
        package_bytes(DocumentPackage(header=MessageHeader(to=(Organization(),))), blob_store)
    )
    mh = "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/"
    assert root.findtext(mh + "e:OtherInfo/e:Priority", namespaces=NS) == "0"
    assert root.findtext(mh + "e:SteeringType", namespaces=NS) == "1"
    to = root.find(mh + "e:To", NS)
    assert to is not None and len(to) == 8 and all((c.text or "") == "" for c in to)
    trace = "e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/"
    assert root.findtext(trace + "e:BussinessDocType", namespaces=NS) == "0"
    assert root.find(trace + "e:BussinessDocReason", NS) is not None
    assert root.find(trace + "e:Paper", NS) is not None
    assert root.find("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest", NS) is not None


@pytest.mark.parametrize(
    "tag",
    [
        *(f"From/{n}" for n in ("OrganId", "OrganName", "Email", "Website")),
        "StaffInfo/Department",
        "StaffInfo/Staff",
        "StaffInfo/Mobile",
        "StaffInfo/Email",
        "Description",
        "Timestamp",
    ],
)
def test_required_status_tags_emitted_empty(blob_store: FileBlobStore, tag: str) -> None:
    mh = parse(package_bytes(StatusPackage(), blob_store)).find(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS
    )
    assert mh is not None
    found = mh.find(_path(tag), NS)
    assert found is not None and (found.text or "") == ""
    assert mh.findtext("e:StatusCode", namespaces=NS) == "01"


# -- attachment metadata escaping ----------------------------------------------------------------

ATTACHMENT_FIELDS = ["content_id", "name", "description", "content_type", "field_name", "mime_type"]
SPECIAL = "A&B <c> \"d\" 'e' ]]> &amp; Văn bản số 12/QĐ-TTg — Đồng ý & chuyển"


@pytest.mark.parametrize("field", ATTACHMENT_FIELDS)
def test_special_characters_round_trip_in_attachment_metadata(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, field: str
) -> None:
    attachment = replace(minimal_document.attachments[0], **{field: SPECIAL})
    refs = minimal_document.references
    if field == "content_id":
        refs = (replace(refs[0], content_id=SPECIAL),)
    pkg = replace(minimal_document, attachments=(attachment,), references=refs)
    data = package_bytes(pkg, blob_store)
    parse(data)  # well-formed
    again = read_package(data, blob_store)
    assert isinstance(again, DocumentPackage)
    assert getattr(again.attachments[0], field) == SPECIAL
    assert again == pkg


def test_special_characters_round_trip_in_envelope(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    header = replace(
        minimal_document.header, subject=SPECIAL, content="dòng 1\ndòng 2\r\ndòng 3\tcột"
    )
    refs = (
        replace(minimal_document.references[0], description=SPECIAL, xlink=(("href", SPECIAL),)),
    )
    pkg = replace(minimal_document, header=header, references=refs)
    again = read_package(package_bytes(pkg, blob_store), blob_store)
    assert again == pkg


@pytest.mark.parametrize("field", ["name", "description"])
def test_carriage_return_round_trips_in_attachment_metadata(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, field: str
) -> None:
    attachment = replace(minimal_document.attachments[0], **{field: "dòng 1\r\ndòng 2"})
    pkg = replace(minimal_document, attachments=(attachment,))
    again = read_package(package_bytes(pkg, blob_store), blob_store)
    assert getattr(again.attachments[0], field) == "dòng 1\r\ndòng 2"  # type: ignore[union-attr]


@pytest.mark.parametrize("field", ATTACHMENT_FIELDS)
@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff"]
)
def test_control_character_in_attachment_metadata_raises(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, field: str, char: str
) -> None:
    attachment = replace(minimal_document.attachments[0], **{field: f"tệp{char}1"})
    pkg = replace(minimal_document, attachments=(attachment,))
    with pytest.raises(ValueError):
        package_bytes(pkg, blob_store)


def test_control_character_in_envelope_raises(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    pkg = replace(minimal_document, header=replace(minimal_document.header, subject="a\x01b"))
    with pytest.raises(ValueError):
        package_bytes(pkg, blob_store)


# -- content -------------------------------------------------------------------------------------


def test_without_content_writes_empty_content_transfer_encoded(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    data = package_bytes(minimal_document, None, with_content=False)
    empty = f'<edXML:ContentTransferEncoded xmlns:edXML="{QCVN}"></edXML:ContentTransferEncoded>'
    assert empty.encode() in data
    cte = parse(data).find("e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", NS)
    assert cte is not None and not cte.text
    full = package_bytes(minimal_document, blob_store)
    assert base64.b64encode(MINIMAL_PDF) in full
    assert data.replace(b"</edXML:ContentTransferEncoded>", b"") == full.replace(
        base64.b64encode(MINIMAL_PDF) + b"</edXML:ContentTransferEncoded>", b""
    )


def test_content_needs_a_blob_store(minimal_document: DocumentPackage) -> None:
    with pytest.raises(ValueError):
        package_bytes(minimal_document, None)


def test_large_content_is_written_in_aligned_chunks(
    blob_store: FileBlobStore, minimal_document: DocumentPackage
) -> None:
    big = b"%PDF-1.4\n" + bytes(range(256)) * 8000 + b"\x00" * 1_000_001  # > one 768 KiB chunk
    ref = blob_store.put_bytes(big)
    attachment = replace(minimal_document.attachments[0], encoded=ref, file=ref)
    data = package_bytes(replace(minimal_document, attachments=(attachment,)), blob_store)
    cte = parse(data).find("e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", NS)
    assert cte is not None and cte.text is not None
    assert "=" not in cte.text.rstrip("=")  # no padding in the middle: chunks are 3-byte aligned
    assert base64.b64decode(cte.text, validate=True) == big


def test_write_package_equals_package_bytes(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, minimal_status: StatusPackage
) -> None:
    for pkg in (minimal_document, minimal_status):
        out = io.BytesIO()
        write_package(pkg, out, blob_store)
        assert out.getvalue() == package_bytes(pkg, blob_store)
        assert package_bytes(pkg, blob_store) == package_bytes(pkg, blob_store)


def test_model_round_trips(
    blob_store: FileBlobStore, minimal_document: DocumentPackage, minimal_status: StatusPackage
) -> None:
    full = full_document(minimal_document)
    refs = (replace(full.references[0], xlink=(("href", "cid:a1b2c3"), ("type", "simple"))),)
    full = replace(full, references=refs)
    for pkg in (minimal_document, full, minimal_status):
        again = read_package(package_bytes(pkg, blob_store), blob_store)
        assert again == pkg
        assert again.findings == ()


def test_writer_normalises_lenient_input(blob_store: FileBlobStore) -> None:
    """Quirky input in, reference layout out: prefix-free, Business, dd/MM/yyyy, status '1'."""
    from tests.fixtures.edxml_build import Att, document, status

    quirky = document(
        prefixed=False,
        business="<Business><BusinessDocType>0</BusinessDocType></Business>",
        promulgation_date="05/03/2024",
        attachments=[Att(ref_id="a1", att_id="&lt;a1&gt;")],
    )
    out = package_bytes(read_package(quirky, blob_store), blob_store)
    text = out.decode()
    assert "<edXML:Bussiness>" in text and "Business>" not in text
    assert "<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate>" in text
    assert (
        "<edXML:ContentId>cid:a1</edXML:ContentId>" in text
        and "<ContentId>cid:a1</ContentId>" in text
    )
    assert read_package(out, blob_store).findings == ()
    status_out = package_bytes(read_package(status("1", prefixed=False), blob_store), blob_store)
    assert b"<edXML:StatusCode>01</edXML:StatusCode>" in status_out
