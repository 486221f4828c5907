"""Every state change leaves a hash-chained audit record; tampering in the database is caught."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.edxml.enums import StatusCode
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from tests.fixtures.packages import build_document, build_status

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"
REPO = Path(__file__).resolve().parents[2]


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_DSN", settings.database_dsn)


def _cycle(settings: Settings) -> str:
    exchange = Exchange(settings)
    try:
        now = dt.datetime.now(dt.UTC)
        exchange.credentials.add_agency(SENDER, "VPCP", "", now)
        exchange.credentials.add_agency(RECEIVER, "Nghệ An", "", now)
        data = package_bytes(build_document(exchange.blobs, b"%PDF-1.4 audit"), exchange.blobs)
        receipt = exchange.send_document(SENDER, data)
        exchange.send_document(SENDER, data)  # a duplicate is recorded too
        exchange.get_package(RECEIVER, receipt.package_id)
        exchange.confirm_received(RECEIVER, receipt.package_id, "ok", "")
        exchange.send_status(RECEIVER, package_bytes(build_status(StatusCode.ACCEPTED), None))
        exchange.credentials.rotate(RECEIVER, now)
        return receipt.package_id
    finally:
        exchange.close()


def test_the_trail_and_its_verification(
    store_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    package_id = _cycle(store_settings)
    exchange = Exchange(store_settings)
    records = exchange.store.audit_records(0, 100)
    exchange.close()
    assert [(r.event, r.actor) for r in records] == [
        ("admin.agency.added", "operator"),
        ("admin.agency.added", "operator"),
        ("document.accepted", SENDER),
        ("document.duplicate", SENDER),
        ("document.fetched", RECEIVER),
        ("delivery.confirmed", RECEIVER),
        ("status.accepted", RECEIVER),  # the automatic STATUS 01
        ("status.accepted", RECEIVER),  # the 03 the receiver sent
        ("admin.agency.updated", "operator"),
    ]
    assert records[2].subject == package_id
    assert records[2].details["recipients"] == RECEIVER
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))

    _env(monkeypatch, store_settings)
    assert main(["audit", "verify"]) == 0
    assert "OK: 9 records" in capsys.readouterr().out

    export = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "-o", str(export)]) == 0
    offline = subprocess.run(
        [sys.executable, "-m", "gateway.audit", str(export)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr


def test_tampering_in_the_database_is_named(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _cycle(store_settings)
    exchange = Exchange(store_settings)
    with exchange.store._tx() as q:  # type: ignore[attr-defined]
        q.run("UPDATE audit_log SET actor = ? WHERE seq = 5", ("000.00.00.H53",))
    exchange.close()
    _env(monkeypatch, store_settings)
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "changed: record 5:" in out and "TAMPERED: 1 problem(s)" in out

    exchange = Exchange(store_settings)
    with exchange.store._tx() as q:  # type: ignore[attr-defined]
        q.run("DELETE FROM audit_log WHERE seq = 7")
    exchange.close()
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "deleted: record 7 is missing" in out and "record 8 follows record 6" in out
    assert "changed: record 5:" in out
