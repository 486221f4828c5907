"""The WSGI application serving the SOAP service at ``/soap/v1`` and its WSDL at ``?wsdl``.

Before spyne runs, this layer: refuses bodies over ``max_request_bytes`` (413) before reading
them, reads the body (spooled to disk past ``stream_threshold_bytes``), picks the SOAP version
from the Content-Type (``text/xml`` 1.1, ``application/soap+xml`` 1.2), reads the envelope's
head and authenticates the WS-Security UsernameToken. Anything refused there is answered with a
fault in the request's SOAP version, built like the faults spyne sends (``gateway.soap.faults``).
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from spyne import Fault
from spyne.server.wsgi import WsgiApplication

from gateway.config import Settings
from gateway.errors import GatewayError, LimitExceeded
from gateway.exchange import Exchange
from gateway.security.credentials import AuthenticationFailed
from gateway.soap.envelope import EnvelopeHead, SoapVersion, read_head, username_token
from gateway.soap.faults import InternalError, fault_envelope
from gateway.soap.protocol import build_application
from gateway.soap.service import ENVIRON_KEY, PUBLIC_OPERATIONS, CallContext
from gateway.soap.wsdl import SERVICE_PATH, build_wsdl, service_address

log = logging.getLogger(__name__)

CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """An authenticated SOAP request whose body has been read (to disk when it is large)."""

    environ: WSGIEnvironment
    version: SoapVersion
    body: IO[bytes]
    """Positioned at the start; a file on disk when ``size`` exceeds the stream threshold."""
    size: int
    head: EnvelopeHead
    agency: str
    """The authenticated agency; empty for an anonymous call to a public operation."""
    request_id: str


LargeRequestHandler = Callable[[SoapRequest, StartResponse], Iterable[bytes]]
LargeResponseHandler = Callable[[SoapRequest, StartResponse], Iterable[bytes] | None]
"""Sees every small request first and may answer it with a streamed response (a GetPackage of a
large package); None sends the request to spyne as usual."""
"""Handles a request that :func:`needs_streaming` keeps away from spyne's DOM. It may raise a
:class:`~gateway.errors.GatewayError`, answered as a fault like any other; its response is
consumed before the spooled body is closed."""


def needs_streaming(size: int, settings: Settings) -> bool:
    """The one place that decides which requests bypass spyne (its DOM costs >= 5x the body)."""
    return size > settings.stream_threshold_bytes


class _HttpRefusal(Exception):
    """A request refused at the HTTP level, before any SOAP version is known."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(environ: WSGIEnvironment, settings: Settings, into: IO[bytes]) -> int:
    """Copy the request body into ``into``, counting: refused past ``max_request_bytes``.

    A declared Content-Length over the limit is refused before a byte is read. A chunked body
    (the server de-chunks it, as gunicorn does) is refused as soon as it passes the limit.
    Returns the size, with ``into`` rewound.
    """
    limit = settings.max_request_bytes
    declared = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    length: int | None = None
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise _HttpRefusal(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        if length > limit:
            raise _too_large(limit)
    elif not chunked:
        raise _HttpRefusal(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length or a chunked body")
    stream = environ["wsgi.input"]
    size = 0
    while length is None or size < length:
        chunk = stream.read(CHUNK if length is None else min(CHUNK, length - size))
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        into.write(chunk)
    if length is not None and size < length:
        raise _HttpRefusal(HTTPStatus.BAD_REQUEST, "the body is shorter than Content-Length")
    into.seek(0)
    return size


def _too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(
        "R.Request.Size",
        f"the request is larger than this gateway accepts ({limit} bytes, max_request_bytes)",
    )


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(CHUNK):
        yield chunk


class SoapApplication:
    """``/soap/v1``: POST for SOAP 1.1 and 1.2 calls, GET ``?wsdl`` for the contract."""

    def __init__(
        self,
        exchange: Exchange,
        settings: Settings,
        large_request_handler: LargeRequestHandler | None = None,
        large_response_handler: LargeResponseHandler | None = None,
    ) -> None:
        self.exchange = exchange
        self.settings = settings
        self.large_request_handler = large_request_handler
        self.large_response_handler = large_response_handler
        self.wsdl = build_wsdl(service_address(settings))
        # spyne's own limit is set too, though requests reach it only after the check above.
        self.spyne: dict[SoapVersion, Any] = {
            version: WsgiApplication(
                build_application(version), max_content_length=settings.max_request_bytes
            )
            for version in SoapVersion
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": "", "operation": "", "agency": "", "fault": ""}

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            outcome["status"] = status.split(" ", 1)[0]
            return start_response(status, [*headers, ("X-Request-Id", request_id)], exc_info)

        try:
            return self._handle(environ, respond, request_id, outcome)
        finally:
            log.info(
                "soap request_id=%s op=%s agency=%s status=%s fault=%s ms=%.1f",
                request_id,
                outcome["operation"] or "-",
                outcome["agency"] or "-",
                outcome["status"],
                outcome["fault"] or "-",
                (time.perf_counter() - started) * 1000,
            )

    def _handle(
        self,
        environ: WSGIEnvironment,
        respond: StartResponse,
        request_id: str,
        outcome: dict[str, Any],
    ) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).rstrip("/") != SERVICE_PATH:
            return _plain(respond, HTTPStatus.NOT_FOUND, f"the SOAP service is at {SERVICE_PATH}")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method == "GET":
            query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
            if "wsdl" in (key.lower() for key in query):
                outcome["operation"] = "wsdl"
                return send_bytes(respond, HTTPStatus.OK, "text/xml; charset=utf-8", self.wsdl)
        if method != "POST":
            return _plain(
                respond,
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"POST SOAP requests to {SERVICE_PATH}; GET {SERVICE_PATH}?wsdl for the WSDL",
                [("Allow", "GET, POST")],
            )
        media_type = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        version = SoapVersion.from_media_type(media_type)
        if version is None:
            return _plain(
                respond,
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "send SOAP 1.1 as text/xml or SOAP 1.2 as application/soap+xml "
                "(MIME attachments are not accepted by this service)",
            )
        # Past the stream threshold the body goes to a temporary file, not memory.
        with tempfile.SpooledTemporaryFile(max_size=self.settings.stream_threshold_bytes) as body:
            try:
                size = read_body(environ, self.settings, body)
            except _HttpRefusal as refusal:
                return _plain(respond, refusal.status, refusal.message)
            except LimitExceeded as error:
                outcome["fault"] = error.code
                return _fault(respond, version, error, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            try:
                head = read_head(_chunks(body), version)
                outcome["operation"] = head.operation
                agency = self._authenticate(head)
                outcome["agency"] = agency
                body.seek(0)
                request = SoapRequest(environ, version, body, size, head, agency, request_id)
                if self.large_request_handler is not None and needs_streaming(size, self.settings):
                    return list(self.large_request_handler(request, respond))
                if self.large_response_handler is not None:
                    streamed = self.large_response_handler(request, respond)
                    if streamed is not None:
                        return streamed
                    body.seek(0)
                return self._call_spyne(request, respond, outcome)
            except GatewayError as error:
                outcome["fault"] = error.code
                return _fault(respond, version, error)
            except Exception:
                log.exception("soap request_id=%s: unexpected failure", request_id)
                if outcome["status"]:  # the response has started: nothing more can be sent
                    raise
                internal = InternalError(request_id)
                outcome["fault"] = internal.code
                return _fault(respond, version, internal)

    def _authenticate(self, head: EnvelopeHead) -> str:
        """The caller's agency code; empty for a public operation called without credentials."""
        if head.security is None:
            if head.operation in PUBLIC_OPERATIONS:
                return ""
            raise AuthenticationFailed(
                "this operation needs a WS-Security UsernameToken in the SOAP Header"
            )
        return self.exchange.authenticate(username_token(head.security))

    def _call_spyne(
        self, request: SoapRequest, respond: StartResponse, outcome: dict[str, Any]
    ) -> Iterable[bytes]:
        """Hand the request to spyne. The protocol parses ``CallContext.body``; spyne's own copy
        of the input stream is left empty so the body is not held twice."""
        context = CallContext(
            exchange=self.exchange,
            agency=request.agency,
            request_id=request.request_id,
            body=request.body.read(),
        )
        environ = dict(request.environ)
        environ.update({"wsgi.input": io.BytesIO(), "CONTENT_LENGTH": "0", ENVIRON_KEY: context})
        response = list(self.spyne[request.version](environ, respond))
        if context.error is not None:
            outcome["fault"] = context.error.code
        return response


def send_bytes(
    respond: StartResponse,
    status: HTTPStatus,
    content_type: str,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    respond(
        f"{status.value} {status.phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


def _plain(
    respond: StartResponse,
    status: HTTPStatus,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    return send_bytes(
        respond, status, "text/plain; charset=utf-8", (message + "\n").encode(), headers
    )


def _fault(
    respond: StartResponse,
    version: SoapVersion,
    error: GatewayError,
    status: HTTPStatus | None = None,
) -> list[bytes]:
    code = status or HTTPStatus(version.fault_status(error.side))
    return send_bytes(respond, code, version.content_type, fault_envelope(version, error))


def make_app(
    exchange: Exchange,
    settings: Settings,
    *,
    large_request_handler: LargeRequestHandler | None = None,
    large_response_handler: LargeResponseHandler | None = None,
) -> WSGIApplication:
    """The WSGI application for ``/soap/v1``.

    ``large_request_handler`` receives the requests :func:`needs_streaming` selects (already
    authenticated, body spooled to disk); without one they go to spyne like the rest.
    ``large_response_handler`` may stream the answer to a small request whose reply is large.
    """
    for name in _SPYNE_FAULT_LOGGERS:
        spyne_logger = logging.getLogger(name)
        if _DROP_FAULTS not in spyne_logger.filters:
            spyne_logger.addFilter(_DROP_FAULTS)
    return SoapApplication(exchange, settings, large_request_handler, large_response_handler)


class _DropFaultRecords(logging.Filter):
    """spyne logs each fault it answers, several times and with tracebacks; this layer logs one
    line per request with the fault code instead. Other spyne records (real errors) pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not isinstance(record.msg, Fault)


_DROP_FAULTS = _DropFaultRecords()
_SPYNE_FAULT_LOGGERS = (
    "spyne.application",
    "spyne.application.client",
    "spyne.server._base",
    "spyne.server.wsgi",
)


__all__ = [
    "LargeRequestHandler",
    "SoapApplication",
    "SoapRequest",
    "make_app",
    "needs_streaming",
    "read_body",
]
