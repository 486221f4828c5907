"""Certificate trust: chains, revocation by CRL and OCSP against a real server, expiry warnings.

Every certificate, CRL and OCSP response is generated here. The CRL and OCSP server is a real
``http.server`` on 127.0.0.1 (ephemeral port); it counts the requests it serves, so the tests
can show what was asked over the network and what came from the cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from gateway.security.certificates import (
    CertificateError,
    RevocationCache,
    TrustDomain,
    TrustStore,
    UnknownTrustDomain,
    check_certificate,
    expiring,
    load_certificates,
)

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
SLOW_SECONDS = 1.5

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ban Cơ yếu Chính phủ (thử nghiệm)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _issue(
    common_name: str,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    *,
    ca: bool = False,
    path_length: int | None = None,
    valid: tuple[dt.timedelta, dt.timedelta] = (-30 * DAY, 365 * DAY),
    usage: str = "sign",
    crl: str | None = None,
    ocsp_url: str | None = None,
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> x509.Certificate:
    """A certificate shaped like a government one: no subjectAltName on signing certificates."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + valid[0])
        .not_valid_after(NOW + valid[1])
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if ca:
        flags.update(key_cert_sign=True, crl_sign=True)
    elif usage == "sign":
        flags.update(digital_signature=True, content_commitment=True)
    else:
        flags.update(key_encipherment=True)
    builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if crl:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if ocsp_url:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(
    issuer: x509.Certificate,
    key: PrivateKey,
    revoked: dict[int, x509.ReasonFlags] | None = None,
    *,
    next_update: dt.datetime | None = None,
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - DAY)
        .next_update(next_update or NOW + 7 * DAY)
    )
    for serial, reason in (revoked or {}).items():
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - 2 * DAY)
            .add_extension(x509.CRLReason(reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass
class Responder:
    """What the local server knows: CRL bodies by path, and how the OCSP responder answers."""

    base: str
    crls: dict[str, bytes] = field(default_factory=dict)
    issued: dict[int, x509.Certificate] = field(default_factory=dict)
    revoked: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    issuer: x509.Certificate | None = None
    signer: tuple[x509.Certificate, PrivateKey, list[x509.Certificate]] | None = None
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.hits[what] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.hits.values())

    def ocsp_answer(self, body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        assert self.issuer is not None and self.signer is not None
        cert = self.issued.get(request.serial_number)
        if cert is None:  # a certificate this responder does not serve
            unsuccessful = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            )
            return unsuccessful.public_bytes(Encoding.DER)
        revoked = request.serial_number in self.revoked
        status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        if request.serial_number in self.unknown:
            status = ocsp.OCSPCertStatus.UNKNOWN
        signer_cert, signer_key, extra = self.signer
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert,
                issuer=self.issuer,
                algorithm=hashes.SHA1(),
                cert_status=status,
                this_update=NOW - dt.timedelta(minutes=1),
                next_update=NOW + DAY,
                revocation_time=NOW - 2 * DAY if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        )
        if extra:
            builder = builder.certificates(extra)
        return builder.sign(signer_key, hashes.SHA256()).public_bytes(Encoding.DER)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        responder = self.server.responder
        path = self._path()
        responder.count(path)
        if path == "/slow":  # answers nothing, later than any client waits
            time.sleep(SLOW_SECONDS)
            return
        if path == "/error":
            self.send_error(500)
            return
        body = responder.crls.get(path)
        if body is None:
            self.send_error(404)
            return
        self._reply(body, "application/pkix-crl")

    def do_POST(self) -> None:
        responder = self.server.responder
        path = self._path()
        responder.count(path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(responder.ocsp_answer(body), "application/ocsp-response")

    def _path(self) -> str:
        if self.path.startswith("http://"):  # absolute form: we are being used as a proxy
            self.server.responder.count("via-proxy")
        return urlsplit(self.path).path

    def _reply(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    responder: Responder


@dataclass(frozen=True)
class PKI:
    root: x509.Certificate
    root_key: PrivateKey
    inter: x509.Certificate
    inter_key: PrivateKey
    leaves: dict[str, x509.Certificate]


@pytest.fixture(scope="module")
def server() -> Iterator[Responder]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.responder = Responder(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.responder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.crl"


@pytest.fixture(scope="module")
def pki(server: Responder, dead_url: str) -> PKI:
    """Root (EC) → intermediate (RSA, signs OCSP itself) → leaves, one per situation."""
    root_key = _ec_key()
    root = _issue("Root CA G1", root_key, None, root_key, ca=True, valid=(-3650 * DAY, 3650 * DAY))
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = _issue(
        "Issuing CA G1",
        inter_key,
        root,
        root_key,
        ca=True,
        valid=(-1000 * DAY, 1000 * DAY),
        crl=f"{server.base}/root.crl",
    )
    crl, ocsp_url = f"{server.base}/inter.crl", f"{server.base}/ocsp"

    def leaf(common_name: str, **kwargs: Any) -> x509.Certificate:
        kwargs.setdefault("crl", crl)
        kwargs.setdefault("ocsp_url", ocsp_url)
        return _issue(common_name, _ec_key(), inter, inter_key, **kwargs)

    other_key = _ec_key()
    other_root = _issue("Other CA", other_key, None, other_key, ca=True)
    not_a_ca_key = _ec_key()
    not_a_ca = _issue("Clerk acting as CA", not_a_ca_key, inter, inter_key)
    policy = x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier("2.16.704.1"), None)]
    )
    private = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    tight_key, sub_key, constrained_key = _ec_key(), _ec_key(), _ec_key()
    tight = _issue("Tight CA", tight_key, root, root_key, ca=True, path_length=0)
    sub = _issue("Sub CA", sub_key, tight, tight_key, ca=True)
    only_gov = x509.NameConstraints([x509.DNSName("gov.vn")], None)
    constrained = _issue(
        "Constrained CA", constrained_key, inter, inter_key, ca=True, extra=((only_gov, True),)
    )
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaves = {
        "good": leaf("Nguyễn Văn A"),
        "revoked": leaf("Trần Thị B"),
        "expired": leaf("Lê Văn C", valid=(-400 * DAY, -10 * DAY)),
        "not-yet-valid": leaf("Phạm Văn D", valid=(10 * DAY, 400 * DAY)),
        "wrong-issuer": _issue("Hoàng Văn E", _ec_key(), other_root, other_key),
        "non-ca-issuer": _issue("Vũ Văn F", _ec_key(), not_a_ca, not_a_ca_key),
        "encipherment": leaf("Đặng Văn G", usage="encipher"),
        "critical-policies": leaf("Bùi Văn H", extra=((policy, True),)),
        "critical-private": leaf("Đỗ Văn I", extra=((private, True),)),
        "weak-key": _issue("Trịnh Văn P", weak_key, inter, inter_key),
        "too-deep": _issue("Cao Văn Q", _ec_key(), sub, sub_key),
        "name-constrained": _issue("Lâm Văn R", _ec_key(), constrained, constrained_key),
        "ocsp-down": leaf("Hồ Văn K", ocsp_url=dead_url),
        "no-pointers": leaf("Ngô Văn L", crl=None, ocsp_url=None),
        "not-known-to-ocsp": leaf("Dương Văn M"),
        "proxied": leaf("Lý Văn N", crl="http://crl.invalid/inter.crl", ocsp_url=None),
    }
    leaves.update({"non-ca": not_a_ca, "tight": tight, "sub": sub, "constrained": constrained})
    revoked = leaves["revoked"].serial_number
    server.crls["/inter.crl"] = _crl(inter, inter_key, {revoked: x509.ReasonFlags.key_compromise})
    server.crls["/root.crl"] = _crl(root, root_key)
    server.crls["/stale.crl"] = _crl(inter, inter_key, next_update=NOW - DAY)
    server.crls["/forged.crl"] = _crl(inter, _ec_key())
    server.issuer = inter
    server.issued = {c.serial_number: c for c in leaves.values()}
    server.issued.pop(leaves["ocsp-down"].serial_number)
    server.revoked = {revoked}
    server.unknown = {leaves["not-known-to-ocsp"].serial_number}
    return PKI(root, root_key, inter, inter_key, leaves)


@pytest.fixture(autouse=True)
def fresh_responder(request: pytest.FixtureRequest) -> None:
    """Each test starts with zero counted requests and the issuer signing OCSP answers."""
    if "pki" not in request.fixturenames:
        return
    ca: PKI = request.getfixturevalue("pki")
    server: Responder = request.getfixturevalue("server")
    server.signer = (ca.inter, ca.inter_key, [])
    with server.lock:
        server.hits.clear()


def _domain(ca: PKI, **kwargs: Any) -> TrustDomain:
    kwargs.setdefault("ocsp", False)
    return TrustDomain(name="test", anchors=(ca.root,), **kwargs)


def _check(ca: PKI, which: str, domain: TrustDomain, **kwargs: Any) -> Any:
    """Check a leaf as a sender's KeyInfo would carry it: DER bytes plus the issuing CA."""
    leaf = ca.leaves[which].public_bytes(Encoding.DER)
    kwargs.setdefault("intermediates", [ca.inter])
    kwargs.setdefault("cache", RevocationCache())
    return check_certificate(leaf, domain, **kwargs)


# --- chains ---------------------------------------------------------------------------------


def test_good_chain_via_crl(pki: PKI, server: Responder) -> None:
    leaf = pki.leaves["good"]
    result = _check(pki, "good", _domain(pki))
    assert (result.ok, result.reason) == (True, "valid")
    assert result.chain == tuple(c.subject.rfc4514_string() for c in (leaf, pki.inter, pki.root))
    assert result.subject == leaf.subject.rfc4514_string()
    assert result.issuer == pki.inter.subject.rfc4514_string()
    assert result.serial == format(leaf.serial_number, "X")
    assert result.fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert (result.not_before, result.not_after) == (
        leaf.not_valid_before_utc,
        leaf.not_valid_after_utc,
    )
    assert (result.revocation, result.revocation_source) == ("good", "crl")
    # the leaf against the issuing CA's CRL, the issuing CA against the root's
    assert server.hits == Counter({"/inter.crl": 1, "/root.crl": 1})


def test_good_chain_via_ocsp_and_pem_input(pki: PKI, server: Responder) -> None:
    pem = pki.leaves["good"].public_bytes(Encoding.PEM)
    domain = _domain(pki, ocsp=True, intermediates=(pki.inter,))
    result = check_certificate(pem, domain, cache=RevocationCache())
    assert result.ok and (result.revocation, result.revocation_source) == ("good", "ocsp")
    assert server.hits == Counter({"/ocsp": 1, "/root.crl": 1})


def test_critical_certificate_policies_are_accepted(pki: PKI) -> None:
    """The case x509.verification's PolicyBuilder refuses; government PKIs issue such leaves."""
    result = _check(pki, "critical-policies", _domain(pki))
    assert result.ok, result.reason


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("expired", "certificate CN=Lê Văn C,O=Ban Cơ yếu Chính phủ (thử nghiệm),C=VN expired at"),
        ("not-yet-valid", "is not valid before"),
        ("wrong-issuer", "is neither a trust anchor nor a known intermediate"),
        (
            "non-ca-issuer",
            "issuer CN=Clerk acting as CA,O=Ban Cơ yếu Chính phủ (thử nghiệm),C=VN is not a CA",
        ),
        ("encipherment", "is not for signing (keyUsage has neither"),
        ("critical-private", "has a 1.3.6.1.4.1.99999.1 extension this gateway does not process"),
        ("weak-key", "has a 1024-bit RSA key (minimum 2048)"),
        ("too-deep", "issuer CN=Tight CA,O=Ban Cơ yếu Chính phủ (thử nghiệm),C=VN allows 0 CAs"),
        ("name-constrained", "has a nameConstraints extension this gateway does not process"),
    ],
)
def test_chain_failures_say_why(pki: PKI, server: Responder, which: str, reason: str) -> None:
    pool = [pki.inter, *(pki.leaves[n] for n in ("non-ca", "tight", "sub", "constrained"))]
    result = _check(pki, which, _domain(pki), intermediates=pool)
    assert not result.ok
    assert reason in result.reason
    assert (result.revocation, result.revocation_source, result.chain) == ("not-checked", None, ())
    assert server.total() == 0  # nothing asked about a certificate already refused


def test_missing_intermediate_then_supplied_by_the_domain(pki: PKI) -> None:
    alone = _check(pki, "good", _domain(pki, revocation="off"), intermediates=[])
    assert not alone.ok and "CN=Issuing CA G1" in alone.reason
    domain = _domain(pki, revocation="off", intermediates=(pki.inter,))
    assert _check(pki, "good", domain, intermediates=[]).ok


def test_signature_by_a_look_alike_issuer_fails(pki: PKI) -> None:
    impostor_key = _ec_key()
    impostor = _issue("Issuing CA G1", impostor_key, pki.root, pki.root_key, ca=True)
    result = _check(pki, "good", _domain(pki, revocation="off"), intermediates=[impostor])
    assert not result.ok and "does not verify with" in result.reason
    both = _check(pki, "good", _domain(pki, revocation="off"), intermediates=[impostor, pki.inter])
    assert both.ok  # the genuine intermediate is still found among candidates


def test_at_moves_the_validity_window_but_must_be_aware(pki: PKI) -> None:
    domain = _domain(pki, revocation="off")
    then = NOW - 100 * DAY
    assert _check(pki, "expired", domain, at=then).reason == "valid (revocation not checked)"
    with pytest.raises(ValueError, match="timezone-aware"):
        _check(pki, "good", domain, at=dt.datetime(2025, 1, 1))


def test_anchor_itself_is_trusted_directly_while_valid(pki: PKI) -> None:
    result = check_certificate(pki.root, _domain(pki), cache=RevocationCache())
    assert result.ok and result.revocation == "not-checked"
    key = _ec_key()
    old = _issue("Old Root", key, None, key, ca=True, valid=(-400 * DAY, -DAY))
    stale = check_certificate(old, replace(_domain(pki), anchors=(old,)))
    assert not stale.ok and "expired at" in stale.reason


def test_garbage_is_an_error_not_a_result(pki: PKI) -> None:
    with pytest.raises(CertificateError, match="not a certificate"):
        check_certificate(b"\x30\x03garbage", _domain(pki))


# --- revocation -----------------------------------------------------------------------------


def test_revoked_via_crl(pki: PKI) -> None:
    result = _check(pki, "revoked", _domain(pki))
    assert not result.ok
    assert (result.revocation, result.revocation_source) == ("revoked", "crl")
    assert "was revoked at" in result.reason and "key_compromise" in result.reason


def test_revoked_via_ocsp(pki: PKI, server: Responder) -> None:
    result = _check(pki, "revoked", _domain(pki, ocsp=True))
    assert not result.ok
    assert (result.revocation, result.revocation_source) == ("revoked", "ocsp")
    assert server.hits == Counter({"/ocsp": 1})  # revoked leaf: the rest need not be asked


def test_delegated_ocsp_responder(pki: PKI, server: Responder) -> None:
    key = _ec_key()
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING])
    delegate = _issue("OCSP G1", key, pki.inter, pki.inter_key, extra=((eku, False),))
    server.signer = (delegate, key, [delegate])
    result = _check(pki, "revoked", _domain(pki, ocsp=True))
    assert (result.revocation, result.revocation_source) == ("revoked", "ocsp")


def test_forged_ocsp_answer_is_ignored_and_the_crl_decides(pki: PKI, server: Responder) -> None:
    server.signer = (pki.inter, _ec_key(), [])  # names the issuer, signed by another key
    result = _check(pki, "revoked", _domain(pki, ocsp=True))
    assert not result.ok and (result.revocation, result.revocation_source) == ("revoked", "crl")
    assert server.hits["/ocsp"] == 1 and server.hits["/inter.crl"] == 1


def test_ocsp_unknown_refusal_or_outage_falls_back_to_crl(pki: PKI, server: Responder) -> None:
    domain = _domain(pki, ocsp=True)
    unknown = _check(pki, "not-known-to-ocsp", domain)
    assert unknown.ok and unknown.revocation_source == "crl"
    down = _check(pki, "ocsp-down", domain)
    assert down.ok and down.revocation_source == "crl"
    refused = check_certificate(  # a responder that does not serve this certificate
        _issue(
            "Mai Văn O",
            _ec_key(),
            pki.inter,
            pki.inter_key,
            ocsp_url=f"{server.base}/ocsp",
            crl=f"{server.base}/inter.crl",
        ),
        domain,
        intermediates=[pki.inter],
        cache=RevocationCache(),
    )
    assert refused.ok and refused.revocation_source == "crl"


@pytest.mark.parametrize("mode", ["soft-fail", "hard-fail"])
def test_server_down(pki: PKI, dead_url: str, mode: str) -> None:
    domain = _domain(pki, revocation=mode, crl_urls_override=(dead_url,))
    result = _check(pki, "good", domain)
    assert (result.revocation, result.revocation_source) == ("unknown", None)
    assert dead_url in result.reason
    if mode == "soft-fail":
        assert result.ok and result.reason.startswith("valid, but revocation status unknown")
    else:
        assert not result.ok and result.reason.startswith("revocation status unknown (hard-fail)")


def test_soft_fail_never_lets_a_revoked_certificate_through(pki: PKI) -> None:
    assert _domain(pki).revocation == "soft-fail"  # the default
    assert not _check(pki, "revoked", _domain(pki)).ok


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/stale.crl", "the CRL is stale"),
        ("/forged.crl", "the CRL's signature does not verify"),
        ("/error", "HTTP Error 500"),
        ("/root.crl", "not issued by CN=Issuing CA G1"),
    ],
)
def test_unusable_crls_leave_the_status_unknown(
    pki: PKI, server: Responder, path: str, reason: str
) -> None:
    domain = _domain(pki, revocation="hard-fail", crl_urls_override=(f"{server.base}{path}",))
    result = _check(pki, "good", domain)
    assert not result.ok and result.revocation == "unknown"
    assert reason in result.reason


def test_a_slow_server_costs_one_timeout(pki: PKI, server: Responder) -> None:
    domain = _domain(pki, timeout_seconds=0.2, crl_urls_override=(f"{server.base}/slow",))
    started = time.monotonic()
    result = _check(pki, "good", domain)
    assert time.monotonic() - started < 1.0  # two lookups (leaf, issuing CA), 0.2 s each
    assert result.ok and result.revocation == "unknown" and "timed out" in result.reason


def test_certificate_without_revocation_pointers(pki: PKI) -> None:
    result = _check(pki, "no-pointers", _domain(pki, ocsp=True, revocation="hard-fail"))
    assert not result.ok and "names no OCSP responder or CRL" in result.reason


def test_override_urls_pick_each_issuers_crl(pki: PKI, server: Responder) -> None:
    mirror = (f"{server.base}/root.crl", f"{server.base}/inter.crl")
    cache = RevocationCache()
    domain = _domain(pki, crl_urls_override=mirror)
    assert _check(pki, "good", domain, cache=cache).revocation == "good"
    assert not _check(pki, "revoked", domain, cache=cache).ok
    # each CRL downloaded once: the second leaf reused the cached CRLs
    assert server.hits == Counter({"/root.crl": 1, "/inter.crl": 1})


def test_revocation_off_asks_nobody(pki: PKI, server: Responder) -> None:
    result = _check(pki, "revoked", _domain(pki, revocation="off"))
    assert result.ok and result.revocation == "not-checked"  # a test domain's choice
    assert server.total() == 0


def test_proxy_carries_the_lookups_and_environment_proxies_are_ignored(
    pki: PKI, server: Responder, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, dead_url)
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    through_proxy = _check(pki, "proxied", _domain(pki, proxy=server.base))
    assert through_proxy.revocation == "good"  # crl.invalid was never resolved, only proxied
    assert server.hits["via-proxy"] >= 1
    direct = _check(pki, "good", _domain(pki))
    assert direct.revocation == "good"  # the dead proxy in the environment was not used


# --- cache ----------------------------------------------------------------------------------


def test_second_check_comes_from_the_cache(pki: PKI, server: Responder) -> None:
    cache = RevocationCache()
    domain = _domain(pki, ocsp=True)
    first = _check(pki, "good", domain, cache=cache)
    asked = server.total()
    second = _check(pki, "good", domain, cache=cache)
    assert first.revocation_source == "ocsp" and asked == 2
    assert (second.ok, second.revocation, second.revocation_source) == (True, "good", "cache")
    assert server.total() == asked
    revoked = _check(pki, "revoked", domain, cache=cache)
    again = _check(pki, "revoked", domain, cache=cache)
    assert (again.ok, again.revocation, again.revocation_source) == (False, "revoked", "cache")
    assert revoked.reason == again.reason
    cache.clear()
    _check(pki, "good", domain, cache=cache)
    assert server.total() > asked + 1


def test_cache_seconds_zero_asks_every_time(pki: PKI, server: Responder) -> None:
    cache = RevocationCache()
    domain = _domain(pki, cache_seconds=0)
    _check(pki, "good", domain, cache=cache)
    _check(pki, "good", domain, cache=cache)
    assert server.hits == Counter({"/inter.crl": 2, "/root.crl": 2})


def test_failures_are_remembered_briefly(pki: PKI, dead_url: str) -> None:
    cache = RevocationCache()
    domain = _domain(pki, revocation="hard-fail", crl_urls_override=(dead_url,))
    assert _check(pki, "good", domain, cache=cache).revocation_source is None
    again = _check(pki, "good", domain, cache=cache)
    assert (again.ok, again.revocation, again.revocation_source) == (False, "unknown", "cache")


def test_concurrent_checks_share_one_cache(pki: PKI, server: Responder) -> None:
    cache = RevocationCache()
    domain = _domain(pki, ocsp=True)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(_check(pki, "good", domain, cache=cache)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8 and all(r.ok and r.revocation == "good" for r in results)
    assert server.hits["/ocsp"] <= 8
    assert _check(pki, "good", domain, cache=cache).revocation_source == "cache"


# --- trust store, loading, expiry -----------------------------------------------------------


def test_load_certificates_from_files_directories_and_bytes(pki: PKI, tmp_path: Path) -> None:
    folder = tmp_path / "vn-gov"
    folder.mkdir()
    (folder / "root.pem").write_bytes(pki.root.public_bytes(Encoding.PEM))
    (folder / "issuing.cer").write_bytes(pki.inter.public_bytes(Encoding.DER))
    (folder / "README.txt").write_text("not a certificate")
    bundle = pki.root.public_bytes(Encoding.PEM) + pki.inter.public_bytes(Encoding.PEM)
    assert load_certificates(folder) == (pki.inter, pki.root)  # sorted by file name
    assert load_certificates(str(folder / "root.pem"), bundle) == (pki.root, pki.inter)
    with pytest.raises(CertificateError, match="not a certificate"):
        load_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError, match=r"missing\.pem"):
        load_certificates(tmp_path / "missing.pem")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"anchors": ()}, "no anchor"),
        ({"revocation": "sometimes"}, "revocation must be"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"cache_seconds": -1}, "negative"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "not an http"),
        ({"crl_urls_override": ("file:///etc/passwd",)}, "not an http"),
    ],
)
def test_trust_domain_refuses_bad_settings(pki: PKI, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(_domain(pki), **change)


def test_trust_store_looks_domains_up_by_name(pki: PKI) -> None:
    domain = _domain(pki)
    store = TrustStore([domain])
    assert store.domain("test") is domain and list(store.domains) == ["test"]
    with pytest.raises(UnknownTrustDomain, match="vn-gov"):
        store.domain("vn-gov")
    with pytest.raises(ValueError, match="twice"):
        TrustStore([domain, domain])


def test_expiry_warnings() -> None:
    def self_signed(common_name: str, days_left: float) -> x509.Certificate:
        key = _ec_key()
        return _issue(common_name, key, None, key, ca=True, valid=(-400 * DAY, days_left * DAY))

    soon_root = self_signed("Root expiring soon", 10.5)
    far_root = self_signed("Root far away", 3000)
    own_soon = self_signed("Gateway signing", 5.5)
    own_expired = self_signed("Gateway old", -2.5)
    store = TrustStore(
        [
            TrustDomain(name="vn-gov", anchors=(soon_root, far_root), expiry_warning_days=30),
            TrustDomain(name="test", anchors=(soon_root,), expiry_warning_days=7),
        ],
        own_certificates=(own_soon, own_expired),
        own_expiry_warning_days=3,
    )
    warned = expiring(store, 30)
    assert [(w.subject.split(",")[0], w.days_left, w.expired) for w in warned] == [
        ("CN=Gateway old", -3, True),
        ("CN=Gateway signing", 5, False),
        ("CN=Root expiring soon", 10, False),
    ]
    assert warned[2].role == "anchor of vn-gov, anchor of test"
    assert warned[0].role == "gateway certificate"
    assert warned[2].fingerprint_sha256 == soon_root.fingerprint(hashes.SHA256()).hex()
    # days=None: each domain's own period (30 days for vn-gov), 3 days for the gateway's
    configured = [w.subject.split(",")[0] for w in expiring(store)]
    assert configured == ["CN=Gateway old", "CN=Root expiring soon"]
    assert expiring(store, 30, at=NOW - 100 * DAY) == []
