"""`backup` while documents keep arriving, then `restore` into an empty data directory: every
package, blob and audit record of the snapshot comes back, the audit chain verifies, and the
restored gateway authenticates its agencies and serves their mailboxes."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from pathlib import Path

import pytest

from gateway.admin.backup import MANIFEST, Manifest, backup, restore
from gateway.cli import main
from gateway.config import Settings
from gateway.edxml.model import Code
from gateway.edxml.writer import package_bytes
from gateway.errors import BadRequest, UnusableInput
from gateway.exchange import Exchange
from gateway.store import open_blobs, open_store
from gateway.store.sql import SqlStore
from tests.fixtures.packages import build_document

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"


def _send(exchange: Exchange, number: int) -> str:
    pkg = build_document(
        exchange.blobs,
        f"%PDF-1.4 document {number}".encode(),
        document_id=f"000.00.00.G22,2024/03/05,{number}/VPCP-TTĐT",
        code=Code(str(number), "VPCP-TTĐT"),
    )
    return exchange.send_document(SENDER, package_bytes(pkg, exchange.blobs)).package_id


def _all_packages(store: SqlStore) -> dict[str, object]:
    return {p.package_id: p for p in store.packages_received(0, None, 100_000)}


@pytest.mark.slow
def test_backup_under_load_then_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Settings(data_dir=tmp_path / "source")
    exchange = Exchange(source)
    secrets = {
        SENDER: exchange.ensure_agency(SENDER, "Văn phòng Chính phủ"),
        RECEIVER: exchange.ensure_agency(RECEIVER, "UBND Tỉnh Nghệ An"),
    }
    for number in range(5):
        _send(exchange, number)

    stop = threading.Event()
    sent: list[str] = []
    failures: list[BaseException] = []

    def load() -> None:  # documents keep arriving while the backup runs
        number = 1000
        try:
            while not stop.is_set():
                sent.append(_send(exchange, number))
                number += 1
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        while len(sent) < 3:  # the load is flowing
            stop.wait(0.05)
        archive = tmp_path / "backup.tar"
        monkeypatch.setenv("GATEWAY_DATA_DIR", str(source.data_dir))
        assert main(["backup", "-o", str(archive)]) == 0
        during = len(sent)
        while len(sent) < during + 3:  # and goes on after it
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join()
        exchange.close()
    assert not failures, failures
    assert "wrote" in capsys.readouterr().out
    assert archive.stat().st_mode & 0o077 == 0  # it holds the master key

    with tarfile.open(archive) as tar:
        member = tar.extractfile(MANIFEST)
        assert member is not None
        manifest = Manifest.parse(member.read())

    target = tmp_path / "restored"
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(target))
    assert main(["restore", str(archive)]) == 0
    assert main(["audit", "verify"]) == 0
    assert main(["health"]) == 0, capsys.readouterr().out
    capsys.readouterr()

    original, restored = open_store(source), open_store(Settings(data_dir=target))
    try:
        before, after = _all_packages(original), _all_packages(restored)
        assert len(after) == manifest.packages and 5 + 3 <= len(after) < len(before)
        for package_id, package in after.items():  # each one exactly as it was
            assert before[package_id] == package
        blobs = open_blobs(Settings(data_dir=target))  # rows in the database, files beside it
        try:
            for digest in restored.all_referenced_blobs():
                assert hashlib.sha256(blobs.read_bytes(digest)).hexdigest() == digest
        finally:
            blobs.close()
        audit = restored.audit_records(0, 100_000)
        assert len(audit) == manifest.audit_records
        assert audit == original.audit_records(0, len(audit))
        assert audit[-1].hash == manifest.audit_anchor
    finally:
        original.close()
        restored.close()

    again = Exchange(Settings(data_dir=target))  # the restored gateway works
    try:
        for code, secret in secrets.items():
            assert again.agency_secret(code) == secret
        page = again.get_pending(RECEIVER, "document", 1000, "")
        assert {item.package_id for item in page.items} == set(after)
    finally:
        again.close()


def test_restore_refuses_a_used_directory_and_a_tampered_archive(tmp_path: Path) -> None:
    source = Settings(data_dir=tmp_path / "source", inline_blob_bytes=0)  # blobs as files
    exchange = Exchange(source)
    try:
        exchange.ensure_agency(SENDER, "Văn phòng Chính phủ")
        exchange.ensure_agency(RECEIVER, "UBND Tỉnh Nghệ An")
        _send(exchange, 1)
    finally:
        exchange.close()
    archive = tmp_path / "backup.tar"
    backup(source, archive)

    with pytest.raises(BadRequest) as used:
        restore(archive, source)
    assert used.value.code == "R.Restore.NotEmpty"

    tampered = tmp_path / "tampered.tar"
    with tarfile.open(archive) as tar, tarfile.open(tampered, "w") as out:
        for member in tar:
            data = tar.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name.startswith("blobs/"):
                content = content[:-1] + bytes([content[-1] ^ 1])
            out.addfile(member, io.BytesIO(content))
    target = Settings(data_dir=tmp_path / "restored")
    with pytest.raises(UnusableInput) as broken:
        restore(tampered, target)
    assert broken.value.code == "M.Backup.Hash"
    assert not target.data_dir.exists()  # nothing half-restored
