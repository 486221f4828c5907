"""Large SOAP requests, parsed without a DOM of the body.

A SendDocument carrying a 200 MB package is base64 inside XML inside base64... spyne would
build it all in memory several times over. This parser reads the request in chunks with an lxml
pull parser: the (small) SOAP header becomes available first, so the caller can authenticate
before the body is read; the operation element's ``package`` text is base64-decoded chunk by
chunk into a temporary file, then handed to the edXML reader, which streams in turn. The tree
never holds more than one chunk of the package text (the same technique as
:mod:`gateway.edxml.reader`).
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from gateway.edxml.attachments import Base64StreamDecoder
from gateway.errors import GatewayError, LimitExceeded, UnusableInput
from gateway.security.credentials import UsernameToken

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
CHUNK = 1 << 16
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LargeRequest:
    """What a streamed request carried: the operation, its SOAP version, the package on disk."""

    operation: str
    soap_namespace: str
    token: UsernameToken | None
    package_path: Path


def username_token(security: etree._Element) -> UsernameToken | None:
    """The UsernameToken of a ``wsse:Security`` header, or None when there is none."""
    token = security.find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        return None
    password = token.find(f"{{{WSSE}}}Password")
    nonce_el = token.find(f"{{{WSSE}}}Nonce")
    created_el = token.find(f"{{{WSU}}}Created")
    if created_el is None:
        created_el = token.find(f"{{{WSSE}}}Created")
    nonce = None
    if nonce_el is not None and nonce_el.text:
        try:
            nonce = base64.b64decode(nonce_el.text.strip(), validate=True)
        except binascii.Error:
            raise GatewayError(
                "M.Security.Nonce", "wsse:Nonce is not base64", "/Envelope/Header/Security"
            ) from None
    password_type = password.get("Type", DIGEST_TYPE) if password is not None else DIGEST_TYPE
    return UsernameToken(
        username=(token.findtext(f"{{{WSSE}}}Username") or "").strip(),
        password=(password.text or "") if password is not None else "",
        password_type="text" if password_type.endswith("#PasswordText") else "digest",
        nonce=nonce,
        created=(created_el.text or "").strip() if created_el is not None else None,
    )


def read_large_request(
    body: BinaryIO,
    length: int,
    workdir: Path,
    authenticate: Callable[[UsernameToken | None], None],
    *,
    package_element: str = "package",
) -> LargeRequest:
    """Parse a SOAP request of ``length`` bytes from ``body`` without a DOM of its body.

    ``authenticate`` is called with the header's UsernameToken as soon as the header has been
    read, before any of the body; if it raises, nothing more is read. The caller owns (and must
    delete) ``package_path``.
    """
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )
    with tempfile.NamedTemporaryFile(
        dir=workdir, prefix="request-", suffix=".edxml", delete=False
    ) as spool:
        path = Path(spool.name)
        try:
            state = _feed(parser, body, length, Base64StreamDecoder(spool), authenticate)
        except BaseException:
            spool.close()
            path.unlink(missing_ok=True)
            raise
    if not state.operation or not state.package_seen:
        path.unlink(missing_ok=True)
        raise UnusableInput(
            "N.Soap.Package",
            f"no <{package_element}> element in the SOAP body of a large request "
            "(only SendDocument and SendStatus may be this large)",
        )
    assert state.envelope_namespace is not None
    return LargeRequest(state.operation, state.envelope_namespace, state.token, path)


def _feed(
    parser: etree.XMLPullParser,
    body: BinaryIO,
    length: int,
    decoder: Base64StreamDecoder,
    authenticate: Callable[[UsernameToken | None], None],
) -> _State:
    state = _State(decoder)
    remaining = length
    while remaining > 0:
        chunk = body.read(min(CHUNK, remaining))
        if not chunk:
            raise UnusableInput("M.Soap.Truncated", "the request body ended early")
        remaining -= len(chunk)
        try:
            parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise UnusableInput(
                "M.Soap.Xml", f"the SOAP request is not well-formed ({exc})"
            ) from None
        state.consume(parser.read_events(), authenticate)
        state.drain()
        if state.header_bytes_exceeded(length - remaining):
            raise LimitExceeded("R.Soap.Header", "the SOAP header is larger than 1 MiB")
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise UnusableInput("M.Soap.Xml", f"the SOAP request is not well-formed ({exc})") from None
    state.consume(parser.read_events(), authenticate)
    decoder.close()
    if decoder.invalid_characters or decoder.dangling_characters:
        raise UnusableInput("M.Soap.Package", "the package is not valid base64")
    return state


class _State:
    """Where the pull parser is: envelope, header, body, the operation, its package element."""

    def __init__(self, decoder: Base64StreamDecoder) -> None:
        self.decoder = decoder
        self.depth = 0
        self.envelope_namespace: str | None = None
        self.token: UsernameToken | None = None
        self.authenticated = False
        self.operation = ""
        self.package: etree._Element | None = None
        self.package_seen = False
        self.in_header = False

    def header_bytes_exceeded(self, consumed: int) -> bool:
        return not self.authenticated and consumed > MAX_HEADER_BYTES

    def consume(
        self,
        events: object,
        authenticate: Callable[[UsernameToken | None], None],
    ) -> None:
        for event, element in events:  # type: ignore[attr-defined]
            if not isinstance(element, etree._Element):
                continue
            tag = element.tag
            if event == "start":
                self.depth += 1
                self._start(element, str(tag), authenticate)
            else:
                self.depth -= 1
                if element is self.package:
                    self.drain()  # the element's last text arrived with its end event
                    self.package = None
                elif self.in_header and self.depth == 1:
                    self.in_header = False

    def _start(
        self,
        element: etree._Element,
        tag: str,
        authenticate: Callable[[UsernameToken | None], None],
    ) -> None:
        namespace = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
        name = tag.rsplit("}", 1)[-1]
        if self.depth == 1:
            if name != "Envelope" or namespace not in (SOAP11, SOAP12):
                raise UnusableInput(
                    "M.Soap.Envelope", f"<{name}> is not a SOAP 1.1 or 1.2 Envelope", "/" + name
                )
            self.envelope_namespace = namespace
        elif self.depth == 2 and name == "Header":
            self.in_header = True
        elif self.depth == 2 and name == "Body":
            header = element.getprevious()
            security = None
            if header is not None:
                security = header.find(f"{{{WSSE}}}Security")
            self.token = username_token(security) if security is not None else None
            authenticate(self.token)
            self.authenticated = True
        elif self.depth == 3 and self.authenticated:
            self.operation = name
        elif self.depth == 4 and self.operation and name == "package":
            self.package = element
            self.package_seen = True

    def drain(self) -> None:
        """Decode the package text received so far and drop it from the tree."""
        if self.package is not None and self.package.text:
            self.decoder.feed(self.package.text)
            self.package.text = None
