"""Input that is not a usable edXML package fails clearly, quickly, and leaves nothing behind.

Every case runs on both reader paths (in memory and streamed). After each failure the blob
store's tmp directory must be empty: a rejected package changes nothing.
"""

from __future__ import annotations

import base64
import io
import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.edxml import ReadOptions, read_package
from gateway.edxml.model import DocumentPackage
from gateway.errors import GatewayError, LimitExceeded, UnusableInput
from gateway.store.blobs import FileBlobStore, StagedBlobs
from tests.fixtures.edxml_build import (
    DECL,
    PDF_BYTES,
    QCVN,
    SIGNATURE_NO_NS,
    Att,
    document,
    status,
    zip_of,
)
from tests.fixtures.packages import tmp_leftovers

IN_MEMORY = ReadOptions(small_input=8 << 20)  # forces the one-go path even for larger inputs
STREAMED = ReadOptions(small_input=0)
STREAMED_SMALL_CHUNKS = ReadOptions(small_input=0, chunk_size=1024)
BOTH = [pytest.param(IN_MEMORY, id="in-memory"), pytest.param(STREAMED, id="streamed")]

LOCATION = re.compile(r"^line \d+(, column \d+)?$")


def stored_blobs(store: FileBlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and store.tmp_dir not in p.parents]


def expect_failure(
    data: bytes,
    store: FileBlobStore,
    options: ReadOptions,
    error: type[GatewayError] = UnusableInput,
) -> GatewayError:
    started = time.monotonic()
    with pytest.raises(error) as info:
        read_package(data, store, options)
    assert time.monotonic() - started < 5, "rejecting bad input must be fast"
    assert tmp_leftovers(store) == [], "a failed read left temporary files behind"
    assert info.value.message and str(info.value).startswith(info.value.code)
    return info.value


# -- truncation ----------------------------------------------------------------------------------

TRUNCATION_PAYLOAD = bytes(range(256)) * 400  # 100 KiB: base64 spans several stream chunks


def _truncation_source() -> bytes:
    data = document(attachments=[Att(content=b"%PDF-1.5\n" + TRUNCATION_PAYLOAD)])
    assert len(data) < (256 << 10)
    return data


def _cut_points() -> dict[str, int]:
    data = _truncation_source()
    b64_start = data.index(b"ContentTransferEncoded") + 70
    b64_end = data.index(b"</edXML:ContentTransferEncoded>")
    return {
        "declaration": 10,
        "root-start-tag": data.index(b"<edXML ") + 20,
        "message-header": data.index(b"<edXML:Subject>") + 9,
        "trace-header": data.index(b"<edXML:TraceHeaderList>") + 33,
        "manifest": data.index(b"<edXML:Reference>") + 5,
        "attachment-metadata": data.index(b"<AttachmentName>") + 3,
        "base64-start": b64_start,
        "base64-middle": (b64_start + b64_end) // 2,
        "base64-aligned": b64_start + 4096 * 4,
        "base64-end": b64_end - 1,
        "closing-tag": len(data) - 4,
    }


CUTS = _cut_points()


@pytest.mark.parametrize("options", [*BOTH, pytest.param(STREAMED_SMALL_CHUNKS, id="streamed-1k")])
@pytest.mark.parametrize("where", list(CUTS))
def test_truncated_input_is_unusable(
    blob_store: FileBlobStore, options: ReadOptions, where: str
) -> None:
    data = _truncation_source()[: CUTS[where]]
    exc = expect_failure(data, blob_store, options)
    assert exc.code in {"M.Xml.Truncated", "M.Xml"}
    if options is IN_MEMORY:
        assert stored_blobs(blob_store) == [], "nothing of a truncated package may be stored"
    # Streamed: an attachment completed before the cut is already committed (content-addressed,
    # so harmless); an attachment cut in the middle must never be committed.
    sizes = {p.stat().st_size for p in stored_blobs(blob_store)}
    assert sizes <= {len(TRUNCATION_PAYLOAD) + 9}


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("prefix", ["edXML", "q"])
def test_input_cut_after_a_prefix_colon(
    blob_store: FileBlobStore, options: ReadOptions, prefix: str
) -> None:
    data = _truncation_source()
    data = data[: data.index(b"<edXML:TraceHeaderList>")] + f"<{prefix}:".encode()
    exc = expect_failure(data, blob_store, options)
    assert exc.code in {"M.Xml.Truncated", "M.Xml"}


@pytest.mark.parametrize(
    "data",
    [
        document(header_extra="<foo:Extra>x</foo:Extra>"),
        document(reference_attrs=' foo:bar="1"'),
    ],
    ids=["element", "attribute"],
)
def test_undeclared_unknown_prefix_same_on_both_paths(
    blob_store: FileBlobStore, data: bytes
) -> None:
    outcomes = []
    for options in (IN_MEMORY, STREAMED):
        try:
            pkg = read_package(data, blob_store, options)
        except UnusableInput as exc:
            outcomes.append(("refused", exc.code))
        else:
            outcomes.append(("read", tuple(f.code for f in pkg.findings)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("where", ["message-header", "base64-middle", "closing-tag"])
def test_truncated_input_error_has_a_location(
    blob_store: FileBlobStore, options: ReadOptions, where: str
) -> None:
    data = _truncation_source()[: CUTS[where]]
    exc = expect_failure(data, blob_store, options)
    assert LOCATION.match(exc.path), f"no parser location in {exc.path!r}"


def test_truncation_inside_base64_says_so_in_memory(blob_store: FileBlobStore) -> None:
    data = _truncation_source()[: CUTS["base64-middle"]]
    exc = expect_failure(data, blob_store, IN_MEMORY)
    assert exc.code == "M.Xml.Truncated"
    assert "ContentTransferEncoded" in exc.message


# -- namespaces and root -------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
def test_go_vn_namespace_is_refused(blob_store: FileBlobStore, options: ReadOptions) -> None:
    data = document().replace(QCVN.encode(), b"http://www.go.vn/eDoc")
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Namespace"
    assert QCVN in exc.message and "http://www.go.vn/eDoc" in exc.message
    assert exc.path == "/edXML"


@pytest.mark.parametrize("options", BOTH)
def test_go_vn_envelope_root_is_refused(blob_store: FileBlobStore, options: ReadOptions) -> None:
    """The LS-TS team's first attempt: root ``EdXMLEnvelope`` in ``http://www.go.vn/eDoc``."""
    data = (
        DECL + '<EdXMLEnvelope xmlns="http://www.go.vn/eDoc"><Header/></EdXMLEnvelope>'
    ).encode()
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Namespace"
    assert QCVN in exc.message


@pytest.mark.parametrize("options", BOTH)
def test_legacy_edoc_namespace_is_refused(blob_store: FileBlobStore, options: ReadOptions) -> None:
    data = document().replace(QCVN.encode(), b"http://www.e-doc.vn/Schema/")
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Namespace"
    assert "http://www.e-doc.vn/Schema/" in exc.message
    assert "legacy" in exc.message and "endpoint" in exc.message


@pytest.mark.parametrize("options", BOTH)
def test_no_namespace_is_refused(blob_store: FileBlobStore, options: ReadOptions) -> None:
    data = document(prefixed=False).replace(f' xmlns="{QCVN}"'.encode(), b"")
    assert QCVN.encode() not in data
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Namespace"
    assert "no namespace" in exc.message and QCVN in exc.message


@pytest.mark.parametrize("options", BOTH)
def test_wrong_root_in_right_namespace(blob_store: FileBlobStore, options: ReadOptions) -> None:
    data = status().replace(b"<edXML xmlns", b"<Package xmlns").replace(b"</edXML>", b"</Package>")
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Xml.Root"
    assert "<Package>" in exc.message and exc.path == "/Package"


@pytest.mark.parametrize("options", BOTH)
def test_html_error_page_is_refused(blob_store: FileBlobStore, options: ReadOptions) -> None:
    exc = expect_failure(b"<html><body><h1>502 Bad Gateway</h1></body></html>", blob_store, options)
    assert exc.code in {"M.Namespace", "M.Xml.Root"}


# -- hostile XML ---------------------------------------------------------------------------------

PASSWD = Path("/etc/passwd")


def _passwd_markers() -> list[bytes]:
    if not PASSWD.is_file():
        return [b"root:x:0:0"]
    lines = [line for line in PASSWD.read_bytes().splitlines() if line.strip()]
    return [line for line in lines[:5] if len(line) > 8] or [b"root:x:0:0"]


def _assert_no_passwd(exc: GatewayError, store: FileBlobStore) -> None:
    visible = " ".join(
        [str(exc), exc.message, exc.path, repr(exc), *(str(f) for f in exc.findings)]
    ).encode()
    for marker in _passwd_markers():
        assert marker not in visible
        for blob in stored_blobs(store):
            assert marker not in blob.read_bytes()
    assert b"root:" not in visible


XXE_CASES = {
    "internal-subset-entity": DECL
    + '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    + document(declaration="").decode().replace("V/v thử nghiệm", "&xxe; V/v thử nghiệm"),
    "external-dtd": DECL
    + '<!DOCTYPE edXML SYSTEM "file:///etc/passwd">\n'
    + status(declaration="").decode(),
    "parameter-entity": DECL
    + '<!DOCTYPE edXML [<!ENTITY % x SYSTEM "file:///etc/passwd"> %x;]>\n'
    + status(declaration="").decode(),
    "entity-in-attachment": DECL
    + '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    + document(attachments=[Att(b64="&xxe;")], declaration="").decode(),
}


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("case", list(XXE_CASES))
def test_xxe_is_refused_without_reading_the_file(
    blob_store: FileBlobStore, options: ReadOptions, case: str
) -> None:
    exc = expect_failure(XXE_CASES[case].encode(), blob_store, options)
    assert exc.code == "M.Xml.Doctype"
    assert "DOCTYPE" in exc.message
    _assert_no_passwd(exc, blob_store)
    assert stored_blobs(blob_store) == []


def _laughs(levels: int) -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    return (
        DECL + "<!DOCTYPE edXML [" + "".join(entities) + "]>\n"
        f'<edXML xmlns="{QCVN}"><edXMLEnvelope><edXMLHeader><MessageHeader>'
        f"<Subject>&lol{levels};</Subject></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()


@pytest.mark.parametrize(
    ("levels", "options"),
    [
        pytest.param(3, IN_MEMORY, id="small-expansion-in-memory"),
        pytest.param(3, STREAMED, id="small-expansion-streamed"),
        pytest.param(9, IN_MEMORY, id="billion-laughs-in-memory"),
        pytest.param(9, STREAMED, id="billion-laughs-streamed"),
    ],
)
def test_entity_expansion_is_refused(
    blob_store: FileBlobStore, levels: int, options: ReadOptions
) -> None:
    exc = expect_failure(_laughs(levels), blob_store, options)
    assert b"lollollol" not in str(exc).encode()
    assert exc.code == "M.Xml.Doctype"


@pytest.mark.parametrize("options", BOTH)
def test_billion_laughs_is_refused_quickly_whatever_the_code(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    exc = expect_failure(_laughs(9), blob_store, options)
    assert exc.code.startswith("M.Xml")


# -- nesting -------------------------------------------------------------------------------------

DEPTH = 100_000


def _deep(levels: int, *, closed: bool = True) -> bytes:
    inner = b"<a>" * levels + (b"</a>" * levels if closed else b"")
    return DECL.encode() + f'<edXML xmlns="{QCVN}">'.encode() + inner + b"</edXML>"


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("closed", [True, False], ids=["closed", "unclosed"])
def test_deep_nesting_is_refused_without_recursion(
    blob_store: FileBlobStore, options: ReadOptions, closed: bool
) -> None:
    data = _deep(DEPTH, closed=closed)
    started = time.monotonic()
    try:
        read_package(data, blob_store, options)
    except (UnusableInput, LimitExceeded) as exc:
        assert exc.code in {"R.Xml.Depth", "M.Xml"}
        if exc.code == "M.Xml":
            assert "depth" in exc.message.lower()
    except RecursionError:  # pragma: no cover - this is the failure being guarded against
        pytest.fail("deep nesting caused a RecursionError")
    else:
        pytest.fail("100,000 nested elements were accepted")
    assert time.monotonic() - started < 2
    assert tmp_leftovers(blob_store) == []


@pytest.mark.parametrize("options", BOTH)
def test_deep_nesting_inside_the_envelope(blob_store: FileBlobStore, options: ReadOptions) -> None:
    nested = "<edXML:X>" + "<edXML:a>" * 2000 + "</edXML:a>" * 2000 + "</edXML:X>"
    exc = expect_failure(document(header_extra=nested), blob_store, options, GatewayError)
    assert exc.code in {"R.Xml.Depth", "M.Xml"}
    assert isinstance(exc, LimitExceeded | UnusableInput)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(replace(IN_MEMORY, max_depth=5), id="in-memory"),
        pytest.param(replace(STREAMED, max_depth=5), id="streamed"),
    ],
)
def test_configured_max_depth_is_honoured(blob_store: FileBlobStore, options: ReadOptions) -> None:
    exc = expect_failure(document(), blob_store, options, LimitExceeded)
    assert exc.code == "R.Xml.Depth"


# -- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("encoding", ["ISO-8859-1", "latin1", "windows-1258", "US-ASCII"])
def test_non_utf8_declared_encoding_is_refused(
    blob_store: FileBlobStore, options: ReadOptions, encoding: str
) -> None:
    text = document(declaration=f'<?xml version="1.0" encoding="{encoding}"?>\n').decode()
    data = text.encode("latin-1", "replace")
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Encoding"
    assert encoding in exc.message and "UTF-8" in exc.message


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    "bad",
    [b"H\xe0 N\xf4i", b"\xc3\x28", b"\xed\xa0\x80", b"\xff"],
    ids=["latin1-bytes", "bad-continuation", "surrogate", "ff"],
)
def test_invalid_utf8_under_utf8_declaration(
    blob_store: FileBlobStore, options: ReadOptions, bad: bytes
) -> None:
    data = document().replace("Hà Nội".encode(), bad, 1)
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Encoding"
    assert LOCATION.match(exc.path)


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"], ids=["utf16-bom", "utf16le-no-bom"])
def test_utf16_is_refused(blob_store: FileBlobStore, options: ReadOptions, codec: str) -> None:
    text = document(declaration='<?xml version="1.0" encoding="UTF-16"?>\n').decode()
    exc = expect_failure(text.encode(codec), blob_store, options)
    assert exc.code == "M.Encoding"
    assert "UTF-16" in exc.message


@pytest.mark.parametrize("options", BOTH)
def test_utf16_big_endian_with_bom_is_refused(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    data = b"\xfe\xff" + status(declaration="").decode().encode("utf-16-be")
    assert expect_failure(data, blob_store, options).code == "M.Encoding"


@pytest.mark.parametrize("options", BOTH)
def test_utf16_big_endian_without_bom_is_refused(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    text = status(declaration='<?xml version="1.0" encoding="UTF-16"?>\n').decode()
    assert expect_failure(text.encode("utf-16-be"), blob_store, options).code == "M.Encoding"


# -- not XML at all ------------------------------------------------------------------------------


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize(
    "data", [b"", b"   \r\n\t", b"1212"], ids=["empty", "whitespace", "digits"]
)
def test_empty_input(blob_store: FileBlobStore, options: ReadOptions, data: bytes) -> None:
    exc = expect_failure(data, blob_store, options)
    assert exc.code == "M.Xml"
    assert "not XML" in exc.message


@pytest.mark.parametrize("options", BOTH)
def test_declaration_only(blob_store: FileBlobStore, options: ReadOptions) -> None:
    assert expect_failure(DECL.encode(), blob_store, options).code in {"M.Xml", "M.Xml.Truncated"}


GARBAGE = {
    "all-bytes": bytes(range(256)) * 8,
    "png": b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4,
    "zip": zip_of({"edoc.edxml": document()}),
    "pdf": PDF_BYTES * 3,
    "base64-of-package": base64.b64encode(document()),
    "lt-then-binary": b"<\x00\x01\x02\xff\xfe" * 64,
}


@pytest.mark.parametrize("options", BOTH)
@pytest.mark.parametrize("name", list(GARBAGE))
def test_binary_garbage(blob_store: FileBlobStore, options: ReadOptions, name: str) -> None:
    exc = expect_failure(GARBAGE[name], blob_store, options)
    assert exc.code in {"M.Xml", "M.Xml.Truncated", "M.Encoding", "M.Namespace", "M.Xml.Root"}
    assert stored_blobs(blob_store) == []


@pytest.mark.parametrize("options", BOTH)
def test_binary_stream_and_missing_file(
    blob_store: FileBlobStore, options: ReadOptions, tmp_path: Path
) -> None:
    pkg = read_package(io.BytesIO(status()), blob_store, options)
    assert pkg.kind == "status"
    exc = expect_failure(tmp_path / "khong-co.edxml", blob_store, options)  # type: ignore[arg-type]
    assert exc.code == "M.File"


# -- limits --------------------------------------------------------------------------------------


def _attachments(n: int, content: bytes = PDF_BYTES) -> list[Att]:
    return [
        Att(content=content + bytes([i]), ref_id=f"cid:{i}", att_id=f"cid:{i}") for i in range(n)
    ]


@pytest.mark.parametrize("options", BOTH)
def test_too_many_attachments(blob_store: FileBlobStore, options: ReadOptions) -> None:
    limited = replace(options, max_attachments=2)
    exc = expect_failure(document(attachments=_attachments(3)), blob_store, limited, LimitExceeded)
    assert exc.code == "R.Attachment.Count"
    assert "2" in exc.message
    pkg = read_package(document(attachments=_attachments(2)), blob_store, limited)
    assert isinstance(pkg, DocumentPackage) and len(pkg.attachments) == 2


ZERO_BOMB_SIZE = 20_000_000


@pytest.fixture(scope="module")
def zero_bomb() -> bytes:
    data = zip_of({"0f4c2b.pdf": bytes(ZERO_BOMB_SIZE)})
    assert len(data) < 100_000  # compresses ~1000:1
    return data


@pytest.mark.parametrize("options", BOTH)
def test_zip_bomb_entry_hits_max_attachment_bytes(
    blob_store: FileBlobStore, options: ReadOptions, zero_bomb: bytes
) -> None:
    limit = 1_000_000
    data = document(attachments=[Att(content=zero_bomb, content_type="application/zip")])
    exc = expect_failure(
        data, blob_store, replace(options, max_attachment_bytes=limit), LimitExceeded
    )
    assert exc.code == "R.Attachment.Size"
    assert str(limit) in exc.message
    assert all(p.stat().st_size <= limit for p in stored_blobs(blob_store))


@pytest.mark.parametrize("options", BOTH)
def test_unwrapped_entry_within_limit_is_accepted(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    inner = b"%PDF-1.4\n" + bytes(50_000)
    data = document(
        attachments=[Att(content=zip_of({"x.pdf": inner}), content_type="application/zip")]
    )
    pkg = read_package(data, blob_store, replace(options, max_attachment_bytes=len(inner)))
    assert isinstance(pkg, DocumentPackage)
    assert pkg.attachments[0].file.size == len(inner)
    assert pkg.attachments[0].unwrapped_from_zip


@pytest.mark.parametrize("options", BOTH)
def test_decoded_attachment_hits_max_attachment_bytes(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    big = b"%PDF-1.4\n" + os.urandom(150_000)
    data = document(attachments=[Att(content=big)])
    exc = expect_failure(
        data, blob_store, replace(options, max_attachment_bytes=100_000), LimitExceeded
    )
    assert exc.code == "R.Attachment.Size"


@pytest.mark.parametrize("levels", [300, DEPTH])
def test_depth_error_is_the_same_exception_on_both_paths(
    blob_store: FileBlobStore, levels: int
) -> None:
    data = _deep(levels)
    raised = []
    for options in (IN_MEMORY, STREAMED):
        with pytest.raises(GatewayError) as info:
            read_package(data, blob_store, options)
        raised.append((type(info.value), info.value.code))
    assert raised[0] == raised[1] == (LimitExceeded, "R.Xml.Depth")


# -- differential fuzzing: both paths, never a raw exception -------------------------------------

FUZZ_BASES = [
    document(),
    document(prefixed=False, business=None, junk=b"1212"),
    status("1"),
    document(
        signature=SIGNATURE_NO_NS,
        reference_attrs=' xlink:href="cid:a1"',
        attachments=[Att(content=PDF_BYTES * 3, ref_id="a1")],
    ),
]
FUZZ_INSERTS = [
    b"<", b">", b"&", b'"', b":", b"/", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"edXML:",
    b"\x00", b"\xff", b"\xc3", b"&amp;", b"&#0;", b"&#x1F;", b' xmlns:a="u"', b" a:b='1'",
    b"</edXML:Subject>", b"<edXML:To>", b"=", b"cid:",
]  # fmt: skip


@st.composite
def mutated_packages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(FUZZ_BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        if action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=40))]
        elif action == "insert":
            data[position:position] = draw(st.sampled_from(FUZZ_INSERTS))
        else:
            data[position] = draw(st.integers(min_value=0, max_value=255))
    return bytes(data)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=mutated_packages())
def test_mutated_packages_fail_cleanly_and_alike(
    blob_store_for_fuzz: FileBlobStore, data: bytes
) -> None:
    outcomes = []
    for options in (IN_MEMORY, STREAMED):
        try:
            pkg = read_package(data, blob_store_for_fuzz, options)
        except GatewayError as exc:
            assert exc.code and exc.message
            outcomes.append(("refused", None))
        else:
            outcomes.append(("read", (pkg, [f.code for f in pkg.findings])))
        assert tmp_leftovers(blob_store_for_fuzz) == []
    (kind_a, detail_a), (kind_b, detail_b) = outcomes
    assert kind_a == kind_b
    if kind_a == "read":
        assert detail_a == detail_b


@pytest.fixture(scope="module")
def blob_store_for_fuzz(tmp_path_factory: pytest.TempPathFactory) -> FileBlobStore:
    return FileBlobStore(tmp_path_factory.mktemp("fuzz") / "blobs", durable=False)


@pytest.mark.parametrize("options", BOTH)
def test_zip_bomb_is_refused_by_its_ratio_by_default(
    blob_store: FileBlobStore, options: ReadOptions, zero_bomb: bytes
) -> None:
    """20 MB of zeros in a zip of a few KB labelled as a PDF: the default ratio refuses it."""
    data = document(attachments=[Att(content=zero_bomb, content_type="application/pdf")])
    exc = expect_failure(data, blob_store, options, LimitExceeded)
    assert exc.code == "R.Attachment.Ratio" and "200 times" in exc.message
    assert exc.path.startswith("/edXML/AttachmentEncoded/Attachment")
    # Refused from the entry's declared size: nothing of the 20 MB was inflated.
    assert all(p.stat().st_size < 1 << 20 for p in stored_blobs(blob_store))


@pytest.mark.parametrize("options", BOTH)
def test_decompressed_size_limit_and_a_lying_header(
    blob_store: FileBlobStore, options: ReadOptions, zero_bomb: bytes
) -> None:
    limited = replace(options, max_decompressed_bytes=2_000_000, max_compression_ratio=None)
    data = document(attachments=[Att(content=zero_bomb, content_type="application/pdf")])
    exc = expect_failure(data, blob_store, limited, LimitExceeded)
    assert exc.code == "R.Attachment.Decompressed" and "2000000" in exc.message
    # A header that declares a small size stops zipfile there (then its CRC fails): damaged.
    lying = _declared_size_of_entry(zero_bomb, 1000)
    data = document(attachments=[Att(content=lying, content_type="application/pdf")])
    pkg = read_package(data, blob_store, limited)
    assert "M.Attachment.Zip" in [f.code for f in pkg.findings]
    assert all(p.stat().st_size <= 2_000_000 for p in stored_blobs(blob_store))


def test_small_files_are_not_judged_by_their_ratio(blob_store: FileBlobStore) -> None:
    inner = b"%PDF-1.4\n" + bytes(900_000)  # compresses ~1000:1, but under a MiB
    data = document(attachments=[Att(content=zip_of({"x.pdf": inner}))])
    pkg = read_package(data, blob_store)
    assert isinstance(pkg, DocumentPackage) and pkg.attachments[0].file.size == len(inner)


def _declared_size_of_entry(archive: bytes, size: int) -> bytes:
    """The zip with its entry's uncompressed size rewritten in both headers (a lying bomb)."""
    import struct
    import zipfile

    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        info = parsed.infolist()[0]
    out = bytearray(archive)
    struct.pack_into("<I", out, info.header_offset + 22, size)
    central = bytes(out).rfind(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


@pytest.mark.parametrize("options", BOTH)
def test_a_zip_cut_short_before_its_directory_is_damaged_not_a_crash_in_memory(
    blob_store: FileBlobStore, options: ReadOptions
) -> None:
    """Found by the fuzz run: three bytes cut from an entry's data move the central directory,
    so zipfile seeks to offset -3. Staged in memory (a BytesIO) that is a ValueError, not the
    OSError a file gives; either way the attachment is a damaged zip, kept as it came."""
    whole = zip_of({"x.pdf": b"%PDF-1.4\n" + b"content that is stored, not deflated " * 20})
    cut = whole[:60] + whole[63:]
    data = document(attachments=[Att(content=cut, content_type="application/pdf")])
    stage = StagedBlobs(blob_store)
    pkg = read_package(data, stage, options)
    assert "M.Attachment.Zip" in [f.code for f in pkg.findings]
    stage.discard()
