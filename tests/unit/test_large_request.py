"""Extracting the package of a large SOAP request by streaming (gateway.soap.streaming)."""

from __future__ import annotations

import base64
import io
import os

import pytest

from gateway.errors import UnusableInput
from gateway.soap.streaming import extract_package

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def soap_request(
    package: bytes, *, soap: str = SOAP11, operation: str = "SendDocument", wrap: int = 0
) -> bytes:
    text = base64.b64encode(package)
    if wrap:
        text = b"\n".join(text[i : i + wrap] for i in range(0, len(text), wrap))
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<soap:Envelope xmlns:soap="%s"><soap:Header><x:Other xmlns:x="urn:x"><x:package>'
        b"bm90IHRoaXM=</x:package></x:Other></soap:Header><soap:Body>"
        b'<tns:%s xmlns:tns="urn:edoc-gateway:soap:v1"><tns:package>%s</tns:package></tns:%s>'
        b"</soap:Body></soap:Envelope>"
    ) % (soap.encode(), operation.encode(), text, operation.encode())


@pytest.mark.parametrize("soap", [SOAP11, SOAP12])
@pytest.mark.parametrize("wrap", [0, 76])
def test_package_is_decoded_by_streaming(soap: str, wrap: int) -> None:
    package = os.urandom(700_000)  # several chunks of base64, split at arbitrary places
    out = io.BytesIO()
    assert (
        extract_package(io.BytesIO(soap_request(package, soap=soap, wrap=wrap)), out)
        == "SendDocument"
    )
    assert out.getvalue() == package  # the header's own <package> element is ignored


def test_status_operation() -> None:
    out = io.BytesIO()
    assert (
        extract_package(io.BytesIO(soap_request(b"%PDF", operation="SendStatus")), out)
        == "SendStatus"
    )
    assert out.getvalue() == b"%PDF"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (soap_request(b"x")[:-40], "M.Soap.Xml"),
        (soap_request(b"x").replace(b"tns:package", b"tns:other"), "N.Soap.Package"),
        (soap_request(b"abc").replace(b"YWJj", b"YW$j"), "M.Soap.Package"),
    ],
)
def test_bad_requests(body: bytes, code: str) -> None:
    with pytest.raises(UnusableInput) as refused:
        extract_package(io.BytesIO(body), io.BytesIO())
    assert refused.value.code == code
