"""The streaming multipart/related reader: boundaries split across reads, base64-text and binary
parts, no-header parts, hostile or truncated input."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest

from gateway.errors import BadRequest, LimitExceeded
from gateway.store.blobs import FileBlobStore
from legacy_adapters.edoc_soap.mime import parse_content_type, read_multipart

ROOT = b'<?xml version="1.0"?><Envelope/>'
BINARY = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"


class Trickle(io.RawIOBase):
    """Returns at most ``step`` bytes per read, so delimiters land across every chunk edge."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.at, self.step = data, 0, step

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.at : self.at + min(self.step, size if size > 0 else self.step)]
        self.at += len(chunk)
        return chunk


def body(boundary: str = "b1") -> bytes:
    return (
        f"preamble\r\n--{boundary}\r\nContent-Type: text/xml\r\nContent-ID: <root>\r\n\r\n".encode()
        + ROOT
        + f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\nContent-ID: <bin>\r\n\r\n".encode()
        + BINARY
        + f"\r\n--{boundary}\r\nContent-ID: <b64>\r\n\r\n".encode()
        + base64.encodebytes(BINARY)
        + f"\r\n--{boundary}--\r\nepilogue".encode()
    )


@pytest.mark.parametrize("step", [5, 64, 1 << 16])
def test_parts_survive_any_chunking(tmp_path: Path, step: int) -> None:
    blobs = FileBlobStore(tmp_path, durable=False)
    result = read_multipart(
        Trickle(body(), step),  # type: ignore[arg-type]
        parse_content_type('multipart/related; boundary="b1"; start="<root>"'),
        blobs.writer,
        max_root=1 << 20,
        text_parts=lambda root: "auto",
    )
    assert result.root == ROOT
    expected = hashlib.sha256(BINARY).hexdigest()
    assert result.parts["bin"].blob.sha256 == expected and not result.parts["bin"].was_base64_text
    assert result.parts["b64"].blob.sha256 == expected and result.parts["b64"].was_base64_text


def test_multipart_with_only_the_envelope(tmp_path: Path) -> None:
    data = b"--x\r\nContent-Type: text/xml\r\n\r\n" + ROOT + b"\r\n--x--\r\n"
    result = read_multipart(
        io.BytesIO(data),
        parse_content_type("multipart/related; boundary=x"),
        FileBlobStore(tmp_path).writer,
        max_root=1 << 20,
        text_parts=lambda root: "auto",
    )
    assert result.root == ROOT and result.parts == {}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (body()[:-40], BadRequest),  # truncated
        (b"no boundary at all", BadRequest),
        (b"--b1\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n", BadRequest),
    ],
)
def test_broken_bodies_are_refused_and_leave_no_temporary_files(
    tmp_path: Path, data: bytes, error: type[Exception]
) -> None:
    blobs = FileBlobStore(tmp_path, durable=False)
    with pytest.raises(error):
        read_multipart(
            io.BytesIO(data),
            parse_content_type("multipart/related; boundary=b1"),
            blobs.writer,
            max_root=1 << 20,
            text_parts=lambda root: "auto",
        )
    assert list(blobs.tmp_dir.iterdir()) == []


def test_envelope_part_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded):
        read_multipart(
            io.BytesIO(body()),
            parse_content_type('multipart/related; boundary="b1"'),
            FileBlobStore(tmp_path).writer,
            max_root=10,
            text_parts=lambda root: "auto",
        )


class Endless(io.RawIOBase):
    """A body that never ends: ``first``, then ``part`` for ever. Reading it to the end (or
    spooling every part before counting) would never return."""

    def __init__(self, first: bytes, part: bytes) -> None:
        self.next, self.part = first, part

    def read(self, size: int = -1) -> bytes:
        chunk, self.next = self.next, self.part
        return chunk


def test_part_count_is_refused_while_streaming(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path, durable=False)
    start = b"--x\r\nContent-Type: text/xml\r\nContent-ID: <root>\r\n\r\n" + ROOT
    part = b"\r\n--x\r\nContent-Type: application/pdf\r\nContent-ID: <p>\r\n\r\n" + bytes(1000)
    with pytest.raises(LimitExceeded) as refused:
        read_multipart(
            Endless(start + part, part),  # type: ignore[arg-type]
            parse_content_type("multipart/related; boundary=x"),
            blobs.writer,
            max_root=1 << 20,
            text_parts=lambda root: "binary",
            max_parts=30,
        )
    assert refused.value.code == "R.Mime.Parts" and "30 parts" in refused.value.message
    assert list(blobs.tmp_dir.iterdir()) == []


def test_part_size_is_refused_while_streaming(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path, durable=False)
    data = (
        b"--x\r\nContent-Type: text/xml\r\n\r\n" + ROOT
        + b"\r\n--x\r\nContent-ID: <big>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(bytes(300_000))
        + b"\r\n--x--\r\n"
    )
    with pytest.raises(LimitExceeded) as refused:
        read_multipart(
            io.BytesIO(data),
            parse_content_type("multipart/related; boundary=x"),
            lambda: blobs.writer(100_000),
            max_root=1 << 20,
            text_parts=lambda root: "binary",
        )
    assert refused.value.code == "R.Attachment.Size"
    assert list(blobs.tmp_dir.iterdir()) == []
