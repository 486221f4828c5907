"""One logging set-up: the text and JSON shapes, the bound request context, the one line per
request, tracebacks, quiet third parties, gunicorn's config, and a real process using it."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from gateway import logs
from gateway.config import load_settings
from gateway.errors import ConfigError


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_text_lines_carry_time_level_logger_and_context(stream: io.StringIO) -> None:
    logs.configure("text", "INFO", stream)
    log = logging.getLogger("gateway.test")
    with logs.request_scope(request_id="r1", face="soap"):
        logs.bind(operation="SendDocument", agency="000.00.01.H53", package_id="")
        log.info("accepted %s", "p-1", extra={"package_id": "p-1"})
    log.info("outside")
    log.debug("not shown")
    first, second = stream.getvalue().splitlines()
    stamp, level, name, *rest = first.split(" ")
    assert stamp.endswith("Z") and stamp[10] == "T" and len(stamp) == 24
    assert (level, name) == ("INFO", "gateway.test")
    assert " ".join(rest) == (
        "accepted p-1 request_id=r1 face=soap operation=SendDocument agency=000.00.01.H53 "
        "package_id=p-1"
    )
    assert second.endswith("INFO gateway.test outside")


def test_json_lines_and_tracebacks(stream: io.StringIO) -> None:
    logs.configure("json", "DEBUG", stream)
    log = logging.getLogger("gateway.test")
    with logs.request_scope(request_id="r2"):
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("unexpected failure")
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["level"] == "ERROR" and entry["logger"] == "gateway.test"
    assert entry["msg"] == "unexpected failure" and entry["request_id"] == "r2"
    assert "Traceback" in entry["exc"] and "ValueError: boom" in entry["exc"]


def test_one_line_per_request_with_outcome_and_duration(stream: io.StringIO) -> None:
    logs.configure("json", "INFO", stream)
    with logs.request_scope(request_id="r3", face="vxp", operation="sendEdoc"):
        logs.bind(agency="000.00.01.H53", package_id="p-9")
        logs.log_request(200, 0.0123)
    with logs.request_scope(request_id="r4", face="soap"):
        logs.log_request("500", 1.5)
    ok, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert ok["logger"] == logs.ACCESS_LOGGER and ok["level"] == "INFO"
    assert {k: ok[k] for k in ("request_id", "face", "operation", "agency", "package_id")} == {
        "request_id": "r3",
        "face": "vxp",
        "operation": "sendEdoc",
        "agency": "000.00.01.H53",
        "package_id": "p-9",
    }
    assert (ok["outcome"], ok["status"], ok["duration_ms"]) == ("ok", 200, 12.3)
    assert (failed["level"], failed["outcome"], failed["request_id"]) == ("ERROR", "error", "r4")
    assert "agency" not in failed  # the previous request's context did not leak


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Silent."""


def test_httpx_per_request_info_is_quiet(stream: io.StringIO) -> None:
    logs.configure("text", "INFO", stream)
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{server.server_address[1]}/").text == "ok"
    finally:
        server.shutdown()
        server.server_close()
    logging.getLogger("gateway.test").info("after")
    assert [line.split(" ", 3)[2] for line in stream.getvalue().splitlines()] == ["gateway.test"]


def test_gunicorn_logconfig_routes_its_loggers_through_the_format(
    capsys: pytest.CaptureFixture[str], stream: io.StringIO
) -> None:
    logging.config.dictConfig(logs.gunicorn_logconfig("json", "INFO"))
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
    logging.getLogger("gunicorn.access").info("GET /soap/v1 200")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("gunicorn.error", "Booting worker with pid: 42"),
        ("gunicorn.access", "GET /soap/v1 200"),
    ]
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_log_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LOG_FORMAT", "xml")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    codes = {finding.code for finding in caught.value.findings}
    assert {"R.Config.log_format", "R.Config.log_level"} <= codes


def test_relay_process_logs_in_the_configured_format(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nlog_format = "json"\n'
        '[[upstream]]\nname = "national"\nprotocol = "vxp"\n'
        'endpoint = "http://127.0.0.1:9/XrdAdapter"\nsystem_id = "00.53.W00"\nsecret = "s"\n'
        "timeout_seconds = 2\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "relay", "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 1, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert entries, done.stderr
    polls = [e for e in entries if e["logger"] == "gateway.relay.poller"]
    assert polls and all(e["level"] == "WARNING" for e in polls)
    assert not [e for e in entries if e["logger"].startswith(("httpx", "httpcore"))]


def test_bind_outside_a_scope_leaves_no_trace(stream: io.StringIO) -> None:
    logs.configure("text", "INFO", stream)
    logs.bind(agency="000.00.01.H53", package_id="p-1")  # e.g. a CLI or relay call
    logging.getLogger("gateway.test").info("later")
    assert stream.getvalue().rstrip().endswith("INFO gateway.test later")
    assert logs.context() == {}


def test_timestamps_match_datetime_formatting_across_second_boundaries() -> None:
    """The per-second cache gives what formatting each moment in full gives: milliseconds
    truncated, UTC, a new prefix each second (including moments just before one)."""
    import datetime as dt
    import random

    picker = random.Random(12)
    moments = [1_767_000_000 + picker.random() * 5 for _ in range(5000)]
    moments += [1_767_000_001 - 1e-7, 1_767_000_001.0, 1_767_000_000.9995, 0.0005, 2_000_000_000.0]
    for created in moments:
        record = logging.makeLogRecord({"created": created})
        full = dt.datetime.fromtimestamp(created, dt.UTC)
        expected = full.strftime("%Y-%m-%dT%H:%M:%S.") + f"{full.microsecond // 1000:03d}Z"
        assert logs._timestamp(record) == expected, created
