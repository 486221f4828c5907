"""The relay core on a real store (SQLite file and PostgreSQL): routing and bundling, the outbox
state machine driven by the worker, the inbound poller, and the CLI. Upstreams are the scripted
in-memory connector of tests/fixtures/upstream.py (the real protocols are tested separately)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.config import RouteRule, Settings, UpstreamSettings
from gateway.edxml.enums import BusinessDocType, StatusCode
from gateway.edxml.model import Business, Organization, TraceHeader
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.errors import InvalidPackage
from gateway.exchange import Exchange
from gateway.relay.connector import (
    OutboundPackage,
    PermanentRelayError,
    RemoteAgency,
    SendResult,
    TransientRelayError,
)
from gateway.relay.directory import DirectoryEntry, sync_directory
from gateway.relay.outbox import SECOND
from gateway.relay.poller import InboundPoller
from gateway.relay.worker import RelayWorker
from gateway.store import open_store
from gateway.store.base import to_micros
from gateway.store.sql import SqlStore
from tests.fixtures.packages import build_document, build_status
from tests.fixtures.upstream import ScriptedUpstream

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"  # local agencies
EXT1, EXT2 = "000.00.00.H53", "000.00.01.H53"  # reached through the national axis
MINISTRY = "000.00.00.G01"  # routed to the ministry's gateway by a [[route]]
NOW = dt.datetime(2026, 11, 21, 6, 0, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _upstream(name: str) -> UpstreamSettings:
    return UpstreamSettings(name=name, protocol="vxp", endpoint="http://127.0.0.1:9/")


def relay_settings(base: Settings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "upstreams": (_upstream("national"), _upstream("ministry")),
        "routes": (RouteRule(upstream="ministry", level1="G01"),),
        "default_upstream": "national",
        "relay_max_attempts": 4,
        "relay_circuit_failures": 3,
    }
    values.update(overrides)
    return replace(base, **values)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return relay_settings(store_settings)


def _exchange(settings: Settings, clock: Clock) -> Exchange:
    ex = Exchange(settings, clock=clock)
    for code, name in ((SENDER, "Văn phòng Chính phủ"), (RECEIVER, "UBND Tỉnh Nghệ An")):
        if ex.store.get_agency(code) is None:
            ex.credentials.add_agency(code, name, "", clock())
    return ex


@pytest.fixture
def exchange(settings: Settings, clock: Clock) -> Iterator[Exchange]:
    ex = _exchange(settings, clock)
    yield ex
    ex.close()


@pytest.fixture
def store(exchange: Exchange) -> SqlStore:
    assert isinstance(exchange.store, SqlStore)
    return exchange.store


@pytest.fixture
def national() -> ScriptedUpstream:
    return ScriptedUpstream("national")


def _worker(
    exchange: Exchange,
    store: SqlStore,
    clock: Clock,
    *upstreams: ScriptedUpstream,
    owner: str = "node-a",
    seed: float = 0.5,
    concurrency: int = 1,
) -> RelayWorker:
    """One send at a time unless asked: the scripted failures then hit items in claim order."""
    return RelayWorker(
        exchange.settings,
        store,
        exchange.blobs,
        {u.name: u for u in upstreams},
        owner=owner,
        clock=clock,
        rand=lambda: seed,
        concurrency=concurrency,
    )


def _document(exchange: Exchange, *to: str, number: str = "12", **kwargs: Any) -> bytes:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 relay " + number.encode())
    document_id = f"{SENDER},2024/03/05,{number}/VPCP-TTĐT"
    header = replace(
        pkg.header,
        to=tuple(Organization(organ_id=code) for code in to),
        document_id=document_id,
        code=replace(pkg.header.code, code_number=number),
    )
    pkg = replace(pkg, header=header, **kwargs)
    return package_bytes(pkg, exchange.blobs)


def _count(store: SqlStore, table: str) -> int:
    with store._tx("read") as q:
        row = q.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def _events(store: SqlStore, prefix: str) -> list[Any]:
    return [r for r in store.audit_records(0, 10_000) if r.event.startswith(prefix)]


# -- routing and bundling ----------------------------------------------------------------------


def test_routing_order_local_directory_route_default(exchange: Exchange, store: SqlStore) -> None:
    store.upsert_directory(
        [DirectoryEntry("000.00.00.G01", "national", code_qd20="G01", source="manual")],
        to_micros(NOW),
        "operator",
    )
    router = exchange.router
    assert router.resolve(RECEIVER).local  # type: ignore[union-attr]
    by_directory = router.resolve("000.00.00.G01")  # directory beats the G01 route
    assert by_directory is not None and by_directory.upstream == "national"
    assert router.resolve("G01").upstream == "national"  # type: ignore[union-attr]  # QĐ 20 form
    by_route = router.resolve("000.01.00.G01")
    assert by_route is not None and by_route.upstream == "ministry"
    assert router.resolve(EXT1).upstream == "national"  # type: ignore[union-attr]


def test_unknown_recipient_without_default_upstream_is_refused(
    settings: Settings, clock: Clock
) -> None:
    ex = _exchange(replace(settings, default_upstream=""), clock)
    try:
        before = {t: _count(ex.store, t) for t in ("packages", "outbox", "deliveries")}  # type: ignore[arg-type]
        with pytest.raises(InvalidPackage) as caught:
            ex.send_document(SENDER, _document(ex, RECEIVER, EXT1))
        assert caught.value.code == "R.MessageHeader.To.OrganId"
        assert "[2]/OrganId" in caught.value.path and EXT1 in caught.value.message
        after = {t: _count(ex.store, t) for t in ("packages", "outbox", "deliveries")}  # type: ignore[arg-type]
        assert before == after
    finally:
        ex.close()


def test_document_splits_into_local_deliveries_and_one_send_per_upstream(
    exchange: Exchange, store: SqlStore
) -> None:
    receipt = exchange.send_document(SENDER, _document(exchange, RECEIVER, EXT1, MINISTRY, EXT2))
    assert store.get_delivery(receipt.package_id, RECEIVER) is not None
    assert store.get_delivery(receipt.package_id, EXT1) is None
    items = {i.upstream: i for i in store.outbox_items(package_id=receipt.package_id)}
    assert set(items) == {"national", "ministry"}
    assert items["national"].recipients == (EXT1, EXT2)
    assert items["ministry"].recipients == (MINISTRY,)
    for item in items.values():
        data = exchange.blobs.read_bytes(item.blob_sha256)
        pkg = read_package(data, exchange.blobs)
        assert tuple(t.organ_id for t in pkg.header.to) == item.recipients  # type: ignore[union-attr]
        assert b"<Signature" in data or b":Signature" in data  # signed by the gateway
        assert item.state == "queued" and item.document_key == pkg.header.document_id
    accepted = _events(store, "document.accepted")[-1]
    assert accepted.details["upstream_sends"] == f"national={EXT1},{EXT2};ministry={MINISTRY}"


def test_a_duplicate_queues_nothing_twice(exchange: Exchange, store: SqlStore) -> None:
    data = _document(exchange, EXT1)
    first = exchange.send_document(SENDER, data)
    again = exchange.send_document(SENDER, data)
    assert again.duplicate and again.package_id == first.package_id
    assert len(store.outbox_items()) == 1


def test_status_for_an_external_sender_goes_to_its_upstream(
    exchange: Exchange, store: SqlStore
) -> None:
    status = build_status(
        StatusCode.ACCEPTED,
        from_=Organization(organ_id=RECEIVER),
    )
    status = replace(
        status,
        header=replace(
            status.header,
            response_for=replace(status.header.response_for, organ_id=EXT1),  # type: ignore[type-var]
        ),
    )
    receipt = exchange.send_status(RECEIVER, package_bytes(status, exchange.blobs))
    (item,) = store.outbox_items(package_id=receipt.package_id)
    assert (item.upstream, item.kind, item.recipients) == ("national", "status", (EXT1,))
    assert _count(store, "deliveries") == 0


# -- the worker ----------------------------------------------------------------------------------


def test_worker_sends_and_audits(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    receipt = exchange.send_document(SENDER, _document(exchange, EXT1, EXT2))
    result = _worker(exchange, store, clock, national).run_once()
    assert result.sent == 1
    (sent,) = national.sent
    assert sent.recipients == (EXT1, EXT2) and sent.package_id == receipt.package_id
    (item,) = store.outbox_items()
    assert (item.state, item.attempts, item.remote_id, item.lease_owner) == (
        "sent",
        1,
        "remote-1",
        "",
    )
    (event,) = _events(store, "relay.sent")
    assert event.subject == receipt.package_id and event.details["remote_id"] == "remote-1"
    assert _worker(exchange, store, clock, national).run_once().attempted == 0  # nothing left


def test_transient_failures_back_off_then_dead_letter_after_max_attempts(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    exchange.send_document(SENDER, _document(exchange, EXT1))
    national.failures = [TransientRelayError("N.Net", f"timeout {n}") for n in range(10)]
    worker = _worker(exchange, store, clock, national, seed=0.0)  # lowest jitter: 0.8x
    delays = []
    for attempt in range(1, 4):
        assert worker.run_once().retried == 1
        (item,) = store.outbox_items()
        delay = (item.next_attempt_at - to_micros(clock())) / SECOND
        delays.append(delay)
        assert delay == pytest.approx(0.8 * 5 * 2 ** (attempt - 1))
        assert item.last_error.endswith(f"timeout {attempt - 1}")
        assert worker.run_once().attempted == 0  # not due yet
        clock.advance(max(delay, exchange.settings.relay_circuit_cooldown_seconds))
    assert worker.run_once().dead == 1  # the 4th attempt is the last (relay_max_attempts = 4)
    (item,) = store.outbox_items()
    assert item.state == "dead" and "after 4 attempts" in item.last_error
    assert [e.event for e in _events(store, "relay.")] == ["relay.retry"] * 3 + ["relay.dead"]
    assert national.sent == []


def test_dead_letter_after_max_age_even_while_unreachable(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    exchange.send_document(SENDER, _document(exchange, EXT1))
    clock.advance(exchange.settings.relay_max_age_hours * 3600 + 1)
    result = _worker(exchange, store, clock, national).run_once()
    assert result.expired == 1 and result.attempted == 0
    (item,) = store.outbox_items()
    assert item.state == "dead" and "relay_max_age_hours" in item.last_error


def test_permanent_refusal_is_a_dead_letter_at_once(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    exchange.send_document(SENDER, _document(exchange, EXT1))
    national.failures = [PermanentRelayError("R.Upstream", "unknown unit 000.00.00.H53")]
    assert _worker(exchange, store, clock, national).run_once().dead == 1
    (item,) = store.outbox_items()
    assert item.state == "dead" and item.attempts == 1 and "unknown unit" in item.last_error


def test_circuit_breaker_opens_probes_and_closes(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    for number in ("1", "2", "3", "4"):
        exchange.send_document(SENDER, _document(exchange, EXT1, number=number))
    national.down = True
    worker = _worker(exchange, store, clock, national)
    first = worker.run_once()
    assert (first.retried, first.released) == (3, 1)  # opened after 3 failures; 4th untried
    clock.advance(30)  # all retry times passed, but the circuit is still cooling down
    assert worker.run_once().attempted == 0
    clock.advance(exchange.settings.relay_circuit_cooldown_seconds)
    assert worker.run_once().attempted == 1  # half-open: one probe, which fails
    clock.advance(exchange.settings.relay_circuit_cooldown_seconds)
    national.down = False
    assert worker.run_once().sent == 1  # the probe succeeds: closed
    assert worker.run_once().sent == 3


def test_revoke_and_status_never_overtake_their_document(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    original = exchange.send_document(SENDER, _document(exchange, EXT1, number="7"))
    document_id = f"{SENDER},2024/03/05,7/VPCP-TTĐT"
    base = read_package(_document(exchange, EXT1, number="8"), exchange.blobs)
    revoke = replace(
        base,
        trace=replace(
            base.trace,  # type: ignore[union-attr]
            business=Business(
                document_id=document_id,
                doc_type=BusinessDocType.REVOKE,
                reason="Thu hồi",
                paper="0",
            ),
        ),
    )
    revoked = exchange.send_document(SENDER, package_bytes(revoke, exchange.blobs))
    other = exchange.send_document(SENDER, _document(exchange, EXT1, number="9"))
    national.failures = [TransientRelayError("N.Net", "reset")]
    worker = _worker(exchange, store, clock, national)
    worker.run_once()
    # The original failed; the unrelated document went; the revoke waits behind the original.
    assert [s.package_id for s in national.sent] == [other.package_id]
    clock.advance(3600)
    worker.run_once()  # the original goes; the revoke was still waiting when this batch was claimed
    assert [s.package_id for s in national.sent][1:] == [original.package_id]
    worker.run_once()
    assert [s.package_id for s in national.sent] == [
        other.package_id,
        original.package_id,
        revoked.package_id,
    ]


class _OverlapUpstream(ScriptedUpstream):
    """Records which packages are in flight together; the first two sends wait for each other
    (a barrier), so a worker that never overlaps sends fails instead of passing by luck."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=20)
        self.in_flight: set[str] = set()
        self.together: list[set[str]] = []
        self.calls = 0

    def send(self, package: OutboundPackage) -> SendResult:
        with self.lock:
            self.calls += 1
            first_two = self.calls <= 2
            self.in_flight.add(package.package_id)
            self.together.append(set(self.in_flight))
        try:
            if first_two:
                self.barrier.wait()
            return super().send(package)
        finally:
            with self.lock:
                self.in_flight.discard(package.package_id)


def test_concurrent_sends_overlap_but_never_for_the_same_document(
    exchange: Exchange, store: SqlStore, clock: Clock
) -> None:
    upstream = _OverlapUpstream()
    original = exchange.send_document(SENDER, _document(exchange, EXT1, number="7"))
    base = read_package(_document(exchange, EXT1, number="8"), exchange.blobs)
    revoke = replace(
        base,
        trace=replace(
            base.trace,  # type: ignore[union-attr]
            business=Business(
                document_id=f"{SENDER},2024/03/05,7/VPCP-TTĐT",
                doc_type=BusinessDocType.REVOKE,
                reason="Thu hồi",
                paper="0",
            ),
        ),
    )
    revoked = exchange.send_document(SENDER, package_bytes(revoke, exchange.blobs))
    others = [
        exchange.send_document(SENDER, _document(exchange, EXT1, number=str(20 + n)))
        for n in range(6)
    ]
    worker = _worker(exchange, store, clock, upstream, concurrency=4)
    try:
        rounds = [worker.run_once() for _ in range(3)]
    finally:
        worker.close()
    assert sum(r.sent for r in rounds) == 8 and rounds[0].sent == 7  # the revoke waited a step
    order = [s.package_id for s in upstream.sent]
    assert sorted(order) == sorted(
        [original.package_id, revoked.package_id, *(o.package_id for o in others)]
    )
    assert order.index(original.package_id) < order.index(revoked.package_id)
    assert max(len(group) for group in upstream.together) >= 2  # sends did overlap
    assert not any(
        {original.package_id, revoked.package_id} <= group for group in upstream.together
    )
    assert store.outbox_counts() == {"sent": 8}


def test_expired_lease_is_taken_over_and_the_late_outcome_discarded(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    exchange.send_document(SENDER, _document(exchange, EXT1))
    now = to_micros(clock())
    lease = exchange.settings.relay_lease_seconds * SECOND
    (claimed,) = store.claim_outbox("national", "dead-node", now, now + lease, 10)
    survivor = _worker(exchange, store, clock, national, owner="survivor")
    assert survivor.run_once().attempted == 0  # the lease is live
    clock.advance(exchange.settings.relay_lease_seconds + 1)
    assert survivor.run_once().sent == 1
    late = store.finish_outbox(claimed.id, "dead-node", to_micros(clock()), "dead", error="x")
    assert late is None
    (item,) = store.outbox_items()
    assert item.state == "sent"


def test_concurrent_claimers_never_share_an_item(
    exchange: Exchange, store: SqlStore, settings: Settings
) -> None:
    for number in range(30):
        exchange.send_document(SENDER, _document(exchange, EXT1, number=str(100 + number)))
    now = to_micros(NOW)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    stores = {name: open_store(settings) for name in claimed}
    barrier = threading.Barrier(2)

    def claim(name: str) -> None:
        barrier.wait(timeout=30)
        while batch := stores[name].claim_outbox("national", name, now, now + 10**9, 3):
            claimed[name].extend(item.id for item in batch)

    threads = [threading.Thread(target=claim, args=(name,)) for name in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in stores.values():
        s.close()
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(i.id for i in store.outbox_items())


# -- the inbound poller -------------------------------------------------------------------------


def _inbound_document(exchange: Exchange, number: str = "55") -> bytes:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 inbound " + number.encode())
    header = replace(
        pkg.header,
        from_=Organization(organ_id=EXT1),
        to=(Organization(organ_id=RECEIVER), Organization(organ_id=EXT2)),
        document_id=f"{EXT1},2024/03/05,{number}/UBND",
    )
    trace = replace(
        pkg.trace, trace_headers=(TraceHeader(EXT1, dt.datetime(2024, 3, 5, 8, 9, 10)),)
    )
    return package_bytes(replace(pkg, header=header, trace=trace), exchange.blobs)


def test_poller_delivers_then_acknowledges_and_recognises_a_refetch(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    data = _inbound_document(exchange)
    national.inbound["r1"] = ("document", data)
    poller = InboundPoller(exchange, store, national, "national", owner="node-a", clock=clock)
    result = poller.run_once()
    assert (result.accepted, result.refused) == (1, 0)
    assert national.acks == [("r1", True, "")]
    page = exchange.get_pending(RECEIVER, "document", 10, "")
    assert [i.sender for i in page.items] == [EXT1]
    learned = store.directory_entry(EXT1)
    assert learned is not None and (learned.upstream, learned.source) == ("national", "learned")
    # The upstream delivers it again (our ack was lost): acknowledged, not delivered twice.
    national.inbound["r1-again"] = ("document", data)
    again = poller.run_once()
    assert (again.accepted, again.duplicates) == (0, 1)
    assert national.acks[-1] == ("r1-again", True, "")
    assert len(exchange.get_pending(RECEIVER, "document", 10, "").items) == 1
    # STATUS 01 on confirmation goes back upstream to the external sender.
    item = page.items[0]
    confirmed = exchange.confirm_received(RECEIVER, item.package_id, "ok", "")
    (status,) = store.outbox_items(package_id=confirmed.status_package_id)
    assert (status.upstream, status.recipients, status.kind) == ("national", (EXT1,), "status")


def test_poller_acknowledges_only_after_commit(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    national.inbound["r1"] = ("document", _inbound_document(exchange))
    national.fetch_failures = [TransientRelayError("N.Net", "reset while fetching")]
    poller = InboundPoller(exchange, store, national, "national", clock=clock)
    assert poller.run_once().deferred == 1
    assert national.acks == [] and _count(store, "packages") == 0
    national.ack_failures = [TransientRelayError("N.Net", "ack timed out")]
    assert poller.run_once().accepted == 1  # committed; the ack failed and is retried
    assert national.acks == [] and "r1" in national.inbound
    assert poller.run_once().duplicates == 1
    assert national.acks == [("r1", True, "")]
    assert _count(store, "deliveries") == 1


def test_poller_refuses_invalid_packages_with_a_fail_ack(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    # Issue 14 item 2 changed this: a package from a local agency that this gateway never sent
    # is delivered with an R.MessageHeader.From.OrganId warning (the axis's test platform sends
    # to itself); only our own send reflected back is refused (tests/integration/
    # test_inbound_lenient.py). No local recipient and unreadable input are still refused.
    national.inbound["no-recipient"] = ("document", _document(exchange, "000.00.05.H53"))
    national.inbound["garbage"] = ("status", b"<not-edxml/>")
    result = InboundPoller(exchange, store, national, "national", clock=clock).run_once()
    assert result.refused == 2
    reasons = {remote: (ok, reason) for remote, ok, reason in national.acks}
    assert reasons["no-recipient"][0] is False
    assert "R.MessageHeader.To.OrganId" in reasons["no-recipient"][1]
    assert reasons["garbage"][0] is False and reasons["garbage"][1]
    assert _count(store, "packages") == 0
    assert len(_events(store, "relay.inbound.refused")) == 2


def test_one_poller_per_upstream(
    exchange: Exchange, store: SqlStore, clock: Clock, national: ScriptedUpstream
) -> None:
    national.inbound["r1"] = ("document", _inbound_document(exchange))
    first = InboundPoller(exchange, store, national, "national", owner="a", clock=clock)
    second = InboundPoller(exchange, store, national, "national", owner="b", clock=clock)
    assert first.run_once().accepted == 1
    assert second.run_once().leased is False
    clock.advance(exchange.settings.relay_lease_seconds + 1)  # a dies; b takes over
    assert second.run_once().leased is True
    assert first.run_once().leased is False


def test_directory_sync_upserts_and_keeps_local_agencies(
    exchange: Exchange, store: SqlStore, national: ScriptedUpstream
) -> None:
    national.directory = [
        RemoteAgency(EXT1, "UBND tỉnh Tây Ninh", code_qd20="H53"),
        RemoteAgency(RECEIVER, "listed upstream too"),  # local: never overwritten
        RemoteAgency("", "QĐ 20 only", code_qd20="H53.01"),
        RemoteAgency("bad code", "broken"),
    ]
    result = sync_directory(store, national, "national", to_micros(NOW))
    assert (result.listed, result.added, result.updated, result.skipped) == (4, 2, 0, ("bad code",))
    assert store.directory_entry("H53") == store.directory_entry(EXT1)
    assert store.get_agency(RECEIVER) is not None and store.directory_entry(RECEIVER) is None
    national.directory = [RemoteAgency(EXT1, "renamed", code_qd20="H53")]
    again = sync_directory(store, national, "national", to_micros(NOW))
    assert (again.added, again.updated) == (0, 1)
    assert len(store.list_directory()) == 2  # nothing deleted
    assert exchange.router.resolve("H53.01").upstream == "national"  # type: ignore[union-attr]


# -- the CLI ------------------------------------------------------------------------------------


def test_queue_and_directory_commands(
    exchange: Exchange,
    store: SqlStore,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exchange.send_document(SENDER, _document(exchange, EXT1))
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{settings.data_dir}"\ndatabase_dsn = "{settings.database_dsn}"\n'
        '[[upstream]]\nname = "national"\nprotocol = "vxp"\nendpoint = "http://127.0.0.1:9/"\n',
        "utf-8",
    )
    (item,) = store.outbox_items()
    args = ["--config", str(config)]
    assert main(["queue", "list", *args]) == 0
    out = capsys.readouterr().out
    assert "queued: 1" in out and item.package_id in out
    assert main(["queue", "show", str(item.id), *args]) == 0
    assert EXT1 in capsys.readouterr().out
    assert main(["queue", "cancel", str(item.id), "--reason", "sent by post", *args]) == 0
    assert store.outbox_item(item.id).state == "cancelled"  # type: ignore[union-attr]
    assert main(["queue", "cancel", str(item.id), *args]) == 2  # already cancelled: refused
    assert "only a queued or dead" in capsys.readouterr().err
    assert main(["queue", "retry", str(item.id), "--actor", "ops-anna", *args]) == 0
    assert store.outbox_item(item.id).state == "queued"  # type: ignore[union-attr]
    events = [(e.event, e.actor) for e in _events(store, "admin.outbox")]
    assert events == [("admin.outbox.cancel", "operator"), ("admin.outbox.retry", "ops-anna")]
    assert main(["queue", "show", "999999", *args]) == 2
    assert main(["directory", "add", EXT2, "national", "--qd20", "H53.01", *args]) == 0
    assert main(["directory", "add", EXT2, "nowhere", *args]) == 2
    assert main(["directory", "add", RECEIVER, "national", *args]) == 2  # a local agency
    capsys.readouterr()
    assert main(["directory", "list", *args]) == 0
    listing = capsys.readouterr().out
    assert EXT2 in listing and "H53.01" in listing and RECEIVER in listing
