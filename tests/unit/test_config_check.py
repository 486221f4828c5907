"""`edoc-gateway config check` finds every mistake at once, each at its line, in its own words."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import ConfigError, load_settings
from gateway.configcheck import check_configuration
from tests.conftest import _postgres_dsn


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n' + text, "utf-8")
    return path


def _check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *options: str
) -> tuple[int, str]:
    path = _write(tmp_path, text)
    status = main(["config", "check", *options, "--config", str(path)])
    captured = capsys.readouterr()
    return status, captured.err + captured.out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    """A real HTTP server on loopback that answers every GET with 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/XrdAdapter/adapter"
    finally:
        server.shutdown()
        server.server_close()


def test_every_mistake_is_listed_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        'port = "eighty"\n'  # line 2 (line 1 is data_dir)
        "workers = 0\n"  # line 3
        'role = "province"\n'  # line 4
        "prot = 8080\n"  # line 5
        "\n"
        "[[upstream]]\n"  # line 7
        'name = "national"\n'
        'protocol = "vxp"\n'
        'endpoint = "http://127.0.0.1:9/XrdAdapter/adapter"\n'
        'sytem_id = "00.53.W00"\n'  # line 11
        'timeout_seconds = "soon"\n'  # line 12
    )
    status, output = _check(tmp_path, capsys, text, "--offline")
    assert status == 2
    path = tmp_path / "gateway.toml"
    expected = [
        f"{path}:2: port: 'eighty' is not a whole number [M.Config.port]",
        f"{path}:3: workers must be at least 1, not 0 [R.Config.workers]",
        f"{path}:4: role must be one of agency-gateway, provincial-axis, not 'province'",
        f"{path}:5: unknown setting 'prot' (did you mean 'port'?) [M.Config.Unknown]",
        f"{path}:11: [[upstream]] #1: unknown key 'sytem_id' (did you mean 'system_id'?)",
        f"{path}:12: [[upstream]] #1: timeout_seconds: 'soon' is not a number",
    ]
    for line in expected:
        assert line in output
    assert "6 problems in the configuration" in output
    assert "invalid literal" not in output and "could not convert" not in output
    # load_settings raises one error carrying them all (the first one's code).
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.code == "M.Config.port" and len(caught.value.findings) == 6
    assert "(and 5 more)" in caught.value.message


def test_ranges_and_environment_are_explained_in_own_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "port = 70000\nrelay_concurrency = 0\nrelay_lease_seconds = 5\n")
    report = check_configuration(path, {"GATEWAY_WORKERS": "many"}, offline=True)
    messages = {(p.code, p.path, p.message) for p in report.problems}
    assert ("R.Config.port", f"{path}:2", "port must be between 1 and 65535, not 70000") in messages
    assert (
        "R.Config.relay_concurrency",
        f"{path}:3",
        "relay_concurrency must be between 1 and 64, not 0",
    ) in messages
    assert ("R.Config.relay_lease_seconds", f"{path}:4",
            "relay_lease_seconds must be at least 10, not 5") in messages  # fmt: skip
    assert ("M.Config.workers", "GATEWAY_WORKERS", "workers: 'many' is not a whole number") in (
        messages
    )


def test_a_mistyped_table_key_or_name_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        'default_upstream = "national"\n'
        '[[upstream]]\nname = "national"\nprotocol = "vpx"\nendpoint = "http://127.0.0.1:9/x"\n'
        '[[route]]\nlevel1 = "G22"\nupstream = "nationl"\n'
    )
    status, output = _check(tmp_path, capsys, text, "--offline")
    assert status == 2
    assert "protocol must be one of vxp, peer, not 'vpx' (did you mean 'vxp'?)" in output
    assert "no [[upstream]] is named 'nationl' (did you mean 'national'?)" in output


def test_every_named_file_and_directory_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    text = (
        f'trust_store_dir = "{missing / "ca"}"\n'
        f'signing_key_file = "{missing / "key.pem"}"\n'
        f'signing_cert_file = "{missing / "cert.pem"}"\n'
        f'legacy_profiles_dir = "{missing / "profiles"}"\n'
        f'master_key_file = "{missing / "keys" / "master.key"}"\n'
        '[[upstream]]\nname = "national"\nprotocol = "vxp"\nendpoint = "http://127.0.0.1:9/x"\n'
        f'ca_bundle = "{missing / "bundle.pem"}"\n'
    )
    status, output = _check(tmp_path, capsys, text, "--offline")
    assert status == 2
    path = tmp_path / "gateway.toml"
    assert f"{path}:2: trust_store_dir: {missing / 'ca'} cannot be used: no such file" in output
    assert f"{path}:3: signing_key_file {missing / 'key.pem'} does not exist" in output
    assert f"{path}:4: signing_cert_file {missing / 'cert.pem'} does not exist" in output
    assert f"{path}:5: legacy_profiles_dir {missing / 'profiles'} does not exist" in output
    assert (
        f"{path}:6: master_key_file {missing / 'keys' / 'master.key'} cannot be created" in output
    )
    bundle = missing / "bundle.pem"
    assert f"{path}:11: [[upstream]] 'national': ca_bundle {bundle} does not exist" in output
    # A flat trust_store_dir that exists but holds no certificate is refused too.
    (tmp_path / "empty").mkdir()
    status, output = _check(tmp_path, capsys, f'trust_store_dir = "{tmp_path / "empty"}"\n')
    assert status == 2 and "holds no .pem, .crt, .cer or .der file" in output


def test_database_dsn_is_tried(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    status, output = _check(tmp_path, capsys, f'database_dsn = "{closed}"\n')
    assert status == 2
    assert f"{tmp_path / 'gateway.toml'}:2: cannot connect to database_dsn:" in output
    # --offline leaves the database alone; a reachable server passes.
    assert _check(tmp_path, capsys, f'database_dsn = "{closed}"\n', "--offline")[0] == 0


@pytest.mark.postgres
def test_a_reachable_database_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = _check(tmp_path, capsys, f'database_dsn = "{_postgres_dsn()}"\n')
    assert status == 0, output
    assert "configuration OK (files, database and upstreams checked)" in output


def test_each_upstream_endpoint_is_tried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], http_endpoint: str
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/soap/v1"
    text = (
        f'[[upstream]]\nname = "national"\nprotocol = "vxp"\nendpoint = "{http_endpoint}"\n'
        f'[[upstream]]\nname = "parent"\nprotocol = "peer"\nendpoint = "{dead}"\n'
    )
    status, output = _check(tmp_path, capsys, text)
    assert status == 2
    assert f"{tmp_path / 'gateway.toml'}:9: [[upstream]] 'parent': {dead} does not answer" in output
    assert "'national'" not in output  # answered (a 404 is an answer)
    assert _check(tmp_path, capsys, text, "--offline")[0] == 0
    good = text.replace(dead, http_endpoint)
    status, output = _check(tmp_path, capsys, good)
    assert status == 0 and "configuration OK (files, database and upstreams checked)" in output


def test_an_unreadable_file_is_one_clear_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("port = \n", "utf-8")
    assert main(["config", "check", "--config", str(path)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    assert main(["config", "check", "--config", str(tmp_path / "nowhere.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
