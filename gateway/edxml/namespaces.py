"""Namespace URIs and element names shared by the reader, the writer and the schemas."""

from __future__ import annotations

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""QCVN 102:2016 edXML: the only namespace a package may use (prefixed ``edXML:`` or default)."""

EDOC_LEGACY = "http://www.e-doc.vn/Schema/"
"""The older BTTTT eDoc SOAP dialect: valid only on the legacy SOAP endpoint, never in a file."""

XLINK = "http://www.w3.org/1999/xlink"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

PREFIX = "edXML"

WELL_KNOWN_PREFIXES: dict[str, str] = {
    "xlink": XLINK,
    "xsi": XSI,
    "xsd": XSD,
    "ds": XMLDSIG,
    "dsig": XMLDSIG,
    "edXML": QCVN,
}
"""Prefixes real senders use without declaring them; the reader declares them on their behalf."""


def q(local: str) -> str:
    """Clark notation for an element in the QCVN namespace."""
    return f"{{{QCVN}}}{local}"


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
