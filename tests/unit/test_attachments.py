"""Attachment helpers: streaming base64, content ids, magic-byte sniffing, zip entries."""

from __future__ import annotations

import base64
import io
import itertools
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.edxml.attachments import (
    Base64StreamDecoder,
    ZipEntryInfo,
    copy_zip_entry,
    encode_base64_chunks,
    extension_of,
    normalize_content_id,
    single_zip_entry,
    sniff_kind,
)
from gateway.store.blobs import FileBlobStore
from tests.fixtures.edxml_build import zip_of
from tests.fixtures.packages import tmp_leftovers


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FileBlobStore:
    """Module-scoped so hypothesis examples can share it (a real store, not a stand-in)."""
    return FileBlobStore(tmp_path_factory.mktemp("attachments") / "blobs", durable=False)


def decode(
    store: FileBlobStore, pieces: list[str | bytes], chunk_chars: int = 1 << 18
) -> tuple[bytes, Base64StreamDecoder]:
    writer = store.writer()
    decoder = Base64StreamDecoder(writer, chunk_chars=chunk_chars)
    for piece in pieces:
        decoder.feed(piece)
    decoder.close()
    ref = writer.commit()
    return store.read_bytes(ref), decoder


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


# -- Base64StreamDecoder -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=4100), max_size=12),
    chunk_chars=st.sampled_from([1, 3, 4, 7, 64, 1000, 1 << 18]),
    line=st.sampled_from([0, 64, 76]),
    as_bytes=st.booleans(),
)
def test_decoder_matches_b64decode_in_any_pieces(
    store: FileBlobStore,
    data: bytes,
    cuts: list[int],
    chunk_chars: int,
    line: int,
    as_bytes: bool,
) -> None:
    text = base64.b64encode(data).decode()
    if line:
        text = "\r\n".join(text[i : i + line] for i in range(0, len(text), line))
    pieces: list[str | bytes] = [p.encode() if as_bytes else p for p in split(text, cuts)]
    decoded, decoder = decode(store, pieces, chunk_chars)
    assert decoded == base64.b64decode(text) == data
    assert decoder.invalid_characters == 0
    assert decoder.dangling_characters == 0
    assert decoder.padding_inside is False
    assert decoder.decoded_bytes == len(data)
    assert decoder.head == data[:16]


@settings(max_examples=100, deadline=None)
@given(
    parts=st.lists(st.binary(min_size=1, max_size=200), min_size=2, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=1400), max_size=8),
    chunk_chars=st.sampled_from([1, 4, 5, 16, 1 << 18]),
)
def test_padding_in_the_middle_decodes_each_part(
    store: FileBlobStore, parts: list[bytes], cuts: list[int], chunk_chars: int
) -> None:
    text = "".join(base64.b64encode(p).decode() for p in parts)
    decoded, decoder = decode(store, list(split(text, cuts)), chunk_chars)
    assert decoded == b"".join(parts)
    padded_before_end = any(len(p) % 3 for p in parts[:-1])
    assert decoder.padding_inside is padded_before_end
    assert decoder.invalid_characters == 0 and decoder.dangling_characters == 0


def test_padding_in_the_middle_example(store: FileBlobStore) -> None:
    decoded, decoder = decode(store, ["YQ==", "Yg==Yw=="])
    assert decoded == b"abc"
    assert decoder.padding_inside


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    junk=st.lists(
        st.tuples(st.integers(min_value=0, max_value=900), st.sampled_from(list("$!*.,-_~{}()é€"))),
        min_size=1,
        max_size=10,
    ),
    chunk_chars=st.sampled_from([2, 9, 1 << 18]),
)
def test_invalid_characters_are_counted_and_dropped(
    store: FileBlobStore, data: bytes, junk: list[tuple[int, str]], chunk_chars: int
) -> None:
    text = base64.b64encode(data).decode()
    for position, char in sorted(junk, reverse=True):
        text = text[:position] + char + text[position:]
    decoded, decoder = decode(store, [text], chunk_chars)
    # Non-ASCII characters become '?' (one per character) before counting.
    assert decoder.invalid_characters == len(junk)
    assert decoded == data


def test_whitespace_is_not_invalid(store: FileBlobStore) -> None:
    decoded, decoder = decode(store, [" YWJj\tZGVm\r\n", "Z2hp \n"])
    assert decoded == b"abcdefghi"
    assert decoder.invalid_characters == 0


@pytest.mark.parametrize(
    ("text", "expected", "dangling"),
    [
        ("YWJjZA", b"abc", 2),
        ("YWJjZ", b"abc", 1),
        ("YWJ", b"", 3),
        ("Y", b"", 1),
        ("YWJj", b"abc", 0),
    ],
)
def test_incomplete_final_group_is_counted_not_guessed(
    store: FileBlobStore, text: str, expected: bytes, dangling: int
) -> None:
    """Unpadded or cut base64: full groups decode, the tail is counted (the reader reports it)."""
    decoded, decoder = decode(store, [text])
    assert decoder.dangling_characters == dangling
    assert decoded == expected


def test_decoder_streams_into_the_sink(store: FileBlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    writer = store.writer()
    decoder = Base64StreamDecoder(writer, chunk_chars=4096)
    text = base64.b64encode(data)
    for i in range(0, len(text), 1000):
        decoder.feed(text[i : i + 1000])
        assert decoder.decoded_bytes >= (i // 4096) * 3072 - 3072
    decoder.close()
    ref = writer.commit()
    assert store.read_bytes(ref) == data
    assert tmp_leftovers(store) == []


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000), raw_chunk=st.sampled_from([3, 6, 300, 3 * 1024]))
def test_encode_base64_chunks(data: bytes, raw_chunk: int) -> None:
    chunks = list(encode_base64_chunks(io.BytesIO(data), raw_chunk=raw_chunk))
    assert b"".join(chunks) == base64.b64encode(data)
    assert all(b"=" not in c for c in chunks[:-1])


# -- content ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "cid:abc",
        "CID:abc",
        "Cid:abc",
        "<abc>",
        "cid:<abc>",
        "<cid:abc>",
        "  cid: abc  ",
        " < abc > ",
        "\tcid:abc\n",
    ],
)
def test_normalize_content_id(raw: str) -> None:
    assert normalize_content_id(raw) == "abc"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("cid:", ""),
        ("36b8a92e-f054-11e7-842b-005056b672fc", "36b8a92e-f054-11e7-842b-005056b672fc"),
        ("cid:209", "209"),
        ("file@host.vn", "file@host.vn"),
        ("<part1@example>", "part1@example"),
        ("acid:x", "acid:x"),  # only a leading cid: is a prefix
        ("<abc", "<abc"),  # unbalanced brackets are data
    ],
)
def test_normalize_content_id_keeps_the_rest(raw: str, expected: str) -> None:
    assert normalize_content_id(raw) == expected


@given(
    st.text(
        alphabet=st.characters(
            codec="ascii", exclude_characters="<> \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f"
        ),
        max_size=30,
    )
)
def test_normalize_content_id_is_idempotent(value: str) -> None:
    once = normalize_content_id("cid:" + value)
    assert normalize_content_id(once) == once
    assert normalize_content_id(f"<{value}>") == normalize_content_id(value)


# -- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "pdf"),
        (b"PK\x03\x04\x14\x00\x08\x08", "zip"),
        (b"PK\x05\x06" + b"\x00" * 18, "zip"),  # empty archive
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "ole"),  # .doc/.xls
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"II*\x00\x08\x00", "tiff"),
        (b"MM\x00*\x00\x00", "tiff"),
        (b"{\\rtf1\\ansi", "rtf"),
        (b"", "empty"),
        (b'<?xml version="1.0"?>', "xml"),
        (b'\xef\xbb\xbf<?xml version="1.0"?>', "xml"),
        (b"\r\n  <edXML xmlns=", "xml"),
        (b"1212<?xml", "other"),
        (b"hello world", "other"),
        (b"%PD", "other"),
        (b"PK\x01\x02", "other"),
    ],
)
def test_sniff_kind(head: bytes, kind: str) -> None:
    assert sniff_kind(head) == kind


def test_sniff_kind_of_real_files() -> None:
    assert sniff_kind(zip_of({"a.pdf": b"%PDF"})[:16]) == "zip"
    assert sniff_kind(zip_of({})[:16]) == "zip"


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("a.PDF", "pdf"),
        ("Tờ trình.docx", "docx"),
        ("noext", ""),
        ("a.b.XlSx", "xlsx"),
        (".hidden", "hidden"),
    ],
)
def test_extension_of(name: str, ext: str) -> None:
    assert extension_of(name) == ext


# -- zip entries ---------------------------------------------------------------------------------


def test_single_zip_entry() -> None:
    inner = b"%PDF-1.4\n" + b"noi dung " * 100
    info = single_zip_entry(io.BytesIO(zip_of({"5c7082fe-4ac3.PDF": inner})))
    assert isinstance(info, ZipEntryInfo)
    assert info.name == "5c7082fe-4ac3.PDF"
    assert info.size == len(inner)
    assert 0 < info.compressed_size < len(inner)


def test_single_zip_entry_ignores_directories() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("thu-muc/", b"")
        archive.writestr("thu-muc/a.pdf", b"%PDF")
    info = single_zip_entry(io.BytesIO(buffer.getvalue()))
    assert info is not None and info.name == "thu-muc/a.pdf"


@pytest.mark.parametrize(
    "data",
    [
        zip_of({"a.pdf": b"1", "b.pdf": b"2"}),
        zip_of({}),
        b"%PDF-1.4 not a zip",
        b"",
        zip_of({"a.pdf": b"x" * 1000})[:40],  # truncated archive
    ],
    ids=["two-entries", "empty-zip", "pdf", "empty", "truncated"],
)
def test_single_zip_entry_none(data: bytes) -> None:
    assert single_zip_entry(io.BytesIO(data)) is None


def test_copy_zip_entry_into_blob(store: FileBlobStore, tmp_path: Path) -> None:
    inner = bytes(range(256)) * 5000
    archive = zip_of({"x.pdf": inner})
    writer = store.writer()
    copy_zip_entry(io.BytesIO(archive), "x.pdf", writer, chunk=4096)
    ref = writer.commit()
    assert store.read_bytes(ref) == inner
    assert ref.size == len(inner)


@pytest.mark.parametrize(
    ("text", "expected", "dangling"),
    [
        ("AAAAA===AAAA", b"\x00" * 6, 1),  # fuzzing found it: once an uncaught binascii.Error
        ("A===", b"", 1),
        ("YQ=YWJj", b"aabc", 0),  # one padding character short, then more text
        ("YWJjZ===YQ==", b"abca", 1),
    ],
)
def test_padding_after_a_one_character_group_is_damage_not_a_crash(
    store: FileBlobStore, text: str, expected: bytes, dangling: int
) -> None:
    for chunk_chars in (1, 3, 1 << 18):
        decoded, decoder = decode(store, [text], chunk_chars)
        assert (decoded, decoder.dangling_characters) == (expected, dangling)
