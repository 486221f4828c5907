"""Slow clients cannot starve the server (gateway.web.gunicorn_worker), on real sockets: the
guarded waitress server that runs in each gunicorn worker, with one request thread, is held
by clients trickling their headers and their bodies; a normal client is still answered, and the
tricklers are closed once their timeout passes. The deadlines here are watchdogs, not verdicts:
performance figures are in BENCHMARKS.md (benchmarks/bench_slow_clients.py)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.errors import HttpRefusal
from gateway.web import open_body, send_refusal
from tests.fixtures.loop_server import serving

WATCHDOG = 60.0


LIMIT = 1 << 20


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Reads its body through gateway.web, as the faces do."""
    try:
        body = open_body(environ, LIMIT).read_all()
    except HttpRefusal as refusal:
        return send_refusal(start_response, refusal)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"seen %d" % len(body)]


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    settings = replace(
        Settings(data_dir=tmp_path),
        server_threads=1,
        header_timeout_seconds=1,
        body_min_rate_bytes=10_000,
        idle_timeout_seconds=2,
        max_request_bytes=LIMIT,
        stream_threshold_bytes=1 << 10,
    )
    with serving(_app, settings) as bound:
        yield bound


class _Trickler:
    """A client that sends ``prefix`` at once, then ``data`` one byte every ``pause``."""

    def __init__(self, port: int, data: bytes, pause: float, prefix: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG)
        self.sock.sendall(prefix)
        self.closed_by_server = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(data, pause), daemon=True)
        self.thread.start()

    def _run(self, data: bytes, pause: float) -> None:
        deadline = time.monotonic() + WATCHDOG
        try:
            for byte in data:
                if time.monotonic() > deadline:
                    return
                self.sock.sendall(bytes([byte]))
                time.sleep(pause)
        except OSError:  # reset or broken pipe: the server closed the connection
            self.closed_by_server.set()
            return
        # All sent (should not happen): wait for the server to speak or close.
        try:
            if not self.sock.recv(1):
                self.closed_by_server.set()
        except OSError:
            self.closed_by_server.set()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def _get(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WATCHDOG)
    try:
        connection.request("POST", "/", b"x" * 1000, {"Content-Type": "text/plain"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_tricklers_hold_no_thread_and_are_closed(port: int) -> None:
    header = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Pad: " + b"a" * 400
    body_head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    headers = [_Trickler(port, header, 0.05) for _ in range(20)]
    bodies = [_Trickler(port, b"b" * 2000, 0.05, prefix=body_head) for _ in range(5)]
    try:
        # With every trickler connected and the one request thread free, a normal call is
        # answered (under sync workers it would wait behind them).
        assert _get(port) == (200, b"seen 1000")
        for trickler in headers + bodies:
            assert trickler.closed_by_server.wait(WATCHDOG), "a trickler was never closed"
        assert _get(port) == (200, b"seen 1000")
    finally:
        for trickler in headers + bodies:
            trickler.close()


def test_an_idle_kept_alive_connection_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        reply = b""
        while b"seen 2" not in reply:
            piece = sock.recv(4096)
            assert piece, "closed before the answer"
            reply += piece
        assert reply.startswith(b"HTTP/1.1 200")
        assert sock.recv(1) == b""  # nothing more is sent: the server closes it when idle


def test_an_oversized_body_reaches_the_application_unread(port: int) -> None:
    """waitress does not answer with its own plain 413: the application (a face) sees the
    declared length and refuses through gateway.web, in its own words, without reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (5 << 20))
        reply = b""
        while piece := sock.recv(4096):
            reply += piece
    assert reply.startswith(b"HTTP/1.1 413") and b"R.Request.Size" in reply
    assert b"Connection: close" in reply


def test_an_oversized_chunked_body_is_refused_by_the_application(port: int) -> None:
    chunk = b"10000\r\n" + b"c" * 0x10000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        reply = b""
        try:
            for _ in range(40):  # 2.5 MiB, over the 1 MiB limit
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
            while piece := sock.recv(4096):
                reply += piece
        except OSError:  # closed while we were still sending: what was answered counts
            pass
    assert reply.startswith(b"HTTP/1.1 413") and b"R.Request.Size" in reply
