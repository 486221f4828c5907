"""Property: any valid model survives write → read unchanged, on both reader paths.

Strategies build random DocumentPackage / StatusPackage models within what the wire format can
carry: text is Vietnamese-heavy Unicode without XML-invalid characters, stripped (the reader
strips element text), repeated text items non-empty (the reader drops empty ones), attachments
hold random non-zip bytes stored in a real blob store (``file`` = ``encoded``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.edxml import ReadOptions, package_bytes, read_package
from gateway.edxml.attachments import sniff_kind
from gateway.edxml.enums import (
    BusinessDocType,
    Priority,
    ReceiverType,
    StatusCode,
    SteeringType,
)
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
from gateway.store.blobs import FileBlobStore

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
PATHS = [
    pytest.param(ReadOptions(), id="in-memory"),
    pytest.param(ReadOptions(small_input=0), id="streamed"),
]
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY"
    "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
    "ÀÁẢÃẠẰẮẲẴẶẦẤẨẪẬÈÉẺẼẸỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌỒỐỔỖỘỜỚỞỠỢÙÚỦŨỤỪỨỬỮỰỲÝỶỸỴ"
    "0123456789 .,;:-/()&<>\"'#%@!?[]{}*+=_|~\n\t"
)
_xml_char = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc", "Co"),
    exclude_characters="\ufffe\uffff",
)
# One alphabet per string (not per character): much faster to generate.
text = st.one_of(
    st.text(alphabet=VIETNAMESE, max_size=40),
    st.text(alphabet=_xml_char, max_size=20),
).map(str.strip)
nonempty = text.filter(bool)
token = st.text(alphabet="0123456789.ABCDEFGHXYZabcxyz-_@", min_size=1, max_size=24)
dates = st.none() | st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
timestamps = st.none() | st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31)
).map(lambda d: d.replace(microsecond=0))
counts = st.none() | st.integers(min_value=0, max_value=10**9)

organizations = st.builds(
    Organization,
    organ_id=text,
    organization_in_charge=text,
    organ_name=text,
    organ_add=text,
    email=text,
    telephone=text,
    fax=text,
    website=text,
)
response_fors = st.builds(
    ResponseFor, organ_id=text, code=text, promulgation_date=dates, document_id=text
).filter(lambda rf: rf != ResponseFor())  # an all-empty ResponseFor is dropped on reading
staff_infos = st.builds(
    StaffInfo,
    department=text,
    staff=text,
    mobile=text,
    email=text,
    department_id=text,
    staff_id=text,
)
opaque = st.sampled_from(
    [
        None,
        OpaqueXml(b'<edXML:ReplyFors xmlns:edXML="%s"></edXML:ReplyFors>' % QCVN.encode()),
        OpaqueXml(
            b'<edXML:ReferenceCodes xmlns:edXML="%s"><edXML:ReferenceCode>A-1</edXML:ReferenceCode>'
            b"</edXML:ReferenceCodes>" % QCVN.encode()
        ),
    ]
)
signatures = st.sampled_from(
    [
        None,
        OpaqueXml(
            b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo></SignedInfo>'
            b"<SignatureValue>AAAA</SignatureValue></Signature>"
        ),
        OpaqueXml(
            b'<edXML:DigitalSignature xmlns:edXML="%s"></edXML:DigitalSignature>' % QCVN.encode()
        ),
    ]
)


@st.composite
def other_infos(draw: st.DrawFn) -> OtherInfo:
    return OtherInfo(
        priority=draw(st.sampled_from(Priority)),
        sphere_of_promulgation=draw(text),
        typer_notation=draw(text),
        promulgation_amount=draw(counts),
        page_amount=draw(counts),
        direction=draw(st.none() | st.booleans()),
        appendixes=tuple(draw(st.lists(nonempty, max_size=3))),
        reply_fors=draw(opaque.filter(lambda o: o is None or b"ReplyFors" in o.xml)),
        reference_codes=draw(opaque.filter(lambda o: o is None or b"ReferenceCodes" in o.xml)),
    )


@st.composite
def message_headers(draw: st.DrawFn) -> MessageHeader:
    return MessageHeader(
        from_=draw(organizations),
        to=tuple(draw(st.lists(organizations, max_size=3))),
        document_id=draw(text),
        code=Code(draw(text), draw(text)),
        promulgation_info=PromulgationInfo(draw(text), draw(dates)),
        document_type=DocumentType(draw(text), draw(text), draw(text)),
        subject=draw(text),
        content=draw(text),
        signer_info=SignerInfo(draw(text), draw(text), draw(text)),
        due_date=draw(dates),
        other_info=draw(other_infos()),
        response_for=tuple(draw(st.lists(response_fors, max_size=2))),
        steering_type=draw(st.sampled_from(SteeringType)),
        response_for_task=tuple(draw(st.lists(nonempty, max_size=3))),
        application_type=draw(text),
        to_places=tuple(draw(st.lists(nonempty, max_size=3))),
    )


@st.composite
def businesses(draw: st.DrawFn) -> Business:
    info = None
    if draw(st.booleans()):
        info = BusinessDocumentInfo(
            document_info=draw(st.sampled_from(["", "0", "1"])),
            document_receiver=draw(st.sampled_from(["", "0", "1"])),
            receivers=tuple(
                draw(
                    st.lists(
                        st.builds(
                            Receiver, organ_id=text, receiver_type=st.sampled_from(ReceiverType)
                        ),
                        max_size=3,
                    )
                )
            ),
        )
    replacements = draw(
        st.lists(
            st.builds(
                ReplacementInfo,
                document_id=text,
                organ_ids=st.lists(nonempty, max_size=3).map(tuple),
            ),
            max_size=2,
        )
    )
    return Business(
        document_id=draw(text),
        doc_type=draw(st.sampled_from(BusinessDocType)),
        reason=draw(text),
        paper=draw(st.sampled_from(["", "0", "1"])),
        document_info=info,
        replacements=tuple(replacements),
        staff_info=draw(st.none() | staff_infos),
    )


# Attachment bytes: anything but a zip (the reader would unwrap single-entry archives).
contents = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=300).map(lambda b: b"%PDF-1.4\n" + b),
    st.binary(max_size=100).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),
    st.binary(max_size=100).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
).filter(lambda b: sniff_kind(b[:16]) != "zip")


@st.composite
def attachment_sets(
    draw: st.DrawFn, store: FileBlobStore
) -> tuple[tuple[ManifestReference, ...], tuple[Attachment, ...]]:
    n = draw(st.integers(min_value=0, max_value=3))
    ids = draw(st.lists(token, min_size=n, max_size=n, unique=True))
    attachments = []
    for content_id in ids:
        data = draw(contents)
        ref = store.put_bytes(data)
        attachments.append(
            Attachment(
                content_id=content_id,
                name=draw(nonempty),
                description=draw(text),
                content_type=draw(
                    st.sampled_from(["application/pdf", "application/zip", "application/doc", ""])
                    | text
                ),
                field_name=draw(text),
                mime_type=draw(text),
                encoded=ref,
                file=ref,
                file_kind=sniff_kind(data[:16]),
                unwrapped_from_zip=False,
            )
        )
    xlink_values = st.lists(
        st.tuples(st.sampled_from(["href", "role", "title", "type"]), text),
        max_size=3,
        unique_by=lambda kv: kv[0],
    ).map(lambda kvs: tuple(sorted(kvs)))
    references = [
        ManifestReference(
            content_id=a.content_id,
            content_type=draw(text),
            description=draw(text),
            attachment_name=draw(text),
            xlink=draw(xlink_values),
        )
        for a in attachments
    ]
    if draw(st.booleans()):  # a Reference without an Attachment, or the other way round
        references.append(ManifestReference(content_id=draw(token), attachment_name=draw(text)))
    return tuple(references), tuple(attachments)


@st.composite
def document_packages(draw: st.DrawFn, store: FileBlobStore) -> DocumentPackage:
    references, attachments = draw(attachment_sets(store))
    return DocumentPackage(
        header=draw(message_headers()),
        trace=TraceHeaderList(
            tuple(
                draw(
                    st.lists(
                        st.builds(TraceHeader, organ_id=text, timestamp=timestamps), max_size=3
                    )
                )
            ),
            draw(businesses()),
        ),
        signature=draw(signatures),
        manifest_version=draw(st.sampled_from(["1.0", "2.0"])),
        references=references,
        attachments=attachments,
    )


status_packages = st.builds(
    StatusPackage,
    header=st.builds(
        StatusHeader,
        from_=organizations,
        response_for=st.none() | response_fors,
        staff_info=staff_infos,
        status_code=st.sampled_from(StatusCode),
        description=text,
        timestamp=timestamps,
    ),
    signature=signatures,
)


@pytest.fixture(scope="module")
def store() -> Iterator[FileBlobStore]:
    with tempfile.TemporaryDirectory(prefix="roundtrip-") as root:
        yield FileBlobStore(Path(root) / "blobs", durable=False)


def _check(
    pkg: DocumentPackage | StatusPackage, store: FileBlobStore, options: ReadOptions
) -> None:
    data = package_bytes(pkg, store)
    assert package_bytes(pkg, store) == data, "writing must be deterministic"
    again = read_package(data, store, options)
    assert again == pkg
    assert again.errors == ()
    assert package_bytes(again, store) == data


@pytest.mark.slow
@pytest.mark.parametrize("options", PATHS)
@SETTINGS
@given(data=st.data())
def test_document_round_trip(
    store: FileBlobStore, options: ReadOptions, data: st.DataObject
) -> None:
    pkg = data.draw(document_packages(store))
    _check(pkg, store, options)


@pytest.mark.parametrize("options", PATHS)
@SETTINGS
@given(pkg=status_packages)
def test_status_round_trip(store: FileBlobStore, options: ReadOptions, pkg: StatusPackage) -> None:
    _check(pkg, store, options)


@pytest.mark.slow
@SETTINGS
@given(data=st.data())
def test_both_paths_read_the_writer_output_alike(store: FileBlobStore, data: st.DataObject) -> None:
    pkg = data.draw(document_packages(store))
    written = package_bytes(pkg, store)
    in_memory = read_package(written, store, ReadOptions())
    streamed = read_package(written, store, ReadOptions(small_input=0, chunk_size=512))
    assert in_memory == streamed == pkg
    assert [f.code for f in in_memory.findings] == [f.code for f in streamed.findings]
