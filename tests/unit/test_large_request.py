"""The streaming SOAP request parser used for large SendDocument/SendStatus requests."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from gateway.errors import GatewayError, UnusableInput
from gateway.security.credentials import UsernameToken
from gateway.soap.streaming import SOAP11, SOAP12, WSSE, WSU, read_large_request

PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)


def soap_request(
    package: bytes,
    *,
    soap: str = SOAP11,
    operation: str = "SendDocument",
    security: bool = True,
    wrap: int = 0,
) -> bytes:
    text = base64.b64encode(package)
    if wrap:
        text = b"\n".join(text[i : i + wrap] for i in range(0, len(text), wrap))
    header = b""
    if security:
        nonce = base64.b64encode(b"0123456789abcdef")
        header = (
            b'<soap:Header><wsse:Security xmlns:wsse="%s" xmlns:wsu="%s"><wsse:UsernameToken>'
            b"<wsse:Username>000.00.00.G22</wsse:Username>"
            b'<wsse:Password Type="%s">pw</wsse:Password>'
            b"<wsse:Nonce>%s</wsse:Nonce><wsu:Created>2026-11-21T06:00:00Z</wsu:Created>"
            b"</wsse:UsernameToken></wsse:Security></soap:Header>"
        ) % (WSSE.encode(), WSU.encode(), PASSWORD_TEXT.encode(), nonce)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<soap:Envelope xmlns:soap="%s">%s<soap:Body><tns:%s xmlns:tns="urn:edoc-gateway:soap:v1">'
        b"<tns:package>%s</tns:package></tns:%s></soap:Body></soap:Envelope>"
    ) % (soap.encode(), header, operation.encode(), text, operation.encode())


@pytest.mark.parametrize("soap", [SOAP11, SOAP12])
@pytest.mark.parametrize("wrap", [0, 76])
def test_package_is_decoded_to_a_file(tmp_path: Path, soap: str, wrap: int) -> None:
    package = os.urandom(300_000)
    body = soap_request(package, soap=soap, wrap=wrap)
    seen: list[UsernameToken | None] = []
    request = read_large_request(io.BytesIO(body), len(body), tmp_path, seen.append)
    assert request.package_path.read_bytes() == package
    assert request.operation == "SendDocument" and request.soap_namespace == soap
    assert seen == [request.token]
    assert request.token is not None
    assert request.token.username == "000.00.00.G22"
    assert request.token.password_type == "text"
    assert request.token.nonce == b"0123456789abcdef"
    assert request.token.created == "2026-11-21T06:00:00Z"


def test_authentication_happens_before_the_body_is_read(tmp_path: Path) -> None:
    body = soap_request(os.urandom(2_000_000))
    stream = io.BytesIO(body)

    def refuse(token: UsernameToken | None) -> None:
        raise GatewayError("M.Security.Authentication", "no")

    with pytest.raises(GatewayError):
        read_large_request(stream, len(body), tmp_path, refuse)
    assert stream.tell() < 200_000  # the 2.7 MB body was not read
    assert list(tmp_path.iterdir()) == []  # the spool file is gone


def test_missing_security_header_is_reported_as_none(tmp_path: Path) -> None:
    body = soap_request(b"%PDF", security=False)
    seen: list[UsernameToken | None] = []
    read_large_request(io.BytesIO(body), len(body), tmp_path, seen.append).package_path.unlink()
    assert seen == [None]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<notsoap/>", "M.Soap.Envelope"),
        (soap_request(b"x")[:-40], "M.Soap.Xml"),
        (soap_request(b"x").replace(b"tns:package", b"tns:other"), "N.Soap.Package"),
        (soap_request(b"abc").replace(b"YWJj", b"YW$j"), "M.Soap.Package"),
    ],
)
def test_bad_requests(tmp_path: Path, body: bytes, code: str) -> None:
    with pytest.raises(UnusableInput) as refused:
        read_large_request(io.BytesIO(body), len(body), tmp_path, lambda token: None)
    assert refused.value.code == code
    assert list(tmp_path.iterdir()) == []


def test_body_shorter_than_announced(tmp_path: Path) -> None:
    body = soap_request(b"%PDF")
    with pytest.raises(UnusableInput) as refused:
        read_large_request(io.BytesIO(body), len(body) + 10, tmp_path, lambda token: None)
    assert refused.value.code == "M.Soap.Truncated"
