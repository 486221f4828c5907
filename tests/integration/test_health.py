"""`edoc-gateway health`: checks, and certificate expiry shown ahead of time."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.health import check


def test_fresh_gateway_is_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert {c["name"] for c in report["checks"]} == {
        "database",
        "audit log",
        "blob store",
        "certificates",
    }
    assert report["warnings"] == []


def test_certificate_expiry_is_announced_then_fails(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", certificate_expiry_warning_days=800)
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
