"""The three faces fuzzed over HTTP on one live server (``build_app`` under wsgiref, 127.0.0.1).

Requests are authenticated as a real client would (a fresh WS-Security digest, the legacy
OrganId and Token, signed VXP headers), so mutations reach past authentication into the
readers and the exchange. At scale 1: 5,400 requests. Each answer must be an acceptance or a
client-side refusal (never ``soap:Server``/``Receiver``, the legacy ``M.Server``, a VXP
system error, an HTTP 5xx that is not a client fault), within the watchdog; a refused request
must leave no package row, no blob and no temporary file.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import Settings
from gateway.vxp import headers as vxp_headers
from tests.fixtures.packages import kept_blobs
from tests.fuzz.harness import (
    CONFORMANCE,
    WATCHDOG_SECONDS,
    Seed,
    Timings,
    conformance_requests,
    fill,
    fuzz_settings,
    mutate,
    mutations,
    sample_packages,
)
from tests.integration import test_legacy_edoc as legacy

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
_SERVER_FAULT = re.compile(rb"<(?:\w+:)?(?:faultcode|Value)>\s*(?:\w+:)?(?:Server|Receiver)\b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[legacy.Server]:
    data = tmp_path_factory.mktemp("fuzz-http")
    running = legacy.Server(Settings(data_dir=data, stream_threshold_bytes=128 << 10))
    try:
        yield running
    finally:
        running.close()


class Kept:
    """What the server keeps: package rows, blob files, temporary files."""

    def __init__(self, server: legacy.Server) -> None:
        self.store = server.admin.store
        self.blobs = server.admin.blobs

    def snapshot(self) -> tuple[int, int]:
        packages = len(self.store.packages_received(0, None, 100_000))
        files = len(kept_blobs(self.blobs))
        return packages, files

    def temporary(self) -> list[str]:
        return [p.name for p in self.blobs.tmp_dir.iterdir()]


def exchange(port: int, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection; the answer's status and body. A server that stops
    reading early may reset the connection while the body is sent: its answer is still read."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=WATCHDOG_SECONDS) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        answer = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(1 << 16):
                answer += chunk
    head, _, payload = bytes(answer).partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert match, f"no HTTP answer to {path}: {bytes(answer[:200])!r}"
    return int(match.group(1)), payload


def verdict(face: str, status: int, payload: bytes) -> bool:
    """Whether the request was accepted (True) or refused as the client's fault (False);
    a server fault fails the test."""
    shown = payload[:800]
    if face == "vxp":
        assert status < 500 and b"SYSTEM_ERROR" not in payload, (status, shown)
        try:
            return bool(json.loads(payload).get("status") == "OK")
        except ValueError:
            return False
    assert not _SERVER_FAULT.search(payload), (face, status, shown)
    assert b"M.Server" not in payload and b"Server.Internal" not in payload, (face, shown)
    if status >= 500:
        assert b"Fault>" in payload, (face, status, shown)  # SOAP 1.1 client faults are 500
        return False
    if face == "legacy":
        return b"<edXML:IsSuccess>true" in payload or b"IsSuccess>true" in payload
    return status == 200


def _security(server: legacy.Server, code: str) -> str:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    secret = server.admin.credentials.current_secret(code)
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + secret.encode()).digest())
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{code}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


_FROM = re.compile(rb"<(?:\w+:)?From>\s*<(?:\w+:)?OrganId>([^<]+)</")
_ORGAN_ID = re.compile(rb"(<(?:\w+:)?OrganId>)([^<]+)(</)")


def _packages() -> list[Seed]:
    """The samples sent from the server's sender to its receiver (the samples' own agencies
    are not registered here: their packages would be refused before anything is read)."""
    out = []
    for seed in sample_packages():
        if "(whole)" in seed.name:
            continue
        found = _FROM.search(seed.data)
        sender = found.group(1) if found else b""

        def recode(m: re.Match[bytes], sender: bytes = sender) -> bytes:
            code = legacy.SENDER if m.group(2) == sender else legacy.RECEIVER
            return m.group(1) + code.encode() + m.group(3)

        out.append(Seed.of(seed.name, _ORGAN_ID.sub(recode, seed.data)))
    return out


def test_seeds_are_accepted_so_mutations_start_from_valid_requests(server: legacy.Server) -> None:
    """Without this, every mutated request could be refused for a reason the seed already had.
    (It runs first: the server's first answers build its caches, which no fuzz case should time.)"""
    package = _packages()[0].data
    body = fill(
        dict(conformance_requests("soap11"))["SendDocument"],
        {"SECURITY": _security(server, legacy.SENDER)},
    )
    body = re.sub(
        r"<tns:package>[^<]*</tns:package>",
        f"<tns:package>{base64.b64encode(package).decode()}</tns:package>",
        body,
    )
    status, payload = exchange(
        server.port, "/soap/v1", {"Content-Type": "text/xml; charset=utf-8"}, body.encode()
    )
    assert verdict("soap", status, payload), payload[:2000]


def test_faces_over_http(server: legacy.Server) -> None:
    kept = Kept(server)
    packages = _packages()
    soap = [
        (kind, name, template)
        for kind in ("soap11", "soap12")
        for name, template in conformance_requests(kind)
    ]
    legacy_requests = [
        (kind, name, template)
        for kind in ("legacy/soap11", "legacy/soap12")
        for name, template in conformance_requests(kind)
    ]
    pdf = (CONFORMANCE / "legacy" / "files" / "file1.pdf").read_bytes()
    token = server.tokens[legacy.SENDER]
    vxp_secret = server.admin.credentials.current_secret(legacy.SENDER)
    timings = Timings("HTTP faces")

    def soap_request(index: int, ops: list[Any], inner: bool) -> tuple[str, dict[str, str], bytes]:
        kind, name, template = soap[index % len(soap)]
        values = {"SECURITY": _security(server, legacy.SENDER), "PACKAGE_ID": str(uuid.uuid4())}
        if name in ("SendDocument", "SendStatus") and inner:
            package = mutate(packages[index % len(packages)], ops)
            text = re.sub(
                r"<tns:package>[^<]*</tns:package>",
                f"<tns:package>{base64.b64encode(package).decode()}</tns:package>",
                fill(template, values),
            )
            body = text.encode()
        else:
            body = mutate(Seed.of(name, fill(template, values).encode()), ops)
        media = "text/xml" if kind == "soap11" else "application/soap+xml"
        return "/soap/v1", {"Content-Type": f"{media}; charset=utf-8"}, body

    def legacy_request(
        index: int, ops: list[Any], inner: bool
    ) -> tuple[str, dict[str, str], bytes]:
        _kind, name, template = legacy_requests[index % len(legacy_requests)]
        values = {
            "ORGAN_ID": legacy.SENDER,
            "TOKEN": token,
            "TO_ORGAN_ID": legacy.RECEIVER,
            "NUMBER": str(index % 100_000),
        }
        root = fill(template, values).encode()
        parts = [("file1", "application/pdf", pdf, "binary")] if name == "SendDocument" else []
        if inner:
            root = mutate(Seed.of(name, root), ops)
            body = legacy.multipart(root, parts, "FuzzBoundary")
        else:
            body = mutate(Seed.of(name, legacy.multipart(root, parts, "FuzzBoundary")), ops)
        headers = {"Content-Type": legacy.swa_type("FuzzBoundary"), "SOAPAction": name}
        return "/legacy/edoc", headers, body

    def vxp_request(index: int, ops: list[Any], inner: bool) -> tuple[str, dict[str, str], bytes]:
        package = mutate(packages[index % len(packages)], ops) if inner else packages[0].data
        body = (
            b'--FuzzVxp\r\nContent-Disposition: form-data; name="file_doc"; filename="x.edxml"'
            b"\r\nContent-Type: application/octet-stream\r\n\r\n" + package + b"\r\n--FuzzVxp--\r\n"
        )
        if not inner:
            body = mutate(Seed.of("form", body), ops)
        stamp = dt.datetime.now().strftime("%d%m%YT%H%M%S") + "+0000"
        params = [
            ("systemid", legacy.SENDER),
            ("timestamp", stamp),
            ("Content-Type", "multipart/form-data"),
            ("from", legacy.SENDER),
            ("messagetype", "edoc"),
            ("hash-file", hashlib.sha256(package).hexdigest()),
        ]
        headers = dict(vxp_headers.sign(vxp_secret, params))
        headers["Content-Type"] = "multipart/form-data; boundary=FuzzVxp"
        return "/vxp/sendEdoc", headers, body

    builders = {"soap": soap_request, "legacy": legacy_request, "vxp": vxp_request}

    @fuzz_settings(5400)
    @given(
        face=st.sampled_from(sorted(builders)),
        index=st.integers(0, 1 << 20),
        ops=mutations(4),
        inner=st.booleans(),
    )
    def case(face: str, index: int, ops: list[Any], inner: bool) -> None:
        path, headers, body = builders[face](index, ops, inner)
        before = kept.snapshot()
        with timings.case():
            status, payload = exchange(server.port, path, headers, body)
        accepted = verdict(face, status, payload)
        if not accepted:
            assert kept.snapshot() == before, (face, status, payload[:400])
        assert kept.temporary() == [], (face, status)

    case()
    timings.save()
