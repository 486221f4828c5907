"""A gunicorn worker class that runs waitress inside each worker process.

gunicorn's sync workers give each connection a process for as long as the client takes to
send its request, so twenty clients trickling their headers stop a node. Here gunicorn keeps
what it is good at (the master: forking, reloading, replacing dead workers, the listen sockets)
and each worker serves its sockets with waitress: an event loop reads and buffers every request
whole (to disk past ``inbuf_overflow``) before one of ``server_threads`` threads sees it, so a
slow client costs a connection, never a thread.

On top of waitress's idle timeout (``idle_timeout_seconds``) this module closes a connection
whose headers are not complete ``header_timeout_seconds`` after its request began, and one whose
body arrives slower than ``body_min_rate_bytes`` per second. A body over ``max_request_bytes``
is not answered by waitress's plain-text 413 but handed to the face with its declared length,
so the face refuses it in its own dialect without reading it (:mod:`gateway.web.body`).

Admission (:mod:`gateway.web.admission`) is decided here, in the event loop, as soon as a POST
has arrived whole: an admitted request goes to a thread holding its slot; a refused one is
answered at once in the loop itself (the face writes its ``Server.Busy`` fault without reading
the body), so under saturation a refusal never queues behind the threads' work.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, ClassVar

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask
from waitress.utilities import RequestEntityTooLarge

from gateway.config import Settings
from gateway.web.admission import TICKET_KEY, Gate, Ticket, gate_of

_HEARTBEAT_SECONDS = 1.0
"""How often the worker tells the master it is alive; gunicorn's ``timeout`` is far longer."""

_INBUF_OVERFLOW = 512 << 10
"""A request body past this is buffered in a temporary file rather than memory."""


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, except that an oversized body is passed on (length declared, body
    unread) and the connection closed after the answer, so the face can refuse it itself."""

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if isinstance(getattr(self, "error", None), RequestEntityTooLarge):
            self.error = None
            if self.chunked:  # no declared length: say how much has come so far
                self.headers["CONTENT_LENGTH"] = str(self.body_bytes_received)
            self.headers["CONNECTION"] = "close"
            self.connection_close = True
            # Nothing more of this connection is parsed: the rest is the oversized body.
            consumed = len(data)
        return consumed


class _Task(WSGITask):  # type: ignore[misc]
    """waitress's WSGI task, handing the server's admission ticket to the application, and
    sending the header with the first piece of the body (waitress sends them apart: two
    segments, twice the kernel's work, for every small answer)."""

    wrote_header: bool
    complete: bool

    def write(self, data: bytes) -> None:
        if self.wrote_header or not self.complete:
            super().write(data)
            return
        header: bytes = self.build_response_header()
        self.wrote_header = True
        length = self.content_length
        whole = data and self.has_body and not self.chunked_response and length is not None
        if whole and len(data) <= length:
            self.content_bytes_written += len(data)
            self.channel.write_soon(header + data)
            return
        self.channel.write_soon(header)
        super().write(data)

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        ticket = getattr(self.request, "ticket", None)
        if ticket is not None:
            environ[TICKET_KEY] = ticket
        return environ


class _Channel(HTTPChannel):  # type: ignore[misc]
    """waitress's channel, remembering when the request being read began and when its headers
    ended, for :meth:`_Server.maintenance` to judge, and answering refused requests inline."""

    parser_class = _Parser
    task_class = _Task
    began = 0.0
    body_began = 0.0
    refusal_pending = False
    """Set by :meth:`_Server.add_task` (under the channel's request lock, so the refusal is
    answered once that lock is let go, by whichever thread holds the channel)."""

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.began, self.body_began = time.monotonic(), 0.0
        result: bool = super().received(data)
        request = self.request
        if request is not None and request.headers_finished and not self.body_began:
            self.body_began = time.monotonic()
        self._answer_refusals()
        return result

    def service(self) -> None:
        ticket = getattr(self.requests[0], "ticket", None) if self.requests else None
        try:
            super().service()
        finally:
            if isinstance(ticket, Ticket):
                ticket.void()  # the client left before its request ran: the slot goes back
        self._answer_refusals()

    def _answer_refusals(self) -> None:
        while self.refusal_pending:
            self.refusal_pending = False
            self.service()


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """waitress's TCP server on an inherited socket, closing slow requests as well as idle
    connections at each maintenance pass (every second)."""

    channel_class = _Channel
    header_timeout = 20.0
    body_min_rate = 0
    gate: Gate | None = None
    threads: int | None = None

    def add_task(self, channel: _Channel) -> None:
        """Admit a request that has arrived whole: a POST takes its slot here; one the node
        has no room for is answered in this loop rather than queued for a thread."""
        request = channel.requests[0]
        gate = self.gate
        if gate is not None and not request.error and gate.governs(request.command, request.path):
            request.ticket = Ticket(gate, gate.admit(self.threads))
            if request.ticket.refused:
                channel.refusal_pending = True
                return
        super().add_task(channel)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections (channel_timeout)
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is None or request.completed or channel.will_close:
                continue
            if not request.headers_finished:
                if clock - channel.began > self.header_timeout:
                    channel.will_close = True
            elif self.body_min_rate and channel.body_began:
                elapsed = clock - channel.body_began
                if (
                    elapsed > self.header_timeout
                    and request.body_bytes_received < self.body_min_rate * elapsed
                ):
                    channel.will_close = True


def adjustments(settings: Settings, sockets: list[socket.socket]) -> Adjustments:
    """waitress's settings from the gateway's."""
    return Adjustments(
        sockets=sockets,
        threads=settings.server_threads,
        channel_timeout=settings.idle_timeout_seconds,
        cleanup_interval=1,
        connection_limit=settings.connection_limit,
        max_request_body_size=settings.max_request_bytes + 1,
        inbuf_overflow=_INBUF_OVERFLOW,
        ident="edoc-gateway",
        asyncore_use_poll=True,
        expose_tracebacks=False,
    )


def serve_sockets(
    app: Any, settings: Settings, sockets: list[socket.socket]
) -> tuple[dict[int, Any], ThreadedTaskDispatcher]:
    """Servers for ``sockets`` registered in a new socket map; the map and the dispatcher that
    runs their requests (the caller drives ``wasyncore.loop`` over the map)."""
    adj = adjustments(settings, sockets)
    gate = gate_of(app)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    for sock in sockets:
        server = _Server(
            app,
            socket_map,
            True,
            sock,
            dispatcher=dispatcher,
            adj=adj,
            bind_socket=False,
            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
        )
        server.header_timeout = float(settings.header_timeout_seconds)
        server.body_min_rate = settings.body_min_rate_bytes
        server.gate, server.threads = gate, adj.threads
    return socket_map, dispatcher


class WaitressWorker(Worker):  # type: ignore[misc]
    """The worker class; :func:`worker_class` binds it to the settings it serves with."""

    settings: ClassVar[Settings] = Settings()

    def run(self) -> None:
        sockets = [listener.sock for listener in self.sockets]
        socket_map, dispatcher = serve_sockets(self.wsgi, self.settings, sockets)
        next_beat = 0.0
        try:
            while self.alive:
                # The heartbeat (a syscall on gunicorn's tmp file) and the master check once a
                # second, not once per event: under load the loop turns several times a request.
                now = time.monotonic()
                if now >= next_beat:
                    self.notify()
                    if self.ppid != os.getppid():  # the master is gone
                        break
                    next_beat = now + _HEARTBEAT_SECONDS
                wasyncore.loop(timeout=1.0, map=socket_map, use_poll=True, count=1)
        finally:
            dispatcher.shutdown(timeout=float(self.cfg.graceful_timeout))
            for channel in list(socket_map.values()):
                if not isinstance(channel, _Server):  # the listeners belong to the master
                    channel.close()


def worker_class(settings: Settings) -> type[WaitressWorker]:
    """A :class:`WaitressWorker` serving with ``settings`` (gunicorn forks it from the master,
    where the class was made, so the settings travel with it)."""
    return type("GatewayWaitressWorker", (WaitressWorker,), {"settings": settings})


__all__ = ["WaitressWorker", "adjustments", "serve_sockets", "worker_class"]
