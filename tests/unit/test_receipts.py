"""Signed receipts: issued by the gateway, checked offline by anyone with its certificate."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.errors import FaultSide
from gateway.security.receipts import (
    RECEIPT_NS,
    ReceiptFacts,
    ReceiptInvalid,
    build_receipt,
    sign_receipt,
    verify_receipt,
)
from gateway.security.signatures import SigningKey

ICT = dt.timezone(dt.timedelta(hours=7), "ICT")
RECEIVED_AT = dt.datetime(2024, 3, 5, 8, 9, 10, 123456, tzinfo=ICT)
FACTS = ReceiptFacts(
    package_id="pkg-000042",
    sender="000.00.00.G22",
    document_id="000.00.00.G22,2024/03/05,12/VPCP-TTĐT",
    received_sha256=hashlib.sha256(b"the package as received").hexdigest(),
    received_at=RECEIVED_AT,
    gateway_id="000.00.00.H41 gateway",
)


def _gateway_key(
    not_before: dt.datetime = RECEIVED_AT - dt.timedelta(days=30),
    not_after: dt.datetime = RECEIVED_AT + dt.timedelta(days=700),
) -> SigningKey:
    """A self-signed gateway certificate, as ``gateway.security.keys`` makes for a pilot."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edoc-gateway test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return SigningKey(key, (certificate,))


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return _gateway_key()


def _receipt(facts: ReceiptFacts = FACTS) -> bytes:
    return build_receipt(
        facts.package_id,
        facts.sender,
        facts.document_id,
        facts.received_sha256,
        facts.received_at,
        facts.gateway_id,
    )


@pytest.fixture(scope="module")
def signed(key: SigningKey) -> bytes:
    return sign_receipt(_receipt(), key)


def _pem(key: SigningKey) -> bytes:
    return key.certificate.public_bytes(serialization.Encoding.PEM)


def test_unsigned_receipt_layout() -> None:
    assert _receipt().decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Receipt xmlns="{RECEIPT_NS}">\n'
        "  <PackageId>pkg-000042</PackageId>\n"
        "  <Sender>000.00.00.G22</Sender>\n"
        "  <DocumentId>000.00.00.G22,2024/03/05,12/VPCP-TTĐT</DocumentId>\n"
        f"  <ReceivedSha256>{FACTS.received_sha256}</ReceivedSha256>\n"
        "  <ReceivedAt>2024-03-05T08:09:10.123456+07:00</ReceivedAt>\n"
        "  <Gateway>000.00.00.H41 gateway</Gateway>\n"
        "</Receipt>\n"
    )


def test_signed_receipt_verifies_to_its_facts(signed: bytes, key: SigningKey) -> None:
    assert verify_receipt(signed, _pem(key)) == FACTS
    assert verify_receipt(signed, key.certificate.public_bytes(serialization.Encoding.DER)) == (
        FACTS
    )
    assert verify_receipt(signed, key.certificate) == FACTS
    assert b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in signed
    assert b"http://www.w3.org/2001/10/xml-exc-c14n#" in signed


def test_an_independent_implementation_verifies_the_receipt(signed: bytes, key: SigningKey) -> None:
    """An auditor needs no gateway code: libxmlsec1 (python-xmlsec) checks it as well."""
    root = etree.fromstring(signed)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(_pem(key), xmlsec.constants.KeyDataFormatCertPem)
    context.verify(xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature))


def _field(name: str, value: str) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        return re.sub(
            rb"<%s>[^<]*<" % name.encode(), b"<%s>%s<" % (name.encode(), value.encode()), xml
        )

    return change


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "PackageId": _field("PackageId", "pkg-000043"),
    "Sender": _field("Sender", "000.00.00.H53"),
    "DocumentId": _field("DocumentId", "000.00.00.G22,2024/03/05,13/VPCP-TTĐT"),
    "ReceivedSha256": _field("ReceivedSha256", hashlib.sha256(b"other").hexdigest()),
    "ReceivedAt": _field("ReceivedAt", "2024-03-06T08:09:10.123456+07:00"),
    "Gateway": _field("Gateway", "another gateway"),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_changed_facts_are_detected(
    signed: bytes, key: SigningKey, change: Callable[[bytes], bytes]
) -> None:
    tampered = change(signed)
    assert tampered != signed
    with pytest.raises(ReceiptInvalid) as caught:
        verify_receipt(tampered, _pem(key))
    assert caught.value.code == "M.Receipt"
    assert caught.value.side is FaultSide.CLIENT
    assert caught.value.message == "the receipt was changed after the gateway signed it"


def test_a_receipt_signed_by_another_key_is_refused(signed: bytes) -> None:
    impostor = _gateway_key()  # same subject name, different key
    forged = sign_receipt(_receipt(), impostor)
    with pytest.raises(ReceiptInvalid, match="does not verify with the given certificate"):
        verify_receipt(forged, _pem(_gateway_key()))
    with pytest.raises(ReceiptInvalid, match="does not verify with the given certificate"):
        verify_receipt(signed, _pem(impostor))


def test_the_signature_value_altered_is_refused(signed: bytes, key: SigningKey) -> None:
    altered = re.sub(rb"<ds:SignatureValue>(....)", rb"<ds:SignatureValue>AAAA", signed)
    with pytest.raises(ReceiptInvalid, match="does not verify"):
        verify_receipt(altered, _pem(key))


def _signature_of(xml: bytes) -> bytes:
    match = re.search(rb"<ds:Signature.*</ds:Signature>", xml, re.DOTALL)
    assert match is not None
    return match.group(0)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda xml: re.sub(rb"\s*<ds:Signature.*</ds:Signature>", b"", xml, flags=re.DOTALL),
            "a receipt carries exactly one Signature, as the last child of Receipt; found 0",
        ),
        (
            lambda xml: xml.replace(b"<Gateway>", _signature_of(xml) + b"<Gateway>"),
            "a receipt carries exactly one Signature, as the last child of Receipt; found 2",
        ),
        (
            lambda xml: xml.replace(b"\n</Receipt>", b"<?pi after?></Receipt>"),
            "a receipt carries exactly one Signature, as the last child of Receipt; found 1",
        ),
        (
            lambda xml: xml.replace(b'URI=""', b'URI="#x"'),
            "the Reference has URI='#x'; only URI=\"\" (the whole document) is accepted, "
            "so that the signature cannot point at a wrapped copy",
        ),
        (
            lambda xml: xml.replace(b"</Gateway>", b"</Gateway><Extra>?</Extra>"),
            "a receipt has the elements PackageId, Sender, DocumentId, ReceivedSha256, "
            "ReceivedAt, Gateway in that order",
        ),
        (
            lambda xml: xml.replace(b"Receipt", b"Receit"),
            f"the root element is {{{RECEIPT_NS}}}Receit, not {{{RECEIPT_NS}}}Receipt",
        ),
        (lambda xml: xml[:-40], "the receipt is not well-formed XML"),
    ],
    ids=[
        "unsigned",
        "two signatures",
        "not last",
        "id reference",
        "element added",
        "not a receipt",
        "cut",
    ],
)
def test_malformed_receipts_are_refused(
    signed: bytes, key: SigningKey, change: Callable[[bytes], bytes], message: str
) -> None:
    with pytest.raises(ReceiptInvalid) as caught:
        verify_receipt(change(signed), _pem(key))
    assert caught.value.message.startswith(message)


def test_receipt_outlives_the_certificate_but_not_before_it() -> None:
    """Validity is judged at ReceivedAt, which the signature covers."""
    expired = _gateway_key(
        not_before=RECEIVED_AT - dt.timedelta(days=10),
        not_after=RECEIVED_AT + dt.timedelta(days=1),
    )
    assert verify_receipt(sign_receipt(_receipt(), expired), _pem(expired)) == FACTS
    later = replace(FACTS, received_at=RECEIVED_AT + dt.timedelta(days=2))
    with pytest.raises(ReceiptInvalid, match="expired"):
        verify_receipt(sign_receipt(_receipt(later), expired), _pem(expired))


def test_build_refuses_ambiguous_facts() -> None:
    naive = replace(FACTS, received_at=RECEIVED_AT.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        _receipt(naive)
    upper = replace(FACTS, received_sha256=FACTS.received_sha256.upper())
    with pytest.raises(ValueError, match="64 lowercase"):
        _receipt(upper)
    with pytest.raises(ValueError):  # XML 1.0 cannot carry it
        _receipt(replace(FACTS, sender="000\x00"))


def test_sign_refuses_a_signed_receipt(signed: bytes, key: SigningKey) -> None:
    with pytest.raises(ValueError, match="already signed"):
        sign_receipt(signed, key)
