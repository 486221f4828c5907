"""``edoc-gateway relay run``: the worker, one poller per upstream and the directory sync,
stepped in one loop until told to stop (SIGTERM finishes the current step, then exits).

:meth:`RelayService.run_once` is one step of everything, so tests and fault-injection harnesses
drive the relay deterministically; :meth:`RelayService.run` repeats it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.config import Settings
from gateway.errors import RelayError
from gateway.exchange import Exchange
from gateway.relay.connector import Connector
from gateway.relay.connectors import connect
from gateway.relay.contact import ContactRecorder
from gateway.relay.directory import SyncResult, sync_directory
from gateway.relay.outbox import SECOND
from gateway.relay.poller import InboundPoller, PollRound
from gateway.relay.worker import RelayWorker, WorkerRound, node_id
from gateway.store.base import to_micros
from gateway.store.retention import run_retention

log = logging.getLogger(__name__)
RETENTION_LEASE = "retention"
"""The lease that lets one node of several run the retention job at a time."""


@dataclass(slots=True)
class Step:
    worker: WorkerRound
    polls: dict[str, PollRound] = field(default_factory=dict)
    syncs: dict[str, SyncResult] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """True when the step moved something (the loop then continues without pausing)."""
        return self.worker.attempted > 0 or any(
            p.accepted or p.duplicates for p in self.polls.values()
        )


class RelayService:
    def __init__(
        self,
        settings: Settings,
        *,
        exchange: Exchange | None = None,
        connectors: Mapping[str, Connector] | None = None,
        owner: str = "",
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.exchange = exchange if exchange is not None else Exchange(settings)
        self.clock = clock or self.exchange.clock
        store = self.exchange.store
        self.store = store
        self.owner = owner or node_id()
        self.connectors = (
            dict(connectors)
            if connectors is not None
            else {u.name: connect(u) for u in settings.upstreams}
        )
        self.contacts = ContactRecorder(store, lambda: to_micros(self.clock()))
        """One throttle for the worker and every poller: an upstream's contact outcomes."""
        self.worker = RelayWorker(
            settings,
            store,
            self.exchange.blobs,
            self.connectors,
            owner=self.owner,
            clock=self.clock,
            contacts=self.contacts,
        )
        self.pollers = {
            name: InboundPoller(
                self.exchange,
                store,
                connector,
                name,
                owner=self.owner,
                clock=self.clock,
                lease_seconds=settings.relay_lease_seconds,
                contacts=self.contacts,
            )
            for name, connector in self.connectors.items()
        }
        intervals = {u.name: u.poll_interval_seconds for u in settings.upstreams}
        self.poll_every = {
            name: int(intervals.get(name, 10.0) * SECOND) for name in self.connectors
        }
        self.next_poll = dict.fromkeys(self.connectors, 0)
        self.next_sync = dict.fromkeys(self.connectors, 0)
        self.next_retention = 0
        self.retention: threading.Thread | None = None

    def run_once(self) -> Step:
        step = Step(self.worker.run_once())
        now = to_micros(self.clock())
        for name, poller in self.pollers.items():
            if now >= self.next_poll[name]:
                step.polls[name] = poller.run_once()
                self.next_poll[name] = now + self.poll_every[name]
        minutes = self.settings.directory_sync_minutes
        for name, connector in self.connectors.items():
            if minutes > 0 and now >= self.next_sync[name]:
                self.next_sync[name] = now + minutes * 60 * SECOND
                try:
                    step.syncs[name] = sync_directory(self.store, connector, name, now)
                except RelayError as exc:
                    log.warning("directory sync from %s failed: %s", name, exc)
                    self.next_sync[name] = now + 60 * SECOND  # try again soon
        self._maybe_retain(now)
        return step

    def _maybe_retain(self, now: int) -> None:
        """Start the retention job (purge, forget, collect) when it is due, in a thread of its
        own so sends and polls go on meanwhile; one node at a time, under a lease."""
        minutes = self.settings.retention_interval_minutes
        if minutes <= 0 or now < self.next_retention:
            return
        if self.retention is not None and self.retention.is_alive():
            return
        every = minutes * 60 * SECOND
        self.next_retention = now + every
        if not self.store.acquire_lease(RETENTION_LEASE, self.owner, now, now + every):
            return
        self.retention = threading.Thread(
            target=self._retain, args=(now,), name="retention", daemon=True
        )
        self.retention.start()

    def _retain(self, now: int) -> None:
        try:
            report = run_retention(self.store, self.exchange.blobs, self.settings, now)
            log.info("retention: %s", report.describe())
        except Exception:
            log.exception("retention failed (the next run continues where it stopped)")
        finally:
            with contextlib.suppress(Exception):
                self.store.release_lease(RETENTION_LEASE, self.owner)

    def run(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Step until ``stop`` is set; pause ``idle_seconds`` when a step moved nothing."""
        log.info("relay %s running for %s", self.owner, ", ".join(self.connectors) or "no upstream")
        try:
            while not stop.is_set():
                try:
                    step = self.run_once()
                except Exception:  # the database went away: log, pause, carry on
                    log.exception("relay step failed")
                    stop.wait(idle_seconds)
                    continue
                if not step.busy:
                    stop.wait(idle_seconds)
        finally:
            self.close()

    def close(self) -> None:
        if self.retention is not None:
            self.retention.join(60)
        self.worker.close()
        for poller in self.pollers.values():
            with contextlib.suppress(Exception):
                poller.release()
        for connector in self.connectors.values():
            with contextlib.suppress(Exception):
                connector.close()
        self.exchange.close()
