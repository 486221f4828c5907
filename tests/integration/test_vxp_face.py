"""The national-axis-compatible REST face at /vxp on a real server (127.0.0.1, ephemeral port,
the whole ``build_app``), called by the real VXP connector as the SDK-like client, by requests
signed by hand with http.client and hmac (reference §4.2), and by the modern SOAP service's zeep
client for the cross-face flows. SQLite and PostgreSQL (``store_settings``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import zeep
from zeep.wsse.username import UsernameToken

from gateway.config import Settings, UpstreamSettings
from gateway.edxml.enums import StatusCode
from gateway.edxml.model import DocumentPackage, StatusPackage
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.relay.connector import PermanentRelayError
from gateway.relay.connectors.vxp import VxpConnector
from gateway.server import build_app
from gateway.store.blobs import FileBlobStore
from gateway.store.relay_sql import DirectoryEntry
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.packages import build_document, build_status

PARENT = "000.00.00.H53"  # a provincial office acting as a centre (systemId)
CHILD = "000.00.00.G22"  # registered under PARENT through registerAgency; the fixtures' sender
PEER = "000.00.00.H41"  # a plain agency: no children, talks REST or SOAP


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The gateway logs each request itself."""


class Server:
    """``build_app`` (every face) under wsgiref in a thread; PARENT and PEER registered."""

    def __init__(self, settings: Settings) -> None:
        self.httpd: WSGIServer = make_server(
            "127.0.0.1", 0, lambda e, s: [], handler_class=_Quiet
        )
        self.port = self.httpd.server_address[1]
        self.settings = replace(settings, public_url=f"http://127.0.0.1:{self.port}")
        self.exchange = Exchange(self.settings)
        now = dt.datetime.now(dt.UTC)
        self.exchange.credentials.add_agency(PARENT, "Văn phòng UBND tỉnh Tây Ninh", "", now)
        self.exchange.credentials.add_agency(PEER, "UBND Tỉnh Nghệ An", "", now)
        self.httpd.set_app(build_app(self.settings))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def secret(self, code: str) -> str:
        return self.exchange.credentials.current_secret(code)

    def vxp(self, system_id: str, secret: str | None = None) -> VxpConnector:
        return VxpConnector(
            UpstreamSettings(
                name="gateway",
                protocol="vxp",
                endpoint=f"{self.settings.public_url}/vxp",
                system_id=system_id,
                secret=secret if secret is not None else self.secret(system_id),
                timeout_seconds=10.0,
            )
        )

    def soap(self, code: str) -> Any:
        url = f"{self.settings.public_url}/soap/v1"
        client = zeep.Client(
            url + "?wsdl", wsse=UsernameToken(code, self.secret(code), use_digest=True)
        )
        return client.service

    def package_count(self) -> int:
        return len(self.exchange.store.packages_received(0, None, 1000))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.exchange.close()


@pytest.fixture
def server(store_settings: Settings) -> Iterator[Server]:
    running = Server(store_settings)
    yield running
    running.close()


@pytest.fixture
def parent(server: Server) -> Iterator[VxpConnector]:
    conn = server.vxp(PARENT)
    conn.register_agency(
        AgencyRecord(CHILD, "Văn phòng Chính phủ", pcode=PARENT, mail="vanthu@example.gov.vn")
    )
    yield conn
    conn.close()


@pytest.fixture
def peer(server: Server) -> Iterator[VxpConnector]:
    conn = server.vxp(PEER)
    yield conn
    conn.close()


@pytest.fixture
def document(blob_store: FileBlobStore) -> bytes:
    """A document from CHILD to PEER."""
    return package_bytes(build_document(blob_store), blob_store)


def _send(conn: VxpConnector, sender: str, kind: str, data: bytes, to: tuple[str, ...] = ()) -> str:
    return conn.send_edoc(
        sender, kind, io.BytesIO(data), hashlib.sha256(data).hexdigest(), to  # type: ignore[arg-type]
    )


def _fetch(conn: VxpConnector, doc_id: str, blob_store: FileBlobStore) -> Any:
    into = io.BytesIO()
    conn.get_edoc(doc_id, into)
    return read_package(into.getvalue(), blob_store)


# -- every operation through the SDK-like client ---------------------------------------------


def test_child_agency_round_trip_through_its_parent(
    server: Server,
    parent: VxpConnector,
    peer: VxpConnector,
    document: bytes,
    blob_store: FileBlobStore,
) -> None:
    record = server.exchange.store.get_agency(CHILD)
    assert record is not None and record.parent == PARENT and record.enabled

    # sendEdoc: the parent sends as its child (the VXP centre model)
    doc_id = _send(parent, CHILD, "edoc", document, (PEER,))
    assert _send(parent, CHILD, "edoc", document, (PEER,)) == doc_id  # a resend: same DocId
    assert server.package_count() == 1

    # getReceivedEdocList / getEdoc at the recipient
    [item] = peer.received_list("edoc")
    assert (item.doc_id, item.from_code, item.to_codes, item.status) == (
        doc_id, CHILD, (PEER,), "initial")
    assert item.message_type == "edoc" and item.created_time
    fetched = _fetch(peer, doc_id, blob_store)
    assert isinstance(fetched, DocumentPackage) and fetched.header.from_.organ_id == CHILD

    # updateStatus processing: recorded, still listed; the sender sees it
    peer.update_status(doc_id, "processing", "Văn thư đang xử lý")
    [item] = peer.received_list("edoc")
    assert (item.status, item.status_desc) == ("processing", "Văn thư đang xử lý")
    [sent] = parent.sent_list("edoc", doc_id)
    assert (sent.sender_doc_id, sent.from_code, sent.to_code) == (doc_id, CHILD, PEER)
    assert (sent.send_status, sent.receive_status) == ("done", "processing")
    assert sent.title == "V/v thử nghiệm liên thông văn bản" and sent.notation == "12/VPCP-TTĐT"

    # updateStatus done: the axis's transport ack, nothing more: no automatic STATUS 01 (an
    # SDK-built system sends its own statuses, as it does on the national axis)
    peer.update_status(doc_id, "done", "Đã nhận")
    assert peer.received_list("edoc") == []
    peer.update_status(doc_id, "done")  # a repeated final ack after a crash is accepted
    with pytest.raises(PermanentRelayError, match="already done"):
        peer.update_status(doc_id, "fail", "too late")
    [sent] = parent.sent_list("edoc")
    assert (sent.receive_status, sent.receive_status_desc) == ("done", "Đã nhận")
    assert sent.received_time
    assert parent.received_list("status") == []

    # the receiver's own STATUS 01 (messagetype=status) reaches the child through its parent
    _send(peer, PEER, "status", package_bytes(build_status(), blob_store))
    [status] = parent.received_list("status")
    assert (status.from_code, status.to_codes) == (PEER, (CHILD,))
    back = _fetch(parent, status.doc_id, blob_store)
    assert isinstance(back, StatusPackage) and back.header.status_code.value == "01"
    [auto] = peer.sent_list("status")
    assert (auto.from_code, auto.to_code, auto.receive_status) == (PEER, CHILD, "initial")
    parent.update_status(status.doc_id, "fail", "cannot parse")
    assert parent.received_list("status") == []
    [auto] = peer.sent_list("status")
    assert (auto.receive_status, auto.receive_status_desc) == ("fail", "cannot parse")

    # the recipient's next status (messagetype=status) reaches the child through its parent
    reply = package_bytes(build_status(StatusCode.ACCEPTED), None)
    reply_id = _send(peer, PEER, "status", reply)
    assert [i.doc_id for i in parent.received_list("status")] == [reply_id]
    parent.update_status(reply_id, "done")
    assert parent.received_list("status") == []


def test_directory_register_and_delete(
    server: Server, parent: VxpConnector, peer: VxpConnector, document: bytes
) -> None:
    server.exchange.store.upsert_directory(
        [DirectoryEntry("000.00.00.G09", "national", "Bộ Công an", code_qd20="G09")], 1, "test"
    )
    listed = {row["code"]: row for row in peer.agencies_list()}
    assert set(listed) == {PARENT, CHILD, PEER, "000.00.00.G09"}
    assert listed[CHILD]["pid"] == PARENT and listed[CHILD]["mail"] == "vanthu@example.gov.vn"
    qd20 = peer.agencies_list_qd20()
    assert [(r["code"], r["code102"]) for r in qd20] == [("G09", "000.00.00.G09")]

    # registerAgency again under the same parent is harmless; under another it is refused
    parent.register_agency(AgencyRecord(CHILD, "Văn phòng Chính phủ", pcode=PARENT))
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 12.*already registered"):
        peer.register_agency(AgencyRecord(CHILD, "Văn phòng Chính phủ", pcode=PEER))
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 12.*is not"):
        peer.register_agency(AgencyRecord("000.00.02.H41", "Sở", pcode=PARENT))
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 11.*M.AgencyCode"):
        parent.register_agency(AgencyRecord("not a code", "Sở", pcode=PARENT))

    # deleteAgency: only the parent may; afterwards the parent can no longer send as the child
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 100"):
        peer.delete_agency(CHILD)
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 100"):
        parent.delete_agency(PARENT)
    parent.delete_agency(CHILD)
    parent.delete_agency(CHILD)  # already disabled: same answer
    assert CHILD not in {row["code"] for row in peer.agencies_list()}
    before = server.package_count()
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 19.*khong dung voi ma da dang ky"):
        _send(parent, CHILD, "edoc", document, (PEER,))
    assert server.package_count() == before
    parent.register_agency(AgencyRecord(CHILD, "Văn phòng Chính phủ", pcode=PARENT))
    assert _send(parent, CHILD, "edoc", document, (PEER,))


def test_refused_sends_store_nothing(
    server: Server,
    parent: VxpConnector,
    peer: VxpConnector,
    document: bytes,
    blob_store: FileBlobStore,
) -> None:
    base_to = build_document(blob_store).header.to[0]
    cases: list[tuple[VxpConnector, str, bytes, tuple[str, ...], str]] = [
        (peer, CHILD, document, (PEER,), "ErrorCode 19.*khong dung voi ma da dang ky: " + PEER),
        (parent, PARENT, document, (PEER,), "ErrorCode 19.*khac From/OrganId " + CHILD),
        (parent, CHILD, document, (PARENT,), "ErrorCode 11.*the to header"),
        (parent, CHILD, b"not xml at all", (), "ErrorCode 10.*not XML"),
        (
            parent,
            CHILD,
            package_bytes(
                build_document(
                    blob_store,
                    to=(replace(base_to, organ_id="000.00.07.H99"),),
                ),
                blob_store,
            ),
            (),
            "ErrorCode 18.*000.00.07.H99",
        ),
        (
            parent,
            CHILD,
            package_bytes(build_document(blob_store, subject=""), blob_store),
            (),
            "ErrorCode 10.*Subject",
        ),
    ]
    for conn, sender, data, to, expected in cases:
        with pytest.raises(PermanentRelayError, match=expected):
            _send(conn, sender, "edoc", data, to)
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 10.*hash-file"):
        parent.send_edoc(CHILD, "edoc", io.BytesIO(document), "0" * 64, (PEER,))
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 10.*send it with messagetype edoc"):
        _send(parent, CHILD, "status", document)
    assert server.package_count() == 0
    assert peer.received_list("edoc") == []
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 100"):
        peer.update_status("no-such-package", "done")
    with pytest.raises(PermanentRelayError, match=r"ErrorCode 100"):
        peer.get_edoc("no-such-package", io.BytesIO())


# -- requests built by hand, byte for byte as §4.2 describes --------------------------------


def _signed_headers(
    system_id: str, secret: str, content_type: str, params: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], str]:
    """The SDK's header map, emitted as XroadVnpt-* headers plus the three signature headers."""
    now = dt.datetime.now()
    timestamp = now.strftime("%d%m%YT%H%M%S") + f"+{now.microsecond // 1000:04d}"
    signed = [("systemid", system_id), ("timestamp", timestamp), ("Content-Type", content_type)]
    signed += params
    names = [f"XroadVnpt-{name}" for name, _ in signed]
    document = "{" + ",".join(
        f"{json.dumps(n)}:{json.dumps(v)}" for n, (_, v) in zip(names, signed, strict=True)
    ) + "}"
    digest = hmac.new(secret.encode(), document.encode(), hashlib.sha256).hexdigest()
    headers = [(n, v) for n, (_, v) in zip(names, signed, strict=True)]
    headers += [
        ("XroadVnpt-sign-header-key", ";".join(names)),
        ("XroadVnpt-sign-header", document),
        ("XroadVnpt-hash-header", digest),
        ("XroadVnpt-version", "3.0.201608"),
        ("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"),
    ]
    return headers, document


def _raw(
    server: Server, operation: str, headers: list[tuple[str, str]], body: bytes, content_type: str
) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", f"/vxp/{operation}")
        for name, value in [*headers, ("Content-Type", content_type)]:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        result: dict[str, Any] = json.loads(answer.read())
        return result
    finally:
        conn.close()


def test_hand_signed_requests(server: Server, parent: VxpConnector, document: bytes) -> None:
    secret = server.secret(PARENT)
    boundary = "----JavaSdkBoundaryQ7x2"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file_doc"; filename="doc.edxml"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + document + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    headers, _ = _signed_headers(
        PARENT,
        secret,
        "multipart/form-data",
        [
            ("from", CHILD),
            ("servicetype", "eDoc"),
            ("messagetype", "edoc"),
            ("to", json.dumps([PEER])),
            ("hash-file", hashlib.sha256(document).hexdigest()),
        ],
    )
    answer = _raw(server, "sendEdoc", headers, body, content_type)
    assert (answer["status"], answer["ErrorCode"], answer["ErrorDesc"]) == ("OK", "0", "Thanh cong")
    doc_id = answer["data"]["DocId"]
    assert server.exchange.store.get_package(doc_id) is not None

    listing, _ = _signed_headers(
        PEER, server.secret(PEER), "application/json",
        [("servicetype", "eDoc"), ("messagetype", "edoc")],
    )
    answer = _raw(server, "getReceivedEdocList", listing, b"{}", "application/json")
    assert answer["status"] == "OK"
    [knobstick] = answer["data"]
    assert (knobstick["docId"], knobstick["from"], knobstick["to"]) == (doc_id, CHILD, [PEER])
    assert knobstick["serviceType"] == "eDoc" and knobstick["messageType"] == "edoc"

    fetch, _ = _signed_headers(
        PEER, server.secret(PEER), "application/json", [("docid", doc_id)]  # the SDK's spelling
    )
    answer = _raw(server, "getEdoc", fetch, b"{}", "application/json")
    assert answer["status"] == "OK" and answer["data"]

    # HMAC failures: ErrorCode 15, nothing stored
    before = server.package_count()
    wrong, _ = _signed_headers(PARENT, "not-the-secret", "multipart/form-data", [
        ("from", CHILD), ("servicetype", "eDoc"), ("messagetype", "edoc"),
        ("hash-file", hashlib.sha256(document).hexdigest()),
    ])
    answer = _raw(server, "sendEdoc", wrong, body, content_type)
    assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "15")
    assert "hash-header does not match" in answer["ErrorDesc"]

    swapped = [(n, "status" if n == "XroadVnpt-messagetype" else v) for n, v in listing]
    answer = _raw(server, "getReceivedEdocList", swapped, b"{}", "application/json")
    assert answer["ErrorCode"] == "15" and "differs from the signed value" in answer["ErrorDesc"]

    stranger, _ = _signed_headers("000.00.09.H53", "x", "application/json", [])
    answer = _raw(server, "getAgenciesList", stranger, b"{}", "application/json")
    assert answer["ErrorCode"] == "15" and "khong ton tai" in answer["ErrorDesc"]

    unsigned = [(n, v) for n, v in listing if n != "XroadVnpt-hash-header"]
    answer = _raw(server, "getReceivedEdocList", unsigned, b"{}", "application/json")
    assert answer["ErrorCode"] == "15" and "not signed" in answer["ErrorDesc"]

    server.exchange.credentials.set_enabled(PEER, False, dt.datetime.now(dt.UTC))
    answer = _raw(server, "getReceivedEdocList", listing, b"{}", "application/json")
    assert answer["ErrorCode"] == "15"
    server.exchange.credentials.set_enabled(PEER, True, dt.datetime.now(dt.UTC))
    server.exchange.credentials.rotate(PEER, dt.datetime.now(dt.UTC))
    answer = _raw(server, "getReceivedEdocList", listing, b"{}", "application/json")
    assert answer["ErrorCode"] == "15"  # signed with the secret before rotation
    assert server.package_count() == before


# -- across faces: REST ↔ modern SOAP ------------------------------------------------------


def test_rest_and_soap_clients_exchange(
    server: Server,
    parent: VxpConnector,
    document: bytes,
    blob_store: FileBlobStore,
) -> None:
    soap_peer = server.soap(PEER)

    # REST (the parent, for its child) → SOAP
    doc_id = _send(parent, CHILD, "edoc", document)
    items = soap_peer.GetPending("document", 0, "")["items"]
    assert [i.packageId for i in items.item] == [doc_id]
    fetched = soap_peer.GetPackage(doc_id)
    assert fetched.sender == CHILD and fetched.summary.fromOrganId == CHILD
    confirmed = soap_peer.ConfirmReceived(doc_id, "ok", "")
    assert confirmed.outcome == "ok"
    [status] = parent.received_list("status")
    assert status.doc_id == confirmed.statusPackageId
    [sent] = parent.sent_list("edoc", doc_id)
    assert sent.receive_status == "done"

    # SOAP → REST: the peer answers with a document to the child, read through the parent
    base = build_document(blob_store).header
    reply = build_document(
        blob_store,
        from_=base.to[0],
        to=(base.from_,),
        document_id=f"{PEER},2024/03/05,13/UBND-VP",
    )
    receipt = soap_peer.SendDocument(package_bytes(reply, blob_store))
    [item] = parent.received_list("edoc")
    assert (item.doc_id, item.from_code, item.to_codes) == (receipt.packageId, PEER, (CHILD,))
    got = _fetch(parent, item.doc_id, blob_store)
    assert isinstance(got, DocumentPackage) and got.header.document_id.startswith(PEER)
    parent.update_status(item.doc_id, "done")
    assert soap_peer.GetTraces("", receipt.packageId, None) in (None, [])  # a transport ack
    status_01 = build_status(
        from_=base.from_,
        response_for=replace(
            build_status().header.response_for, organ_id=PEER, document_id=reply.header.document_id
        ),
    )
    _send(parent, CHILD, "status", package_bytes(status_01, blob_store))
    traces = soap_peer.GetTraces("", receipt.packageId, None)
    assert [t.statusCode for t in traces] == ["01"] and traces[0].fromAgency == CHILD

    # a SOAP client that is a parent may send as its child too (From/OrganId = the child)
    soap_parent = server.soap(PARENT)
    again = build_document(blob_store, document_id=f"{CHILD},2024/03/06,14/VPCP-TTĐT")
    sent_receipt = soap_parent.SendDocument(package_bytes(again, blob_store))
    assert server.exchange.store.get_package(sent_receipt.packageId).sender == CHILD  # type: ignore[union-attr]


def test_cli_registers_a_child(tmp_path: Path) -> None:
    from gateway.cli import main

    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert main(["agencies", "add", "--config", str(config), PARENT, "Tỉnh"]) == 0
    assert main(["agencies", "add", "--config", str(config), "--parent", PARENT, CHILD, "VP"]) == 0
    exchange = Exchange(Settings(data_dir=tmp_path / "data"))
    try:
        record = exchange.store.get_agency(CHILD)
        assert record is not None and record.parent == PARENT
        assert exchange.mailboxes(PARENT) == (PARENT, CHILD)
        assert exchange.acts_for(PARENT, CHILD) and not exchange.acts_for(CHILD, PARENT)
    finally:
        exchange.close()
