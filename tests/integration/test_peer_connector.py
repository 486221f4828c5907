"""The peer connector against a real parent gateway (``build_app`` on a wsgiref server thread,
127.0.0.1, ephemeral port) on SQLite and PostgreSQL, and a real child gateway relaying through
it. The child holds one agency credential at the parent (``CHILD``), acting for that agency.
"""

from __future__ import annotations

import hashlib
import io
import socket
import ssl
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import zeep
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.config import Settings, UpstreamSettings
from gateway.edxml.enums import StatusCode
from gateway.edxml.model import Code, ResponseFor
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.relay.connector import (
    InboundItem,
    OutboundPackage,
    PermanentRelayError,
    TransientRelayError,
)
from gateway.relay.connectors import connect
from gateway.relay.connectors.peer import PeerConnector, wsdl_file
from gateway.relay.service import RelayService
from gateway.server import build_app
from gateway.soap.envelope import SoapVersion
from gateway.soap.faults import InternalError, fault_envelope
from tests.fixtures.packages import _organization, build_document, build_status
from tests.fixtures.pki import make_pki

CHILD = "000.00.00.G22"  # the child gateway's agency, and its credential at the parent
PARENT_AGENCY = "000.00.00.H41"  # has its mailbox at the parent
DISABLED = "000.00.00.H29"
STREAM_THRESHOLD = 64 * 1024  # the parent streams requests and answers larger than this


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The gateway logs each request itself."""


class WsgiThread:
    """A WSGI app under wsgiref in a background thread on 127.0.0.1."""

    def __init__(self, app: Any, tls: ssl.SSLContext | None = None) -> None:
        self.server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        if tls is not None:  # the handshake happens on accept; a failed one drops the connection
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Parent:
    """A real parent gateway: every face from ``build_app``, three agencies (one disabled)."""

    def __init__(self, settings: Settings, tls: ssl.SSLContext | None = None) -> None:
        self.http = WsgiThread(lambda environ, start: self.app(environ, start), tls)
        scheme = "https" if tls is not None else "http"
        self.settings = replace(
            settings,
            public_url=f"{scheme}://127.0.0.1:{self.http.port}",
            stream_threshold_bytes=STREAM_THRESHOLD,
        )
        self.url = f"{self.settings.public_url}/soap/v1"
        self.exchange = Exchange(self.settings)  # the parent's administrator and test probe
        now = self.exchange.clock()
        for code, name in (
            (CHILD, "Văn phòng Chính phủ"),
            (PARENT_AGENCY, "UBND Tỉnh Nghệ An"),
            (DISABLED, "Sở đã ngừng"),
        ):
            self.exchange.credentials.add_agency(code, name, "vanthu@example.gov.vn", now)
        self.exchange.credentials.set_enabled(DISABLED, False, now)
        self.app = build_app(self.settings)

    def secret(self, code: str) -> str:
        return self.exchange.credentials.current_secret(code)

    def upstream(self, **overrides: Any) -> UpstreamSettings:
        values: dict[str, Any] = {
            "name": "parent",
            "protocol": "peer",
            "endpoint": self.url,
            "system_id": CHILD,
            "secret": self.secret(CHILD),
            "timeout_seconds": 10.0,
        }
        values.update(overrides)
        return UpstreamSettings(**values)

    def soap(self, code: str) -> Any:
        """A plain zeep client of the parent, signed in as ``code`` (an agency's own software)."""
        client = zeep.Client(
            str(wsdl_file()),
            wsse=UsernameToken(code, self.secret(code), use_digest=True),
            settings=zeep.Settings(forbid_external=True, xml_huge_tree=True),
            transport=Transport(operation_timeout=10),
        )
        return client.create_service("{urn:edoc-gateway:soap:v1}EdocGatewaySoap11", self.url)

    def pending(self, code: str, kind: str = "document") -> list[str]:
        return [i.package_id for i in self.exchange.get_pending(code, kind, 0, "").items]

    def close(self) -> None:
        self.http.close()
        self.exchange.close()


@pytest.fixture
def parent(store_settings: Settings) -> Iterator[Parent]:
    server = Parent(store_settings)
    yield server
    server.close()


@pytest.fixture
def peer(parent: Parent) -> Iterator[PeerConnector]:
    connector = connect(parent.upstream())
    assert isinstance(connector, PeerConnector)
    yield connector
    connector.close()


def document(blobs: Any, content: bytes = b"%PDF-1.4 peer", number: int = 12, **kw: Any) -> bytes:
    """A document from CHILD to PARENT_AGENCY with its own number."""
    pkg = build_document(
        blobs,
        content,
        code=Code(str(number), "VPCP-TTĐT"),
        document_id=f"{CHILD},2024/03/05,{number}/VPCP-TTĐT",
        **kw,
    )
    return package_bytes(pkg, blobs)


def outbound(data: bytes, kind: str = "document", to: str = PARENT_AGENCY) -> OutboundPackage:
    return OutboundPackage(
        package_id=uuid.uuid4().hex,
        kind="status" if kind == "status" else "document",
        sender=CHILD,
        recipients=(to,),
        open=lambda: io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def stored_bytes(exchange: Exchange, agency: str, package_id: str) -> bytes:
    with exchange.get_package(agency, package_id).open() as stream:
        return stream.read()


def from_parent_agency(parent: Parent, number: int, content: bytes = b"%PDF-1.4 down") -> str:
    """PARENT_AGENCY sends CHILD a document at the parent; its package id."""
    pkg = build_document(
        parent.exchange.blobs,
        content,
        code=Code(str(number), "UBND-VP"),
        document_id=f"{PARENT_AGENCY},2024/03/05,{number}/UBND-VP",
    )
    pkg = replace(
        pkg,
        header=replace(
            pkg.header,
            from_=replace(pkg.header.from_, organ_id=PARENT_AGENCY),
            to=(replace(pkg.header.to[0], organ_id=CHILD),),
        ),
    )
    data = package_bytes(pkg, parent.exchange.blobs)
    return parent.exchange.send_document(PARENT_AGENCY, data).package_id


# -- every Connector method --------------------------------------------------------------------


def test_send_document_inline_and_resend_is_the_same_package(
    parent: Parent, peer: PeerConnector
) -> None:
    data = document(parent.exchange.blobs)
    first = peer.send(outbound(data))
    assert parent.pending(PARENT_AGENCY) == [first.remote_id]
    content = parent.exchange.get_package(PARENT_AGENCY, first.remote_id)
    assert content.sender == CHILD
    again = peer.send(outbound(data))
    assert again.remote_id == first.remote_id
    assert parent.pending(PARENT_AGENCY) == [first.remote_id]


def test_large_send_is_streamed_by_hand_and_arrives_intact(parent: Parent) -> None:
    """Past ``inline_limit`` the connector streams the body; past the parent's threshold the
    parent's streaming path reads it. The attachment comes out byte for byte."""
    attachment = b"%PDF-1.4 " + bytes(range(256)) * 2000  # ~500 KB
    data = document(parent.exchange.blobs, attachment, number=77)
    assert len(data) > STREAM_THRESHOLD
    connector = PeerConnector(parent.upstream(), inline_limit=1024)
    try:
        sent = connector.send(outbound(data))
        again = connector.send(outbound(data))  # the streamed resend is recognised too
    finally:
        connector.close()
    assert again.remote_id == sent.remote_id
    assert parent.pending(PARENT_AGENCY) == [sent.remote_id]
    summary = parent.exchange.get_package(PARENT_AGENCY, sent.remote_id).summary
    assert [a["sha256"] for a in summary["attachments"]] == [hashlib.sha256(attachment).hexdigest()]


def test_list_fetch_acknowledge_and_send_status(parent: Parent, peer: PeerConnector) -> None:
    package_id = from_parent_agency(parent, 31)
    items = peer.list_inbound("document", 10)
    assert [(i.remote_id, i.kind, i.sender) for i in items] == [
        (package_id, "document", PARENT_AGENCY)
    ]
    assert peer.list_inbound("status", 10) == []
    into = io.BytesIO()
    peer.fetch(items[0], into)
    assert into.getvalue() == stored_bytes(parent.exchange, CHILD, package_id)
    peer.acknowledge(items[0], True, "")
    assert parent.pending(CHILD) == []
    # A transport acknowledgement ("relayed"): the parent sends no STATUS 01 of its own; the
    # receiver's 01 comes from the child when its agency's software confirms the document.
    assert parent.exchange.get_pending(PARENT_AGENCY, "status", 0, "").items == ()
    # A status from the child's agency about that document goes up with SendStatus.
    status = build_status(
        StatusCode.ACCEPTED,
        from_=replace(build_status().header.from_, organ_id=CHILD),
        response_for=ResponseFor(
            organ_id=PARENT_AGENCY,
            code="31/UBND-VP",
            promulgation_date=build_status().header.response_for.promulgation_date,  # type: ignore[union-attr]
            document_id=f"{PARENT_AGENCY},2024/03/05,31/UBND-VP",
        ),
    )
    sent = peer.send(outbound(package_bytes(status, parent.exchange.blobs), "status"))
    kinds = {
        i.package_id: i.kind
        for i in parent.exchange.get_pending(PARENT_AGENCY, "status", 0, "").items
    }
    assert kinds == {sent.remote_id: "status"}


def test_failed_acknowledgement_takes_the_item_out_with_the_reason(
    parent: Parent, peer: PeerConnector
) -> None:
    package_id = from_parent_agency(parent, 32)
    (item,) = peer.list_inbound("document", 10)
    peer.acknowledge(item, False, "M.Attachment.Type: unreadable attachment")
    assert parent.pending(CHILD) == []
    delivery = parent.exchange.store.get_delivery(package_id, CHILD)
    assert delivery is not None and delivery.state == "failed"
    assert parent.exchange.get_pending(PARENT_AGENCY, "status", 0, "").items == ()


def test_listing_pages_with_the_cursor_and_starts_over(parent: Parent, peer: PeerConnector) -> None:
    first, second = from_parent_agency(parent, 41), from_parent_agency(parent, 42)
    pages = [[i.remote_id for i in peer.list_inbound("document", 1)] for _ in range(4)]
    # limit 1: page one, page two, then an empty last page (the cursor ran out), then again.
    assert pages == [[first], [second], [], [first]]


def test_large_package_is_fetched_from_the_streamed_answer(
    parent: Parent, peer: PeerConnector
) -> None:
    attachment = b"%PDF-1.4 " + bytes(range(256)) * 1500
    package_id = from_parent_agency(parent, 43, attachment)
    assert parent.exchange.get_package(CHILD, package_id).size > STREAM_THRESHOLD
    (item,) = peer.list_inbound("document", 10)
    into = io.BytesIO()
    peer.fetch(item, into)
    assert into.getvalue() == stored_bytes(parent.exchange, CHILD, package_id)


def test_agencies_lists_the_enabled_agencies(peer: PeerConnector) -> None:
    agencies = {a.code: a for a in peer.agencies()}
    assert set(agencies) == {CHILD, PARENT_AGENCY}
    assert agencies[PARENT_AGENCY].name == "UBND Tỉnh Nghệ An"
    assert agencies[PARENT_AGENCY].email == "vanthu@example.gov.vn"


# -- failures, sorted -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_closed_port_is_transient(parent: Parent) -> None:
    connector = PeerConnector(
        parent.upstream(endpoint=f"http://127.0.0.1:{_closed_port()}/soap/v1")
    )
    try:
        with pytest.raises(TransientRelayError) as caught:
            connector.list_inbound("document", 10)
    finally:
        connector.close()
    assert caught.value.code == "R.Peer.Network"


@pytest.fixture
def stalling_port() -> Iterator[int]:
    """A server that accepts and reads, and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


def test_a_server_that_stalls_past_the_timeout_is_transient(
    parent: Parent, stalling_port: int
) -> None:
    connector = PeerConnector(
        parent.upstream(endpoint=f"http://127.0.0.1:{stalling_port}/soap/v1", timeout_seconds=0.3),
        inline_limit=0,
    )
    data = document(parent.exchange.blobs)
    try:
        with pytest.raises(TransientRelayError) as listing:
            connector.list_inbound("document", 10)
        with pytest.raises(TransientRelayError) as sending:
            connector.send(outbound(data))  # the hand-streamed path has the timeout too
    finally:
        connector.close()
    assert listing.value.code == "R.Peer.Timeout"
    assert sending.value.code == "R.Peer.Timeout"


@pytest.mark.parametrize("inline_limit", [1 << 20, 0], ids=["zeep", "streamed"])
def test_an_invalid_package_is_a_permanent_refusal_with_the_parents_findings(
    parent: Parent, inline_limit: int
) -> None:
    data = document(parent.exchange.blobs, subject="")  # MessageHeader/Subject is required
    connector = PeerConnector(parent.upstream(), inline_limit=inline_limit)
    try:
        with pytest.raises(PermanentRelayError) as caught:
            connector.send(outbound(data))
    finally:
        connector.close()
    error = caught.value
    assert error.code.startswith(("M.", "N.", "R.")), error.code
    assert error.findings, str(error)
    assert any("Subject" in f.path for f in error.findings), error.findings
    assert "Client" in error.message
    assert parent.pending(PARENT_AGENCY) == []


def test_wrong_secret_is_permanent_with_the_fault_code(parent: Parent) -> None:
    connector = PeerConnector(parent.upstream(secret="not-the-secret"))
    try:
        with pytest.raises(PermanentRelayError) as caught:
            connector.list_inbound("document", 10)
    finally:
        connector.close()
    assert caught.value.code == "M.Security.Authentication"


def test_a_sender_other_than_the_credential_is_refused_permanently(parent: Parent) -> None:
    """Today the parent accepts From = the authenticated agency only."""
    pkg = build_document(parent.exchange.blobs, b"%PDF-1.4 other")
    pkg = replace(
        pkg, header=replace(pkg.header, from_=replace(pkg.header.from_, organ_id=DISABLED))
    )
    connector = PeerConnector(parent.upstream())
    try:
        with pytest.raises(PermanentRelayError):
            connector.send(outbound(package_bytes(pkg, parent.exchange.blobs)))
    finally:
        connector.close()


def _answering(status: str, content_type: str, body: bytes) -> Any:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.mark.parametrize(
    ("status", "content_type", "body", "code"),
    [
        (
            "500 Internal Server Error",
            "text/xml; charset=utf-8",
            fault_envelope(SoapVersion.SOAP11, InternalError("abc123")),
            InternalError("abc123").code,
        ),
        ("502 Bad Gateway", "text/html", b"<html><body>bad gateway</body></html>", "R.Peer.Answer"),
        ("404 Not Found", "text/plain", b"no such path\n", "R.Peer.Http"),
        ("200 OK", "text/xml", b"<not-soap/>", "R.Peer.Answer"),
    ],
    ids=["server-fault", "http-502", "http-404", "not-soap"],
)
def test_server_faults_and_http_errors_are_transient(
    parent: Parent, status: str, content_type: str, body: bytes, code: str
) -> None:
    """A stand-in for a broken parent or the proxy in front of it."""
    server = WsgiThread(_answering(status, content_type, body))
    connector = PeerConnector(parent.upstream(endpoint=f"http://127.0.0.1:{server.port}/soap/v1"))
    try:
        for call in (
            lambda: connector.list_inbound("document", 10),
            lambda: connector.fetch(InboundItem("p1", "document"), io.BytesIO()),
            lambda: connector.send(outbound(document(parent.exchange.blobs))),
        ):
            with pytest.raises(TransientRelayError) as caught:
                call()
            assert caught.value.code == code, caught.value
    finally:
        connector.close()
        server.close()


def test_source_address_is_used(parent: Parent, peer: PeerConnector) -> None:
    connector = PeerConnector(parent.upstream(source_address="127.0.0.1"))
    try:
        assert {a.code for a in connector.agencies()} == {CHILD, PARENT_AGENCY}
    finally:
        connector.close()
    unusable = PeerConnector(parent.upstream(source_address="192.0.2.1"))  # not on this host
    try:
        with pytest.raises(TransientRelayError) as caught:
            unusable.agencies()
    finally:
        unusable.close()
    assert caught.value.code == "R.Peer.Network"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # verify_tls=false
def test_tls_with_ca_bundle_and_client_certificate(
    store_settings: Settings, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path, CHILD)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    parent = Parent(store_settings, tls=context)
    client_cert = {"client_cert_file": pki["client_cert"], "client_key_file": pki["client_key"]}
    try:
        assert parent.url.startswith("https://127.0.0.1:")
        outcomes: dict[str, Any] = {}
        for label, overrides in (
            ("good", {"ca_bundle": pki["ca"], **client_cert, "source_address": "127.0.0.1"}),
            ("unverified", {"verify_tls": False, **client_cert}),
            ("no-client-cert", {"ca_bundle": pki["ca"]}),
            ("untrusted", client_cert),
        ):
            connector = PeerConnector(parent.upstream(timeout_seconds=3.0, **overrides))
            try:
                outcomes[label] = sorted(a.code for a in connector.agencies())
            except TransientRelayError as exc:
                outcomes[label] = exc
            finally:
                connector.close()
        assert outcomes["good"] == outcomes["unverified"] == sorted([CHILD, PARENT_AGENCY])
        assert isinstance(outcomes["no-client-cert"], TransientRelayError)
        assert isinstance(outcomes["untrusted"], TransientRelayError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(outcomes["untrusted"])
    finally:
        parent.close()


# -- a chained flow: child gateway → parent gateway → and back ---------------------------------


@pytest.fixture
def child_settings(store_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The child's own database, of the same dialect as the parent's."""
    if not store_settings.database_dsn:
        yield Settings(data_dir=tmp_path / "child")
        return
    import psycopg

    base, _, _ = store_settings.database_dsn.partition("?options=")
    base = base.partition("&options=")[0]
    schema = f"edoc_child_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    scoped = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield Settings(data_dir=tmp_path / "child", database_dsn=scoped)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _child(parent: Parent, child_settings: Settings) -> tuple[Exchange, RelayService]:
    """A child gateway relaying through ``parent`` with its agency's credential there."""
    settings = replace(
        child_settings,
        upstreams=(parent.upstream(poll_interval_seconds=0.001),),
        default_upstream="parent",
    )
    child = Exchange(settings)
    child.credentials.add_agency(CHILD, "Văn phòng Chính phủ", "", child.clock())
    return child, RelayService(settings, exchange=child)


def test_chained_flow_child_to_parent_agency_and_status_back(
    parent: Parent, child_settings: Settings
) -> None:
    child, relay = _child(parent, child_settings)
    try:
        assert isinstance(relay.connectors["parent"], PeerConnector)
        # The child's agency sends to an agency whose mailbox is at the parent.
        data = document(child.blobs, number=88)
        sent_here = child.send_document(CHILD, data)
        step = relay.run_once()
        assert step.worker.attempted == 1
        (at_parent,) = parent.pending(PARENT_AGENCY)
        # The parent's agency reads it with its own SOAP client and confirms.
        agency = parent.soap(PARENT_AGENCY)
        page = agency.GetPending("document", 10, "")
        assert [i.packageId for i in page["items"].item] == [at_parent]
        package = agency.GetPackage(at_parent)
        assert package.sender == CHILD
        assert package.summary.documentId == f"{CHILD},2024/03/05,88/VPCP-TTĐT"
        confirmed = agency.ConfirmReceived(at_parent, "ok", None)
        assert confirmed.statusPackageId
        # The automatic STATUS 01 comes back down through the child's poller.
        relay.run_once()
        statuses = child.get_pending(CHILD, "status", 0, "").items
        assert [s.sender for s in statuses] == [PARENT_AGENCY]
        status = child.get_package(CHILD, statuses[0].package_id).summary
        assert status["status_code"] == StatusCode.RECEIVED.value
        assert status["response_for"]["document_id"] == f"{CHILD},2024/03/05,88/VPCP-TTĐT"
        # Acknowledged at the parent: nothing waits there for the child any more.
        assert parent.pending(CHILD, "status") == []
        assert sent_here.package_id
    finally:
        relay.close()


def test_chained_flow_parent_agency_to_child_gets_one_status_01(
    parent: Parent, child_settings: Settings
) -> None:
    """Downwards, the child's poller acknowledges the parent with ``relayed``: the sender sees
    exactly one STATUS 01, the one the child's agency sends when its software confirms."""
    child, relay = _child(parent, child_settings)
    try:
        package_id = from_parent_agency(parent, 41)
        relay.run_once()  # the child's poller fetches it and acknowledges it at the parent
        assert parent.pending(CHILD) == []
        assert parent.exchange.get_pending(PARENT_AGENCY, "status", 0, "").items == ()
        (here,) = child.get_pending(CHILD, "document", 0, "").items
        assert here.sender == PARENT_AGENCY
        confirmed = child.confirm_received(CHILD, here.package_id, "ok", "")
        assert confirmed.status_package_id  # the child's own 01, queued for the parent
        relay.run_once()
        statuses = parent.exchange.get_pending(PARENT_AGENCY, "status", 0, "").items
        assert [s.sender for s in statuses] == [CHILD]
        traces = parent.exchange.get_traces(PARENT_AGENCY, package_id=package_id)
        assert [t.status_code for t in traces] == [StatusCode.RECEIVED.value]
    finally:
        relay.close()


def test_what_the_parent_took_leniently_from_its_upstream_reaches_the_child(
    parent: Parent, child_settings: Settings
) -> None:
    """Lenient in along a chain (issue 14 item 2): the axis's test platform sends from its
    systemId ``vxp.saas.03``; the parent took it from its upstream with warnings, and the
    child, polling the parent, takes it the same way instead of answering ``failed``."""
    child, relay = _child(parent, child_settings)
    try:
        pkg = build_document(
            parent.exchange.blobs,
            from_=_organization("vxp.saas.03", "Nền tảng thử nghiệm VXP"),
            to=(_organization(CHILD, "Văn phòng Chính phủ"),),
        )
        taken = parent.exchange.accept_from_upstream(
            "national", package_bytes(pkg, parent.exchange.blobs)
        )
        assert "M.MessageHeader.From.OrganId" in {w.code for w in taken.warnings}
        step = relay.run_once()
        assert (step.polls["parent"].accepted, step.polls["parent"].refused) == (1, 0)
        (here,) = child.get_pending(CHILD, "document", 0, "").items
        assert here.sender == "vxp.saas.03"
        assert parent.pending(CHILD) == []  # acknowledged at the parent, not failed
        delivery = parent.exchange.store.get_delivery(taken.package_id, CHILD)
        assert delivery is not None and delivery.state == "confirmed"
    finally:
        relay.close()
