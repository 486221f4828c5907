"""WSDL: the contract loads in a strict client and the public operations answer."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.conformance.checks.modern_session import ModernSession, utc_now
from gateway.conformance.modern import BINDING11, BINDING12, TNS
from gateway.conformance.registry import assertion, expect

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
OPERATIONS = {
    "SendDocument",
    "SendDocumentFields",
    "SendStatus",
    "SendStatusFields",
    "GetPending",
    "GetPackage",
    "ConfirmReceived",
    "GetTraces",
    "GetAgencies",
    "Ping",
    "GetServiceInfo",
}
CONTRACT = "wsdl/edoc-gateway.wsdl"


def _definitions(s: ModernSession) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(s.wsdl, parser)


@assertion(
    "EDGW-WSDL-001", "?wsdl answers a WSDL 1.1 definitions document", f"{CONTRACT}; WSDL 1.1 §2"
)
def wsdl_served(s: ModernSession) -> None:
    root = _definitions(s)
    expect(root.tag == f"{{{WSDL_NS}}}definitions", f"the root element is {root.tag}")
    expect(root.get("targetNamespace") == TNS, f"targetNamespace is {root.get('targetNamespace')}")


@assertion(
    "EDGW-WSDL-002",
    "the local WSDL copy loads in zeep with forbid_external and forbid_entities",
    "DESIGN §5 (zeep: local WSDL, forbid_external, timeout)",
)
def wsdl_loads_in_zeep(s: ModernSession) -> None:
    client = s.modern.client()
    services = list(client.wsdl.services)
    expect(services == ["EdocGateway"], f"services in the WSDL: {services}")


@assertion("EDGW-WSDL-003", "the port type declares every operation of the contract", CONTRACT)
def wsdl_operations(s: ModernSession) -> None:
    root = _definitions(s)
    names = {
        op.get("name") for op in root.iterfind(f"{{{WSDL_NS}}}portType/{{{WSDL_NS}}}operation")
    }
    missing = OPERATIONS - names
    expect(not missing, f"operations missing from the port type: {sorted(missing)}")


@assertion("EDGW-WSDL-004", "SOAP 1.1 and SOAP 1.2 bindings are both declared", CONTRACT)
def wsdl_bindings(s: ModernSession) -> None:
    names = {b.get("name") for b in _definitions(s).iterfind(f"{{{WSDL_NS}}}binding")}
    expect({BINDING11, BINDING12} <= names, f"bindings declared: {sorted(n or '' for n in names)}")


@assertion(
    "EDGW-WSDL-005",
    "every operation declares the GatewayFault",
    f"{CONTRACT} (tns:GatewayFault detail)",
    mandatory=False,
)
def wsdl_faults(s: ModernSession) -> None:
    root = _definitions(s)
    ops = root.iterfind(f"{{{WSDL_NS}}}portType/{{{WSDL_NS}}}operation")
    without = [op.get("name") for op in ops if op.find(f"{{{WSDL_NS}}}fault") is None]
    expect(not without, f"operations without a fault: {without}")


@assertion(
    "EDGW-WSDL-006",
    "the WSDL's service address is the endpoint under test",
    f"{CONTRACT} (soap:address = public_url)",
    mandatory=False,
)
def wsdl_address(s: ModernSession) -> None:
    locations = {
        e.get("location") for e in _definitions(s).iter() if etree.QName(e).localname == "address"
    }
    expect(
        locations == {s.modern.endpoint},
        f"soap:address locations {sorted(str(x) for x in locations)} differ from the endpoint "
        f"{s.modern.endpoint} (set public_url)",
    )


@assertion("EDGW-WSDL-007", "Ping answers anonymously over SOAP 1.1 and SOAP 1.2", CONTRACT)
def ping_anonymous(s: ModernSession) -> None:
    for binding in (BINDING11, BINDING12):
        pong = s.anonymous(binding).ping()
        expect(pong.version, f"Ping over {binding} returned no version")
        expect(pong.agency is None, f"an anonymous Ping over {binding} named agency {pong.agency}")
        expect(
            abs(pong.serverTime - utc_now()) < dt.timedelta(hours=1),
            f"serverTime {pong.serverTime} is more than an hour off this machine's clock",
        )


@assertion("EDGW-WSDL-008", "Ping with credentials names the authenticated agency", CONTRACT)
def ping_authenticated(s: ModernSession) -> None:
    pong = s.modern.ping()
    expect(pong.agency == s.modern.agency, f"Ping named agency {pong.agency!r}")


@assertion("EDGW-WSDL-009", "GetServiceInfo states consistent limits", f"{CONTRACT} (ServiceInfo)")
def service_info(s: ModernSession) -> None:
    info = s.info()
    expect(info.maxRequestBytes > 0, f"maxRequestBytes is {info.maxRequestBytes}")
    expect(
        0 < info.streamThresholdBytes <= info.maxRequestBytes,
        f"streamThresholdBytes {info.streamThresholdBytes} is not within maxRequestBytes",
    )
    expect(info.replayWindowSeconds > 0, f"replayWindowSeconds is {info.replayWindowSeconds}")


@assertion("EDGW-WSDL-010", "GetAgencies lists the caller and the peer", CONTRACT)
def agencies(s: ModernSession) -> None:
    codes = s.modern.agencies()
    expect(s.modern.agency in codes, f"{s.modern.agency} is not in GetAgencies: {codes}")
    if s.has_peer:
        expect(s.peer_driver.agency in codes, f"the peer is not in GetAgencies: {codes}")
