"""What the command line tells its user (issue 14 item 6), run as a user runs it: real
processes, real files, a real listening socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.test_cli import EXAMPLE, REPO, run_cli


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{extra}', "utf-8")
    return config


# -- a closed pipe --------------------------------------------------------------------------------


def _piped_to_head(command: list[str]) -> subprocess.CompletedProcess[str]:
    script = " ".join(f"'{part}'" for part in command) + " | head -n 1"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # Far more than a pipe buffer (64 KiB), so the writer meets the closed pipe.
    files = [str(EXAMPLE)] * 1500
    cli = [sys.executable, "-m", "gateway.cli"]
    result = _piped_to_head([*cli, "edxml", "validate", "--no-progress", *files])
    assert result.stdout.startswith("OK      ")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports it
    shown = _piped_to_head([*cli, "edxml", "show", "--json", str(EXAMPLE)])
    assert "Traceback" not in shown.stderr, shown.stderr


# -- edxml extract / show -------------------------------------------------------------------------


def test_extract_explains_a_non_zero_exit(samples_dir: Path, tmp_path: Path) -> None:
    sample = samples_dir / "axis-delivered" / "2025-874e0f18.edxml"  # vxp.saas.03: invalid
    result = run_cli("edxml", "extract", str(sample), "-d", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "exit 1: 1 attachment(s) extracted, but the package is invalid" in result.stderr
    assert "M.MessageHeader.From.OrganId" in result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 1
    status = samples_dir / "vpcp-sdk" / "status_finish_06.edxml"
    result = run_cli("edxml", "extract", str(status), "-d", str(tmp_path / "none"))
    assert result.returncode == 1 and "status package" in result.stderr
    assert "exit 1" in result.stderr


def test_show_gives_the_signature_verdict(samples_dir: Path) -> None:
    result = run_cli("edxml", "show", str(samples_dir / "vpcp-sdk" / "edoc_new.edxml"))
    [line] = [li for li in result.stdout.splitlines() if li.startswith("signature:")]
    assert line.startswith("signature: status=unverifiable, reason=")
    assert "XML-DSig namespace" in line
    result = run_cli("edxml", "show", str(EXAMPLE))
    assert "signature: status=absent, reason=the package carries no signature" in result.stdout
    assert "signature: Signature" not in result.stdout


# -- agencies add ---------------------------------------------------------------------------------


def test_agencies_add_checks_codes_emails_and_duplicates(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    add = ("agencies", "add", "--config", config)
    ok = run_cli(*add, "000.00.01.H53", "Văn phòng UBND tỉnh", "--email", "vanthu@tayninh.gov.vn")
    assert ok.returncode == 0, ok.stderr
    again = run_cli(*add, "000.00.01.H53", "Văn phòng UBND tỉnh")
    assert again.returncode == 2
    assert (
        again.stderr.strip() == "error: M.Agency.Exists: agency 000.00.01.H53 is already registered"
    )
    bad_mail = run_cli(*add, "000.00.32.H53", "UBND huyện", "--email", "notanemail")
    assert bad_mail.returncode == 2 and "M.Agency.Email" in bad_mail.stderr
    assert "'notanemail' is not an e-mail address" in bad_mail.stderr
    for code in ("ABC", "vxp.saas.03", "00.53.W00"):
        refused = run_cli(*add, code, "Không phải mã cơ quan")
        assert refused.returncode == 2, (code, refused.stdout)
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("error: M.AgencyCode at agency code: "), line
        assert "docs/agency-codes.md" in line and len(line) < 330, line
        assert "at most 35 characters" not in line  # the grammar lives in the docs
    system = run_cli(*add, "vxp.saas.03", "Nền tảng thử nghiệm", "--system")
    assert system.returncode == 0 and "added system vxp.saas.03" in system.stdout
    listed = run_cli("agencies", "list", "--config", config).stdout
    assert "vxp.saas.03" in listed and "ABC" not in listed and "00.32.H53" not in listed
    assert (REPO / "docs" / "agency-codes.md").is_file()


# -- relay run --once, directory register ----------------------------------------------------------


def test_relay_once_fails_when_nothing_succeeded(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    config = str(
        _config(
            tmp_path,
            '[[upstream]]\nname = "national"\nprotocol = "vxp"\n'
            f'endpoint = "http://127.0.0.1:{dead}/XrdAdapter/adapter"\n'
            'system_id = "00.53.W00"\nsecret = "s"\ntimeout_seconds = 2\n',
        )
    )
    result = run_cli("relay", "run", "--once", "--config", config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing succeeded" in result.stderr
    register = run_cli("directory", "register", "--config", config)
    assert register.returncode == 2
    assert "N.Directory.Register" in register.stderr and "agencies add" in register.stderr


# -- serve on a busy port -------------------------------------------------------------------------


def test_serve_checks_its_port_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "serve",
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(_config(tmp_path)),
        )
    assert result.returncode == 2
    assert "R.Config.port" in result.stderr and str(port) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no banner, no credentials
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").glob("*.sqlite*"))
