"""SOAP envelopes before spyne sees them: the version, the operation and the WS-Security token.

The head of a request (prolog, ``Header``, and the start of the ``Body``'s first child) is read
with a pull parser that stops there, so authentication costs the same for a 1 KB and a 200 MB
request, and the streaming path can use it on a body spooled to disk.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Iterable
from dataclasses import dataclass

import pybase64
from lxml import etree

from gateway.errors import AuthenticationFailed, FaultSide, LimitExceeded, SoapFormatError
from gateway.safexml import has_doctype, pull_parser
from gateway.security.credentials import UsernameToken

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_SECURITY = f"{{{WSSE}}}Security"
MAX_HEAD_BYTES = 1 << 20
"""How far into a request the Body must have started: the head is read before authentication,
so an anonymous caller must not be able to make it large."""


class SoapVersion(enum.Enum):
    """The two SOAP versions served at the same address, told apart by the Content-Type."""

    SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
    SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

    @property
    def namespace(self) -> str:
        return self.value

    @property
    def media_type(self) -> str:
        return "text/xml" if self is SoapVersion.SOAP11 else "application/soap+xml"

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    def fault_code(self, side: FaultSide) -> str:
        """The standard fault code's local name: SOAP 1.2 renamed Client/Server."""
        if self is SoapVersion.SOAP11:
            return side.value
        return "Sender" if side is FaultSide.CLIENT else "Receiver"

    def fault_status(self, side: FaultSide) -> int:
        """HTTP status of a fault: 500 always in SOAP 1.1; 400 for a Sender fault in 1.2."""
        if self is SoapVersion.SOAP12 and side is FaultSide.CLIENT:
            return 400
        return 500

    @classmethod
    def from_media_type(cls, media_type: str) -> SoapVersion | None:
        for version in cls:
            if version.media_type == media_type:
                return version
        return None


def refuse_doctype(element: etree._Element) -> None:
    """SOAP forbids a DTD in a message (SOAP 1.1 §3, SOAP 1.2 part 1 §5)."""
    if has_doctype(element):
        raise SoapFormatError(
            "M.Soap.Doctype", "a SOAP message must not contain a DOCTYPE declaration", "line 1"
        )


@dataclass(frozen=True, slots=True)
class EnvelopeHead:
    """What is known before the body is parsed."""

    operation: str
    """Local name of the Body's first child (the wrapped operation element); empty if none."""
    security: etree._Element | None
    """The ``wsse:Security`` header block, if any."""


def read_head(chunks: Iterable[bytes], version: SoapVersion) -> EnvelopeHead:
    """Parse until the Body's first child starts; the rest of the input is never read.

    ``version`` is the one the Content-Type announced; an envelope of the other version is
    refused rather than guessed at.
    """
    parser = pull_parser()
    envelope = f"{{{version.namespace}}}Envelope"
    header, body = f"{{{version.namespace}}}Header", f"{{{version.namespace}}}Body"
    depth = 0
    in_body = False
    security: etree._Element | None = None
    consumed = 0
    try:
        for chunk in chunks:
            consumed += len(chunk)
            parser.feed(chunk)
            for event, element in parser.read_events():
                if not isinstance(element, etree._Element):
                    continue
                if event == "end":
                    depth -= 1
                    if depth == 2 and element.tag == _SECURITY and security is None:
                        security = element  # a complete header block, child of Header
                    continue
                depth += 1
                _refuse_undeclared_prefix(element)
                if depth == 1:
                    refuse_doctype(element)
                    if element.tag != envelope:
                        raise _not_an_envelope(element.tag, version)
                elif depth == 2:
                    in_body = element.tag == body
                    if element.tag not in (header, body):
                        raise SoapFormatError(
                            "M.Soap.Envelope",
                            f"unexpected element {element.tag} in the SOAP Envelope",
                            "/Envelope",
                        )
                elif depth == 3 and in_body:
                    return EnvelopeHead(etree.QName(element).localname, security)
            if consumed > MAX_HEAD_BYTES:
                raise LimitExceeded(
                    "R.Soap.Header", f"the SOAP Header is larger than {MAX_HEAD_BYTES} bytes"
                )
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise SoapFormatError("M.Soap.Xml", f"the request is not well-formed XML: {exc}") from None
    return EnvelopeHead("", security)


def _refuse_undeclared_prefix(element: etree._Element) -> None:
    """libxml2 reports an undeclared prefix as a recoverable error and keeps ``a:b`` as the
    name, which no namespace-aware code can handle: the request is not namespace-well-formed."""
    names = [str(element.tag), *(str(name) for name in element.attrib)]
    for name in names:
        if ":" in name and not name.startswith("{"):
            prefix = name.partition(":")[0]
            raise SoapFormatError(
                "M.Soap.Xml",
                f"the request is not well-formed XML: the prefix {prefix!r} of <{name}> is not "
                "declared",
                f"/{name}",
            )


def _not_an_envelope(tag: str, version: SoapVersion) -> SoapFormatError:
    other = SoapVersion.SOAP12 if version is SoapVersion.SOAP11 else SoapVersion.SOAP11
    if tag == f"{{{other.namespace}}}Envelope":
        return SoapFormatError(
            "M.Soap.VersionMismatch",
            f"the Content-Type {version.media_type} announces SOAP "
            f"{'1.1' if version is SoapVersion.SOAP11 else '1.2'} but the envelope is the "
            f"other version (use {other.media_type} for it)",
            "/Envelope",
        )
    return SoapFormatError("M.Soap.Envelope", f"the root element {tag} is not a SOAP Envelope")


def username_token(security: etree._Element) -> UsernameToken:
    """The UsernameToken of a ``wsse:Security`` block, or AuthenticationFailed saying what is off.

    ``Password/@Type`` may be the profile URI or a ``wsse:`` QName; absent means PasswordText
    (the profile's default). ``Created`` is accepted in ``wsu:`` (the profile) or ``wsse:``.
    """
    token = security.find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        raise AuthenticationFailed("the wsse:Security header has no UsernameToken")
    username = _text(token, f"{{{WSSE}}}Username")
    password_element = token.find(f"{{{WSSE}}}Password")
    if not username or password_element is None:
        raise AuthenticationFailed("the UsernameToken needs a Username and a Password")
    kind = (password_element.get("Type") or "PasswordText").rpartition("#")[2]
    kind = kind.rpartition(":")[2]
    if kind not in ("PasswordDigest", "PasswordText"):
        raise AuthenticationFailed(f"unknown Password Type {password_element.get('Type')!r}")
    nonce_text = _text(token, f"{{{WSSE}}}Nonce")
    try:
        nonce = pybase64.b64decode(nonce_text, validate=True) if nonce_text else None
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("the Nonce is not base64") from None
    created = _text(token, f"{{{WSU}}}Created") or _text(token, f"{{{WSSE}}}Created")
    return UsernameToken(
        username=username,
        password=password_element.text or "",
        password_type="digest" if kind == "PasswordDigest" else "text",
        nonce=nonce,
        created=created or None,
    )


def _text(parent: etree._Element, tag: str) -> str:
    element = parent.find(tag)
    return (element.text or "").strip() if element is not None else ""
