"""Overload refused, not queued: a bounded number of requests in flight per node, and a token
bucket per agency. Beyond either, the request is refused at once with ``Server.Busy``.

The in-flight bound is shared by every worker process of a node without a server of its own:
each slot is a lock file under ``<data_dir>/run/inflight``, held with ``flock`` while a request
runs. The kernel drops a dead process's locks, so a crashed worker never leaks a slot. The
per-agency bucket lives in each worker process (a node allows ``workers`` times its rate).

:class:`Admission` is middleware: it takes a slot for every POST to an exchange face (WSDL and
other GETs, the console, probes and metrics are not counted) and releases it when the answer
has been sent. A refused request still reaches its face, which answers the refusal in its own
dialect without reading the body (:func:`pending_refusal`); the faces charge the bucket once
they know the caller (:func:`charge_agency`).

A server that can decide before a request thread is taken (gateway.web.gunicorn_worker) asks
:meth:`Gate.admit` itself, in its event loop, and hands the decision on as a :class:`Ticket`:
a refusal is then answered without waiting for a thread, however busy the threads are.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from gateway.errors import Busy

try:
    import fcntl
except ImportError:  # not POSIX: the slots are counted in this process only
    fcntl = None  # type: ignore[assignment]

GATE_KEY = "gateway.admission"
REFUSAL_KEY = "gateway.admission.refusal"
TICKET_KEY = "gateway.admission.ticket"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SlotPool:
    """``size`` slots shared by the processes that open the same ``directory``."""

    def __init__(self, directory: Path, size: int) -> None:
        self.directory = directory
        self.size = size
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._fds: list[int] = []
        self._pid = 0

    def _open(self) -> list[int]:
        """This process's descriptors (opened again after a fork: a lock taken through an
        inherited descriptor would be shared with the parent)."""
        if self._pid != os.getpid():
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fds = [
                os.open(self.directory / f"slot-{n:04d}", os.O_RDWR | os.O_CREAT, 0o600)
                for n in range(self.size)
            ]
            self._held = set()
            self._pid = os.getpid()
        return self._fds

    def acquire(self) -> int | None:
        """A free slot's number, now held by this process; None when all are taken."""
        with self._lock:
            fds = self._open()
            start = random.randrange(self.size)
            for step in range(self.size):
                slot = (start + step) % self.size
                if slot in self._held:
                    continue
                try:
                    if fcntl is not None:
                        fcntl.flock(fds[slot], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                self._held.add(slot)
                return slot
            return None

    def release(self, slot: int) -> None:
        with self._lock:
            if slot in self._held and self._pid == os.getpid():
                if fcntl is not None:
                    fcntl.flock(self._fds[slot], fcntl.LOCK_UN)
                self._held.discard(slot)

    def in_use_here(self) -> int:
        """Slots this process holds (for tests and metrics)."""
        with self._lock:
            return len(self._held)


class TokenBuckets:
    """One bucket per key: ``burst`` tokens, refilled at ``per_minute`` a minute."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> bool:
        """Spend one token of ``key``'s bucket; False when it is empty."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget full buckets rather than grow forever
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst}
            return True


class Gate:
    """The node's admission policy: the slot pool and the agencies' buckets."""

    def __init__(
        self,
        slots: SlotPool,
        buckets: TokenBuckets | None,
        retry_after: int,
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.slots = slots
        self.buckets = buckets
        self.retry_after = retry_after
        self.exempt = tuple(prefix.rstrip("/") for prefix in exempt)
        """Path prefixes outside the bound (the operators' console, probes, metrics): their
        faces do not answer ``Server.Busy``, and an operator must be able to act on a node
        that is refusing traffic."""

    def governs(self, method: str, path: str) -> bool:
        """Whether a request takes a slot: every POST to an exchange face."""
        if method.upper() != "POST":
            return False
        return not any(path == prefix or path.startswith(prefix + "/") for prefix in self.exempt)

    def admit(self, threads: int | None) -> int | None:
        """A slot for one more request, or None when the node is full. Under a server with
        ``threads`` request threads, a process admits no more than that many at once (one
        more would wait for a thread while holding a slot)."""
        if threads is not None and self.slots.in_use_here() >= threads:
            return None
        return self.slots.acquire()

    def in_flight_refusal(self) -> Busy:
        return self.busy(
            "the gateway is at its limit of requests in flight (max_in_flight); retry later"
        )

    def busy(self, why: str) -> Busy:
        return Busy(why, self.retry_after)

    def charge(self, agency: str) -> None:
        """Spend one of ``agency``'s tokens, or refuse with ``Server.Busy``."""
        if self.buckets is not None and agency and not self.buckets.take(agency):
            raise self.busy(
                f"agency {agency} is sending faster than this gateway allows "
                "(agency_rate_per_minute); retry later"
            )


class Admission:
    """Middleware: hold a slot of ``gate`` for each POST it governs until its answer is sent
    (the slot the server took, when it decided in its own loop)."""

    def __init__(self, app: WsgiApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[GATE_KEY] = self.gate
        method, path = str(environ.get("REQUEST_METHOD", "GET")), str(environ.get("PATH_INFO", ""))
        if not self.gate.governs(method, path):
            return self.app(environ, start_response)
        ticket = environ.get(TICKET_KEY)
        slot = ticket.take() if isinstance(ticket, Ticket) else self.gate.admit(None)
        if slot is None:
            environ[REFUSAL_KEY] = self.gate.in_flight_refusal()
            return self.app(environ, start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.gate.slots.release(slot)
            raise
        if isinstance(result, list | tuple):
            # The answer is whole: its work is done. Released before a byte of it is sent, so
            # a client calling again as soon as it has its answer never meets its own slot.
            self.gate.slots.release(slot)
            return result
        return _Releasing(result, lambda: self.gate.slots.release(slot))


class Ticket:
    """A server's admission decision for one request: the slot it took (None: refused). The
    slot is the application's once :class:`Admission` takes it; a ticket never taken (the
    client left before its request ran) is given back by the server with :meth:`void`."""

    def __init__(self, gate: Gate, slot: int | None) -> None:
        self.gate, self.slot = gate, slot
        self._taken = False

    @property
    def refused(self) -> bool:
        return self.slot is None

    def take(self) -> int | None:
        self._taken = True
        return self.slot

    def void(self) -> None:
        """Release the slot unless the application took it (it then releases it itself)."""
        if not self._taken and self.slot is not None:
            self._taken = True
            self.gate.slots.release(self.slot)


class _Releasing:
    """The answer, releasing the slot when the server closes it (also when cut short)."""

    def __init__(self, inner: Iterable[bytes], release: Callable[[], None]) -> None:
        self.inner, self.release = inner, release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.inner)

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self.release()


def gate_of(app: object) -> Gate | None:
    """The gate of the :class:`Admission` inside ``app`` (middleware in front of it included:
    each keeps the application it wraps as ``app``), for a server to decide in its own loop."""
    for _ in range(8):
        if isinstance(app, Admission):
            return app.gate
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def pending_refusal(environ: dict[str, Any]) -> Busy | None:
    """The refusal :class:`Admission` decided for this request, for its face to answer."""
    refusal = environ.get(REFUSAL_KEY)
    return refusal if isinstance(refusal, Busy) else None


def charge_agency(environ: dict[str, Any], agency: str) -> None:
    """Spend one of ``agency``'s tokens (nothing without :class:`Admission` in front)."""
    gate = environ.get(GATE_KEY)
    if isinstance(gate, Gate):
        gate.charge(agency)


__all__ = [
    "TICKET_KEY",
    "Admission",
    "Gate",
    "SlotPool",
    "Ticket",
    "TokenBuckets",
    "charge_agency",
    "gate_of",
    "pending_refusal",
]
