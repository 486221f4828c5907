"""Attachment handling: content ids, streaming base64, magic-byte sniffing, zip unwrapping.

Real senders disagree on ``cid:`` prefixes, label zips as PDF and PDFs as zip, and wrap single
files in a zip whose entry is named with a UUID (reference §2.5, §7.3–7.4). Decisions here rest
on the bytes, never on the declared ContentType.
"""

from __future__ import annotations

import binascii
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import pybase64

from gateway.edxml.blobio import BlobSink
from gateway.errors import UnzipLimit

# Base64 alphabet (standard and URL-safe is not used by edXML) plus the padding character.
_B64_DELETE_WS = b" \t\r\n"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_ALL_BYTES = bytes(range(256))
_NON_ALPHABET = bytes(b for b in _ALL_BYTES if b not in _B64_ALPHABET)

_PADDED_BLOCK = re.compile(rb"[^=]+=*")

ZIP_BASED_EXTENSIONS = frozenset(
    {"zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "jar", "epub", "xps", "ofd", "kmz"}
)


def normalize_content_id(raw: str) -> str:
    """Strip ``cid:``, angle brackets and whitespace so Reference and Attachment ids match."""
    value = raw.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if value[:4].lower() == "cid:":
        value = value[4:].strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def sniff_kind(head: bytes) -> str:
    """Name the file type from its first bytes: ``pdf``, ``zip``, ``ole`` (old Office), ..."""
    if not head:
        return "empty"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "xml"
    return "other"


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


class Writable(Protocol):
    """Where decoded bytes go: a blob writer, a file."""

    def write(self, data: bytes, /) -> object: ...


class Base64StreamDecoder:
    """Decodes base64 text fed in arbitrary pieces, writing bytes to a sink as it goes.

    Whitespace is skipped silently. Other characters outside the alphabet are dropped as RFC 2045
    §6.8 asks, and counted so the reader can report damaged content. Nothing larger than one
    buffered chunk is held in memory.
    """

    def __init__(self, sink: Writable, chunk_chars: int = 1 << 18) -> None:
        self._sink = sink
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._chunk_chars = chunk_chars
        self._carry = b""
        self.invalid_characters = 0
        self.padding_inside = False
        self.dangling_characters = 0
        self.decoded_bytes = 0
        self._seen_padding = False
        self._head = b""

    @property
    def head(self) -> bytes:
        """The first decoded bytes (up to 16), for sniffing the file type."""
        return self._head

    def feed(self, text: str | bytes) -> None:
        data = text.encode("ascii", "replace") if isinstance(text, str) else text
        self._pending.append(data)
        self._pending_len += len(data)
        if self._pending_len >= self._chunk_chars:
            self._drain(final=False)

    def _clean(self, raw: bytes) -> bytes:
        """Drop whitespace and count-and-drop other non-alphabet bytes (one pass when clean)."""
        leftover = raw.translate(None, _B64_ALPHABET)
        if not leftover:
            return raw
        invalid = len(leftover.translate(None, _B64_DELETE_WS))
        if not invalid:
            return raw.translate(None, _B64_DELETE_WS)
        self.invalid_characters += invalid
        return raw.translate(None, _NON_ALPHABET)

    def _drain(self, final: bool) -> None:
        raw = b"".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        data = self._carry + self._clean(raw)
        self._carry = b""
        if not final:
            usable = len(data) - len(data) % 4
            self._carry, data = data[usable:], data[:usable]
        if self._seen_padding and data:
            self.padding_inside = True
        # Up to the last padding character the text is whole blocks; after it, an unpadded run
        # whose last partial group waits for the next chunk (or dangles at the end).
        end = data.rfind(b"=") + 1
        padded, rest = data[:end], data[end:]
        if not final:
            usable = len(rest) - len(rest) % 4
            self._carry, rest = rest[usable:] + self._carry, rest[:usable]
        elif len(rest) % 4:
            self.dangling_characters += len(rest) % 4
            rest = rest[: len(rest) - len(rest) % 4]
        if padded:
            blocks = _PADDED_BLOCK.findall(padded)
            if len(blocks) > 1 or rest or self._carry:
                # Padding in the middle: concatenated base64 blocks; decode each separately.
                self.padding_inside = True
            self._seen_padding = True
            self._emit(b"".join(self._decode_blocks(blocks)))
        if rest:
            self._emit(pybase64.b64decode(rest, validate=True))

    def _decode_blocks(self, blocks: list[bytes]) -> Iterator[bytes]:
        """Decode padded blocks; a group of one character cannot be decoded and is counted
        (``AAAAA===`` is as damaged as a truncated text, not a reason to fail)."""
        for block in blocks:
            text = block.rstrip(b"=")
            whole = len(text) - len(text) % 4
            tail = text[whole:]
            if whole:
                yield pybase64.b64decode(text[:whole], validate=True)
            if len(tail) >= 2:
                yield binascii.a2b_base64(tail + b"=" * (4 - len(tail)))
            else:
                self.dangling_characters += len(tail)

    def _emit(self, decoded: bytes) -> None:
        if not decoded:
            return
        if len(self._head) < 16:
            self._head = (self._head + decoded[:16])[:16]
        self.decoded_bytes += len(decoded)
        self._sink.write(decoded)

    def close(self) -> None:
        self._drain(final=True)


def encode_base64_chunks(stream: BinaryIO, raw_chunk: int = 3 * (1 << 18)) -> Iterator[bytes]:
    """Yield base64 text for a stream, one aligned chunk at a time (no line breaks)."""
    while chunk := stream.read(raw_chunk):
        yield pybase64.b64encode(chunk)


@dataclass(frozen=True, slots=True)
class ZipEntryInfo:
    name: str
    size: int
    compressed_size: int


def single_zip_entry(stream: BinaryIO) -> ZipEntryInfo | None:
    """The only file entry of a zip archive, or None if it has zero or several, or is unreadable."""
    try:
        with zipfile.ZipFile(stream) as archive:
            files = [info for info in archive.infolist() if not info.is_dir()]
            if len(files) != 1:
                return None
            info = files[0]
            return ZipEntryInfo(info.filename, info.file_size, info.compress_size)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None


def copy_zip_entry(
    stream: BinaryIO, name: str, sink: BlobSink, limit: int | None = None, chunk: int = 1 << 20
) -> None:
    """Stream one entry out of a zip archive into a sink (the archive is never loaded whole).

    ``limit`` bounds what is inflated whatever the entry's header declares (a zip bomb lies
    about its sizes): past it :class:`UnzipLimit` is raised, before the bytes are written.
    """
    written = 0
    with zipfile.ZipFile(stream) as archive, archive.open(name) as entry:
        while data := entry.read(chunk):
            written += len(data)
            if limit is not None and written > limit:
                raise UnzipLimit(written)
            sink.write(data)

