"""Retention on a real store (SQLite and PostgreSQL; file and PostgreSQL blobs): confirmed and
delivered packages lose their content, their identity stays for duplicate detection, then goes;
the blob collector removes only what nothing references; every purge is in the audit log, which
still verifies; a SIGKILL in the middle of a purge or of a collection loses nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.chain import verify as verify_audit
from gateway.config import Settings
from gateway.edxml.writer import package_bytes
from gateway.errors import GatewayError
from gateway.exchange import Exchange, Receipt
from gateway.store.retention import DAY, collect_blobs, run_retention
from tests.fixtures.cluster import organization
from tests.fixtures.packages import MINIMAL_PDF, build_document
from tests.fixtures.stores import BLOB_SETUPS, setup_settings

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"
T0 = dt.datetime(2026, 1, 5, 8, 0, 0, tzinfo=dt.UTC)
HOUR = 3600 * 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=BLOB_SETUPS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with setup_settings(request.param, tmp_path / "data") as settings:
        yield dataclasses.replace(
            settings,
            retention_document_days=30,
            retention_status_days=30,
            retention_duplicate_days=365,
            blob_collect_grace_hours=1,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def exchange(settings: Settings, clock: Clock) -> Iterator[Exchange]:
    ex = Exchange(settings, clock=clock)
    for code in (SENDER, RECEIVER):
        ex.credentials.add_agency(code, f"Agency {code}", "", clock())
    yield ex
    ex.close()


def _document(ex: Exchange, number: int) -> bytes:
    content = MINIMAL_PDF + f"document {number} ".encode() * 50
    pkg = build_document(
        ex.blobs,
        content,
        from_=organization(SENDER),
        to=(organization(RECEIVER),),
        document_id=f"{SENDER},2026/01/05,{number}/RT",
    )
    return package_bytes(pkg, ex.blobs)


def _confirmed(ex: Exchange, number: int) -> Receipt:
    """A document sent and confirmed by its recipient (its content may then be purged)."""
    receipt = ex.send_document(SENDER, _document(ex, number))
    ex.confirm_received(RECEIVER, receipt.package_id, "ok", "")
    return receipt


def _rows(ex: Exchange, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with ex.store._tx() as q:  # type: ignore[attr-defined]
        return list(q.all(sql, params))


def _referenced(ex: Exchange, package_id: str) -> set[str]:
    rows = _rows(ex, "SELECT blob_sha256 FROM package_blobs WHERE package_id = ?", (package_id,))
    return {r["blob_sha256"] for r in rows}


def _micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _audit_ok(ex: Exchange) -> list[Any]:
    records = ex.store.audit_records(0, 100_000)
    assert verify_audit(records).ok
    return records


def test_purge_keeps_identity_and_receipt_then_forgets(exchange: Exchange, clock: Clock) -> None:
    ex = exchange
    old = ex.send_document(SENDER, _document(ex, 1))  # confirmed: purged
    waiting = ex.send_document(SENDER, _document(ex, 2))  # still pending: kept
    ex.confirm_received(RECEIVER, old.package_id, "ok", "")
    [status] = ex.get_pending(SENDER, "status", 10, "").items
    ex.confirm_received(SENDER, status.package_id, "ok", "")  # the sender read STATUS 01
    clock.now = T0 + dt.timedelta(days=29)
    recent = ex.send_document(SENDER, _document(ex, 3))
    ex.confirm_received(RECEIVER, recent.package_id, "ok", "")
    stored_old = ex.store.get_package(old.package_id)
    assert stored_old is not None
    content_blobs = _referenced(ex, old.package_id) - {stored_old.receipt_sha256}
    assert content_blobs and all(ex.blobs.contains(b) for b in content_blobs)

    now = _micros(T0) + 31 * DAY
    dry = run_retention(ex.store, ex.blobs, ex.settings, now, dry_run=True)
    assert dry.purged == {"document": 1, "status": 1} and dry.forgotten == {
        "document": 0,
        "status": 0,
    }
    assert _referenced(ex, old.package_id) >= content_blobs  # a dry run changes nothing

    done = run_retention(ex.store, ex.blobs, ex.settings, now, collect=False)
    assert done.purged == {"document": 1, "status": 1}
    assert _referenced(ex, old.package_id) == {stored_old.receipt_sha256}
    assert _referenced(ex, waiting.package_id) and _referenced(ex, recent.package_id)
    purged_at = _rows(ex, "SELECT purged_at FROM packages WHERE id = ?", (old.package_id,))
    assert [r["purged_at"] for r in purged_at] == [now]
    # the blobs are young (the grace protects in-flight requests): nothing collected yet...
    real_now = dt.datetime.now(dt.UTC).timestamp()
    assert collect_blobs(ex.store, ex.blobs, cutoff=real_now - 3600)[1] == 0
    # ...and once they are old enough, only the unreferenced ones go
    restored, removed = collect_blobs(ex.store, ex.blobs, cutoff=real_now + 3600)
    assert restored == 0 and removed >= len(content_blobs)
    assert not any(ex.blobs.contains(b) for b in content_blobs)
    for kept in (waiting, recent):
        assert all(ex.blobs.contains(b) for b in _referenced(ex, kept.package_id))
        assert ex.get_package(RECEIVER, kept.package_id).package_id == kept.package_id

    # a resend of the purged package is still a duplicate, answered with the original receipt
    clock.now = T0 + dt.timedelta(days=40)
    again = ex.send_document(SENDER, _document(ex, 1))
    assert again.duplicate and again.package_id == old.package_id
    assert again.signed_receipt == old.signed_receipt
    with pytest.raises(GatewayError):
        ex.get_package(RECEIVER, old.package_id).open().read()  # type: ignore[attr-defined]

    records = _audit_ok(ex)
    purges = [r for r in records if r.event == "retention.purged"]
    assert {p for r in purges for p in str(r.details["packages"]).split(",")} == {
        old.package_id,
        status.package_id,
    }

    # past the duplicate window the identity goes too, and a resend is a new package
    later = _micros(T0) + 366 * DAY
    gone = run_retention(ex.store, ex.blobs, ex.settings, later, collect=False)
    assert gone.forgotten["document"] == 1
    assert ex.store.get_package(old.package_id) is None
    # ...and so does its row in the console's search (and, on SQLite, its subject words)
    for table in ("package_index", "package_recipients"):
        sql = f"SELECT package_id FROM {table} WHERE package_id = ?"
        assert _rows(ex, sql, (old.package_id,)) == []
    indexed = "SELECT package_id FROM package_index WHERE package_id = ?"
    assert _rows(ex, indexed, (waiting.package_id,))
    if not ex.settings.uses_postgres:
        # FTS5's integrity-check with rank=1 compares the index with its content table, so a
        # subject left behind by the forget fails here ("database disk image is malformed").
        with ex.store._tx() as q:  # type: ignore[attr-defined]
            q.run(
                "INSERT INTO package_subjects (package_subjects, rank) "
                "VALUES ('integrity-check', 1)"
            )
    assert ex.store.get_package(waiting.package_id) is not None
    assert any(r.event == "retention.forgotten" for r in _audit_ok(ex))
    clock.now = T0 + dt.timedelta(days=367)
    fresh = ex.send_document(SENDER, _document(ex, 1))
    assert not fresh.duplicate and fresh.package_id != old.package_id


def test_the_collector_never_takes_a_referenced_or_young_blob(exchange: Exchange) -> None:
    ex = exchange
    receipt = ex.send_document(SENDER, _document(ex, 7))
    needed = _referenced(ex, receipt.package_id)
    orphan = ex.blobs.put_bytes(os.urandom(3000))  # written, its row never committed
    real_now = dt.datetime.now(dt.UTC).timestamp()
    assert collect_blobs(ex.store, ex.blobs, cutoff=real_now - 3600) == (0, 0)  # young
    _restored, removed = collect_blobs(ex.store, ex.blobs, cutoff=real_now + 3600)
    assert removed >= 1 and not ex.blobs.contains(orphan)
    assert all(ex.blobs.contains(b) for b in needed)
    # an orphan written again (a resend in flight) is young again: the grace protects it
    again = ex.blobs.put_bytes(b"written twice" * 100)
    collect_blobs(ex.store, ex.blobs, cutoff=real_now + 3600)
    ex.blobs.put_bytes(b"written twice" * 100)
    assert (
        collect_blobs(ex.store, ex.blobs, cutoff=dt.datetime.now(dt.UTC).timestamp() - 60)[1] == 0
    )
    assert ex.blobs.contains(again)


# -- SIGKILL in the middle -----------------------------------------------------------------------


def _config(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "retention.toml"
    lines = [
        f'data_dir = "{settings.data_dir}"',
        f'database_dsn = "{settings.database_dsn}"',
        f'blob_backend = "{settings.blob_backend}"',
        f'master_key = "{settings.master_key}"',
        "retention_document_days = 30",
        "retention_status_days = 30",
        "retention_duplicate_days = 365",
        "blob_collect_grace_hours = 1",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _purge_process(
    config: Path, crash: str, *, dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_CRASH_POINT": crash} if crash else dict(os.environ)
    args = [sys.executable, "-m", "gateway.cli", "packages", "purge", "--config", str(config)]
    return subprocess.run(
        args + (["--dry-run"] if dry_run else []),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


_COLLECT = """
import sys, time
from gateway.config import load_settings
from gateway.store import open_blobs, open_store
from gateway.store.retention import collect_blobs
settings = load_settings(sys.argv[1])
print(collect_blobs(open_store(settings), open_blobs(settings), cutoff=time.time() + 7200))
"""


def _collect_process(config: Path, crash: str) -> subprocess.CompletedProcess[str]:
    """The collector with a cutoff past every blob (the CLI's grace would keep them all)."""
    env = {**os.environ, "GATEWAY_CRASH_POINT": crash} if crash else dict(os.environ)
    return subprocess.run(
        [sys.executable, "-c", _COLLECT, str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_sigkill_in_the_middle_of_purge_and_collection_loses_nothing(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    ids = []
    for number in range(1, 6):
        ids.append(_confirmed(ex, number).package_id)
    keep = ex.send_document(SENDER, _document(ex, 99))  # pending: must survive every crash
    keep_blobs = _referenced(ex, keep.package_id)
    content = {i: _referenced(ex, i) for i in ids}
    receipts = {i: ex.store.get_package(i).receipt_sha256 for i in ids}  # type: ignore[union-attr]
    config = _config(tmp_path, ex.settings)

    def purged() -> set[str]:
        return {r["id"] for r in _rows(ex, "SELECT id FROM packages WHERE purged_at > 0")}

    # The CLI purges with the real clock: T0 is long past, so every confirmed package is due.
    # SIGKILL inside the batch's transaction: nothing of it happened.
    killed = _purge_process(config, "purge.tx:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert purged() == set()
    assert all(_referenced(ex, i) == content[i] for i in ids)
    _audit_ok(ex)
    # The rerun purges everything due, once.
    done = _purge_process(config, "")
    assert done.returncode == 0, done.stderr
    assert set(ids) <= purged() and keep.package_id not in purged()
    orphans = set().union(*content.values()) - set(receipts.values()) - keep_blobs
    assert orphans and all(ex.blobs.contains(b) for b in orphans)  # young: still there

    # SIGKILL in the middle of a collection, after it staged its second blob
    killed = _collect_process(config, "collect.staged:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert all(ex.blobs.contains(b) for b in keep_blobs | set(receipts.values()))
    # The next collection puts back what was staged, then removes every orphan, nothing else.
    done = _collect_process(config, "")
    assert done.returncode == 0, done.stderr
    assert not any(ex.blobs.contains(b) for b in orphans)
    assert all(ex.blobs.contains(b) for b in keep_blobs | set(receipts.values()))
    assert not list(Path(ex.blobs.tmp_dir).glob("collect-*"))
    assert ex.get_package(RECEIVER, keep.package_id).package_id == keep.package_id
    for package_id in ids:
        assert _referenced(ex, package_id) == {receipts[package_id]}
    listed = [
        p
        for r in _audit_ok(ex)
        if r.event == "retention.purged"
        for p in str(r.details["packages"]).split(",")
    ]
    assert sorted(listed) == sorted(ids)  # each purge recorded once, the killed one not at all


def test_the_relay_process_runs_retention_periodically_one_node_at_a_time(
    exchange: Exchange, clock: Clock
) -> None:
    from gateway.relay.service import RETENTION_LEASE, RelayService

    ex = exchange
    receipt = _confirmed(ex, 5)
    clock.now = T0 + dt.timedelta(days=31)
    relay = RelayService(ex.settings, exchange=ex, connectors={})
    other = RelayService(ex.settings, exchange=ex, connectors={})
    # another node holds the lease: this one leaves the job to it
    now = _micros(clock.now)
    assert ex.store.acquire_lease(RETENTION_LEASE, other.owner, now, now + HOUR)  # type: ignore[attr-defined]
    relay.run_once()
    assert relay.retention is None
    ex.store.release_lease(RETENTION_LEASE, other.owner)  # type: ignore[attr-defined]
    relay.next_retention = 0
    relay.run_once()
    assert relay.retention is not None
    relay.retention.join(120)
    assert ex.store.get_package(receipt.package_id) is not None
    rows = _rows(ex, "SELECT purged_at FROM packages WHERE id = ?", (receipt.package_id,))
    assert [r["purged_at"] for r in rows] == [now]
    relay.run_once()  # not due again before retention_interval_minutes
    assert not relay.retention.is_alive()
    assert relay.next_retention == now + ex.settings.retention_interval_minutes * 60 * 1_000_000


def test_packages_purge_dry_run_reports_and_changes_nothing(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    receipt = _confirmed(ex, 6)
    blobs = _referenced(ex, receipt.package_id)
    dry = _purge_process(_config(tmp_path, ex.settings), "", dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert "1 document package(s) purged" in dry.stdout and "would be done" in dry.stdout
    assert _referenced(ex, receipt.package_id) == blobs
    assert not any(r.event == "retention.purged" for r in _audit_ok(ex))


def test_relay_run_with_a_retention_policy_and_no_upstream_purges(
    exchange: Exchange, tmp_path: Path
) -> None:
    """``serve`` starts the relay process for retention alone: it must not refuse to run."""
    ex = exchange
    receipt = _confirmed(ex, 8)
    config = _config(tmp_path, ex.settings)
    args = [sys.executable, "-m", "gateway.cli", "relay", "run", "--once", "--config", str(config)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rows = _rows(ex, "SELECT purged_at FROM packages WHERE id = ?", (receipt.package_id,))
    assert [r["purged_at"] > 0 for r in rows] == [True]
