"""Admission decided in the server's event loop (gateway.web.gunicorn_worker with
gateway.web.admission), on real sockets: a refusal is answered while every request thread is
held, an admitted request that is never run gives its slot back, and the console stays outside
the bound. The waits here are watchdogs, not verdicts (figures: benchmarks/bench_overload.py)."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.web import send_refusal
from gateway.web.admission import Admission, Gate, SlotPool, Ticket, pending_refusal
from tests.fixtures.loop_server import serving

WATCHDOG = 30.0
SLOTS = 4


class _Held:
    """An application whose answers wait until the test lets them go, counting what ran."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.ran: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        refusal = pending_refusal(environ)
        if refusal is not None:
            return send_refusal(start_response, refusal)
        path = str(environ["PATH_INFO"])
        self.ran.append(path)
        self.started.release()
        assert self.release.wait(WATCHDOG)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ran " + path.encode()]


@pytest.fixture
def held() -> _Held:
    return _Held()


@pytest.fixture
def pool(tmp_path: Path) -> SlotPool:
    return SlotPool(tmp_path / "inflight", SLOTS)


@pytest.fixture
def port(tmp_path: Path, held: _Held, pool: SlotPool) -> Iterator[int]:
    app = Admission(held, Gate(pool, None, 7, exempt=("/console",)))
    with serving(app, replace(Settings(data_dir=tmp_path), server_threads=2)) as bound:
        yield bound
    held.release.set()


def _send(port: int, method: str, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG)
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    return sock


def _answer(sock: socket.socket) -> tuple[int, str]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read().decode()


def _wait_started(held: _Held, count: int) -> None:
    for _ in range(count):
        assert held.started.acquire(timeout=WATCHDOG)


def test_a_refusal_is_answered_while_every_thread_is_held(port: int, held: _Held) -> None:
    # Two threads: one process admits two POSTs, which take both threads; no thread is left.
    admitted = [_send(port, "POST", "/work"), _send(port, "POST", "/work")]
    _wait_started(held, 2)
    refused = _send(port, "POST", "/work")
    status, text = _answer(refused)  # answered by the loop, with both threads still waiting
    assert (status, text.split(":", 1)[0]) == (503, "Server.Busy")
    assert held.ran == ["/work", "/work"]
    held.release.set()
    for sock in admitted:
        assert _answer(sock) == (200, "ran /work")
    for sock in (*admitted, refused):
        sock.close()


def _all_free(pool: SlotPool) -> bool:
    """Whether every slot can be taken (by another process's view of the node's slots)."""
    probe = SlotPool(pool.directory, SLOTS)
    taken = [probe.acquire() for _ in range(SLOTS)]
    for slot in taken:
        if slot is not None:
            probe.release(slot)
    return None not in taken


def _until(condition: Any) -> bool:
    """Poll ``condition`` until it holds or the watchdog runs out."""
    pause = threading.Event()
    for _ in range(int(WATCHDOG * 20)):
        if condition():
            return True
        pause.wait(0.05)
    return False


def test_an_admitted_request_whose_client_left_gives_its_slot_back(
    port: int, held: _Held, pool: SlotPool
) -> None:
    # Both threads are taken by GETs; the POST is admitted (its slot taken in the loop) and
    # waits for a thread; its client resets the connection before one is free.
    gets = [_send(port, "GET", "/a"), _send(port, "GET", "/b")]
    _wait_started(held, 2)
    leaving = _send(port, "POST", "/work")
    assert _until(lambda: not _all_free(pool)), "the waiting POST holds a slot"
    leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    leaving.close()
    held.release.set()
    for sock in gets:
        assert _answer(sock)[0] == 200
        sock.close()
    assert _until(lambda: _all_free(pool)), "the slot of the request whose client left is lost"


def test_a_ticket_not_taken_is_given_back_once(pool: SlotPool) -> None:
    gate = Gate(pool, None, 7)
    slots = [gate.admit(None) for _ in range(SLOTS)]
    assert None not in slots and gate.admit(None) is None
    unused, used = Ticket(gate, slots[0]), Ticket(gate, slots[1])
    assert used.take() == slots[1]
    unused.void()
    used.void()  # the application took it: it is the application's to release
    unused.void()
    assert pool.in_use_here() == SLOTS - 1
    assert Ticket(gate, None).refused and not used.refused


def test_the_console_is_outside_the_bound(port: int, held: _Held, pool: SlotPool) -> None:
    probe = SlotPool(pool.directory, SLOTS)
    taken = [probe.acquire() for _ in range(SLOTS)]
    assert None not in taken
    try:
        held.release.set()
        refused = _send(port, "POST", "/soap/v1")
        assert _answer(refused)[0] == 503
        console = _send(port, "POST", "/console/queue/1/retry")
        assert _answer(console) == (200, "ran /console/queue/1/retry")
        refused.close()
        console.close()
    finally:
        for slot in taken:
            if slot is not None:
                probe.release(slot)
