"""The one bounded request-body stream (gateway.web.body): limits before and while reading,
Content-Length and chunked framing, and every framing mistake refused as the client's."""

from __future__ import annotations

import io
from typing import Any

import pytest

from gateway.errors import BodyTooLarge, FaultSide, LengthRequired, MalformedBody
from gateway.web import open_body


class _Exploding(io.BytesIO):
    """An input that must not be read (the limit is checked before)."""

    def read(self, size: int | None = -1, /) -> bytes:
        raise AssertionError("the body was read")


def _environ(raw: bytes, **headers: Any) -> dict[str, Any]:
    return {"wsgi.input": io.BytesIO(raw), **headers}


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    environ = {"wsgi.input": _Exploding(), "CONTENT_LENGTH": str(1 << 40)}
    with pytest.raises(BodyTooLarge) as caught:
        open_body(environ, 1000)
    assert caught.value.code == "R.Request.Size" and caught.value.status == 413
    assert caught.value.side is FaultSide.CLIENT


def test_content_length_bounds_the_read() -> None:
    body = open_body(_environ(b"hello, and more", CONTENT_LENGTH="5"), 100)
    assert b"".join(body.chunks(2)) == b"hello" and body.received == 5 and body.exhausted


@pytest.mark.parametrize("declared", ["abc", "-1", "1e3", "5, 5"])
def test_a_content_length_that_is_no_number_is_malformed(declared: str) -> None:
    with pytest.raises(MalformedBody, match="not a number"):
        open_body(_environ(b"hello", CONTENT_LENGTH=declared), 100)


def test_a_body_shorter_than_its_length_is_malformed() -> None:
    body = open_body(_environ(b"abc", CONTENT_LENGTH="10"), 100)
    with pytest.raises(MalformedBody, match="shorter than Content-Length") as caught:
        body.read_all()
    assert caught.value.code == "M.Http.Body"


def test_no_length_and_no_chunking_is_an_empty_body_or_a_refusal() -> None:
    assert open_body(_environ(b"ignored"), 100).read() == b""
    with pytest.raises(LengthRequired) as caught:
        open_body(_environ(b"ignored"), 100, length_required=True)
    assert caught.value.status == 411 and caught.value.code == "N.Http.ContentLength"


def test_raw_chunked_bodies_are_dechunked_once() -> None:
    raw = b"5;name=value\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: yes\r\n\r\n"
    body = open_body(_environ(raw, HTTP_TRANSFER_ENCODING="chunked"), 100)
    assert body.read_all() == b"hello, chunked!" and body.received == 15


def test_a_server_dechunked_body_is_read_to_its_end() -> None:
    environ = _environ(b"x" * 1000, HTTP_TRANSFER_ENCODING="chunked")
    environ["wsgi.input_terminated"] = True
    assert len(open_body(environ, 1000).read_all()) == 1000
    environ = _environ(b"x" * 1001, HTTP_TRANSFER_ENCODING="chunked")
    environ["wsgi.input_terminated"] = True
    with pytest.raises(BodyTooLarge):
        open_body(environ, 1000).read_all()


def test_a_chunked_body_over_the_limit_is_refused_while_reading() -> None:
    raw = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    body = open_body(_environ(raw, HTTP_TRANSFER_ENCODING="chunked"), 1000)
    with pytest.raises(BodyTooLarge):
        body.read_all()
    assert body.received <= 1000 + 256


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hexadecimal
        b"0x5\r\nhello\r\n0\r\n\r\n",  # Python's int() would take it; HTTP does not
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",  # empty size
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"a\r\nhello",  # ends inside a chunk
        b"5\r\nhello\r\n",  # ends before the last chunk
        b"5" * 5000 + b"\r\n",  # an endless size line
    ],
)
def test_malformed_chunked_bodies_are_the_clients_mistake(raw: bytes) -> None:
    body = open_body(_environ(raw, HTTP_TRANSFER_ENCODING="chunked"), 1 << 20)
    with pytest.raises(MalformedBody) as caught:
        body.read_all()
    assert caught.value.side is FaultSide.CLIENT and caught.value.status == 400


def test_a_servers_own_read_error_is_malformed_input() -> None:
    class _ServerSays(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            raise ValueError("Invalid chunk size: zz")  # as gunicorn's parser raises

    environ = {"wsgi.input": _ServerSays(), "HTTP_TRANSFER_ENCODING": "chunked"}
    environ["wsgi.input_terminated"] = True
    with pytest.raises(MalformedBody, match="Invalid chunk size"):
        open_body(environ, 100).read()


def test_drain_reads_what_is_left_and_never_raises() -> None:
    stream = io.BytesIO(b"a" * 300)
    environ = {"wsgi.input": stream, "HTTP_TRANSFER_ENCODING": "chunked"}
    environ["wsgi.input_terminated"] = True
    body = open_body(environ, 100)
    body.drain()  # over the limit: the refusal is swallowed
    assert stream.tell() > 100 and body.exhausted
