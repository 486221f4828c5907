"""``/metrics``: the Prometheus exposition of the counters every process keeps
(``gateway.instruments``) and of gauges read from the store when Prometheus asks.

Under gunicorn several workers and the relay child count into one multiprocess directory; a
scrape, answered by whichever worker, merges every process's files. The gauges (mailbox backlog,
outbox depth by upstream and state, the oldest undelivered package, dead letters, how long an
upstream has not answered, poller lag, certificate expiry) come from the database itself, so
they are the same whichever worker or node answers, and true after a restart. Names and
meanings: ``docs/metrics.md``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import instruments
from gateway.config import Settings
from gateway.security.certificates import load_certificates
from gateway.security.keys import signing_material
from gateway.store import open_store
from gateway.store.base import Store, to_micros
from gateway.trust import SenderTrust

PATH = "/metrics"
SECOND = 1_000_000
CERTIFICATES_EVERY_SECONDS = 300.0
"""Certificates change rarely and loading a trust store costs: they are read this often."""
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StartResponse = Callable[..., Any]
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StoreCollector:
    """Gauges computed from the store at scrape time (one connection per scraping thread)."""

    def __init__(self, settings: Settings, clock: Clock = _utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._certificates: list[tuple[str, str, float]] = []
        self._certificates_at = -1e9

    def _open(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gateway_store_up", "1 when the store answered this scrape's queries, else 0"
        )
        try:
            families = list(self._from_store())
        except Exception:
            up.add_metric([], 0.0)
            yield up
        else:
            up.add_metric([], 1.0)
            yield up
            yield from families
        yield self._certificate_expiry()

    def _from_store(self) -> Iterator[Metric]:
        store = self._open()
        now = to_micros(self.clock())

        backlog = GaugeMetricFamily(
            "gateway_mailbox_backlog",
            "Local deliveries not yet confirmed by their recipient agency, by kind",
            labels=["kind"],
        )
        by_kind: dict[str, int] = {"document": 0, "status": 0}
        for (_recipient, kind), count in store.mailbox_backlog().items():
            by_kind[kind] = by_kind.get(kind, 0) + count
        for kind, count in sorted(by_kind.items()):
            backlog.add_metric([kind], float(count))
        yield backlog

        oldest_pending = store.oldest_pending_delivery_at()
        pending_age = GaugeMetricFamily(
            "gateway_mailbox_oldest_pending_age_seconds",
            "Age of the oldest local delivery its recipient has not confirmed (0: none)",
        )
        pending_age.add_metric([], _age(now, oldest_pending))
        yield pending_age

        depth = store.outbox_depth()
        items = GaugeMetricFamily(
            "gateway_outbox_items",
            "Outbox items by upstream and state (queued, sent, dead, cancelled)",
            labels=["upstream", "state"],
        )
        oldest = GaugeMetricFamily(
            "gateway_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest package queued for an upstream and not yet delivered (0: none)",
            labels=["upstream"],
        )
        dead = GaugeMetricFamily(
            "gateway_dead_letters",
            "Outbox items given up on (dead letters) waiting for an operator, by upstream",
            labels=["upstream"],
        )
        upstreams = sorted({u.name for u in self.settings.upstreams} | {d.upstream for d in depth})
        for row in depth:
            items.add_metric([row.upstream, row.state], float(row.count))
        for name in upstreams:
            queued = [d for d in depth if d.upstream == name and d.state == "queued"]
            oldest.add_metric([name], _age(now, queued[0].oldest_created_at) if queued else 0.0)
            given_up = sum(d.count for d in depth if d.upstream == name and d.state == "dead")
            dead.add_metric([name], float(given_up))
        yield items
        yield oldest
        yield dead

        down = GaugeMetricFamily(
            "gateway_upstream_down_seconds",
            "How long every contact with an upstream (sends, polls) has failed (0: answering)",
            labels=["upstream"],
        )
        lag = GaugeMetricFamily(
            "gateway_poller_lag_seconds",
            "Time since the inbound poller last listed an upstream successfully",
            labels=["upstream"],
        )
        for seen in store.upstream_health():
            down.add_metric([seen.upstream], _age(now, seen.failing_since))
            if seen.last_poll_at:
                lag.add_metric([seen.upstream], _age(now, seen.last_poll_at))
        yield down
        yield lag

    def _certificate_expiry(self) -> Metric:
        family = GaugeMetricFamily(
            "gateway_certificate_expiry_timestamp_seconds",
            "When a certificate expires (Unix time), by role (signing, anchor) and subject",
            labels=["role", "subject"],
        )
        with self._lock:
            if time.monotonic() - self._certificates_at >= CERTIFICATES_EVERY_SECONDS:
                self._certificates = _certificates(self.settings)
                self._certificates_at = time.monotonic()
            known = list(self._certificates)
        for role, subject, not_after in known:
            family.add_metric([role, subject], not_after)
        return family


def _certificates(settings: Settings) -> list[tuple[str, str, float]]:
    """The signing certificate and every trust anchor (nothing when they cannot be read)."""
    found: list[tuple[str, str, float]] = []
    try:
        _key, certificate_file = signing_material(settings, create=False)
        own = load_certificates(certificate_file)
        for certificate in own[:1]:
            found.append(
                (
                    "signing",
                    certificate.subject.rfc4514_string(),
                    certificate.not_valid_after_utc.timestamp(),
                )
            )
        trust = SenderTrust(settings, own_certificates=own)
        for domain in trust.store.domains.values():
            for anchor in domain.anchors:
                found.append(
                    (
                        "anchor",
                        anchor.subject.rfc4514_string(),
                        anchor.not_valid_after_utc.timestamp(),
                    )
                )
    except Exception:
        return found
    return sorted(set(found))


def _age(now: int, since: int) -> float:
    return max(0.0, (now - since) / SECOND) if since else 0.0


def exposition(collector: StoreCollector) -> bytes:
    """Every process's counters (merged in multiprocess mode) and the store's gauges."""
    registry = CollectorRegistry()
    directory = instruments.multiprocess_directory()
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(collector)
    body = generate_latest(registry)
    if directory is None:  # one process: its own registry holds the counters
        body = generate_latest(REGISTRY) + body
    return body


def make_metrics_app(settings: Settings) -> Callable[..., Iterable[bytes]]:
    collector = StoreCollector(settings)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("REQUEST_METHOD", "GET")).upper() not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET")])
            return [b""]
        body = exposition(collector)
        start_response(
            "200 OK",
            [
                ("Content-Type", TEXT_CONTENT_TYPE),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    return app


__all__ = ["PATH", "StoreCollector", "exposition", "make_metrics_app"]
