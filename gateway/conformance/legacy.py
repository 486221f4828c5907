"""The legacy dialect's driver: the eDoc SOAP dialect (reference §5) spoken as raw HTTP.

Requests are built byte by byte the way an unchanged eOffice client sends them: SOAPAction
(quoted or not), unqualified request wrappers, ``http://www.e-doc.vn/Schema/``-qualified header
blocks, SwA ``multipart/related`` with base64-text or binary parts, MTOM, SOAP 1.1 or 1.2, and
OrganId + Token (the agency's secret) as credentials. The kit's edXML packages are translated to
the dialect here (header blocks moved to the e-doc.vn namespace, files as MIME parts), so the
behavioural assertions written against :class:`~gateway.conformance.driver.Driver` run unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from gateway.conformance.driver import (
    Confirmation,
    Fetched,
    PendingItem,
    Receipt,
    ServiceFault,
    Trace,
)
from gateway.conformance.exchanges import Exchange, ExchangeLog
from gateway.conformance.modern import http_request
from gateway.edxml.model import DocumentPackage, StatusPackage
from gateway.edxml.reader import read_package
from gateway.edxml.writer import envelope_bytes
from gateway.store.blobs import FileBlobStore

EDOC = "http://www.e-doc.vn/Schema/"
XLINK = "http://www.w3.org/1999/xlink"
XOP = "http://www.w3.org/2004/08/xop/include"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_TYPES = {SOAP11: "text/xml", SOAP12: "application/soap+xml"}
OPERATIONS = (
    "SendDocument",
    "GetPendingDocumentIds",
    "GetDocument",
    "ConfirmReceived",
    "UpdateTraces",
    "GetTraces",
    "CheckPermission",
    "GetOrganizations",
)
# How files travel in SendDocument: SwA with base64 text parts (Bkav), SwA binary, or MTOM.
SWA_TEXT, SWA_BINARY, MTOM = "swa-base64", "swa-binary", "mtom"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_TIMESTAMP = "%Y/%m/%d %H:%M:%S"


@dataclass(slots=True)
class Reply:
    """One answer of the dialect: the exchange, the SOAP envelope cut out of it, MIME parts."""

    exchange: Exchange
    envelope: etree._Element | None
    parts: dict[str, bytes] = field(default_factory=dict)

    @property
    def version(self) -> str:
        if self.envelope is None:
            return ""
        return etree.QName(self.envelope).namespace or ""

    def find(self, path: str) -> etree._Element | None:
        """``.//`` search with ``e:`` as the e-doc.vn prefix."""
        if self.envelope is None:
            return None
        return self.envelope.find(path, {"e": EDOC, "x": XLINK})

    def findall(self, path: str) -> list[etree._Element]:
        if self.envelope is None:
            return []
        return self.envelope.findall(path, {"e": EDOC, "x": XLINK})

    def text(self, path: str) -> str:
        found = self.find(path)
        return (found.text or "").strip() if found is not None else ""

    @property
    def header(self) -> etree._Element | None:
        if self.envelope is None:
            return None
        return self.envelope.find(f"{{{self.version}}}Header")

    @property
    def report(self) -> etree._Element | None:
        return self.find(".//e:Report")

    @property
    def success(self) -> bool | None:
        """Report/IsSuccess; None when the answer has no Report."""
        report = self.report
        if report is None:
            return None
        return report.findtext(f"{{{EDOC}}}IsSuccess", "").strip().lower() == "true"

    @property
    def error_codes(self) -> list[str]:
        return [(e.text or "").strip() for e in self.findall(".//e:Error/e:Code")]

    def fault(self) -> ServiceFault | None:
        """The answer as a ServiceFault: a SOAP fault, an HTTP refusal or a failed Report."""
        ex = self.exchange
        if ex.error:
            return ServiceFault("", f"no response: {ex.error}")
        if self.envelope is None:
            return ServiceFault(
                "",
                f"HTTP {ex.status}: the answer holds no SOAP Envelope",
                http_status=ex.status,
            )
        fault = self.find(f".//{{{SOAP11}}}Fault")
        if fault is None:
            fault = self.find(f".//{{{SOAP12}}}Fault")
        if fault is not None:
            standard = (
                fault.findtext("faultcode")
                or fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value", "")
                or ""
            )
            message = (
                fault.findtext("faultstring")
                or fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text", "")
                or ""
            )
            codes = self.error_codes
            return ServiceFault(
                codes[0] if codes else "",
                message,
                standard=standard.rsplit(":", 1)[-1],
                http_status=ex.status,
            )
        if self.success is False:
            codes = self.error_codes
            described = self.text(".//e:Error/e:Description")
            return ServiceFault(
                codes[0] if codes else "", described or "IsSuccess=false", standard="Report"
            )
        if ex.status >= 400:
            return ServiceFault("", f"HTTP {ex.status}", http_status=ex.status)
        return None

    def check(self) -> Reply:
        """This reply, or the ServiceFault it is."""
        problem = self.fault()
        if problem is not None:
            raise problem
        return self


def requalify(el: etree._Element, namespace: str | None) -> etree._Element:
    """A copy of ``el`` with every element in ``namespace`` (None: unqualified)."""

    def name(tag: Any) -> str:
        local = etree.QName(tag).localname
        return f"{{{namespace}}}{local}" if namespace else local

    nsmap = {"edXML": namespace} if namespace else None
    copy = etree.Element(name(el.tag), nsmap=nsmap)

    def fill(source: etree._Element, target: etree._Element) -> None:
        target.attrib.update(dict(source.attrib))
        target.text = source.text
        for c in source:
            if isinstance(c.tag, str):
                new = etree.SubElement(target, name(c.tag))
                fill(c, new)
                new.tail = c.tail

    fill(el, copy)
    return copy


def _xml(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


def _header_blocks(pkg: DocumentPackage | StatusPackage) -> dict[str, etree._Element]:
    """The package's header blocks (MessageHeader, TraceHeaderList) as the model writes them."""
    if isinstance(pkg, DocumentPackage):
        bare: DocumentPackage | StatusPackage = replace(
            pkg, signature=None, references=(), attachments=()
        )
    else:
        bare = replace(pkg, signature=None)
    root = etree.fromstring(envelope_bytes(bare), _PARSER)
    header = next(c for c in root if etree.QName(c).localname == "edXMLHeader")
    return {etree.QName(c).localname: c for c in header if isinstance(c.tag, str)}


def extract_envelope(body: bytes) -> bytes | None:
    """The SOAP Envelope cut out of a plain or multipart answer (as the §5.3 client does)."""
    match = re.search(rb"<(?:[\w.-]+:)?Envelope[\s>].*</(?:[\w.-]+:)?Envelope>", body, re.S)
    return match.group(0) if match else None


def mime_parts(content_type: str, body: bytes) -> dict[str, bytes]:
    """Content-ID → content of a multipart/related answer (base64 text left as it is)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or boundary is None:
        return {}
    found = {}
    for chunk in body.split(b"--" + boundary.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        cid = re.search(rb"(?im)^content-id:\s*<?([^>\r\n]+)>?", head)
        if cid is not None:
            found[cid.group(1).decode().strip()] = data.removesuffix(b"\r\n")
    return found


def decode_part(data: bytes) -> bytes:
    """A file part's bytes: base64 text (Bkav) decoded, binary kept."""
    compact = re.sub(rb"\s+", b"", data)
    if compact and re.fullmatch(rb"[A-Za-z0-9+/]+={0,2}", compact) and len(compact) % 4 == 0:
        try:
            return base64.b64decode(compact, validate=True)
        except ValueError:
            return data
    return data


class LegacyDriver:
    """One agency (OrganId + Token) on the eDoc dialect endpoint."""

    def __init__(
        self,
        endpoint: str,
        log: ExchangeLog,
        organ_id: str,
        token: str,
        blobs: FileBlobStore,
        *,
        version: str = SOAP11,
        files: str = SWA_TEXT,
        timeout: float = 60.0,
    ) -> None:
        self.endpoint = endpoint
        self.log = log
        self.organ_id = organ_id
        self.token = token
        self.blobs = blobs
        self.version = version
        self.files = files
        self.timeout = timeout

    @property
    def agency(self) -> str:
        return self.organ_id

    def variant(self, **changes: Any) -> LegacyDriver:
        """The same endpoint and log with another token, OrganId, SOAP version or file mode."""
        options: dict[str, Any] = {
            "organ_id": self.organ_id,
            "token": self.token,
            "version": self.version,
            "files": self.files,
            **changes,
        }
        return LegacyDriver(
            self.endpoint,
            self.log,
            options["organ_id"],
            options["token"],
            self.blobs,
            version=options["version"],
            files=options["files"],
            timeout=self.timeout,
        )

    # -- building requests -------------------------------------------------------------------
    def credentials(self, wrapper: str, extra: str = "") -> str:
        """An unqualified ``<wrapper><OrganId/><Token/>extra</wrapper>``."""
        return (
            f"<{wrapper}><OrganId>{self.organ_id}</OrganId><Token>{self.token}</Token>"
            f"{extra}</{wrapper}>"
        )

    def signature(self) -> str:
        """``edXML:Signature/KeyInfo/{OrganId, Token}``: credentials in a header block."""
        return (
            f"<edXML:Signature><edXML:KeyInfo><edXML:OrganId>{self.organ_id}</edXML:OrganId>"
            f"<edXML:Token>{self.token}</edXML:Token></edXML:KeyInfo></edXML:Signature>"
        )

    def envelope(self, body: str, header: str = "", *, version: str | None = None) -> bytes:
        env = version or self.version
        return (
            f'<?xml version="1.0" encoding="utf-8"?>\r\n<soap:Envelope xmlns:soap="{env}" '
            f'xmlns:edXML="{EDOC}"><soap:Header>{header}</soap:Header>'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>"
        ).encode()

    @staticmethod
    def multipart(
        root: bytes,
        parts: list[tuple[str, str, bytes, str]],
        boundary: str,
        root_type: str = "text/xml; charset=utf-8",
    ) -> bytes:
        """SwA body as the Lâm Đồng client of §5.3 writes it (root part ``<Start>``, 8bit)."""
        out = [
            f"--{boundary}\r\nContent-Type: {root_type}\r\n"
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

    def call(
        self,
        action: str,
        body: str,
        header: str = "",
        *,
        version: str | None = None,
        soap_action: str | None = None,
        as_multipart: bool = True,
    ) -> Reply:
        """A parameter-only call; multipart with no attachment part unless ``as_multipart`` is
        False (then plain ``text/xml`` or ``application/soap+xml``)."""
        env = version or self.version
        root = self.envelope(body, header, version=env)
        soap_type = SOAP_TYPES[env]
        headers: dict[str, str] = {}
        if env == SOAP11:
            headers["SOAPAction"] = action if soap_action is None else soap_action
            action_param = ""
        else:
            action_param = f'; action="{action}"'
        if as_multipart:
            boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
            data = self.multipart(root, [], boundary, f"{soap_type}; charset=utf-8{action_param}")
            content_type = (
                f'multipart/related; type="{soap_type}"; boundary="{boundary}"; start="<Start>"'
            )
        else:
            data, content_type = root, f"{soap_type}; charset=utf-8{action_param}"
        return self.post(data, content_type, headers)

    def post(self, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        exchange = self.raw(data, content_type=content_type, headers=headers)
        return reply_of(exchange)

    def raw(
        self,
        body: bytes | Iterable[bytes],
        *,
        content_type: str,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        return http_request(
            self.log, "POST", self.endpoint, body, all_headers, self.timeout, length=length
        )

    # -- SendDocument ---------------------------------------------------------------------------
    def send_request(
        self, package: bytes, *, error_list: bool = True, files: str | None = None
    ) -> tuple[bytes, str, dict[str, str]]:
        """SendDocument for an edXML document package: body, Content-Type, headers."""
        pkg = read_package(package, self.blobs)
        if not isinstance(pkg, DocumentPackage):
            raise ValueError("SendDocument needs a document package")
        blocks = _header_blocks(pkg)
        header = "".join(
            _xml(requalify(blocks[name], EDOC))
            for name in ("MessageHeader", "TraceHeaderList")
            if name in blocks
        )
        header += self.signature() + ("<edXML:ErrorList/>" if error_list else "")
        mode = files or self.files
        references, parts = [], []
        for attachment in pkg.attachments:
            data = self.blobs.read_bytes(attachment.file)
            cid = attachment.content_id
            described = (
                f"<edXML:AttachmentName>{_escape(attachment.name)}</edXML:AttachmentName>"
                f"<edXML:Description>{_escape(attachment.description)}</edXML:Description>"
            )
            if mode == MTOM:
                references.append(
                    f"<edXML:Reference>{described}<edXML:Content><xop:Include "
                    f'xmlns:xop="{XOP}" href="cid:{cid}"/></edXML:Content></edXML:Reference>'
                )
                parts.append((cid, attachment.content_type, data, "binary"))
            else:
                references.append(
                    f'<edXML:Reference href="cid:{cid}">{described}</edXML:Reference>'
                )
                if mode == SWA_BINARY:
                    parts.append((cid, attachment.content_type, data, "binary"))
                else:
                    parts.append((cid, attachment.content_type, base64.b64encode(data), ""))
        manifest = f"<edXML:Manifest>{''.join(references)}</edXML:Manifest>"
        boundary = "MIMEBoundary_" + hashlib.sha256(package).hexdigest()[:24]
        if mode == MTOM:
            soap_type = SOAP_TYPES[self.version]
            info = f'{soap_type}; action=\\"SendDocument\\"'
            root_type = f'application/xop+xml; charset=UTF-8; type="{info}"'
            body = self.multipart(self.envelope(manifest, header), parts, boundary, root_type)
            content_type = (
                f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                f'start="<Start>"; start-info="{info}"'
            )
            return body, content_type, {}
        soap_type = SOAP_TYPES[self.version]
        action_param = '; action="SendDocument"' if self.version == SOAP12 else ""
        body = self.multipart(
            self.envelope(manifest, header), parts, boundary, f"{soap_type}; charset=utf-8"
        )
        content_type = (
            f'multipart/related; type="{soap_type}"; boundary="{boundary}"; start="<Start>"'
            + action_param
        )
        headers = {"SOAPAction": "SendDocument"} if self.version == SOAP11 else {}
        return body, content_type, headers

    def send_reply(self, package: bytes, **options: Any) -> Reply:
        body, content_type, headers = self.send_request(package, **options)
        return self.post(body, content_type, headers)

    # -- the driver interface ----------------------------------------------------------------------
    def send_document(self, package: bytes) -> Receipt:
        reply = self.send_reply(package).check()
        document_id = reply.text(".//e:SendDocumentResponse/e:DocumentId")
        if not document_id:
            raise ServiceFault("", "SendDocumentResponse has no DocumentId", standard="Report")
        return Receipt(document_id, "document", None, False)

    def status_body(self, package: bytes) -> str:
        """UpdateTraces' unqualified ``Status`` for an edXML status package (code as a number)."""
        pkg = read_package(package, self.blobs)
        if not isinstance(pkg, StatusPackage):
            raise ValueError("UpdateTraces needs a status package")
        status = requalify(_header_blocks(pkg)["MessageHeader"], None)
        status.tag = "Status"
        code = status.find("StatusCode")
        if code is not None and code.text:
            code.text = str(int(code.text))
        return _xml(status)

    def send_status(self, package: bytes) -> Receipt:
        self.call("UpdateTraces", self.status_body(package), self.signature()).check()
        return Receipt("", "status", None, False)

    def pending(self, kind: str, limit: int = 0, cursor: str = "") -> tuple[list[PendingItem], str]:
        if kind != "document":
            return [], ""
        reply = self.call(
            "GetPendingDocumentIds", self.credentials("GetPendingDocumentIdsRequest")
        ).check()
        ids = [(e.text or "").strip() for e in reply.findall(".//e:DocumentIds/e:DocumentId")]
        return [PendingItem(i, "document", "", "", "", 0) for i in ids], ""

    def pending_ids(self) -> list[str]:
        return [i.package_id for i in self.pending("document")[0]]

    def get_reply(self, document_id: str) -> Reply:
        extra = f"<documentId>{document_id}</documentId>"
        return self.call("GetDocument", self.credentials("GetDocumentRequest", extra))

    def get(self, package_id: str) -> Fetched:
        reply = self.get_reply(package_id).check()
        header = reply.header
        message = header.find(f"{{{EDOC}}}MessageHeader") if header is not None else None
        if message is None:
            raise ServiceFault("", "GetDocument answered without an edXML:MessageHeader")
        attachments = []
        for ref in reply.findall(".//e:Manifest/e:Reference"):
            href = next(
                (str(v) for k, v in ref.attrib.items() if etree.QName(k).localname == "href"), ""
            )
            cid = href.removeprefix("cid:")
            data = reply.parts.get(cid)
            attachments.append(
                {
                    "name": ref.findtext(f"{{{EDOC}}}AttachmentName", ""),
                    "content_id": cid,
                    "sha256": hashlib.sha256(decode_part(data)).hexdigest() if data else "",
                }
            )
        sender = message.findtext(f"{{{EDOC}}}From/{{{EDOC}}}OrganId", "") or ""
        summary: dict[str, Any] = {
            "subject": message.findtext(f"{{{EDOC}}}Subject", ""),
            "document_id": message.findtext(f"{{{EDOC}}}DocumentId", ""),
            "from": sender,
            "attachments": attachments,
            "trace_timestamps": [
                (e.text or "").strip()
                for e in reply.findall(".//e:TraceHeaderList/e:TraceHeader/e:Timestamp")
            ],
        }
        envelope = etree.tostring(reply.envelope) if reply.envelope is not None else b""
        return Fetched(package_id, "document", sender, len(envelope), envelope, summary)

    def confirm(self, package_id: str, outcome: str = "ok", reason: str = "") -> Confirmation:
        extra = f"<documentId>{package_id}</documentId>"
        self.call("ConfirmReceived", self.credentials("ConfirmReceived", extra)).check()
        return Confirmation(package_id, outcome, "")

    def trace_reply(self, since: dt.datetime | str | None = None) -> Reply:
        if isinstance(since, dt.datetime):
            since = since.strftime(_TIMESTAMP)
        extra = f"<TimeStamp>{since}</TimeStamp>" if since else ""
        return self.call("GetTraces", self.credentials("GetTraces", extra))

    def traces(
        self, document_id: str = "", package_id: str = "", since: dt.datetime | None = None
    ) -> list[Trace]:
        """Statuses addressed to this agency; ``document_id`` filters on ResponseFor/DocumentId."""
        return [t for t, _ in self.trace_entries(document_id, since)]

    def trace_entries(
        self, document_id: str = "", since: dt.datetime | str | None = None
    ) -> list[tuple[Trace, str]]:
        """Each status with its Timestamp text."""
        reply = self.trace_reply(since).check()
        found = []
        for status in reply.findall(".//e:Traces/e:Status"):
            about = status.findtext(f"{{{EDOC}}}ResponseFor/{{{EDOC}}}DocumentId", "")
            if document_id and about.strip() != document_id:
                continue
            trace = Trace(
                "",
                status.findtext(f"{{{EDOC}}}From/{{{EDOC}}}OrganId", "").strip(),
                status.findtext(f"{{{EDOC}}}ResponseFor/{{{EDOC}}}OrganId", "").strip(),
                status.findtext(f"{{{EDOC}}}StatusCode", "").strip(),
                status.findtext(f"{{{EDOC}}}Description", "").strip(),
            )
            found.append((trace, status.findtext(f"{{{EDOC}}}Timestamp", "").strip()))
        return found

    def organizations(self) -> Reply:
        return self.call("GetOrganizations", self.credentials("GetOrganizations"))


def reply_of(exchange: Exchange) -> Reply:
    data = exchange.response_full
    envelope_bytes_ = extract_envelope(data) if data else None
    envelope = None
    if envelope_bytes_ is not None:
        try:
            envelope = etree.fromstring(envelope_bytes_, _PARSER)
        except etree.XMLSyntaxError:
            envelope = None
    content_type = next(
        (v for k, v in exchange.response_headers.items() if k.lower() == "content-type"), ""
    )
    return Reply(exchange, envelope, mime_parts(content_type, data))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def same_status(code: str, expected: str) -> bool:
    """``"1"`` and ``"01"`` are the same status (the profile decides the form)."""
    return code.isdigit() and code.zfill(2) == expected.zfill(2)
