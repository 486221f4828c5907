"""Streaming reader for ``multipart/related`` requests (SwA and MTOM).

The stdlib ``email`` parser holds the whole message, and the multipart libraries on PyPI
parse ``multipart/form-data`` only (they insist on ``Content-Disposition``). So this is a small
boundary scanner over the request stream: the root part (the SOAP envelope) is kept in memory
up to a limit, every other part goes straight to the blob store as it arrives, decoded from
base64 on the fly when the part is base64 text. Memory stays at a few chunks whatever the size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from gateway.edxml.attachments import Base64StreamDecoder, normalize_content_id, sniff_kind
from gateway.edxml.blobio import BlobSink
from gateway.edxml.model import BlobRef
from gateway.errors import BadRequest, LimitExceeded

CHUNK = 1 << 16
MAX_PART_HEADERS = 16 << 10
_B64_TEXT = re.compile(rb"^[A-Za-z0-9+/=\s]*$")


@dataclass(frozen=True, slots=True)
class ContentType:
    """A parsed ``Content-Type``: the lowercase media type and its parameters."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)


def parse_content_type(value: str) -> ContentType:
    """``multipart/related; type="text/xml"; boundary=...``: quoted values and ``;`` inside
    quotes handled, parameter names lowercased."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    params: dict[str, str] = {}
    for item in parts[1:]:
        if "=" not in item:
            continue
        name, _, raw = item.partition("=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"')
        params[name.strip().lower()] = raw
    return ContentType(parts[0].strip().lower(), params)


@dataclass(frozen=True, slots=True)
class Part:
    """One attachment part, already in the blob store."""

    content_id: str
    content_type: str
    blob: BlobRef
    head: bytes
    """The first decoded bytes, for sniffing the file type."""
    was_base64_text: bool

    @property
    def kind(self) -> str:
        return sniff_kind(self.head)


@dataclass(frozen=True, slots=True)
class Multipart:
    root: bytes
    root_type: ContentType
    parts: dict[str, Part]


class _PartSink:
    """Where a part's bytes go: memory (the root) or a blob, decoding base64 text if asked."""

    def __init__(self, blob: BlobSink | None, limit: int, decode: str) -> None:
        self.blob = blob
        self.memory = bytearray()
        self.limit = limit
        self.decode = decode  # "base64" (declared), "auto" (sniff the text), "binary"
        self.decoder: Base64StreamDecoder | None = None
        self.head = b""
        self.undecided = bytearray()
        self.is_base64 = False

    def write(self, data: bytes) -> None:
        if self.blob is None:
            if len(self.memory) + len(data) > self.limit:
                raise LimitExceeded(
                    "R.Envelope.Size",
                    f"the SOAP envelope part is larger than {self.limit} bytes; "
                    "send files as attachment parts",
                )
            self.memory += data
            return
        if self.decode == "auto" and self.decoder is None and not self.is_base64:
            self.undecided += data
            if len(self.undecided) < 4096:
                return
            self._decide()
            return
        self._forward(data)

    def _decide(self) -> None:
        data = bytes(self.undecided)
        self.undecided.clear()
        stripped = data.strip()
        # Base64 text: nothing but the alphabet; a real file (PDF, zip, DOC) has other bytes.
        self.decode = "base64" if stripped and _B64_TEXT.match(stripped) else "binary"
        self._forward(data)

    def _forward(self, data: bytes) -> None:
        assert self.blob is not None
        if self.decode == "base64":
            if self.decoder is None:
                self.decoder = Base64StreamDecoder(self.blob)
                self.is_base64 = True
            self.decoder.feed(data)
        else:
            if len(self.head) < 16:
                self.head = (self.head + data[:16])[:16]
            self.blob.write(data)

    def finish(self) -> BlobRef:
        assert self.blob is not None
        if self.decode == "auto" and self.decoder is None:
            self._decide()
        if self.decoder is not None:
            self.decoder.close()
            if self.decoder.invalid_characters or self.decoder.dangling_characters:
                raise BadRequest(
                    "M.Attachment.Base64", "an attachment part is declared base64 but is not"
                )
            self.head = self.decoder.head
        return self.blob.commit()


def read_multipart(
    stream: BinaryIO,
    content_type: ContentType,
    new_blob: Callable[[], BlobSink],
    *,
    max_root: int,
    text_parts: Callable[[bytes | None], str],
    max_parts: int = 500,
) -> Multipart:
    """Read a ``multipart/related`` body to the end of ``stream``.

    Parts are counted as their headers arrive: part ``max_parts + 1`` is refused before it is
    written anywhere (``new_blob`` bounds each part's size).

    ``text_parts`` says how parts without a ``Content-Transfer-Encoding: base64`` header are
    read: ``text_parts(root envelope bytes, or None if not seen yet)`` answers ``binary`` (as
    they are), ``base64-text`` (always decoded) or ``auto`` (decided by sniffing).
    """
    boundary = content_type.params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise BadRequest("M.Mime.Boundary", "multipart/related needs a boundary parameter")
    start = normalize_content_id(content_type.params.get("start", ""))
    delimiter = b"\r\n--" + boundary.encode("latin-1")

    def read_more() -> bytes:
        return stream.read(CHUNK)

    # Everything before the first delimiter is preamble; the body may start with "--boundary".
    buffer = b"\r\n"
    while True:
        index = buffer.find(delimiter)
        if index != -1:
            buffer = buffer[index + len(delimiter) :]
            break
        more = read_more()
        if not more:
            raise BadRequest("M.Mime.Boundary", f"no part starts with the boundary {boundary!r}")
        buffer = buffer[-len(delimiter) :] + more

    root: bytes | None = None
    root_type = ContentType("text/xml")
    parts: dict[str, Part] = {}
    first = True
    seen = 0
    open_sinks: list[_PartSink] = []
    try:
        while True:
            while len(buffer) < 2:
                more = read_more()
                if not more:
                    raise BadRequest("M.Mime.Truncated", "the multipart body has no final boundary")
                buffer += more
            if buffer.startswith(b"--"):
                break  # the closing delimiter
            # Part headers up to the blank line (the delimiter line's own CRLF and any
            # transport padding come first; a part with no headers starts with CRLF CRLF).
            while b"\r\n\r\n" not in buffer:
                if len(buffer) > MAX_PART_HEADERS:
                    raise BadRequest("M.Mime.Headers", "a MIME part's headers are too long")
                more = read_more()
                if not more:
                    raise BadRequest("M.Mime.Truncated", "a MIME part has no end of headers")
                buffer += more
            raw_headers, _, buffer = buffer.partition(b"\r\n\r\n")
            seen += 1
            if seen > max_parts:
                raise LimitExceeded(
                    "R.Mime.Parts", f"the multipart request has more than {max_parts} parts"
                )
            headers = _headers(raw_headers)
            content_id = normalize_content_id(headers.get("content-id", ""))
            part_type = parse_content_type(headers.get("content-type", "application/octet-stream"))
            is_root = content_id == start if start else first
            first = False
            if is_root:
                sink = _PartSink(None, max_root, "binary")
            else:
                encoding = headers.get("content-transfer-encoding", "").strip().lower()
                mode = text_parts(root)
                decode = (
                    "base64"
                    if encoding == "base64" or mode == "base64-text"
                    else "binary"
                    if mode == "binary"
                    else "auto"
                )
                sink = _PartSink(new_blob(), 0, decode)
                open_sinks.append(sink)
            # The body, up to the next delimiter; keep a tail that could hold a split delimiter.
            while True:
                index = buffer.find(delimiter)
                if index != -1:
                    sink.write(buffer[:index])
                    buffer = buffer[index + len(delimiter) :]
                    break
                keep = len(delimiter) - 1
                if len(buffer) > keep:
                    sink.write(buffer[:-keep])
                    buffer = buffer[-keep:]
                more = read_more()
                if not more:
                    raise BadRequest("M.Mime.Truncated", "a MIME part has no closing boundary")
                buffer += more
            if is_root:
                root, root_type = bytes(sink.memory), part_type
            else:
                blob = sink.finish()
                open_sinks.remove(sink)
                if not content_id:
                    raise BadRequest("N.Mime.ContentId", "an attachment part has no Content-ID")
                parts[content_id] = Part(
                    content_id, part_type.media_type, blob, sink.head, sink.is_base64
                )
    except BaseException:
        for sink in open_sinks:
            if sink.blob is not None:
                sink.blob.abort()
        raise
    # Drain the epilogue so the connection can be reused.
    while read_more():
        pass
    if root is None:
        raise BadRequest("N.Mime.Root", "the multipart request has no SOAP envelope part")
    return Multipart(root, root_type, parts)


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    name = ""
    for line in raw.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and name:
            headers[name] += " " + line.strip()
            continue
        if ":" not in line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = value.strip()
    return headers
