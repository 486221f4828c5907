"""Every accepted package: a signature verdict, a signed receipt, an audit record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.security.receipts import verify_receipt
from gateway.security.signatures import (
    SignatureRejected,
    SignatureStatus,
    sign_package,
    verify_package,
)
from tests.fixtures.packages import build_document
from tests.integration.test_soap_service import SENDER as SOAP_SENDER
from tests.integration.test_soap_service import Gateway
from tests.unit.test_signatures import Pki, _issue

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = _issue("Test CA")
    return Pki(
        ca=ca,
        leaf=_issue("Văn phòng Chính phủ (test)", ca),
        expired=_issue("Expired", ca),
        stranger=_issue("Văn phòng Chính phủ (test)"),
    )


def _exchange(settings: Settings) -> Exchange:
    exchange = Exchange(settings)
    now = dt.datetime.now(dt.UTC)
    for code in (SENDER, RECEIVER):
        if exchange.store.get_agency(code) is None:
            exchange.credentials.add_agency(code, code, "", now)
    return exchange


@pytest.fixture
def exchange(store_settings: Settings) -> Iterator[Exchange]:
    ex = _exchange(store_settings)
    yield ex
    ex.close()


def _document(exchange: Exchange, content: bytes = b"%PDF-1.4 trust") -> bytes:
    return package_bytes(build_document(exchange.blobs, content), exchange.blobs)


def _packages(exchange: Exchange) -> int:
    with exchange.store._tx() as q:  # type: ignore[attr-defined]
        return int(q.one("SELECT COUNT(*) AS n FROM packages")["n"])


def test_signed_receipt_attests_what_was_received(exchange: Exchange) -> None:
    data = _document(exchange)
    receipt = exchange.send_document(SENDER, data)
    certificate = (exchange.settings.signing_dir / "gateway.crt").read_bytes()
    facts = verify_receipt(receipt.signed_receipt, certificate)
    assert facts.package_id == receipt.package_id
    assert facts.sender == SENDER
    assert facts.document_id == "000.00.00.G22,2024/03/05,12/VPCP-TTĐT"
    assert facts.received_sha256 == hashlib.sha256(data).hexdigest()
    assert facts.received_at == receipt.received_at
    # A resend gets the original receipt back, byte for byte.
    assert exchange.send_document(SENDER, data).signed_receipt == receipt.signed_receipt
    tampered = receipt.signed_receipt.replace(SENDER.encode(), b"000.00.00.H53")
    with pytest.raises(Exception, match="receipt"):
        verify_receipt(tampered, certificate)


def test_signature_verdicts(exchange: Exchange, pki: Pki, tmp_path: Path) -> None:
    unsigned = _document(exchange, b"%PDF-1.4 unsigned")
    assert exchange.send_document(SENDER, unsigned).signature_status == "absent"

    signed = sign_package(_document(exchange, b"%PDF-1.4 signed"), pki.signing_key())
    without_trust = exchange.send_document(SENDER, signed)
    assert without_trust.signature_status == "unverifiable"
    assert "trust store" in without_trust.signature_reason
    stored = exchange.store.get_package(without_trust.package_id)
    assert stored is not None
    assert json.loads(stored.signature_json)["certificate_subject"].startswith("CN=Văn phòng")

    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "ca.pem").write_bytes(pki.ca.cert_pem)
    trusted = Exchange(replace(exchange.settings, trust_store_dir=trust))
    signed_again = sign_package(_document(trusted, b"%PDF-1.4 signed again"), pki.signing_key())
    assert trusted.send_document(SENDER, signed_again).signature_status == "valid"
    tampered = signed_again.replace(b"V/v th", b"V/V th", 1)
    verdict = trusted.send_document(SENDER, tampered)
    assert verdict.signature_status == "invalid"  # recorded as evidence, not refused
    trusted.close()


def test_required_signature_refuses_and_stores_nothing(store_settings: Settings, pki: Pki) -> None:
    exchange = _exchange(replace(store_settings, signature_required_for=(SENDER,)))
    try:
        with pytest.raises(SignatureRejected) as refused:
            exchange.send_document(SENDER, _document(exchange))
        assert refused.value.code == "M.Signature"
        assert _packages(exchange) == 0
    finally:
        exchange.close()


def test_the_receipt_reaches_soap_clients(store_settings: Settings, tmp_path: Path) -> None:
    gateway = Gateway(store_settings, tmp_path)
    try:
        receipt = gateway.zeep(SOAP_SENDER).SendDocument(gateway.document())
        certificate = (gateway.settings.signing_dir / "gateway.crt").read_bytes()
        facts = verify_receipt(receipt.signedReceipt, certificate)
        assert facts.package_id == receipt.packageId
        assert receipt.signatureStatus == "absent"
    finally:
        gateway.close()


def test_emitted_packages_carry_the_gateway_signature(exchange: Exchange, tmp_path: Path) -> None:
    receipt = exchange.send_document(SENDER, _document(exchange, b"%PDF-1.4 emitted"))
    with exchange.get_package(RECEIVER, receipt.package_id).open() as stream:
        emitted = stream.read()
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "gateway.pem").write_bytes(
        (exchange.settings.signing_dir / "gateway.crt").read_bytes()
    )
    verifier = Exchange(replace(exchange.settings, trust_store_dir=trust))
    try:
        result = verify_package(emitted, check_certificate=verifier.check_certificate)
    finally:
        verifier.close()
    assert result.status is SignatureStatus.VALID, result.reason
    assert result.algorithm.endswith("rsa-sha256")


def test_hard_fail_revocation_makes_unknown_status_untrusted(
    exchange: Exchange, pki: Pki, tmp_path: Path
) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "ca.pem").write_bytes(pki.ca.cert_pem)
    strict = Exchange(
        replace(exchange.settings, trust_store_dir=trust, trust_revocation="hard-fail")
    )
    try:
        signed = sign_package(_document(strict, b"%PDF-1.4 strict"), pki.signing_key())
        verdict = strict.send_document(SENDER, signed)
    finally:
        strict.close()
    # The test certificates name no CRL or OCSP endpoint: soft-fail trusts them (see above),
    # hard-fail cannot confirm they are not revoked.
    assert verdict.signature_status == "unverifiable"
    assert "revocation" in verdict.signature_reason.lower()
