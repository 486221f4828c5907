"""The legacy eDoc SOAP dialect at /legacy/edoc on a real server (127.0.0.1, ephemeral port).

Raw HTTP (http.client) sends byte-exact requests modelled on the wire example of reference §5.3:
SwA multipart/related with base64-text and binary parts, MTOM, multipart with no attachment,
SOAP 1.2, SOAPAction quoted and not. zeep loads the legacy WSDL and calls it as a second,
independent client. A legacy sender and a legacy receiver exchange a document through one
gateway: send, pending ids, get document (attachment bytes equal), confirm, update traces, get
traces twice. SQLite and PostgreSQL (``store_settings``).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import re
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import zeep
from lxml import etree
from zeep.transports import Transport

from gateway.config import Settings
from gateway.server import build_app

EDOC = "http://www.e-doc.vn/Schema/"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SENDER, RECEIVER, OTHER = "000.00.01.H53", "000.00.32.H53", "000.00.00.G22"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% cong van\n%%EOF\n" + bytes(range(256))
DOCX = b"PK\x03\x04" + b"\x00\xff" * 300
REPO = Path(__file__).resolve().parents[2]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class Server:
    def __init__(self, settings: Settings) -> None:
        self.httpd: WSGIServer = make_server("127.0.0.1", 0, _unset, handler_class=_Quiet)
        self.port = self.httpd.server_address[1]
        self.settings = replace(settings, public_url=f"http://127.0.0.1:{self.port}")
        from gateway.exchange import Exchange

        admin = Exchange(self.settings)
        now = dt.datetime.now(dt.UTC)
        self.tokens = {}
        for code, name in (
            (SENDER, "Văn phòng UBND tỉnh Tây Ninh"),
            (RECEIVER, "UBND huyện Châu Thành"),
            (OTHER, "Văn phòng Chính phủ"),
        ):
            _record, self.tokens[code] = admin.credentials.add_agency(code, name, "", now)
        self.admin = admin
        self.httpd.set_app(build_app(self.settings))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.admin.close()

    def post(
        self, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            connection.request(
                "POST", "/legacy/edoc", body, {"Content-Type": content_type, **(headers or {})}
            )
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()


def _unset(environ: Any, start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("app not set yet")


@pytest.fixture
def server(store_settings: Settings) -> Iterator[Server]:
    running = Server(store_settings)
    try:
        yield running
    finally:
        running.close()


# -- building requests, byte by byte ------------------------------------------------------------
def envelope(body: str, header: str = "", version: str = SOAP11) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\r\n<soap:Envelope xmlns:soap="{version}" '
        f'xmlns:edXML="{EDOC}"><soap:Header>{header}</soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def multipart(root: bytes, parts: list[tuple[str, str, bytes, str]], boundary: str) -> bytes:
    """Like the Lâm Đồng client of §5.3: root part text/xml 8bit with Content-ID <Start>."""
    out = [
        f"--{boundary}\r\nContent-Type: text/xml; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\nContent-ID: <Start>\r\n\r\n".encode()
        + root
    ]
    for content_id, content_type, data, encoding in parts:
        head = f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
        if encoding:
            head += f"Content-Transfer-Encoding: {encoding}\r\n"
        out.append(f"{head}Content-ID: <{content_id}>\r\n\r\n".encode() + data)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(out)


def swa_type(boundary: str) -> str:
    return f'multipart/related; type="text/xml"; boundary="{boundary}"; start="<Start>"'


def credentials(server: Server, code: str, wrapper: str, extra: str = "") -> str:
    return (
        f"<{wrapper}><OrganId>{code}</OrganId><Token>{server.tokens[code]}</Token>{extra}"
        f"</{wrapper}>"
    )


def organization(tag: str, code: str) -> str:
    return (
        f"<edXML:{tag}><edXML:OrganId>{code}</edXML:OrganId>"
        "<edXML:OrganizationInCharge>UBND</edXML:OrganizationInCharge>"
        "<edXML:OrganName>UBND</edXML:OrganName><edXML:OrganAdd>Tây Ninh</edXML:OrganAdd>"
        "<edXML:Email>vt@tayninh.gov.vn</edXML:Email><edXML:Telephone/><edXML:Fax/>"
        f"<edXML:Website/></edXML:{tag}>"
    )


def send_header(
    server: Server, number: int = 12, token: str | None = None, error_list: bool = True
) -> str:
    token = token if token is not None else server.tokens[SENDER]
    return (
        '<edXML:MessageHeader OriginalBodyRequested="false" ImmediateResponseRequired="true">'
        + organization("From", SENDER)
        + organization("To", RECEIVER)
        + f"<edXML:DocumentId>{SENDER},2024/03/05,{number}/UBND-VP</edXML:DocumentId>"
        f"<edXML:Code><edXML:CodeNumber>{number}</edXML:CodeNumber>"
        "<edXML:CodeNotation>UBND-VP</edXML:CodeNotation></edXML:Code>"
        "<edXML:PromulgationInfo><edXML:Place>Tây Ninh</edXML:Place>"
        "<edXML:PromulgationDate>2024/03/05</edXML:PromulgationDate></edXML:PromulgationInfo>"
        "<edXML:DocumentType><edXML:Type>1</edXML:Type><edXML:TypeDetail>0</edXML:TypeDetail>"
        "<edXML:TypeName>Công văn</edXML:TypeName></edXML:DocumentType>"
        "<edXML:Subject>V/v thử nghiệm trục liên thông</edXML:Subject>"
        "<edXML:Content>Nội dung</edXML:Content>"
        "<edXML:SignerInfo><edXML:Competence>KT. CHỦ TỊCH</edXML:Competence>"
        "<edXML:Position>Phó Chủ tịch</edXML:Position><edXML:FullName>Nguyễn Văn A</edXML:FullName>"
        "</edXML:SignerInfo><edXML:DueDate>2024/04/01</edXML:DueDate>"
        "<edXML:OtherInfo><edXML:Priority>1</edXML:Priority>"
        "<edXML:SphereOfPromulgation>Nội bộ</edXML:SphereOfPromulgation>"
        "<edXML:TyperNotation>VP</edXML:TyperNotation>"
        "<edXML:PromulgationAmount>3</edXML:PromulgationAmount><edXML:PageAmount>2</edXML:PageAmount>"
        "<edXML:Appendixes/></edXML:OtherInfo><edXML:SteeringType>1</edXML:SteeringType>"
        "<edXML:ToPlaces><edXML:Place>Như trên</edXML:Place></edXML:ToPlaces>"
        "</edXML:MessageHeader>"
        "<edXML:TraceHeaderList><edXML:TraceHeader>"
        f"<edXML:OrganId>{SENDER}</edXML:OrganId>"
        "<edXML:Timestamp>2024/03/05 08:09:10</edXML:Timestamp></edXML:TraceHeader>"
        "<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType>"
        "<edXML:BussinessDocReason>Văn bản điện tử mới</edXML:BussinessDocReason>"
        "<edXML:Paper>0</edXML:Paper></edXML:Bussiness></edXML:TraceHeaderList>"
        f"<edXML:Signature><edXML:KeyInfo><edXML:OrganId>{SENDER}</edXML:OrganId>"
        f"<edXML:Token>{token}</edXML:Token></edXML:KeyInfo></edXML:Signature>"
        + ("<edXML:ErrorList/>" if error_list else "")
    )


MANIFEST = (
    '<edXML:Manifest><edXML:Reference href="cid:file1"><edXML:AttachmentName>Công văn.pdf'
    "</edXML:AttachmentName><edXML:Description>Văn bản chính</edXML:Description>"
    '</edXML:Reference><edXML:Reference href="cid:file2"><edXML:AttachmentName>Phụ lục.docx'
    "</edXML:AttachmentName><edXML:Description>Phụ lục</edXML:Description></edXML:Reference>"
    "</edXML:Manifest>"
)


def soap_body(reply: bytes) -> etree._Element:
    """The Envelope cut out of a (possibly multipart) answer, as the §5.3 client does."""
    match = re.search(rb"<(\w+:)?Envelope.*</(\w+:)?Envelope>", reply, re.DOTALL)
    assert match, reply[:500]
    return etree.fromstring(match.group(0))


def report(reply: bytes) -> tuple[str, list[str]]:
    root = soap_body(reply)
    success = root.findtext(f".//{{{EDOC}}}Report/{{{EDOC}}}IsSuccess") or ""
    codes = [e.text or "" for e in root.iterfind(f".//{{{EDOC}}}Error/{{{EDOC}}}Code")]
    return success, codes


def mime_parts(content_type: str, reply: bytes) -> dict[str, bytes]:
    boundary = re.search(r'boundary="([^"]+)"', content_type)
    assert boundary, content_type
    found = {}
    for chunk in reply.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        cid = re.search(rb"Content-ID: <([^>]+)>", head)
        assert cid
        found[cid.group(1).decode()] = data[:-2] if data.endswith(b"\r\n") else data
    return found


def send(
    server: Server, number: int = 12, parts_encoding: str = "base64-text"
) -> tuple[int, str, bytes]:
    if parts_encoding == "base64-text":
        parts = [
            ("file1", "application/pdf", base64.b64encode(PDF), ""),
            ("file2", "application/octet-stream", base64.b64encode(DOCX), ""),
        ]
    else:
        parts = [
            ("file1", "application/pdf", PDF, "binary"),
            ("file2", "application/octet-stream", DOCX, "binary"),
        ]
    body = multipart(envelope(MANIFEST, send_header(server, number)), parts, "MIMEBoundaryX1")
    return server.post(body, swa_type("MIMEBoundaryX1"), {"SOAPAction": "SendDocument"})


def call(
    server: Server,
    action: str,
    body: str,
    quoted: bool = False,
    version: str = SOAP11,
    header: str = "",
) -> bytes:
    """A parameter-only call, as MIME multipart like the §5.3 client (even with no files)."""
    raw = multipart(envelope(body, header, version), [], "MIMEBoundaryP")
    headers = {"SOAPAction": f'"{action}"' if quoted else action}
    status, _type, reply = server.post(raw, swa_type("MIMEBoundaryP"), headers)
    assert status == 200, reply
    return reply


def pending(server: Server, code: str = RECEIVER) -> list[str]:
    reply = call(
        server, "GetPendingDocumentIds", credentials(server, code, "GetPendingDocumentIdsRequest")
    )
    return [e.text or "" for e in soap_body(reply).iterfind(f".//{{{EDOC}}}DocumentId")]


# -- the round trip -------------------------------------------------------------------------------
def test_legacy_sender_to_legacy_receiver_round_trip(server: Server) -> None:
    status, _type, reply = send(server)
    assert status == 200, reply
    assert report(reply) == ("true", [])
    sent_id = soap_body(reply).findtext(f".//{{{EDOC}}}SendDocumentResponse/{{{EDOC}}}DocumentId")
    assert sent_id and sent_id.isdigit()
    # A resend is recognised: the same id, nothing new pending.
    assert soap_body(send(server)[2]).findtext(f".//{{{EDOC}}}DocumentId") == sent_id

    assert pending(server) == [sent_id]
    assert pending(server, OTHER) == []

    connection_type, reply_bytes = _get_document(server, sent_id)
    root = soap_body(reply_bytes)
    header = root.find(f"{{{SOAP11}}}Header")
    assert header is not None
    assert (
        header.findtext(f"{{{EDOC}}}MessageHeader/{{{EDOC}}}Subject")
        == "V/v thử nghiệm trục liên thông"
    )
    # Trace timestamps as Bkav writes them in GetDocument (dd/MM/yyyy HH:mm:ss).
    assert header.findtext(f".//{{{EDOC}}}TraceHeader/{{{EDOC}}}Timestamp") == "05/03/2024 08:09:10"
    refs = root.findall(f".//{{{EDOC}}}Manifest/{{{EDOC}}}Reference")
    names = [r.findtext(f"{{{EDOC}}}AttachmentName") for r in refs]
    assert names == ["Công văn.pdf", "Phụ lục.docx"]
    parts = mime_parts(connection_type, reply_bytes)
    hrefs = [r.get("{http://www.w3.org/1999/xlink}href", "")[4:] for r in refs]
    # Bkav writes each file part as base64 text (the edoc profile does the same).
    assert base64.b64decode(parts[hrefs[0]]) == PDF
    assert base64.b64decode(parts[hrefs[1]]) == DOCX
    assert refs[0].get("{http://www.w3.org/1999/xlink}type") == "application/pdf"

    confirm = call(
        server,
        "ConfirmReceived",
        credentials(server, RECEIVER, "ConfirmReceived", f"<documentId>{sent_id}</documentId>"),
    )
    assert report(confirm) == ("true", [])
    assert pending(server) == []

    status_body = (
        "<Status>"
        + organization("From", RECEIVER).replace("edXML:", "")
        + f"<ResponseFor><OrganId>{SENDER}</OrganId><Code>12/UBND-VP</Code>"
        f"<PromulgationDate>2024/03/05</PromulgationDate>"
        f"<DocumentId>{SENDER},2024/03/05,12/UBND-VP</DocumentId></ResponseFor>"
        "<StaffInfo><Department>Văn thư</Department><Staff>Trần B</Staff>"
        "<Mobile>0912</Mobile><Email>b@x.vn</Email></StaffInfo><StatusCode>3</StatusCode>"
        "<Description>Tiếp nhận</Description><Timestamp>2024/03/06 09:00:00</Timestamp></Status>"
    )
    update = call(
        server,
        "UpdateTraces",
        status_body,
        header=f"<edXML:Signature><edXML:KeyInfo><edXML:OrganId>{RECEIVER}</edXML:OrganId>"
        f"<edXML:Token>{server.tokens[RECEIVER]}</edXML:Token></edXML:KeyInfo></edXML:Signature>",
    )
    assert report(update) == ("true", [])

    def traces(timestamp: str = "") -> list[tuple[str, str]]:
        extra = f"<TimeStamp>{timestamp}</TimeStamp>" if timestamp else ""
        reply = call(server, "GetTraces", credentials(server, SENDER, "GetTraces", extra))
        return [
            (s.findtext(f"{{{EDOC}}}StatusCode") or "", s.findtext(f"{{{EDOC}}}Timestamp") or "")
            for s in soap_body(reply).iterfind(f".//{{{EDOC}}}Traces/{{{EDOC}}}Status")
        ]

    first = traces()
    # The automatic "1" of ConfirmReceived and the receiver's "3", as numbers (Bkav style).
    assert sorted(code for code, _ in first) == ["1", "3"]
    assert ("3", "2024/03/06 09:00:00") in first
    assert traces() == first  # a client that crashed mid-read reads them again
    # A cursor in the future acknowledges everything before it; nothing is left unread.
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).strftime("%Y/%m/%d %H:%M:%S")
    assert traces(later) == []
    assert traces(later) == []
    assert traces() == []
    # With an old cursor the acknowledged statuses are still readable (kept, not deleted).
    assert sorted(code for code, _ in traces("2000/01/01 00:00:00")) == ["1", "3"]


def _get_document(server: Server, sent_id: str) -> tuple[str, bytes]:
    """GetDocument with a quoted SOAPAction; its Content-Type and body."""
    raw = multipart(
        envelope(
            credentials(
                server, RECEIVER, "GetDocumentRequest", f"<documentId>{sent_id}</documentId>"
            )
        ),
        [],
        "B2",
    )
    status, content_type, reply = server.post(raw, swa_type("B2"), {"SOAPAction": '"GetDocument"'})
    assert status == 200
    assert content_type.startswith("multipart/related")
    return content_type, reply


@pytest.mark.parametrize("encoding", ["base64-text", "binary"])
def test_swa_parts_base64_text_or_binary_arrive_as_the_same_file(
    server: Server, encoding: str
) -> None:
    status, _type, reply = send(server, 40, encoding)
    assert status == 200 and report(reply) == ("true", [])
    sent_id = soap_body(reply).findtext(f".//{{{EDOC}}}DocumentId")
    got = server.post(
        multipart(
            envelope(
                credentials(
                    server, RECEIVER, "GetDocumentRequest", f"<documentId>{sent_id}</documentId>"
                )
            ),
            [],
            "B",
        ),
        swa_type("B"),
        {"SOAPAction": "GetDocument"},
    )
    files = sorted(
        base64.b64decode(v) for k, v in mime_parts(got[1], got[2]).items() if k != _root_id(got[1])
    )
    assert files == sorted([PDF, DOCX])


def _root_id(content_type: str) -> str:
    match = re.search(r'start="<([^>]+)>"', content_type)
    assert match
    return match.group(1)


def test_mtom_request_with_xop_include(server: Server) -> None:
    boundary = "uuid:mtom-1"
    manifest = (
        "<edXML:Manifest><edXML:Reference><edXML:AttachmentName>Công văn.pdf</edXML:AttachmentName>"
        "<edXML:Description>Văn bản</edXML:Description><edXML:Content>"
        '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:pdf-1@client"/>'
        "</edXML:Content></edXML:Reference></edXML:Manifest>"
    )
    root = envelope(manifest, send_header(server, 41), SOAP12)
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
            'type="application/soap+xml; action=\\"SendDocument\\""\r\n'
            "Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@client>\r\n\r\n"
        ).encode()
        + root
        + (
            f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            "Content-ID: <pdf-1@client>\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        'start="<root.message@client>"; '
        'start-info="application/soap+xml; action=\\"SendDocument\\""'
    )
    status, reply_type, reply = server.post(body, content_type)
    assert status == 200, reply
    assert reply_type.startswith("application/soap+xml")
    assert soap_body(reply).tag == f"{{{SOAP12}}}Envelope"
    assert report(reply) == ("true", [])
    sent_id = soap_body(reply).findtext(f".//{{{EDOC}}}DocumentId")
    assert sent_id in pending(server)


def test_plain_text_xml_soap12_and_unquoted_or_quoted_actions(server: Server) -> None:
    body = envelope(credentials(server, SENDER, "GetOrganizations"))
    for action in (
        "GetOrganizations",
        '"GetOrganizations"',
        "http://www.e-doc.vn/GetOrganizations",
    ):
        status, content_type, reply = server.post(
            body, "text/xml; charset=utf-8", {"SOAPAction": action}
        )
        assert status == 200 and content_type.startswith("text/xml")
        ids = [
            e.text
            for e in soap_body(reply).iterfind(f".//{{{EDOC}}}Organization/{{{EDOC}}}OrganId")
        ]
        assert sorted(ids) == sorted([SENDER, RECEIVER, OTHER])
    status, content_type, reply = server.post(
        envelope(credentials(server, SENDER, "GetOrganizations"), version=SOAP12),
        'application/soap+xml; charset=utf-8; action="GetOrganizations"',
    )
    assert status == 200 and content_type.startswith("application/soap+xml")
    assert soap_body(reply).find(f".//{{{EDOC}}}GetOrganizationsResponse") is not None


def test_check_permission_and_auth_failures(server: Server) -> None:
    good = call(
        server, "CheckPermission", "", header=credentials(server, SENDER, "CheckPermission")
    )
    assert report(good) == ("true", [])
    wrong = (
        f"<CheckPermission><OrganId>{SENDER}</OrganId>"
        f"<Token>{server.tokens[RECEIVER]}</Token></CheckPermission>"
    )
    assert report(call(server, "CheckPermission", "", header=wrong)) == ("false", ["M.Permission"])
    unknown = (
        "<GetPendingDocumentIdsRequest><OrganId>000.00.99.H53</OrganId><Token>x</Token>"
        "</GetPendingDocumentIdsRequest>"
    )
    assert report(call(server, "GetPendingDocumentIds", unknown)) == ("false", ["M.Permission"])
    # A wrong token on SendDocument stores nothing.
    body = multipart(
        envelope(MANIFEST, send_header(server, 50, token="nope")),
        [("file1", "application/pdf", PDF, "binary"), ("file2", "application/pdf", PDF, "binary")],
        "Bx",
    )
    status, _t, reply = server.post(body, swa_type("Bx"), {"SOAPAction": "SendDocument"})
    assert status == 200 and report(reply) == ("false", ["M.Permission"])
    assert pending(server) == []


def test_rotated_secret_is_the_new_token(server: Server) -> None:
    old = server.tokens[SENDER]
    _record, new = server.admin.credentials.rotate(SENDER, dt.datetime.now(dt.UTC))
    assert new != old
    assert report(
        call(server, "CheckPermission", "", header=credentials(server, SENDER, "CheckPermission"))
    )[1] == ["M.Permission"]
    server.tokens[SENDER] = new
    assert report(
        call(server, "CheckPermission", "", header=credentials(server, SENDER, "CheckPermission"))
    ) == ("true", [])


def test_malformed_requests_change_nothing(server: Server) -> None:
    # Not XML: a client fault in SOAP 1.1.
    status, _t, reply = server.post(b"<not-xml", "text/xml", {"SOAPAction": "GetTraces"})
    assert status == 500 and b"M.Soap.Xml" in reply and b"faultcode" in reply
    # Unknown action.
    status, _t, reply = server.post(envelope("<Nothing/>"), "text/xml", {"SOAPAction": "Explode"})
    assert status == 500 and b"R.SOAPAction" in reply
    # Missing ErrorList header block: the dialect's code, nothing stored.
    body = multipart(
        envelope(MANIFEST, send_header(server, 60, error_list=False)),
        [("file1", "application/pdf", PDF, "binary"), ("file2", "application/pdf", PDF, "binary")],
        "By",
    )
    status, _t, reply = server.post(body, swa_type("By"), {"SOAPAction": "SendDocument"})
    assert report(reply) == ("false", ["N.MessageHeader.ErrorList"])
    # A Reference naming a part that is not there.
    body = multipart(
        envelope(MANIFEST, send_header(server, 61)),
        [("file1", "application/pdf", PDF, "binary")],
        "Bz",
    )
    status, _t, reply = server.post(body, swa_type("Bz"), {"SOAPAction": "SendDocument"})
    assert report(reply) == ("false", ["N.Manifest.Reference"])
    # A truncated multipart body.
    raw = multipart(
        envelope(MANIFEST, send_header(server, 62)),
        [("file1", "application/pdf", PDF, "binary")],
        "Bt",
    )
    status, _t, reply = server.post(raw[:-30], swa_type("Bt"), {"SOAPAction": "SendDocument"})
    assert status == 500 and b"M.Mime.Truncated" in reply
    # An invalid header (no Subject) is the validator's code.
    broken = send_header(server, 63).replace(
        "<edXML:Subject>V/v thử nghiệm trục liên thông</edXML:Subject>", ""
    )
    body = multipart(
        envelope(MANIFEST, broken),
        [("file1", "application/pdf", PDF, "binary"), ("file2", "application/pdf", PDF, "binary")],
        "Bv",
    )
    status, _t, reply = server.post(body, swa_type("Bv"), {"SOAPAction": "SendDocument"})
    success, codes = report(reply)
    assert success == "false" and codes and codes[0].startswith("N.")
    # Unknown document id and another agency's document.
    get = credentials(server, RECEIVER, "GetDocumentRequest", "<documentId>999999</documentId>")
    assert report(call(server, "GetDocument", get)) == ("false", ["M.GetDocumentCheckAllow"])
    assert pending(server) == []


def test_a_document_that_lost_its_file_is_refused(server: Server) -> None:
    """What PHP's SoapClient sent (it ignores mime:multipartRelated): the header blocks, an empty
    Manifest, no MIME part. Refused with a code, nothing delivered; the same with no Manifest, as
    plain text/xml, and on SOAP 1.2."""
    for number, (body, version) in enumerate(
        [("<edXML:Manifest/>", SOAP11), ("", SOAP11), ("<edXML:Manifest/>", SOAP12)], start=70
    ):
        root = envelope(body, send_header(server, number), version)
        media = "text/xml; charset=utf-8" if version == SOAP11 else "application/soap+xml"
        for raw, content_type in ((root, media), (multipart(root, [], "Bn"), swa_type("Bn"))):
            _status, _t, reply = server.post(raw, content_type, {"SOAPAction": "SendDocument"})
            assert report(reply) == ("false", ["N.Manifest.File"]), reply
    assert pending(server) == []


def test_a_profile_may_accept_documents_without_files(store_settings: Settings) -> None:
    profiles = store_settings.data_dir / "profiles"
    profiles.mkdir(parents=True)
    edoc = Path(__file__).parents[2] / "legacy_adapters" / "profiles" / "edoc.toml"
    text = edoc.read_text("utf-8").replace("needs_file = true", "needs_file = false")
    assert "document_needs_file = false" in text
    (profiles / "edoc.toml").write_text(text, "utf-8")
    lenient = Server(replace(store_settings, legacy_profiles_dir=profiles))
    try:
        root = envelope("<edXML:Manifest/>", send_header(lenient, 79))
        _status, _t, reply = lenient.post(root, "text/xml", {"SOAPAction": "SendDocument"})
        assert report(reply)[0] == "true"
        assert len(pending(lenient)) == 1
    finally:
        lenient.close()


def test_served_wsdl_and_zeep_client(server: Server, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.port}/legacy/edoc"
    with urllib.request.urlopen(url + "?wsdl", timeout=10) as response:
        served = response.read()
    assert url.encode() in served and b"mime" in served
    client = zeep.Client(
        url + "?wsdl",
        settings=zeep.Settings(forbid_entities=True, strict=False),
        transport=Transport(operation_timeout=10, timeout=10),
    )
    service = client.bind("EdocLegacyService", "EdocLegacySoap11")
    answer = service.GetOrganizations(OrganId=SENDER, Token=server.tokens[SENDER])
    assert sorted(o.OrganId for o in answer.Organizations.Organization) == sorted(
        [SENDER, RECEIVER, OTHER]
    )
    answer = service.GetPendingDocumentIds(OrganId=RECEIVER, Token=server.tokens[RECEIVER])
    assert answer.Report is None or answer.Report.IsSuccess
    checked = service.CheckPermission(
        _soapheaders={"CheckPermission": {"OrganId": SENDER, "Token": server.tokens[SENDER]}}
    )
    assert checked.IsSuccess is True
    denied = service.CheckPermission(
        _soapheaders={"CheckPermission": {"OrganId": SENDER, "Token": "x"}}
    )
    assert denied.IsSuccess is False and denied.ErrorList.Error[0].Code == "M.Permission"
    # The committed WSDL (relative schema locations) loads too.
    zeep.Client(
        str(REPO / "wsdl" / "edoc-legacy.wsdl"), settings=zeep.Settings(forbid_external=True)
    )


def test_ws_i_wsdl_for_generated_stubs(server: Server) -> None:
    """``?wsdl=wsi``: element-bound request parts (what .NET and Java stub generators need), the
    same operations and SOAPActions as ``?wsdl``. A client built from it writes the wrappers
    qualified, and the gateway answers them exactly as the unqualified ones real clients send."""
    url = f"http://127.0.0.1:{server.port}/legacy/edoc"
    with urllib.request.urlopen(url + "?wsdl=wsi", timeout=10) as response:
        served = etree.fromstring(response.read())
    ns = {
        "wsdl": "http://schemas.xmlsoap.org/wsdl/",
        "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    }
    assert not [
        p
        for p in served.iterfind(".//wsdl:message/wsdl:part", ns)
        if p.get("type") and p.get("name") != "File"
    ]
    plain = etree.parse(str(REPO / "wsdl" / "edoc-legacy.wsdl")).getroot()

    def actions(root: etree._Element) -> list[tuple[str | None, str | None]]:
        return [
            (op.getparent().getparent().get("name"), op.get("soapAction"))
            for op in root.iterfind(".//wsdl:binding/wsdl:operation/soap:operation", ns)
        ]

    assert actions(served) == actions(plain)
    client = zeep.Client(url + "?wsdl=wsi", transport=Transport(operation_timeout=10, timeout=10))
    service = client.bind("EdocLegacyService", "EdocLegacySoap11")
    sent = etree.tostring(
        client.create_message(service, "GetOrganizations", OrganId=SENDER, Token="t")
    )
    assert b'<ns0:GetOrganizations xmlns:ns0="urn:edoc-gateway:legacy:edoc:requests">' in sent
    assert b"<OrganId>" in sent  # children unqualified, as on the wire
    answer = service.GetOrganizations(OrganId=SENDER, Token=server.tokens[SENDER])
    assert sorted(o.OrganId for o in answer.Organizations.Organization) == sorted(
        [SENDER, RECEIVER, OTHER]
    )
    assert service.CheckPermission(OrganId=SENDER, Token=server.tokens[SENDER]).IsSuccess
    denied = service.CheckPermission(OrganId=SENDER, Token="x")
    assert denied.IsSuccess is False and denied.ErrorList.Error[0].Code == "M.Permission"
    qualified = call(
        server,
        "GetOrganizations",
        etree.tostring(
            client.create_message(
                service, "GetOrganizations", OrganId=SENDER, Token=server.tokens[SENDER]
            ).find(".//{*}Body/*")
        ).decode(),
    )
    unqualified = call(server, "GetOrganizations", credentials(server, SENDER, "GetOrganizations"))
    assert soap_body(qualified).find(f".//{{{EDOC}}}Organizations") is not None
    assert etree.tostring(soap_body(qualified)) == etree.tostring(soap_body(unqualified))
