"""``edoc-gateway operators add|list|disable|enable|passwd`` as an operator types them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.config import Settings
from gateway.store import open_store

REPO = Path(__file__).resolve().parents[2]


def _cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
        input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120,
    )


def test_operators_are_added_listed_disabled_and_given_new_passwords(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', "utf-8")
    added = _cli(config, "operators", "add", "lan", "--role", "admin", "--password-stdin",
                 stdin="mat-khau-dai-du-roi\n")
    assert added.returncode == 0, added.stderr
    assert "added operator lan (admin)" in added.stdout
    again = _cli(config, "operators", "add", "lan", "--password-stdin", stdin="mat-khau-khac-123\n")
    assert again.returncode == 2 and "M.Operator.Exists" in again.stderr
    short = _cli(config, "operators", "add", "minh", "--password-stdin", stdin="ngan\n")
    assert short.returncode == 2 and "R.Operator.Password" in short.stderr
    role = _cli(config, "operators", "add", "minh", "--role", "root", "--password-stdin",
                stdin="mat-khau-dai-du-roi\n")
    assert role.returncode == 2 and "R.Operator.Role" in role.stderr
    name = _cli(config, "operators", "add", "Minh Anh", "--password-stdin",
                stdin="mat-khau-dai-du-roi\n")
    assert name.returncode == 2 and "R.Operator.Name" in name.stderr

    assert _cli(config, "operators", "disable", "lan").returncode == 0
    listed = _cli(config, "operators", "list").stdout
    assert listed.split()[:3] == ["lan", "admin", "disabled"]
    assert _cli(config, "operators", "enable", "lan").returncode == 0
    changed = _cli(config, "operators", "passwd", "lan", "--password-stdin",
                   stdin="mat-khau-moi-tinh-12\n")
    assert changed.returncode == 0 and "sessions are ended" in changed.stdout
    missing = _cli(config, "operators", "disable", "nobody")
    assert missing.returncode == 2 and "N.Operator" in missing.stderr

    store = open_store(Settings(data_dir=tmp_path / "data"))
    try:
        [lan] = store.console_tables().list_operators()
        assert lan.enabled and lan.password_hash.startswith("$argon2id$")
        assert "mat-khau" not in lan.password_hash
        events = [(r.event, r.actor, r.subject) for r in store.audit_records(0, 100)]
        assert ("console.operator.added", "cli", "lan") in events
        assert events.count(("console.operator.updated", "cli", "lan")) == 3
    finally:
        store.close()


def test_agencies_import_reports_each_line_and_is_idempotent(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', "utf-8")
    rows = "\n".join(f"000.00.{n:02d}.H53,Đơn vị số {n},,000.00.01.H53" for n in range(2, 40))
    sheet = tmp_path / "don-vi.csv"
    sheet.write_text(
        "\ufeffcode,name,email,parent\n000.00.01.H53,UBND tỉnh Tây Ninh,,\n"
        f"{rows}\nh53.17,Sở A,,\n000.00.99.H53,Sở B,not-an-address,\n000.00.98.H53,Sở C,,nobody\n",
        "utf-8",
    )
    dry = _cli(config, "agencies", "import", str(sheet), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "39 would add, 0 already registered, 3 refused (dry run" in dry.stdout
    assert _cli(config, "agencies", "list").stdout == ""
    first = _cli(config, "agencies", "import", str(sheet))
    assert first.returncode == 1
    lines = first.stdout.splitlines()
    assert "39 added, 0 already registered, 3 refused" in first.stdout
    assert any("M.AgencyCode" in line and "line    41" in line for line in lines)
    assert any("M.Agency.Email" in line for line in lines)
    assert any("N.Agency" in line and "nobody" in line for line in lines)
    second = _cli(config, "agencies", "import", str(sheet))
    assert "0 added, 39 already registered, 3 refused" in second.stdout
    listed = _cli(config, "agencies", "list").stdout
    assert listed.count("(under 000.00.01.H53)") == 38
    empty = tmp_path / "empty.csv"
    empty.write_text("name\nx\n", "utf-8")
    unusable = _cli(config, "agencies", "import", str(empty))
    assert unusable.returncode == 2 and "no code column" in unusable.stdout
