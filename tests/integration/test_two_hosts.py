"""Two gateway nodes as two hosts sharing nothing but PostgreSQL.

Each node runs in a network namespace of its own (ip netns, a veth link to the test), with its
own empty ``data_dir``, ``blob_backend = "postgres"``, and the master key and signing key given
to it by configuration. PostgreSQL and the national-axis simulator are reachable from the nodes
only through socat forwarders on each link's own address. A package accepted on node 1 is
fetched on node 2 (the attachment's bytes equal); node 1 is SIGKILLed while it holds outbox
leases, node 2 finishes its work, every outbox item is sent exactly once, and only one node
polls the upstream at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.config import Settings
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.security.credentials import new_master_key
from gateway.security.keys import signing_material
from gateway.store.blobs import FileBlobStore
from tests.conftest import postgres_schema
from tests.fixtures.cluster import (
    AgencyClient,
    GatewayNode,
    SimulatorProcess,
    gateway_db,
    organization,
    wait_until,
)
from tests.fixtures.netns import Host, Hosts, unavailable
from tests.fixtures.packages import MINIMAL_PDF, build_document
from tests.fixtures.traffic import (
    GW_SYSTEM,
    LOCALS,
    UP_SYSTEM,
    UPSTREAMS,
    Key,
    Traffic,
    drain,
)

LEASE_SECONDS = 10  # the smallest the configuration allows
SURVIVOR_BOUND = 30.0  # counted from the dead node's lease expiry
PAIR = ("000.00.00.H97", "000.00.00.H98")


class _Traffic(Traffic):
    """The traffic's own deliveries (the GetPackage check's agencies are not its business)."""

    def observed(self) -> Counter[Key]:
        seen = super().observed()
        return Counter({key: n for key, n in seen.items() if key[0] not in PAIR})


def _micros() -> int:
    return time.time_ns() // 1000


def _through(dsn: str, host: str, port: int) -> str:
    """``dsn`` with its host and port replaced (the forwarder on a node's link)."""
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{auth}{host}:{port}").geturl()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_hosts_share_only_postgresql(tmp_path: Path) -> None:
    if reason := unavailable():
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs iproute2 and socat and runs as root")
        pytest.skip(reason)
    with postgres_schema() as dsn, Hosts(2) as hosts:
        _run(tmp_path, dsn, hosts)


def _run(tmp_path: Path, dsn: str, hosts: list[Host]) -> None:
    sim = SimulatorProcess(tmp_path / "axis", {GW_SYSTEM: "gw-secret", UP_SYSTEM: "up-secret"})
    sim.start()
    pg = urlsplit(dsn)
    sim_port = int(urlsplit(sim.url).port or 80)
    # One key pair and one master key, given to each node as its own files and settings.
    keys = Settings(data_dir=tmp_path / "keys", gateway_id="edoc-two-hosts")
    key_file, cert_file = signing_material(keys)
    master_key = new_master_key()
    nodes = []
    for index, host in enumerate(hosts, 1):
        own = tmp_path / f"host{index}"
        own.mkdir()
        shutil.copy(key_file, own / "gateway.key")
        shutil.copy(cert_file, own / "gateway.crt")
        node_dsn = _through(dsn, host.gateway, host.forward(pg.port or 5432, pg.hostname or ""))
        upstream = f"http://{host.gateway}:{host.forward(sim_port)}"
        nodes.append(
            GatewayNode(
                f"node-{index}", own / "data", upstream, GW_SYSTEM, "gw-secret",
                database_dsn=node_dsn, host=host.address, launcher=host.launcher,
                relay={
                    "relay_lease_seconds": LEASE_SECONDS,
                    # one send at a time: with slow sends node 1 still holds a lease when killed
                    "relay_concurrency": 1,
                    "blob_backend": "postgres",
                    "master_key": master_key,
                    "signing_key_file": str(own / "gateway.key"),
                    "signing_cert_file": str(own / "gateway.crt"),
                },
            )
        )
    one, two = nodes
    traffic: _Traffic | None = None
    owners: list[str] = []
    sampling = threading.Event()
    try:
        sim.register(GW_SYSTEM, *LOCALS)
        sim.register(UP_SYSTEM, *UPSTREAMS)
        secrets = one.add_agencies(*LOCALS, *PAIR)
        one.start()
        two.start()
        for node in nodes:
            assert not (node.data_dir / "blobs").exists(), "no blob is kept on a node's disk"

        # accepted on node 1, fetched and confirmed on node 2: the bytes come from PostgreSQL
        scratch = FileBlobStore(tmp_path / "scratch-blobs", durable=False)
        content = MINIMAL_PDF + bytes(range(256)) * 12_000  # about 3 MB: several chunks
        sender, receiver = PAIR  # not the traffic's agencies: its counts stay exact
        pkg = build_document(
            scratch, content, from_=organization(sender), to=(organization(receiver),),
            document_id=f"{sender},2024/03/05,1/TWO-HOSTS",
        )
        receipt = AgencyClient(one, sender, secrets[sender]).send_document(
            package_bytes(pkg, scratch)
        )
        reader = AgencyClient(two, receiver, secrets[receiver])
        fetched = reader.call("GetPackage", receipt.packageId)
        got = read_package(bytes(fetched.package), scratch)
        (attachment,) = got.attachments  # type: ignore[union-attr]
        assert scratch.read_bytes(attachment.file) == content
        assert reader.confirm(receipt.packageId).outcome == "ok"

        sim.set_faults([{"kind": "delay", "arg": 1500, "operation": "sendEdoc"}])

        def sample_poller_owner() -> None:
            with gateway_db(one.settings()) as query:
                while not sampling.is_set():
                    rows = query("SELECT owner FROM leases WHERE name = 'poller:national'")
                    if rows and (not owners or owners[-1] != rows[0][0]):
                        owners.append(rows[0][0])
                    sampling.wait(0.1)

        sampler = threading.Thread(target=sample_poller_owner, daemon=True)
        sampler.start()
        traffic = _Traffic(
            sim, nodes, secrets, tmp_path / "scratch", documents_per_sender=5, pause=0.3
        )
        traffic.start()
        wait_until(traffic.senders_done, 180, "the senders")
        assert not traffic.errors, traffic.report()

        relay_pids = one.relay_pids()
        assert relay_pids, "node 1 runs a relay child"
        tags = tuple(f":{pid}:" for pid in relay_pids)

        def one_holds_lease() -> bool:
            with gateway_db(one.settings()) as query:
                rows = query(
                    "SELECT lease_owner FROM outbox WHERE state = 'queued'"
                    f" AND lease_expires_at > {_micros()}"
                )
            return any(any(t in owner for t in tags) for (owner,) in rows)

        wait_until(one_holds_lease, 90, "node 1 to hold an outbox lease", every=0.05)
        killed_at = _micros()
        one.kill()
        with gateway_db(two.settings()) as query:
            leases = query(
                "SELECT lease_owner, lease_expires_at FROM outbox WHERE lease_expires_at > 0"
            ) + query("SELECT owner, expires_at FROM leases")
        expiry = max([killed_at] + [u for o, u in leases if any(t in o for t in tags)])
        sim.set_faults([])
        bound = (expiry - _micros()) / 1e6 + SURVIVOR_BOUND
        settled = drain(traffic, timeout=max(bound, 1.0))
        report = traffic.report()
        print(f"poller owners: {owners}\n{report}")
        assert settled, f"node 2 did not finish the work within {SURVIVOR_BOUND}s:\n{report}"

        with gateway_db(two.settings()) as query:
            sent = query("SELECT details_json FROM audit_log WHERE event = 'relay.sent'")
            outbox = query("SELECT id FROM outbox")
            duplicates = query(
                "SELECT sender, at FROM audit_log a JOIN packages p ON p.id = a.subject "
                "WHERE a.event LIKE '%.duplicate'"
            )
        per_item = Counter(json.loads(details)["outbox_id"] for (details,) in sent)
        assert sorted(per_item) == sorted(row[0] for row in outbox)
        assert set(per_item.values()) == {1}, f"outbox items sent twice: {per_item}"
        nodes_sending = {json.loads(details)["node"].split(":")[1] for (details,) in sent}
        assert len(nodes_sending) >= 2, "both nodes' relays took outbox work"
        refetched = [row for row in duplicates if row[0] in UPSTREAMS and row[1] < killed_at]
        assert not refetched, f"inbound packages fetched twice before the kill: {refetched}"
        assert len(owners) <= 2, f"the poller lease changed hands while both ran: {owners}"
        for node in nodes:
            assert not (node.data_dir / "blobs").exists()
    finally:
        sampling.set()
        if traffic is not None:
            traffic.join()
        for node in nodes:
            node.stop()
        sim.stop()

