"""The inbound poller: brings packages waiting at an upstream into local mailboxes.

For each waiting item: fetch it into a spool file, accept it through the exchange (validated,
stored, delivered to local recipients, in one transaction), and only after that commit send the
upstream its transport acknowledgement. A crash between the commit and the acknowledgement means
the item is fetched again next round; the exchange recognises it by its duplicate key and stores
nothing twice, and the acknowledgement is then sent. What the upstream already accepted is taken
leniently (``Exchange.accept_from_upstream``: findings that do not stop delivery are warnings);
a package the gateway refuses (unusable, unreadable content, no local recipient, its own send
reflected back) is acknowledged as failed with the reason;
transient failures leave it waiting for the next round.

Only one node polls an upstream at a time: a lease row ``poller:<upstream>`` in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from gateway import instruments
from gateway.errors import FaultSide, GatewayError, RelayError
from gateway.exchange import Exchange
from gateway.relay.connector import Connector, InboundItem, Kind
from gateway.relay.contact import ContactRecorder
from gateway.relay.outbox import SECOND
from gateway.relay.worker import node_id
from gateway.store.base import RelayStore, to_micros

log = logging.getLogger(__name__)
KINDS: tuple[Kind, ...] = ("document", "status")


@dataclass(slots=True)
class PollRound:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    deferred: int = 0
    """Items left for the next round (the upstream or the database failed transiently)."""
    leased: bool = True
    """False when another node holds this upstream's poller lease (nothing was done)."""


class InboundPoller:
    def __init__(
        self,
        exchange: Exchange,
        store: RelayStore,
        connector: Connector,
        upstream: str,
        *,
        owner: str = "",
        clock: Callable[[], dt.datetime] | None = None,
        lease_seconds: int = 120,
        batch: int = 50,
        contacts: ContactRecorder | None = None,
    ) -> None:
        self.exchange = exchange
        self.store = store
        self.connector = connector
        self.upstream = upstream
        self.owner = owner or node_id()
        self.clock = clock or exchange.clock
        self.lease = lease_seconds * SECOND
        self.batch = batch
        self.lease_name = f"poller:{upstream}"
        self.contacts = contacts or ContactRecorder(store, lambda: to_micros(self.clock()))

    def _renew(self) -> bool:
        now = to_micros(self.clock())
        return self.store.acquire_lease(self.lease_name, self.owner, now, now + self.lease)

    def run_once(self) -> PollRound:
        """One pass over both kinds; returns what happened (and counts it for ``/metrics``)."""
        result = self._pass()
        for outcome, count in (
            ("accepted", result.accepted),
            ("duplicate", result.duplicates),
            ("refused", result.refused),
            ("deferred", result.deferred),
        ):
            if count:
                instruments.POLLED.labels(self.upstream, outcome).inc(count)
        return result

    def _pass(self) -> PollRound:
        result = PollRound()
        if not self._renew():
            result.leased = False
            return result
        for kind in KINDS:
            try:
                items = self.connector.list_inbound(kind, self.batch)
            except RelayError as exc:
                log.warning("poller %s: listing %s failed: %s", self.upstream, kind, exc)
                self.contacts.answered(self.upstream, exc)
                result.deferred += 1
                continue
            self.contacts.ok(self.upstream, polled=True)
            for item in items:
                if not self._renew():  # another node took over (our lease ran out)
                    result.leased = False
                    return result
                self._one(item, result)
        return result

    def release(self) -> None:
        self.store.release_lease(self.lease_name, self.owner)

    def _one(self, item: InboundItem, result: PollRound) -> None:
        try:
            with tempfile.TemporaryFile(dir=self.exchange.spool_dir) as spool:
                self.connector.fetch(item, spool)
                spool.seek(0)
                receipt = self.exchange.accept_from_upstream(self.upstream, spool)
        except RelayError as exc:
            log.warning("poller %s: fetching %s failed: %s", self.upstream, item.remote_id, exc)
            self.contacts.answered(self.upstream, exc)
            result.deferred += 1
            return
        except GatewayError as exc:
            if exc.side is not FaultSide.CLIENT:  # our database or disk: try again next round
                log.error("poller %s: storing %s failed: %s", self.upstream, item.remote_id, exc)
                result.deferred += 1
                return
            self._refuse(item, exc, result)
            return
        if receipt.duplicate:
            result.duplicates += 1
        else:
            result.accepted += 1
        self._ack(item, True, "", result)

    def _refuse(self, item: InboundItem, exc: GatewayError, result: PollRound) -> None:
        reason = str(exc)
        log.warning(
            "poller %s: refused %s %s from %s (answered fail): %s",
            self.upstream,
            item.kind,
            item.remote_id,
            item.sender or "?",
            reason,
        )
        self.store.record_event(
            to_micros(self.clock()),
            "relay.inbound.refused",
            "relay",
            item.remote_id,
            {"upstream": self.upstream, "kind": item.kind, "sender": item.sender, "error": reason},
        )
        result.refused += 1
        self._ack(item, False, reason, result)

    def _ack(self, item: InboundItem, ok: bool, reason: str, result: PollRound) -> None:
        try:
            self.connector.acknowledge(item, ok, reason)
        except RelayError as exc:
            # Committed (or refused) here already: the next round fetches it again, the
            # duplicate key recognises it, and the acknowledgement is retried.
            log.warning(
                "poller %s: acknowledging %s failed: %s", self.upstream, item.remote_id, exc
            )
            result.deferred += 1
