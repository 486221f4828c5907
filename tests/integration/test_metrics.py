"""`/metrics`: the documented families with their meanings, correct across gunicorn workers,
gauges read from the store, and example alert rules that name only exported metrics."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.admin.metrics import StoreCollector, exposition
from gateway.config import Settings, UpstreamSettings
from gateway.exchange import Exchange
from gateway.store import open_store
from gateway.store.base import to_micros
from tests.fixtures.rows import stored_package

REPO = Path(__file__).resolve().parents[2]
SECOND = 1_000_000
_ROW = re.compile(r"^\| `(gateway_\w+)` \| (counter|gauge|histogram) \|([^|]*)\| (.+) \|$")


def documented() -> dict[str, tuple[str, str, str]]:
    """``docs/metrics.md``: family name → (type, labels, meaning)."""
    rows = {}
    for line in (REPO / "docs" / "metrics.md").read_text("utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            name, kind, labels, meaning = match.groups()
            rows[name] = (kind, labels.strip(), meaning.strip())
    return rows


def _family_name(name: str, kind: str) -> str:
    """prometheus_client's parser drops ``_total`` from counter family names."""
    return f"{name}_total" if kind == "counter" else name


def _parse(text: str) -> dict[str, tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("gateway_"):
            samples = [(s.name, dict(s.labels), s.value) for s in family.samples]
            name = _family_name(family.name, family.type)
            found[name] = (family.type, family.documentation, samples)
    return found


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, got, v in samples if n == name and labels.items() <= got.items())


def test_store_gauges_tell_backlog_outbox_dead_letters_and_certificates(tmp_path: Path) -> None:
    upstream = UpstreamSettings(name="national", protocol="vxp", endpoint="http://127.0.0.1:9")
    settings = Settings(data_dir=tmp_path / "data", upstreams=(upstream,))
    Exchange(settings).close()
    moment = dt.datetime.now(dt.UTC)
    now = to_micros(moment)
    store = open_store(settings)
    try:
        store.accept(stored_package(1, now - 100 * SECOND))  # a local delivery
        store.accept(stored_package(2, now - 7200 * SECOND, local=False, upstream="national"))
        store.accept(stored_package(3, now - 60 * SECOND, local=False, upstream="national"))
        [first] = store.claim_outbox("national", "me", now, now + 60 * SECOND, 1)
        store.finish_outbox(first.id, "me", now, "dead", error="refused", error_code="M.Vxp.18")
        store.record_upstream_contact("national", False, now - 300 * SECOND, "T.Relay: down")
        store.record_upstream_contact("national", True, now - 400 * SECOND, polled=True)
        store.record_upstream_contact("national", False, now - 300 * SECOND, "T.Relay: down")
    finally:
        store.close()
    collector = StoreCollector(settings, clock=lambda: moment)
    try:
        metrics = _parse(exposition(collector).decode())
    finally:
        collector.close()
    assert _value(metrics["gateway_store_up"][2], "gateway_store_up") == 1
    backlog = metrics["gateway_mailbox_backlog"][2]
    assert _value(backlog, "gateway_mailbox_backlog", kind="document") == 1
    items = metrics["gateway_outbox_items"][2]
    assert _value(items, "gateway_outbox_items", upstream="national", state="queued") == 1
    assert _value(items, "gateway_outbox_items", upstream="national", state="dead") == 1
    dead = metrics["gateway_dead_letters"][2]
    assert _value(dead, "gateway_dead_letters", upstream="national") == 1
    oldest = metrics["gateway_outbox_oldest_undelivered_age_seconds"][2]
    # p-2 (two hours old) became the dead letter; p-3 (a minute old) is what still waits
    assert _value(oldest, "gateway_outbox_oldest_undelivered_age_seconds") == pytest.approx(60)
    down = metrics["gateway_upstream_down_seconds"][2]
    assert _value(down, "gateway_upstream_down_seconds", upstream="national") == pytest.approx(300)
    lag = metrics["gateway_poller_lag_seconds"][2]
    assert _value(lag, "gateway_poller_lag_seconds", upstream="national") == pytest.approx(400)
    [(_, labels, expiry)] = metrics["gateway_certificate_expiry_timestamp_seconds"][2]
    assert labels["role"] == "signing" and expiry > moment.timestamp() + 700 * 86400


def test_unreadable_store_is_a_gauge_not_an_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_dsn="postgresql://x@127.0.0.1:1/x")
    metrics = _parse(exposition(StoreCollector(settings)).decode())
    assert _value(metrics["gateway_store_up"][2], "gateway_store_up") == 0


def test_alert_rules_parse_and_name_only_exported_metrics() -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus-alerts.yml").read_text("utf-8"))
    names = documented()
    exported = set(names) | {f"{n}_bucket" for n, (k, _, _) in names.items() if k == "histogram"}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "EdocGatewayPackageStuck",
        "EdocGatewayDeadLetters",
        "EdocGatewayUpstreamDown",
        "EdocGatewayCertificateExpiring",
    }
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        used = set(re.findall(r"\bgateway_\w+", alert["expr"]))
        assert used <= exported, (alert["alert"], used - exported)
        assert alert["expr"].count("(") == alert["expr"].count(")"), alert["alert"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``serve --demo`` with two gunicorn workers, as a real process."""
    port = _free_port()
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "gateway.cli", "serve", "--demo", "--port", str(port)]
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_metrics_contract_across_workers(served: str) -> None:
    requests = 24
    for _ in range(requests):  # a new connection each: the workers share them
        assert httpx.get(f"{served}/soap/v1?wsdl", timeout=30).status_code == 200
    assert httpx.get(f"{served}/soap/v1/nowhere", timeout=30).status_code == 404
    scrapes = [_parse(httpx.get(f"{served}/metrics", timeout=30).text) for _ in range(6)]
    for metrics in scrapes:  # whichever worker answers, the same totals
        samples = metrics["gateway_requests_total"][2]
        assert _value(
            samples, "gateway_requests_total", face="soap", operation="wsdl", outcome="ok"
        ) == requests
        assert _value(samples, "gateway_requests_total", face="soap", outcome="refused") == 1
        histogram = metrics["gateway_request_duration_seconds"][2]
        assert _value(
            histogram, "gateway_request_duration_seconds_count", face="soap", operation="wsdl"
        ) == requests
    names = documented()
    exported = scrapes[-1]
    instruments_ = _instruments()
    # Counters appear once something is counted; their contract is the instrument itself.
    assert set(exported) | set(instruments_) == set(names)
    for name, (kind, labels, meaning) in names.items():
        wanted = {label.strip() for label in labels.split(",") if label.strip()}
        if name in instruments_:
            assert instruments_[name] == (kind, meaning, wanted), name
        if name in exported:
            got_kind, help_text, samples = exported[name]
            assert (got_kind, help_text) == (kind, meaning), name
            for _sample, got, _number in samples:
                assert set(got) - {"le"} == wanted, (name, got)


def _instruments() -> dict[str, tuple[str, str, set[str]]]:
    """What ``gateway.instruments`` defines: name → (type, meaning, label names)."""
    from prometheus_client import Counter, Histogram

    from gateway import instruments

    found = {}
    for value in vars(instruments).values():
        if isinstance(value, Counter | Histogram):
            kind = "counter" if isinstance(value, Counter) else "histogram"
            name = value._name + ("_total" if kind == "counter" else "")
            found[name] = (kind, value._documentation, set(value._labelnames))
    return found
