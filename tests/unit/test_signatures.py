"""XML-DSig on edXML: interop with python-xmlsec both ways, tampering, wrapping, policy, samples.

Keys and certificates are generated here (a throwaway CA and leaves, RSA 2048). python-xmlsec
(a binding of libxmlsec1, independent of signxml) signs and verifies the other side of every
interoperability check; it must share lxml's libxml2, which the PyPI wheels of both do.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

from gateway.edxml import package_bytes, read_package
from gateway.edxml.model import DocumentPackage
from gateway.edxml.namespaces import XMLDSIG
from gateway.errors import FaultSide, UnusableInput
from gateway.security.signatures import (
    PLACEHOLDER,
    SignatureRejected,
    SignatureResult,
    SignatureStatus,
    SigningKey,
    SigningKeyError,
    VerifyPolicy,
    enforce,
    sign_enveloped,
    sign_package,
    verify_package,
)
from gateway.store.blobs import FileBlobStore

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
NOW = dt.datetime.now(dt.UTC)
HUGE = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


# --- a throwaway PKI ------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _issue(
    name: str,
    issuer: Identity | None = None,
    *,
    not_before: dt.datetime = NOW - dt.timedelta(days=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
    bits: int = 2048,
) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .sign(issuer.key if issuer else key, hashes.SHA256())
    )
    return Identity(key, certificate)


@dataclass(frozen=True)
class Pki:
    ca: Identity
    leaf: Identity
    expired: Identity
    stranger: Identity  # same subject as leaf, not issued by the CA

    def signing_key(self, who: Identity | None = None) -> SigningKey:
        who = who or self.leaf
        return SigningKey.from_pem(who.key_pem, who.cert_pem + self.ca.cert_pem)


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = _issue("Test CA")
    return Pki(
        ca=ca,
        leaf=_issue("Văn phòng Chính phủ (test)", ca),
        expired=_issue(
            "Expired signer", ca, not_before=NOW - dt.timedelta(days=400), not_after=NOW
        ),
        stranger=_issue("Văn phòng Chính phủ (test)"),
    )


@pytest.fixture(scope="module")
def key(pki: Pki) -> SigningKey:
    return pki.signing_key()


# --- packages and python-xmlsec ----------------------------------------------------------


@pytest.fixture
def unsigned(make_document: Callable[..., DocumentPackage], blob_store: FileBlobStore) -> bytes:
    """A small valid package, written by the gateway's writer."""
    return package_bytes(make_document(), blob_store)


@pytest.fixture
def signed(unsigned: bytes, key: SigningKey) -> bytes:
    return sign_package(unsigned, key)


C = xmlsec.constants


def xmlsec_sign(
    data: bytes,
    signer: Identity,
    *,
    c14n: object = C.TransformExclC14N,
    method: object = C.TransformRsaSha256,
    digest: object = C.TransformSha256,
    transforms: tuple[object, ...] = (C.TransformEnveloped, C.TransformExclC14N),
    unprefixed: bool = False,
    parent: str = f"edXMLEnvelope/{{{QCVN}}}edXMLHeader",
    uri: str = "",
) -> bytes:
    """Sign with libxmlsec1: the signature template appended to ``parent``."""
    root = etree.fromstring(data, HUGE)
    target = root.find(f"{{{QCVN}}}{parent}")
    assert target is not None
    signature = xmlsec.template.create(root, c14n, method, ns=None if unprefixed else "ds")
    target.append(signature)
    reference = xmlsec.template.add_reference(signature, digest, uri=uri)
    for transform in transforms:
        xmlsec.template.add_transform(reference, transform)
    x509_data = xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.template.x509_data_add_certificate(x509_data)
    context = xmlsec.SignatureContext()
    signing_key = xmlsec.Key.from_memory(signer.key_pem, C.KeyDataFormatPem)
    signing_key.load_cert_from_memory(signer.cert_pem, C.KeyDataFormatPem)
    context.key = signing_key
    if uri:
        context.register_id(root.find(f"{{{QCVN}}}edXMLEnvelope"), "Id")
    context.sign(signature)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def xmlsec_verifies(data: bytes, certificate: Identity) -> bool:
    """libxmlsec1's verdict, trusting exactly ``certificate``."""
    root = etree.fromstring(data, HUGE)
    signature = xmlsec.tree.find_node(root, C.NodeSignature)
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(certificate.cert_pem, C.KeyDataFormatCertPem)
    try:
        context.verify(signature)
    except xmlsec.Error:
        return False
    return True


def status_of(result: SignatureResult) -> tuple[SignatureStatus, str]:
    return result.status, result.reason


# --- interoperability ---------------------------------------------------------------------


def test_gateway_signature_verifies_with_xmlsec(signed: bytes, pki: Pki) -> None:
    assert xmlsec_verifies(signed, pki.leaf)
    assert not xmlsec_verifies(signed.replace("thử nghiệm".encode(), b"thu nghiem"), pki.leaf)
    assert not xmlsec_verifies(signed, pki.stranger)


def test_gateway_signature_verifies_with_gateway(signed: bytes, pki: Pki) -> None:
    result = verify_package(signed)
    assert result.status is SignatureStatus.VALID, result.reason
    assert result.reason.startswith("the signature verifies with the certificate of CN=")
    assert result.algorithm == SignatureMethod.RSA_SHA256.value
    assert result.digest == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert result.c14n == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert result.certificate_der == pki.leaf.certificate.public_bytes(serialization.Encoding.DER)
    assert result.certificate_subject == "CN=Văn phòng Chính phủ (test)"
    assert result.certificate_issuer == "CN=Test CA"
    assert result.certificate_serial == format(pki.leaf.certificate.serial_number, "X")


XMLSEC_FORMS = {
    "exclusive, ds: prefix": {},
    "exclusive, RSA-SHA512": {"method": C.TransformRsaSha512, "digest": C.TransformSha512},
    "inclusive C14N 1.0 legacy, unprefixed Signature, enveloped only": {
        "c14n": C.TransformInclC14N,
        "transforms": (C.TransformEnveloped,),
        "unprefixed": True,
    },
    "inclusive C14N 1.0, ds: prefix": {
        "c14n": C.TransformInclC14N,
        "transforms": (C.TransformEnveloped, C.TransformInclC14N),
    },
}


@pytest.mark.parametrize("form", XMLSEC_FORMS.values(), ids=XMLSEC_FORMS.keys())
def test_xmlsec_signature_verifies_with_gateway(
    unsigned: bytes, pki: Pki, form: dict[str, object]
) -> None:
    data = xmlsec_sign(unsigned, pki.leaf, **form)  # type: ignore[arg-type]
    assert xmlsec_verifies(data, pki.leaf)
    result = verify_package(data)
    assert result.status is SignatureStatus.VALID, result.reason
    tampered = verify_package(data.replace(b"V/v th", b"V/V th"))
    assert status_of(tampered) == (
        SignatureStatus.INVALID,
        "the digest does not match: the document was changed after it was signed",
    )


def test_gateway_verifies_xmlsec_signature_of_a_large_streamed_style_package(
    make_document: Callable[..., DocumentPackage], blob_store: FileBlobStore, pki: Pki
) -> None:
    data = package_bytes(make_document(os.urandom(1 << 20)), blob_store)
    assert verify_package(xmlsec_sign(data, pki.leaf)).status is SignatureStatus.VALID


# --- SHA-1 --------------------------------------------------------------------------------


@pytest.fixture
def sha1_signed(unsigned: bytes, pki: Pki) -> bytes:
    """The legacy VPCP form: inclusive C14N 1.0, rsa-sha1, sha1 digest, unprefixed."""
    return xmlsec_sign(
        unsigned,
        pki.leaf,
        c14n=C.TransformInclC14N,
        method=C.TransformRsaSha1,
        digest=C.TransformSha1,
        transforms=(C.TransformEnveloped,),
        unprefixed=True,
    )


def test_sha1_is_unverifiable_by_default(sha1_signed: bytes) -> None:
    assert status_of(verify_package(sha1_signed)) == (
        SignatureStatus.UNVERIFIABLE,
        "the signature method http://www.w3.org/2000/09/xmldsig#rsa-sha1 is not allowed by "
        "this sender's policy (SHA-1 is accepted only for senders configured with allow_sha1)",
    )


def test_sha1_verifies_when_the_sender_is_allowed_it(sha1_signed: bytes) -> None:
    legacy = VerifyPolicy(allow_sha1=True)
    assert verify_package(sha1_signed, legacy).status is SignatureStatus.VALID
    tampered = sha1_signed.replace(b"V/v th", b"V/V th")
    assert verify_package(tampered, legacy).status is SignatureStatus.INVALID


def test_sha1_digest_under_sha256_method_is_refused_too(unsigned: bytes, pki: Pki) -> None:
    data = xmlsec_sign(unsigned, pki.leaf, digest=C.TransformSha1)
    result = verify_package(data)
    assert result.status is SignatureStatus.UNVERIFIABLE
    assert result.reason.startswith("the digest method http://www.w3.org/2000/09/xmldsig#sha1")
    assert verify_package(data, VerifyPolicy(allow_sha1=True)).status is SignatureStatus.VALID


def test_legacy_c14n_quirk_does_not_hide_an_added_namespace_undeclaration(
    unsigned: bytes, pki: Pki
) -> None:
    """``xmlns=""`` on AttachmentEncoded moves the attachments out of the edXML namespace.

    signxml's legacy switch deletes every ``xmlns=""`` from inclusive C14N output, which would
    let that change pass; the gateway turns the switch on only when the document has none.
    """
    legacy = xmlsec_sign(
        unsigned,
        pki.leaf,
        c14n=C.TransformInclC14N,
        transforms=(C.TransformEnveloped,),
        unprefixed=True,
    )
    assert verify_package(legacy).status is SignatureStatus.VALID
    moved = legacy.replace(b"<AttachmentEncoded>", b'<AttachmentEncoded xmlns="">', 1)
    assert moved != legacy
    assert verify_package(moved).status is SignatureStatus.INVALID


@pytest.mark.parametrize("method", [SignatureMethod.RSA_SHA1, SignatureMethod.HMAC_SHA256])
def test_signing_refuses_sha1_and_other_methods(
    unsigned: bytes, key: SigningKey, method: SignatureMethod
) -> None:
    with pytest.raises(ValueError, match="SHA-1 is accepted only when verifying"):
        sign_package(unsigned, key, method)


def test_signing_with_rsa_sha512(unsigned: bytes, key: SigningKey, pki: Pki) -> None:
    data = sign_package(unsigned, key, SignatureMethod.RSA_SHA512)
    assert verify_package(data).algorithm == SignatureMethod.RSA_SHA512.value
    assert xmlsec_verifies(data, pki.leaf)


# --- tampering and signature wrapping ------------------------------------------------------


def _signature_of(data: bytes) -> bytes:
    match = re.search(rb"<ds:Signature .*?</ds:Signature>", data, re.DOTALL)
    assert match is not None
    return match.group(0)


def _add_second_reference(data: bytes) -> bytes:
    reference = re.search(rb"<ds:Reference .*?</ds:Reference>", data, re.DOTALL)
    assert reference is not None
    return data.replace(reference.group(0), reference.group(0) * 2)


def _attachment_byte_changed(data: bytes) -> bytes:
    start = data.index(b"<edXML:ContentTransferEncoded")
    text = data.index(b">", start) + 1
    flipped = b"A" if data[text + 4 : text + 5] != b"A" else b"B"
    return data[: text + 4] + flipped + data[text + 5 :]


TAMPERING: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "a byte of the subject": (
        lambda d: d.replace("thử nghiệm".encode(), "thử nghiêm".encode(), 1),
        "the digest does not match: the document was changed after it was signed",
    ),
    "a byte of an attachment's base64": (
        _attachment_byte_changed,
        "the digest does not match: the document was changed after it was signed",
    ),
    "a TraceHeader appended in transit": (
        lambda d: d.replace(
            b"</edXML:TraceHeader>",
            b"</edXML:TraceHeader><edXML:TraceHeader><edXML:OrganId>x</edXML:OrganId>"
            b"</edXML:TraceHeader>",
            1,
        ),
        "the digest does not match: the document was changed after it was signed",
    ),
    "the SignatureValue emptied": (
        lambda d: re.sub(rb"<ds:SignatureValue>[^<]*<", b"<ds:SignatureValue><", d),
        "the Signature has no SignatureValue",
    ),
    "the SignatureValue removed": (
        lambda d: re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"", d),
        "the Signature has no SignatureValue",
    ),
    "the SignatureValue altered": (
        lambda d: re.sub(rb"<ds:SignatureValue>(....)", rb"<ds:SignatureValue>AAAA", d),
        "the SignatureValue does not match SignedInfo under the certificate's key: "
        "the signature was altered or made with another key",
    ),
    "the DigestValue altered": (
        lambda d: re.sub(rb"<ds:DigestValue>(....)", rb"<ds:DigestValue>AAAA", d),
        "the SignatureValue does not match SignedInfo under the certificate's key: "
        "the signature was altered or made with another key",
    ),
    "a second Signature in the body": (
        lambda d: d.replace(b"<edXML:edXMLManifest", _signature_of(d) + b"<edXML:edXMLManifest"),
        "the document holds 2 Signature elements; exactly one is accepted, so that no second "
        "signature can vouch for wrapped content",
    ),
    "a second Reference": (
        _add_second_reference,
        'SignedInfo has 2 References; exactly one, to the whole document (URI=""), is accepted',
    ),
    "the Reference narrowed by an XPath transform": (
        lambda d: d.replace(
            b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature">',
            b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
            b"<ds:XPath>not(ancestor-or-self::*[local-name()='Subject'])</ds:XPath>",
        ),
        "the Reference applies the transform 'http://www.w3.org/TR/1999/REC-xpath-19991116'; "
        "only enveloped-signature and canonicalisation are accepted, so that the whole "
        "document is what is signed",
    ),
}


@pytest.mark.parametrize("change, reason", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_invalid(signed: bytes, change: Callable[[bytes], bytes], reason: str) -> None:
    tampered = change(signed)
    assert tampered != signed
    assert status_of(verify_package(tampered)) == (SignatureStatus.INVALID, reason)


def test_signature_of_another_document_pasted_in(
    make_document: Callable[..., DocumentPackage],
    blob_store: FileBlobStore,
    key: SigningKey,
    signed: bytes,
) -> None:
    other = sign_package(package_bytes(make_document(subject="Khác"), blob_store), key)
    pasted = signed.replace(_signature_of(signed), _signature_of(other))
    assert status_of(verify_package(pasted)) == (
        SignatureStatus.INVALID,
        "the digest does not match: the document was changed after it was signed",
    )


def test_signature_wrapping_with_an_id_reference_is_invalid(unsigned: bytes, pki: Pki) -> None:
    """The classic attack: the signed envelope hidden in ds:Object, a forged one in its place.

    signxml on its own resolves ``#env`` to the hidden copy and accepts the forgery; the
    gateway refuses any Reference but ``URI=""``.
    """
    original = unsigned.replace(b"<edXML:edXMLEnvelope ", b'<edXML:edXMLEnvelope Id="env" ', 1)
    legit = etree.fromstring(xmlsec_sign(original, pki.leaf, uri="#env"))
    envelope = legit.find(f"{{{QCVN}}}edXMLEnvelope")
    assert envelope is not None
    signature = envelope.find(f".//{{{DS}}}Signature")
    assert signature is not None
    hidden = copy.deepcopy(envelope)
    hidden_signature = hidden.find(f".//{{{DS}}}Signature")
    assert hidden_signature is not None
    hidden_signature.getparent().remove(hidden_signature)  # type: ignore[union-attr]
    wrapper = etree.SubElement(signature, f"{{{DS}}}Object")
    wrapper.append(hidden)
    del envelope.attrib["Id"]
    subject = envelope.find(f".//{{{QCVN}}}Subject")
    assert subject is not None
    subject.text = "Giả mạo: chuyển tiền ngay"
    forged = etree.tostring(legit, xml_declaration=True, encoding="UTF-8")

    XMLVerifier().verify(forged, x509_cert=pki.leaf.certificate)  # the attack works on its own
    assert status_of(verify_package(forged)) == (
        SignatureStatus.INVALID,
        "the Reference has URI='#env'; only URI=\"\" (the whole document) is accepted, "
        "so that the signature cannot point at a wrapped copy",
    )


def test_signature_outside_the_header_is_invalid(unsigned: bytes, pki: Pki) -> None:
    data = xmlsec_sign(unsigned, pki.leaf, parent=f"edXMLEnvelope/{{{QCVN}}}edXMLBody")
    assert xmlsec_verifies(data, pki.leaf)
    assert status_of(verify_package(data)) == (
        SignatureStatus.INVALID,
        "the Signature element is not inside edXMLHeader",
    )


def test_signature_nested_deeper_in_the_header_verifies(unsigned: bytes, pki: Pki) -> None:
    """The .NET SDK's edXML:DigitalSignature may wrap the XML-DSig element."""
    holder = b"<edXML:DigitalSignature></edXML:DigitalSignature>\n    </edXML:edXMLHeader>"
    wrapped = unsigned.replace(b"\n    </edXML:edXMLHeader>", b"\n      " + holder, 1)
    data = xmlsec_sign(
        wrapped, pki.leaf, parent=f"edXMLEnvelope/{{{QCVN}}}edXMLHeader/{{{QCVN}}}DigitalSignature"
    )
    assert verify_package(data).status is SignatureStatus.VALID


# --- absent, stripped, uncheckable ---------------------------------------------------------


def test_no_signature_is_absent(unsigned: bytes) -> None:
    assert status_of(verify_package(unsigned)) == (
        SignatureStatus.ABSENT,
        "the package carries no signature",
    )


@pytest.mark.parametrize(
    "placeholder, name",
    [
        (b"<Signature/>", "Signature"),
        (b"<edXML:DigitalSignature> </edXML:DigitalSignature>", "DigitalSignature"),
    ],
)
def test_empty_placeholders_are_absent(unsigned: bytes, placeholder: bytes, name: str) -> None:
    data = unsigned.replace(
        b"\n    </edXML:edXMLHeader>", b"\n      " + placeholder + b"\n    </edXML:edXMLHeader>"
    )
    assert status_of(verify_package(data)) == (
        SignatureStatus.ABSENT,
        f"only an empty <{name}/> placeholder, no signature",
    )


def test_signature_stripped_of_its_namespace_is_unverifiable(signed: bytes) -> None:
    """What the national axis does: the Signature inherits the edXML default namespace."""
    stripped = re.sub(rb"<(/?)ds:", rb"<\1", signed).replace(
        b' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"', b""
    )
    result = verify_package(stripped)
    assert status_of(result) == (
        SignatureStatus.UNVERIFIABLE,
        f"the <Signature> element is in {QCVN}, not the XML-DSig namespace {DS}: the national "
        "axis re-serialises packages this way, and such a signature cannot be checked",
    )
    assert result.algorithm == SignatureMethod.RSA_SHA256.value  # still recorded as evidence
    assert result.certificate_subject == "CN=Văn phòng Chính phủ (test)"


def test_dummy_certificate_is_unverifiable(signed: bytes) -> None:
    dummy = re.sub(
        rb"<ds:X509Certificate>[^<]*<", b"<ds:X509Certificate>MIIFqTCCBJG<", signed, count=1
    )
    result = verify_package(dummy)
    assert result.status is SignatureStatus.UNVERIFIABLE
    assert result.reason.startswith(
        "its X509Certificate ('MIIFqTCCBJG') is not a certificate, probably a dummy or truncated"
    )
    assert result.certificate_der is None


def test_missing_key_info_is_unverifiable(signed: bytes) -> None:
    bare = re.sub(rb"<ds:KeyInfo>.*</ds:KeyInfo>", b"", signed, flags=re.DOTALL)
    assert status_of(verify_package(bare)) == (
        SignatureStatus.UNVERIFIABLE,
        "the signature carries no X509Certificate in KeyInfo",
    )


def test_expired_certificate(unsigned: bytes, pki: Pki) -> None:
    data = sign_package(unsigned, pki.signing_key(pki.expired))
    result = verify_package(data)
    assert result.status is SignatureStatus.UNVERIFIABLE
    assert re.fullmatch(
        r"the signature verifies, but the certificate of CN=Expired signer expired on \S+",
        result.reason,
    )
    during = NOW - dt.timedelta(days=10)
    assert verify_package(data, at=during).status is SignatureStatus.VALID
    lenient = VerifyPolicy(check_validity_period=False)
    assert verify_package(data, lenient).status is SignatureStatus.VALID
    tampered = data.replace(b"V/v th", b"V/V th")
    assert verify_package(tampered).status is SignatureStatus.INVALID  # integrity first


def test_certificate_check_is_consulted_after_the_signature(signed: bytes, pki: Pki) -> None:
    seen: list[bytes] = []

    def untrusted(der: bytes) -> str:
        seen.append(der)
        return "its issuer CN=Test CA is not in the trust store"

    result = verify_package(signed, check_certificate=untrusted)
    assert status_of(result) == (
        SignatureStatus.UNVERIFIABLE,
        "the signature verifies, but its issuer CN=Test CA is not in the trust store",
    )
    assert seen == [pki.leaf.certificate.public_bytes(serialization.Encoding.DER)]
    assert verify_package(signed, check_certificate=lambda der: None).status is (
        SignatureStatus.VALID
    )
    seen.clear()
    verify_package(signed.replace(b"V/v th", b"V/V th"), check_certificate=untrusted)
    assert seen == []  # a broken signature is INVALID before trust is asked


def test_signer_is_found_among_chain_certificates_in_any_order(unsigned: bytes, pki: Pki) -> None:
    reordered = SigningKey(pki.leaf.key, (pki.leaf.certificate, pki.ca.certificate))
    data = sign_package(unsigned, reordered)
    certificates = re.findall(rb"<ds:X509Certificate>[^<]*</ds:X509Certificate>", data)
    assert len(certificates) == 2
    swapped = data.replace(certificates[0], b"\0").replace(certificates[1], certificates[0])
    swapped = swapped.replace(b"\0", certificates[1])
    result = verify_package(swapped)
    assert result.status is SignatureStatus.VALID
    assert result.certificate_subject == "CN=Văn phòng Chính phủ (test)"


# --- input handling ----------------------------------------------------------------------


def test_file_path_and_leading_junk(signed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "received.edxml"
    path.write_bytes(b"1212" + signed)
    assert verify_package(path).status is SignatureStatus.VALID
    assert verify_package(str(path)).status is SignatureStatus.VALID


@pytest.mark.parametrize(
    "data, code",
    [
        (b"not xml at all", "M.Xml"),
        (b"<edXML xmlns='%s'><unclosed></edXML>" % QCVN.encode(), "M.Xml"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><edXML xmlns="%s"/>' % QCVN.encode(), "M.Xml.Doctype"),
        (b"<Envelope/>", "M.Xml.Root"),
    ],
)
def test_unusable_input_raises(data: bytes, code: str) -> None:
    with pytest.raises(UnusableInput) as caught:
        verify_package(data)
    assert caught.value.code == code


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(UnusableInput) as caught:
        verify_package(tmp_path / "nothing.edxml")
    assert caught.value.code == "M.File"


# --- policy --------------------------------------------------------------------------------


def _result(status: SignatureStatus) -> SignatureResult:
    return SignatureResult(status, f"because {status.value}", NOW)


@pytest.mark.parametrize(
    "policy, rejected",
    [
        (VerifyPolicy(), set()),
        (VerifyPolicy(require_signature=True), {SignatureStatus.ABSENT}),
        (
            VerifyPolicy(require_valid=True),
            {SignatureStatus.ABSENT, SignatureStatus.INVALID, SignatureStatus.UNVERIFIABLE},
        ),
    ],
    ids=["evidence only", "require_signature", "require_valid"],
)
def test_enforce(policy: VerifyPolicy, rejected: set[SignatureStatus]) -> None:
    for status in SignatureStatus:
        result = _result(status)
        if status in rejected:
            with pytest.raises(SignatureRejected) as caught:
                enforce(result, policy)
            assert caught.value.code == "M.Signature"
            assert caught.value.side is FaultSide.CLIENT
            assert caught.value.result is result
            assert caught.value.message.endswith(f": because {status.value}")
        else:
            enforce(result, policy)


def test_result_as_dict_is_json(signed: bytes, pki: Pki) -> None:
    stored = json.loads(json.dumps(verify_package(signed).as_dict()))
    assert stored["status"] == "valid"
    assert base64.b64decode(stored["certificate_der"]) == pki.leaf.certificate.public_bytes(
        serialization.Encoding.DER
    )
    assert dt.datetime.fromisoformat(stored["checked_at"]).tzinfo is not None
    assert (
        json.loads(json.dumps(verify_package(b"<edXML xmlns='%s'/>" % QCVN.encode()).as_dict()))[
            "certificate_der"
        ]
        is None
    )


# --- signing -------------------------------------------------------------------------------


def test_signing_changes_nothing_but_the_signature(
    unsigned: bytes, signed: bytes, blob_store: FileBlobStore
) -> None:
    assert re.sub(rb"\n *<ds:Signature .*?</ds:Signature>", b"", signed, flags=re.DOTALL) == (
        unsigned
    )
    before = read_package(unsigned, blob_store)
    after = read_package(signed, blob_store)
    assert after.signature is not None and after.signature.local_name == "Signature"
    assert replace(after, signature=None) == before


def test_signature_is_the_last_child_of_the_header(signed: bytes) -> None:
    header = etree.fromstring(signed).find(f"{{{QCVN}}}edXMLEnvelope/{{{QCVN}}}edXMLHeader")
    assert header is not None
    assert [etree.QName(c).localname for c in header] == [
        "MessageHeader",
        "TraceHeaderList",
        "Signature",
    ]
    assert header[-1].tag == f"{{{DS}}}Signature"


def test_resigning_replaces_the_signature(signed: bytes, pki: Pki, unsigned: bytes) -> None:
    other = pki.signing_key(pki.expired)
    again = sign_package(signed, other)
    assert again.count(b"<ds:Signature ") == 1
    assert verify_package(again, at=NOW - dt.timedelta(days=1)).certificate_subject == (
        "CN=Expired signer"
    )
    with_placeholder = unsigned.replace(
        b"</edXML:TraceHeaderList>", b"</edXML:TraceHeaderList>\n      <Signature/>", 1
    )
    replaced = sign_package(with_placeholder, other)
    assert replaced.count(b"<ds:Signature ") == 1 and b"<Signature/>" not in replaced


def test_rewritten_from_the_model_the_signature_still_verifies(
    signed: bytes, blob_store: FileBlobStore
) -> None:
    """The writer re-emits the kept Signature (exclusive C14N) in the same layout."""
    again = package_bytes(read_package(signed, blob_store), blob_store)
    assert again == signed
    assert verify_package(again).status is SignatureStatus.VALID


def test_signing_ignores_tag_like_text_in_comments_and_cdata(
    unsigned: bytes, key: SigningKey, blob_store: FileBlobStore
) -> None:
    decoy = (
        b'<!-- <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/> '
        b"</edXML:edXMLHeader> -->"
    )
    data = unsigned.replace(b"<edXML:edXMLHeader>", b"<edXML:edXMLHeader>" + decoy, 1)
    data = data.replace(b"<edXML:Content>", b"<edXML:Content><![CDATA[</edXML:edXMLHeader>]]>", 1)
    signed = sign_package(data, key)
    assert signed.count(decoy) == 1
    assert verify_package(signed).status is SignatureStatus.VALID
    assert read_package(signed, blob_store).signature is not None


def test_sign_refuses_what_is_not_a_package(key: SigningKey) -> None:
    with pytest.raises(UnusableInput):
        sign_package(b"<edXML xmlns='%s'><edXMLEnvelope/></edXML>" % QCVN.encode(), key)
    with pytest.raises(UnusableInput):
        sign_package(b"<x/>", key)


# --- signing key loading ------------------------------------------------------------------


def test_signing_key_from_files(pki: Pki, tmp_path: Path, unsigned: bytes) -> None:
    key_file, chain_file = tmp_path / "gateway.key", tmp_path / "gateway.crt"
    key_file.write_bytes(
        pki.leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"mat khau"),
        )
    )
    chain_file.write_bytes(pki.ca.cert_pem + pki.leaf.cert_pem)  # CA first: order is free
    loaded = SigningKey.from_files(key_file, chain_file, password=b"mat khau")
    assert loaded.certificate == pki.leaf.certificate
    assert loaded.certificates[1:] == (pki.ca.certificate,)
    assert verify_package(sign_package(unsigned, loaded)).status is SignatureStatus.VALID
    with pytest.raises(SigningKeyError, match="cannot be loaded"):
        SigningKey.from_files(key_file, chain_file, password=b"sai")
    with pytest.raises(SigningKeyError, match="cannot read"):
        SigningKey.from_files(tmp_path / "missing.key", chain_file)


def test_signing_key_must_match_and_be_strong(pki: Pki) -> None:
    with pytest.raises(SigningKeyError, match="no certificate in the chain belongs"):
        SigningKey.from_pem(pki.leaf.key_pem, pki.stranger.cert_pem)
    weak = _issue("weak", bits=1024)
    with pytest.raises(SigningKeyError, match="1024 bits"):
        SigningKey.from_pem(weak.key_pem, weak.cert_pem)


# --- the shared samples ------------------------------------------------------------------

NAMESPACE_STRIPPED = (
    f"the <Signature> element is in {QCVN}, not the XML-DSig namespace {DS}: the national "
    "axis re-serialises packages this way, and such a signature cannot be checked"
)
NO_SIGNATURE = (SignatureStatus.ABSENT, "the package carries no signature")
SAMPLE_RESULTS: dict[str, tuple[SignatureStatus, str]] = {
    "axis-delivered/2019-852e179c.edxml": (SignatureStatus.UNVERIFIABLE, NAMESPACE_STRIPPED),
    "axis-delivered/2025-874e0f18.edxml": NO_SIGNATURE,
    "axis-delivered/2025-9e272474.edxml": NO_SIGNATURE,
    "vpcp-sdk/edoc.edxml": (
        SignatureStatus.UNVERIFIABLE,
        "the document is not namespace-well-formed (Namespace prefix xlink for href on "
        "Reference is not defined (and 5 more)), so its canonical form, and any signature "
        "over it, is undefined",
    ),
    "vpcp-sdk/edoc_new.edxml": (SignatureStatus.UNVERIFIABLE, NAMESPACE_STRIPPED),
    "vpcp-sdk/edoc_replacement.edxml": (SignatureStatus.UNVERIFIABLE, NAMESPACE_STRIPPED),
    "vpcp-sdk/edoc_revocation.edxml": (SignatureStatus.UNVERIFIABLE, NAMESPACE_STRIPPED),
    "vpcp-sdk/edoc_update.edxml": (SignatureStatus.UNVERIFIABLE, NAMESPACE_STRIPPED),
    **{
        f"vpcp-sdk/status_{name}.edxml": NO_SIGNATURE
        for name in (
            "acceptance_03",
            "assignment_04",
            "cancellation_13",
            "change-acceptance_15",
            "change-rejection_16",
            "finish_06",
            "inbox_01",
            "processing_05",
            "rejection_02",
        )
    },
}


def _samples(samples_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(samples_dir.rglob("*.edxml")):
        yield path.relative_to(samples_dir).as_posix(), path


def test_every_sample_gives_a_recorded_result(samples_dir: Path) -> None:
    seen = {}
    for name, path in _samples(samples_dir):
        result = verify_package(path)
        seen[name] = status_of(result)
        from_bytes = verify_package(path.read_bytes())
        assert replace(from_bytes, checked_at=result.checked_at) == result
    assert seen == SAMPLE_RESULTS


def test_samples_with_sha1_allowed_stay_unverifiable(samples_dir: Path) -> None:
    legacy = VerifyPolicy(allow_sha1=True)
    for name, path in _samples(samples_dir):
        assert verify_package(path, legacy).status is SAMPLE_RESULTS[name][0], name


def test_sample_evidence_is_kept(samples_dir: Path) -> None:
    """Even unverifiable, the axis-delivered signature names its algorithm and signer."""
    result = verify_package(samples_dir / "axis-delivered/2019-852e179c.edxml")
    assert result.algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert result.digest == "http://www.w3.org/2000/09/xmldsig#sha1"
    assert result.c14n == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    assert "CN=TRẦN ANH TUẤN" in result.certificate_subject
    assert "VNPT Certification Authority" in result.certificate_issuer
    assert result.certificate_not_after == dt.datetime(2018, 10, 19, 16, 55, tzinfo=dt.UTC)
    dummy = verify_package(samples_dir / "vpcp-sdk/edoc_new.edxml")
    assert dummy.certificate_der is None and dummy.algorithm.endswith("#rsa-sha1")


def test_samples_can_be_signed_by_the_gateway(samples_dir: Path, key: SigningKey) -> None:
    for name, path in _samples(samples_dir):
        if name == "vpcp-sdk/edoc.edxml":
            with pytest.raises(UnusableInput, match="not namespace-well-formed"):
                sign_package(path.read_bytes(), key)
            continue
        data = path.read_bytes().lstrip(b"1212")
        signed = sign_package(data, key)
        assert verify_package(signed).status is SignatureStatus.VALID, name
        assert signed.count(b"Signature>") == 1, name  # the axis-stripped one was replaced


# --- size ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_megabyte_package_signs_and_verifies(
    make_document: Callable[..., DocumentPackage], blob_store: FileBlobStore, key: SigningKey
) -> None:
    data = package_bytes(make_document(os.urandom(15 << 20)), blob_store)
    assert len(data) > 20 << 20
    signed = sign_package(data, key)
    assert verify_package(signed).status is SignatureStatus.VALID
    tampered = _attachment_byte_changed(signed)
    assert verify_package(tampered).status is SignatureStatus.INVALID


def test_large_unsigned_file_is_judged_from_its_envelope_without_loading_it(
    make_document: Callable[..., DocumentPackage],
    blob_store: FileBlobStore,
    key: SigningKey,
    tmp_path: Path,
) -> None:
    """Over DOM_LIMIT, a file whose envelope holds no signature is not read whole: the verdict
    costs a few kilobytes, not a DOM of the package (a 200 MB upload grew a worker by 538 MB)."""
    import tracemalloc

    from gateway.security.signatures import DOM_LIMIT

    data = package_bytes(make_document(os.urandom(DOM_LIMIT)), blob_store)
    assert len(data) > DOM_LIMIT
    unsigned = tmp_path / "unsigned.edxml"
    unsigned.write_bytes(b"1212" + data)  # VPCP's junk prefix is skipped as on the full path
    del data
    tracemalloc.start()
    try:
        result = verify_package(unsigned)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status is SignatureStatus.ABSENT
    assert result.reason == "the package carries no signature"
    assert peak < 2 << 20, f"{peak} bytes held to judge an unsigned file"

    # A signed file of the same size still takes the full check.
    signed = tmp_path / "signed.edxml"
    signed.write_bytes(sign_package(unsigned.read_bytes()[4:], key))
    assert verify_package(signed).status is SignatureStatus.VALID


def test_prebuilt_key_info_signs_the_same_bytes_as_signxml_given_the_chain(
    unsigned: bytes, pki: Pki
) -> None:
    """The KeyInfo built once per key is the one signxml builds from ``cert=``: RSA PKCS#1 v1.5
    is deterministic, so the two paths give the same document, byte for byte."""
    chain = SigningKey(pki.leaf.key, (pki.leaf.certificate, pki.ca.certificate))
    staged = etree.fromstring(sign_package(unsigned, chain))
    signature = staged.find(f".//{{{XMLDSIG}}}Signature")
    assert signature is not None
    placeholder = etree.fromstring(PLACEHOLDER)
    signature.getparent().replace(signature, placeholder)  # type: ignore[union-attr]
    ours, _ = sign_enveloped(staged, chain)
    theirs = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(staged, key=chain.private_key, cert=list(chain.certificates))
    assert etree.tostring(ours) == etree.tostring(theirs)
    assert len(ours.findall(f".//{{{XMLDSIG}}}X509Certificate")) == 2
    assert chain.key_info.getparent() is not None  # the template itself was never moved
    assert sign_package(unsigned, chain) == sign_package(unsigned, chain)
