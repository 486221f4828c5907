"""The simulator's HTTP server: the VXP WSGI app on a threading ``wsgiref`` server, with faults
applied at the socket and a small admin API.

Why wsgiref (an ``http.server`` subclass) rather than waitress or gunicorn: a real TCP reset needs
the accepted socket in hand (``SO_LINGER`` on with a zero timeout, then close sends RST), and a
"drop" needs to read a request and close without a byte of answer. wsgiref hands the handler
its socket; waitress hides it behind an asyncore channel and gunicorn behind worker processes.
Connections are kept alive (HTTP/1.1; every answer carries a Content-Length and every request
body is read to its end, so the next request starts where this one ended): a relay sending many
packages does not pay a TCP handshake and a thread start per package. A fault that answers
nothing (reset, drop) ends its connection; an idle connection is closed after
``KEEPALIVE_SECONDS``.

Admin API (no authentication: bind it to loopback): ``GET /_sim/faults`` lists the rules and how
often each fired, ``POST /_sim/faults`` with ``{"rules": [...], "replace": true|false}`` sets or
adds rules (see :mod:`gateway.simulator.faults`), ``DELETE /_sim/faults`` clears them.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from gateway.restface.server import VxpApp
from gateway.simulator.backend import SimulatorBackend
from gateway.simulator.faults import CONNECTION_KINDS, FaultPlan, FaultRule
from gateway.simulator.store import SimulatorStore

log = logging.getLogger(__name__)
ADMIN_PATH = "/_sim/faults"
KEEPALIVE_SECONDS = 30.0


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    faults: FaultPlan
    scheme = "http"


class _ServerHandler(ServerHandler):
    """wsgiref's handler speaking HTTP/1.1; an answer without a Content-Length (wsgiref does
    not chunk) ends its connection."""

    http_version = "1.1"
    request_handler: _Handler

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        headers: Any = getattr(self, "headers", None)
        if headers is not None and "Content-Length" not in headers:
            headers["Connection"] = "close"
            self.request_handler.close_connection = True


class _Handler(WSGIRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE_SECONDS
    """An idle kept-alive connection (or a stalled client) is dropped after this long."""
    wbufsize = 64 * 1024
    """An answer leaves in one flush per request: wsgiref writes the status line, the headers
    and the body separately, and small writes on a kept-alive connection would otherwise wait
    for the client's delayed ACK (Nagle)."""
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def handle(self) -> None:
        """Requests on this connection until the client or a fault closes it."""
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()
            try:
                self.wfile.flush()
            except OSError:  # the client went away (or a reset closed the socket)
                self.close_connection = True

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionResetError):
            self.close_connection = True
            return
        if not self.raw_requestline:  # the client closed its kept-alive connection
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        if path.rstrip("/") == ADMIN_PATH:
            self._admin()
            return
        operation = path.rstrip("/").rsplit("/", 1)[-1]
        rule = self.server.faults.take(operation, CONNECTION_KINDS)
        if rule is not None:
            log.info("fault %s on %s", rule.kind, operation)
            if rule.kind == "reset":
                self._reset()
                return
            if rule.kind == "drop":
                self._read_body()
                self.close_connection = True
                return
            if rule.kind == "error":
                self._read_body()
                body = f"{rule.arg} simulated failure\n".encode()
                self.send_response(rule.arg)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            time.sleep(rule.arg / 1000)  # delay, then serve normally
        app = self.server.get_app()
        assert app is not None
        wfile: Any = self.wfile
        handler = _ServerHandler(
            self.rfile, wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self
        # a client that gave up (its timeout) leaves nothing to answer
        try:
            handler.run(app)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _reset(self) -> None:
        """Abort with a TCP RST: SO_LINGER on, zero seconds, then close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _admin(self) -> None:
        faults = self.server.faults
        try:
            if self.command == "POST":
                body = json.loads(self._read_body() or b"{}")
                rules = [FaultRule.from_json(item) for item in body.get("rules", [])]
                if body.get("replace", True):
                    faults.replace(rules)
                else:
                    faults.add(rules)
            elif self.command == "DELETE":
                faults.replace([])
            elif self.command != "GET":
                raise ValueError(f"{self.command} is not GET, POST or DELETE")
            answer: dict[str, Any]
            status, answer = 200, {"rules": [rule.to_json() for rule in faults.rules()]}
        except (ValueError, AttributeError, TypeError) as exc:
            status, answer = 400, {"error": str(exc)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


@dataclass
class Simulator:
    """A running simulator: its store, backend, fault plan and HTTP server."""

    store: SimulatorStore
    backend: SimulatorBackend
    faults: FaultPlan
    scheme = "http"
    server: _Server
    _thread: threading.Thread | None = None

    @classmethod
    def create(
        cls,
        data_dir: Path,
        systems: dict[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: list[FaultRule] | None = None,
        seed: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Simulator:
        """``tls``: a server-side context to speak HTTPS (with ``verify_mode`` CERT_REQUIRED
        and a CA loaded, it demands client certificates, like the specialised network)."""
        store = SimulatorStore(data_dir)
        plan = FaultPlan(faults, seed)
        backend = SimulatorBackend(store, systems, plan)
        server = _Server((host, port), _Handler)
        server.faults = plan
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
            server.scheme = "https"
        server.set_app(VxpApp(backend, spool_dir=store.spool_dir))
        return cls(store, backend, plan, server)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.server.scheme}://{host!s}:{port}"

    def start(self) -> Simulator:
        """Serve from a background thread (tests)."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
        self.server.server_close()
        self.store.close()
