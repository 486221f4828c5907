"""SOAP envelopes of the eDoc dialect: Report/ErrorList answers, faults, both SOAP versions.

Answers are ``edXML:<Action>Response`` wrappers in ``http://www.e-doc.vn/Schema/`` holding an
``edXML:Report`` (``IsSuccess``, ``ErrorList/Error/{Code, Description}``), as Bkav's axis writes
them (reference §5.3). Faults are for what is not an operation at all (not XML, no envelope,
no action) and for the gateway's own failures; they carry the same Report in their detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from gateway import logs
from gateway.catalogue import Language, render
from gateway.edxml.namespaces import EDOC_LEGACY, XLINK

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {SOAP11: "text/xml", SOAP12: "application/soap+xml"}
PREFIX = "edXML"
_Element = etree._Element


def q(name: str) -> str:
    return f"{{{EDOC_LEGACY}}}{name}"


@dataclass(frozen=True, slots=True)
class ErrorItem:
    code: str
    description: str


def report(
    errors: list[ErrorItem] | tuple[ErrorItem, ...] = (), language: Language = Language.BOTH
) -> _Element:
    """``edXML:Report``; the ErrorList is present (empty) on success too. Each Description is
    rendered in ``language`` from its code (the English sentence is the item's own)."""
    el = etree.Element(q("Report"), nsmap={PREFIX: EDOC_LEGACY})
    etree.SubElement(el, q("IsSuccess")).text = "false" if errors else "true"
    error_list = etree.SubElement(el, q("ErrorList"))
    for item in errors:
        error = etree.SubElement(error_list, q("Error"))
        etree.SubElement(error, q("Code")).text = item.code
        description = render(item.code, item.description, language)
        etree.SubElement(error, q("Description")).text = description
    return el


def response(action: str, *children: _Element) -> _Element:
    """``edXML:<Action>Response`` holding ``children``."""
    el = etree.Element(q(f"{action}Response"), nsmap={PREFIX: EDOC_LEGACY})
    for c in children:
        el.append(c)
    return el


def leaf(name: str, text: str) -> _Element:
    el = etree.Element(q(name), nsmap={PREFIX: EDOC_LEGACY})
    el.text = text
    return el


@dataclass(slots=True)
class Answer:
    """What one operation answers: SOAP header blocks, body children, MIME files."""

    body: list[_Element]
    header: list[_Element] = field(default_factory=list)
    files: tuple[object, ...] = ()  # translate.LegacyFile; kept loose to avoid a cycle
    status: int = 200


def envelope(version: str, answer: Answer) -> bytes:
    nsmap = {"soapenv": version, PREFIX: EDOC_LEGACY, "xlink": XLINK}
    env = etree.Element(f"{{{version}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(env, f"{{{version}}}Header")
    for block in answer.header:
        header.append(block)
    body = etree.SubElement(env, f"{{{version}}}Body")
    for c in answer.body:
        body.append(c)
    etree.cleanup_namespaces(env, top_nsmap=nsmap)
    return etree.tostring(env, encoding="utf-8", xml_declaration=True)


def fault(
    version: str, client: bool, code: str, message: str, language: Language = Language.BOTH
) -> Answer:
    """A SOAP fault in the request's version; the detail holds the dialect's Report."""
    logs.bind(code=code)  # the request's access line and metrics count the fault by its code
    detail_report = report([ErrorItem(code, message)], language)
    message = render(code, message, language)
    if version == SOAP12:
        el = etree.Element(f"{{{SOAP12}}}Fault")
        code_el = etree.SubElement(el, f"{{{SOAP12}}}Code")
        value = etree.SubElement(code_el, f"{{{SOAP12}}}Value")
        value.text = "soapenv:Sender" if client else "soapenv:Receiver"
        reason = etree.SubElement(el, f"{{{SOAP12}}}Reason")
        text = etree.SubElement(reason, f"{{{SOAP12}}}Text")
        text.set(
            "{http://www.w3.org/XML/1998/namespace}lang",
            "en" if language is Language.EN else "vi",  # "both" starts in Vietnamese
        )
        text.text = f"{code}: {message}"
        detail = etree.SubElement(el, f"{{{SOAP12}}}Detail")
    else:
        el = etree.Element(f"{{{SOAP11}}}Fault")
        etree.SubElement(el, "faultcode").text = "soapenv:Client" if client else "soapenv:Server"
        etree.SubElement(el, "faultstring").text = f"{code}: {message}"
        detail = etree.SubElement(el, "detail")
    detail.append(detail_report)
    return Answer([el], status=500 if version == SOAP11 or not client else 400)
