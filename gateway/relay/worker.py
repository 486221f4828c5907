"""The relay worker: sends queued outbox items to their upstreams.

One :meth:`RelayWorker.run_once` step claims due items with a lease (one transaction per
batch), sends them through its upstream's connector with up to ``relay_concurrency`` sends in
flight, and records each outcome (sent, retry later, dead letter) with its audit record in its
own transaction. A claim never holds two items about the same document (the outbox's ordering
rule), and a step waits for its whole batch before the next claim, so a status or revoke is
never in flight together with its document. A crash at any point leaves every item queued or
finished: an item whose lease runs out is claimed again (by this node after a restart or by
another one), so a send may be repeated but is never lost; upstreams recognise the repeat by
the package identity.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from gateway import instruments, logs
from gateway.config import Settings
from gateway.errors import PermanentRelayError, TransientRelayError
from gateway.relay.connector import Connector, OutboundPackage
from gateway.relay.contact import ContactRecorder
from gateway.relay.outbox import SECOND, CircuitBreaker, RetryPolicy
from gateway.store.base import RelayStore, to_micros
from gateway.store.blobs import BlobStore
from gateway.store.records import OutboxItem, OutboxState

log = logging.getLogger(__name__)
GAVE_UP_ATTEMPTS = "R.Relay.MaxAttempts"
"""A dead letter after ``relay_max_attempts`` transient failures."""
GAVE_UP_AGE = "R.Relay.MaxAge"
"""A dead letter older than ``relay_max_age_hours``."""
MISSING_BLOB = "N.Relay.Blob"
"""A dead letter whose bytes are missing from the blob store."""
Clock = Callable[[], dt.datetime]
_OUTCOME = {OutboxState.SENT: "sent", OutboxState.QUEUED: "retry", OutboxState.DEAD: "dead"}
"""An attempt's outcome as ``gateway_relay_attempts_total`` names it."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def node_id() -> str:
    """A lease owner name unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class WorkerRound:
    """What one step did (for logs and tests)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    lost: int = 0
    """Outcomes discarded because the lease had passed to another worker."""
    expired: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.dead + self.lost


class RelayWorker:
    def __init__(
        self,
        settings: Settings,
        store: RelayStore,
        blobs: BlobStore,
        connectors: Mapping[str, Connector],
        *,
        owner: str = "",
        clock: Clock = _utc_now,
        rand: Callable[[], float] = random.random,
        batch: int = 20,
        concurrency: int | None = None,
        contacts: ContactRecorder | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.connectors = dict(connectors)
        self.owner = owner or node_id()
        self.clock = clock
        self.rand = rand
        self.concurrency = concurrency or settings.relay_concurrency
        self.batch = max(batch, self.concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        """Guards the breakers and the round's counters across send threads."""
        self.policy = RetryPolicy.from_settings(settings)
        self.lease = settings.relay_lease_seconds * SECOND
        self.reporter = settings.gateway_id
        """Who transport traces come from: this gateway, never the receiver."""
        self.contacts = contacts or ContactRecorder(store, self._now)
        """Each send's outcome, for health (an upstream down for too long)."""
        self.breakers = {
            name: CircuitBreaker(
                settings.relay_circuit_failures, settings.relay_circuit_cooldown_seconds
            )
            for name in self.connectors
        }

    def run_once(self) -> WorkerRound:
        """Expire what is too old, then send what is due to every upstream whose circuit
        allows it."""
        result = WorkerRound()
        now = self._now()
        result.expired = self.store.expire_outbox(
            now,
            now - int(self.policy.max_age_seconds * SECOND),
            "gave up: older than relay_max_age_hours and never delivered",
            error_code=GAVE_UP_AGE,
            reporter=self.reporter,
        )
        if result.expired:
            log.error(
                "relay: %d outbox item(s) became dead letters (older than relay_max_age_hours)",
                result.expired,
            )
        for name, connector in self.connectors.items():
            breaker = self.breakers[name]
            allowance = breaker.allowance(now, self.batch)
            if allowance == 0:
                continue
            items = self.store.claim_outbox(name, self.owner, now, now + self.lease, allowance)
            if self.concurrency == 1 or len(items) <= 1:
                for item in items:
                    self._step(connector, breaker, item, result)
            else:
                pool = self._executor()
                futures = [
                    pool.submit(self._step, connector, breaker, item, result) for item in items
                ]
                wait(futures)  # the whole batch, before the next claim (the ordering rule)
                for future in futures:
                    future.result()  # _step catches a send's failures; this re-raises a store's
        return result

    def close(self) -> None:
        """Stop the send threads (idle between steps)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="relay-send")
        return self._pool

    def _step(
        self, connector: Connector, breaker: CircuitBreaker, item: OutboxItem, result: WorkerRound
    ) -> None:
        """Send one claimed item unless its upstream's circuit opened meanwhile (then give it
        back untried)."""
        with self._lock:
            closed = breaker.allowance(self._now(), self.batch) > 0
        if not closed:
            self.store.release_outbox(item.id, self.owner, self._now())
            with self._lock:
                result.released += 1
            return
        with logs.request_scope(package_id=item.package_id, upstream=item.upstream):
            self._attempt(connector, breaker, item, result)

    def _now(self) -> int:
        return to_micros(self.clock())

    def _attempt(
        self, connector: Connector, breaker: CircuitBreaker, item: OutboxItem, result: WorkerRound
    ) -> None:
        if not self.blobs.contains(item.blob_sha256):
            self._finish(
                item,
                result,
                OutboxState.DEAD,
                error=f"the package's blob {item.blob_sha256} is missing",
                error_code=MISSING_BLOB,
            )
            return
        package = OutboundPackage(
            package_id=item.package_id,
            kind="status" if item.kind == "status" else "document",
            sender=item.sender,
            recipients=item.recipients,
            open=lambda: self.blobs.open(item.blob_sha256),
            size=item.size,
            sha256=item.blob_sha256,
        )
        try:
            sent = connector.send(package)
        except PermanentRelayError as exc:
            with self._lock:
                breaker.success()  # the upstream answered: it is up
            self.contacts.ok(item.upstream)
            self._finish(
                item,
                result,
                OutboxState.DEAD,
                error=f"refused by {item.upstream}: {exc.message}",
                error_code=exc.code,
            )
        except TransientRelayError as exc:
            self.contacts.failed(item.upstream, f"{exc.code}: {exc}")
            self._transient(breaker, item, result, str(exc), exc.code)
        except Exception as exc:  # a connector bug must not stop the relay: retry, and say so
            log.exception("relay: connector %s failed unexpectedly", item.upstream)
            self.contacts.failed(item.upstream, f"unexpected {type(exc).__name__}")
            self._transient(
                breaker, item, result, f"unexpected {type(exc).__name__}: {exc}", "M.Relay.Bug"
            )
        else:
            with self._lock:
                breaker.success()
            self.contacts.ok(item.upstream)
            self._finish(item, result, OutboxState.SENT, remote_id=sent.remote_id)

    def _transient(
        self,
        breaker: CircuitBreaker,
        item: OutboxItem,
        result: WorkerRound,
        error: str,
        code: str,
    ) -> None:
        now = self._now()
        with self._lock:
            breaker.failure(now)
        attempts = item.attempts + 1
        reason = self.policy.give_up(attempts, item.created_at, now)
        if reason:
            self._finish(
                item,
                result,
                OutboxState.DEAD,
                error=f"{reason}; last error: {error}",
                error_code=GAVE_UP_ATTEMPTS if "attempts" in reason else GAVE_UP_AGE,
            )
            return
        delay = self.policy.delay(attempts, self.rand)
        self._finish(
            item,
            result,
            OutboxState.QUEUED,
            error=error,
            error_code=code,
            next_attempt_at=now + int(delay * SECOND),
        )

    def _finish(
        self,
        item: OutboxItem,
        result: WorkerRound,
        state: OutboxState,
        *,
        error: str = "",
        error_code: str = "",
        remote_id: str = "",
        next_attempt_at: int = 0,
    ) -> None:
        done = self.store.finish_outbox(
            item.id,
            self.owner,
            self._now(),
            state,
            error=error,
            error_code=error_code,
            remote_id=remote_id,
            next_attempt_at=next_attempt_at,
            reporter=self.reporter,
        )
        instruments.RELAY_ATTEMPTS.labels(
            item.upstream, "lost" if done is None else _OUTCOME[state]
        ).inc()
        if done is None:
            log.warning("relay: lease on outbox item %s was lost; outcome discarded", item.id)
            with self._lock:
                result.lost += 1
            return
        if state == "dead":
            # An operator must act (queue retry / cancel); the sender was told by a trace.
            log.error(
                "relay: dead letter: outbox %s package %s from %s -> %s (%s): %s %s",
                item.id,
                item.package_id,
                item.sender,
                item.upstream,
                ",".join(item.recipients),
                error_code,
                error,
            )
        else:
            log.log(
                logging.WARNING if state == "queued" else logging.INFO,
                "relay: outbox %s package %s -> %s: %s%s",
                item.id,
                item.package_id,
                item.upstream,
                state,
                f" ({error_code}: {error})" if error else "",
            )
        with self._lock:
            if state is OutboxState.SENT:
                result.sent += 1
            elif state is OutboxState.QUEUED:
                result.retried += 1
            else:
                result.dead += 1
