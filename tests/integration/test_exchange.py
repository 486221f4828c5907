"""The exchange's operations on a real store: SQLite file and PostgreSQL (CI's server)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.config import Settings
from gateway.edxml.enums import StatusCode
from gateway.edxml.model import Code, DocumentPackage
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.errors import InvalidPackage, NotFound, PermissionDenied
from gateway.exchange import AttachmentInput, DocumentFields, Exchange, StatusFields
from gateway.security.credentials import (
    AuthenticationFailed,
    UsernameToken,
    password_digest,
)
from tests.fixtures.packages import build_document, build_status

SENDER, RECEIVER, OTHER = "000.00.00.G22", "000.00.00.H41", "000.00.00.H53"
NOW = dt.datetime(2026, 11, 21, 6, 0, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def exchange(store_settings: Settings, clock: Clock) -> Iterator[Exchange]:
    ex = Exchange(store_settings, clock=clock)
    for code, name in (
        (SENDER, "Văn phòng Chính phủ"),
        (RECEIVER, "UBND Tỉnh Nghệ An"),
        (OTHER, "UBND tỉnh Tây Ninh"),
    ):
        ex.credentials.add_agency(code, name, "vanthu@example.gov.vn", clock())
    yield ex
    ex.close()


@pytest.fixture
def document_bytes(exchange: Exchange) -> bytes:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 test document")
    return package_bytes(pkg, exchange.blobs)


def _counts(exchange: Exchange) -> dict[str, int]:
    """Rows per table, through the store's own connection (works on both engines)."""
    with exchange.store._tx() as q:  # type: ignore[attr-defined]
        return {
            table: int(q.one(f"SELECT COUNT(*) AS n FROM {table}")["n"])
            for table in ("packages", "deliveries", "traces", "package_blobs")
        }


# -- credentials -------------------------------------------------------------------------------


def test_digest_authentication_and_replay(exchange: Exchange, clock: Clock) -> None:
    secret = exchange.credentials.current_secret(SENDER)
    nonce, created = os.urandom(16), "2026-11-21T06:00:00Z"
    token = UsernameToken(SENDER, password_digest(nonce, created, secret), "digest", nonce, created)
    assert exchange.authenticate(token) == SENDER
    with pytest.raises(AuthenticationFailed, match="replay"):
        exchange.authenticate(token)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "d3Jvbmc="}, "wrong password"),
        ({"username": "000.00.99.H41"}, "wrong password"),
        ({"created": "2026-11-21T05:40:00Z"}, "clock"),
        ({"nonce": None}, "Nonce"),
    ],
)
def test_digest_authentication_failures(
    exchange: Exchange, change: dict[str, Any], message: str
) -> None:
    secret = exchange.credentials.current_secret(SENDER)
    nonce, created = os.urandom(16), change.get("created", "2026-11-21T06:00:00Z")
    token = UsernameToken(SENDER, password_digest(nonce, created, secret), "digest", nonce, created)
    with pytest.raises(AuthenticationFailed, match=message) as failure:
        exchange.authenticate(replace(token, **change))
    assert failure.value.code == "M.Security.Authentication"


def test_password_text_refused_unless_configured(store_settings: Settings, clock: Clock) -> None:
    for allowed in (False, True):
        settings = replace(store_settings, password_text_allowed=allowed)
        ex = Exchange(settings, clock=clock)
        if not allowed:
            ex.credentials.add_agency(SENDER, "VPCP", "", clock())
        token = UsernameToken(SENDER, ex.credentials.current_secret(SENDER), "text")
        if allowed:
            assert ex.authenticate(token) == SENDER
        else:
            with pytest.raises(AuthenticationFailed, match="PasswordText"):
                ex.authenticate(token)
        ex.close()


def test_rotate_and_disable(exchange: Exchange, clock: Clock) -> None:
    old = exchange.credentials.current_secret(RECEIVER)
    _record, new = exchange.credentials.rotate(RECEIVER, clock())
    assert new != old and exchange.credentials.current_secret(RECEIVER) == new
    nonce, created = os.urandom(16), "2026-11-21T06:00:00Z"
    with pytest.raises(AuthenticationFailed):
        exchange.authenticate(
            UsernameToken(RECEIVER, password_digest(nonce, created, old), "digest", nonce, created)
        )
    exchange.credentials.set_enabled(RECEIVER, False, clock())
    nonce = os.urandom(16)
    with pytest.raises(AuthenticationFailed, match="disabled"):
        exchange.authenticate(
            UsernameToken(RECEIVER, password_digest(nonce, created, new), "digest", nonce, created)
        )


def test_secrets_are_not_stored(exchange: Exchange) -> None:
    secret = exchange.credentials.current_secret(SENDER)
    record = exchange.store.get_agency(SENDER)
    assert record is not None and secret not in repr(record)
    assert len(record.secret_hash) == 64


# -- sending -----------------------------------------------------------------------------------


def test_send_document_then_duplicate(exchange: Exchange, document_bytes: bytes) -> None:
    first = exchange.send_document(SENDER, document_bytes)
    assert not first.duplicate and first.kind == "document"
    again = exchange.send_document(SENDER, document_bytes)
    assert again.duplicate and again.package_id == first.package_id
    assert again.received_at == first.received_at
    # The same package reformatted (junk bytes, other layout) is the same package.
    assert exchange.send_document(SENDER, b"1212" + document_bytes).package_id == first.package_id
    assert _counts(exchange)["packages"] == 1


def test_changed_content_is_a_new_package(exchange: Exchange) -> None:
    a = package_bytes(build_document(exchange.blobs, b"%PDF-1.4 A"), exchange.blobs)
    b = package_bytes(build_document(exchange.blobs, b"%PDF-1.4 B"), exchange.blobs)
    assert (
        exchange.send_document(SENDER, a).package_id != exchange.send_document(SENDER, b).package_id
    )


def test_cannot_send_as_another_agency(exchange: Exchange, document_bytes: bytes) -> None:
    with pytest.raises(PermissionDenied) as refused:
        exchange.send_document(OTHER, document_bytes)
    assert refused.value.code == "M.MessageHeader.From.OrganId"
    assert _counts(exchange)["packages"] == 0


def test_invalid_package_stores_nothing(exchange: Exchange) -> None:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 x", subject="")
    with pytest.raises(InvalidPackage) as refused:
        exchange.send_document(SENDER, package_bytes(pkg, exchange.blobs))
    assert "N.MessageHeader.Subject" in {f.code for f in refused.value.findings}
    assert _counts(exchange) == {"packages": 0, "deliveries": 0, "traces": 0, "package_blobs": 0}


def test_unknown_recipient_is_refused(exchange: Exchange) -> None:
    pkg = build_document(exchange.blobs, b"%PDF-1.4 x")
    pkg = replace(
        pkg, header=replace(pkg.header, to=(replace(pkg.header.to[0], organ_id="000.00.77.H41"),))
    )
    with pytest.raises(InvalidPackage) as refused:
        exchange.send_document(SENDER, package_bytes(pkg, exchange.blobs))
    assert refused.value.code == "R.MessageHeader.To.OrganId"
    assert "000.00.77.H41" in refused.value.message


def test_status_sent_to_send_document_is_refused(exchange: Exchange) -> None:
    data = package_bytes(build_status(), None)
    with pytest.raises(InvalidPackage, match="SendStatus"):
        exchange.send_document(RECEIVER, data)


# -- mailboxes, confirmation, traces --------------------------------------------------------------


def test_full_cycle(exchange: Exchange, document_bytes: bytes, clock: Clock) -> None:
    receipt = exchange.send_document(SENDER, document_bytes)
    page = exchange.get_pending(RECEIVER, "document", 10, "")
    assert [i.package_id for i in page.items] == [receipt.package_id]
    assert page.items[0].subject == "V/v thử nghiệm liên thông văn bản"
    assert exchange.get_pending(SENDER, "document", 10, "").items == ()
    assert exchange.get_pending(OTHER, "document", 10, "").items == ()

    content = exchange.get_package(RECEIVER, receipt.package_id)
    with content.open() as stream:
        fetched = read_package(stream, exchange.blobs)
    # The same package, now carrying the gateway's signature (what the gateway emits is signed).
    assert fetched.signature is not None
    assert replace(fetched, signature=None) == read_package(document_bytes, exchange.blobs)
    assert content.summary["from"]["organ_id"] == SENDER
    # Reading is not destructive: still pending until confirmed.
    assert len(exchange.get_pending(RECEIVER, "document", 10, "").items) == 1

    clock.now += dt.timedelta(minutes=5)
    confirmed = exchange.confirm_received(RECEIVER, receipt.package_id, "ok", "")
    assert confirmed.outcome == "ok" and confirmed.status_package_id
    assert exchange.get_pending(RECEIVER, "document", 10, "").items == ()
    # Decree 30/2020 Art. 21: the sender gets STATUS 01 automatically.
    statuses = exchange.get_pending(SENDER, "status", 10, "").items
    assert [s.package_id for s in statuses] == [confirmed.status_package_id]
    status = exchange.get_package(SENDER, confirmed.status_package_id)
    with status.open() as stream:
        status_pkg = read_package(stream, exchange.blobs)
    assert status_pkg.kind == "status"
    assert status_pkg.header.status_code is StatusCode.RECEIVED  # type: ignore[union-attr]
    assert status_pkg.header.response_for.document_id == "000.00.00.G22,2024/03/05,12/VPCP-TTĐT"  # type: ignore[union-attr]

    # Confirming twice is harmless and sends no second status.
    again = exchange.confirm_received(RECEIVER, receipt.package_id, "ok", "")
    assert again.outcome == "ok" and again.status_package_id == ""
    assert len(exchange.get_pending(SENDER, "status", 10, "").items) == 1

    # The receiver reports processing; the sender follows the document's history.
    clock.now += dt.timedelta(hours=1)
    accepted = build_status(StatusCode.ACCEPTED, timestamp=dt.datetime(2026, 11, 21, 14, 0, 0))
    exchange.send_status(RECEIVER, package_bytes(accepted, None))
    traces = exchange.get_traces(SENDER, document_id="000.00.00.G22,2024/03/05,12/VPCP-TTĐT")
    assert [t.status_code for t in traces] == ["01", "03"]
    assert traces[0].from_agency == RECEIVER and traces[0].to_agency == SENDER
    assert exchange.get_traces(SENDER, package_id=receipt.package_id) == traces
    later = exchange.get_traces(
        SENDER, package_id=receipt.package_id, since=NOW + dt.timedelta(minutes=30)
    )
    assert [t.status_code for t in later] == ["03"]
    # Reading traces twice gives the same answer: nothing is consumed.
    assert exchange.get_traces(SENDER, package_id=receipt.package_id) == traces


def test_other_agencies_see_nothing(exchange: Exchange, document_bytes: bytes) -> None:
    receipt = exchange.send_document(SENDER, document_bytes)
    with pytest.raises(NotFound):
        exchange.get_package(OTHER, receipt.package_id)
    with pytest.raises(NotFound):
        exchange.confirm_received(OTHER, receipt.package_id, "ok", "")
    with pytest.raises(NotFound):
        exchange.get_traces(OTHER, package_id=receipt.package_id)
    assert exchange.get_traces(OTHER, document_id="000.00.00.G22,2024/03/05,12/VPCP-TTĐT") == []
    # The sender may read its own package back.
    assert exchange.get_package(SENDER, receipt.package_id).kind == "document"


def test_failed_confirmation_leaves_the_mailbox_without_status(
    exchange: Exchange, document_bytes: bytes
) -> None:
    receipt = exchange.send_document(SENDER, document_bytes)
    result = exchange.confirm_received(
        RECEIVER, receipt.package_id, "failed", "attachment unreadable"
    )
    assert result.outcome == "failed" and result.status_package_id == ""
    assert exchange.get_pending(RECEIVER, "document", 10, "").items == ()
    assert exchange.get_pending(SENDER, "status", 10, "").items == ()
    delivery = exchange.store.get_delivery(receipt.package_id, RECEIVER)
    assert delivery is not None and delivery.reason == "attachment unreadable"


def test_pending_pages_with_a_cursor(exchange: Exchange) -> None:
    ids = []
    for n in range(5):
        pkg = build_document(exchange.blobs, b"%%PDF-1.4 n%d" % n, code=Code(str(n), "VPCP-TTĐT"))
        ids.append(exchange.send_document(SENDER, package_bytes(pkg, exchange.blobs)).package_id)
    seen, cursor = [], ""
    while True:
        page = exchange.get_pending(RECEIVER, "document", 2, cursor)
        seen += [i.package_id for i in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == ids


def test_duplicate_status_is_recognised(exchange: Exchange) -> None:
    data = package_bytes(build_status(StatusCode.PROCESSING), None)
    first = exchange.send_status(RECEIVER, data)
    assert exchange.send_status(RECEIVER, data).package_id == first.package_id
    assert _counts(exchange)["traces"] == 1


def test_send_fields(exchange: Exchange) -> None:
    receipt = exchange.send_document_fields(
        SENDER,
        DocumentFields(
            to=(RECEIVER,),
            subject="V/v báo cáo tình hình",
            code_number="45",
            code_notation="VPCP-KSTT",
            promulgation_date=dt.date(2026, 11, 20),
            place="Hà Nội",
            attachments=(
                AttachmentInput("bao-cao.pdf", "application/pdf", "Báo cáo", b"%PDF-1.7 bc"),
            ),
        ),
    )
    content = exchange.get_package(RECEIVER, receipt.package_id)
    assert content.summary["document_id"] == "000.00.00.G22,2026/11/20,45/VPCP-KSTT"
    assert content.summary["attachments"][0]["kind"] == "pdf"
    status = exchange.send_status_fields(
        RECEIVER,
        StatusFields(
            response_for_organ_id=SENDER,
            response_for_document_id="000.00.00.G22,2026/11/20,45/VPCP-KSTT",
            status_code="5",
        ),
    )
    with exchange.get_package(SENDER, status.package_id).open() as stream:
        pkg = read_package(stream, exchange.blobs)
    assert pkg.header.status_code is StatusCode.PROCESSING  # type: ignore[union-attr]
    with pytest.raises(InvalidPackage, match="999"):
        exchange.send_status_fields(
            RECEIVER, StatusFields(SENDER, "000.00.00.G22,2026/11/20,45/VPCP-KSTT", "999")
        )


def test_directory_and_service_info(exchange: Exchange, clock: Clock) -> None:
    exchange.credentials.set_enabled(OTHER, False, clock())
    assert [a.code for a in exchange.get_agencies(SENDER)] == [SENDER, RECEIVER]
    info = exchange.service_info()
    assert info.role == "agency-gateway" and info.replay_window_seconds == 300


def test_state_survives_a_restart(store_settings: Settings, clock: Clock) -> None:
    first = Exchange(store_settings, clock=clock)
    first.credentials.add_agency(SENDER, "VPCP", "", clock())
    first.credentials.add_agency(RECEIVER, "Nghệ An", "", clock())
    data = package_bytes(build_document(first.blobs, b"%PDF-1.4 keep"), first.blobs)
    receipt = first.send_document(SENDER, data)
    secret = first.credentials.current_secret(SENDER)
    first.close()
    second = Exchange(store_settings, clock=clock)
    assert second.credentials.current_secret(SENDER) == secret
    assert [i.package_id for i in second.get_pending(RECEIVER, "document", 5, "").items] == [
        receipt.package_id
    ]
    assert second.send_document(SENDER, data).duplicate
    second.close()


def test_reformatted_equal_documents_from_disk_and_memory(
    exchange: Exchange, tmp_path: Any
) -> None:
    """A package read from a file path and from bytes is one package."""
    pkg: DocumentPackage = build_document(exchange.blobs, b"%PDF-1.4 file")
    path = tmp_path / "doc.edxml"
    path.write_bytes(package_bytes(pkg, exchange.blobs))
    first = exchange.send_document(SENDER, path)
    second = exchange.send_document(SENDER, path.read_bytes())
    assert second.duplicate and second.package_id == first.package_id
