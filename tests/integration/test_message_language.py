"""What a clerk reads, in the configured language (issue 14 item 3), on a real server.

The whole gateway (build_app: modern SOAP, legacy eDoc, REST face) runs on 127.0.0.1 with an
ephemeral port and a real SQLite file. Each face is called as its clients call it (raw HTTP with
a PasswordDigest UsernameToken, the legacy dialect's OrganId + Token, the VXP signed headers);
the sentences of SOAP faults, receipts' warnings, the legacy ErrorList and the REST face's
ErrorDesc follow ``message_language`` and ``message_language_by_agency``; the codes never change.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from lxml import etree

from gateway.config import ConfigError, Settings, check
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.server import build_app
from gateway.vxp import headers as vxp_headers
from tests.fixtures.packages import build_document

SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"
TNS = "urn:edoc-gateway:soap:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
EDOC = "http://www.e-doc.vn/Schema/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
SUBJECT_EN = "must not be empty"
SUBJECT_VI = "Thiếu Trích yếu (Subject)"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _unset(environ: Any, start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("the application is set before the server starts")


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.httpd: WSGIServer = make_server("127.0.0.1", 0, _unset, handler_class=_Quiet)
        self.port = self.httpd.server_address[1]
        self.settings = replace(settings, public_url=f"http://127.0.0.1:{self.port}")
        self.exchange = Exchange(self.settings)
        now = dt.datetime.now(dt.UTC)
        self.secrets: dict[str, str] = {}
        for code, name in ((SENDER, "Văn phòng Chính phủ"), (RECEIVER, "UBND Tỉnh Nghệ An")):
            _record, self.secrets[code] = self.exchange.credentials.add_agency(code, name, "", now)
        self.httpd.set_app(build_app(self.settings))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.exchange.close()

    def post(self, path: str, body: bytes, content_type: str, **headers: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            connection.request("POST", path, body, {"Content-Type": content_type, **headers})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def package(self, **overrides: Any) -> bytes:
        return package_bytes(build_document(self.exchange.blobs, **overrides), self.exchange.blobs)

    def security(self, code: str) -> str:
        nonce = os.urandom(16)
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + self.secrets[code].encode()).digest()
        ).decode()
        return (
            f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{code}</wsse:Username>"
            f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        )

    def send_document(self, code: str, package: bytes, version: str = SOAP11) -> etree._Element:
        body = (
            f'<s:Envelope xmlns:s="{version}"><s:Header>{self.security(code)}</s:Header>'
            f'<s:Body><SendDocument xmlns="{TNS}"><package>'
            f"{base64.b64encode(package).decode()}</package></SendDocument></s:Body></s:Envelope>"
        ).encode()
        media = "text/xml" if version == SOAP11 else "application/soap+xml"
        _status, reply = self.post("/soap/v1", body, f"{media}; charset=utf-8")
        return etree.fromstring(reply)


def _gateway(tmp_path: Path, **settings: Any) -> Iterator[Gateway]:
    running = Gateway(Settings(data_dir=tmp_path, **settings))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(tmp_path / "both")


@pytest.fixture
def per_agency(tmp_path: Path) -> Iterator[Gateway]:
    """English by default, Vietnamese only for SENDER's clerks."""
    yield from _gateway(
        tmp_path / "per-agency", message_language="en", message_language_by_agency=(f"{SENDER}=vi",)
    )


def _texts(root: etree._Element, local: str) -> list[str]:
    return [str(e.text or "") for e in root.iter() if etree.QName(e).localname == local]


def test_a_soap_fault_reads_vietnamese_first_then_english_by_default(both: Gateway) -> None:
    reply = both.send_document(SENDER, both.package(subject=""))
    faultstring = _texts(reply, "faultstring")[0]
    assert faultstring.startswith(f"N.MessageHeader.Subject: {SUBJECT_VI}")
    assert SUBJECT_EN in faultstring  # the English sentence stays whole after it
    detail_messages = _texts(reply, "message")
    assert detail_messages and all(SUBJECT_VI in m and SUBJECT_EN in m for m in detail_messages)
    assert _texts(reply, "code")[0] == "N.MessageHeader.Subject"  # the code never changes

    reply12 = both.send_document(SENDER, both.package(subject=""), SOAP12)
    reason = next(e for e in reply12.iter() if etree.QName(e).localname == "Text")
    assert reason.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    assert SUBJECT_VI in str(reason.text) and SUBJECT_EN in str(reason.text)


def test_the_language_is_chosen_per_agency(per_agency: Gateway) -> None:
    vi = _texts(per_agency.send_document(SENDER, per_agency.package(subject="")), "faultstring")
    assert SUBJECT_VI in vi[0] and SUBJECT_EN not in vi[0]
    en = _texts(per_agency.send_document(RECEIVER, per_agency.package(subject="")), "faultstring")
    assert SUBJECT_EN in en[0] and SUBJECT_VI not in en[0]
    # Before anyone is identified, the default (English here).
    _status, reply = per_agency.post("/soap/v1", b"<s:Envelope", "text/xml; charset=utf-8")
    anonymous = _texts(etree.fromstring(reply), "faultstring")[0]
    assert anonymous.startswith("M.Soap.Xml: the request is not well-formed XML")


def test_receipt_warnings_carry_the_vietnamese_field_name(both: Gateway) -> None:
    package = both.package().replace(
        b"PromulgationDate>2024/03/05</", b"PromulgationDate>05/03/2024</"
    )
    assert b"05/03/2024" in package
    reply = both.send_document(SENDER, package)
    codes = _texts(reply, "code")
    assert "W.MessageHeader.PromulgationInfo.PromulgationDate" in codes
    message = _texts(reply, "message")[
        codes.index("W.MessageHeader.PromulgationInfo.PromulgationDate")
    ]
    assert "Ngày ban hành" in message and "read as 2024/03/05" in message


def _legacy(gateway: Gateway, organ_id: str, token: str) -> tuple[list[str], list[str]]:
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11}" '
        f'xmlns:edXML="{EDOC}"><soap:Header><CheckPermission><OrganId>{organ_id}</OrganId>'
        f"<Token>{token}</Token></CheckPermission></soap:Header>"
        "<soap:Body><edXML:CheckPermission/></soap:Body></soap:Envelope>"
    ).encode()
    _status, reply = gateway.post(
        "/legacy/edoc", body, "text/xml; charset=utf-8", SOAPAction='"CheckPermission"'
    )
    root = etree.fromstring(reply)
    return _texts(root, "Code"), _texts(root, "Description")


def test_the_legacy_error_list_is_in_the_clerks_language(
    both: Gateway, per_agency: Gateway
) -> None:
    codes, descriptions = _legacy(both, SENDER, "wrong-token")
    assert codes == ["M.Permission"]
    assert descriptions[0].startswith("Đơn vị không có quyền thực hiện thao tác này. ")
    codes, descriptions = _legacy(per_agency, SENDER, "wrong-token")
    assert codes == ["M.Permission"] and descriptions == [
        "Đơn vị không có quyền thực hiện thao tác này"
    ]
    codes, descriptions = _legacy(per_agency, RECEIVER, "wrong-token")
    assert codes == ["M.Permission"] and "không" not in descriptions[0]


def _vxp_get(gateway: Gateway, code: str, doc_id: str) -> dict[str, Any]:
    params = [
        ("systemid", code),
        ("timestamp", vxp_headers.format_timestamp(dt.datetime.now())),
        ("Content-Type", "application/json"),
        ("docid", doc_id),
    ]
    headers = [*vxp_headers.sign(gateway.secrets[code], params)]
    headers.append(("Content-Type", "application/json"))
    body = b"{}"
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=20)
    try:
        connection.putrequest("POST", "/vxp/getEdoc")
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        answer: dict[str, Any] = json.loads(connection.getresponse().read())
        return answer
    finally:
        connection.close()


def test_the_rest_face_error_desc_is_in_the_clerks_language(per_agency: Gateway) -> None:
    answer = _vxp_get(per_agency, SENDER, "no-such-package")
    assert answer["status"] == "FAIL"
    assert answer["ErrorDesc"].startswith("N.Package at packageId: Không tìm thấy gói tin")
    english = _vxp_get(per_agency, RECEIVER, "no-such-package")
    assert english["ErrorDesc"].startswith("N.Package at packageId: no package")


def test_config_check_refuses_an_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as wrong:
        check(Settings(data_dir=tmp_path, message_language="fr"))
    assert wrong.value.code == "R.Config.message_language"
    with pytest.raises(ConfigError) as entry:
        check(Settings(data_dir=tmp_path, message_language_by_agency=("000.00.00.G22",)))
    assert entry.value.code == "M.Config.message_language_by_agency"
    check(Settings(data_dir=tmp_path, message_language_by_agency=("000.00.00.G22=EN",)))
