"""The one bounded request-body stream every face reads its request through.

The size limit is checked against a declared Content-Length before a byte is read, and again
while reading (a chunked body has no length to check first). Framing is handled here once: a
server that has already de-chunked the body says so with ``wsgi.input_terminated`` (gunicorn,
waitress); without it (``wsgiref``, which passes chunked bodies through raw) this stream
de-chunks itself. Whatever goes wrong while reading (a malformed chunk, a body shorter than its
Content-Length, a server's own parse error) is the client's mistake, answered as
:class:`~gateway.errors.MalformedBody`, never as a server failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Protocol

from gateway.errors import BodyTooLarge, GatewayError, HttpRefusal, LengthRequired, MalformedBody

CHUNK = 1 << 16
_HEX = b"0123456789abcdefABCDEF"
_LINE_LIMIT = 4096
"""The longest chunk-size line (with extensions) or trailer line accepted."""


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


def too_large(limit: int) -> BodyTooLarge:
    """The refusal of a body over ``limit`` bytes (``max_request_bytes``)."""
    return BodyTooLarge(
        f"the request is larger than this gateway accepts ({limit} bytes, max_request_bytes)"
    )


class RequestBody:
    """The request's body as a bounded stream: ``read`` never returns more than ``limit`` bytes
    in all (it raises :class:`BodyTooLarge` instead) and refuses a short or malformed body."""

    def __init__(self, environ: dict[str, Any], limit: int, *, length_required: bool = False):
        self.limit = limit
        self.received = 0
        declared = str(environ.get("CONTENT_LENGTH") or "").strip()
        encoding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        self.chunked = "chunked" in encoding
        self.length: int | None = None
        """The declared length; None for a chunked body."""
        if declared and not self.chunked:
            if not declared.isdigit():
                raise MalformedBody(f"Content-Length {declared[:40]!r} is not a number")
            self.length = int(declared)
            if self.length > limit:
                raise too_large(limit)
        elif not self.chunked:
            if length_required:
                raise LengthRequired("send a Content-Length or a chunked body")
            self.length = 0  # no length and no chunking: an empty body (RFC 9112 §6.3)
        stream: _Readable = environ["wsgi.input"]
        self._stream = stream
        self._dechunk = self.chunked and not environ.get("wsgi.input_terminated", False)
        self._chunk_left = 0
        self._done = self.length == 0

    @property
    def exhausted(self) -> bool:
        """Whether the whole body has been read."""
        return self._done

    def read(self, size: int = CHUNK) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end of the body."""
        if self._done or size <= 0:
            return b""
        if self.length is not None:
            size = min(size, self.length - self.received)
        try:
            data = self._read_chunked(size) if self._dechunk else self._stream.read(size)
        except HttpRefusal:
            raise
        except Exception as exc:  # the server's own parse errors (gunicorn's InvalidChunkSize)
            self._done = True
            raise MalformedBody(f"the request body could not be read: {exc}") from None
        if not data:
            self._done = True
            if self.length is not None and self.received < self.length:
                raise MalformedBody("the body is shorter than Content-Length")
            return b""
        self.received += len(data)
        if self.received > self.limit:
            self._done = True
            raise too_large(self.limit)
        if self.length is not None and self.received >= self.length:
            self._done = True
        return data

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The rest of the body, piece by piece."""
        while data := self.read(size):
            yield data

    def copy_to(self, into: IO[bytes]) -> int:
        """Copy the rest of the body into ``into``, rewound afterwards; the body's size."""
        for data in self.chunks():
            into.write(data)
        into.seek(0)
        return self.received

    def read_all(self, cap: int | None = None, refusal: GatewayError | None = None) -> bytes:
        """The rest of the body in memory; past ``cap`` bytes ``refusal`` is raised instead."""
        pieces: list[bytes] = []
        for data in self.chunks():
            pieces.append(data)
            if cap is not None and self.received > cap:
                raise refusal or too_large(cap)
        return b"".join(pieces)

    def drain(self, at_most: int = 64 << 20) -> None:
        """Read and drop what is left (up to ``at_most`` bytes), so that the client, which may
        still be sending, reads the answer rather than a connection reset; errors are ignored."""
        left = at_most
        try:
            while left > 0 and (data := self.read(min(CHUNK, left))):
                left -= len(data)
        except (HttpRefusal, OSError):
            pass

    def _read_chunked(self, size: int) -> bytes:
        """De-chunk a raw ``Transfer-Encoding: chunked`` body (RFC 9112 §7.1)."""
        if self._chunk_left == 0:
            line = self._line()
            digits = line.split(b";", 1)[0].strip()
            if not digits or len(digits) > 16 or digits.strip(_HEX):
                raise MalformedBody(f"bad chunk size {digits[:20]!r}")
            self._chunk_left = int(digits, 16)
            if self._chunk_left == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b""
        data = self._stream.read(min(size, self._chunk_left))
        if not data:
            raise MalformedBody("the chunked body ended inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._stream.read(2) != b"\r\n":
            raise MalformedBody("a chunk is not followed by CRLF")
        return data

    def _line(self) -> bytes:
        line = self._stream.readline(_LINE_LIMIT + 1)
        if len(line) > _LINE_LIMIT or not line.endswith(b"\n"):
            raise MalformedBody("a chunk-size or trailer line is too long or cut short")
        return line.rstrip(b"\r\n")


def open_body(environ: dict[str, Any], limit: int, *, length_required: bool = False) -> RequestBody:
    """The request's body stream; refuses a declared length over ``limit`` before reading."""
    return RequestBody(environ, limit, length_required=length_required)


__all__ = ["CHUNK", "RequestBody", "open_body", "too_large"]
