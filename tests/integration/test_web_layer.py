"""The one WSGI layer under the three faces, through ``build_app`` on a real server (127.0.0.1,
ephemeral port): every face honours ``max_request_bytes`` before reading a byte and answers in
its own dialect, malformed chunked framing is a client fault, and every answer carries the
request id the access log names."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.exchange import Exchange
from gateway.server import build_app
from gateway.vxp import headers as vxp_headers
from gateway.web.admission import SlotPool, TokenBuckets, gate_of
from tests.fixtures.loop_server import serving

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
LIMIT = 64 << 10


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The gateway's own access log is under test."""


AGENCY = "000.00.01.H53"


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    overrides = getattr(request, "param", {})
    return Settings(
        data_dir=tmp_path / "data",
        max_request_bytes=LIMIT,
        stream_threshold_bytes=4 << 10,
        **overrides,
    )


@pytest.fixture
def port(settings: Settings) -> Iterator[int]:
    httpd: WSGIServer = make_server("127.0.0.1", 0, build_app(settings), handler_class=_Quiet)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _headers_only(port: int, path: str, content_type: str) -> http.client.HTTPResponse:
    """A POST announcing 1 GiB and sending none of it: had the face read, this would hang."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", content_type)
    connection.putheader("Content-Length", str(1 << 30))
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _raw(port: int, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (http.client would frame a chunked body correctly)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while piece := sock.recv(65536):
            data += piece
    status_line, _, rest = data.partition(b"\r\n")
    header_text, _, reply = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_text.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, reply


def _fault(reply: bytes, version: str) -> tuple[str, str]:
    """(the standard fault code, the gateway's code) of a SOAP fault."""
    env = etree.fromstring(reply)
    if version == SOAP12:
        value = env.findtext(f".//{{{SOAP12}}}Value") or ""
        reason = env.findtext(f".//{{{SOAP12}}}Text") or ""
        return value, reason.split(":", 1)[0]
    return env.findtext(".//faultcode") or "", (env.findtext(".//faultstring") or "").split(":")[0]


def test_every_face_refuses_an_oversized_body_before_reading_it(port: int) -> None:
    soap = _headers_only(port, "/soap/v1", "text/xml; charset=utf-8")
    assert soap.status == 500 and soap.getheader("X-Request-Id")  # a fault toolkits parse

    legacy = _headers_only(port, "/legacy/edoc", "text/xml; charset=utf-8")
    assert legacy.status == 500  # a SOAP 1.1 fault: what legacy clients parse
    assert legacy.getheader("Content-Type", "").startswith("text/xml")
    legacy12 = _headers_only(port, "/legacy/edoc", "application/soap+xml; charset=utf-8")
    assert legacy12.status == 400 and legacy12.getheader("X-Request-Id")
    multipart = _headers_only(
        port, "/legacy/edoc", 'multipart/related; type="application/soap+xml"; boundary="b"'
    )
    assert multipart.status == 400

    vxp = _headers_only(port, "/vxp/sendEdoc", "multipart/form-data; boundary=x")
    assert vxp.status == 413 and vxp.getheader("X-Request-Id")


def test_the_legacy_size_refusal_is_a_fault_in_the_callers_dialect(port: int) -> None:
    big = b"<x>" + b"a" * LIMIT + b"</x>"
    for content_type, version in (("text/xml", SOAP11), ("application/soap+xml", SOAP12)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/legacy/edoc", big, {"Content-Type": content_type})
        reply = connection.getresponse().read()
        connection.close()
        standard, code = _fault(reply, version)
        assert code == "R.Request.Size" and standard.endswith(("Client", "Sender"))
        assert b"IsSuccess>false" in reply  # the dialect's Report in the detail


def test_the_rest_face_refuses_an_oversized_chunked_body_with_its_envelope(
    settings: Settings, port: int
) -> None:
    exchange = Exchange(settings)
    try:
        secret = exchange.ensure_agency(AGENCY, "Văn phòng UBND tỉnh Tây Ninh")
    finally:
        exchange.close()
    signed = vxp_headers.sign(
        secret,
        [
            ("systemid", AGENCY),
            ("timestamp", vxp_headers.format_timestamp(dt.datetime.now(dt.UTC))),
            ("Content-Type", "application/json"),
        ],
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in signed)
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    status, headers, reply = _raw(
        port,
        "POST /vxp/registerAgency HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: application/json\r\n{head}",
        chunk * 5 + b"0\r\n\r\n",
    )
    envelope = json.loads(reply)
    assert status == 413 and envelope["status"] == "FAIL"
    assert envelope["ErrorDesc"].startswith("R.Request.Size")
    assert headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("path", "content_type", "version"),
    [
        ("/legacy/edoc", "text/xml", SOAP11),
        ("/legacy/edoc", "application/soap+xml", SOAP12),
        ("/soap/v1", "text/xml; charset=utf-8", SOAP11),
    ],
)
def test_malformed_chunked_framing_is_a_client_fault(
    port: int, path: str, content_type: str, version: str
) -> None:
    status, _headers, reply = _raw(
        port,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: {content_type}\r\n",
        b"zz\r\n<soap/>\r\n0\r\n\r\n",
    )
    standard, code = _fault(reply, version)
    assert code == "M.Http.Body" and standard.endswith(("Client", "Sender"))
    assert status == (400 if version == SOAP12 else 500)


def test_a_well_framed_chunked_request_is_read(port: int) -> None:
    envelope = (
        f"<s:Envelope xmlns:s='{SOAP11}'><s:Body><NoSuchThing/></s:Body></s:Envelope>".encode()
    )
    framed = b"".join(
        f"{len(envelope[i : i + 10]):x}\r\n".encode() + envelope[i : i + 10] + b"\r\n"
        for i in range(0, len(envelope), 10)
    )
    _status, _headers, reply = _raw(
        port,
        "POST /legacy/edoc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: text/xml\r\n",
        framed + b"0\r\n\r\n",
    )
    assert _fault(reply, SOAP11)[1] == "R.SOAPAction"  # parsed: the operation is unknown


def test_each_answer_carries_one_request_id_and_one_access_line(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    ids = []
    for path, offered in (("/soap/v1?wsdl", "proxy-id-123456"), ("/legacy/edoc?wsdl", "bad id")):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"X-Request-Id": offered})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200
        assert len(response.headers.get_all("X-Request-Id") or []) == 1
        ids.append(response.getheader("X-Request-Id", ""))
    assert ids[0] == "proxy-id-123456"  # a proxy's id carries through
    assert re.fullmatch(r"[0-9a-f]{16}", ids[1])  # anything else is replaced
    # The line is written when the server closes the answer, just after the client has it.
    for rid, path in zip(ids, ("/soap/v1", "/legacy/edoc"), strict=True):
        line = _access_line(caplog, rid)
        assert (line.path, line.method, line.status, line.outcome) == (path, "GET", 200, "ok")
        assert line.context["face"] == ("soap" if path == "/soap/v1" else "legacy")


def _access_line(caplog: pytest.LogCaptureFixture, rid: str) -> Any:
    """The access line of request ``rid`` (waited for: it follows the answer)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [
            r
            for r in caplog.records
            if r.name == "gateway.access" and getattr(r, "context", {}).get("request_id") == rid
        ]
        if lines:
            assert len(lines) == 1, [r.__dict__ for r in lines]
            return lines[0]
        assert time.monotonic() < deadline, f"no access line for request {rid}"
        time.sleep(0.05)


def _legacy_pending(organ_id: str, token: str) -> bytes:
    return (
        f"<soap:Envelope xmlns:soap='{SOAP11}'><soap:Body><GetPendingDocumentIdsRequest>"
        f"<OrganId>{organ_id}</OrganId><Token>{token}</Token>"
        "</GetPendingDocumentIdsRequest></soap:Body></soap:Envelope>"
    ).encode()


def test_every_faces_access_line_names_operation_agency_and_code(
    settings: Settings, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    secret = _secret(settings)
    legacy = {"Content-Type": "text/xml", "SOAPAction": "GetPendingDocumentIds"}
    calls = [
        (_post(port, "/legacy/edoc", _legacy_pending(AGENCY, secret), legacy),
         ("legacy", "GetPendingDocumentIds", AGENCY, "ok", None)),
        (_post(port, "/legacy/edoc", _legacy_pending(AGENCY, "wrong"), legacy),
         ("legacy", "GetPendingDocumentIds", None, "refused", "M.Permission")),
        (_post(port, "/legacy/edoc", b"<not-xml", legacy),
         ("legacy", None, None, "refused", "M.Soap.Xml")),
        (_post(port, "/vxp/getAgenciesList", b"{}", _signed(secret)),
         ("vxp", "getAgenciesList", AGENCY, "ok", None)),
        (_post(port, "/vxp/getAgenciesList", b"{}", {"Content-Type": "application/json"}),
         ("vxp", "getAgenciesList", None, "refused", "M.Vxp.")),
    ]
    for answer, (face, operation, agency, outcome, code) in calls:
        line = _access_line(caplog, answer.getheader("X-Request-Id", ""))
        context = line.context
        assert (context["face"], context.get("operation"), context.get("agency")) == (
            face, operation, agency
        ), answer.body
        assert line.outcome == outcome and line.levelname == "INFO", answer.body
        assert str(getattr(line, "code", "")).startswith(code or "") and bool(code) == hasattr(
            line, "code"
        ), line.__dict__


def _signed(secret: str, moment: dt.datetime | None = None) -> dict[str, str]:
    """Signed as the SDK signs: its local time, without a zone."""
    stamp = vxp_headers.format_timestamp(moment or dt.datetime.now())
    params = [("systemid", AGENCY), ("timestamp", stamp), ("Content-Type", "application/json")]
    return {"Content-Type": "application/json", **dict(vxp_headers.sign(secret, params))}


def _secret(settings: Settings) -> str:
    exchange = Exchange(settings)
    try:
        return exchange.ensure_agency(AGENCY, "Văn phòng UBND tỉnh Tây Ninh")
    finally:
        exchange.close()


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.body = response.read()
        return response
    finally:
        connection.close()


def test_a_node_at_its_limit_refuses_at_once_in_every_dialect(
    settings: Settings, port: int
) -> None:
    _refused_in_every_dialect(settings, port)


def test_the_production_server_refuses_in_every_dialect_from_its_loop(settings: Settings) -> None:
    """The same under the server each gunicorn worker runs, which decides admission in its
    event loop and has the face answer the refusal there."""
    app = build_app(settings)
    assert gate_of(app) is not None, "the server would not find the gate to decide with"
    with serving(app, settings) as port:
        _refused_in_every_dialect(settings, port)


def _refused_in_every_dialect(settings: Settings, port: int) -> None:
    # max_in_flight is 64 here: another "worker process" (another lock-file holder) takes
    # every slot, as requests in flight elsewhere on the node would.
    elsewhere = SlotPool(settings.data_dir / "run" / "inflight", settings.max_in_flight)
    held = [elsewhere.acquire() for _ in range(settings.max_in_flight)]
    assert None not in held and elsewhere.acquire() is None
    ping = f"<s:Envelope xmlns:s='{SOAP11}'><s:Body><Ping/></s:Body></s:Envelope>".encode()
    try:
        soap = _post(port, "/soap/v1", ping, {"Content-Type": "text/xml; charset=utf-8"})
        assert soap.status == 500 and _fault(soap.body, SOAP11) == ("soap:Server", "Server.Busy")
        assert soap.getheader("Retry-After") == str(settings.busy_retry_after_seconds)
        soap12 = _post(port, "/soap/v1", ping, {"Content-Type": "application/soap+xml"})
        assert soap12.status == 500  # a Receiver fault in SOAP 1.2
        legacy = _post(port, "/legacy/edoc", ping, {"Content-Type": "text/xml"})
        assert legacy.status == 500 and _fault(legacy.body, SOAP11)[1] == "Server.Busy"
        rest = _post(port, "/vxp/getAgenciesList", b"{}", {"Content-Type": "application/json"})
        assert rest.status == 503 and rest.getheader("Retry-After")
        assert json.loads(rest.body)["ErrorDesc"].startswith("Server.Busy")
        wsdl = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        wsdl.request("GET", "/soap/v1?wsdl")
        assert wsdl.getresponse().status == 200  # GETs are not counted
        wsdl.close()
    finally:
        for slot in held:
            assert slot is not None
            elsewhere.release(slot)
    soap = _post(port, "/soap/v1", ping, {"Content-Type": "text/xml; charset=utf-8"})
    assert soap.status == 200
    assert elsewhere.acquire() is not None  # the server released what it took


@pytest.mark.parametrize(
    "settings", [{"agency_rate_per_minute": 1, "agency_burst": 2}], indirect=True
)
def test_an_agency_past_its_rate_is_refused_others_are_not(settings: Settings, port: int) -> None:
    secret = _secret(settings)
    answers = [_post(port, "/vxp/getAgenciesList", b"{}", {**_signed(secret)}) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 503]
    assert json.loads(answers[2].body)["ErrorDesc"].startswith("Server.Busy")
    # The legacy dialect charges the same buckets once OrganId + Token are proven.
    pending = _legacy_pending(AGENCY, secret)
    legacy = _post(port, "/legacy/edoc", pending, {"Content-Type": "text/xml"})
    assert legacy.status == 500 and _fault(legacy.body, SOAP11)[1] == "Server.Busy"
    claimed = _post(port, "/legacy/edoc", _legacy_pending(AGENCY, "wrong"), {
        "Content-Type": "text/xml"})
    assert b"M.Permission" in claimed.body and b"Server.Busy" not in claimed.body
    # An unauthenticated caller spends nobody's tokens: it is refused for what it is.
    stranger = _post(port, "/vxp/getAgenciesList", b"{}", {"Content-Type": "application/json"})
    assert stranger.status == 200 and json.loads(stranger.body)["status"] == "FAIL"


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    assert buckets.take("a") and buckets.take("a") and not buckets.take("a")
    assert buckets.take("b")  # each agency has its own
    now[0] = 1.0  # one token a second
    assert buckets.take("a") and not buckets.take("a")


def test_old_timestamps_are_accepted_by_default_as_sdk_clients_send_them(
    settings: Settings, port: int
) -> None:
    headers = _signed(_secret(settings), dt.datetime.now() - dt.timedelta(days=30))
    for _ in range(2):  # the same signed headers again: no replay check by default
        answer = _post(port, "/vxp/getAgenciesList", b"{}", headers)
        assert json.loads(answer.body)["status"] == "OK"


@pytest.mark.parametrize(
    "settings", [{"vxp_freshness_seconds": 300, "vxp_reject_replays": True}], indirect=True
)
def test_a_freshness_window_and_replay_detection_when_asked(settings: Settings, port: int) -> None:
    secret = _secret(settings)
    fresh = _signed(secret)
    first = json.loads(_post(port, "/vxp/getAgenciesList", b"{}", fresh).body)
    assert first["status"] == "OK"
    replay = json.loads(_post(port, "/vxp/getAgenciesList", b"{}", fresh).body)
    assert replay["status"] == "FAIL" and "replay" in replay["ErrorDesc"]
    stale = _signed(secret, dt.datetime.now() - dt.timedelta(hours=1))
    old = json.loads(_post(port, "/vxp/getAgenciesList", b"{}", stale).body)
    assert old["status"] == "FAIL" and "vxp_freshness_seconds" in old["ErrorDesc"]
    again = json.loads(_post(port, "/vxp/getAgenciesList", b"{}", _signed(secret)).body)
    assert again["status"] == "OK"  # a new signature (a new timestamp) is served
