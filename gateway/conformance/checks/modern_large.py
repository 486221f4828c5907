"""LARGE: the size limit is enforced, and a 50 MB package survives a streamed round trip.

Neither direction holds the package in memory: the upload is the SOAP head, the package file
base64-encoded chunk by chunk, and the tail; the download is decoded by a pull parser into a file.
"""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from gateway.conformance.checks.modern_session import ModernSession
from gateway.conformance.driver import ServiceFault
from gateway.conformance.exchanges import Exchange
from gateway.conformance.modern import TNS, parse_fault
from gateway.conformance.registry import Failed, NotApplicable, assertion, expect
from gateway.conformance.session import Doc
from gateway.edxml.attachments import encode_base64_chunks
from gateway.edxml.reader import read_package
from gateway.soap.streaming import extract_package

CHUNK = 3 << 18  # a multiple of 3: chunks base64-encode without padding in between


@assertion(
    "EDGW-LARGE-001",
    "a body of max_request_bytes + 1 is refused (HTTP 413 or a fault)",
    "wsdl/edoc-gateway.wsdl (GetServiceInfo.maxRequestBytes)",
)
def oversized(s: ModernSession) -> None:
    limit = int(s.info().maxRequestBytes)
    if limit >= s.config.max_oversize_bytes:
        raise NotApplicable(
            f"the limit ({limit} bytes) is beyond what the kit sends "
            f"(--max-oversize {s.config.max_oversize_bytes})"
        )
    head = s.modern.envelope(f'<SendDocument xmlns="{TNS}"><package>', header=None)
    head = head.split(b"<package>")[0] + b"<package>"
    tail = b"</package></SendDocument></s:Body></s:Envelope>"
    pad = limit + 1 - len(head) - len(tail)

    def body() -> Iterator[bytes]:
        yield head
        left = pad
        block = b"A" * (1 << 16)
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield tail

    exchange = s.modern.raw(body(), length=limit + 1)
    if exchange.error:
        raise Failed(f"no answer to an oversized request: {exchange.error}")
    fault = s.modern.raw_fault(exchange)
    expect(
        exchange.status == 413 or fault is not None,
        f"an oversized request got HTTP {exchange.status} without a fault",
    )


@dataclass(frozen=True, slots=True)
class LargeSent:
    doc: Doc
    package_id: str
    package_size: int


def _large_sent(s: ModernSession) -> LargeSent:
    def build() -> LargeSent:
        attachment = max(s.config.large_bytes * 3 // 4, 1024)
        writer = s.blobs.writer()
        writer.write(b"%PDF-1.4\n% edoc-gateway conformance LARGE\n")
        left = attachment - 42
        while left > 0:
            piece = os.urandom(min(left, 1 << 20))
            writer.write(piece)
            left -= len(piece)
        ref = writer.commit()
        from gateway.conformance.session import NOTATION
        from gateway.edxml.model import Code

        number = s.next_number()
        code = Code(number, f"{NOTATION}-{s.tag}")
        pkg, code, date = s.document_from_blob(
            s.modern.agency, (s.peer_driver.agency,), ref, code=code, date=s.today()
        )
        path = s.workdir / "large.edxml"
        s.write_document(pkg, path)
        size = path.stat().st_size
        doc = Doc(
            b"",
            pkg.header.document_id,
            code,
            date,
            s.modern.agency,
            (s.peer_driver.agency,),
            ref.sha256,
            pkg.header.subject,
        )
        package_id = _stream_send(s, path, size)
        return LargeSent(doc, package_id, size)

    return s.scenario("large-sent", build)


def _stream_send(s: ModernSession, path: Path, size: int) -> str:
    envelope = s.modern.envelope(f'<SendDocument xmlns="{TNS}"><package>X</package></SendDocument>')
    head, tail = envelope.split(b">X<")
    head, tail = head + b">", b"<" + tail
    encoded = 4 * ((size + 2) // 3)

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as stream:
            yield from encode_base64_chunks(stream)
        yield tail

    exchange = s.modern.raw(body(), length=len(head) + encoded + len(tail))
    fault = s.modern.raw_fault(exchange)
    if exchange.error or fault is not None or exchange.status != 200:
        raise Failed(
            f"the {size}-byte package was not accepted: HTTP {exchange.status} "
            f"{exchange.error or fault or ''}"
        )
    root = etree.fromstring(
        exchange.response_full, etree.XMLParser(resolve_entities=False, no_network=True)
    )
    package_id = root.findtext(f".//{{{TNS}}}packageId")
    if not package_id:
        raise Failed("the receipt has no packageId")
    return package_id


def _stream_get(s: ModernSession, package_id: str, into: Path) -> None:
    """GetPackage as the peer, decoding the package into ``into`` as it arrives."""
    driver = s.peer_driver
    request = driver.envelope(
        f'<GetPackage xmlns="{TNS}"><packageId>{package_id}</packageId></GetPackage>'
    )
    parts = urlsplit(driver.endpoint)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port or 80, timeout=driver.timeout)
    exchange = Exchange(
        "POST", driver.endpoint, {"Content-Type": driver.content_type}, request, len(request)
    )
    try:
        connection.request("POST", parts.path, request, {"Content-Type": driver.content_type})
        response = connection.getresponse()
        exchange.status = response.status
        if response.status != 200:
            body = response.read()
            exchange.response_body, exchange.response_size = body, len(body)
            fault = parse_fault(body, response.status) or ServiceFault(
                "", f"HTTP {response.status}"
            )
            raise Failed(f"GetPackage of the large package failed: {fault}")
        with into.open("wb") as out:
            extract_package(response, out)
        exchange.response_size = into.stat().st_size
    finally:
        connection.close()
        s.log.record(exchange)


@dataclass(frozen=True, slots=True)
class LargeFetched:
    sent: LargeSent
    sha256: str
    status_package_id: str


def _large_fetched(s: ModernSession) -> LargeFetched:
    def build() -> LargeFetched:
        large = _large_sent(s)
        with tempfile.TemporaryDirectory(dir=s.workdir) as scratch:
            target = Path(scratch) / "fetched.edxml"
            _stream_get(s, large.package_id, target)
            pkg = read_package(target, s.blobs)
            attachments = getattr(pkg, "attachments", ())
            sha = attachments[0].file.sha256 if attachments else ""
        confirmation = s.peer_driver.confirm(large.package_id, "ok")
        return LargeFetched(large, sha, confirmation.status_package_id)

    return s.scenario("large-fetched", build)


@assertion(
    "EDGW-LARGE-002",
    "a 50 MB package sent as a streamed request is accepted",
    "ref §2.5 (size); DESIGN §5 (streaming)",
)
def large_send(s: ModernSession) -> None:
    large = _large_sent(s)
    expect(
        large.package_size >= s.config.large_bytes * 0.95,
        f"the package is only {large.package_size} bytes",
    )


@assertion(
    "EDGW-LARGE-003",
    "the 50 MB package's attachment has the same SHA-256 after GetPackage",
    "ref §2.5; DESIGN §3",
)
def large_round_trip(s: ModernSession) -> None:
    fetched = _large_fetched(s)
    expect(
        fetched.sha256 == fetched.sent.doc.attachment_sha256,
        f"attachment SHA-256 {fetched.sha256} != sent {fetched.sent.doc.attachment_sha256}",
    )


@assertion(
    "EDGW-LARGE-004",
    "confirming the 50 MB package sends STATUS 01 like any other",
    "ND 30/2020 Art. 21",
)
def large_confirm(s: ModernSession) -> None:
    fetched = _large_fetched(s)
    expect(fetched.status_package_id, "no STATUS 01 for the large package")
