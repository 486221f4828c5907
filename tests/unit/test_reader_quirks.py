"""The reader repairs every quirk of reference §7 and records what it repaired.

Each test reads a small hand-written package (``tests/fixtures/edxml_build.py``, not the shared
samples) on BOTH reader paths: the in-memory one (inputs up to ``small_input``) and the streaming
lxml target parser (``ReadOptions(small_input=0)``), and asserts the repaired model value and the
warning code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from gateway.edxml import ReadOptions, package_bytes, read_package
from gateway.edxml.enums import BusinessDocType, StatusCode
from gateway.edxml.model import (
    EMPTY_SHA256,
    BlobRef,
    Business,
    DocumentPackage,
    ResponseFor,
    StatusPackage,
)
from gateway.errors import Severity
from gateway.store.blobs import FileBlobStore
from tests.fixtures.edxml_build import (
    BUSSINESS_NEW,
    PDF_BYTES,
    QCVN,
    SIGNATURE_DSIG,
    SIGNATURE_NO_NS,
    Att,
    document,
    status,
    zip_of,
)
from tests.fixtures.packages import tmp_leftovers

IN_MEMORY = ReadOptions()
STREAMED = ReadOptions(small_input=0)
BOTH = [pytest.param(IN_MEMORY, id="in-memory"), pytest.param(STREAMED, id="streamed")]


def read(data: bytes, store: FileBlobStore, options: ReadOptions) -> DocumentPackage:
    pkg = read_package(data, store, options)
    assert isinstance(pkg, DocumentPackage)
    return pkg


def read_status(data: bytes, store: FileBlobStore, options: ReadOptions) -> StatusPackage:
    pkg = read_package(data, store, options)
    assert isinstance(pkg, StatusPackage)
    return pkg


def warning_codes(pkg: DocumentPackage | StatusPackage) -> Counter[str]:
    return Counter(f.code for f in pkg.warnings)


def error_codes(pkg: DocumentPackage | StatusPackage) -> Counter[str]:
    return Counter(f.code for f in pkg.errors)


def ref_of(data: bytes) -> BlobRef:
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


def test_fixtures_are_small_enough_for_the_in_memory_path() -> None:
    """Otherwise the 'in-memory' parametrisation would silently stream too."""
    assert len(document()) < IN_MEMORY.small_input
    assert len(status()) < IN_MEMORY.small_input


@pytest.mark.parametrize("options", BOTH)
def test_clean_package_has_no_findings(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(document(), blob_store, options)
    assert pkg.findings == ()
    assert pkg.header.subject == "V/v thử nghiệm liên thông"
    assert pkg.header.from_.organ_id == "000.00.00.G22"
    assert pkg.trace.business == Business(
        doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper="0"
    )
    (attachment,) = pkg.attachments
    assert attachment.encoded == attachment.file == ref_of(PDF_BYTES)
    assert blob_store.read_bytes(attachment.file) == PDF_BYTES


# -- §7.5 leading junk ---------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("junk", [b"1212", b"\xef\xbb\xbf1212", b"garbage\r\n"])
def test_leading_junk_is_stripped_with_a_warning(
    blob_store: FileBlobStore, options: ReadOptions, junk: bytes
) -> None:
    clean = read(document(), blob_store, options)
    pkg = read(document(junk=junk), blob_store, options)
    assert pkg == clean
    assert warning_codes(pkg) == Counter({"W.LeadingJunk": 1})
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\n  \r\n"], ids=["bom", "whitespace"])
def test_bom_or_whitespace_before_declaration_is_no_junk(
    blob_store: FileBlobStore, options: ReadOptions, prefix: bytes
) -> None:
    pkg = read(document(junk=prefix), blob_store, options)
    assert pkg == read(document(), blob_store, options)
    assert pkg.findings == ()


# -- §7.6 Bussiness / Business -------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
def test_business_spelling_is_accepted_with_a_warning(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    business = (
        "<edXML:Business><edXML:DocumentId>000.00.00.G22,2024/01/02,1/VPCP</edXML:DocumentId>"
        "<edXML:BusinessDocType>1</edXML:BusinessDocType>"
        "<edXML:BusinessDocReason>Thu hồi văn bản điện tử</edXML:BusinessDocReason>"
        "<edXML:Paper>0</edXML:Paper></edXML:Business>"
    )
    pkg = read(document(business=business), blob_store, options)
    assert pkg.trace.business == Business(
        document_id="000.00.00.G22,2024/01/02,1/VPCP",
        doc_type=BusinessDocType.REVOKE,
        reason="Thu hồi văn bản điện tử",
        paper="0",
    )
    assert warning_codes(pkg) == Counter({"W.TraceHeaderList.Bussiness": 1})
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
def test_business_children_spelling_inside_bussiness(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    business = (
        "<edXML:Bussiness><edXML:BusinessDocType>2</edXML:BusinessDocType>"
        "<edXML:BusinessDocReason>Cập nhật</edXML:BusinessDocReason></edXML:Bussiness>"
    )
    pkg = read(document(business=business), blob_store, options)
    assert pkg.trace.business.doc_type is BusinessDocType.UPDATE
    assert pkg.trace.business.reason == "Cập nhật"
    assert warning_codes(pkg) == Counter({"W.TraceHeaderList.Bussiness": 1})


@pytest.mark.parametrize("options", BOTH)
def test_missing_bussiness_means_new_document(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    pkg = read(document(business=None), blob_store, options)
    assert pkg.trace.business == Business()
    assert pkg.trace.business.doc_type is BusinessDocType.NEW
    assert len(pkg.trace.trace_headers) == 1
    assert warning_codes(pkg) == Counter({"W.TraceHeaderList.Bussiness": 1})
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
def test_correct_bussiness_spelling_gives_no_warning(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    pkg = read(document(business=BUSSINESS_NEW), blob_store, options)
    assert pkg.findings == ()


# -- §7.3 cid: -----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("ref_id", "att_id", "warned"),
    [
        ("cid:a1", "cid:a1", False),  # Java VNPT: cid: in both
        ("cid:a1", "a1", True),  # .NET SDK: cid: only in the Reference
        ("a1", "cid:a1", True),
        ("a1", "a1", False),
        ("&lt;a1&gt;", "cid:a1", True),  # MIME Content-ID form
        ("cid:&lt;a1&gt;", "a1", True),
        ("a1", "&lt;a1&gt;", True),
        ("CID:a1", "cid:a1", True),
        (" cid:a1 ", "cid:a1", False),  # surrounding whitespace is stripped as text
    ],
)
def test_content_id_variants_match(
    blob_store: FileBlobStore, options: ReadOptions, ref_id: str, att_id: str, warned: bool
) -> None:
    pkg = read(document(attachments=[Att(ref_id=ref_id, att_id=att_id)]), blob_store, options)
    assert pkg.references[0].content_id == "a1"
    assert pkg.attachments[0].content_id == "a1"
    expected = Counter({"W.Attachment.ContentId": 1}) if warned else Counter()
    assert warning_codes(pkg) == expected
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
def test_attachment_name_taken_from_matched_reference(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    data = document(attachments=[Att(ref_id="cid:x9", att_id="x9", name="Tờ trình.pdf")])
    cut = data.index(b"<AttachmentEncoded>")
    data = data[:cut] + data[cut:].replace(
        "<AttachmentName>Tờ trình.pdf</AttachmentName>".encode(), b""
    )
    pkg = read(data, blob_store, options)
    assert pkg.attachments[0].name == "Tờ trình.pdf"
    assert warning_codes(pkg) == Counter(
        {"W.Attachment.ContentId": 1, "W.Attachment.AttachmentName": 1}
    )


# -- §7.5 undeclared xlink:, edXML: out of scope --------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
def test_undeclared_xlink_prefix_is_recovered(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    attrs = ' xlink:href="cid:a1" xlink:type="simple" xlink:role="XLinkRole"'
    pkg = read(document(reference_attrs=attrs), blob_store, options)
    assert pkg.references[0].xlink == (
        ("href", "cid:a1"),
        ("role", "XLinkRole"),
        ("type", "simple"),
    )
    assert warning_codes(pkg) == Counter({"W.Namespace.xlink": 1})
    assert pkg.errors == ()
    # The writer declares xlink properly; the re-read needs no repair and keeps the attributes.
    out = package_bytes(pkg, blob_store)
    again = read(out, blob_store, options)
    assert again == pkg
    assert again.findings == ()
    assert b'xmlns:xlink="http://www.w3.org/1999/xlink"' in out


@pytest.mark.parametrize("options", BOTH)
def test_empty_undeclared_xlink_href(blob_store: FileBlobStore, options: ReadOptions) -> None:
    """VPCP's own sample: ``xlink:href=""`` and no declaration at all."""
    pkg = read(document(reference_attrs=' xlink:href=""'), blob_store, options)
    assert pkg.references[0].xlink == (("href", ""),)
    assert warning_codes(pkg) == Counter({"W.Namespace.xlink": 1})


@pytest.mark.parametrize("options", BOTH)
def test_declared_xlink_prefix_gives_no_warning(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    attrs = ' xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:a1"'
    pkg = read(document(reference_attrs=attrs), blob_store, options)
    assert pkg.references[0].xlink == (("href", "cid:a1"),)
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
def test_edxml_prefix_after_envelope_scope(blob_store: FileBlobStore, options: ReadOptions) -> None:
    """``<edXML:AttachmentEncoded>`` after the envelope that declared ``edXML`` closed."""
    data = document(attachment_section_tag="edXML:AttachmentEncoded")
    pkg = read(data, blob_store, options)
    assert pkg == read(document(), blob_store, options)
    assert pkg.attachments[0].file == ref_of(PDF_BYTES)
    assert warning_codes(pkg) == Counter({"W.Namespace.edXML": 1})
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
def test_edxml_prefix_never_declared(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(document(envelope_open="<edXML:edXMLEnvelope>"), blob_store, options)
    assert pkg == read(document(), blob_store, options)
    assert warning_codes(pkg) == Counter({"W.Namespace.edXML": 1})

    st = read_status(status(envelope_open="<edXML:edXMLEnvelope>"), blob_store, options)
    assert st == read_status(status(), blob_store, options)
    assert warning_codes(st) == Counter({"W.Namespace.edXML": 1})


# -- §7.9 dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("text", "expected", "warned"),
    [
        ("2024/03/05", dt.date(2024, 3, 5), False),
        ("05/03/2024", dt.date(2024, 3, 5), True),  # dd/MM/yyyy (legacy dialect)
        ("5/3/2024", dt.date(2024, 3, 5), True),
        ("2024-03-05", dt.date(2024, 3, 5), True),  # ISO
        ("2024/3/5", dt.date(2024, 3, 5), True),
        ("2024/03/05 00:00:00", dt.date(2024, 3, 5), True),
    ],
)
def test_dates_in_other_forms_are_read(
    blob_store: FileBlobStore, options: ReadOptions, text: str, expected: dt.date, warned: bool
) -> None:
    pkg = read(document(promulgation_date=text, due_date=text), blob_store, options)
    assert pkg.header.promulgation_info.promulgation_date == expected
    assert pkg.header.due_date == expected
    want = (
        Counter(
            {"W.MessageHeader.PromulgationInfo.PromulgationDate": 1, "W.MessageHeader.DueDate": 1}
        )
        if warned
        else Counter()
    )
    assert warning_codes(pkg) == want
    assert pkg.errors == ()


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("text", "expected", "warned"),
    [
        ("2024/03/05 08:09:10", dt.datetime(2024, 3, 5, 8, 9, 10), False),
        ("05/03/2024 08:09:10", dt.datetime(2024, 3, 5, 8, 9, 10), True),  # legacy eDoc SOAP
        ("2024-03-05T08:09:10", dt.datetime(2024, 3, 5, 8, 9, 10), True),  # ISO 8601
        ("2024-03-05T08:09:10.250", dt.datetime(2024, 3, 5, 8, 9, 10), True),
        ("2024-03-05 08:09", dt.datetime(2024, 3, 5, 8, 9), True),
        ("2024/03/05", dt.datetime(2024, 3, 5), True),  # a bare date is midnight
    ],
)
def test_timestamps_in_other_forms_are_read(
    blob_store: FileBlobStore, options: ReadOptions, text: str, expected: dt.datetime, warned: bool
) -> None:
    pkg = read(document(trace_timestamp=text), blob_store, options)
    assert pkg.trace.trace_headers[0].timestamp == expected
    want = Counter({"W.TraceHeaderList.TraceHeader.Timestamp": 1}) if warned else Counter()
    assert warning_codes(pkg) == want

    st = read_status(status(timestamp=text), blob_store, options)
    assert st.header.timestamp == expected
    assert warning_codes(st) == (Counter({"W.MessageHeader.Timestamp": 1}) if warned else Counter())


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("text", ["2024/13/45", "2023/02/29", "hôm qua", "2024/03"])
def test_impossible_date_is_an_error(
    blob_store: FileBlobStore, options: ReadOptions, text: str
) -> None:
    pkg = read(document(promulgation_date=text), blob_store, options)
    assert pkg.header.promulgation_info.promulgation_date is None
    assert error_codes(pkg) == Counter({"M.MessageHeader.PromulgationInfo.PromulgationDate": 1})
    assert pkg.errors[0].path.endswith("/PromulgationInfo/PromulgationDate")


# -- §7.10 status codes --------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", StatusCode.RECEIVED), ("3", StatusCode.ACCEPTED), ("6", StatusCode.FINISHED)],
)
def test_one_digit_status_code_is_padded_with_warning(
    blob_store: FileBlobStore, options: ReadOptions, raw: str, expected: StatusCode
) -> None:
    pkg = read_status(status(raw), blob_store, options)
    assert pkg.header.status_code is expected
    assert warning_codes(pkg) == Counter({"W.MessageHeader.StatusCode": 1})
    assert pkg.errors == ()
    assert b"<edXML:StatusCode>%s</edXML:StatusCode>" % expected.value.encode() in package_bytes(
        pkg, blob_store
    )


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("code", list(StatusCode), ids=lambda c: c.value)
def test_every_two_digit_status_code_reads_cleanly(
    blob_store: FileBlobStore, options: ReadOptions, code: StatusCode
) -> None:
    pkg = read_status(status(code.value), blob_store, options)
    assert pkg.header.status_code is code
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("raw", ["07", "999", "14", "abc"])
def test_unknown_status_code_is_a_range_error(
    blob_store: FileBlobStore, options: ReadOptions, raw: str
) -> None:
    pkg = read_status(status(raw), blob_store, options)
    assert error_codes(pkg) == Counter({"R.MessageHeader.StatusCode": 1})
    (finding,) = pkg.errors
    assert finding.severity is Severity.ERROR
    assert repr(raw) in finding.message
    assert finding.path.endswith("/MessageHeader/StatusCode")


@pytest.mark.parametrize("options", BOTH)
def test_missing_status_code_is_a_missing_value_error(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    pkg = read_status(status(""), blob_store, options)
    assert error_codes(pkg) == Counter({"N.MessageHeader.StatusCode": 1})


# -- §7.4 zip and ContentType lies ---------------------------------------------------------------

INNER_NAME = "5c7082fe-4ac3-4b46-961e-e2439bfae484.PDF"


@pytest.mark.parametrize("options", BOTH)
def test_zip_labelled_pdf_is_unwrapped_and_flagged(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    wrapped = zip_of({INNER_NAME: PDF_BYTES})
    att = Att(content=wrapped, content_type="application/pdf", name="Quyết định 12.pdf")
    pkg = read(document(attachments=[att]), blob_store, options)
    (a,) = pkg.attachments
    assert a.encoded == ref_of(wrapped)
    assert a.file == ref_of(PDF_BYTES)
    assert a.file_kind == "pdf"
    assert a.unwrapped_from_zip is True
    assert a.name == "Quyết định 12.pdf"  # from AttachmentName, not the UUID entry name
    assert a.content_type == "application/pdf"  # declared value is kept as declared
    assert blob_store.read_bytes(a.file) == PDF_BYTES
    assert blob_store.read_bytes(a.encoded) == wrapped
    assert warning_codes(pkg) == Counter({"W.Attachment.ContentType": 1, "W.Attachment.Zip": 1})
    zip_warning = next(f for f in pkg.warnings if f.code == "W.Attachment.Zip")
    assert INNER_NAME in zip_warning.message
    assert pkg.errors == ()
    assert tmp_leftovers(blob_store) == []


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("compression", ["deflated", "stored"])
def test_single_entry_zip_is_unwrapped(
    blob_store: FileBlobStore, options: ReadOptions, compression: str
) -> None:
    import zipfile

    method = zipfile.ZIP_DEFLATED if compression == "deflated" else zipfile.ZIP_STORED
    inner = b"%PDF-1.7\n" + bytes(range(256)) * 40
    wrapped = zip_of({"3f2a.pdf": inner}, compression=method)
    att = Att(content=wrapped, content_type="application/zip", name="Báo cáo.pdf")
    pkg = read(document(attachments=[att]), blob_store, options)
    (a,) = pkg.attachments
    assert (a.encoded, a.file) == (ref_of(wrapped), ref_of(inner))
    assert (a.file_kind, a.unwrapped_from_zip, a.name) == ("pdf", True, "Báo cáo.pdf")
    assert warning_codes(pkg) == Counter({"W.Attachment.Zip": 1})


@pytest.mark.parametrize("options", BOTH)
def test_multi_entry_zip_is_not_unwrapped(blob_store: FileBlobStore, options: ReadOptions) -> None:
    wrapped = zip_of({"a.pdf": PDF_BYTES, "b.txt": "ghi chú".encode()})
    att = Att(content=wrapped, content_type="application/zip", name="Hồ sơ.zip")
    pkg = read(document(attachments=[att]), blob_store, options)
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(wrapped)
    assert (a.file_kind, a.unwrapped_from_zip) == ("zip", False)
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        (
            "Tờ trình.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("Tờ trình.docx", "application/zip"),
        ("Bảng lương.XLSX", "application/zip"),
        ("Hồ sơ.zip", "application/zip"),
    ],
)
def test_zip_based_formats_are_not_unwrapped(
    blob_store: FileBlobStore, options: ReadOptions, name: str, content_type: str
) -> None:
    container = zip_of({"[Content_Types].xml": b"<Types/>"})  # one entry, still the real file
    pkg = read(
        document(attachments=[Att(content=container, name=name, content_type=content_type)]),
        blob_store,
        options,
    )
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(container)
    assert (a.file_kind, a.unwrapped_from_zip, a.name) == ("zip", False, name)
    assert "W.Attachment.Zip" not in warning_codes(pkg)


@pytest.mark.parametrize("options", BOTH)
def test_unwrapping_can_be_switched_off(blob_store: FileBlobStore, options: ReadOptions) -> None:
    from dataclasses import replace

    wrapped = zip_of({INNER_NAME: PDF_BYTES})
    data = document(attachments=[Att(content=wrapped, content_type="application/zip")])
    pkg = read(data, blob_store, replace(options, unwrap_single_entry_zips=False))
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(wrapped)
    assert (a.file_kind, a.unwrapped_from_zip) == ("zip", False)
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
def test_raw_pdf_is_kept(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(document(attachments=[Att(content=PDF_BYTES)]), blob_store, options)
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(PDF_BYTES)
    assert (a.file_kind, a.unwrapped_from_zip) == ("pdf", False)
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
def test_pdf_labelled_zip_is_flagged_not_unwrapped(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    pkg = read(
        document(attachments=[Att(content=PDF_BYTES, content_type="application/zip")]),
        blob_store,
        options,
    )
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(PDF_BYTES)
    assert a.file_kind == "pdf"
    assert warning_codes(pkg) == Counter({"W.Attachment.ContentType": 1})


@pytest.mark.parametrize("options", BOTH)
def test_several_attachments_each_get_their_own_blobs(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    contents = [
        PDF_BYTES,
        zip_of({"x.pdf": b"%PDF-1.3 khac"}),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 doc",
    ]
    atts = [
        Att(content=c, ref_id=f"cid:{i}", att_id=f"cid:{i}", name=f"tệp {i}.pdf")
        for i, c in enumerate(contents)
    ]
    pkg = read(document(attachments=atts), blob_store, options)
    assert [a.content_id for a in pkg.attachments] == ["0", "1", "2"]
    assert [a.encoded for a in pkg.attachments] == [ref_of(c) for c in contents]
    assert [a.file_kind for a in pkg.attachments] == ["pdf", "pdf", "ole"]
    assert pkg.attachments[1].file == ref_of(b"%PDF-1.3 khac")


# -- base64 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
def test_invalid_base64_characters_are_an_error(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    good = base64.b64encode(PDF_BYTES).decode()
    damaged = good[:8] + "$!" + good[8:20] + "é" + good[20:]
    pkg = read(document(attachments=[Att(b64=damaged)]), blob_store, options)
    assert error_codes(pkg) == Counter({"M.Attachment.ContentTransferEncoded": 1})
    finding = pkg.errors[0]
    assert "3 character" in finding.message
    assert finding.path.endswith("/Attachment/ContentTransferEncoded")
    # The damage is reported; the rest still decodes (RFC 2045 §6.8 drops foreign characters).
    assert pkg.attachments[0].encoded == ref_of(PDF_BYTES)


@pytest.mark.parametrize("options", BOTH)
def test_jmeter_placeholder_is_not_base64(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(
        document(attachments=[Att(b64="${__StringFromFile(test.txt,,,)}")]), blob_store, options
    )
    assert error_codes(pkg) == Counter({"M.Attachment.ContentTransferEncoded": 2})
    messages = " | ".join(f.message for f in pkg.errors)
    assert "outside the base64 alphabet" in messages  # $ { _ ( . , ) }
    assert "full group" in messages  # 21 letters left: one dangling character


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\n\t  "])
def test_base64_with_line_breaks_decodes(
    blob_store: FileBlobStore, options: ReadOptions, newline: str
) -> None:
    payload = PDF_BYTES * 7 + bytes(range(256))
    text = base64.b64encode(payload).decode()
    wrapped = newline + newline.join(text[i : i + 76] for i in range(0, len(text), 76)) + newline
    pkg = read(document(attachments=[Att(b64=wrapped)]), blob_store, options)
    (a,) = pkg.attachments
    assert a.encoded == a.file == ref_of(payload)
    assert blob_store.read_bytes(a.file) == payload
    assert pkg.findings == ()


@pytest.mark.parametrize("options", BOTH)
def test_empty_content_is_an_empty_blob(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(document(attachments=[Att(b64="")]), blob_store, options)
    (a,) = pkg.attachments
    assert a.encoded == a.file == BlobRef(EMPTY_SHA256, 0)
    assert a.file_kind == "empty"


# -- structure repairs ---------------------------------------------------------------------------

EMPTY_RESPONSE_FOR = (
    "<edXML:ResponseFor><edXML:OrganId></edXML:OrganId><edXML:Code/>"
    "<edXML:PromulgationDate></edXML:PromulgationDate><edXML:DocumentId> </edXML:DocumentId>"
    "</edXML:ResponseFor>"
)
FULL_RESPONSE_FOR = (
    "<edXML:ResponseFor><edXML:OrganId>000.00.00.H41</edXML:OrganId><edXML:Code>7/UBND</edXML:Code>"
    "<edXML:PromulgationDate>2024/01/02</edXML:PromulgationDate>"
    "<edXML:DocumentId>000.00.00.H41,2024/01/02,7/UBND</edXML:DocumentId></edXML:ResponseFor>"
)


@pytest.mark.parametrize("options", BOTH)
def test_empty_response_for_is_dropped(blob_store: FileBlobStore, options: ReadOptions) -> None:
    pkg = read(document(response_for=EMPTY_RESPONSE_FOR + FULL_RESPONSE_FOR), blob_store, options)
    assert pkg.header.response_for == (
        ResponseFor(
            "000.00.00.H41", "7/UBND", dt.date(2024, 1, 2), "000.00.00.H41,2024/01/02,7/UBND"
        ),
    )
    assert warning_codes(pkg) == Counter({"W.MessageHeader.ResponseFor": 1})


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ("<edXML:CustomField>bí mật</edXML:CustomField>", "W.MessageHeader.CustomField"),
        ('<Foo xmlns="urn:example:other">x</Foo>', "W.MessageHeader.Foo"),
    ],
)
def test_unknown_element_is_dropped_with_warning(
    blob_store: FileBlobStore, options: ReadOptions, extra: str, code: str
) -> None:
    pkg = read(document(header_extra=extra), blob_store, options)
    assert pkg == read(document(), blob_store, options)
    assert warning_codes(pkg) == Counter({code: 1})
    out = package_bytes(pkg, blob_store)
    assert b"CustomField" not in out and b"Foo" not in out


@pytest.mark.parametrize("options", BOTH)
def test_unknown_elements_elsewhere(blob_store: FileBlobStore, options: ReadOptions) -> None:
    data = (
        document()
        .replace(b"</edXML:edXMLEnvelope>", b"</edXML:edXMLEnvelope><Extra>x</Extra>")
        .replace(b"<ContentId>", b"<Checksum>abc</Checksum><ContentId>")
    )
    pkg = read(data, blob_store, options)
    assert pkg == read(document(), blob_store, options)
    assert warning_codes(pkg) == Counter({"W.Extra": 1, "W.Attachment.Checksum": 1})


# -- Signature kept byte-for-byte ----------------------------------------------------------------


def _expected_signature(data: bytes) -> bytes:
    """Exclusive C14N of the source's Signature element, computed independently with lxml."""
    root = etree.fromstring(data)
    (sig,) = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("}Signature")]
    return etree.tostring(sig, method="c14n", exclusive=True)


def _signature_cases() -> list[object]:
    cases: list[object] = []
    for sig_name, sig in (("no-namespace", SIGNATURE_NO_NS), ("xmldsig", SIGNATURE_DSIG)):
        for prefixed in (True, False):
            for options, path_id in ((IN_MEMORY, "in-memory"), (STREAMED, "streamed")):
                cases.append(
                    pytest.param(
                        sig,
                        prefixed,
                        options,
                        id=f"{sig_name}-{'prefixed' if prefixed else 'prefix-free'}-{path_id}",
                    )
                )
    return cases


@pytest.mark.parametrize(("signature", "prefixed", "options"), _signature_cases())
def test_signature_kept_byte_for_byte(
    blob_store: FileBlobStore, signature: str, prefixed: bool, options: ReadOptions
) -> None:
    data = document(signature=signature, prefixed=prefixed)
    expected = _expected_signature(data)
    pkg = read(data, blob_store, options)
    assert pkg.signature is not None
    assert pkg.signature.xml == expected
    assert pkg.signature.local_name == "Signature"
    out = package_bytes(pkg, blob_store)
    assert expected in out
    again = read(out, blob_store, options)
    assert again.signature == pkg.signature
    assert again == pkg
    assert package_bytes(again, blob_store) == out


@pytest.mark.parametrize(("signature", "prefixed", "options"), _signature_cases())
def test_status_signature_kept_byte_for_byte(
    blob_store: FileBlobStore, signature: str, prefixed: bool, options: ReadOptions
) -> None:
    data = status(signature=signature, prefixed=prefixed)
    expected = _expected_signature(data)
    pkg = read_status(data, blob_store, options)
    assert pkg.signature is not None and pkg.signature.xml == expected
    out = package_bytes(pkg, blob_store)
    assert expected in out
    assert read_status(out, blob_store, options) == pkg


@pytest.mark.parametrize("options", BOTH)
def test_empty_digital_signature_is_kept(blob_store: FileBlobStore, options: ReadOptions) -> None:
    """The .NET SDK writes an empty ``<edXML:DigitalSignature/>``."""
    pkg = read(document(signature="<edXML:DigitalSignature/>"), blob_store, options)
    assert pkg.signature is not None
    assert pkg.signature.local_name == "DigitalSignature"
    assert pkg.findings == ()
    assert read(package_bytes(pkg, blob_store), blob_store, options) == pkg


# -- §7.1 prefix-free documents ------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
def test_prefix_free_document_reads_like_prefixed(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    plain = read(document(prefixed=False), blob_store, options)
    prefixed = read(document(prefixed=True), blob_store, options)
    assert plain == prefixed
    assert plain.findings == prefixed.findings == ()
    assert plain.header.subject == "V/v thử nghiệm liên thông"
    assert plain.attachments[0].file == ref_of(PDF_BYTES)


@pytest.mark.parametrize("options", BOTH)
def test_prefix_free_status_reads_like_prefixed(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    plain = read_status(status("05", prefixed=False), blob_store, options)
    prefixed = read_status(status("05"), blob_store, options)
    assert plain == prefixed
    assert plain.header.status_code is StatusCode.PROCESSING
    assert plain.findings == ()


@pytest.mark.parametrize("options", BOTH)
def test_prefix_free_quirks_repaired_the_same(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    kwargs = {
        "business": None,
        "promulgation_date": "05/03/2024",
        "attachments": [Att(content=zip_of({INNER_NAME: PDF_BYTES}), ref_id="cid:a1", att_id="a1")],
    }
    plain = read(document(prefixed=False, **kwargs), blob_store, options)  # type: ignore[arg-type]
    prefixed = read(document(**kwargs), blob_store, options)  # type: ignore[arg-type]
    assert plain == prefixed
    assert warning_codes(plain) == warning_codes(prefixed)


# -- both paths agree ----------------------------------------------------------------------------

QUIRKY = {
    "junk": document(junk=b"1212"),
    "business": document(business=BUSSINESS_NEW.replace("Bussiness", "Business")),
    "no-bussiness": document(business=None),
    "cid": document(attachments=[Att(ref_id="cid:a1", att_id="a1")]),
    "xlink": document(reference_attrs=' xlink:href=""'),
    "edxml-scope": document(attachment_section_tag="edXML:AttachmentEncoded"),
    "dates": document(promulgation_date="05/03/2024", trace_timestamp="2024-03-05T08:09:10"),
    "zip": document(attachments=[Att(content=zip_of({INNER_NAME: PDF_BYTES}))]),
    "bad-base64": document(attachments=[Att(b64="JVBER$i0x")]),
    "empty-response-for": document(response_for=EMPTY_RESPONSE_FOR),
    "unknown": document(header_extra="<edXML:X>1</edXML:X>"),
    "prefix-free": document(prefixed=False),
    "status-1": status("1"),
    "status-999": status("999"),
    "signature-dsig": document(signature=SIGNATURE_DSIG),
    "signature-no-ns": document(signature=SIGNATURE_NO_NS),
}


@pytest.mark.parametrize("name", list(QUIRKY))
def test_both_paths_give_the_same_model_and_findings(blob_store: FileBlobStore, name: str) -> None:
    data = QUIRKY[name]
    in_memory = read_package(data, blob_store, IN_MEMORY)
    streamed = read_package(data, blob_store, STREAMED)
    assert [(f.code, f.path, f.severity) for f in in_memory.findings] == [
        (f.code, f.path, f.severity) for f in streamed.findings
    ]
    assert in_memory == streamed
    assert tmp_leftovers(blob_store) == []


def test_namespace_is_what_counts_not_the_prefix(blob_store: FileBlobStore) -> None:
    """Any prefix bound to the QCVN namespace reads the same (§7.1: parse namespace-aware)."""
    data = document().replace(b"edXML:", b"q:").replace(b"xmlns:edXML=", b"xmlns:q=")
    for options in (IN_MEMORY, STREAMED):
        assert read(data, blob_store, options) == read(document(), blob_store, options)
    assert QCVN.encode() in data


# -- damaged zip wrappers ------------------------------------------------------------------------


def _damaged_zip(kind: str) -> bytes:
    import struct

    inner = b"%PDF-1.4\n" + bytes(range(256)) * 4
    if kind == "bad-crc":
        data = bytearray(zip_of({"x.pdf": inner}, compression=zipfile.ZIP_STORED))
        data[data.index(b"%PDF") + 20] ^= 0xFF
    elif kind == "garbled-deflate":
        data = bytearray(zip_of({"x.pdf": inner}))
        start = data.index(b"x.pdf") + len(b"x.pdf") + 10
        data[start : start + 8] = b"\xff" * 8
    else:  # "bad-local-header-offset"
        data = bytearray(zip_of({"x.pdf": inner}))
        central = data.index(b"PK\x01\x02")
        data[central + 42 : central + 46] = struct.pack("<I", 0xFFFFFF00)
    return bytes(data)


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("kind", ["bad-crc", "garbled-deflate", "bad-local-header-offset"])
def test_damaged_zip_wrapper_is_reported_not_raised(
    blob_store: FileBlobStore, options: ReadOptions, kind: str
) -> None:
    from gateway.errors import GatewayError

    damaged = _damaged_zip(kind)
    data = document(attachments=[Att(content=damaged, content_type="application/zip")])
    try:
        pkg = read(data, blob_store, options)
    except GatewayError:
        pass  # refusing the package with a gateway error is acceptable too
    else:
        (a,) = pkg.attachments
        assert a.unwrapped_from_zip is False
        assert a.encoded == a.file == ref_of(damaged)
        assert pkg.errors, "a damaged archive must be reported"
    assert tmp_leftovers(blob_store) == []


# -- input sources -------------------------------------------------------------------------------


def _pipe_reader(data: bytes, *, buffered: bool):  # type: ignore[no-untyped-def]
    """A real OS pipe fed by a thread in 4 KiB writes; reads return what has arrived so far."""
    import os
    import threading

    read_fd, write_fd = os.pipe()

    def feed() -> None:
        try:
            with open(write_fd, "wb", buffering=0) as sink:
                for i in range(0, len(data), 4096):
                    sink.write(data[i : i + 4096])
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return open(read_fd, "rb", buffering=-1 if buffered else 0), thread


BIG_ENOUGH = PDF_BYTES + bytes(range(256)) * 600  # the package exceeds one pipe buffer (64 KiB)


@pytest.mark.parametrize(
    "buffered",
    [
        pytest.param(True, id="buffered-pipe"),
        pytest.param(False, id="raw-pipe"),
    ],
)
def test_package_from_a_pipe(blob_store: FileBlobStore, buffered: bool) -> None:
    data = document(attachments=[Att(content=BIG_ENOUGH)])
    assert 65536 < len(data) < IN_MEMORY.small_input
    stream, thread = _pipe_reader(data, buffered=buffered)
    try:
        pkg = read_package(stream, blob_store)
    finally:
        stream.close()
        thread.join(timeout=5)
    assert isinstance(pkg, DocumentPackage)
    assert pkg.attachments[0].encoded == ref_of(BIG_ENOUGH)


@pytest.mark.parametrize("options", BOTH)
def test_path_bytes_and_stream_sources_agree(
    blob_store: FileBlobStore, options: ReadOptions, tmp_path: Path
) -> None:
    import io

    data = document(junk=b"1212")
    path = tmp_path / "gói tin.edxml"
    path.write_bytes(data)
    from_bytes = read_package(data, blob_store, options)
    assert read_package(path, blob_store, options) == from_bytes
    assert read_package(str(path), blob_store, options) == from_bytes
    assert read_package(io.BytesIO(data), blob_store, options) == from_bytes
    assert read_package(bytearray(data), blob_store, options) == from_bytes
    assert read_package(memoryview(data), blob_store, options) == from_bytes


# -- markup that only looks like a DOCTYPE -------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(IN_MEMORY, id="in-memory"),
        pytest.param(STREAMED, id="streamed"),
    ],
)
@pytest.mark.parametrize("where", ["comment", "cdata"])
def test_doctype_text_in_comment_or_cdata_is_not_a_doctype(
    blob_store: FileBlobStore, options: ReadOptions, where: str
) -> None:
    if where == "comment":
        data = document(header_extra="<!-- mẫu HTML: <!DOCTYPE html> -->")
        expected_content = "Nội dung"
    else:
        data = document().replace(
            b"<edXML:Content>N", b"<edXML:Content><![CDATA[<!DOCTYPE x> & ]]>N"
        )
        expected_content = "<!DOCTYPE x> & Nội dung"
    pkg = read(data, blob_store, options)
    assert pkg.header.content == expected_content
    assert pkg.findings == ()
