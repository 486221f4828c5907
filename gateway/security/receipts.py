"""Signed receipts: the gateway's non-repudiable proof that it accepted a package.

As in X-Road, the receiving side signs what it received, so a sender can later prove delivery
and the gateway cannot deny it. Every accepted package gets one; the client keeps it, the
gateway stores it, and anyone holding the gateway's certificate can check it offline with
:func:`verify_receipt` (or any XML-DSig tool: it is a plain enveloped signature).

Format, namespace ``urn:edoc-gateway:receipt:v1`` (:data:`RECEIPT_NS`)::

    <Receipt xmlns="urn:edoc-gateway:receipt:v1">
      <PackageId>the gateway's id of the package</PackageId>
      <Sender>agency code of the sender, e.g. 000.00.00.G22</Sender>
      <DocumentId>the edXML DocumentId (may be empty)</DocumentId>
      <ReceivedSha256>lowercase hex SHA-256 of the bytes received</ReceivedSha256>
      <ReceivedAt>ISO 8601 with its UTC offset, e.g. 2024-03-05T08:09:10.123456+07:00</ReceivedAt>
      <Gateway>the gateway's id (settings.gateway_id)</Gateway>
      <ds:Signature>enveloped, URI="", exclusive C14N, RSA-SHA256, X509Data</ds:Signature>
    </Receipt>

Elements come in this order, each exactly once; a verifier ignores nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import cryptography.exceptions
from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.exceptions import InvalidDigest, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.edxml.namespaces import XMLDSIG
from gateway.errors import ReceiptInvalid
from gateway.security.signatures import (
    PLACEHOLDER,
    SECURE_DIGEST_ALGORITHMS,
    SECURE_SIGNATURE_METHODS,
    SigningKey,
    c14n_parser,
    enveloped_shape_problem,
    sign_enveloped,
)

RECEIPT_NS = "urn:edoc-gateway:receipt:v1"

_FIELDS = ("PackageId", "Sender", "DocumentId", "ReceivedSha256", "ReceivedAt", "Gateway")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_MAX_RECEIPT_BYTES = 1 << 20
"""A receipt is about 3 KB; anything near this is not one."""


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """What a verified receipt proves the gateway received, and when."""

    package_id: str
    sender: str
    document_id: str
    received_sha256: str
    received_at: dt.datetime
    gateway_id: str


def _q(name: str) -> str:
    return f"{{{RECEIPT_NS}}}{name}"


def build_receipt(
    package_id: str,
    sender: str,
    document_id: str,
    received_sha256: str,
    received_at: dt.datetime,
    gateway_id: str,
) -> bytes:
    """The unsigned receipt document (sign it with :func:`sign_receipt`).

    ``received_at`` must be timezone-aware: a receipt is read by parties in other zones and
    years later, so its instant has to be unambiguous.
    """
    if not _SHA256_HEX.fullmatch(received_sha256):
        raise ValueError("received_sha256 must be 64 lowercase hexadecimal digits")
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    values = (package_id, sender, document_id, received_sha256, received_at.isoformat(), gateway_id)
    root = etree.fromstring(f'<Receipt xmlns="{RECEIPT_NS}"/>')  # the default namespace
    root.text = "\n  "
    for name, value in zip(_FIELDS, values, strict=True):
        element = etree.SubElement(root, _q(name))
        element.text = value
        element.tail = "\n  " if name != _FIELDS[-1] else "\n"
    return _DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"


def sign_receipt(xml: bytes, key: SigningKey) -> bytes:
    """Add the gateway's enveloped XML-DSig (RSA-SHA256, exclusive C14N) as the last child."""
    root = _parse(xml)
    if root.find(f"{{{XMLDSIG}}}Signature") is not None:
        raise ValueError("the receipt is already signed")
    if len(root):
        root[-1].tail = "\n  "
    placeholder = etree.fromstring(PLACEHOLDER)
    placeholder.tail = "\n"
    root.append(placeholder)
    signed, _ = sign_enveloped(root, key)
    return _DECLARATION + etree.tostring(signed, encoding="UTF-8", xml_declaration=False) + b"\n"


def verify_receipt(xml: bytes, trusted_certificate: bytes | x509.Certificate) -> ReceiptFacts:
    """Check a receipt against the issuing gateway's certificate (PEM or DER) and return what
    it proves. Raises :class:`ReceiptInvalid`, saying why, for anything else.

    The certificate's validity is judged at the receipt's own ``ReceivedAt``, which the
    signature covers: a receipt stays verifiable after the gateway's certificate expires.
    """
    certificate = _certificate(trusted_certificate)
    if len(xml) > _MAX_RECEIPT_BYTES:
        raise ReceiptInvalid(f"a receipt is a few KB; this input has {len(xml)} bytes")
    root = _parse(xml)
    signatures = list(root.iter(f"{{{XMLDSIG}}}Signature"))
    if len(signatures) != 1 or root[-1] is not signatures[0]:
        raise ReceiptInvalid(
            f"a receipt carries exactly one Signature, as the last child of Receipt; "
            f"found {len(signatures)}"
        )
    shape = enveloped_shape_problem(signatures[0])
    if shape:
        raise ReceiptInvalid(shape)
    claimed = _facts(root)
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=SECURE_SIGNATURE_METHODS,
        digest_algorithms=SECURE_DIGEST_ALGORITHMS,
        verification_time=claimed.received_at,
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        verified = XMLVerifier().verify(
            xml, x509_cert=certificate, parser=c14n_parser(), expect_config=config
        )
    except InvalidDigest:
        raise ReceiptInvalid("the receipt was changed after the gateway signed it") from None
    except cryptography.exceptions.InvalidSignature as exc:
        raise ReceiptInvalid(
            f"the receipt's signature does not verify with the given certificate ({exc})"
        ) from None
    except (SignXMLException, ValueError, etree.DocumentInvalid) as exc:
        raise ReceiptInvalid(f"the receipt's signature cannot be processed ({exc})") from None
    assert not isinstance(verified, list)  # expect_references=1
    if verified.signed_xml is None:
        raise ReceiptInvalid("the signed part of the receipt is not XML")
    # Trust only what was signed (signxml returns it re-parsed from its canonical form).
    return _facts(verified.signed_xml)


def _certificate(trusted: bytes | x509.Certificate) -> x509.Certificate:
    if isinstance(trusted, x509.Certificate):
        return trusted
    try:
        if trusted.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(trusted)
        return x509.load_der_x509_certificate(trusted)
    except ValueError as exc:
        raise ValueError(f"the trusted certificate cannot be loaded: {exc}") from exc


def _parse(xml: bytes) -> etree._Element:
    if b"<!DOCTYPE" in xml:
        raise ReceiptInvalid("a receipt has no DOCTYPE")
    try:
        root = etree.fromstring(xml, c14n_parser())
    except etree.XMLSyntaxError as exc:
        raise ReceiptInvalid(f"the receipt is not well-formed XML ({exc})") from None
    if root.tag != _q("Receipt"):
        raise ReceiptInvalid(f"the root element is {root.tag}, not {{{RECEIPT_NS}}}Receipt")
    return root


def _facts(root: etree._Element) -> ReceiptFacts:
    elements = [e for e in root if isinstance(e.tag, str) and e.tag != f"{{{XMLDSIG}}}Signature"]
    if tuple(e.tag for e in elements) != tuple(_q(name) for name in _FIELDS):
        raise ReceiptInvalid(f"a receipt has the elements {', '.join(_FIELDS)} in that order")
    values = [e.text or "" for e in elements]
    package_id, sender, document_id, received_sha256, received_at, gateway_id = values
    if not _SHA256_HEX.fullmatch(received_sha256):
        raise ReceiptInvalid("ReceivedSha256 is not 64 lowercase hexadecimal digits")
    try:
        moment = dt.datetime.fromisoformat(received_at)
    except ValueError:
        raise ReceiptInvalid(f"ReceivedAt {received_at!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ReceiptInvalid("ReceivedAt has no UTC offset")
    return ReceiptFacts(package_id, sender, document_id, received_sha256, moment, gateway_id)
