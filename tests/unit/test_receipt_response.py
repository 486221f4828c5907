"""The receipt response the package handler writes is, byte for byte, what spyne's serializer
writes for the same receipt (the WSDL's Receipt type, as every client stack reads it)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from spyne.util.xml import get_object_as_xml

from gateway.catalogue import Language
from gateway.errors import Finding, Severity
from gateway.exchange import Receipt
from gateway.soap.envelope import SoapVersion
from gateway.soap.protocol import build_application
from gateway.soap.service import EdocGatewayService, receipt_type
from gateway.soap.streaming import receipt_response

ICT = dt.timezone(dt.timedelta(hours=7))
HEADER = "/edXMLEnvelope/edXMLHeader/MessageHeader"
WARNINGS = (
    Finding("W.Attachment.Name", "/edXMLEnvelope/Attachment[1]", "tên <&> tệp", Severity.WARNING),
    Finding("W.MessageHeader.Unknown", f"{HEADER}/X", "", Severity.WARNING),
)


def _spyne_response(
    version: SoapVersion, operation: str, receipt: Receipt, language: Language
) -> bytes:
    """The oracle: spyne's own serializer for the operation's out message."""
    build_application(version)  # spyne resolves the service's namespaces when it is built
    out_message = EdocGatewayService.public_methods[operation].out_message
    payload = get_object_as_xml(
        out_message(receipt=receipt_type(receipt, language)), out_message
    )
    envelope = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"soap": version.namespace})
    etree.SubElement(envelope, f"{{{version.namespace}}}Body").append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _receipt(**changes: object) -> Receipt:
    values: dict[str, object] = {
        "package_id": "5132554e-70c8-4285-9894-c4e7373ba8d3",
        "kind": "document",
        "received_at": dt.datetime(2026, 12, 4, 2, 3, 4, 123456, tzinfo=dt.UTC),
        "duplicate": False,
        "warnings": (),
        "signed_receipt": b"<?xml version='1.0'?>\n<Receipt/>\n",
        "signature_status": "absent",
        "signature_reason": "",
    }
    values.update(changes)
    return Receipt(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", list(SoapVersion), ids=lambda v: v.name)
@pytest.mark.parametrize("operation", ["SendDocument", "SendStatus"])
@pytest.mark.parametrize(
    "receipt",
    [
        _receipt(),
        _receipt(duplicate=True, kind="status", signature_status="valid", signature_reason="ok"),
        _receipt(received_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=ICT), signed_receipt=b""),
        _receipt(warnings=WARNINGS[:1]),
        _receipt(warnings=WARNINGS, signature_reason="chữ ký không hợp lệ: <bad>"),
    ],
    ids=["plain", "duplicate-status", "ict-whole-second", "one-warning", "two-warnings"],
)
@pytest.mark.parametrize("language", list(Language), ids=lambda language: language.name)
def test_the_receipt_response_is_spyne_s_own(
    version: SoapVersion, operation: str, receipt: Receipt, language: Language
) -> None:
    assert receipt_response(version, operation, receipt, language) == _spyne_response(
        version, operation, receipt, language
    )
