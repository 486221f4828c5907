"""The exchange's rooms behind the façade: a duplicate writes nothing, a fresh receipt is the
stored one, the legacy dialect is parsed once and its request (with the agency's secret) is
never kept, intake and mailbox events are logged with the package id, the faces reach only
the façade, and an accept writes once (received bytes in the strict layout are one blob, its
rows one transaction)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.reverify import NO_RAW_TRANSLATED, reverify
from gateway.security.credentials import UsernameToken, password_digest
from gateway.store.engine import SqliteDialect
from gateway.store.memo import agencies_remembered
from gateway.store.sql import SqlStore
from tests.fixtures.packages import build_document
from tests.fixtures.stores import transactions_opened
from tests.integration.test_legacy_edoc import (
    EDOC,
    MANIFEST,
    RECEIVER,
    SENDER,
    Server,
    envelope,
    send,
    send_header,
    soap_body,
)

REPO = Path(__file__).resolve().parents[2]
G22, H41 = "000.00.00.G22", "000.00.00.H41"
NOBODY = "000.00.00.X99"  # no agency has this code


@pytest.fixture
def exchange(store_settings: Settings) -> Iterator[Exchange]:
    ex = Exchange(store_settings)
    now = dt.datetime.now(dt.UTC)
    ex.credentials.add_agency(G22, "Văn phòng Chính phủ", "", now)
    ex.credentials.add_agency(H41, "UBND Tỉnh Nghệ An", "", now)
    yield ex
    ex.close()


def _blobs(exchange: Exchange) -> set[str]:
    """Every blob's address, in the database and in the backend."""
    return set(exchange.blobs.digests())


def _scratch(exchange: Exchange) -> list[Path]:
    return [p for p in exchange.spool_dir.iterdir() if p.is_file()]


def test_a_duplicate_files_no_blob_and_signs_no_receipt(exchange: Exchange) -> None:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 once only")
    data = package_bytes(pkg, exchange.blobs)
    first = exchange.send_document(G22, b"junk before the declaration" + data)
    assert not first.duplicate and first.warnings  # the junk was repaired, with a warning
    kept = _blobs(exchange)
    events_before = [r.event for r in exchange.store.audit_records(0, 1000)]

    for resend in (data, b"junk before the declaration" + data):
        again = exchange.send_document(G22, resend)
        assert again.duplicate and again.package_id == first.package_id
        # The original receipt, exactly: same signed bytes, time, warnings and verdict.
        assert again.signed_receipt == first.signed_receipt
        assert (again.received_at, again.warnings) == (first.received_at, first.warnings)
        assert (again.signature_status, again.signature_reason) == (
            first.signature_status,
            first.signature_reason,
        )
    # Neither resend filed a blob (no normalised copy, no raw copy, no receipt), and the
    # scratch copies were removed.
    assert _blobs(exchange) == kept
    assert _scratch(exchange) == []
    events = [r.event for r in exchange.store.audit_records(0, 1000)]
    assert events[len(events_before) :] == ["document.duplicate", "document.duplicate"]


def test_a_fresh_receipt_is_what_the_store_gives_back(exchange: Exchange) -> None:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 fresh")
    fresh = exchange.send_document(G22, b"\xef\xbb\xbf  \n" + package_bytes(pkg, exchange.blobs))
    stored = exchange.store.get_package(fresh.package_id)
    assert stored is not None
    assert exchange.blobs.read_bytes(stored.receipt_sha256) == fresh.signed_receipt
    again = exchange.send_document(G22, package_bytes(pkg, exchange.blobs))
    assert again == dataclasses.replace(fresh, duplicate=True)


def test_intake_and_mailbox_events_are_logged_with_the_package_id(
    exchange: Exchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.exchange")
    pkg = build_document(exchange.blobs, b"%PDF-1.4 logged")
    receipt = exchange.send_document(G22, package_bytes(pkg, exchange.blobs))
    exchange.send_document(G22, package_bytes(pkg, exchange.blobs))
    exchange.confirm_received(H41, receipt.package_id, "ok", "")
    with pytest.raises(Exception, match="cannot send as"):
        exchange.send_document(H41, package_bytes(pkg, exchange.blobs))
    mine = [r for r in caplog.records if getattr(r, "package_id", "") == receipt.package_id]
    messages = [r.getMessage() for r in mine]
    assert any("accepted from" in m for m in messages), messages
    assert any("received again" in m for m in messages), messages
    assert any("confirmed by" in m and "STATUS 01" in m for m in messages), messages
    assert all(r.name.startswith("gateway.exchange.") for r in mine)
    refused = [r for r in caplog.records if getattr(r, "error_code", "")]
    assert [r.error_code for r in refused] == ["M.MessageHeader.From.OrganId"]  # type: ignore[attr-defined]


# -- the legacy dialect ---------------------------------------------------------------------------
@pytest.fixture
def legacy(store_settings: Settings) -> Iterator[Server]:
    running = Server(store_settings)
    try:
        yield running
    finally:
        running.close()


def test_legacy_send_attests_the_request_and_never_keeps_its_token(legacy: Server) -> None:
    status, _type, reply = send(legacy, number=31)
    assert status == 200, reply
    number = soap_body(reply).findtext(f".//{{{EDOC}}}SendDocumentResponse/{{{EDOC}}}DocumentId")
    assert number
    admin = legacy.admin
    package_id = admin.legacy_package_id(int(number))
    assert package_id is not None
    stored = admin.store.get_package(package_id)
    assert stored is not None and stored.origin == "translated" and stored.raw_sha256 == ""
    # The receipt and the audit record attest the SOAP envelope exactly as it was received.
    root_part = envelope(MANIFEST, send_header(legacy, 31))
    accepted = [r for r in admin.store.audit_records(0, 1000) if r.event == "document.accepted"]
    assert [r.details["received_sha256"] for r in accepted] == [
        hashlib.sha256(root_part).hexdigest()
    ]
    assert hashlib.sha256(root_part).hexdigest().encode() in admin.blobs.read_bytes(
        stored.receipt_sha256
    )
    # The request named the sender's secret: no blob holds it.
    token = legacy.tokens[SENDER].encode()
    for digest in _blobs(admin):
        assert token not in admin.blobs.read_bytes(digest), digest
    # The document is the one the dialect described, once, addressed to the receiver.
    pkg = admin.read_package(RECEIVER, package_id)
    assert pkg.header.subject == "V/v thử nghiệm trục liên thông"  # type: ignore[union-attr]
    # Re-verification says why there is nothing to check.
    [result] = list(reverify(admin, [stored]))
    assert (result.raw, result.note, result.status) == ("translated", NO_RAW_TRANSLATED, "")


# -- the faces reach only the façade ----------------------------------------------------------
FACES = [
    "gateway/server.py",
    "gateway/restface/face.py",
    "legacy_adapters/edoc_soap/service.py",
    "legacy_adapters/edoc_soap/app.py",
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "gateway" / "soap").glob("*.py")),
]
BEHIND = {"store", "credentials", "blobs", "router", "trust", "signing_key"}


@pytest.mark.parametrize("face", FACES)
def test_faces_use_only_the_facade(face: str) -> None:
    tree = ast.parse((REPO / face).read_text(encoding="utf-8"))
    reached = [
        f"{face}:{node.lineno} .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in BEHIND
    ]
    assert reached == []


def test_bytes_in_the_strict_layout_are_kept_once(exchange: Exchange) -> None:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 strict")
    data = package_bytes(pkg, exchange.blobs)
    before = _blobs(exchange)
    receipt = exchange.send_document(G22, data)
    stored = exchange.store.get_package(receipt.package_id)
    assert stored is not None and stored.origin == "received"
    assert stored.raw_sha256 == stored.blob_sha256  # the normalised package is the raw one
    assert exchange.blobs.read_bytes(stored.raw_sha256) == data
    # the normalised (= received) package and the receipt; the attachment was filed on reading
    assert _blobs(exchange) - before == {stored.blob_sha256, stored.receipt_sha256}

    other = exchange.send_document(G22, b"\n" + package_bytes(
        build_document(exchange.blobs, b"%PDF-1.4 not strict"), exchange.blobs
    ))
    kept = exchange.store.get_package(other.package_id)
    assert kept is not None and kept.raw_sha256 != kept.blob_sha256  # then both are kept


def test_an_agency_is_read_once_per_request_and_again_after_a_change(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = exchange.store
    reads: list[str] = []
    original = SqlStore._read_agency

    def counting(self: SqlStore, code: str) -> object:
        reads.append(code)
        return original(self, code)

    monkeypatch.setattr(SqlStore, "_read_agency", counting)
    with agencies_remembered():
        assert store.get_agency(G22) is not None and store.get_agency(G22) is not None
        assert store.get_agency(NOBODY) is None and store.get_agency(NOBODY) is None
        assert reads == [G22, NOBODY]
        store.update_agency(G22, updated_at=2, enabled=False)
        record = store.get_agency(G22)
        assert record is not None and not record.enabled  # the change is seen in the request
    assert reads == [G22, NOBODY, G22]
    store.get_agency(G22)
    store.get_agency(G22)
    assert reads.count(G22) == 4  # outside a request nothing is remembered


def test_the_agency_memo_keeps_each_store_apart(exchange: Exchange, tmp_path: Path) -> None:
    other = SqlStore(SqliteDialect(tmp_path / "other.sqlite"))
    other.migrate()
    try:
        with agencies_remembered():
            assert exchange.store.get_agency(G22) is not None
            assert other.get_agency(G22) is None  # another database: not the first one's record
    finally:
        other.close()


def test_an_accept_is_one_transaction(exchange: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted where the store opens each transaction: the writes of a send are the accept's."""
    pkg = build_document(exchange.blobs, b"%PDF-1.4 one transaction")  # its attachment, before
    data = package_bytes(pkg, exchange.blobs)
    secret = exchange.credentials.current_secret(G22)
    nonce, created = os.urandom(16), dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = UsernameToken(G22, password_digest(nonce, created, secret), "digest", nonce, created)
    with agencies_remembered():  # as the server does for each request
        assert exchange.authenticate(token) == G22  # reads the sender's record
        modes = transactions_opened(monkeypatch)
        receipt = exchange.send_document(G22, data)
    assert not receipt.duplicate
    assert modes.count("write") == 1 and "cache" not in modes
    # The sender was read by the authentication: the send reads the recipient and makes the
    # early duplicate check (without the memo, the From check reads the sender again).
    assert modes.count("read") == 2
    stored = exchange.store.get_package(receipt.package_id)
    assert stored is not None
    records = exchange.store.audit_records(0, 1000)
    events = [r.event for r in records if r.subject == stored.package_id]
    assert events == ["document.accepted"]
