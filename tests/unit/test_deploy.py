"""The systemd units in deploy/: `systemd-analyze verify` accepts them, they carry the hardening
the README promises, and each command they run is one the CLI knows."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "deploy").glob("*.service"))
INSTALLED = "/opt/edoc-gateway/venv/bin/edoc-gateway"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text("utf-8"))
    return parser


def test_units_are_shipped() -> None:
    assert {u.name for u in UNITS} == {"edoc-gateway.service", "edoc-gateway-relay.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: .ci/run installs Debian's systemd package"
    program = Path(sys.executable).parent / "edoc-gateway"  # the units' path, on this machine
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text("utf-8").replace(INSTALLED, str(program)), "utf-8")
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    problems = [line for line in done.stderr.splitlines() if unit.name in line]
    assert not problems, problems


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_are_hardened_and_run_real_commands(unit: Path) -> None:
    service = _unit(unit)["Service"]
    assert service["User"] == "edoc-gateway" and service["Group"] == "edoc-gateway"
    for option, value in (
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ):
        assert service[option] == value, option
    commands = [service["ExecStart"]]
    if "ExecStartPre" in service:
        commands.append(service["ExecStartPre"])
    for line in commands:
        words = shlex.split(line)
        assert words[0] == INSTALLED
        build_parser().parse_args(words[1:])  # exits (fails the test) on an unknown command
