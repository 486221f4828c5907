"""Malformed input found by fuzzing is a client fault with a code on every face, never a crash.

Each case is a regression test for a request that once ended as ``Server.Internal`` (or, for the
legacy DOCTYPE, as a silently emptied value): real servers on 127.0.0.1, real stores.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.soap.streaming import large_response_handler, package_request_handler
from tests.fixtures.edxml_build import zip_of
from tests.fixtures.packages import kept_blobs
from tests.integration import test_legacy_edoc as legacy
from tests.integration.test_soap_service import (
    RECEIVER,
    SENDER,
    SOAP11,
    Gateway,
    envelope,
    raw_fault,
    security,
)

CLIENT = f"{{{SOAP11}}}Client"


@pytest.fixture
def gateway(store_settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    """The modern face with its streaming hooks, as ``serve`` mounts it."""
    holder: dict[str, Gateway] = {}

    def requests(request: object, respond: object) -> object:
        return package_request_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    def responses(request: object, respond: object) -> object:
        return large_response_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    running = Gateway(
        replace(store_settings, stream_threshold_bytes=64 << 10),
        tmp_path,
        package_request_handler=requests,
        large_response_handler=responses,
    )
    holder["gateway"] = running
    yield running
    running.close()


def test_undeclared_prefix_in_the_body_is_a_client_fault(gateway: Gateway) -> None:
    """115 bytes, no authentication: once a ValueError in read_head."""
    body = f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><a:b/></soap:Body></soap:Envelope>'
    status, _headers, reply = gateway.post(body.encode())
    assert status == 500
    assert raw_fault(reply) == {"code": "M.Soap.Xml", "standard": CLIENT}
    header = '<soap:Header><x:Security xmlns:x="urn:x"/></soap:Header>'
    body = body.replace("<soap:Body>", header + "<soap:Body>").replace("a:b", "a:b c:d='1'")
    assert raw_fault(gateway.post(body.encode())[2])["standard"] == CLIENT


def test_truncated_get_package_is_a_client_fault(gateway: Gateway) -> None:
    """Authenticated, cut inside <packageId>: once an XMLSyntaxError in soap/streaming.py."""
    whole = envelope("GetPackage", header=security(gateway, SENDER)).replace(
        b"/></s:Body>", b"><packageId>0f1e2d3c</packageId></GetPackage></s:Body>"
    )
    cut = whole[: whole.index(b"0f1e2d3c") + 4]
    status, _headers, reply = gateway.post(cut)
    assert status == 500
    assert raw_fault(reply) == {"code": "M.Soap.Xml", "standard": CLIENT}


def test_padding_inside_a_group_is_a_client_fault(gateway: Gateway) -> None:
    """ContentTransferEncoded ``AAAAA===AAAA``: once an uncaught binascii.Error."""
    package = gateway.document(b"%PDF-1.4 x")
    encoded = base64.b64encode(b"%PDF-1.4 x")
    assert package.count(encoded) == 1
    broken = package.replace(encoded, b"AAAAA===AAAA")
    body = envelope("SendDocument", header=security(gateway, SENDER)).replace(
        b"/></s:Body>",
        b"><package>" + base64.b64encode(broken) + b"</package></SendDocument></s:Body>",
    )
    status, _headers, reply = gateway.post(body)
    assert status == 500
    assert raw_fault(reply) == {
        "code": "M.Attachment.ContentTransferEncoded",
        "standard": CLIENT,
    }


@pytest.fixture
def legacy_server(store_settings: Settings) -> Iterator[legacy.Server]:
    running = legacy.Server(store_settings)
    try:
        yield running
    finally:
        running.close()


def test_legacy_face_refuses_a_doctype(legacy_server: legacy.Server) -> None:
    """An entity once vanished: Content ``&xxe;`` stored empty with IsSuccess=true."""
    header = legacy.send_header(legacy_server, 70).replace(
        "<edXML:Content>Nội dung</edXML:Content>", "<edXML:Content>&xxe;</edXML:Content>"
    )
    root = legacy.envelope(legacy.MANIFEST, header).replace(
        b"\r\n<soap:Envelope",
        b'\r\n<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        b"\r\n<soap:Envelope",
    )
    parts = [
        ("file1", "application/pdf", legacy.PDF, "binary"),
        ("file2", "application/pdf", legacy.PDF, "binary"),
    ]
    body = legacy.multipart(root, parts, "Bd")
    status, _type, reply = legacy_server.post(
        body, legacy.swa_type("Bd"), {"SOAPAction": "SendDocument"}
    )
    assert status == 500 and b"M.Soap.Doctype" in reply and b"faultcode" in reply
    assert b"<faultcode>soapenv:Client</faultcode>" in reply
    assert legacy.pending(legacy_server) == []
    plain = legacy.envelope(legacy.credentials(legacy_server, legacy.SENDER, "GetOrganizations"))
    plain = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + plain[plain.index(b"<soap:Envelope") :]
    status, _type, reply = legacy_server.post(
        plain, "text/xml; charset=utf-8", {"SOAPAction": "GetOrganizations"}
    )
    assert status == 500 and b"M.Soap.Doctype" in reply


def test_zip_bomb_is_refused_and_nothing_is_kept(gateway: Gateway) -> None:
    """A 20 MB zip of zeros labelled as a PDF: refused with its R. code, no blob, no temp file.

    (The package is written first: its own attachment blob is the only file expected.)"""
    bomb = zip_of({"3f2a.pdf": bytes(20_000_000)})
    package = gateway.document(bomb)
    blobs = gateway.exchange.blobs
    before = kept_blobs(blobs)
    body = envelope("SendDocument", header=security(gateway, SENDER)).replace(
        b"/></s:Body>",
        b"><package>" + base64.b64encode(package) + b"</package></SendDocument></s:Body>",
    )
    status, _headers, reply = gateway.post(body)
    assert status == 500
    assert raw_fault(reply) == {"code": "R.Attachment.Ratio", "standard": CLIENT}
    assert kept_blobs(blobs) == before
    assert gateway.exchange.store.pending(RECEIVER, "document", 10, 0) == []


def test_refused_package_publishes_none_of_its_blobs(gateway: Gateway) -> None:
    """A package invalid for a reason found after its attachment was decoded: the decoded
    attachment is not filed (it was staged)."""
    package = gateway.document(b"%PDF-1.4 " + bytes(range(256)) * 7, subject="")
    blobs = gateway.exchange.blobs
    for digest in blobs.digests():  # the builder filed the attachment: forget it
        blobs.delete(digest)
    _status, _headers, reply = gateway.post(
        envelope("SendDocument", header=security(gateway, SENDER)).replace(
            b"/></s:Body>",
            b"><package>" + base64.b64encode(package) + b"</package></SendDocument></s:Body>",
        )
    )
    assert raw_fault(reply)["code"] == "N.MessageHeader.Subject"
    assert kept_blobs(blobs) == set()


def test_legacy_mime_parts_are_counted_as_they_arrive(
    store_settings: Settings, tmp_path: Path
) -> None:
    running = legacy.Server(replace(store_settings, max_mime_parts=20))
    try:
        parts = [(f"p{n}", "application/pdf", legacy.PDF, "binary") for n in range(10_000)]
        root = legacy.envelope(legacy.MANIFEST, legacy.send_header(running, 71))
        body = legacy.multipart(root, parts, "Bm")
        reply = _post_refused_early(running.port, "/legacy/edoc", body, legacy.swa_type("Bm"))
        assert reply.startswith(b"HTTP/1.0 500") or reply.startswith(b"HTTP/1.1 500"), reply
        assert b"R.Mime.Parts" in reply and b"20 parts" in reply
        blobs = running.admin.blobs
        assert set(blobs.digests()) == set()
        assert list(blobs.tmp_dir.iterdir()) == []
        assert legacy.pending(running) == []
    finally:
        running.close()


def test_legacy_refusal_leaves_no_part_behind(legacy_server: legacy.Server) -> None:
    """Parts are staged: a SendDocument refused after they arrived files none of them."""
    broken = legacy.send_header(legacy_server, 72).replace(
        "<edXML:Subject>V/v thử nghiệm trục liên thông</edXML:Subject>", ""
    )
    parts = [
        ("file1", "application/pdf", legacy.PDF, "binary"),
        ("file2", "application/pdf", legacy.PDF + b"2", "binary"),
    ]
    body = legacy.multipart(legacy.envelope(legacy.MANIFEST, broken), parts, "Bn")
    _status, _type, reply = legacy_server.post(
        body, legacy.swa_type("Bn"), {"SOAPAction": "SendDocument"}
    )
    assert legacy.report(reply)[0] == "false"
    blobs = legacy_server.admin.blobs
    assert kept_blobs(blobs) == set()


def _post_refused_early(port: int, path: str, body: bytes, content_type: str) -> bytes:
    """POST ``body`` while reading the answer: a server that refuses early stops reading, so
    the rest of the body may be refused by the socket (that is the point, not a failure)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"SOAPAction: SendDocument\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:

        def send() -> None:
            with contextlib.suppress(OSError):
                connection.sendall(head + body)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(1 << 16):
                answer += chunk
        sender.join(30)
    return bytes(answer)


def test_edxml_extract_refuses_a_zip_bomb_and_writes_nothing(tmp_path: Path) -> None:
    from tests.fixtures.edxml_build import Att, document
    from tests.integration.test_cli import run_cli

    bomb = document(attachments=[Att(content=zip_of({"a.pdf": bytes(30_000_000)}))])
    source = tmp_path / "bomb.edxml"
    source.write_bytes(bomb)
    out = tmp_path / "out"
    result = run_cli("edxml", "extract", str(source), "-d", str(out))
    assert result.returncode != 0 and "R.Attachment.Ratio" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_legacy_zip_bomb_part_is_refused_on_arrival(legacy_server: legacy.Server) -> None:
    """Once accepted, then inflated into the blob store by every GetDocument that read it."""
    bomb = zip_of({"a.pdf": bytes(30_000_000)})
    parts = [
        ("file1", "application/pdf", bomb, "binary"),
        ("file2", "application/pdf", legacy.PDF, "binary"),
    ]
    root = legacy.envelope(legacy.MANIFEST, legacy.send_header(legacy_server, 73))
    body = legacy.multipart(root, parts, "Bb")
    _status, _type, reply = legacy_server.post(
        body, legacy.swa_type("Bb"), {"SOAPAction": "SendDocument"}
    )
    assert legacy.report(reply) == ("false", ["R.Attachment.Ratio"])
    assert kept_blobs(legacy_server.admin.blobs) == set()
    assert legacy.pending(legacy_server) == []
