"""suds-community, the second WSDL client vendors use, against /legacy/edoc on a real server.

suds loads the served WSDL (address rewritten, schemas fetched from ``?xsd=``) and calls
GetOrganizations, GetPendingDocumentIds and CheckPermission. A ``MessagePlugin`` only records the
envelope suds really sends, so the test checks that the wire is still the dialect's (reference
§5.2-5.3): unqualified request wrappers and children, the e-doc.vn ``Token`` header block a real
client adds, the unqualified ``CheckPermission`` header. SQLite and PostgreSQL (``store_settings``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from suds.client import Client  # type: ignore[import-untyped]
from suds.plugin import MessagePlugin  # type: ignore[import-untyped]
from suds.sax.element import Element  # type: ignore[import-untyped]

from gateway.config import Settings
from tests.integration.test_legacy_edoc import OTHER, RECEIVER, REPO, SENDER, SOAP11, Server

EDOC = "http://www.e-doc.vn/Schema/"
EDOC_XSD = "http://e-doc.vn/xsd"


class _Recorder(MessagePlugin):  # type: ignore[misc]
    """Keeps each envelope as sent, so assertions see the real wire, not suds' model."""

    def __init__(self) -> None:
        self.sent: list[etree._Element] = []

    def sending(self, context: Any) -> None:
        self.sent.append(etree.fromstring(bytes(context.envelope)))


@pytest.fixture
def server(store_settings: Settings) -> Iterator[Server]:
    running = Server(store_settings)
    try:
        yield running
    finally:
        running.close()


def _client(server: Server, recorder: _Recorder) -> Any:
    url = f"http://127.0.0.1:{server.port}/legacy/edoc"
    client = Client(
        url + "?wsdl", cache=None, timeout=10, port="EdocLegacySoap11", plugins=[recorder]
    )
    token = Element("Token", ns=(None, EDOC_XSD)).setText("client-token")
    client.set_options(soapheaders=[token])
    return client


def _body_child(envelope: etree._Element) -> etree._Element:
    body = envelope.find(f"{{{SOAP11}}}Body")
    assert body is not None and len(body) == 1
    return body[0]


def _assert_dialect_wire(envelope: etree._Element, wrapper: str) -> None:
    child = _body_child(envelope)
    assert child.tag == wrapper  # no namespace at all
    assert [c.tag for c in child] == ["OrganId", "Token"]
    header = envelope.find(f"{{{SOAP11}}}Header")
    assert header is not None
    assert [h.tag for h in header] == [f"{{{EDOC_XSD}}}Token"]


def test_suds_loads_served_wsdl_and_calls_on_the_dialect_wire(server: Server) -> None:
    recorder = _Recorder()
    client = _client(server, recorder)
    assert client.wsdl.url.endswith("/legacy/edoc?wsdl")

    answer = client.service.GetOrganizations(
        {"OrganId": SENDER, "Token": server.tokens[SENDER]}
    )
    assert sorted(o.OrganId for o in answer.Organizations.Organization) == sorted(
        [SENDER, RECEIVER, OTHER]
    )
    _assert_dialect_wire(recorder.sent[-1], "GetOrganizations")
    sent = _body_child(recorder.sent[-1])
    assert [c.text for c in sent] == [SENDER, server.tokens[SENDER]]

    answer = client.service.GetPendingDocumentIds(
        {"OrganId": RECEIVER, "Token": server.tokens[RECEIVER]}
    )
    assert not hasattr(answer, "Report") and not answer.DocumentIds  # none pending yet
    _assert_dialect_wire(recorder.sent[-1], "GetPendingDocumentIdsRequest")

    # A wrong token is refused by the server, so the credentials really travel in the wrapper.
    answer = client.service.GetPendingDocumentIds({"OrganId": RECEIVER, "Token": "wrong"})
    assert answer.Report.IsSuccess is False

    # GetTraces with a TimeStamp (non-destructive read): the optional child follows credentials.
    answer = client.service.GetTraces(
        {"OrganId": SENDER, "Token": server.tokens[SENDER], "TimeStamp": "2020/01/01 00:00:00"}
    )
    assert not hasattr(answer, "Report")
    sent = _body_child(recorder.sent[-1])
    assert sent.tag == "GetTraces" and [c.tag for c in sent] == ["OrganId", "Token", "TimeStamp"]

    # CheckPermission: credentials in an unqualified header block, empty body.
    client.set_options(
        soapheaders={"CheckPermission": {"OrganId": SENDER, "Token": server.tokens[SENDER]}}
    )
    checked = client.service.CheckPermission()
    assert checked.IsSuccess is True
    header = recorder.sent[-1].find(f"{{{SOAP11}}}Header")
    assert header is not None and [h.tag for h in header] == ["CheckPermission"]
    assert [c.tag for c in header[0]] == ["OrganId", "Token"]
    client.set_options(soapheaders={"CheckPermission": {"OrganId": SENDER, "Token": "x"}})
    denied = client.service.CheckPermission()
    assert denied.IsSuccess is False and denied.ErrorList.Error[0].Code == "M.Permission"


def test_suds_loads_the_committed_wsdl() -> None:
    path = Path(REPO / "wsdl" / "edoc-legacy.wsdl").resolve()
    client = Client(path.as_uri(), cache=None)
    methods = {m for port in client.sd[0].ports for m, _ in port[1]}
    assert {"GetOrganizations", "GetPendingDocumentIds", "CheckPermission"} <= methods
