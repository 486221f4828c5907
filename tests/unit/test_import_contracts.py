"""The import contracts in pyproject.toml ([tool.importlinter]): dependencies point down the
layers listed in docs/architecture.md, and no package has a cycle among its children."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages found first on the path at ``source_root``."""
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_sources_keep_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.fixture
def copy_of_sources(tmp_path: Path) -> Path:
    for package in ("gateway", "legacy_adapters"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text("utf-8") + f"\n{line}\n", "utf-8")


def test_an_upward_import_breaks_the_layers(copy_of_sources: Path) -> None:
    # The settings layer reaching up into the relay (as config.py once did) is refused.
    _append(copy_of_sources / "gateway" / "config.py", "import gateway.relay.connector  # noqa")
    result = _lint(copy_of_sources)
    assert result.returncode == 1
    assert "Dependencies point down" in result.stdout and "BROKEN" in result.stdout
    assert "gateway.config -> gateway.relay.connector" in result.stdout


def test_a_cycle_between_siblings_is_refused(copy_of_sources: Path) -> None:
    # Two modules of one layer importing each other (edxml/reader.py <-> writer.py here).
    _append(
        copy_of_sources / "gateway" / "edxml" / "writer.py", "import gateway.edxml.reader  # noqa"
    )
    _append(
        copy_of_sources / "gateway" / "edxml" / "reader.py", "import gateway.edxml.writer  # noqa"
    )
    result = _lint(copy_of_sources)
    assert result.returncode == 1
    assert "No cycles are allowed in gateway.edxml" in result.stdout
