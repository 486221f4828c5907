"""What stops a package from upstream (issue 14 item 2): only what makes delivery impossible.
``Exchange.accept_from_upstream`` as the poller calls it, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import Settings, UpstreamSettings
from gateway.edxml.writer import package_bytes
from gateway.errors import InvalidPackage
from gateway.exchange import Exchange
from gateway.store.relay_sql import DirectoryEntry
from tests.fixtures.packages import _organization, build_document

LOCAL, REMOTE = "000.00.01.H53", "000.00.00.H41"


@pytest.fixture
def exchange(store_settings: Settings) -> Iterator[Exchange]:
    upstream = UpstreamSettings(name="national", protocol="vxp", endpoint="http://127.0.0.1:9")
    ex = Exchange(replace(store_settings, upstreams=(upstream,), default_upstream=""))
    ex.credentials.add_agency(LOCAL, "Văn phòng UBND tỉnh", "", dt.datetime.now(dt.UTC))
    yield ex
    ex.close()


def _from(sender: str, to: str, exchange: Exchange, **header: object) -> bytes:
    pkg = build_document(
        exchange.blobs,
        from_=_organization(sender, sender),
        to=(_organization(to, to),),
        **header,
    )
    return package_bytes(pkg, exchange.blobs)


def test_findings_that_do_not_stop_delivery_are_warnings(exchange: Exchange) -> None:
    data = _from("vxp.saas.03", LOCAL, exchange, subject="")  # a systemId, an empty Trích yếu
    with pytest.raises(InvalidPackage):  # from a local client: refused
        exchange.send_document(LOCAL, data)
    receipt = exchange.accept_from_upstream("national", data)
    codes = {(w.code, w.severity.value) for w in receipt.warnings}
    assert ("M.MessageHeader.From.OrganId", "warning") in codes
    assert any(code.startswith("N.MessageHeader.Subject") for code, _ in codes), codes
    [item] = exchange.get_pending(LOCAL, "document", 10, "").items
    assert item.sender == "vxp.saas.03"


def test_no_local_recipient_and_unreadable_content_are_refused(
    exchange: Exchange, samples_dir: Path
) -> None:
    with pytest.raises(InvalidPackage) as nobody:
        exchange.accept_from_upstream("national", _from(REMOTE, "000.00.05.H53", exchange))
    assert nobody.value.code == "R.MessageHeader.To.OrganId"
    # The SDK's old sample: base64 content damaged (11 characters outside the alphabet).
    damaged = (samples_dir / "vpcp-sdk" / "edoc.edxml").read_bytes()
    with pytest.raises(InvalidPackage) as unreadable:
        exchange.accept_from_upstream("national", damaged)
    assert unreadable.value.code == "M.Attachment.ContentTransferEncoded"
    assert exchange.get_pending(LOCAL, "document", 10, "").items == ()


def test_a_local_sender_is_a_warning_unless_it_is_our_own_send_reflected(
    exchange: Exchange,
) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
    exchange.store.upsert_directory(  # type: ignore[attr-defined]
        [DirectoryEntry(REMOTE, "national", source="manual")], now, "operator"
    )
    # Our own send upstream, reflected back by the axis: refused (the receiver has it already).
    ours = _from(LOCAL, REMOTE, exchange, document_id=f"{LOCAL},2024/03/05,1/UBND-VP")
    exchange.send_document(LOCAL, ours)
    with pytest.raises(InvalidPackage) as reflected:
        exchange.accept_from_upstream("national", ours)
    assert reflected.value.code == "R.MessageHeader.From.OrganId"
    assert "reflected back" in reflected.value.message
    # A package from the same local code that this gateway never sent: delivered, with a warning.
    other = _from(LOCAL, LOCAL, exchange, document_id=f"{LOCAL},2024/03/05,2/UBND-VP")
    receipt = exchange.accept_from_upstream("national", other)
    stored = exchange.store.get_package(receipt.package_id)
    assert stored is not None
    warnings = json.loads(stored.warnings_json)
    assert any(
        w["code"] == "R.MessageHeader.From.OrganId" and w["severity"] == "warning"
        for w in warnings
    )
