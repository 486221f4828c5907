"""Two gateway nodes (two ``serve`` processes, each with its relay) on one PostgreSQL schema.

They share the outbox and the inbound poller safely: no outbox item is sent twice, only one
node polls the upstream at a time, and when one node is SIGKILLed while it holds leases the
survivor finishes all the work within 30 s of those leases expiring.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import _postgres_dsn
from tests.fixtures.cluster import GatewayNode, SimulatorProcess, gateway_db, wait_until
from tests.fixtures.traffic import GW_SYSTEM, LOCALS, UP_SYSTEM, UPSTREAMS, Traffic, drain

LEASE_SECONDS = 10  # the smallest the configuration allows
SURVIVOR_BOUND = 30.0  # the requirement, counted from the dead node's lease expiry


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A DSN scoped to a fresh schema (dropped afterwards); fails on CI without PostgreSQL."""
    import psycopg

    dsn = _postgres_dsn()
    schema = f"edoc_multi_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _micros() -> int:
    return time.time_ns() // 1000


@pytest.mark.slow
@pytest.mark.postgres
def test_two_nodes_share_work_and_survive_a_kill(tmp_path: Path, postgres_schema: str) -> None:
    sim = SimulatorProcess(tmp_path / "axis", {GW_SYSTEM: "gw-secret", UP_SYSTEM: "up-secret"})
    sim.start()
    shared = tmp_path / "shared"  # one blob store and master key for both nodes
    nodes = [
        GatewayNode(
            name, shared, sim.url, GW_SYSTEM, "gw-secret", database_dsn=postgres_schema,
            # one send at a time: with 1.5 s sends the outbox keeps a backlog, so node A is
            # still holding a lease when the senders finish and it is killed
            relay={"relay_lease_seconds": LEASE_SECONDS, "relay_concurrency": 1},
        )
        for name in ("node-a", "node-b")
    ]
    a, b = nodes
    traffic: Traffic | None = None
    owners: list[str] = []
    sampling = threading.Event()
    try:
        sim.register(GW_SYSTEM, *LOCALS)
        sim.register(UP_SYSTEM, *UPSTREAMS)
        secrets = a.add_agencies(*LOCALS)
        # slow sends keep outbox leases held while a send is in flight
        sim.set_faults([{"kind": "delay", "arg": 1500, "operation": "sendEdoc"}])
        a.start()
        b.start()

        def sample_poller_owner() -> None:
            with gateway_db(a.settings()) as query:
                while not sampling.is_set():
                    rows = query("SELECT owner FROM leases WHERE name = 'poller:national'")
                    if rows and (not owners or owners[-1] != rows[0][0]):
                        owners.append(rows[0][0])
                    sampling.wait(0.1)

        sampler = threading.Thread(target=sample_poller_owner, daemon=True)
        sampler.start()
        traffic = Traffic(sim, nodes, secrets, tmp_path / "scratch", documents_per_sender=6,
                          pause=0.3)
        traffic.start()
        wait_until(traffic.senders_done, 120, "the senders")
        assert not traffic.errors, traffic.report()

        # kill node A while its relay holds at least one outbox lease
        relay_pids = a.relay_pids()
        assert relay_pids, "node A runs a relay child"
        tags = tuple(f":{pid}:" for pid in relay_pids)

        def a_holds_lease() -> bool:
            with gateway_db(a.settings()) as query:
                rows = query(
                    "SELECT lease_owner, lease_expires_at FROM outbox WHERE state = 'queued'"
                    f" AND lease_expires_at > {_micros()}"
                )
            return any(any(t in owner for t in tags) for owner, _ in rows)

        wait_until(a_holds_lease, 60, "node A to hold an outbox lease", every=0.05)
        killed_at = _micros()
        a.kill()
        with gateway_db(b.settings()) as query:
            leases = query(
                "SELECT lease_owner, lease_expires_at FROM outbox WHERE lease_expires_at > 0"
            ) + query("SELECT owner, expires_at FROM leases")
        expiry = max(
            [killed_at]
            + [until for owner, until in leases if any(t in owner for t in tags)]
        )
        sim.set_faults([])
        bound = (expiry - _micros()) / 1e6 + SURVIVOR_BOUND
        settled = drain(traffic, timeout=max(bound, 1.0))
        finished = _micros()
        report = traffic.report()
        print(
            f"node A killed holding leases until +{(expiry - killed_at) / 1e6:.1f}s; survivor "
            f"done {(finished - expiry) / 1e6:.1f}s after expiry; poller owners: {owners}\n"
            f"{report}"
        )
        assert settled, f"not all delivered within {SURVIVOR_BOUND}s of lease expiry:\n{report}"

        with gateway_db(b.settings()) as query:
            sent = query("SELECT details_json FROM audit_log WHERE event = 'relay.sent'")
            duplicates = query(
                "SELECT sender, at FROM audit_log a JOIN packages p ON p.id = a.subject "
                "WHERE a.event LIKE '%.duplicate'"
            )
            outbox = query("SELECT id FROM outbox")
        per_item = Counter(json.loads(details)["outbox_id"] for (details,) in sent)
        assert sorted(per_item) == sorted(row[0] for row in outbox)
        assert set(per_item.values()) == {1}, f"outbox items sent twice: {per_item}"
        nodes_sending = {json.loads(details)["node"].split(":")[1] for (details,) in sent}
        assert len(nodes_sending) >= 2, "both nodes' relays took outbox work"
        # no inbound package was fetched and stored twice while both nodes polled
        refetched = [row for row in duplicates if row[0] in UPSTREAMS and row[1] < killed_at]
        assert not refetched, f"inbound packages fetched twice before the kill: {refetched}"
        # one poller at a time: the lease passed to another owner only when one died
        assert len(owners) <= 2, f"the poller lease changed hands while both ran: {owners}"
    finally:
        sampling.set()
        if traffic is not None:
            traffic.join()
        for node in nodes:
            node.stop()
        sim.stop()
