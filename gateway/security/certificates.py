"""Certificate trust: trust domains of CA certificates, chain checks, revocation, expiry warnings.

Decision 28/2018 asks the receiving side to check who signed a document. A signer's certificate
is checked against a *trust domain*: the CA certificates ("anchors") of one PKI, such as the
Government CA of Ban Cơ yếu Chính phủ ("vn-gov"), plus how revocation is checked there.

Why the path is validated here and not with ``cryptography.x509.verification``: its
``PolicyBuilder`` applies a Web PKI profile meant for TLS. With ``ExtensionPolicy.permit_all()``
(cryptography ≥ 45) it accepts a signing certificate without subjectAltName, but it still refuses
any certificate carrying a *critical* certificatePolicies extension ("unaccounted-for critical
extensions"; ``may_be_present(CertificatePolicies, ...)`` raises "Unsupported extension OID"),
which government and qualified-signature PKIs do issue; it reports every failure as one opaque
string where a clerk needs "expired on …" or "issuer is not a CA"; and its documentation marks
the API unstable. So the RFC 5280 checks this gateway relies on are written out below, and
anything they do not implement (name constraints, required explicit policies, unknown critical
extensions) makes the certificate fail rather than pass unchecked. Certificates signed with
SHA-1 fail too: ``cryptography`` will not verify those signatures, and neither should we.

Revocation is asked of an OCSP responder first (small, current answers), then of CRLs (from the
certificate's distribution points, or the domain's override list, e.g. a mirror reachable on the
specialised government network). Answers are cached per (issuer key, serial) and CRLs per URL,
in memory, for ``cache_seconds``. Revocation is checked at the current time whatever ``at`` says:
a revoked certificate is never accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import itertools
import math
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID

from gateway.config import RevocationMode
from gateway.errors import CertificateError, UnknownTrustDomain

RevocationStatus = Literal["good", "revoked", "unknown", "not-checked"]
RevocationSource = Literal["crl", "ocsp", "cache"]
CertificateSource = str | os.PathLike[str] | bytes

MAX_CHAIN_LENGTH = 8
"""Certificates in a path, leaf and anchor included (real government chains have 2 or 3)."""
MAX_SIGNATURE_CHECKS = 64
"""Signature checks per path search, so a sender cannot make us try every combination of many
look-alike intermediates."""
MIN_RSA_BITS = 2048
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Tolerance for revocation answers dated slightly in the future by a responder's clock."""
OCSP_MAX_AGE = dt.timedelta(hours=1)
"""An OCSP answer without nextUpdate must be this recent (it claims to be always current)."""
FAILURE_RETRY_SECONDS = 60
"""A failed revocation lookup is remembered this long (at most ``cache_seconds``), so an
unreachable CRL server costs one timeout a minute, not one per message."""
CRL_MAX_BYTES = 64 << 20
OCSP_MAX_BYTES = 1 << 20
_CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_CERTIFICATE_OID_NAMES = {
    ExtensionOID.NAME_CONSTRAINTS: "nameConstraints",
    ExtensionOID.POLICY_CONSTRAINTS: "policyConstraints",
}
_PROCESSED_CRITICAL = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        # A signer's purpose is judged by keyUsage (digitalSignature or nonRepudiation): no
        # extendedKeyUsage value means "signs edXML documents", so none is required or refused.
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        # No explicit policy is ever required (policyConstraints requiring one is refused
        # below), so RFC 5280 §6.1 policy processing cannot fail a path: honouring these
        # extensions, critical or not, means accepting them.
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
)


def load_certificates(*sources: CertificateSource) -> tuple[x509.Certificate, ...]:
    """Certificates from PEM or DER files, directories of them, or PEM/DER bytes, deduplicated.

    A directory contributes its ``*.pem``, ``*.crt``, ``*.cer`` and ``*.der`` files (not
    subdirectories), so CA bundles can be dropped in as the CAs publish them (often DER ``.cer``).
    """
    found: dict[str, x509.Certificate] = {}
    for source in sources:
        if isinstance(source, bytes):
            certs = _parse_certificates(source, "certificate bytes")
        else:
            path = Path(source)
            files = (
                sorted(p for p in path.iterdir() if p.suffix.lower() in _CERTIFICATE_SUFFIXES)
                if path.is_dir()
                else [path]
            )
            certs = []
            for file in files:
                try:
                    data = file.read_bytes()
                except OSError as exc:
                    raise CertificateError("N.Security.Certificate", f"{file}: {exc}") from exc
                certs.extend(_parse_certificates(data, str(file)))
        for cert in certs:
            found.setdefault(_fingerprint(cert), cert)
    return tuple(found.values())


@dataclass(frozen=True, slots=True)
class TrustDomain:
    """One PKI the gateway trusts for some senders, and how to check revocation in it."""

    name: str
    """Short name used in configuration and results, e.g. ``vn-gov`` or ``test``."""
    anchors: tuple[x509.Certificate, ...]
    """Trusted CA certificates (usually roots). Only their name, key and validity are used."""
    revocation: RevocationMode = RevocationMode.SOFT_FAIL
    """``hard-fail``: a certificate whose revocation status cannot be learned is refused.
    ``soft-fail`` (default): it passes with status "unknown" and a warning in ``reason``; a
    revoked certificate is refused either way. Soft by default because the specialised network
    often cannot reach a CA's CRL or OCSP host, and signatures are recorded as evidence rather
    than used as gatekeepers; choose hard-fail where the revocation service is reliably reachable.
    ``off`` skips revocation (test domains only)."""
    crl_urls_override: tuple[str, ...] = ()
    """CRL URLs used instead of the certificates' distribution points (e.g. a mirror on the
    specialised network). Each CRL is used for the certificates of the CA that signed it."""
    ocsp: bool = True
    """Ask the OCSP responder named in a certificate before falling back to CRLs."""
    cache_seconds: int = 3600
    """How long revocation answers and downloaded CRLs are reused (never past their own
    nextUpdate); 0 disables caching."""
    timeout_seconds: float = 10.0
    """Deadline for one OCSP or CRL request, connection and download together (about)."""
    proxy: str | None = None
    """HTTP proxy URL for OCSP and CRL requests (``http://host:port``). ``http_proxy`` and
    friends in the environment are ignored, so the configuration alone decides (``no_proxy``
    still exempts the hosts it lists, as urllib does)."""
    expiry_warning_days: int = 30
    """:func:`expiring` reports this domain's anchors this many days before they expire."""
    intermediates: tuple[x509.Certificate, ...] = ()
    """Untrusted CA certificates offered for path building: senders' XML signatures often carry
    only their own certificate, not the issuing CA's."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a trust domain needs a name")
        if not self.anchors:
            raise ValueError(f"trust domain {self.name!r} has no anchor certificates")
        if self.revocation not in {mode.value for mode in RevocationMode}:
            raise ValueError(
                f"trust domain {self.name!r}: revocation must be off, soft-fail or hard-fail"
            )
        if self.cache_seconds < 0 or self.expiry_warning_days < 0:
            raise ValueError(f"trust domain {self.name!r}: negative cache or warning period")
        if not self.timeout_seconds > 0:
            raise ValueError(f"trust domain {self.name!r}: timeout_seconds must be positive")
        for url in (*self.crl_urls_override, *((self.proxy,) if self.proxy else ())):
            if not _is_http(url):
                raise ValueError(f"trust domain {self.name!r}: {url!r} is not an http(s) URL")


class TrustStore:
    """The configured trust domains by name, and the gateway's own certificates (watched for
    expiry). Immutable once built, so request threads share it without locks."""

    def __init__(
        self,
        domains: Iterable[TrustDomain],
        *,
        own_certificates: Iterable[x509.Certificate] = (),
        own_expiry_warning_days: int = 30,
    ) -> None:
        by_name: dict[str, TrustDomain] = {}
        for domain in domains:
            if domain.name in by_name:
                raise ValueError(f"trust domain {domain.name!r} is defined twice")
            by_name[domain.name] = domain
        self._domains = by_name
        self.own_certificates = tuple(own_certificates)
        self.own_expiry_warning_days = own_expiry_warning_days

    @property
    def domains(self) -> Mapping[str, TrustDomain]:
        return MappingProxyType(self._domains)

    def domain(self, name: str) -> TrustDomain:
        try:
            return self._domains[name]
        except KeyError:
            raise UnknownTrustDomain(
                "R.Security.TrustDomain", f"no trust domain named {name!r} is configured"
            ) from None


@dataclass(frozen=True, slots=True)
class CertificateCheck:
    """The outcome of :func:`check_certificate`, worth recording next to a signature result."""

    ok: bool
    reason: str
    """``valid``, a warning (soft-fail revocation), or why the certificate is refused."""
    subject: str
    issuer: str
    serial: str
    """Serial number in upper-case hex, as CA portals show it."""
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    chain: tuple[str, ...]
    """Subjects from the certificate to the anchor; empty when no valid path was found."""
    revocation: RevocationStatus
    revocation_source: RevocationSource | None
    """Where the deciding revocation answer came from; None when nothing answered."""


@dataclass(frozen=True, slots=True)
class ExpiryWarning:
    """A configured certificate that expires within the warning period (or has expired)."""

    subject: str
    fingerprint_sha256: str
    not_after: dt.datetime
    days_left: int
    """Whole days until expiry, negative once expired."""
    role: str
    """Why it is watched: ``anchor of vn-gov``, ``gateway certificate``, ..."""

    @property
    def expired(self) -> bool:
        return self.days_left < 0


K = TypeVar("K")
V = TypeVar("V")


class _Entries(Generic[K, V]):
    """A bounded map whose entries carry when they were learned and when they stop being true."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: dict[K, tuple[dt.datetime, dt.datetime, V]] = {}

    def get(self, key: K, now: dt.datetime, max_age_seconds: int) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        learned, expires, value = item
        if now >= expires or now >= learned + dt.timedelta(seconds=max_age_seconds):
            return None
        return value

    def put(self, key: K, learned: dt.datetime, expires: dt.datetime, value: V) -> None:
        if expires <= learned:
            return
        self._items.pop(key, None)
        if len(self._items) >= self._max:
            for stale in [k for k, (_, end, _) in self._items.items() if end <= learned]:
                del self._items[stale]
            while len(self._items) >= self._max:
                del self._items[next(iter(self._items))]
        self._items[key] = (learned, expires, value)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: Literal["good", "revoked", "unknown"]
    source: RevocationSource | None
    detail: str


class RevocationCache:
    """Revocation answers per (issuer key, serial) and CRLs per URL, shared by threads.

    Two threads asking about the same certificate at once may both go to the network; the
    later answer wins, which is harmless.
    """

    def __init__(self, max_answers: int = 10_000, max_crls: int = 64) -> None:
        self._lock = threading.Lock()
        self._limits = (max_answers, max_crls)
        self._answers: _Entries[tuple[bytes, int], _Answer] = _Entries(max_answers)
        self._crls: _Entries[str, x509.CertificateRevocationList] = _Entries(max_crls)

    def clear(self) -> None:
        """Forget everything, e.g. after an operator learns of a revocation out of band."""
        with self._lock:
            self._answers = _Entries(self._limits[0])
            self._crls = _Entries(self._limits[1])

    def _answer(self, key: tuple[bytes, int], now: dt.datetime, age: int) -> _Answer | None:
        with self._lock:
            return self._answers.get(key, now, age)

    def _remember(
        self, key: tuple[bytes, int], now: dt.datetime, expires: dt.datetime, answer: _Answer
    ) -> None:
        with self._lock:
            self._answers.put(key, now, expires, answer)

    def _crl(self, url: str, now: dt.datetime, age: int) -> x509.CertificateRevocationList | None:
        with self._lock:
            return self._crls.get(url, now, age)

    def _remember_crl(
        self, url: str, now: dt.datetime, crl: x509.CertificateRevocationList
    ) -> None:
        expires = crl.next_update_utc or dt.datetime.max.replace(tzinfo=dt.UTC)
        with self._lock:
            self._crls.put(url, now, expires, crl)


_SHARED_CACHE = RevocationCache()


def check_certificate(
    der_or_pem: bytes | x509.Certificate,
    domain: TrustDomain,
    *,
    at: dt.datetime | None = None,
    intermediates: Iterable[bytes | x509.Certificate] = (),
    cache: RevocationCache | None = None,
) -> CertificateCheck:
    """Check a signer's certificate against a trust domain at ``at`` (default: now, UTC).

    A certificate that fails a check gives ``ok=False`` with the reason; bytes that are not a
    certificate raise :class:`CertificateError`. ``intermediates`` are untrusted CA certificates
    (e.g. from the signature's KeyInfo) added to the domain's own for path building. Revocation
    uses the process-wide cache unless ``cache`` is given.
    """
    leaf = _as_certificate(der_or_pem, "certificate")
    when = _utc(at)
    pool = [*domain.intermediates, *(_as_certificate(c, "intermediate") for c in intermediates)]
    try:
        path = _find_path(leaf, pool, domain.anchors, when)
    except _PathError as exc:
        return _result(leaf, False, str(exc), (), "not-checked", None)
    chain = tuple(_name(cert) for cert in path)
    if domain.revocation == RevocationMode.OFF:
        return _result(leaf, True, "valid (revocation not checked)", chain, "not-checked", None)
    if len(path) == 1:
        return _result(leaf, True, "valid (trusted directly)", chain, "not-checked", None)
    answer = _revocation_of(path, domain, _SHARED_CACHE if cache is None else cache)
    if answer.status == "revoked":
        return _result(leaf, False, answer.detail, chain, "revoked", answer.source)
    if answer.status == "unknown":
        if domain.revocation == RevocationMode.HARD_FAIL:
            reason = f"revocation status unknown (hard-fail): {answer.detail}"
            return _result(leaf, False, reason, chain, "unknown", answer.source)
        reason = f"valid, but revocation status unknown (soft-fail): {answer.detail}"
        return _result(leaf, True, reason, chain, "unknown", answer.source)
    return _result(leaf, True, "valid", chain, "good", answer.source)


def expiring(
    store: TrustStore, days: int | None = None, *, at: dt.datetime | None = None
) -> list[ExpiryWarning]:
    """Configured certificates that expire within ``days`` (or have expired), soonest first.

    Watches every domain's anchors and intermediates and the gateway's own certificates. With
    ``days=None`` each domain uses its ``expiry_warning_days`` and the gateway's certificates
    ``store.own_expiry_warning_days``. A certificate configured twice is reported once.
    """
    now = _utc(at)
    watched: dict[str, tuple[x509.Certificate, list[str], list[int]]] = {}

    def watch(cert: x509.Certificate, role: str, window: int) -> None:
        _, roles, windows = watched.setdefault(_fingerprint(cert), (cert, [], []))
        roles.append(role)
        windows.append(window)

    for domain in store.domains.values():
        window = domain.expiry_warning_days if days is None else days
        for cert in domain.anchors:
            watch(cert, f"anchor of {domain.name}", window)
        for cert in domain.intermediates:
            watch(cert, f"intermediate of {domain.name}", window)
    for cert in store.own_certificates:
        watch(cert, "gateway certificate", store.own_expiry_warning_days if days is None else days)

    warnings = []
    for fingerprint, (cert, roles, windows) in watched.items():
        left = cert.not_valid_after_utc - now
        if left <= dt.timedelta(days=max(windows)):
            warnings.append(
                ExpiryWarning(
                    subject=_name(cert),
                    fingerprint_sha256=fingerprint,
                    not_after=cert.not_valid_after_utc,
                    days_left=math.floor(left / dt.timedelta(days=1)),
                    role=", ".join(roles),
                )
            )
    return sorted(warnings, key=lambda w: w.not_after)


# --- path validation -----------------------------------------------------------------------


class _PathError(Exception):
    """Why no acceptable path from the certificate to an anchor exists (a sentence)."""


def _find_path(
    leaf: x509.Certificate,
    pool: list[x509.Certificate],
    anchors: tuple[x509.Certificate, ...],
    at: dt.datetime,
) -> list[x509.Certificate]:
    """A validated path ``[leaf, ..., anchor]``, searched depth first over candidate issuers.

    When every path fails, the most telling reason is raised: a path that reached an anchor
    but broke a rule (2), else a signature that did not verify (1), else a missing issuer (0).
    """
    anchor_prints = {_fingerprint(a) for a in anchors}
    if _fingerprint(leaf) in anchor_prints:
        problem = _path_problem([leaf], at)
        if problem is not None:
            raise _PathError(problem)
        return [leaf]
    candidates = list(anchors) + [c for c in pool if _fingerprint(c) not in anchor_prints]
    failures: dict[int, str] = {}
    budget = MAX_SIGNATURE_CHECKS

    def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        nonlocal budget
        tail = path[-1]
        if len(path) >= MAX_CHAIN_LENGTH:
            failures.setdefault(1, f"no trust anchor within {MAX_CHAIN_LENGTH} certificates")
            return None
        on_path = {_fingerprint(c) for c in path}
        issuers = [
            c for c in candidates if c.subject == tail.issuer and _fingerprint(c) not in on_path
        ]
        if not issuers:
            failures.setdefault(
                0,
                f"issuer {tail.issuer.rfc4514_string()} of {_name(tail)} is neither a trust "
                "anchor nor a known intermediate of this trust domain",
            )
        for issuer in issuers:
            if budget <= 0:
                failures.setdefault(1, "too many candidate issuers to try")
                return None
            budget -= 1
            try:
                tail.verify_directly_issued_by(issuer)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as exc:
                failures.setdefault(
                    1, f"signature of {_name(tail)} does not verify with {_name(issuer)}: {exc}"
                )
                continue
            if _fingerprint(issuer) in anchor_prints:
                complete = [*path, issuer]
                problem = _path_problem(complete, at)
                if problem is None:
                    return complete
                failures.setdefault(2, problem)
            else:
                found = extend([*path, issuer])
                if found is not None:
                    return found
        return None

    found = extend([leaf])
    if found is None:  # every dead end above recorded why
        raise _PathError(failures[max(failures)])
    return found


def _path_problem(path: list[x509.Certificate], at: dt.datetime) -> str | None:
    """The first RFC 5280 rule a complete path breaks at ``at``, or None.

    Anchors are trusted by configuration (RFC 5280 §6.1.1 d): only their validity is checked.
    """
    for index, cert in enumerate(path):
        role = "certificate" if index == 0 else "issuer"
        if at < cert.not_valid_before_utc:
            return f"{role} {_name(cert)} is not valid before {_iso(cert.not_valid_before_utc)}"
        if at > cert.not_valid_after_utc:
            return f"{role} {_name(cert)} expired at {_iso(cert.not_valid_after_utc)}"
        if index == len(path) - 1:
            break
        problem = _profile_problem(cert, role)
        if problem is None:
            problem = _leaf_problem(cert) if index == 0 else _issuer_problem(path, index)
        if problem is not None:
            return problem
    return None


def _profile_problem(cert: x509.Certificate, role: str) -> str | None:
    """Key strength and extensions this gateway cannot honour, for any non-anchor certificate."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"{role} {_name(cert)} has a {key.key_size}-bit RSA key (minimum {MIN_RSA_BITS})"
    try:
        extensions = list(cert.extensions)
    except ValueError as exc:
        return f"{role} {_name(cert)} has a malformed extension: {exc}"
    for ext in extensions:
        value = ext.value
        refused = ext.oid == ExtensionOID.NAME_CONSTRAINTS or (
            isinstance(value, x509.PolicyConstraints) and value.require_explicit_policy is not None
        )
        if refused or (ext.critical and ext.oid not in _PROCESSED_CRITICAL):
            label = _CERTIFICATE_OID_NAMES.get(ext.oid, ext.oid.dotted_string)
            return f"{role} {_name(cert)} has a {label} extension this gateway does not process"
    return None


def _leaf_problem(cert: x509.Certificate) -> str | None:
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        return (
            f"certificate {_name(cert)} is not for signing "
            "(keyUsage has neither digitalSignature nor nonRepudiation)"
        )
    return None


def _issuer_problem(path: list[x509.Certificate], index: int) -> str | None:
    issuer = path[index]
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return f"issuer {_name(issuer)} is not a CA (basicConstraints cA is not set)"
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return f"issuer {_name(issuer)} may not sign certificates (keyUsage lacks keyCertSign)"
    below = sum(1 for c in path[1:index] if c.subject != c.issuer)
    if constraints.path_length is not None and below > constraints.path_length:
        return f"issuer {_name(issuer)} allows {constraints.path_length} CAs below it, not {below}"
    return None


# --- revocation ----------------------------------------------------------------------------


class _Unavailable(Exception):
    """A revocation source could not give a usable answer (a sentence)."""


_LOOKUP_FAILURES = (
    _Unavailable,
    OSError,  # urllib.error.URLError and HTTPError, timeouts, refused connections
    http.client.HTTPException,
    ValueError,  # unparsable CRL or OCSP response
    TypeError,  # key type a signature check does not support
    InvalidSignature,
    UnsupportedAlgorithm,
)


def _revocation_of(
    path: list[x509.Certificate], domain: TrustDomain, cache: RevocationCache
) -> _Answer:
    """Revocation of every non-anchor certificate in the path, summed up.

    Revoked anywhere wins (a revoked intermediate voids what it issued), then unknown, then good.
    """
    unknown: list[_Answer] = []
    first: _Answer | None = None
    for cert, issuer in itertools.pairwise(path):
        answer = _revocation(cert, issuer, domain, cache)
        if answer.status == "revoked":
            return answer
        if answer.status == "unknown":
            unknown.append(answer)
        first = first or answer
    if unknown:
        detail = "; ".join(a.detail for a in unknown)
        return _Answer("unknown", unknown[0].source, detail)
    assert first is not None  # the path has at least one non-anchor certificate
    return first


def _revocation(
    cert: x509.Certificate, issuer: x509.Certificate, domain: TrustDomain, cache: RevocationCache
) -> _Answer:
    now = dt.datetime.now(dt.UTC)
    key = (_key_hash(issuer), cert.serial_number)
    cached = cache._answer(key, now, domain.cache_seconds)
    if cached is not None:
        return replace(cached, source="cache")
    problems: list[str] = []
    until = now + dt.timedelta(seconds=domain.cache_seconds)
    if domain.ocsp:
        for url in _ocsp_urls(cert):
            try:
                found = _ask_ocsp(url, cert, issuer, domain, now)
            except _LOOKUP_FAILURES as exc:
                problems.append(f"OCSP {url}: {exc}")
                continue
            if found is None:
                problems.append(f"OCSP {url}: the responder does not know {_name(cert)}")
                continue
            answer, expires = found
            cache._remember(key, now, min(until, expires), answer)
            return answer
    for url in domain.crl_urls_override or _crl_urls(cert):
        try:
            found = _ask_crl(url, cert, issuer, domain, cache, now)
        except _LOOKUP_FAILURES as exc:
            problems.append(f"CRL {url}: {exc}")
            continue
        if found is None:
            problems.append(f"CRL {url}: not issued by {_name(issuer)}")
            continue
        answer, expires = found
        cache._remember(key, now, min(until, expires), answer)
        return answer
    detail = "; ".join(problems) or f"{_name(cert)} names no OCSP responder or CRL"
    failure = _Answer("unknown", None, f"no answer for {_name(cert)}: {detail}")
    retry = min(FAILURE_RETRY_SECONDS, domain.cache_seconds)
    cache._remember(key, now, now + dt.timedelta(seconds=retry), failure)
    return failure


def _ask_ocsp(
    url: str,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    domain: TrustDomain,
    now: dt.datetime,
) -> tuple[_Answer, dt.datetime] | None:
    """The responder's signed answer about ``cert``, or None if it says "unknown".

    The request identifies the certificate by SHA-1 hashes, which is what responders support
    (RFC 5019); the hash only names the certificate, the response's signature is what counts.
    """
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    raw = _http(url, domain, request.public_bytes(Encoding.DER), OCSP_MAX_BYTES)
    response = ocsp.load_der_ocsp_response(raw)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise _Unavailable(f"the responder answered {response.response_status.name}")
    signer = _ocsp_signer(response, issuer, now)
    _verify_signature(
        signer.public_key(),
        response.signature,
        response.tbs_response_bytes,
        response.signature_hash_algorithm,
    )
    single = next(
        (
            s
            for s in response.responses
            if s.serial_number == cert.serial_number
            and s.hash_algorithm.name == request.hash_algorithm.name
            and s.issuer_key_hash == request.issuer_key_hash
            and s.issuer_name_hash == request.issuer_name_hash
        ),
        None,
    )
    if single is None:
        raise _Unavailable("the response is about other certificates")
    if single.this_update_utc > now + CLOCK_SKEW:
        raise _Unavailable(f"the response is dated in the future ({_iso(single.this_update_utc)})")
    expires = single.next_update_utc or single.this_update_utc + OCSP_MAX_AGE
    if expires < now:
        raise _Unavailable(f"the response is stale (valid until {_iso(expires)})")
    if single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        return None
    if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        when = single.revocation_time_utc or single.this_update_utc
        return _revoked(cert, when, single.revocation_reason, "ocsp"), expires
    return _Answer("good", "ocsp", f"{_name(cert)} is good per OCSP {url}"), expires


def _ocsp_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime
) -> x509.Certificate:
    """The issuer itself, or a responder it delegated to (RFC 6960 §4.2.2.2), that signed."""
    if _is_responder(response, issuer):
        return issuer
    for candidate in response.certificates:
        if not _is_responder(response, candidate):
            continue
        candidate.verify_directly_issued_by(issuer)
        usage = _extension(candidate, x509.ExtendedKeyUsage)
        if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            raise _Unavailable(f"responder {_name(candidate)} is not authorised to sign OCSP")
        if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            raise _Unavailable(f"responder certificate {_name(candidate)} is not valid now")
        return candidate
    raise _Unavailable(f"the response is not signed by {_name(issuer)} or its delegate")


def _is_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    # byKey: SHA-1 of the subjectPublicKey bits, the same hash as a method-1 key identifier
    key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return response.responder_key_hash == key_id


def _verify_signature(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> None:
    """Raise unless ``signature`` over ``data`` verifies (RSA PKCS#1 v1.5, ECDSA, EdDSA)."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    elif algorithm is None:
        raise _Unavailable("the response names no signature hash")
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise _Unavailable(f"unsupported responder key type {type(key).__name__}")


def _ask_crl(
    url: str,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    domain: TrustDomain,
    cache: RevocationCache,
    now: dt.datetime,
) -> tuple[_Answer, dt.datetime] | None:
    """What the CRL at ``url`` says about ``cert``, or None if another CA issued that CRL."""
    crl = cache._crl(url, now, domain.cache_seconds)
    if crl is None:
        raw = _http(url, domain, None, CRL_MAX_BYTES)
        if raw.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(raw)
        else:
            crl = x509.load_der_x509_crl(raw)
        cache._remember_crl(url, now, crl)
    if crl.issuer != issuer.subject:
        return None
    problem = _crl_problem(crl, cert, issuer, now)
    if problem is not None:
        raise _Unavailable(problem)
    expires = crl.next_update_utc or now + dt.timedelta(seconds=domain.cache_seconds)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is not None:
        why = _extension(entry, x509.CRLReason)
        reason = why.reason if why is not None else None
        return _revoked(cert, entry.revocation_date_utc, reason, "crl"), expires
    return _Answer("good", "crl", f"{_name(cert)} is not on the CRL at {url}"), expires


def _crl_problem(
    crl: x509.CertificateRevocationList,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    now: dt.datetime,
) -> str | None:
    """Why this CRL of the right issuer cannot vouch for ``cert`` now, or None."""
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        return f"the CRL's signature does not verify with {_name(issuer)}"
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        return f"{_name(issuer)} may not sign CRLs (keyUsage lacks cRLSign)"
    if crl.last_update_utc > now + CLOCK_SKEW:
        return f"the CRL is dated in the future ({_iso(crl.last_update_utc)})"
    if crl.next_update_utc is not None and crl.next_update_utc < now:
        return f"the CRL is stale (nextUpdate {_iso(crl.next_update_utc)})"
    for ext in crl.extensions:
        if ext.critical and ext.oid != ExtensionOID.ISSUING_DISTRIBUTION_POINT:
            # deltaCRLIndicator among others: a delta CRL alone does not list every revocation
            return f"the CRL has a critical {ext.oid.dotted_string} extension not processed here"
    scope = _extension(crl, x509.IssuingDistributionPoint)
    if scope is None:
        return None
    if scope.indirect_crl or scope.only_some_reasons or scope.only_contains_attribute_certs:
        return "the CRL is indirect or partial (by reason); such CRLs are not used"
    constraints = _extension(cert, x509.BasicConstraints)
    is_ca = constraints is not None and constraints.ca
    if (scope.only_contains_user_certs and is_ca) or (scope.only_contains_ca_certs and not is_ca):
        return "the CRL does not cover this kind of certificate"
    if scope.full_name:
        points = _extension(cert, x509.CRLDistributionPoints)
        names = {name for point in points or () for name in point.full_name or ()}
        if not names.intersection(scope.full_name):
            return "the CRL covers a partition this certificate does not belong to"
    return None


def _revoked(
    cert: x509.Certificate,
    when: dt.datetime,
    reason: x509.ReasonFlags | None,
    source: RevocationSource,
) -> _Answer:
    why = f" ({reason.name})" if reason is not None else ""
    label = "CRL" if source == "crl" else "OCSP"
    return _Answer("revoked", source, f"{_name(cert)} was revoked at {_iso(when)}{why} per {label}")


def _http(url: str, domain: TrustDomain, body: bytes | None, limit: int) -> bytes:
    """GET ``url`` (or POST an OCSP request) through the domain's proxy, within its deadline.

    Only http and https are fetched, redirects included: URLs come from certificates, and
    ``file:`` or ``ftp:`` locations must not be opened on their say-so.
    """
    if not _is_http(url):
        raise _Unavailable("only http and https locations are fetched")
    proxies = {"http": domain.proxy, "https": domain.proxy} if domain.proxy else {}
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(proxies),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    headers = {"User-Agent": "edoc-gateway"}
    if body is not None:
        headers["Content-Type"] = "application/ocsp-request"
    request = urllib.request.Request(url, data=body, headers=headers)
    deadline = time.monotonic() + domain.timeout_seconds
    chunks: list[bytes] = []
    size = 0
    with opener.open(request, timeout=domain.timeout_seconds) as response:
        while chunk := response.read(1 << 16):
            size += len(chunk)
            if size > limit:
                raise _Unavailable(f"the answer is larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise _Unavailable(f"no complete answer within {domain.timeout_seconds} s")
            chunks.append(chunk)
    return b"".join(chunks)


# --- small helpers -------------------------------------------------------------------------


E = TypeVar("E", bound=x509.ExtensionType)


def _extension(
    holder: x509.Certificate | x509.CertificateRevocationList | x509.RevokedCertificate,
    kind: type[E],
) -> E | None:
    try:
        return holder.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _ocsp_urls(cert: x509.Certificate) -> list[str]:
    access = _extension(cert, x509.AuthorityInformationAccess)
    return [
        d.access_location.value
        for d in access or ()
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and _is_http(d.access_location.value)
    ]


def _crl_urls(cert: x509.Certificate) -> list[str]:
    points = _extension(cert, x509.CRLDistributionPoints)
    return [
        name.value
        for point in points or ()
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier) and _is_http(name.value)
    ]


def _is_http(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _parse_certificates(data: bytes, origin: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertificateError("M.Security.Certificate", f"{origin}: not a certificate") from exc


def _as_certificate(value: bytes | x509.Certificate, what: str) -> x509.Certificate:
    if isinstance(value, x509.Certificate):
        return value
    return _parse_certificates(value, what)[0]


def _result(
    leaf: x509.Certificate,
    ok: bool,
    reason: str,
    chain: tuple[str, ...],
    revocation: RevocationStatus,
    source: RevocationSource | None,
) -> CertificateCheck:
    return CertificateCheck(
        ok=ok,
        reason=reason,
        subject=_name(leaf),
        issuer=leaf.issuer.rfc4514_string(),
        serial=format(leaf.serial_number, "X"),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint_sha256=_fingerprint(leaf),
        chain=chain,
        revocation=revocation,
        revocation_source=source,
    )


def _utc(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise ValueError("'at' must be timezone-aware")
    return at.astimezone(dt.UTC)


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _key_hash(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
