"""Crash safety: SIGKILL the provincial gateway at random moments while documents and statuses
flow simulator → gateway → local mailboxes and back, restart it, and check that every accepted
package reached every recipient exactly once (none lost, none duplicated, none stuck).

``CRASH_KILLS`` (default 50) sets the number of kills, ``CRASH_SEED`` the seed (printed),
``CRASH_DOCS`` the documents per sender; ``CRASH_BENCH=1`` runs a longer bench (500 kills).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from gateway.config import Settings
from tests.fixtures.cluster import GatewayNode, SimulatorProcess
from tests.fixtures.traffic import GW_SYSTEM, LOCALS, UP_SYSTEM, UPSTREAMS, Traffic, drain

BENCH = os.environ.get("CRASH_BENCH", "") not in ("", "0")
KILLS = int(os.environ.get("CRASH_KILLS", "500" if BENCH else "50"))
DOCS = int(os.environ.get("CRASH_DOCS", "40" if BENCH else "8"))


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, store_settings: Settings
) -> None:
    """On both engines: ``store_settings`` gives PostgreSQL a schema of the test's own."""
    seed = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 32))))
    print(f"crash-safety seed: {seed} (CRASH_SEED={seed} to replay), kills: {KILLS}")
    rng = random.Random(seed)
    sim = SimulatorProcess(tmp_path / "axis", {GW_SYSTEM: "gw-secret", UP_SYSTEM: "up-secret"})
    sim.start()
    node = GatewayNode("province", tmp_path / "province", "", GW_SYSTEM, "gw-secret")
    traffic: Traffic | None = None
    try:
        sim.register(GW_SYSTEM, *LOCALS)
        sim.register(UP_SYSTEM, *UPSTREAMS)
        node = GatewayNode(
            "province",
            tmp_path / "province",
            sim.url,
            GW_SYSTEM,
            "gw-secret",
            database_dsn=store_settings.database_dsn,
            workers=2,
        )
        secrets = node.add_agencies(*LOCALS)
        node.start()
        traffic = Traffic(
            sim, [node], secrets, tmp_path / "scratch",
            documents_per_sender=DOCS, pause=max(0.2, KILLS * 3.0 / DOCS),  # spread over the kills
        )
        traffic.start()
        started = time.monotonic()
        kills = 0
        while kills < KILLS:
            assert not traffic.errors, traffic.report()
            if rng.random() < 0.8:
                node.wait_ready()  # kill a running gateway...
                time.sleep(rng.uniform(0.1, 1.5))
            else:
                time.sleep(rng.uniform(0.0, 1.5))  # ...or one still starting
            node.kill()
            kills += 1
            node.start(wait=False)
        node.wait_ready()
        killing = time.monotonic() - started
        settled = drain(traffic, timeout=float(os.environ.get("CRASH_DRAIN_SECONDS", "180")))
        report = traffic.report()
        draining = time.monotonic() - started - killing
        print(
            f"kills: {kills} in {killing:.0f}s, drained in {draining:.0f}s,"
            f" documents accepted: {len(traffic.accepted)}, client retries: "
            f"{sum(c.retries for c in traffic.clients.values())}\n{report}"
        )
        assert settled, f"seed {seed}: the invariant does not hold after draining:\n{report}"
        assert len(traffic.accepted) == DOCS * 4
    finally:
        if traffic is not None:
            traffic.join()
        node.stop()
        sim.stop()
