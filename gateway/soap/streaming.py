"""SendDocument and SendStatus without spyne, and large responses streamed.

A SendDocument carrying a 200 MB package is base64 inside XML; spyne would hold it in memory
several times over. The WSGI app spools such a request to disk and authenticates it from the
envelope head; this handler then reads the spooled body with an lxml pull parser, decodes the
``package`` text chunk by chunk into a temporary file (the tree never holds more than one chunk
of it, the technique of :mod:`gateway.edxml.reader`), hands that file to the exchange, whose
reader streams in turn, and answers with the same response spyne would have written.

A small SendDocument takes the same way, decoded into memory: spyne's request machinery (its
context, events, DOM and serialiser) cost more CPU than the rest of the answer.
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any

from lxml import etree
from spyne.util.xml import get_object_as_xml

from gateway.catalogue import Language, render
from gateway.edxml.attachments import Base64StreamDecoder, encode_base64_chunks
from gateway.errors import LimitExceeded, UnusableInput
from gateway.exchange import Exchange, PackageContent, Receipt
from gateway.safexml import pull_parser, tree_parser
from gateway.soap.app import (
    LargeResponseHandler,
    PackageRequestHandler,
    SoapRequest,
    needs_streaming,
)
from gateway.soap.envelope import SoapVersion
from gateway.soap.service import (
    PACKAGE_OPERATIONS,
    EdocGatewayService,
    package_reply,
)
from gateway.soap.types import TNS
from gateway.web import send_bytes

CHUNK = 1 << 16


def extract_package(body: IO[bytes], into: IO[bytes]) -> str:
    """Decode the operation's ``package`` into ``into``; returns the operation's name.

    ``body`` is a whole SOAP envelope (already checked and authenticated by the app).
    """
    parser = pull_parser()
    decoder = Base64StreamDecoder(into)
    state = _State(decoder)
    try:
        for chunk in _chunks(body):
            parser.feed(chunk)
            state.consume(parser.read_events())
            state.drain()
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise UnusableInput("M.Soap.Xml", f"the SOAP request is not well-formed ({exc})") from None
    state.consume(parser.read_events())
    decoder.close()
    if not state.package_seen:
        raise UnusableInput(
            "N.Soap.Package",
            f"no <package> element in the {state.operation or 'SOAP'} body",
            "/Envelope/Body",
        )
    if decoder.invalid_characters or decoder.dangling_characters:
        raise UnusableInput("M.Soap.Package", "the package is not valid base64", "/Envelope/Body")
    return state.operation


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(CHUNK):
        yield chunk


class _State:
    """Where the pull parser is: the Body's operation element and its ``package`` child."""

    def __init__(self, decoder: Base64StreamDecoder) -> None:
        self.decoder = decoder
        self.depth = 0
        self.in_body = False
        self.operation = ""
        self.package: etree._Element | None = None
        self.package_seen = False

    def consume(self, events: Iterable[tuple[str, Any]]) -> None:
        for event, element in events:
            if not isinstance(element, etree._Element):
                continue
            if event == "start":
                self.depth += 1
                name = str(element.tag).rsplit("}", 1)[-1]
                if self.depth == 2:
                    self.in_body = name == "Body"
                elif self.depth == 3 and self.in_body:
                    self.operation = name
                elif self.depth == 4 and self.in_body and name == "package":
                    self.package = element
                    self.package_seen = True
            else:
                self.depth -= 1
                if element is self.package:
                    self.drain()  # the element's last text arrived with its end event
                    self.package = None

    def drain(self) -> None:
        """Decode the package text received so far and drop it from the tree."""
        if self.package is not None and self.package.text:
            self.decoder.feed(self.package.text)
            self.package.text = None


def receipt_response(
    version: SoapVersion, operation: str, receipt: Receipt, language: Language = Language.BOTH
) -> bytes:
    """The SOAP response spyne writes for SendDocument/SendStatus, byte for byte (the unit
    tests hold it to spyne's own serializer), built directly: spyne's serializer was a tenth
    of a small send's CPU."""
    envelope = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"soap": version.namespace})
    body = etree.SubElement(envelope, f"{{{version.namespace}}}Body")
    response = etree.SubElement(body, _tns(f"{operation}Response"), nsmap={"ns0": TNS})
    fields = etree.SubElement(response, _tns("receipt"))
    _leaf(fields, "packageId", receipt.package_id)
    _leaf(fields, "kind", receipt.kind)
    _leaf(fields, "receivedAt", receipt.received_at.isoformat())
    _leaf(fields, "duplicate", "true" if receipt.duplicate else "false")
    warnings = etree.SubElement(fields, _tns("warnings"))
    for finding in receipt.warnings:
        warning = etree.SubElement(warnings, _tns("warning"))
        _leaf(warning, "code", finding.code)
        _leaf(warning, "path", finding.path)
        _leaf(warning, "message", render(finding.code, finding.message, language))
        _leaf(warning, "severity", finding.severity.value)
    _leaf(fields, "signatureStatus", receipt.signature_status)
    _leaf(fields, "signatureReason", receipt.signature_reason)
    _leaf(fields, "signedReceipt", base64.b64encode(receipt.signed_receipt).decode("ascii"))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _tns(name: str) -> str:
    return f"{{{TNS}}}{name}"


def _leaf(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, _tns(name)).text = text


_CONTENT_MARK = "EDOC-GATEWAY-PACKAGE-CONTENT"


def package_response(version: SoapVersion, content: PackageContent) -> tuple[int, Iterator[bytes]]:
    """GetPackage's response with the package base64-encoded from its blob as it is sent.

    spyne serialises the reply around a marker; the marker becomes the streamed base64, so the
    bytes are exactly what spyne would write, without the package ever being in memory.
    Returns the length (for Content-Length) and the chunks.
    """
    out_message = EdocGatewayService.public_methods["GetPackage"].out_message
    names = list(out_message._type_info.keys())
    values = dict(zip(names, package_reply(content, b""), strict=True))
    payload = get_object_as_xml(out_message(**values), out_message)
    slot = payload.find(f"{{{payload.nsmap[payload.prefix]}}}package")
    assert slot is not None, "GetPackageResponse has a package element"
    slot.text = _CONTENT_MARK
    envelope = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"soap": version.namespace})
    etree.SubElement(envelope, f"{{{version.namespace}}}Body").append(payload)
    head, tail = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8").split(
        _CONTENT_MARK.encode(), 1
    )
    encoded_length = 4 * ((content.size + 2) // 3)

    def chunks() -> Iterator[bytes]:
        yield head
        with content.open() as stream:
            yield from encode_base64_chunks(stream)
        yield tail

    return len(head) + encoded_length + len(tail), chunks()


def _requested_package_id(body: IO[bytes]) -> str:
    """The packageId of a (small) GetPackage request."""
    try:
        root = etree.fromstring(body.read(), tree_parser())
    except etree.XMLSyntaxError as exc:
        raise UnusableInput("M.Soap.Xml", f"the SOAP request is not well-formed ({exc})") from None
    for element in root.iter():
        if str(element.tag).rsplit("}", 1)[-1] == "packageId":
            return (element.text or "").strip()
    return ""


def large_response_handler(exchange: Exchange) -> LargeResponseHandler:
    """Streams GetPackage replies whose package exceeds the stream threshold (see ``make_app``)."""

    def handle(request: SoapRequest, respond: Any) -> Iterable[bytes] | None:
        if request.head.operation != "GetPackage" or not request.agency:
            return None
        package_id = _requested_package_id(request.body)
        content = exchange.get_package(request.agency, package_id)
        if content.size <= exchange.settings.stream_threshold_bytes:
            return None
        length, chunks = package_response(request.version, content)
        respond(
            "200 OK",
            [("Content-Type", request.version.content_type), ("Content-Length", str(length))],
        )
        return chunks

    return handle


def package_request_handler(exchange: Exchange) -> PackageRequestHandler:
    """The app's handler for SendDocument and SendStatus, and for every request past the
    stream threshold (see ``make_app``): the package is decoded from the body with the pull
    parser, into memory when the request is small, into a spooled file when it is not."""

    def handle(request: SoapRequest, respond: Any) -> list[bytes]:
        operation = request.head.operation
        if operation not in PACKAGE_OPERATIONS:
            raise LimitExceeded(
                "R.Soap.Size",
                f"{operation} requests are limited to "
                f"{exchange.settings.stream_threshold_bytes} bytes; only SendDocument and "
                "SendStatus may carry large packages",
            )
        send = exchange.send_document if operation == "SendDocument" else exchange.send_status
        if not needs_streaming(request.size, exchange.settings):
            package = io.BytesIO()
            extract_package(request.body, package)
            receipt = send(request.agency, package.getvalue())
        else:
            with tempfile.NamedTemporaryFile(
                dir=exchange.spool_dir, prefix="edoc-package-", suffix=".edxml"
            ) as spool:
                extract_package(request.body, spool)
                spool.flush()
                receipt = send(request.agency, Path(spool.name))
        language = exchange.settings.message_languages.for_agency(request.agency)
        body = receipt_response(request.version, operation, receipt, language)
        return send_bytes(respond, HTTPStatus.OK, request.version.content_type, body)

    return handle
