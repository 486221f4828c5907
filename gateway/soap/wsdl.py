"""The service's WSDL: spyne's description, with a SOAP 1.1 and a SOAP 1.2 binding, made stable.

spyne describes one binding per application (its protocol's). Both applications are described
and the SOAP 1.2 binding is grafted onto the SOAP 1.1 document, each with its own port at the
same address. The result is put in the conventional order (types, messages, portType,
bindings, service), schema entries are sorted by name, and unused namespace declarations are
dropped, so the document is readable and the same bytes on every run (the drift test relies
on it).

Apache Axis 1.4 (and other SOAP 1.1-only stacks) stop on the SOAP 1.2 binding's
``wsdlsoap12:fault`` ("Missing <soap:fault> element"), so the same document without the SOAP 1.2
binding and port is also served, at ``?wsdl11`` (:func:`build_wsdl11`). It is derived from the
full document, never written separately, so the two cannot drift apart.
"""

from __future__ import annotations

from lxml import etree
from spyne.interface.wsdl import Wsdl11

from gateway.config import Settings
from gateway.soap.envelope import SoapVersion
from gateway.soap.protocol import build_application
from gateway.soap.service import PUBLIC_OPERATIONS, SERVICE_NAME

SERVICE_PATH = "/soap/v1"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
_BINDING_NS = {
    SoapVersion.SOAP11: "http://schemas.xmlsoap.org/wsdl/soap/",
    SoapVersion.SOAP12: "http://schemas.xmlsoap.org/wsdl/soap12/",
}
_PORT = {SoapVersion.SOAP11: "EdocGatewaySoap11", SoapVersion.SOAP12: "EdocGatewaySoap12"}
_ORDER = ("documentation", "types", "message", "portType", "binding", "service")
_KEEP_PREFIXES = ("wsdl", "xs", "tns", "wsdlsoap11", "wsdlsoap12")

_DOCUMENTATION_TAIL = (
    "Callers authenticate with a WS-Security UsernameToken in the SOAP Header: the agency code as "
    "Username, a PasswordDigest with Nonce and wsu:Created (PasswordText only where the gateway "
    "allows it). Every operation needs it except "
    + " and ".join(sorted(PUBLIC_OPERATIONS))
    + ". Faults carry a tns:GatewayFault detail with the gateway's error code, the location "
    "and one finding per problem."
)
SERVICE_DOCUMENTATION = (
    "edoc-gateway: exchange of edXML documents and statuses (QCVN 102:2016). SOAP 1.1 "
    "(Content-Type text/xml) and SOAP 1.2 (application/soap+xml) are served at the same address. "
    + _DOCUMENTATION_TAIL
)
SOAP11_DOCUMENTATION = (
    "edoc-gateway: exchange of edXML documents and statuses (QCVN 102:2016). This description "
    "has the SOAP 1.1 binding only, for stacks that cannot read a SOAP 1.2 binding (Apache Axis "
    "1.4); ?wsdl describes SOAP 1.1 and 1.2 at the same address. "
    + _DOCUMENTATION_TAIL
)


def service_address(settings: Settings) -> str:
    """Where clients reach the service: the configured public URL, never the request's Host."""
    return settings.public_url.rstrip("/") + SERVICE_PATH


def _describe(version: SoapVersion, address: str) -> etree._Element:
    document = Wsdl11(build_application(version).interface)
    document.build_interface_document(address)
    return etree.fromstring(document.get_interface_document())


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def build_wsdl(address: str) -> bytes:
    """The WSDL document served at ``address?wsdl`` and exported to ``wsdl/``."""
    root = _describe(SoapVersion.SOAP11, address)
    soap12 = _describe(SoapVersion.SOAP12, address)
    binding11 = root.find(_q(WSDL, "binding"))
    binding12 = soap12.find(_q(WSDL, "binding"))
    service = root.find(_q(WSDL, "service"))
    assert binding11 is not None and binding12 is not None and service is not None
    service.set("name", SERVICE_NAME)
    for port in service.findall(_q(WSDL, "port")):
        service.remove(port)
    documentation = etree.SubElement(service, _q(WSDL, "documentation"))
    documentation.text = SERVICE_DOCUMENTATION
    for version, binding in ((SoapVersion.SOAP11, binding11), (SoapVersion.SOAP12, binding12)):
        name = _PORT[version]
        binding.set("name", name)
        root.append(binding)
        port = etree.SubElement(service, _q(WSDL, "port"), name=name, binding=f"tns:{name}")
        etree.SubElement(port, _q(_BINDING_NS[version], "address"), location=address)
    _sort_schema(root)
    root[:] = sorted(root, key=_top_level_rank)  # a stable sort: same-kind elements keep order
    etree.cleanup_namespaces(root, keep_ns_prefixes=list(_KEEP_PREFIXES))
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def build_wsdl11(address: str) -> bytes:
    """The SOAP 1.1-only description served at ``address?wsdl11``: :func:`build_wsdl` less the
    SOAP 1.2 binding and port (types, messages and portType are the same bytes)."""
    root = etree.fromstring(build_wsdl(address))
    name = _PORT[SoapVersion.SOAP12]
    for element in root.findall(_q(WSDL, "binding")):
        if element.get("name") == name:
            root.remove(element)
    for service in root.findall(_q(WSDL, "service")):
        for port in service.findall(_q(WSDL, "port")):
            if port.get("name") == name:
                service.remove(port)
        documentation = service.find(_q(WSDL, "documentation"))
        if documentation is not None:
            documentation.text = SOAP11_DOCUMENTATION
    keep = [prefix for prefix in _KEEP_PREFIXES if prefix != "wsdlsoap12"]
    etree.cleanup_namespaces(root, keep_ns_prefixes=keep)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def _top_level_rank(element: etree._Element) -> int:
    return _ORDER.index(etree.QName(element).localname)


def _sort_schema(root: etree._Element) -> None:
    """Simple types, complex types, then elements, each by name."""
    kinds = ("simpleType", "complexType", "element")
    for schema in root.iter(_q(XSD, "schema")):
        schema[:] = sorted(
            schema,
            key=lambda e: (kinds.index(etree.QName(e).localname), e.get("name", "")),
        )
