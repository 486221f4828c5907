"""Several trust domains, each for the senders mapped to it; raw received bytes kept;
signatures re-verified later with the trust configuration of the day.

Two throwaway PKIs (CA-A, CA-B) are made here with ``cryptography``. Revocation pointers in
CA-A's signer certificate lead to a closed port on 127.0.0.1, so soft-fail and hard-fail
domains differ on the same signature, quickly and without any server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.audit.chain import AuditRecord
from gateway.audit.chain import verify as verify_audit
from gateway.cli import main
from gateway.config import ConfigError, Settings, load_settings
from gateway.edxml.model import DocumentPackage, TraceHeader, TraceHeaderList
from gateway.edxml.writer import package_bytes
from gateway.exchange import DocumentFields, Exchange, StatusFields
from gateway.health import check as health_check
from gateway.reverify import reverify, select
from gateway.security.receipts import verify_receipt
from gateway.security.signatures import SigningKey, sign_package
from gateway.store.blobs import FileBlobStore
from gateway.trust import SenderTrust, trust_domains
from tests.fixtures.packages import _organization, build_document, tmp_leftovers
from tests.integration.test_soap_large import THRESHOLD, streaming_gateway  # noqa: F401
from tests.integration.test_soap_service import SENDER as SOAP_SENDER
from tests.integration.test_soap_service import Gateway
from tests.unit.test_certificates import _issue

# Senders: S_A in domain "ca-a" (soft-fail), S_B in "ca-b", S_STRICT in "ca-a-strict" (hard-fail).
S_A, S_B, S_STRICT, RECEIVER = "000.00.00.G22", "000.00.01.H53", "000.00.02.H41", "000.00.00.H01"


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    ca: x509.Certificate

    def signing_key(self) -> SigningKey:
        key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain = b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, self.ca)
        )
        return SigningKey.from_pem(key_pem, chain)


@dataclass(frozen=True)
class Pkis:
    ca_a: x509.Certificate
    ca_b: x509.Certificate
    signer_a: Signer
    signer_b: Signer


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ca-a"


@pytest.fixture(scope="module")
def pkis(dead_url: str) -> Pkis:
    key_a, key_b = _rsa(), _rsa()
    ca_a = _issue("CA-A (test)", key_a, None, key_a, ca=True)
    ca_b = _issue("CA-B (test)", key_b, None, key_b, ca=True)
    leaf_a, leaf_b = _rsa(), _rsa()
    signer_a = _issue(
        "Văn phòng Chính phủ (test)",
        leaf_a,
        ca_a,
        key_a,
        crl=f"{dead_url}.crl",
        ocsp_url=f"{dead_url}/ocsp",
    )
    signer_b = _issue("Bộ Nội vụ (test)", leaf_b, ca_b, key_b)
    return Pkis(ca_a, ca_b, Signer(leaf_a, signer_a, ca_a), Signer(leaf_b, signer_b, ca_b))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def trust_files(tmp_path: Path, pkis: Pkis) -> dict[str, Path]:
    """CA-A as a single PEM file; CA-B as a DER file in a directory of its own."""
    a = tmp_path / "ca-a.pem"
    a.write_bytes(_pem(pkis.ca_a))
    b_dir = tmp_path / "ca-b"
    b_dir.mkdir()
    (b_dir / "root.cer").write_bytes(pkis.ca_b.public_bytes(serialization.Encoding.DER))
    return {"a": a, "b": b_dir}


def _toml(settings: Settings, body: str) -> str:
    head = f'data_dir = "{settings.data_dir}"\n'
    if settings.database_dsn:
        head += f'database_dsn = "{settings.database_dsn}"\n'
    return head + body


def _domains_toml(files: dict[str, Path]) -> str:
    return f"""
[[trust_domain]]
name = "ca-a"
anchors = ["{files["a"]}"]
revocation = "soft-fail"
timeout_seconds = 2

[[trust_domain]]
name = "ca-a-strict"
anchors = "{files["a"]}"
revocation = "hard-fail"
ocsp = false
timeout_seconds = 2

[[trust_domain]]
name = "ca-b"
anchors = ["{files["b"]}"]
revocation = "off"
expiry_warning_days = 10

[trust_senders]
ca-a = ["{S_A}"]
ca-a-strict = ["{S_STRICT}"]
ca-b = ["000.00.01.*"]
"""


def _load(tmp_path: Path, settings: Settings, body: str) -> Settings:
    config = tmp_path / "gateway.toml"
    config.write_text(_toml(settings, body), "utf-8")
    return load_settings(config, environ={})


def _exchange(settings: Settings) -> Exchange:
    exchange = Exchange(settings)
    now = dt.datetime.now(dt.UTC)
    for code in (S_A, S_B, S_STRICT, RECEIVER):
        if exchange.store.get_agency(code) is None:
            exchange.credentials.add_agency(code, code, "", now)
    return exchange


def _document(exchange: Exchange, sender: str, content: bytes) -> bytes:
    pkg: DocumentPackage = build_document(
        exchange.blobs,
        content,
        from_=_organization(sender, sender),
        to=(_organization(RECEIVER, "UBND"),),
        document_id=f"{sender},2024/03/05,12/VPCP-TTĐT",
    )
    pkg = replace(
        pkg,
        trace=TraceHeaderList(
            (TraceHeader(sender, dt.datetime(2024, 3, 5, 8, 9, 10)),), pkg.trace.business
        ),
    )
    return package_bytes(pkg, exchange.blobs)


def _signed(exchange: Exchange, sender: str, signer: Signer, content: bytes) -> bytes:
    return sign_package(_document(exchange, sender, content), signer.signing_key())


@pytest.fixture
def domains(
    store_settings: Settings, tmp_path: Path, trust_files: dict[str, Path]
) -> Iterator[Exchange]:
    exchange = _exchange(_load(tmp_path, store_settings, _domains_toml(trust_files)))
    yield exchange
    exchange.close()


# --- the sender's domain decides ---------------------------------------------------------


def test_each_sender_is_judged_by_its_own_domain(domains: Exchange, pkis: Pkis) -> None:
    # CA-A's signature, sent by a sender of domain ca-a: valid (soft-fail: the dead
    # revocation server leaves the status unknown, which soft-fail accepts).
    in_a = domains.send_document(S_A, _signed(domains, S_A, pkis.signer_a, b"%PDF-1.4 a"))
    assert in_a.signature_status == "valid", in_a.signature_reason

    # The same CA's signature from a sender of domain ca-b: CA-A is not an anchor there.
    in_b = domains.send_document(S_B, _signed(domains, S_B, pkis.signer_a, b"%PDF-1.4 a in b"))
    assert in_b.signature_status == "unverifiable"
    assert "CA-A" in in_b.signature_reason and "trust domain ca-b" in in_b.signature_reason

    # CA-B's own signer, from that sender: valid.
    b_own = domains.send_document(S_B, _signed(domains, S_B, pkis.signer_b, b"%PDF-1.4 b"))
    assert b_own.signature_status == "valid", b_own.signature_reason

    # CA-A again, from the hard-fail domain: an unknown revocation status is not good enough.
    strict = domains.send_document(
        S_STRICT, _signed(domains, S_STRICT, pkis.signer_a, b"%PDF-1.4 strict")
    )
    assert strict.signature_status == "unverifiable"
    assert "hard-fail" in strict.signature_reason
    assert "127.0.0.1" in strict.signature_reason  # the CRL that could not be fetched
    assert "trust domain ca-a-strict" in strict.signature_reason


def test_sender_mapping_exact_then_longest_prefix_then_default(
    tmp_path: Path, trust_files: dict[str, Path]
) -> None:
    base = Settings(data_dir=tmp_path / "data", trust_store_dir=trust_files["b"])
    settings = replace(
        base,
        trust_domains=load_settings(
            _write(tmp_path, _toml(base, _domains_toml(trust_files))), environ={}
        ).trust_domains,
        trust_senders=(
            ("000.00.01.H53", "ca-a"),
            ("000.00.*", "ca-a-strict"),
            ("000.00.01.*", "ca-b"),
        ),
    )
    trust = SenderTrust(settings)
    assert trust.domain_name("000.00.01.H53") == "ca-a"  # exact beats any prefix
    assert trust.domain_name("000.00.01.H99") == "ca-b"  # the longer prefix wins
    assert trust.domain_name("000.00.07.H01") == "ca-a-strict"
    assert trust.domain_name("G09.01.02") == "default"  # the flat settings serve '*'
    only_domains = SenderTrust(replace(settings, trust_store_dir=None))
    assert only_domains.domain_name("G09.01.02") is None
    reason = only_domains.checker("G09.01.02")(b"")
    assert reason is not None and "no trust domain is configured for sender G09.01.02" in reason


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, "utf-8")
    return path


def test_flat_settings_still_work_as_the_default_domain(
    store_settings: Settings, tmp_path: Path, trust_files: dict[str, Path], pkis: Pkis
) -> None:
    settings = _load(
        tmp_path,
        store_settings,
        f'trust_store_dir = "{trust_files["b"]}"\ntrust_revocation = "hard-fail"\n',
    )
    assert settings.trust_domains == () and settings.trust_senders == ()
    exchange = _exchange(settings)
    try:
        # CA-B's signer names no revocation service: hard-fail cannot confirm it.
        verdict = exchange.send_document(S_A, _signed(exchange, S_A, pkis.signer_b, b"%PDF flat"))
        assert verdict.signature_status == "unverifiable"
        assert "trust domain default" in verdict.signature_reason
        assert exchange.trust.domain_name(S_B) == "default"
    finally:
        exchange.close()


# --- configuration mistakes ---------------------------------------------------------------


def _mistake(tmp_path: Path, body: str) -> ConfigError:
    # Settings are checked on load; certificate files when the trust domains are built.
    with pytest.raises(ConfigError) as caught:
        trust_domains(_load(tmp_path, Settings(data_dir=tmp_path / "data"), body))
    return caught.value


def test_config_mistakes_are_explained(
    tmp_path: Path, trust_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a = trust_files["a"]
    domain = f'[[trust_domain]]\nname = "ca-a"\nanchors = ["{a}"]\n'

    unknown = _mistake(tmp_path, domain + '[trust_senders]\nca-z = ["000.00.00.G22"]\n')
    assert unknown.code == "R.Config.trust_senders"
    assert "'ca-z', which is not defined (defined: ca-a)" in unknown.message

    twice = _mistake(
        tmp_path,
        domain
        + f'[[trust_domain]]\nname = "ca-b"\nanchors = ["{trust_files["b"]}"]\n'
        + '[trust_senders]\nca-a = ["000.00.*", "000.00.00.G22"]\nca-b = ["000.00.00.G22"]\n',
    )
    assert twice.code == "M.Config.trust_senders"
    assert "'000.00.00.G22' is mapped twice, to 'ca-a' and to 'ca-b'" in twice.message

    star = _mistake(
        tmp_path, f'trust_store_dir = "{a.parent}"\n' + domain + '[trust_senders]\nca-a = "*"\n'
    )
    assert "mapped twice" in star.message and "default domain" in star.message

    missing = _mistake(tmp_path, domain.replace(str(a), str(tmp_path / "nowhere.pem")))
    assert missing.code == "M.Config.trust_domain.anchors"
    assert "nowhere.pem cannot be used" in missing.message

    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    not_cert = _mistake(tmp_path, domain.replace(str(a), str(garbage)))
    assert "garbage.pem" in not_cert.message and "not a certificate" in not_cert.message

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no .pem" in _mistake(tmp_path, domain.replace(str(a), str(empty))).message

    assert "defined twice" in _mistake(tmp_path, domain + domain).message
    assert "revocation must be" in _mistake(tmp_path, domain + 'revocation = "sometimes"\n').message
    assert "unknown key 'anchor'" in _mistake(tmp_path, domain + 'anchor = "x"\n').message
    assert "needs a name" in _mistake(tmp_path, f'[[trust_domain]]\nanchors = ["{a}"]\n').message
    bad_pattern = _mistake(tmp_path, domain + '[trust_senders]\nca-a = ["000.*.01"]\n')
    assert "not an agency code, a prefix" in bad_pattern.message

    # `config check` says it on stderr and exits 2; a good file lists its domains.
    config = _write(tmp_path, domain + '[trust_senders]\nca-q = ["*"]\n')
    assert main(["config", "check", "--config", str(config)]) == 2
    assert "trust domain 'ca-q', which is not defined" in capsys.readouterr().err
    good = _write(tmp_path, domain + '[trust_senders]\nca-a = ["*"]\n')
    assert main(["config", "check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"trust_domain.ca-a = anchors={a}" in out and "trust_senders.ca-a = *" in out


# --- health -----------------------------------------------------------------------------


def test_health_lists_each_domains_anchors(domains: Exchange, pkis: Pkis) -> None:
    health = health_check(domains.settings)
    assert health.ok, health.checks
    by_name = {d["name"]: d for d in health.trust_domains}
    assert set(by_name) == {"ca-a", "ca-a-strict", "ca-b"}
    assert by_name["ca-b"]["senders"] == ["000.00.01.*"]
    [anchor] = by_name["ca-a-strict"]["anchors"]
    assert anchor["subject"] == pkis.ca_a.subject.rfc4514_string()
    assert anchor["not_after"] == pkis.ca_a.not_valid_after_utc.isoformat()
    line = next(c for c in health.checks if c.name == "trust domain ca-a-strict")
    assert f"until {pkis.ca_a.not_valid_after_utc:%Y-%m-%d}" in line.detail
    assert "revocation hard-fail" in line.detail
    # A year on, every anchor has expired: each domain's check fails and says so.
    later = health_check(domains.settings, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=800))
    assert not later.ok
    assert "(EXPIRED)" in next(c for c in later.checks if c.name == "trust domain ca-b").detail


# --- raw received bytes -------------------------------------------------------------------


def test_raw_bytes_are_kept_byte_for_byte(domains: Exchange, pkis: Pkis) -> None:
    # Odd but legal formatting the normalised form would not keep: a BOM-less XML
    # declaration with extra whitespace, and a trailing newline.
    data = b'<?xml version="1.0"  encoding="UTF-8"?>\n' + _signed(
        domains, S_A, pkis.signer_a, b"%PDF-1.4 kept"
    ).split(b"?>", 1)[1] + b"\n\n"
    receipt = domains.send_document(S_A, data)
    stored = domains.store.get_package(receipt.package_id)
    assert stored is not None and stored.origin == "received"
    facts = verify_receipt(
        receipt.signed_receipt, (domains.settings.signing_dir / "gateway.crt").read_bytes()
    )
    assert stored.raw_sha256 == facts.received_sha256 == hashlib.sha256(data).hexdigest()
    assert domains.blobs.read_bytes(stored.raw_sha256) == data
    assert stored.raw_sha256 != stored.blob_sha256  # the normalised form is another blob

    # A stream, and a file that is not the gateway's own, are kept the same way.
    streamed = _document(domains, S_B, b"%PDF-1.4 streamed")
    by_stream = domains.send_document(S_B, io.BytesIO(streamed))
    outside = domains.settings.data_dir / "outside.edxml"
    from_file = _document(domains, S_B, b"%PDF-1.4 from a file")
    outside.write_bytes(from_file)
    by_path = domains.send_document(S_B, outside)
    for receipt_, raw in ((by_stream, streamed), (by_path, from_file)):
        kept = domains.store.get_package(receipt_.package_id)
        assert kept is not None and domains.blobs.read_bytes(kept.raw_sha256) == raw
    outside.write_bytes(b"changed afterwards")  # the kept copy is not the caller's file
    kept = domains.store.get_package(by_path.package_id)
    assert kept is not None and domains.blobs.read_bytes(kept.raw_sha256) == from_file

    # Built from fields: nothing was received, so nothing is kept, and that is recorded.
    built = domains.send_document_fields(
        S_A,
        DocumentFields(
            to=(RECEIVER,),
            subject="V/v thử nghiệm",
            code_number="7",
            code_notation="VPCP",
            promulgation_date=dt.date(2024, 3, 5),
        ),
    )
    row = domains.store.get_package(built.package_id)
    assert row is not None and row.raw_sha256 == "" and row.origin == "built"


def test_a_spooled_large_package_is_linked_not_copied(domains: Exchange) -> None:
    """The streaming SOAP path spools into the blob store's scratch directory; that very file
    becomes the raw blob (a hard link), with no second copy."""
    # Trailing blank lines make the received bytes differ from the normalised form (which
    # would otherwise be the very same blob).
    data = _document(domains, S_B, b"%PDF-1.4 " + os.urandom(300_000)) + b"\n\n"
    spool = domains.blobs.tmp_dir / "edoc-package-test.edxml"
    spool.write_bytes(data)
    receipt = domains.send_document(S_B, spool)
    stored = domains.store.get_package(receipt.package_id)
    assert stored is not None
    files = domains.blobs.backend  # type: ignore[attr-defined]
    assert isinstance(files, FileBlobStore)  # 300 KB: past inline_blob_bytes, a file
    kept = files.path_for(stored.raw_sha256)
    assert os.path.samefile(kept, spool)
    assert stored.raw_sha256 != stored.blob_sha256
    spool.unlink()  # as the spool's owner does when the request ends
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == stored.raw_sha256
    assert domains.blobs.read_bytes(stored.raw_sha256) == data


# --- re-verification ----------------------------------------------------------------------


def _events(exchange: Exchange, event: str) -> list[AuditRecord]:
    return [r for r in exchange.store.audit_records(0, 10_000) if r.event == event]


def test_reverify_after_the_trust_store_changes(
    store_settings: Settings, tmp_path: Path, trust_files: dict[str, Path], pkis: Pkis
) -> None:
    before = _exchange(store_settings)  # no trust configured at all
    try:
        data = _signed(before, S_B, pkis.signer_b, b"%PDF-1.4 later")
        receipt = before.send_document(S_B, data)
        assert receipt.signature_status == "unverifiable"
        unchanged = list(reverify(before, select(before, [receipt.package_id])))
        assert [(r.previous, r.status, r.changed) for r in unchanged] == [
            ("unverifiable", "unverifiable", False)
        ]
    finally:
        before.close()

    # The operator adds CA-B as a trust domain for that sender.
    after = _exchange(_load(tmp_path, store_settings, _domains_toml(trust_files)))
    try:
        [result] = reverify(after, select(after, [receipt.package_id]))
        assert (result.original, result.previous, result.status) == (
            "unverifiable",
            "unverifiable",
            "valid",
        )
        assert result.changed and not result.became_invalid and result.trust_domain == "ca-b"
        stored = after.store.get_package(receipt.package_id)
        assert stored is not None
        assert json.loads(stored.signature_json)["status"] == "unverifiable"  # kept as given
        checks = after.store.signature_checks(receipt.package_id)
        assert [(c.previous_status, c.status) for c in checks] == [
            ("unverifiable", "unverifiable"),
            ("unverifiable", "valid"),
        ]
        assert json.loads(checks[-1].signature_json)["certificate_subject"].startswith(
            "CN=Bộ Nội vụ"
        )
        records = _events(after, "package.reverified")
        assert len(records) == 2
        assert records[-1].subject == receipt.package_id
        assert records[-1].details["status"] == "valid"
        assert records[-1].details["previous_status"] == "unverifiable"
        assert records[-1].details["original_status"] == "unverifiable"
        assert records[-1].details["trust_domain"] == "ca-b"
        assert records[-1].details["raw_sha256"] == hashlib.sha256(data).hexdigest()
        assert verify_audit(after.store.audit_records(0, 10_000)).ok
    finally:
        after.close()


def test_reverify_command_exit_codes(
    domains: Exchange,
    pkis: Pkis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "gateway.toml"  # written by the `domains` fixture
    good = domains.send_document(S_B, _signed(domains, S_B, pkis.signer_b, b"%PDF-1.4 cli"))
    assert good.signature_status == "valid"

    assert main(["packages", "reverify", "--config", str(config), good.package_id]) == 0
    out = capsys.readouterr().out
    assert good.package_id in out and "valid" in out and "0 now invalid" in out

    # Nothing named, or contradictory selections, or an unknown package: exit 2.
    assert main(["packages", "reverify", "--config", str(config)]) == 2
    assert "PACKAGE_ID" in capsys.readouterr().err
    assert main(["packages", "reverify", "--config", str(config), "--all", "x"]) == 2
    assert main(["packages", "reverify", "--config", str(config), "no-such-package"]) == 2
    assert "no package no-such-package" in capsys.readouterr().err

    # A package built from fields is listed as having no received bytes.
    status = domains.send_status_fields(
        RECEIVER,
        StatusFields(
            response_for_organ_id=S_B,
            response_for_document_id=f"{S_B},2024/03/05,12/VPCP-TTĐT",
            status_code="03",
        ),
    )
    assert main(["packages", "reverify", "--config", str(config), "--all", "--json"]) == 0
    rows = {r["package_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[status.package_id]["raw"] == "built"
    assert "built by the gateway from fields" in rows[status.package_id]["note"]
    assert rows[good.package_id]["status"] == "valid"

    # The kept bytes are altered on disk: the signature no longer holds, exit 1.
    stored = domains.store.get_package(good.package_id)
    assert stored is not None
    kept = domains.blobs.read_bytes(stored.raw_sha256)
    with domains.store._tx() as q:  # type: ignore[attr-defined]  # a small blob is a row
        q.run(
            "UPDATE inline_blobs SET data = ? WHERE sha256 = ?",
            (kept.replace(b"V/v th", b"V/V th", 1), stored.raw_sha256),
        )
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert main(["packages", "reverify", "--config", str(config), "--since", since]) == 1
    out = capsys.readouterr().out
    assert "valid->invalid" in out and "1 now invalid" in out
    assert _events(domains, "package.reverified")[-1].details["status"] == "invalid"

    # The kept bytes are gone: reported, exit 2.
    with domains.store._tx() as q:  # type: ignore[attr-defined]
        q.run("DELETE FROM inline_blobs WHERE sha256 = ?", (stored.raw_sha256,))
    assert main(["packages", "reverify", "--config", str(config), good.package_id]) == 2
    assert "are missing" in capsys.readouterr().out
    # Nothing received after a future date: nothing to do.
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert main(["packages", "reverify", "--config", str(config), "--since", future]) == 0
    assert "0 package(s)" in capsys.readouterr().out


def test_a_large_package_through_the_streaming_soap_path_is_kept_as_sent(
    streaming_gateway: Gateway,  # noqa: F811 (the fixture imported above)
) -> None:
    package = streaming_gateway.document(b"%PDF-1.4 " + os.urandom(200_000)) + b"\n"
    assert len(package) > THRESHOLD
    receipt = streaming_gateway.zeep(SOAP_SENDER).SendDocument(package)
    exchange = streaming_gateway.exchange
    stored = exchange.store.get_package(receipt.packageId)
    assert stored is not None and stored.origin == "received"
    facts = verify_receipt(
        receipt.signedReceipt, (exchange.settings.signing_dir / "gateway.crt").read_bytes()
    )
    assert stored.raw_sha256 == facts.received_sha256 == hashlib.sha256(package).hexdigest()
    assert exchange.blobs.read_bytes(stored.raw_sha256) == package
    assert tmp_leftovers(exchange.blobs) == []  # the spool's own name is gone
