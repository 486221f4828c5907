"""The modern dialect's driver: the SOAP service at ``/soap/v1`` through zeep, plus raw HTTP.

zeep loads a local copy of the WSDL fetched from ``?wsdl`` with ``forbid_external`` and
``forbid_entities`` (DESIGN §5), always with an operation timeout; every HTTP exchange, zeep's and
raw ones, is recorded in the run's :class:`ExchangeLog`.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import selectors
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.conformance.driver import (
    Confirmation,
    Fetched,
    PendingItem,
    Receipt,
    ServiceFault,
    Trace,
)
from gateway.conformance.exchanges import SHOW_BYTES, Exchange, ExchangeLog
from gateway.conformance.wsse import security_header

TNS = "urn:edoc-gateway:soap:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
BINDING11, BINDING12 = "EdocGatewaySoap11", "EdocGatewaySoap12"
CONTENT_TYPES = {
    BINDING11: "text/xml; charset=utf-8",
    BINDING12: "application/soap+xml; charset=utf-8",
}


class _RecordingTransport(Transport):
    """zeep's transport, writing every POST to the run's log."""

    def __init__(self, log: ExchangeLog, timeout: float) -> None:
        super().__init__(timeout=timeout, operation_timeout=timeout)  # type: ignore[no-untyped-call]
        self.log = log

    def post(self, address: str, message: Any, headers: dict[str, str]) -> Any:
        body = message if isinstance(message, bytes) else str(message).encode()
        exchange = Exchange("POST", address, dict(headers), body, len(body))
        try:
            response = super().post(address, message, headers)  # type: ignore[no-untyped-call]
        except Exception as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            self.log.record(exchange)
            raise
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_size = len(response.content)
        exchange.response_body = response.content
        self.log.record(exchange)
        return response


@dataclass(frozen=True, slots=True)
class Credentials:
    agency: str
    secret: str
    digest: bool = True
    nonce: str | None = None
    """A fixed nonce (for replay checks); None: a fresh one per call."""
    created: dt.datetime | None = None


class ModernDriver:
    """One agency (or an anonymous caller) on one SOAP binding."""

    def __init__(
        self,
        endpoint: str,
        wsdl_path: Path,
        log: ExchangeLog,
        credentials: Credentials | None,
        *,
        binding: str = BINDING11,
        timeout: float = 60.0,
    ) -> None:
        self.endpoint = endpoint
        self.wsdl_path = wsdl_path
        self.log = log
        self.credentials = credentials
        self.binding = binding
        self.timeout = timeout
        self._service: Any = None

    @property
    def agency(self) -> str:
        return self.credentials.agency if self.credentials else ""

    @property
    def soap_version(self) -> str:
        return SOAP12 if self.binding == BINDING12 else SOAP11

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.binding]

    # -- set-up -----------------------------------------------------------------------------
    @staticmethod
    def fetch_wsdl(endpoint: str, log: ExchangeLog, target: Path, timeout: float) -> bytes:
        """GET ``endpoint?wsdl`` into ``target``; ServiceFault unless it answers 200."""
        exchange = http_request(log, "GET", endpoint + "?wsdl", b"", {}, timeout)
        if exchange.error:
            raise ServiceFault("", f"the WSDL could not be fetched: {exchange.error}")
        if exchange.status != 200:
            raise ServiceFault(
                "", f"GET ?wsdl answered HTTP {exchange.status}", http_status=exchange.status
            )
        target.write_bytes(exchange.response_full)
        return exchange.response_full

    def client(self) -> zeep.Client:
        wsse = None
        if self.credentials is not None:
            c = self.credentials
            wsse = UsernameToken(  # type: ignore[no-untyped-call]
                c.agency, c.secret, use_digest=c.digest, nonce=c.nonce, created=c.created
            )
        return zeep.Client(  # type: ignore[no-untyped-call]
            str(self.wsdl_path),
            wsse=wsse,
            settings=zeep.Settings(
                strict=True, forbid_external=True, forbid_entities=True, xml_huge_tree=True
            ),
            transport=_RecordingTransport(self.log, self.timeout),
        )

    @property
    def service(self) -> Any:
        """The zeep service proxy bound to the endpoint given (not the WSDL's own address)."""
        if self._service is None:
            binding = f"{{{TNS}}}{self.binding}"
            self._service = self.client().create_service(binding, self.endpoint)  # type: ignore[no-untyped-call]
        return self._service

    def variant(
        self,
        credentials: Credentials | None = None,
        *,
        anonymous: bool = False,
        binding: str | None = None,
    ) -> ModernDriver:
        """The same endpoint and log with other credentials or another binding."""
        return ModernDriver(
            self.endpoint,
            self.wsdl_path,
            self.log,
            None if anonymous else (credentials or self.credentials),
            binding=binding or self.binding,
            timeout=self.timeout,
        )

    def _call(self, operation: str, *args: Any) -> Any:
        try:
            return getattr(self.service, operation)(*args)
        except zeep.exceptions.Fault as fault:
            raise _service_fault(fault, self.log) from None
        except zeep.exceptions.TransportError as error:
            raise ServiceFault(
                "", f"HTTP {error.status_code}: {error.message}", http_status=error.status_code
            ) from None

    # -- the driver interface -----------------------------------------------------------------
    def send_document(self, package: bytes) -> Receipt:
        return _receipt(self._call("SendDocument", package))

    def send_status(self, package: bytes) -> Receipt:
        return _receipt(self._call("SendStatus", package))

    def send_document_fields(self, fields: dict[str, Any]) -> Receipt:
        return _receipt(self._call("SendDocumentFields", fields))

    def send_status_fields(self, fields: dict[str, Any]) -> Receipt:
        return _receipt(self._call("SendStatusFields", fields))

    def pending(self, kind: str, limit: int = 0, cursor: str = "") -> tuple[list[PendingItem], str]:
        page = self._call("GetPending", kind, limit, cursor)
        wrapper = page["items"]
        items = [
            PendingItem(i.packageId, i.kind, i.sender, i.documentId, i.subject, int(i.size))
            for i in (wrapper.item if wrapper is not None else [])
        ]
        return items, page["nextCursor"] or ""

    def pending_all(self, kind: str, max_pages: int = 50) -> list[PendingItem]:
        """The whole mailbox of ``kind``, page after page (bounded)."""
        items, cursor = self.pending(kind)
        for _ in range(max_pages):
            if not cursor:
                break
            more, cursor = self.pending(kind, 0, cursor)
            items += more
        return items

    def get(self, package_id: str) -> Fetched:
        reply = self._call("GetPackage", package_id)
        summary: dict[str, Any] = {}
        if reply.summary is not None and reply.summary.summaryJson:
            summary = json.loads(reply.summary.summaryJson)
        return Fetched(
            reply.packageId, reply.kind, reply.sender, int(reply.size), reply.package, summary
        )

    def confirm(self, package_id: str, outcome: str = "ok", reason: str = "") -> Confirmation:
        reply = self._call("ConfirmReceived", package_id, outcome, reason)
        return Confirmation(reply.packageId, reply.outcome, reply.statusPackageId or "")

    def traces(
        self, document_id: str = "", package_id: str = "", since: dt.datetime | None = None
    ) -> list[Trace]:
        entries = self._call("GetTraces", document_id or None, package_id or None, since)
        return [
            Trace(e.statusPackageId, e.fromAgency, e.toAgency, e.statusCode, e.description)
            for e in entries or []
        ]

    def ping(self) -> Any:
        return self._call("Ping")

    def service_info(self) -> Any:
        return self._call("GetServiceInfo")

    def agencies(self) -> list[str]:
        return [a.code for a in self._call("GetAgencies") or []]

    # -- raw requests ---------------------------------------------------------------------------
    def security(self, **options: Any) -> str:
        """A fresh ``wsse:Security`` header for this driver's agency (:func:`security_header`)."""
        assert self.credentials is not None, "an anonymous driver has no credentials"
        return security_header(self.credentials.agency, self.credentials.secret, **options)

    def envelope(self, body: str, *, header: str | None = None, doctype: str = "") -> bytes:
        """A SOAP envelope of this binding's version around ``body``, signed unless header=''."""
        if header is None:
            header = self.security() if self.credentials else ""
        return (
            f'{doctype}<s:Envelope xmlns:s="{self.soap_version}"><s:Header>{header}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>"
        ).encode()

    def raw(
        self,
        body: bytes | Iterable[bytes],
        *,
        content_type: str | None = None,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Exchange:
        """POST bytes as they are; a streamed body stops early if the server answers first."""
        all_headers = {"Content-Type": content_type or self.content_type, **(headers or {})}
        return http_request(
            self.log, "POST", self.endpoint, body, all_headers, self.timeout, length=length
        )

    def raw_fault(self, exchange: Exchange) -> ServiceFault | None:
        """The fault in a raw response, or None when the response is not a fault."""
        return parse_fault(exchange.response_full, exchange.status)


# -- helpers --------------------------------------------------------------------------------------


def _receipt(value: Any) -> Receipt:
    return Receipt(
        value.packageId,
        value.kind,
        value.receivedAt,
        bool(value.duplicate),
        bytes(value.signedReceipt or b""),
    )


def _service_fault(fault: zeep.exceptions.Fault, log: ExchangeLog) -> ServiceFault:
    standard = str(fault.code or "").rsplit(":", 1)[-1].rsplit("}", 1)[-1]
    code, path = "", ""
    if fault.detail is not None:
        entry = fault.detail.find(f"{{{TNS}}}GatewayFault")
        if entry is not None:
            code = entry.findtext(f"{{{TNS}}}code") or ""
            path = entry.findtext(f"{{{TNS}}}path") or ""
    status = log.items[-1].status if log.items else 0
    return ServiceFault(code, str(fault.message), path=path, standard=standard, http_status=status)


def parse_fault(body: bytes, status: int) -> ServiceFault | None:
    """A SOAP 1.1 or 1.2 fault in ``body``, with the GatewayFault detail when present."""
    try:
        root = etree.fromstring(
            body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except etree.XMLSyntaxError:
        return None
    fault = root.find(f".//{{{SOAP11}}}Fault")
    if fault is None:
        fault = root.find(f".//{{{SOAP12}}}Fault")
    if fault is None:
        return None
    standard = (
        fault.findtext("faultcode") or fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") or ""
    )
    message = (
        fault.findtext("faultstring")
        or fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
        or ""
    )
    entry = fault.find(f".//{{{TNS}}}GatewayFault")
    code = path = ""
    if entry is not None:
        code = entry.findtext(f"{{{TNS}}}code") or ""
        path = entry.findtext(f"{{{TNS}}}path") or ""
    return ServiceFault(
        code,
        message,
        path=path,
        standard=standard.rsplit(":", 1)[-1],
        http_status=status,
    )


def http_request(
    log: ExchangeLog,
    method: str,
    url: str,
    body: bytes | Iterable[bytes],
    headers: dict[str, str],
    timeout: float,
    *,
    length: int | None = None,
) -> Exchange:
    """One HTTP request on its own connection, recorded in ``log``.

    A streamed body (an iterable) needs ``length``; between its chunks the socket is polled, and
    if the server has already answered (a 413 before the body is read) sending stops there.
    The full response body is kept on the returned exchange as ``response_full``.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout)
    if isinstance(body, bytes):
        size, head = len(body), body
        chunks: Iterator[bytes] = iter((body,) if body else ())
    else:
        assert length is not None, "a streamed body needs its length"
        size, head, chunks = length, b"", iter(body)
    exchange = Exchange(method, url, dict(headers), head, size)
    try:
        connection.putrequest(method, target)
        for name, value in headers.items():
            connection.putheader(name, value)
        if method == "POST":
            connection.putheader("Content-Length", str(size))
        connection.endheaders()
        _send(connection, chunks, exchange)
        response = connection.getresponse()
        data = response.read()
        exchange.status = response.status
        exchange.response_headers = dict(response.getheaders())
        exchange.response_size = len(data)
        exchange.response_body = data
        exchange.response_full = data
    except (OSError, http.client.HTTPException) as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    log.record(exchange)
    return exchange


def _send(
    connection: http.client.HTTPConnection, chunks: Iterator[bytes], exchange: Exchange
) -> None:
    """Send the body, keeping its start for the report; stop if a response is waiting."""
    # A selector (poll or epoll), not select(): select fails on descriptors above 1023, which a
    # long-lived process such as a test worker or a monitoring loop reaches.
    with selectors.DefaultSelector() as answered:
        if connection.sock is not None:
            answered.register(connection.sock, selectors.EVENT_READ)
        for chunk in chunks:
            if len(exchange.request_body) < SHOW_BYTES:
                exchange.request_body += chunk[: SHOW_BYTES - len(exchange.request_body)]
            if answered.get_map() and answered.select(0):
                return  # the server answered before the whole body: read that answer
            try:
                connection.send(chunk)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                return
