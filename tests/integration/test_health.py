"""`edoc-gateway health`, `/healthz` and `/readyz`: each failing reason named, nothing created,
and certificate expiry shown ahead of time."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from wsgiref.simple_server import make_server

import httpx
import pytest

from gateway.admin.probes import make_probes
from gateway.cli import main
from gateway.config import Settings, UpstreamSettings
from gateway.exchange import Exchange
from gateway.health import Health, check
from gateway.relay.service import RelayService
from gateway.store import open_store
from gateway.store.base import to_micros
from tests.fixtures.gateways import QuietHandler
from tests.fixtures.rows import stored_package
from tests.fixtures.upstream import ScriptedUpstream

SECOND = 1_000_000


def _failing(health: Health) -> dict[str, str]:
    return {c.name: c.detail for c in health.checks if not c.ok}


def test_prepared_gateway_is_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True, report
    assert {c["name"] for c in report["checks"]} == {
        "database",
        "audit log",
        "master key",
        "dead letters",
        "oldest queued package",
        "blob store",
        "signing key",
        "certificates",
    }
    assert report["warnings"] == []


def test_mistyped_data_dir_is_reported_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mistyped = tmp_path / "dta"
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(mistyped))
    assert main(["health"]) == 1
    out = capsys.readouterr().out
    assert "NOT healthy" in out
    for line in ("FAIL data directory", "FAIL database", "FAIL blob store", "FAIL signing key"):
        assert line in out
    assert not mistyped.exists()


def test_master_key_that_does_not_match_fails(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    exchange = Exchange(settings)
    try:
        exchange.ensure_agency("000.00.01.H53", "Văn phòng")
    finally:
        exchange.close()
    assert check(settings).ok
    settings.key_file.unlink()
    other = Settings(data_dir=tmp_path / "other")
    Exchange(other).close()
    settings.key_file.write_bytes(other.key_file.read_bytes())
    failing = _failing(check(settings))
    assert set(failing) == {"master key"}
    assert "does not match" in failing["master key"] and "000.00.01.H53" in failing["master key"]


def test_dead_letter_stuck_package_and_upstream_down_each_fail(tmp_path: Path) -> None:
    upstream = UpstreamSettings(name="national", protocol="vxp", endpoint="http://127.0.0.1:9")
    settings = Settings(data_dir=tmp_path / "data", upstreams=(upstream,))
    Exchange(settings).close()
    store = open_store(settings)
    moment = dt.datetime.now(dt.UTC)
    now = to_micros(moment)
    try:
        store.accept(stored_package(1, now - 7200 * SECOND, local=False, upstream="national"))
        # queued two hours ago (the outbox row's created_at is the package's received_at)
        failing = _failing(check(settings, at=moment))
        assert set(failing) == {"oldest queued package"}
        assert "health_oldest_queued_seconds = 3600" in failing["oldest queued package"]
        assert check(replace(settings, health_oldest_queued_seconds=10_000), at=moment).ok

        item = store.outbox_items(state="queued")[0]
        claimed = store.claim_outbox("national", "me", now, now + 60 * SECOND, 1)
        assert [c.id for c in claimed] == [item.id]
        store.finish_outbox(item.id, "me", now, "dead", error="refused", error_code="M.Vxp.18")
        failing = _failing(check(settings, at=moment))
        assert set(failing) == {"dead letters"}
        assert failing["dead letters"].startswith("1 dead letter(s)")

        store.record_upstream_contact("national", False, now - 1000 * SECOND, "T.Relay: refused")
        store.record_upstream_contact("national", False, now - 10 * SECOND, "T.Relay: refused")
        failing = _failing(check(settings, at=moment))
        assert set(failing) == {"dead letters", "upstream national"}
        assert "not answering for 1000 s" in failing["upstream national"]
        store.record_upstream_contact("national", True, now)
        assert set(_failing(check(settings, at=moment))) == {"dead letters"}
    finally:
        store.close()


def test_outdated_schema_is_reported(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    Exchange(settings).close()
    store = open_store(settings)
    try:
        with store._tx() as q:
            q.run(
                "DELETE FROM schema_version WHERE version = "
                "(SELECT MAX(version) FROM schema_version)"
            )
    finally:
        store.close()
    failing = _failing(check(settings))
    assert "db upgrade" in failing["database"]


@pytest.fixture
def probes_url(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = Settings(data_dir=tmp_path / "data")
    server = make_server(
        "127.0.0.1", 0, make_probes(settings, cache_seconds=0), handler_class=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", settings
    finally:
        server.shutdown()
        server.server_close()


def test_probes_over_http(probes_url: tuple[str, Settings]) -> None:
    url, settings = probes_url
    alive = httpx.get(f"{url}/healthz")
    assert alive.status_code == 200 and alive.json()["status"] == "alive"
    unready = httpx.get(f"{url}/readyz")
    assert unready.status_code == 503
    assert any(line.startswith("data directory:") for line in unready.json()["failing"])
    assert not settings.data_dir.exists()
    Exchange(settings).close()
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200, ready.json()["failing"]
    assert ready.json()["ok"] is True
    assert httpx.post(f"{url}/readyz").status_code == 405


def test_certificate_expiry_is_announced_then_fails(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", certificate_expiry_warning_days=800)
    Exchange(settings).close()
    soon = check(settings)
    assert soon.ok
    assert len(soon.warnings) == 1 and "expires in" in soon.warnings[0]
    later = check(replace(settings), at=dt.datetime.now(dt.UTC) + dt.timedelta(days=800))
    assert not later.ok
    assert "EXPIRED" in later.warnings[0]


def test_unusable_database_is_reported(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_dsn="postgresql://nobody@127.0.0.1:1/none"
    )
    health = check(settings)
    assert not health.ok
    assert next(c for c in health.checks if c.name == "database").ok is False


class _Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_relay_records_an_upstream_that_stopped_answering(tmp_path: Path) -> None:
    """The poller meets a dead upstream every round: health fails once that has lasted longer
    than health_upstream_down_seconds, and recovers with the first answer; the contact rows are
    written when the outcome flips, not every round."""
    upstream = UpstreamSettings(name="national", protocol="vxp", endpoint="http://127.0.0.1:9")
    settings = Settings(
        data_dir=tmp_path / "data", upstreams=(upstream,), directory_sync_minutes=0
    )
    clock = _Clock(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))
    scripted = ScriptedUpstream(down=True)
    service = RelayService(settings, connectors={"national": scripted}, clock=clock)
    try:
        service.run_once()
        [seen] = service.store.upstream_health()
        started = seen.updated_at
        assert seen.failing_since == to_micros(clock.now) and "unreachable" in seen.last_error
        clock.now += dt.timedelta(seconds=5)
        service.next_poll["national"] = 0
        service.run_once()  # still down, 5 s later: throttled, the row is unchanged
        assert service.store.upstream_health()[0].updated_at == started
        assert check(settings, at=clock.now).ok
        later = clock.now + dt.timedelta(seconds=settings.health_upstream_down_seconds + 60)
        assert "upstream national" in _failing(check(settings, at=later))

        scripted.down = False
        clock.now += dt.timedelta(seconds=1)
        service.next_poll["national"] = 0
        service.run_once()  # answers again: written at once
        [seen] = service.store.upstream_health()
        assert seen.failing_since == 0 and seen.last_poll_at == to_micros(clock.now)
        assert check(settings, at=later).ok
    finally:
        service.close()
