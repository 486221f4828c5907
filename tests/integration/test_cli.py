"""The ``edoc-gateway`` command line, run as a user runs it: a real process, real files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.fixtures.samples import SAMPLES_DIR, sample_names

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "gateway" / "examples" / "quickstart-document.edxml"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point's code in a child interpreter (no shell, bounded time)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_quickstart_reads_validates_and_summarises_the_bundled_example() -> None:
    result = run_cli("quickstart")
    assert result.returncode == 0, result.stderr
    assert "subject: V/v thử nghiệm liên thông" in result.stdout
    assert "125-VP-HCTC.signed.pdf" in result.stdout
    assert "validated against xsd/" in result.stdout


def test_validate_valid_file_exits_0(tmp_path: Path) -> None:
    result = run_cli("edxml", "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK ")


def test_validate_invalid_file_exits_1_with_codes(tmp_path: Path) -> None:
    broken = tmp_path / "no-subject.edxml"
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("<edXML:Subject>")
    end = text.index("</edXML:Subject>") + len("</edXML:Subject>")
    broken.write_text(text[:start] + "<edXML:Subject></edXML:Subject>" + text[end:], "utf-8")
    result = run_cli("edxml", "validate", str(broken))
    assert result.returncode == 1
    assert "INVALID" in result.stdout
    assert "N.MessageHeader.Subject" in result.stdout


def test_validate_unusable_input_exits_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.edxml"
    garbage.write_bytes(b"this is not xml at all")
    missing = tmp_path / "missing.edxml"
    result = run_cli("edxml", "validate", str(garbage), str(missing), str(EXAMPLE))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"UNUSABLE {garbage}: M.Xml")
    assert lines[1].startswith(f"UNUSABLE {missing}: M.File")
    assert lines[-1] == "1 valid, 0 invalid, 2 unusable"


def test_validate_json(tmp_path: Path) -> None:
    wrong_ns = tmp_path / "wrong-ns.edxml"
    wrong_ns.write_text('<?xml version="1.0"?><edXML xmlns="http://www.go.vn/eDoc"/>', "utf-8")
    result = run_cli("edxml", "validate", "--json", str(EXAMPLE), str(wrong_ns))
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert [d["result"] for d in data] == ["valid", "unusable"]
    assert data[1]["error"]["code"] == "M.Namespace"
    assert "QCVN" in data[1]["error"]["message"]


def test_show_json_summary() -> None:
    result = run_cli("edxml", "show", "--json", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kind"] == "document"
    assert summary["from"]["organ_id"] == "000.00.01.H53"
    assert summary["to"][0]["organ_id"] == "000.00.32.H53"
    assert summary["attachments"][0]["kind"] == "pdf"
    assert summary["business"]["doc_type_name"] == "new"


def test_normalize_writes_strict_layout_and_refuses_invalid(tmp_path: Path) -> None:
    quirky = tmp_path / "quirky.edxml"
    quirky.write_bytes(b"1212" + EXAMPLE.read_bytes())
    out = tmp_path / "clean.edxml"
    result = run_cli("edxml", "normalize", str(quirky), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == EXAMPLE.read_bytes()
    assert "1 repair(s)" in result.stdout

    again = run_cli("edxml", "normalize", str(quirky), "-o", str(out))
    assert again.returncode == 2 and "exists" in again.stderr

    invalid = tmp_path / "invalid.edxml"
    invalid.write_text(EXAMPLE.read_text("utf-8").replace("000.00.32.H53", "not a code"), "utf-8")
    target = tmp_path / "never-written.edxml"
    refused = run_cli("edxml", "normalize", str(invalid), "-o", str(target))
    assert refused.returncode == 1
    assert not target.exists()
    assert list(tmp_path.glob(".never-written*")) == []


def test_extract_writes_attachments_named_from_attachment_name(tmp_path: Path) -> None:
    out = tmp_path / "files"
    result = run_cli("edxml", "extract", str(EXAMPLE), "-d", str(out))
    assert result.returncode == 0, result.stderr
    extracted = out / "125-VP-HCTC.signed.pdf"
    assert extracted.read_bytes().startswith(b"%PDF-1.4")
    twice = run_cli("edxml", "extract", str(EXAMPLE), "-d", str(out))
    assert twice.returncode == 0
    assert (out / "125-VP-HCTC.signed-2.pdf").read_bytes() == extracted.read_bytes()


def test_extract_unwraps_the_zip_of_a_real_axis_package(samples_dir: Path, tmp_path: Path) -> None:
    sample = samples_dir / "axis-delivered" / "2019-852e179c.edxml"
    result = run_cli("edxml", "extract", str(sample), "-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    pdf = tmp_path / "GUIDE_INSTALL OPENVPN.SIGNED.PDF"
    assert pdf.exists()
    assert "unwrapped from zip" in result.stdout


def test_extract_refuses_damaged_content(samples_dir: Path, tmp_path: Path) -> None:
    sample = samples_dir / "vpcp-sdk" / "edoc.edxml"
    result = run_cli("edxml", "extract", str(sample), "-d", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "damaged" in result.stderr
    assert not (tmp_path / "out").exists()


def test_validate_many_files_in_process(
    samples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(str(p) for p in samples_dir.glob("*/*.edxml"))
    code = main(["edxml", "validate", "--quiet", "--no-progress", *files])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    invalid = sorted(Path(line.split()[1]).name for line in lines if line.startswith("INVALID"))
    # edoc.edxml: its attachment is a JMeter placeholder, not base64. The two 2025 axis packages
    # use the VXP test systemId `vxp.saas.03` as From/To OrganId, which is no agency code.
    assert invalid == ["2025-874e0f18.edxml", "2025-9e272474.edxml", "edoc.edxml"]
    assert lines[-1] == f"{len(files) - 3} valid, 3 invalid, 0 unusable"


def test_example_is_our_own_fixture() -> None:
    """The bundled example must not be a copy of a national-axis sample."""
    digest = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    for name in sample_names():
        assert hashlib.sha256((SAMPLES_DIR / name).read_bytes()).hexdigest() != digest
