"""The readers of untrusted bytes, fuzzed: edXML, the SOAP envelope head, the legacy MIME scanner,
and the VXP face's multipart upload (through its WSGI app, no socket).

At scale 1 these run 21,000 cases (see :mod:`tests.fuzz.harness`); each must end in acceptance or
a client-side refusal with a code, within the watchdog, with no temporary file left behind.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Settings
from gateway.edxml.reader import ReadOptions, read_package
from gateway.edxml.validate import validate
from gateway.exchange import Exchange
from gateway.restface.face import make_vxp_app
from gateway.soap.envelope import SoapVersion, read_head, username_token
from gateway.store.blobs import FileBlobStore, staged
from gateway.vxp import headers as vxp_headers
from legacy_adapters.edoc_soap.mime import parse_content_type, read_multipart
from tests.fuzz.harness import (
    CONFORMANCE,
    Seed,
    Timings,
    client_refusal,
    conformance_requests,
    fill,
    fuzz_settings,
    mutate,
    mutations,
    sample_packages,
)
from tests.integration.test_legacy_edoc import multipart

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
STREAMED = ReadOptions(small_input=0, chunk_size=4096)


def _leftovers(store: FileBlobStore) -> list[str]:
    return sorted(p.name for p in store.tmp_dir.iterdir())


def test_edxml_reader(tmp_path: Path) -> None:
    seeds = sample_packages()
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    timings = Timings("edXML reader")
    today = dt.date(2025, 1, 1)

    @fuzz_settings(9000)
    @given(index=st.integers(0, 1 << 20), ops=mutations(), streamed=st.booleans())
    def case(index: int, ops: list[Any], streamed: bool) -> None:
        data = mutate(seeds[index % len(seeds)], ops)
        with timings.case(), staged(store) as stage:
            try:
                pkg = read_package(data, stage, STREAMED if streamed else ReadOptions())
                validate(pkg, today=today)
            except Exception as exc:
                if not client_refusal(exc):
                    raise
        assert _leftovers(store) == []

    case()
    timings.save()


def _security_header() -> str:
    """A well-formed UsernameToken (its digest is not checked by the head reader)."""
    nonce = base64.b64encode(os.urandom(16)).decode()
    return (
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/'
        '2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
        f'<wsse:Username>{SENDER}</wsse:Username><wsse:Password Type="http://docs.oasis-open'
        '.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'
        f"ZGlnZXN0</wsse:Password><wsse:Nonce>{nonce}</wsse:Nonce>"
        "<wsu:Created>2025-01-01T00:00:00Z</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope_seeds() -> list[tuple[SoapVersion, Seed]]:
    values = {"SECURITY": _security_header(), "PACKAGE_ID": str(uuid.uuid4())}
    seeds = []
    for kind, version in (("soap11", SoapVersion.SOAP11), ("soap12", SoapVersion.SOAP12)):
        for name, template in conformance_requests(kind):
            seeds.append((version, Seed.of(f"{kind}/{name}", fill(template, values).encode())))
    return seeds


def test_soap_envelope_head_reader() -> None:
    seeds = envelope_seeds()
    timings = Timings("SOAP envelope head reader")

    @fuzz_settings(5000)
    @given(
        index=st.integers(0, 1 << 20),
        ops=mutations(),
        piece=st.sampled_from([7, 512, 1 << 16]),
        swap_version=st.booleans(),
    )
    def case(index: int, ops: list[Any], piece: int, swap_version: bool) -> None:
        version, seed = seeds[index % len(seeds)]
        if swap_version:
            version = SoapVersion.SOAP12 if version is SoapVersion.SOAP11 else SoapVersion.SOAP11
        data = mutate(seed, ops)
        chunks = (data[i : i + piece] for i in range(0, len(data), piece))
        with timings.case():
            try:
                head = read_head(chunks, version)
                if head.security is not None:
                    username_token(head.security)
            except Exception as exc:
                if not client_refusal(exc):
                    raise

    case()
    timings.save()


def mime_seeds() -> list[Seed]:
    pdf = (CONFORMANCE / "legacy" / "files" / "file1.pdf").read_bytes()
    values = {"ORGAN_ID": SENDER, "TOKEN": "t0k3n", "TO_ORGAN_ID": RECEIVER, "NUMBER": "7"}
    seeds = []
    for kind in ("legacy/soap11", "legacy/soap12"):
        for name, template in conformance_requests(kind):
            root = fill(template, values).encode()
            parts = [("file1", "application/pdf", pdf, "binary")] if name == "SendDocument" else []
            seeds.append(Seed.of(f"{kind}/{name}", multipart(root, parts, "MIMEBoundaryF")))
            if parts:
                text = [("file1", "application/pdf", base64.b64encode(pdf), "base64")]
                seeds.append(Seed.of(f"{kind}/{name} b64", multipart(root, text, "MIMEBoundaryF")))
    return seeds


MIME_TYPE = 'multipart/related; type="text/xml"; boundary="MIMEBoundaryF"; start="<Start>"'


def test_legacy_mime_scanner(tmp_path: Path) -> None:
    seeds = mime_seeds()
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    timings = Timings("legacy MIME scanner")

    @fuzz_settings(4000)
    @given(
        index=st.integers(0, 1 << 20),
        ops=mutations(),
        mode=st.sampled_from(["binary", "base64-text", "auto"]),
        type_ops=mutations(2),
    )
    def case(index: int, ops: list[Any], mode: str, type_ops: list[Any]) -> None:
        data = mutate(seeds[index % len(seeds)], ops)
        content_type = mutate(Seed.of("type", MIME_TYPE.encode()), type_ops)
        with timings.case(), staged(store) as stage:
            try:
                read_multipart(
                    io.BytesIO(data),
                    parse_content_type(content_type.decode("latin-1")),
                    lambda: stage.writer(1 << 20),
                    max_root=1 << 20,
                    text_parts=lambda root: mode,
                    max_parts=50,
                )
            except Exception as exc:
                if not client_refusal(exc):
                    raise
        assert _leftovers(store) == []

    case()
    timings.save()


def _form(package: bytes, boundary: str = "VxpBoundary") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_doc"; '
            'filename="edoc.edxml"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + package
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_vxp_multipart_upload(tmp_path: Path) -> None:
    """sendEdoc through the VXP face's WSGI app: signed headers, a mutated form body."""
    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1:9")
    exchange = Exchange(settings)
    now = dt.datetime.now(dt.UTC)
    exchange.credentials.add_agency(SENDER, "Văn phòng", "", now)
    exchange.credentials.add_agency(RECEIVER, "UBND", "", now)
    secret = exchange.credentials.current_secret(SENDER)
    app = make_vxp_app(exchange, settings)
    packages = sample_packages()[:6]
    seeds = [Seed.of(s.name, _form(s.data)) for s in packages]
    timings = Timings("VXP multipart upload")

    @fuzz_settings(3000)
    @given(index=st.integers(0, 1 << 20), ops=mutations(), sign_body=st.booleans())
    def case(index: int, ops: list[Any], sign_body: bool) -> None:
        body = mutate(seeds[index % len(seeds)], ops)
        stamp = dt.datetime.now().strftime("%d%m%YT%H%M%S") + "+0000"
        params = [
            ("systemid", SENDER),
            ("timestamp", stamp),
            ("Content-Type", "multipart/form-data"),
            ("from", SENDER),
            ("messagetype", "edoc"),
            ("hash-file", hashlib.sha256(body if sign_body else b"").hexdigest()),
        ]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/sendEdoc",
            "CONTENT_TYPE": "multipart/form-data; boundary=VxpBoundary",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in vxp_headers.sign(secret, params):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        answer: dict[str, str] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
            answer["status"] = status

        with timings.case():
            b"".join(app(environ, start_response))  # the app answers every refusal itself
        assert not answer["status"].startswith("5"), answer
        assert [p.name for p in exchange.blobs.tmp_dir.iterdir()] == []

    try:
        case()
    finally:
        exchange.close()
    timings.save()
