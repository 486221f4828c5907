"""The SOAP service on a real server (127.0.0.1, ephemeral port), called by real clients.

zeep with its SOAP 1.1 and SOAP 1.2 bindings, suds-community as a second independent client, and
raw HTTP where a test needs bytes no client would send. The store is real: a SQLite file, and
PostgreSQL where ``GATEWAY_TEST_POSTGRES_DSN`` is set (``store_settings`` in tests/conftest.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import io
import logging
import os
import re
import threading
import urllib.request
import wsgiref.util
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import zeep
import zeep.exceptions
from lxml import etree
from suds.client import Client as SudsClient
from suds.sax.date import DateTime as SudsDateTime
from suds.wsse import Security as SudsSecurity
from suds.wsse import UsernameToken as SudsUsernameToken
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.config import Settings
from gateway.edxml.enums import StatusCode
from gateway.edxml.model import Code
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.soap.app import SoapRequest, make_app, read_body
from gateway.soap.compat import decode_base64
from gateway.soap.wsdl_export import DEFAULT_PATH, DEFAULT_SOAP11_PATH, export_wsdl, register
from tests.fixtures.packages import build_document, build_status
from tests.fixtures.stores import transactions_opened

REPO = Path(__file__).resolve().parents[2]
COMMITTED_WSDL = REPO / DEFAULT_PATH
COMMITTED_WSDL11 = REPO / DEFAULT_SOAP11_PATH
SENDER, RECEIVER, OTHER, DISABLED = (
    "000.00.00.G22",
    "000.00.00.H41",
    "000.00.00.H53",
    "000.00.00.H29",
)
TNS = "urn:edoc-gateway:soap:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
BINDINGS = ("EdocGatewaySoap11", "EdocGatewaySoap12")


# -- a real server ------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The gateway logs each request itself."""


class Gateway:
    """The WSGI app under wsgiref in a background thread, on a fresh store, three agencies."""

    def __init__(
        self,
        settings: Settings,
        tmp_path: Path,
        package_request_handler: Any = None,
        large_response_handler: Any = None,
    ) -> None:
        self.server: WSGIServer = make_server(
            "127.0.0.1", 0, _not_ready, handler_class=_QuietHandler
        )
        port = self.server.server_address[1]
        self.settings = replace(settings, public_url=f"http://127.0.0.1:{port}")
        self.url = f"{self.settings.public_url}/soap/v1"
        self.exchange = Exchange(self.settings)
        now = dt.datetime.now(dt.UTC)
        for code, name in (
            (SENDER, "Văn phòng Chính phủ"),
            (RECEIVER, "UBND Tỉnh Nghệ An"),
            (OTHER, "UBND tỉnh Tây Ninh"),
            (DISABLED, "Sở đã ngừng"),
        ):
            self.exchange.credentials.add_agency(code, name, "vanthu@example.gov.vn", now)
        self.exchange.credentials.set_enabled(DISABLED, False, now)
        app = make_app(
            self.exchange,
            self.settings,
            package_request_handler=package_request_handler,
            large_response_handler=large_response_handler,
        )
        self.server.set_app(app)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.wsdl_path = tmp_path / "served.wsdl"
        self.wsdl_path.write_bytes(self.get_wsdl())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.exchange.close()

    def secret(self, code: str) -> str:
        return self.exchange.credentials.current_secret(code)

    def get_wsdl(self) -> bytes:
        with urllib.request.urlopen(self.url + "?wsdl", timeout=10) as response:
            assert response.status == 200
            data: bytes = response.read()
            return data

    def zeep(
        self,
        code: str | None,
        binding: str = BINDINGS[0],
        *,
        secret: str | None = None,
        use_digest: bool = True,
        nonce: str | None = None,
        created: dt.datetime | None = None,
    ) -> Any:
        """A zeep service proxy for ``binding``, signing in as ``code`` (None: anonymous)."""
        wsse = None
        if code is not None:
            password = secret if secret is not None else self.secret(code)
            wsse = UsernameToken(
                code, password, use_digest=use_digest, nonce=nonce, created=created
            )
        client = zeep.Client(
            str(self.wsdl_path),
            wsse=wsse,
            settings=zeep.Settings(
                forbid_entities=True, forbid_external=True, xml_huge_tree=True, strict=True
            ),
            transport=Transport(operation_timeout=10),
        )
        return client.bind("EdocGateway", binding)

    def post(
        self, body: bytes, content_type: str = "text/xml; charset=utf-8", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        """A raw POST; returns status, headers and body."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.server_address[1], timeout=10
        )
        try:
            connection.request("POST", "/soap/v1", body, {"Content-Type": content_type, **headers})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def document(self, content: bytes = b"%PDF-1.4 test", **overrides: Any) -> bytes:
        """An edXML document package from SENDER to RECEIVER, built with the model and writer."""
        pkg = build_document(self.exchange.blobs, content, **overrides)
        return package_bytes(pkg, self.exchange.blobs)


def _not_ready(environ: Any, start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("the application is set before the server starts")


@pytest.fixture
def gateway(store_settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    server = Gateway(store_settings, tmp_path)
    yield server
    server.close()


@pytest.fixture(params=BINDINGS)
def binding(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def numbered_document(gateway: Gateway, number: int) -> bytes:
    """A distinct document (its own number and DocumentId)."""
    return gateway.document(
        f"%PDF-1.4 document {number}".encode(),
        code=Code(str(number), "VPCP-TTĐT"),
        document_id=f"{SENDER},2024/03/05,{number}/VPCP-TTĐT",
    )


def fault_detail(fault: zeep.exceptions.Fault) -> dict[str, Any]:
    """The tns:GatewayFault detail entry of a zeep fault, as a dict."""
    assert fault.detail is not None
    entry = fault.detail.find(f"{{{TNS}}}GatewayFault")
    assert entry is not None, etree.tostring(fault.detail)
    return {
        "code": entry.findtext(f"{{{TNS}}}code"),
        "path": entry.findtext(f"{{{TNS}}}path"),
        "message": entry.findtext(f"{{{TNS}}}message"),
        "findings": [
            {child.tag.split("}")[1]: child.text for child in finding}
            for finding in entry.findall(f"{{{TNS}}}finding")
        ],
    }


def expect_fault(binding: str, call: Callable[[], Any], code: str, side: str) -> dict[str, Any]:
    """Run ``call``, expect a fault with the gateway ``code``, ``side`` Client/Server."""
    with pytest.raises(zeep.exceptions.Fault) as caught:
        call()
    fault = caught.value
    standard = {"Client": "Sender", "Server": "Receiver"}[side] if binding.endswith("12") else side
    assert fault.code is not None and fault.code.endswith(":" + standard), fault.code
    assert fault.message.startswith(code + ": "), fault.message
    detail = fault_detail(fault)
    assert detail["code"] == code
    return detail


def pending_ids(service: Any, kind: str = "document") -> list[str]:
    items = service.GetPending(kind, 0, "")["items"]
    return [item.packageId for item in (items.item if items is not None else [])]


# -- the contract -------------------------------------------------------------------------------


def _normalise_address(wsdl: bytes) -> bytes:
    return re.sub(rb'location="[^"]*"', b'location="ADDRESS"', wsdl)


def test_served_wsdl_matches_the_committed_file(gateway: Gateway) -> None:
    served = gateway.get_wsdl()
    assert f'location="{gateway.url}"'.encode() in served
    committed = COMMITTED_WSDL.read_bytes()
    assert _normalise_address(served) == _normalise_address(committed), (
        f"{COMMITTED_WSDL} is out of date: run `edoc-gateway wsdl export` and commit it"
    )


def test_soap11_description_is_served_committed_and_the_full_wsdl_less_soap12(
    gateway: Gateway, tmp_path: Path
) -> None:
    """``?wsdl11`` (for Axis 1.4) matches its committed file, and is the full WSDL with only the
    SOAP 1.2 binding and port taken out: types, messages and portType stay the same."""
    with urllib.request.urlopen(gateway.url + "?wsdl11", timeout=10) as response:
        served = response.read()
    assert f'location="{gateway.url}"'.encode() in served
    assert _normalise_address(served) == _normalise_address(COMMITTED_WSDL11.read_bytes()), (
        f"{COMMITTED_WSDL11} is out of date: run `edoc-gateway wsdl export --soap11`"
    )
    exported = export_wsdl(Settings(data_dir=tmp_path), tmp_path / "x.wsdl", soap11_only=True)
    assert exported.read_bytes() == COMMITTED_WSDL11.read_bytes()
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/"}
    full = etree.fromstring(gateway.get_wsdl())
    only11 = etree.fromstring(served)
    assert b"soap12" not in served
    assert [b.get("name") for b in only11.findall("wsdl:binding", ns)] == [BINDINGS[0]]
    assert [p.get("name") for p in only11.findall("wsdl:service/wsdl:port", ns)] == [BINDINGS[0]]
    for part in ("wsdl:types", "wsdl:message", "wsdl:portType", "wsdl:binding"):
        first = full.find(part, ns)
        assert first is not None
        second = only11.find(part, ns)
        assert second is not None
        c14n: dict[str, Any] = {"method": "c14n", "exclusive": True}
        assert etree.tostring(first, **c14n) == etree.tostring(second, **c14n), part


def test_wsdl_export_is_deterministic_and_uses_the_public_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_url="https://edoc.example.gov.vn/")
    first = export_wsdl(settings, tmp_path / "a" / "edoc-gateway.wsdl").read_bytes()
    second = export_wsdl(settings, tmp_path / "b.wsdl").read_bytes()
    assert first == second
    assert b'location="https://edoc.example.gov.vn/soap/v1"' in first
    default = export_wsdl(Settings(data_dir=tmp_path / "data"), tmp_path / "c.wsdl")
    assert default.read_bytes() == COMMITTED_WSDL.read_bytes()


def test_wsdl_export_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="edoc-gateway")
    register(parser.add_subparsers(dest="command", required=True))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "http://10.0.0.5:8080")
    args = parser.parse_args(["wsdl", "export", "-o", str(tmp_path / "out.wsdl")])
    assert args.handler(args) == 0
    assert b'location="http://10.0.0.5:8080/soap/v1"' in (tmp_path / "out.wsdl").read_bytes()


def test_wsdl_describes_both_bindings_and_says_which_operations_need_credentials() -> None:
    root = etree.parse(str(COMMITTED_WSDL)).getroot()
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/"}
    bindings = {b.get("name") for b in root.findall("wsdl:binding", ns)}
    assert bindings == set(BINDINGS)
    operations = root.findall("wsdl:portType/wsdl:operation", ns)
    assert {op.get("name") for op in operations} == {
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
    for op in operations:
        doc = op.findtext("wsdl:documentation", namespaces=ns) or ""
        public = op.get("name") in ("Ping", "GetServiceInfo")
        assert ("Needs no credentials" in doc) is public, op.get("name")
        assert op.find("wsdl:fault", ns) is not None


# -- every operation, both SOAP versions --------------------------------------------------------


def test_send_pull_confirm_and_trace(gateway: Gateway, binding: str) -> None:
    sender = gateway.zeep(SENDER, binding)
    receiver = gateway.zeep(RECEIVER, binding)
    package = gateway.document()

    receipt = sender.SendDocument(package)
    assert receipt.kind == "document" and receipt.duplicate is False
    assert receipt.receivedAt.tzinfo is not None

    page = receiver.GetPending("document", 10, "")
    (item,) = page["items"]["item"]
    assert item.packageId == receipt.packageId
    assert (item.sender, item.subject) == (SENDER, "V/v thử nghiệm liên thông văn bản")
    assert pending_ids(gateway.zeep(OTHER, binding)) == []

    fetched = receiver.GetPackage(receipt.packageId)
    assert fetched.packageId == receipt.packageId and fetched.sender == SENDER
    assert fetched.package.startswith(b"<?xml") and len(fetched.package) == fetched.size
    summary = fetched.summary
    assert summary.kind == "document" and summary.fromOrganId == SENDER
    assert summary.to.organId == [RECEIVER]
    assert summary.promulgationDate == dt.date(2024, 3, 5)
    assert summary.attachments.attachment[0].name == "Công văn 12-VPCP.pdf"
    assert '"subject": "V/v thử nghiệm liên thông văn bản"' in summary.summaryJson
    # Reading is repeatable and changes nothing.
    assert receiver.GetPackage(receipt.packageId).package == fetched.package
    assert pending_ids(receiver) == [receipt.packageId]

    confirmed = receiver.ConfirmReceived(receipt.packageId, "ok", "")
    assert confirmed.outcome == "ok" and confirmed.statusPackageId
    assert pending_ids(receiver) == []
    assert pending_ids(sender, "status") == [confirmed.statusPackageId]

    (trace,) = sender.GetTraces(None, receipt.packageId, None)
    assert (trace.statusCode, trace.fromAgency, trace.toAgency) == ("01", RECEIVER, SENDER)
    assert trace.statusPackageId == confirmed.statusPackageId
    by_document = sender.GetTraces(summary.documentId, None, None)
    assert [t.statusPackageId for t in by_document] == [confirmed.statusPackageId]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert not sender.GetTraces(None, receipt.packageId, later)

    status = sender.GetPackage(confirmed.statusPackageId)
    assert status.kind == "status" and status.summary.statusCode == "01"
    assert status.summary.responseForDocumentId == summary.documentId


def test_duplicate_send_returns_the_original_receipt(gateway: Gateway, binding: str) -> None:
    sender = gateway.zeep(SENDER, binding)
    package = gateway.document()
    first = sender.SendDocument(package)
    again = sender.SendDocument(package)
    assert again.duplicate is True
    assert (again.packageId, again.receivedAt) == (first.packageId, first.receivedAt)
    assert pending_ids(gateway.zeep(RECEIVER, binding)) == [first.packageId]


def test_fields_operations_build_the_packages(gateway: Gateway, binding: str) -> None:
    sender = gateway.zeep(SENDER, binding)
    receiver = gateway.zeep(RECEIVER, binding)
    receipt = sender.SendDocumentFields(
        {
            "to": {"organId": [RECEIVER]},
            "subject": "V/v họp giao ban",
            "codeNumber": "45",
            "codeNotation": "VPCP-TH",
            "promulgationDate": dt.date(2026, 11, 20),
            "place": "Hà Nội",
            "signerFullName": "Nguyễn Văn A",
            "attachments": {
                "attachment": [
                    {
                        "name": "giay-moi.pdf",
                        "contentType": "application/pdf",
                        "data": b"%PDF-1.4 giay moi",
                    }
                ]
            },
        }
    )
    fetched = receiver.GetPackage(receipt.packageId)
    assert fetched.summary.subject == "V/v họp giao ban"
    assert fetched.summary.code == "45/VPCP-TH"
    attachment = fetched.summary.attachments.attachment[0]
    assert attachment.sha256 == hashlib.sha256(b"%PDF-1.4 giay moi").hexdigest()

    status = receiver.SendStatusFields(
        {
            "responseForOrganId": SENDER,
            "responseForDocumentId": fetched.summary.documentId,
            "statusCode": "03",
            "staffName": "Trần Thị B",
        }
    )
    assert status.kind == "status"
    traces = sender.GetTraces(fetched.summary.documentId, None, None)
    assert [t.statusCode for t in traces] == ["03"]


def test_send_status_package(gateway: Gateway, binding: str) -> None:
    gateway.zeep(SENDER, binding).SendDocument(gateway.document())
    package = package_bytes(build_status(StatusCode.ASSIGNED), gateway.exchange.blobs)
    receipt = gateway.zeep(RECEIVER, binding).SendStatus(package)
    assert receipt.kind == "status" and not receipt.duplicate
    sender = gateway.zeep(SENDER, binding)
    assert pending_ids(sender, "status") == [receipt.packageId]
    summary = sender.GetPackage(receipt.packageId).summary
    assert (summary.statusCode, summary.responseForOrganId) == ("04", SENDER)
    assert summary.timestamp == dt.datetime(
        2024, 3, 5, 9, 10, 11, tzinfo=dt.timezone(dt.timedelta(hours=7))
    )


def test_pending_pages_with_a_cursor(gateway: Gateway) -> None:
    sender = gateway.zeep(SENDER)
    sent = [sender.SendDocument(numbered_document(gateway, n)).packageId for n in (1, 2, 3)]
    receiver = gateway.zeep(RECEIVER)
    first = receiver.GetPending("document", 2, None)
    assert [i.packageId for i in first["items"]["item"]] == sent[:2]
    assert first.nextCursor
    rest = receiver.GetPending("document", 2, first.nextCursor)
    assert [i.packageId for i in rest["items"]["item"]] == sent[2:]
    assert not rest.nextCursor


def test_directory_ping_and_service_info(gateway: Gateway, binding: str) -> None:
    agencies = gateway.zeep(OTHER, binding).GetAgencies()
    assert {a.code for a in agencies} == {SENDER, RECEIVER, OTHER}
    anonymous = gateway.zeep(None, binding)
    pong = anonymous.Ping()
    assert pong.version and pong.agency is None
    assert abs(pong.serverTime - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert gateway.zeep(SENDER, binding).Ping().agency == SENDER
    info = anonymous.GetServiceInfo()
    assert info.role == "agency-gateway"
    assert info.maxRequestBytes == gateway.settings.max_request_bytes
    assert info.passwordTextAllowed is False


# -- faults -------------------------------------------------------------------------------------


def test_invalid_edxml_is_a_client_fault_and_nothing_is_stored(
    gateway: Gateway, binding: str
) -> None:
    broken = gateway.document(subject="")
    detail = expect_fault(
        binding,
        lambda: gateway.zeep(SENDER, binding).SendDocument(broken),
        "N.MessageHeader.Subject",
        "Client",
    )
    assert detail["path"].endswith("/MessageHeader/Subject")
    assert detail["findings"][0]["code"] == "N.MessageHeader.Subject"
    assert detail["findings"][0]["severity"] == "error"
    assert pending_ids(gateway.zeep(RECEIVER, binding)) == []
    assert gateway.exchange.store.pending(RECEIVER, "document", 10, 0) == []


def test_a_referenced_attachment_that_is_absent_is_refused(gateway: Gateway, binding: str) -> None:
    """A package whose manifest names a file the package does not carry lost its content on the
    way (a toolkit that dropped the attachment): refused, nothing stored."""
    pkg = build_document(gateway.exchange.blobs, b"%PDF-1.4 test")
    without_file = package_bytes(replace(pkg, attachments=()), gateway.exchange.blobs)
    detail = expect_fault(
        binding,
        lambda: gateway.zeep(SENDER, binding).SendDocument(without_file),
        "M.edXMLManifest.Reference.ContentId",
        "Client",
    )
    assert "Attachment" in detail["message"]
    assert gateway.exchange.store.pending(RECEIVER, "document", 10, 0) == []


def test_not_an_edxml_package_and_bad_base64(gateway: Gateway, binding: str) -> None:
    sender = gateway.zeep(SENDER, binding)
    detail = expect_fault(binding, lambda: sender.SendDocument(b"hello"), "M.Xml", "Client")
    assert "XML" in detail["message"]
    body = (
        f'<s:Envelope xmlns:s="{SOAP11}"><s:Header>{security(gateway, SENDER)}</s:Header><s:Body>'
        f'<SendDocument xmlns="{TNS}"><package>@@not base64@@</package></SendDocument>'
        "</s:Body></s:Envelope>"
    ).encode()
    status, _, reply = gateway.post(body)
    assert status == 500
    assert raw_fault(reply)["code"] == "M.Soap.ValidationError"


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_every_fault_path_declares_the_prefix_of_its_code(
    store_settings: Settings, tmp_path: Path, version: str
) -> None:
    """Authentication (before spyne), validation (inside spyne, the bad-package path that once
    wrote ``soap:Client`` under a ``soap11env`` envelope) and limits: each fault's standard code
    and SOAP 1.2 Subcode resolve with the prefixes in scope where they stand."""
    limits = {"max_request_bytes": 64 << 10, "stream_threshold_bytes": 32 << 10}
    server = Gateway(replace(store_settings, **limits), tmp_path)
    media = "text/xml; charset=utf-8" if version == SOAP11 else "application/soap+xml"
    side = "Client" if version == SOAP11 else "Sender"
    status_of_client_fault = 500 if version == SOAP11 else 400

    def call(header: str, package: str) -> tuple[int, dict[str, str | None]]:
        body = (
            f'<s:Envelope xmlns:s="{version}"><s:Header>{header}</s:Header><s:Body>'
            f'<SendDocument xmlns="{TNS}"><package>{package}</package></SendDocument>'
            "</s:Body></s:Envelope>"
        ).encode()
        status, _, reply = server.post(body, media)
        return status, raw_fault(reply)

    try:
        bad = base64.b64encode(server.document(subject="")).decode()
        cases = {
            "M.Security.Authentication": call(security(server, SENDER, secret="eA=="), bad),
            "N.MessageHeader.Subject": call(security(server, SENDER), bad),
            "M.Xml": call(security(server, SENDER), base64.b64encode(b"hello").decode()),
            "R.Request.Size": call("", "A" * (80 << 10)),
        }
        for code, (status, fault) in cases.items():
            assert status == status_of_client_fault, code
            assert fault == {"code": code, "standard": f"{{{version}}}{side}"}
    finally:
        server.close()


def test_cross_agency_access_is_denied(gateway: Gateway, binding: str) -> None:
    receipt = gateway.zeep(SENDER, binding).SendDocument(gateway.document())
    other = gateway.zeep(OTHER, binding)
    expect_fault(binding, lambda: other.GetPackage(receipt.packageId), "N.Package", "Client")
    expect_fault(
        binding,
        lambda: other.ConfirmReceived(receipt.packageId, "ok", ""),
        "N.Package",
        "Client",
    )
    expect_fault(
        binding,
        lambda: other.GetTraces(None, receipt.packageId, None),
        "N.Package",
        "Client",
    )
    # Sending a package whose From is another agency.
    expect_fault(
        binding,
        lambda: other.SendDocument(numbered_document(gateway, 7)),
        "M.MessageHeader.From.OrganId",
        "Client",
    )
    assert pending_ids(gateway.zeep(RECEIVER, binding)) == [receipt.packageId]


def test_unexpected_failures_are_generic_server_faults(
    gateway: Gateway,
    binding: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(agency: str) -> Any:
        raise RuntimeError("connection string postgresql://secret@db")

    monkeypatch.setattr(gateway.exchange, "get_agencies", broken)
    with caplog.at_level(logging.INFO, logger="gateway.soap"):
        detail = expect_fault(
            binding, gateway.zeep(SENDER, binding).GetAgencies, "Server.Internal", "Server"
        )
    assert "secret" not in detail["message"]
    request_id = re.search(r"request id (\w+)", detail["message"])
    assert request_id is not None
    logged = [r for r in caplog.records if request_id.group(1) in r.getMessage()]
    assert any(r.exc_info and "secret@db" in str(r.exc_info[1]) for r in logged)


def _resolved(element: etree._Element | None) -> str:
    """A QName in ``element``'s text as ``{namespace}local``, failing if its prefix is not in
    scope there (Mono/.NET throw on such a code, Axis loses its namespace)."""
    assert element is not None and element.text
    prefix, _, local = element.text.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    assert namespace is not None, f"prefix {prefix!r} of {element.text!r} is not declared"
    return f"{{{namespace}}}{local}"


def raw_fault(reply: bytes) -> dict[str, str | None]:
    """Code and standard fault code (resolved, ``{namespace}local``) of a raw SOAP fault response
    (1.1 or 1.2); the SOAP 1.2 Subcode must name the gateway code in the service namespace."""
    root = etree.fromstring(reply)
    entry = root.find(f".//{{{TNS}}}GatewayFault")
    assert entry is not None, reply
    gateway_code = entry.findtext(f"{{{TNS}}}code")
    code = root.find(".//faultcode")
    if code is None:
        code = root.find(f".//{{{SOAP12}}}Code/{{{SOAP12}}}Value")
        sub = root.find(f".//{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
        if sub is not None:
            assert _resolved(sub) == f"{{{TNS}}}{gateway_code}"
    return {"code": gateway_code, "standard": _resolved(code)}


def send_envelope(package: bytes, header: str, version: str = SOAP11) -> bytes:
    """A SendDocument request carrying ``package``, with ``header`` (a wsse:Security)."""
    return (
        f'<s:Envelope xmlns:s="{version}"><s:Header>{header}</s:Header><s:Body>'
        f'<SendDocument xmlns="{TNS}"><package>{base64.b64encode(package).decode()}</package>'
        "</SendDocument></s:Body></s:Envelope>"
    ).encode()


def envelope(operation: str, version: str = SOAP11, header: str = "") -> bytes:
    return (
        f'<s:Envelope xmlns:s="{version}"><s:Header>{header}</s:Header>'
        f'<s:Body><{operation} xmlns="{TNS}"/></s:Body></s:Envelope>'
    ).encode()


def test_malformed_requests_get_client_faults_in_their_soap_version(gateway: Gateway) -> None:
    status, headers, reply = gateway.post(b"<s:Envelope xmlns:s='" + SOAP11.encode() + b"'>")
    assert status == 500 and headers["Content-Type"].startswith("text/xml")
    assert raw_fault(reply) == {"code": "M.Soap.Xml", "standard": f"{{{SOAP11}}}Client"}

    status, headers, reply = gateway.post(
        b"<s:Envelope xmlns:s='" + SOAP12.encode() + b"'><s:Body>",
        "application/soap+xml; charset=utf-8",
    )
    assert status == 400 and headers["Content-Type"].startswith("application/soap+xml")
    assert raw_fault(reply) == {"code": "M.Soap.Xml", "standard": f"{{{SOAP12}}}Sender"}

    doctype = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + envelope("Ping")
    assert raw_fault(gateway.post(doctype)[2])["code"] == "M.Soap.Doctype"
    mismatch = gateway.post(envelope("Ping", SOAP12))
    assert raw_fault(mismatch[2])["code"] == "M.Soap.VersionMismatch"
    unknown = gateway.post(envelope("NoSuchOperation", header=security(gateway, SENDER)))
    assert raw_fault(unknown[2]) == {
        "code": "M.Soap.ResourceNotFound",
        "standard": f"{{{SOAP11}}}Client",
    }
    # Read before authentication, so an anonymous caller cannot make the head large.
    padded = envelope("Ping", header=f"<pad>{'x' * (9 << 17)}</pad>")
    assert raw_fault(gateway.post(padded)[2])["code"] == "R.Soap.Header"
    assert gateway.post(envelope("Ping"))[0] == 200


def test_http_level_refusals(gateway: Gateway) -> None:
    assert gateway.post(envelope("Ping"), "multipart/related; type=text/xml")[0] == 415
    port = gateway.server.server_address[1]
    for method, path, expected in (("GET", "/soap/v1", 405), ("GET", "/other", 404)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, path)
        assert connection.getresponse().status == expected
        connection.close()


def test_oversized_body_is_refused_before_it_is_read(
    store_settings: Settings, tmp_path: Path
) -> None:
    server = Gateway(
        replace(store_settings, max_request_bytes=64 << 10, stream_threshold_bytes=4 << 10),
        tmp_path,
    )
    try:
        connection = http.client.HTTPConnection(
            "127.0.0.1", server.server.server_address[1], timeout=10
        )
        # Headers only: had the server tried to read the 1 GB body, this would time out.
        connection.putrequest("POST", "/soap/v1")
        connection.putheader("Content-Type", "text/xml; charset=utf-8")
        connection.putheader("Content-Length", str(1 << 30))
        connection.endheaders()
        response = connection.getresponse()
        # a plain SOAP 1.1 fault (500), which every toolkit parses; not a 413
        assert response.status == 500
        assert raw_fault(response.read())["code"] == "R.Request.Size"
        connection.close()
        # Just under the limit is served (and goes past the stream threshold to spyne).
        package = server.document(os.urandom(30 << 10))
        assert server.zeep(SENDER).SendDocument(package).duplicate is False
    finally:
        server.close()


def test_chunked_bodies_are_counted_as_they_are_read(tmp_path: Path) -> None:
    """wsgiref cannot de-chunk, so this calls read_body as gunicorn would drive it."""
    settings = Settings(data_dir=tmp_path, max_request_bytes=1000, stream_threshold_bytes=100)
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    with io.BytesIO() as into:
        assert read_body({**chunked, "wsgi.input": io.BytesIO(b"x" * 1000)}, settings, into) == 1000
    with pytest.raises(Exception, match="larger than this gateway accepts"), io.BytesIO() as into:
        read_body({**chunked, "wsgi.input": io.BytesIO(b"x" * 1001)}, settings, into)
    with pytest.raises(Exception, match="Content-Length"), io.BytesIO() as into:
        read_body({"wsgi.input": io.BytesIO(b"x")}, settings, into)


def test_large_requests_reach_the_streaming_hook(store_settings: Settings, tmp_path: Path) -> None:
    seen: list[SoapRequest] = []

    def handler(request: SoapRequest, start_response: Any) -> list[bytes]:
        seen.append(request)
        assert request.body.read(5) == b"<s:En"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"streamed"]

    settings = replace(store_settings, stream_threshold_bytes=2 << 10)
    server = Gateway(settings, tmp_path, package_request_handler=handler)
    try:
        small = envelope("Ping", header=security(server, SENDER))
        assert server.post(small)[0] == 200 and not seen
        large = envelope("SendDocument", header=security(server, SENDER) + " " * (4 << 10))
        status, _, reply = server.post(large)
        assert (status, reply) == (200, b"streamed")
        assert (seen[0].agency, seen[0].head.operation, seen[0].size) == (
            SENDER,
            "SendDocument",
            len(large),
        )
        unauthenticated = server.post(envelope("SendDocument", header=" " * (4 << 10)))
        assert raw_fault(unauthenticated[2])["code"] == "M.Security.Authentication"
        assert len(seen) == 1
    finally:
        server.close()


# -- authentication ----------------------------------------------------------------------------


def security(
    gateway: Gateway,
    code: str,
    *,
    secret: str | None = None,
    nonce: bytes | None = None,
    created: str | None = None,
) -> str:
    """A wsse:Security header with a PasswordDigest UsernameToken."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    password = secret if secret is not None else gateway.secret(code)
    digest = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    ).decode()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{code}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


@pytest.mark.parametrize(
    ("code", "options", "message"),
    [
        (SENDER, {"secret": "d3Jvbmcgc2VjcmV0"}, "wrong password"),
        ("000.00.00.H99", {"secret": "anything"}, "wrong password"),
        (DISABLED, {}, "wrong password"),
        (SENDER, {"created": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)}, "clock"),
        (SENDER, {"use_digest": False}, "PasswordText is not accepted"),
        (None, {}, "needs a WS-Security UsernameToken"),
    ],
    ids=["wrong-password", "unknown-agency", "disabled-agency", "expired", "text", "missing"],
)
def test_authentication_failures(
    gateway: Gateway, binding: str, code: str | None, options: dict[str, Any], message: str
) -> None:
    service = gateway.zeep(code, binding, **options)
    detail = expect_fault(
        binding,
        lambda: service.GetPending("document", 0, ""),
        "M.Security.Authentication",
        "Client",
    )
    assert message in detail["message"]
    assert detail["path"] == "/Envelope/Header/Security"


def test_replayed_nonce_is_refused(gateway: Gateway, binding: str) -> None:
    token = {"nonce": "fixed-nonce-1234", "created": dt.datetime.now(dt.UTC)}
    gateway.zeep(SENDER, binding, **token).GetAgencies()
    detail = expect_fault(
        binding,
        gateway.zeep(SENDER, binding, **token).GetAgencies,
        "M.Security.Authentication",
        "Client",
    )
    assert "replay" in detail["message"]


def test_a_send_records_its_nonce_in_the_accepts_own_transaction(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One durable commit per accepted package: the nonce is not a write of its own."""
    service = gateway.zeep(SENDER)
    service.Ping()  # the client's first call reads the WSDL; count only the send
    package = numbered_document(gateway, 1)
    opened = transactions_opened(monkeypatch)
    service.SendDocument(package)
    assert opened.count("write") == 1
    assert "cache" not in opened
    opened.clear()
    service.GetAgencies()  # an operation that does not write keeps the nonce's own write
    assert opened.count("cache") == 1


def test_a_replayed_send_is_refused_and_keeps_nothing(gateway: Gateway, binding: str) -> None:
    """The replay is found by the accept's transaction, which takes the whole package back."""
    token = {"nonce": "fixed-nonce-send", "created": dt.datetime.now(dt.UTC)}
    gateway.zeep(SENDER, binding, **token).SendDocument(numbered_document(gateway, 1))
    audit_before = len(gateway.exchange.store.audit_records(0, 1000))
    detail = expect_fault(
        binding,
        lambda: gateway.zeep(SENDER, binding, **token).SendDocument(numbered_document(gateway, 2)),
        "M.Security.Authentication",
        "Client",
    )
    assert "replay" in detail["message"]
    assert len(pending_ids(gateway.zeep(RECEIVER, binding))) == 1
    assert len(gateway.exchange.store.audit_records(0, 1000)) == audit_before


def test_a_refused_send_still_spends_its_nonce(gateway: Gateway) -> None:
    """A send that stores nothing records its nonce on its own before it is answered."""
    token = {"nonce": "fixed-nonce-refused", "created": dt.datetime.now(dt.UTC)}
    expect_fault(
        BINDINGS[0],
        lambda: gateway.zeep(SENDER, **token).SendDocument(gateway.document(subject="")),
        "N.MessageHeader.Subject",
        "Client",
    )
    detail = expect_fault(
        BINDINGS[0],
        lambda: gateway.zeep(SENDER, **token).SendDocument(numbered_document(gateway, 3)),
        "M.Security.Authentication",
        "Client",
    )
    assert "replay" in detail["message"]
    assert pending_ids(gateway.zeep(RECEIVER)) == []


def test_one_nonce_sent_by_many_at_once_is_accepted_once(gateway: Gateway) -> None:
    """Eight sends of distinct packages under one nonce, released together on threads that
    call the served application (wsgiref serves one request at a time): the store's
    transactions admit exactly one. On SQLite they may share a group commit; on PostgreSQL
    the nonce's unique key makes the later ones wait for the first."""
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = security(gateway, SENDER, nonce=b"one-nonce-for-all", created=created)
    bodies = [send_envelope(numbered_document(gateway, 10 + i), header) for i in range(8)]
    app = gateway.server.get_app()
    start = threading.Barrier(len(bodies))
    statuses: list[str] = []

    def send(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/soap/v1",
            "CONTENT_TYPE": "text/xml; charset=utf-8",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_SOAPACTION": '"SendDocument"',
            "wsgi.input": io.BytesIO(body),
        }
        wsgiref.util.setup_testing_defaults(environ)
        start.wait()
        b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(s.split()[0] for s in statuses) == ["200"] + ["500"] * 7
    assert len(pending_ids(gateway.zeep(RECEIVER))) == 1


def test_credentials_sent_to_public_operations_are_checked(gateway: Gateway) -> None:
    service = gateway.zeep(SENDER, secret="wrong")
    expect_fault(BINDINGS[0], service.Ping, "M.Security.Authentication", "Client")


def test_password_text_where_allowed(store_settings: Settings, tmp_path: Path) -> None:
    server = Gateway(replace(store_settings, password_text_allowed=True), tmp_path)
    try:
        assert server.zeep(SENDER, use_digest=False).Ping().agency == SENDER
        assert server.zeep(None).GetServiceInfo().passwordTextAllowed is True
    finally:
        server.close()


# -- suds, an independent client ----------------------------------------------------------------


def suds_client(gateway: Gateway) -> Any:
    return SudsClient(gateway.wsdl_path.as_uri(), cache=None, timeout=10)


def sign_in(client: Any, gateway: Gateway, code: str) -> None:
    """suds sends PasswordText by itself: build the PasswordDigest as the profile says."""
    token = SudsUsernameToken(code)
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    token.setnonce(base64.b64encode(nonce).decode())
    token.setnonceencoding(True)
    token.setcreated(created)
    raw = nonce + str(SudsDateTime(created)).encode() + gateway.secret(code).encode()
    token.setpassworddigest(base64.b64encode(hashlib.sha1(raw).digest()).decode())
    wsse = SudsSecurity()
    wsse.tokens.append(token)
    client.set_options(wsse=wsse)


def test_suds_client_round_trip(gateway: Gateway) -> None:
    import suds

    sender, receiver = suds_client(gateway), suds_client(gateway)
    sign_in(sender, gateway, SENDER)
    receipt = sender.service.SendDocument(base64.b64encode(gateway.document()).decode())
    assert receipt.kind == "document" and receipt.duplicate is False

    sign_in(receiver, gateway, RECEIVER)
    page = receiver.service.GetPending("document", 10, "")
    assert [i.packageId for i in page["items"].item] == [receipt.packageId]
    sign_in(receiver, gateway, RECEIVER)
    fetched = receiver.service.GetPackage(receipt.packageId)
    assert base64.b64decode(fetched.package).startswith(b"<?xml")
    assert fetched.summary.fromOrganId == SENDER
    sign_in(receiver, gateway, RECEIVER)
    assert receiver.service.ConfirmReceived(receipt.packageId, "ok", "").outcome == "ok"
    sign_in(sender, gateway, SENDER)
    traces = sender.service.GetTraces(None, receipt.packageId, None)
    assert [t.statusCode for t in traces.trace] == ["01"]

    sign_in(receiver, gateway, RECEIVER)
    with pytest.raises(suds.WebFault) as caught:
        receiver.service.GetPackage("no-such-package")
    fault = caught.value.fault
    assert fault.faultcode.rpartition(":")[2] == "Client"  # its prefix is the envelope's
    assert fault.detail.GatewayFault.code == "N.Package"


# -- spyne compatibility ------------------------------------------------------------------------


def test_base64_decoding_is_replaced_and_strict() -> None:
    from spyne.model.binary import BINARY_ENCODING_BASE64, ByteArray, binary_decoding_handlers

    data = os.urandom(300_000)
    wrapped = base64.encodebytes(data).decode()  # a line break every 76 characters
    assert ByteArray.from_base64(wrapped) == (data,)
    assert binary_decoding_handlers[BINARY_ENCODING_BASE64](wrapped) == (data,)
    assert decode_base64([wrapped[:1000], wrapped[1000:]]) == (data,)
    with pytest.raises(Exception, match="not valid base64"):
        decode_base64("abc$")
