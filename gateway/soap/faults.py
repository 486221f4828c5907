"""SOAP faults built from gateway errors, the same way whether spyne or the WSGI layer answers.

Every fault has the standard code for whose fault it is (SOAP 1.1 ``Client``/``Server``, SOAP 1.2
``Sender``/``Receiver``, the latter with the gateway code as a ``Subcode``), ``code: message`` as
its text, and a ``tns:GatewayFault`` detail entry (declared in the WSDL) with the code, path,
message and one ``finding`` per finding.
"""

from __future__ import annotations

import re

from lxml import etree

from gateway.errors import FaultSide, GatewayError
from gateway.soap.envelope import SoapVersion
from gateway.soap.types import TNS

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")


class InternalError(GatewayError):
    """An unexpected failure: the client learns only the request id to quote."""

    side = FaultSide.SERVER

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "Server.Internal",
            f"the gateway failed to process the request; quote request id {request_id} "
            "to its operator",
        )


def spyne_fault_error(faultcode: str, faultstring: str) -> GatewayError:
    """A gateway error for one of spyne's own faults (XML syntax, validation, unknown operation).

    spyne writes ``Client.ValidationError`` and the like; the part after ``Client.`` becomes the
    gateway code ``M.Soap.ValidationError``. Long texts (spyne may quote the input) are cut.
    """
    side_name, _, kind = faultcode.partition(".")
    side = FaultSide.CLIENT if side_name == "Client" else FaultSide.SERVER
    error = GatewayError(f"M.Soap.{kind or side_name}", faultstring[:500])
    error.side = side
    return error


def detail_entry(error: GatewayError) -> etree._Element:
    """``<tns:GatewayFault>`` with the error and its findings."""
    entry = etree.Element(f"{{{TNS}}}GatewayFault", nsmap={"tns": TNS})
    for name, value in (("code", error.code), ("path", error.path), ("message", error.message)):
        etree.SubElement(entry, f"{{{TNS}}}{name}").text = value
    for finding in error.findings:
        item = etree.SubElement(entry, f"{{{TNS}}}finding")
        for name, value in finding.as_dict().items():
            etree.SubElement(item, f"{{{TNS}}}{name}").text = value
    return entry


def fault_element(version: SoapVersion, error: GatewayError) -> etree._Element:
    """The ``Fault`` element of the given SOAP version for ``error``."""
    env = version.namespace
    fault = etree.Element(f"{{{env}}}Fault", nsmap={"soap": env})
    text = f"{error.code}: {error.message}"
    standard = f"soap:{version.fault_code(error.side)}"
    if version is SoapVersion.SOAP11:
        etree.SubElement(fault, "faultcode").text = standard
        etree.SubElement(fault, "faultstring").text = text
        etree.SubElement(fault, "detail").append(detail_entry(error))
        return fault
    code = etree.SubElement(fault, f"{{{env}}}Code")
    etree.SubElement(code, f"{{{env}}}Value").text = standard
    if _NCNAME.fullmatch(error.code):  # a Subcode value must be a QName
        subcode = etree.SubElement(code, f"{{{env}}}Subcode")
        value = etree.SubElement(subcode, f"{{{env}}}Value", nsmap={"tns": TNS})
        value.text = f"tns:{error.code}"
    reason = etree.SubElement(fault, f"{{{env}}}Reason")
    etree.SubElement(reason, f"{{{env}}}Text", {_XML_LANG: "en"}).text = text
    etree.SubElement(fault, f"{{{env}}}Detail").append(detail_entry(error))
    return fault


def fault_envelope(version: SoapVersion, error: GatewayError) -> bytes:
    """A whole response envelope carrying the fault, for answers given before spyne runs."""
    env = version.namespace
    envelope = etree.Element(f"{{{env}}}Envelope", nsmap={"soap": env})
    etree.SubElement(envelope, f"{{{env}}}Body").append(fault_element(version, error))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
