"""XML-DSig on edXML packages: verify what arrives (as evidence), sign what the gateway emits.

Envelope signatures rarely survive the national axis, which re-serialises packages (reference
§2.6, §7.8): real traffic carries rsa-sha1 dummies, truncated certificates and ``<Signature>``
elements that lost the xmldsig namespace. So :func:`verify_package` never raises for a bad
signature: it returns a :class:`SignatureResult` to record on the package, and only
:func:`enforce` turns a result into a rejection, where a sender's :class:`VerifyPolicy` says so.

A signature covers the whole document as received (``Reference URI=""`` with the
enveloped-signature transform), so verification reads the raw received bytes, never the package
as the gateway re-writes it. Only that shape is accepted: exactly one ``ds:Signature`` in the
document, under ``edXMLHeader``, with exactly one ``Reference`` to the whole document and no
transform but enveloped-signature and canonicalisation. Anything else is how signature-wrapping
attacks make a valid signature vouch for data it did not sign.

Cryptography is signxml's; this module decides what shape and which algorithms to accept, and
which certificate is the signer's. Chain and revocation checks belong to the caller's
``check_certificate`` (``gateway.security.certificates``).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import enum
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Protocol, cast

import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.edxml.namespaces import QCVN, XMLDSIG, local_name, namespace_of
from gateway.errors import (
    SignatureRejected,
    SigningKeyError,
    UnusableInput,
)
from gateway.safexml import pull_parser

ENVELOPED_SIGNATURE = SignatureConstructionMethod.enveloped.value
"""The transform that removes the Signature element itself before digesting the document."""

SECURE_SIGNATURE_METHODS: frozenset[SignatureMethod] = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
"""Public-key methods with SHA-2 hashes: no SHA-1, and no HMAC (it needs a shared secret)."""

SECURE_DIGEST_ALGORITHMS: frozenset[DigestAlgorithm] = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)

LEGACY_SHA1_METHOD = SignatureMethod.RSA_SHA1
"""What VPCP's samples and the VNPT library use (reference §2.6); accepted only on request."""

SIGNING_METHODS: dict[SignatureMethod, DigestAlgorithm] = {
    SignatureMethod.RSA_SHA256: DigestAlgorithm.SHA256,
    SignatureMethod.RSA_SHA384: DigestAlgorithm.SHA384,
    SignatureMethod.RSA_SHA512: DigestAlgorithm.SHA512,
}
"""What the gateway signs with, and the digest each uses. SHA-1 is never among them."""

_SIGNATURE_NAMES = frozenset({"Signature", "DigitalSignature"})
"""Header children that hold a signature: XML-DSig's, or the .NET SDK's edXML placeholder."""

_C14N_METHODS = frozenset(method.value for method in CanonicalizationMethod)
_XMLNS_UNDECLARATION = re.compile(rb"""xmlns\s*=\s*(?:""|'')""")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


class SignatureStatus(enum.Enum):
    """What the envelope signature of a received package proves."""

    VALID = "valid"
    """It verifies with the certificate it carries, and every configured check passed."""
    INVALID = "invalid"
    """The document was changed after signing, or the signature has a shape that could vouch
    for other data than the whole document (signature wrapping)."""
    ABSENT = "absent"
    """No signature, or only an empty placeholder (Bkav's ``<Signature/>``, the .NET SDK's
    ``<edXML:DigitalSignature/>``)."""
    UNVERIFIABLE = "unverifiable"
    """It cannot be checked: the certificate is missing, a dummy, expired or untrusted, an
    algorithm is refused by policy, or the axis stripped the xmldsig namespace."""


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """The evidence recorded for one received package's envelope signature."""

    status: SignatureStatus
    reason: str
    """One sentence for a clerk or an auditor: why the status is what it is."""
    checked_at: dt.datetime
    """When the check ran (UTC); the certificate validity period is judged at this instant."""
    algorithm: str = ""
    """SignatureMethod URI as written in the signature (empty if none)."""
    digest: str = ""
    """DigestMethod URI of the Reference."""
    c14n: str = ""
    """CanonicalizationMethod URI of SignedInfo."""
    certificate_subject: str = ""
    """RFC 4514 form, e.g. ``CN=Văn phòng Chính phủ,O=...``."""
    certificate_issuer: str = ""
    certificate_serial: str = ""
    """Hexadecimal, as certificate viewers show it."""
    certificate_not_before: dt.datetime | None = None
    certificate_not_after: dt.datetime | None = None
    certificate_sha256: str = ""
    """Lowercase hex SHA-256 of the certificate's DER: the key to look it up elsewhere."""
    certificate_der: bytes | None = field(default=None, repr=False)
    """The signer's certificate, for chain and revocation checks done later or elsewhere."""

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready: enum by value, times in ISO 8601, the certificate in base64."""

        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        der = self.certificate_der
        return {
            "status": self.status.value,
            "reason": self.reason,
            "checked_at": iso(self.checked_at),
            "algorithm": self.algorithm,
            "digest": self.digest,
            "c14n": self.c14n,
            "certificate_subject": self.certificate_subject,
            "certificate_issuer": self.certificate_issuer,
            "certificate_serial": self.certificate_serial,
            "certificate_not_before": iso(self.certificate_not_before),
            "certificate_not_after": iso(self.certificate_not_after),
            "certificate_sha256": self.certificate_sha256,
            "certificate_der": base64.b64encode(der).decode("ascii") if der is not None else None,
        }


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """How one sender's envelope signatures are judged. The defaults record evidence and
    reject nothing; every weaker or stricter choice is named explicitly."""

    allow_sha1: bool = False
    """Accept RSA-SHA1 signatures and SHA-1 digests. SHA-1 collisions are practical, so only
    for senders configured to need it (VPCP's legacy signers); never used when signing."""
    require_signature: bool = False
    """Reject a package that carries no signature (``ABSENT``)."""
    require_valid: bool = False
    """Reject a package unless its signature is ``VALID`` (implies ``require_signature``)."""
    check_validity_period: bool = True
    """Report ``UNVERIFIABLE`` when the signer's certificate is expired or not yet valid at
    the time of the check. The integrity check runs first either way, so a changed document
    is ``INVALID`` whatever its certificate's dates."""
    signature_methods: frozenset[SignatureMethod] = SECURE_SIGNATURE_METHODS
    """Signature methods accepted (RSA-SHA1 is added by ``allow_sha1``)."""
    digest_algorithms: frozenset[DigestAlgorithm] = SECURE_DIGEST_ALGORITHMS
    """Reference digest algorithms accepted (SHA-1 is added by ``allow_sha1``)."""

    @property
    def accepted_signature_methods(self) -> frozenset[SignatureMethod]:
        extra = {LEGACY_SHA1_METHOD} if self.allow_sha1 else set()
        return self.signature_methods | extra

    @property
    def accepted_digest_algorithms(self) -> frozenset[DigestAlgorithm]:
        extra = {DigestAlgorithm.SHA1} if self.allow_sha1 else set()
        return self.digest_algorithms | extra


DEFAULT_POLICY = VerifyPolicy()

CertificateCheck = Callable[[bytes], str | None]
"""Given the signer certificate's DER, the reason it is not trusted, or None if it is."""


def enforce(result: SignatureResult, policy: VerifyPolicy) -> None:
    """Raise :class:`SignatureRejected` if the sender's policy refuses this result."""
    if policy.require_valid and result.status is not SignatureStatus.VALID:
        raise SignatureRejected(result)
    if policy.require_signature and result.status is SignatureStatus.ABSENT:
        raise SignatureRejected(result)


# --- parsing -------------------------------------------------------------------------------


def c14n_parser(*, recover: bool = False) -> etree.XMLParser:
    """Hardened like :mod:`gateway.safexml`, with two differences that C14N needs:
    processing instructions are kept (canonical XML includes them), and ``huge_tree`` is on
    (attachments exceed libxml2's 10 MB text limit). Comments are dropped: a ``URI=""``
    reference excludes them anyway."""
    return etree.XMLParser(
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=False,
        recover=recover,
    )


class _LogEntry(Protocol):
    """What is read from an lxml error-log entry (lxml-stubs does not describe the class)."""

    @property
    def domain_name(self) -> str: ...
    @property
    def message(self) -> str: ...


class _NotNamespaceWellFormed(Exception):
    """The XML is well-formed but uses undeclared prefixes, so its canonical form is undefined."""


DOM_LIMIT = 16 * 1024 * 1024
"""Files larger than this are first scanned by streaming: the check builds a DOM of the whole
document (several times its size in memory), which an unsigned package does not need."""


def _unsigned_large_file(path: Path) -> bool:
    """True for a file over :data:`DOM_LIMIT` whose envelope holds no signature element.

    Reads only up to the end of ``edXMLEnvelope`` (the attachments follow it), so a 500 MB
    package costs a few kilobytes here. Anything unusual (no envelope, a parse error, a
    signature-like element) answers False and the caller takes the full path, which reports it.
    """
    try:
        if path.stat().st_size <= DOM_LIMIT:
            return False
        parser = pull_parser()
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
            start = head.find(b"<")
            if start == -1 or b"<!DOCTYPE" in head:
                return False
            chunk = head[start:]
            while chunk:
                parser.feed(chunk)
                for event, element in parser.read_events():
                    assert isinstance(element, etree._Element)
                    if not isinstance(element.tag, str):
                        continue
                    name = local_name(element.tag)
                    if event == "start" and name in _SIGNATURE_NAMES:
                        return False
                    if event == "end" and name == "edXMLEnvelope":
                        return True
                    if event == "start" and name == "AttachmentEncoded":
                        return True
                chunk = handle.read(1 << 16)
    except (OSError, etree.XMLSyntaxError):
        return False
    return False


def _load(source: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise UnusableInput("M.File", f"cannot read {os.fspath(source)}: {exc}") from exc


def _strip_leading_junk(data: bytes) -> bytes:
    """Bytes before the first ``<`` (a BOM, VPCP's ``1212``) are outside the XML: drop them."""
    start = data.find(b"<")
    if start == -1:
        raise UnusableInput("M.Xml", "the input is not XML: it contains no '<'")
    return data[start:] if start else data


def _parse(data: bytes, *, recover: bool = False) -> etree._Element:
    first = _FIRST_ELEMENT.search(data)
    if data.find(b"<!DOCTYPE", 0, first.start() if first else len(data)) != -1:
        raise UnusableInput(
            "M.Xml.Doctype", "a DOCTYPE declaration is not allowed in an edXML package", "line 1"
        )
    parser = c14n_parser(recover=recover)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # The parser's own log: the exception's copy also holds earlier parses' errors.
        errors = list(cast("Iterable[_LogEntry]", parser.error_log))
        if errors and all(e.domain_name == "NAMESPACE" for e in errors):
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise _NotNamespaceWellFormed(f"{errors[0].message}{more}") from None
        raise UnusableInput("M.Xml", f"the input is not well-formed XML ({exc})") from None
    if root is None or root.tag != f"{{{QCVN}}}edXML":
        shown = root.tag if root is not None else "nothing"
        raise UnusableInput(
            "M.Xml.Root", f"root element is {shown}; an edXML package starts with <edXML>"
        )
    return root


def _header(root: etree._Element) -> etree._Element | None:
    return root.find(f"{{{QCVN}}}edXMLEnvelope/{{{QCVN}}}edXMLHeader")


# --- describing a signature ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Described:
    """What a Signature element says about itself, read in its own namespace (evidence even
    when it cannot be verified), and the signer's certificate if one can be parsed."""

    result: SignatureResult
    certificate: x509.Certificate | None
    certificate_problem: str


def _describe(signature: etree._Element, base: SignatureResult) -> _Described:
    ns = namespace_of(signature.tag)

    def q(*names: str) -> str:
        return "/".join(f"{{{ns}}}{name}" if ns else name for name in names)

    def algorithm(*path: str) -> str:
        element = signature.find(q(*path))
        return (element.get("Algorithm") or "") if element is not None else ""

    result = replace(
        base,
        algorithm=algorithm("SignedInfo", "SignatureMethod"),
        digest=algorithm("SignedInfo", "Reference", "DigestMethod"),
        c14n=algorithm("SignedInfo", "CanonicalizationMethod"),
    )
    texts = [e.text or "" for e in signature.iterfind(q("KeyInfo", "X509Data", "X509Certificate"))]
    if not texts:
        return _Described(result, None, "the signature carries no X509Certificate in KeyInfo")
    certificates: list[x509.Certificate] = []
    for text in texts:
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:  # binascii.Error is a ValueError
            shown = text.strip()[:24]
            return _Described(
                result,
                None,
                f"its X509Certificate ({shown!r}) is not a certificate, probably a dummy or "
                f"truncated value ({exc})",
            )
    leaf = _signer_certificate(certificates)
    return _Described(_with_certificate(result, leaf), leaf, "")


def _signer_certificate(certificates: list[x509.Certificate]) -> x509.Certificate:
    """X509Data is unordered: the signer's certificate is the one that issued none of the others."""
    leaves = [
        c
        for c in certificates
        if not any(other is not c and other.issuer == c.subject for other in certificates)
    ]
    return leaves[0] if len(leaves) == 1 else certificates[0]


def _with_certificate(result: SignatureResult, certificate: x509.Certificate) -> SignatureResult:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return replace(
        result,
        certificate_subject=_name(certificate.subject),
        certificate_issuer=_name(certificate.issuer),
        certificate_serial=format(certificate.serial_number, "X"),
        certificate_not_before=certificate.not_valid_before_utc,
        certificate_not_after=certificate.not_valid_after_utc,
        certificate_sha256=hashlib.sha256(der).hexdigest(),
        certificate_der=der,
    )


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:  # an attribute cryptography cannot render
        return "<unreadable name>"


# --- verification --------------------------------------------------------------------------


def verify_package(
    source: bytes | str | os.PathLike[str],
    policy: VerifyPolicy = DEFAULT_POLICY,
    *,
    check_certificate: CertificateCheck | None = None,
    at: dt.datetime | None = None,
) -> SignatureResult:
    """Check the envelope signature of a package exactly as received (bytes or a file path).

    Returns the evidence; never raises for a bad, missing or odd signature. Raises
    :class:`~gateway.errors.UnusableInput` only for input the reader refuses too (not XML, a
    DOCTYPE, not an edXML root). ``check_certificate`` is asked about the signer's certificate
    once the signature itself verifies; ``at`` (default: now) is when validity is judged.
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("'at' must be timezone-aware")
    checked_at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    base = SignatureResult(SignatureStatus.ABSENT, "", checked_at)
    if not isinstance(source, bytes) and _unsigned_large_file(Path(source)):
        return replace(base, reason="the package carries no signature")
    data = _strip_leading_junk(_load(source))
    try:
        root = _parse(data)
        malformed = ""
    except _NotNamespaceWellFormed as exc:
        root = _parse(data, recover=True)
        malformed = str(exc)

    signatures = list(root.iter(f"{{{XMLDSIG}}}Signature"))
    if not signatures:
        return _without_xmldsig(base, root, malformed)
    described = _describe(signatures[0], base)
    base = described.result
    if malformed:
        return _unverifiable(
            base,
            f"the document is not namespace-well-formed ({malformed}), so its canonical form, "
            "and any signature over it, is undefined",
        )
    if len(signatures) > 1:
        return _invalid(
            base,
            f"the document holds {len(signatures)} Signature elements; exactly one is accepted, "
            "so that no second signature can vouch for wrapped content",
        )
    signature = signatures[0]
    header = _header(root)
    if header is None or not any(a is header for a in signature.iterancestors()):
        return _invalid(base, "the Signature element is not inside edXMLHeader")
    shape = enveloped_shape_problem(signature)
    if shape:
        return _invalid(base, shape)
    refused = _algorithm_problem(signature, policy)
    if refused:
        return _unverifiable(base, refused)
    certificate = described.certificate
    if certificate is None:
        return _unverifiable(base, described.certificate_problem)
    broken = _cryptographic_problem(data, signature, certificate)
    if broken:
        return _invalid(base, broken)
    if policy.check_validity_period:
        outside = _validity_problem(certificate, checked_at)
        if outside:
            return _unverifiable(base, outside)
    if check_certificate is not None:
        untrusted = check_certificate(certificate.public_bytes(serialization.Encoding.DER))
        if untrusted:
            return _unverifiable(base, f"the signature verifies, but {untrusted}")
    return replace(
        base,
        status=SignatureStatus.VALID,
        reason=f"the signature verifies with the certificate of {_name(certificate.subject)}",
    )


def _invalid(base: SignatureResult, reason: str) -> SignatureResult:
    return replace(base, status=SignatureStatus.INVALID, reason=reason)


def _unverifiable(base: SignatureResult, reason: str) -> SignatureResult:
    return replace(base, status=SignatureStatus.UNVERIFIABLE, reason=reason)


def _without_xmldsig(
    base: SignatureResult, root: etree._Element, malformed: str
) -> SignatureResult:
    """No XML-DSig element: an empty placeholder, a namespace-stripped signature, or nothing."""
    header = _header(root)
    found = [
        child
        for child in (header if header is not None else ())
        if isinstance(child.tag, str) and local_name(child.tag) in _SIGNATURE_NAMES
    ]
    filled = [c for c in found if len(c) or (c.text or "").strip()]
    if not filled:
        if found:
            name = local_name(found[0].tag)
            return replace(base, reason=f"only an empty <{name}/> placeholder, no signature")
        return replace(base, reason="the package carries no signature")
    signature = filled[0]
    base = _describe(signature, base).result
    ns = namespace_of(signature.tag) or "no namespace"
    extra = f"; the document is also not namespace-well-formed ({malformed})" if malformed else ""
    return _unverifiable(
        base,
        f"the <{local_name(signature.tag)}> element is in {ns}, not the XML-DSig namespace "
        f"{XMLDSIG}: the national axis re-serialises packages this way, and such a signature "
        f"cannot be checked{extra}",
    )


def _ds(*names: str) -> str:
    return "/".join(f"{{{XMLDSIG}}}{name}" for name in names)


def enveloped_shape_problem(signature: etree._Element) -> str:
    """Why ``signature`` is not a plain whole-document enveloped signature ("" if it is).

    The signature-wrapping defences: one SignedInfo and SignatureValue, one Reference, to the
    whole document, transformed only by enveloped-signature and canonicalisation.
    """
    signed_infos = signature.findall(_ds("SignedInfo"))
    if len(signed_infos) != 1:
        return f"the Signature has {len(signed_infos)} SignedInfo elements instead of one"
    values = signature.findall(_ds("SignatureValue"))
    if len(values) != 1 or not (values[0].text or "").strip():
        return "the Signature has no SignatureValue"
    references = signed_infos[0].findall(_ds("Reference"))
    if len(references) != 1:
        return (
            f"SignedInfo has {len(references)} References; exactly one, to the whole document "
            '(URI=""), is accepted'
        )
    reference = references[0]
    uri = reference.get("URI")
    if uri != "":
        shown = "no URI attribute" if uri is None else f"URI={uri!r}"
        return (
            f'the Reference has {shown}; only URI="" (the whole document) is accepted, '
            "so that the signature cannot point at a wrapped copy"
        )
    for transform in reference.iterfind(_ds("Transforms", "Transform")):
        name = transform.get("Algorithm") or ""
        if name != ENVELOPED_SIGNATURE and name not in _C14N_METHODS:
            return (
                f"the Reference applies the transform {name!r}; only enveloped-signature and "
                "canonicalisation are accepted, so that the whole document is what is signed"
            )
    if not (reference.findtext(_ds("DigestValue")) or "").strip():
        return "the Reference has no DigestValue"
    return ""


def _algorithm_problem(signature: etree._Element, policy: VerifyPolicy) -> str:
    """Algorithms outside the policy make the signature uncheckable, not proven wrong."""
    signed_info = signature.find(_ds("SignedInfo"))
    assert signed_info is not None  # checked by enveloped_shape_problem
    method_uri = _algorithm_of(signed_info, "SignatureMethod")
    digest_uri = _algorithm_of(signed_info, "Reference", "DigestMethod")
    c14n_uri = _algorithm_of(signed_info, "CanonicalizationMethod")
    sha1_hint = " (SHA-1 is accepted only for senders configured with allow_sha1)"
    try:
        method = SignatureMethod(method_uri)
    except ValueError:
        return f"the signature method {method_uri!r} is not supported"
    if method not in policy.accepted_signature_methods:
        hint = sha1_hint if method is LEGACY_SHA1_METHOD else ""
        return f"the signature method {method_uri} is not allowed by this sender's policy{hint}"
    try:
        digest = DigestAlgorithm(digest_uri)
    except ValueError:
        return f"the digest method {digest_uri!r} is not supported"
    if digest not in policy.accepted_digest_algorithms:
        hint = sha1_hint if digest is DigestAlgorithm.SHA1 else ""
        return f"the digest method {digest_uri} is not allowed by this sender's policy{hint}"
    if c14n_uri not in _C14N_METHODS:
        return f"the canonicalisation method {c14n_uri!r} is not supported"
    return ""


def _algorithm_of(signed_info: etree._Element, *path: str) -> str:
    element = signed_info.find(_ds(*path))
    return (element.get("Algorithm") or "") if element is not None else ""


def _cryptographic_problem(
    data: bytes, signature: etree._Element, certificate: x509.Certificate
) -> str:
    """signxml's verdict on digest and signature value, with the certificate's dates set aside
    (they are judged afterwards, so that a changed document is reported as changed)."""
    signed_info = signature.find(_ds("SignedInfo"))
    assert signed_info is not None
    method = SignatureMethod(_algorithm_of(signed_info, "SignatureMethod"))
    digest = DigestAlgorithm(_algorithm_of(signed_info, "Reference", "DigestMethod"))
    inclusive = not _algorithm_of(signed_info, "CanonicalizationMethod").startswith(
        CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
    )
    verifier = XMLVerifier()
    # Legacy inclusive-C14N signatures with an unprefixed <Signature xmlns="...xmldsig#"> only
    # verify if signxml drops the xmlns="" that lxml's C14N adds (stack-notes). That would also
    # hide a real xmlns="" undeclaration, so it is done only when the document has none.
    verifier.excise_empty_xmlns_declarations = inclusive and not _XMLNS_UNDECLARATION.search(data)
    config = SignatureConfiguration(
        require_x509=True,
        location=".//",
        expect_references=1,
        signature_methods=frozenset({method}),
        digest_algorithms=frozenset({digest}),
        verification_time=certificate.not_valid_before_utc,
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        verifier.verify(data, x509_cert=certificate, parser=c14n_parser(), expect_config=config)
    except InvalidDigest:
        return "the digest does not match: the document was changed after it was signed"
    except InvalidCertificate as exc:
        return f"the certificate cannot be used to verify ({exc})"
    except cryptography.exceptions.InvalidSignature:
        return (
            "the SignatureValue does not match SignedInfo under the certificate's key: "
            "the signature was altered or made with another key"
        )
    except etree.DocumentInvalid as exc:
        return f"the Signature element breaks the XML-DSig schema ({exc})"
    except (SignXMLException, ValueError) as exc:
        return f"the signature cannot be processed ({exc})"
    return ""


def _validity_problem(certificate: x509.Certificate, at: dt.datetime) -> str:
    subject = _name(certificate.subject)
    if at < certificate.not_valid_before_utc:
        start = certificate.not_valid_before_utc.isoformat()
        return (
            f"the signature verifies, but the certificate of {subject} is valid only from {start}"
        )
    if at > certificate.not_valid_after_utc:
        end = certificate.not_valid_after_utc.isoformat()
        return f"the signature verifies, but the certificate of {subject} expired on {end}"
    return ""


# --- signing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The gateway's RSA private key and its certificate chain (signer's certificate first).

    Load it once and reuse it: signxml re-checks a PEM key on every call (36 ms each).
    """

    private_key: rsa.RSAPrivateKey
    certificates: tuple[x509.Certificate, ...]
    key_info: etree._Element = field(init=False, repr=False, compare=False)
    """The ``ds:KeyInfo`` every signature carries, built once: given the chain, signxml
    re-encodes each certificate to PEM on every signature (25-30 µs of a receipt's 450,
    ``benchmarks/bench_hot_path.py``). Signers take a copy (:meth:`key_info_copy`), since
    signxml moves the element it is given into the signature."""

    MIN_KEY_BITS: ClassVar[int] = 2048

    def __post_init__(self) -> None:
        holder = etree.Element(f"{{{XMLDSIG}}}Signature", nsmap={"ds": XMLDSIG})
        key_info = etree.SubElement(holder, f"{{{XMLDSIG}}}KeyInfo")
        x509_data = etree.SubElement(key_info, f"{{{XMLDSIG}}}X509Data")
        for certificate in self.certificates:
            element = etree.SubElement(x509_data, f"{{{XMLDSIG}}}X509Certificate")
            element.text = _pem_body(certificate)
        object.__setattr__(self, "key_info", key_info)

    def key_info_copy(self) -> etree._Element:
        """A fresh copy of :attr:`key_info`, for one signature."""
        return copy.deepcopy(self.key_info)

    @property
    def certificate(self) -> x509.Certificate:
        return self.certificates[0]

    @classmethod
    def from_pem(
        cls, key_pem: bytes, chain_pem: bytes, password: bytes | None = None
    ) -> SigningKey:
        """Pair a PEM private key with the PEM certificate(s) of its chain, in any order."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=password)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(
                "M.SigningKey", f"the private key cannot be loaded: {exc}"
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SigningKeyError("M.SigningKey", "the signing key must be an RSA key")
        if key.key_size < cls.MIN_KEY_BITS:
            raise SigningKeyError(
                "M.SigningKey",
                f"the signing key has {key.key_size} bits; at least {cls.MIN_KEY_BITS} are needed",
            )
        try:
            chain = x509.load_pem_x509_certificates(chain_pem)
        except ValueError as exc:
            raise SigningKeyError(
                "M.SigningKey", f"the certificate file holds no PEM certificate: {exc}"
            ) from exc
        public = key.public_key().public_numbers()
        own = [c for c in chain if _public_numbers(c) == public]
        if not own:
            raise SigningKeyError(
                "M.SigningKey", "no certificate in the chain belongs to the signing key"
            )
        return cls(key, (own[0], *(c for c in chain if c is not own[0])))

    @classmethod
    def from_files(
        cls,
        key_file: str | os.PathLike[str],
        chain_file: str | os.PathLike[str],
        password: bytes | None = None,
    ) -> SigningKey:
        """Load the key and chain named by the gateway's configuration."""
        try:
            key_pem = Path(key_file).read_bytes()
            chain_pem = Path(chain_file).read_bytes()
        except OSError as exc:
            raise SigningKeyError("M.SigningKey", f"cannot read signing material: {exc}") from exc
        return cls.from_pem(key_pem, chain_pem, password)


def _pem_body(certificate: x509.Certificate) -> str:
    """The base64 lines of the certificate's PEM, newline-terminated, without the BEGIN and END
    lines: what signxml writes into X509Certificate."""
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return pem.split("\n", 1)[1].rsplit("-----END", 1)[0]


def _public_numbers(certificate: x509.Certificate) -> rsa.RSAPublicNumbers | None:
    key = certificate.public_key()
    return key.public_numbers() if isinstance(key, rsa.RSAPublicKey) else None


class _Signer(XMLSigner):
    """signxml's signer with the hardened, ``huge_tree`` parser (it re-parses what it signs,
    and only its verifier takes a parser argument)."""

    @property
    def parser(self) -> etree.XMLParser:
        return c14n_parser()


PLACEHOLDER = b'<ds:Signature xmlns:ds="%s" Id="placeholder"/>' % XMLDSIG.encode()
"""Marks where :func:`sign_enveloped` puts the signature (signxml's placeholder convention)."""


def _digest_for(method: SignatureMethod) -> DigestAlgorithm:
    digest = SIGNING_METHODS.get(method)
    if digest is None:
        allowed = ", ".join(m.name for m in SIGNING_METHODS)
        raise ValueError(
            f"the gateway signs only with {allowed}; {method.name} is refused "
            "(SHA-1 is accepted only when verifying, for senders configured to need it)"
        )
    return digest


def sign_enveloped(
    root: etree._Element, key: SigningKey, method: SignatureMethod = SignatureMethod.RSA_SHA256
) -> tuple[etree._Element, etree._Element]:
    """Sign ``root``'s whole document; return the signed copy and its Signature element.

    The signature takes the place of the one :data:`PLACEHOLDER` element in ``root``:
    enveloped, ``URI=""``, exclusive C14N, the method's SHA-2 digest, X509Data with the key's
    chain. signxml signs a copy, so ``root`` itself is left as it was.
    """
    signer = _Signer(
        signature_algorithm=method,
        digest_algorithm=_digest_for(method),
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    placeholders = root.findall(f".//{{{XMLDSIG}}}Signature[@Id='placeholder']")
    if len(placeholders) != 1:
        raise ValueError(f"expected one placeholder Signature element, found {len(placeholders)}")
    signed = signer.sign(root, key=key.private_key, key_info=key.key_info_copy())
    signature = signed.find(f".//{{{XMLDSIG}}}Signature")
    assert signature is not None
    return signed, signature


def sign_package(
    data: bytes, key: SigningKey, method: SignatureMethod = SignatureMethod.RSA_SHA256
) -> bytes:
    """Sign a package the gateway emits: an enveloped XML-DSig as the last child of
    ``edXMLHeader`` (RSA-SHA256, exclusive C14N, SHA-256 digest, X509Data).

    The gateway re-signs what it emits: a signature (or empty placeholder) already in the
    header is replaced. Every other byte keeps its place, so reading the result gives the same
    package except its ``signature``. Raises :class:`~gateway.errors.UnusableInput` for input
    that is not a well-formed edXML package, and ``ValueError`` for a method it will not sign
    with (any SHA-1 one).
    """
    _digest_for(method)
    try:
        root = _parse(data)
    except _NotNamespaceWellFormed as exc:
        raise UnusableInput(
            "M.Xml.Namespace", f"cannot sign a document that is not namespace-well-formed: {exc}"
        ) from None
    header = _header(root)
    if header is None:
        raise UnusableInput("M.Xml", "cannot sign: the package has no edXMLEnvelope/edXMLHeader")
    children = [c for c in header if isinstance(c.tag, str)]
    replaced = [c for c in children if local_name(c.tag) in _SIGNATURE_NAMES]
    for signature in root.iter(f"{{{XMLDSIG}}}Signature"):
        if not any(a in replaced for a in (signature, *signature.iterancestors())):
            raise UnusableInput(
                "M.Signature", "cannot sign: a Signature element lies elsewhere than in edXMLHeader"
            )
    layout = _header_layout(data)
    if layout is None or [n for n, _, _ in layout.children] != [
        local_name(c.tag) for c in children
    ]:
        raise UnusableInput("M.Xml", "cannot sign: the edXMLHeader layout could not be located")
    staged, at = _with_placeholder(data, layout)
    _, signature = sign_enveloped(_parse(staged), key, method)
    # Exclusive C14N: the element with only the namespace it uses (lxml would repeat every
    # declaration in scope); the enveloped transform ignores it, SignedInfo is C14N already.
    signature_xml = etree.tostring(signature, method="c14n", exclusive=True)
    return staged[:at] + signature_xml + staged[at + len(PLACEHOLDER) :]


_MARKUP = re.compile(
    rb"<!--.*?-->"
    rb"|<!\[CDATA\[.*?\]\]>"
    rb"|<\?.*?\?>"
    rb"|</(?P<end>[^\s>]+)\s*>"
    rb"|<(?P<start>[^\s/>!?]+)(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*(?P<empty>/?)>",
    re.DOTALL,
)
"""Comments, CDATA and PIs (matched whole, so tag-like text inside them is skipped), end tags
and start tags: in well-formed XML (it has been parsed already) no other text holds a '<'."""

_HEADER_PATH = ("edXML", "edXMLEnvelope", "edXMLHeader")


@dataclass(frozen=True, slots=True)
class _HeaderLayout:
    """Byte offsets in the raw document: the end of ``<edXMLHeader>`` and its child elements
    as (local name, start, end)."""

    open_end: int
    children: list[tuple[str, int, int]]


def _header_layout(data: bytes) -> _HeaderLayout | None:
    """Scan the envelope's tags up to ``</edXMLHeader>``: never as far as the attachments."""
    path: list[str] = []
    children: list[tuple[str, int, int]] = []
    open_end = child_start = -1
    for match in _MARKUP.finditer(data):
        start, end = match.group("start"), match.group("end")
        if start is not None:
            name = start.decode("utf-8").rsplit(":", 1)[-1]
            in_header = tuple(path) == _HEADER_PATH
            if in_header:
                child_start = match.start()
            if match.group("empty"):
                if in_header:
                    children.append((name, child_start, match.end()))
                continue
            path.append(name)
            if tuple(path) == _HEADER_PATH:
                open_end = match.end()
        elif end is not None:
            closed = path.pop() if path else ""
            if tuple(path) == _HEADER_PATH:
                children.append((closed, child_start, match.end()))
            elif closed == _HEADER_PATH[-1] and tuple(path) == _HEADER_PATH[:-1]:
                return _HeaderLayout(open_end, children)
    return None


def _with_placeholder(data: bytes, layout: _HeaderLayout) -> tuple[bytes, int]:
    """The document with each header signature cut out (with the whitespace before it) and
    :data:`PLACEHOLDER` written after the last remaining child, indented like its siblings;
    and the placeholder's offset."""
    edits: list[tuple[int, int, bytes]] = []
    previous_end = last_kept_end = layout.open_end
    indent = b""
    for name, start, end in layout.children:
        if name in _SIGNATURE_NAMES:
            edits.append((previous_end, end, b""))
        else:
            gap = data[previous_end:start]
            if not gap.strip():
                indent = gap
            last_kept_end = end
        previous_end = end
    edits.append((last_kept_end, last_kept_end, indent + PLACEHOLDER))
    parts: list[bytes] = []
    position = length = at = 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        parts += [data[position:start], replacement]
        length += start - position
        if replacement:
            at = length + len(indent)
        length += len(replacement)
        position = end
    parts.append(data[position:])
    return b"".join(parts), at
