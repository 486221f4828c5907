"""SOAP faults built from gateway errors, the same way whether spyne or the WSGI layer answers.

Every fault has the standard code for whose fault it is (SOAP 1.1 ``Client``/``Server``, SOAP 1.2
``Sender``/``Receiver``, the latter with the gateway code as a ``Subcode``), ``code: message`` as
its text, and a ``tns:GatewayFault`` detail entry (declared in the WSDL) with the code, path,
message and one ``finding`` per finding. Messages are rendered in the caller's language
(:func:`gateway.catalogue.render`); codes and paths are never translated.

The standard code is a QName in element *text*, so its prefix must be declared where it is read:
lxml drops a moved element's declarations its new parent already makes under another prefix
(spyne's envelope says ``soap11env``), and Mono/.NET and Axis refuse or mangle a code whose prefix
is not in scope. :func:`append_fault` therefore writes the QNames after the fault is in place,
with the prefixes in scope there.
"""

from __future__ import annotations

import re

from lxml import etree

from gateway.catalogue import Language, render
from gateway.errors import FaultSide, GatewayError
from gateway.errors import InternalError as InternalError
from gateway.soap.envelope import SoapVersion
from gateway.soap.types import TNS

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")


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


def detail_entry(error: GatewayError, language: Language = Language.BOTH) -> etree._Element:
    """``<tns:GatewayFault>`` with the error and its findings."""
    entry = etree.Element(f"{{{TNS}}}GatewayFault", nsmap={"tns": TNS})
    message = render(error.code, error.message, language)
    for name, value in (("code", error.code), ("path", error.path), ("message", message)):
        etree.SubElement(entry, f"{{{TNS}}}{name}").text = value
    for finding in error.findings:
        item = etree.SubElement(entry, f"{{{TNS}}}finding")
        fields = finding.as_dict()
        fields["message"] = render(finding.code, finding.message, language)
        for name, value in fields.items():
            etree.SubElement(item, f"{{{TNS}}}{name}").text = value
    return entry


def _qname_text(element: etree._Element, namespace: str, local: str) -> str:
    """``prefix:local`` with a prefix that ``element`` has in scope for ``namespace``."""
    for prefix, uri in element.nsmap.items():
        if uri == namespace:
            return f"{prefix}:{local}" if prefix else local
    raise ValueError(f"no prefix in scope for {namespace}")  # fault_element declares both


def _write_qnames(fault: etree._Element, version: SoapVersion, error: GatewayError) -> None:
    """Set the standard code (and SOAP 1.2 Subcode) with the prefixes in scope where they are."""
    env = version.namespace
    local = version.fault_code(error.side)
    if version is SoapVersion.SOAP11:
        code = fault.find("faultcode")
        assert code is not None
        code.text = _qname_text(code, env, local)
        return
    value = fault.find(f"{{{env}}}Code/{{{env}}}Value")
    assert value is not None
    value.text = _qname_text(value, env, local)
    sub = fault.find(f"{{{env}}}Code/{{{env}}}Subcode/{{{env}}}Value")
    if sub is not None:
        sub.text = _qname_text(sub, TNS, error.code)


def append_fault(
    parent: etree._Element,
    version: SoapVersion,
    error: GatewayError,
    language: Language = Language.BOTH,
) -> etree._Element:
    """Append ``error``'s ``Fault`` to ``parent`` (a SOAP Body), its QNames valid where it lands."""
    fault = fault_element(version, error, language)
    parent.append(fault)
    _write_qnames(fault, version, error)
    return fault


def fault_element(
    version: SoapVersion, error: GatewayError, language: Language = Language.BOTH
) -> etree._Element:
    """The ``Fault`` element of the given SOAP version for ``error``, in ``language``.

    Standalone, its QNames use its own ``soap``/``tns`` declarations; to put it in another tree
    use :func:`append_fault`, which rewrites them with the prefixes in scope there.
    """
    env = version.namespace
    fault = etree.Element(f"{{{env}}}Fault", nsmap={"soap": env})
    text = f"{error.code}: {render(error.code, error.message, language)}"
    if version is SoapVersion.SOAP11:
        etree.SubElement(fault, "faultcode")
        etree.SubElement(fault, "faultstring").text = text
        etree.SubElement(fault, "detail").append(detail_entry(error, language))
        _write_qnames(fault, version, error)
        return fault
    code = etree.SubElement(fault, f"{{{env}}}Code")
    etree.SubElement(code, f"{{{env}}}Value")
    if _NCNAME.fullmatch(error.code):  # a Subcode value must be a QName
        subcode = etree.SubElement(code, f"{{{env}}}Subcode")
        etree.SubElement(subcode, f"{{{env}}}Value", nsmap={"tns": TNS})
    reason = etree.SubElement(fault, f"{{{env}}}Reason")
    lang = "en" if language is Language.EN else "vi"  # "both" starts in Vietnamese
    etree.SubElement(reason, f"{{{env}}}Text", {_XML_LANG: lang}).text = text
    etree.SubElement(fault, f"{{{env}}}Detail").append(detail_entry(error, language))
    _write_qnames(fault, version, error)
    return fault


def fault_envelope(
    version: SoapVersion, error: GatewayError, language: Language = Language.BOTH
) -> bytes:
    """A whole response envelope carrying the fault, for answers given before spyne runs."""
    env = version.namespace
    envelope = etree.Element(f"{{{env}}}Envelope", nsmap={"soap": env})
    append_fault(etree.SubElement(envelope, f"{{{env}}}Body"), version, error, language)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
