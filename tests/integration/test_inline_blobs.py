"""Small blobs inside the database (issue 12 item 1), on a real store (SQLite and PostgreSQL; file
and PostgreSQL backends): an accepted package of ordinary size writes no blob file, its blobs
commit in its own transaction or not at all, larger ones still stream to the backend, and the
collector removes only inline rows that are old and that no package names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import BlobBackend, Settings
from gateway.edxml.writer import package_bytes
from gateway.errors import GatewayError, StorageError
from gateway.exchange import Exchange
from gateway.store.blobs_inline import InlineBlobStore, held_for_commit
from gateway.store.retention import collect_blobs
from gateway.store.sql import SqlStore
from tests.fixtures.cluster import organization
from tests.fixtures.packages import MINIMAL_PDF, build_document
from tests.fixtures.stores import BLOB_SETUPS, setup_settings

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture(params=BLOB_SETUPS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with setup_settings(request.param, tmp_path / "data") as settings:
        yield settings


def _exchange(settings: Settings) -> Exchange:
    ex = Exchange(settings)
    for code in (SENDER, RECEIVER):
        if ex.store.get_agency(code) is None:
            ex.credentials.add_agency(code, f"Agency {code}", "", dt.datetime.now(dt.UTC))
    return ex


@pytest.fixture
def exchange(settings: Settings) -> Iterator[Exchange]:
    ex = _exchange(settings)
    yield ex
    ex.close()


def _document(ex: Exchange, number: int, content: bytes = MINIMAL_PDF) -> bytes:
    pkg = build_document(
        ex.blobs,
        content + f" document {number}".encode(),
        from_=organization(SENDER),
        to=(organization(RECEIVER),),
        document_id=f"{SENDER},2026/01/05,{number}/IB",
    )
    return package_bytes(pkg, ex.blobs)


def _rows(ex: Exchange, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with ex.store._tx() as q:  # type: ignore[attr-defined]
        return list(q.all(sql, params))


def _inline(ex: Exchange) -> set[str]:
    return {r["sha256"] for r in _rows(ex, "SELECT sha256 FROM inline_blobs")}


def _referenced(ex: Exchange, package_id: str) -> set[str]:
    rows = _rows(ex, "SELECT blob_sha256 FROM package_blobs WHERE package_id = ?", (package_id,))
    return {r["blob_sha256"] for r in rows}


def _backend(ex: Exchange) -> Any:
    assert isinstance(ex.blobs, InlineBlobStore)
    return ex.blobs.backend


def _blob_files(settings: Settings) -> list[Path]:
    root = settings.blob_dir
    return [p for p in root.glob("??/*") if p.is_file()] if root.is_dir() else []


def test_an_accept_keeps_its_blobs_in_its_own_transaction(exchange: Exchange) -> None:
    ex = exchange
    files_before = _blob_files(ex.settings)
    inline_before = _inline(ex)
    sent = _document(ex, 1)
    receipt = ex.send_document(SENDER, sent)
    stored = ex.store.get_package(receipt.package_id)
    assert stored is not None
    names = _referenced(ex, receipt.package_id)
    assert {stored.blob_sha256, stored.receipt_sha256} <= names
    assert names <= _inline(ex) - inline_before  # every blob of the package is a new row
    assert _blob_files(ex.settings) == files_before  # and no file was written for it
    assert not any(_backend(ex).contains(n) for n in names)
    normalised = ex.blobs.read_bytes(stored.blob_sha256)
    assert hashlib.sha256(normalised).hexdigest() == stored.blob_sha256
    fetched = ex.get_package(RECEIVER, receipt.package_id).open().read()  # signed on the way out
    assert f"{SENDER},2026/01/05,1/IB".encode() in fetched
    assert ex.blobs.read_bytes(stored.receipt_sha256) == receipt.signed_receipt

    # the automatic STATUS 01 commits with the confirmation, its blobs with it
    confirmed = ex.confirm_received(RECEIVER, receipt.package_id, "ok", "")
    status = ex.store.get_package(confirmed.status_package_id)
    assert status is not None
    assert _referenced(ex, status.package_id) <= _inline(ex)
    with ex.blobs.local_copy(status.blob_sha256) as path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == status.blob_sha256
    assert _blob_files(ex.settings) == files_before


def test_a_blob_above_the_limit_streams_to_the_backend(settings: Settings) -> None:
    ex = _exchange(dataclasses.replace(settings, inline_blob_bytes=16 * 1024))
    try:
        large = MINIMAL_PDF + bytes(range(256)) * 200  # ~51 KB: beyond the limit
        receipt = ex.send_document(SENDER, _document(ex, 2, large))
        stored = ex.store.get_package(receipt.package_id)
        assert stored is not None
        attachment = hashlib.sha256(large + b" document 2").hexdigest()
        names = _referenced(ex, receipt.package_id)
        assert attachment in names and stored.blob_sha256 in names
        for big in (attachment, stored.blob_sha256):  # the package holds it in base64: large
            assert big not in _inline(ex) and _backend(ex).contains(big)
        assert stored.receipt_sha256 in _inline(ex)  # the receipt is small
        assert ex.blobs.read_bytes(attachment) == large + b" document 2"
        assert b"".join(ex.blobs.iter_chunks(attachment, 1000)) == large + b" document 2"
    finally:
        ex.close()


def test_a_failed_or_refused_accept_leaves_no_blob(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = exchange
    inline_before, files_before = _inline(ex), _blob_files(ex.settings)
    packages_before = _rows(ex, "SELECT id FROM packages")

    def failing(q: Any, package: Any) -> None:
        raise StorageError("M.Store.Injected", "the disk failed in the middle of the accept")

    # a failure inside the accept's transaction, after the package row was inserted
    monkeypatch.setattr(SqlStore, "_insert_children", staticmethod(failing))
    with pytest.raises(StorageError):
        ex.send_document(SENDER, _document(ex, 3))
    monkeypatch.undo()
    # a refusal: the recipient is unknown here (and there is no upstream)
    refused = build_document(
        ex.blobs,
        MINIMAL_PDF + b" refused",
        from_=organization(SENDER),
        to=(organization("000.00.99.Z99"),),
        document_id=f"{SENDER},2026/01/05,4/IB",
    )
    with pytest.raises(GatewayError):
        ex.send_document(SENDER, package_bytes(refused, ex.blobs))

    # the fixtures' own attachments were written outside any accept (build_document); no row
    # and no file other than those, no package
    attachments = {
        hashlib.sha256(MINIMAL_PDF + suffix).hexdigest()
        for suffix in (b" document 3", b" refused")
    }
    assert _inline(ex) - inline_before <= attachments
    assert _blob_files(ex.settings) == files_before
    assert _rows(ex, "SELECT id FROM packages") == packages_before


def test_held_blobs_are_seen_by_their_request_only_until_committed(exchange: Exchange) -> None:
    blobs = exchange.blobs
    data = b"held for the package's own transaction"
    digest = hashlib.sha256(data).hexdigest()
    with held_for_commit() as held:
        ref = blobs.put_bytes(data)
        assert ref.sha256 == digest and held == {digest: data}
        assert blobs.read_bytes(digest) == data and blobs.contains(digest)
        assert digest not in _inline(exchange)  # nothing written yet
    assert not blobs.contains(digest)  # no transaction took it: gone with the block
    standalone = blobs.put_bytes(data)  # outside an accept: a durable row of its own
    assert standalone.sha256 in _inline(exchange) and blobs.read_bytes(digest) == data


def test_the_collector_takes_only_old_inline_rows_no_package_names(exchange: Exchange) -> None:
    ex = exchange
    receipt = ex.send_document(SENDER, _document(ex, 5))
    kept = _referenced(ex, receipt.package_id)
    orphan = ex.blobs.put_bytes(b"nothing names this blob").sha256
    now = dt.datetime.now(dt.UTC).timestamp()
    assert collect_blobs(ex.store, ex.blobs, cutoff=now - 3600)[1] == 0  # all young
    assert orphan in _inline(ex)
    _restored, would = collect_blobs(ex.store, ex.blobs, cutoff=now + 3600, dry_run=True)
    assert would >= 1 and orphan in _inline(ex)  # a dry run removes nothing
    removed = collect_blobs(ex.store, ex.blobs, cutoff=now + 3600)[1]
    assert removed == would
    assert orphan not in _inline(ex) and not ex.blobs.contains(orphan)
    assert kept <= _inline(ex)
    assert ex.get_package(RECEIVER, receipt.package_id).open().read()


def test_rows_stay_readable_with_inline_blobs_switched_off(settings: Settings) -> None:
    ex = _exchange(settings)
    try:
        receipt = ex.send_document(SENDER, _document(ex, 6))
    finally:
        ex.close()
    off = _exchange(dataclasses.replace(settings, inline_blob_bytes=0))
    try:
        assert off.get_package(RECEIVER, receipt.package_id).open().read()
        files_before = len(_blob_files(settings))
        later = off.send_document(SENDER, _document(off, 7))
        stored = off.store.get_package(later.package_id)
        assert stored is not None and _backend(off).contains(stored.blob_sha256)
        if settings.blob_backend is BlobBackend.FILE:
            assert len(_blob_files(settings)) > files_before
    finally:
        off.close()
