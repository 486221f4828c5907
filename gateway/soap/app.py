"""The WSGI application serving the SOAP service at ``/soap/v1``, its WSDL at ``?wsdl`` and the
SOAP 1.1-only description at ``?wsdl11``.

Before spyne runs, this layer: refuses bodies over ``max_request_bytes`` before reading them (a
plain SOAP fault ``R.Request.Size``), reads the body (spooled to disk past
``stream_threshold_bytes``), picks the SOAP version from the Content-Type (``text/xml`` 1.1,
``application/soap+xml`` 1.2), reads the envelope's head and authenticates the WS-Security
UsernameToken. Anything refused there is answered with a fault in the request's SOAP version,
built like the faults spyne sends (``gateway.soap.faults``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from spyne import Fault
from spyne import const as spyne_const
from spyne.server.wsgi import WsgiApplication

from gateway import logs
from gateway.catalogue import Language
from gateway.config import Settings
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    HttpRefusal,
    InternalError,
)
from gateway.exchange import Exchange
from gateway.soap.envelope import EnvelopeHead, SoapVersion, read_head, username_token
from gateway.soap.faults import fault_envelope
from gateway.soap.protocol import build_application
from gateway.soap.service import (
    ENVIRON_KEY,
    PACKAGE_OPERATIONS,
    PUBLIC_OPERATIONS,
    WRITING_OPERATIONS,
    CallContext,
)
from gateway.soap.wsdl import SERVICE_PATH, build_wsdl, build_wsdl11, service_address
from gateway.store import riders
from gateway.web import CHUNK, open_body, refusal_headers, request_id, send_bytes, send_text
from gateway.web.admission import charge_agency, pending_refusal

log = logging.getLogger(__name__)


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


PackageRequestHandler = Callable[[SoapRequest, StartResponse], Iterable[bytes]]
"""Handles SendDocument and SendStatus (:data:`PACKAGE_OPERATIONS`) without spyne, and every
request that :func:`needs_streaming` keeps away from spyne's DOM. It may raise a
:class:`~gateway.errors.GatewayError`, answered as a fault like any other; its response is
consumed before the spooled body is closed."""
LargeResponseHandler = Callable[[SoapRequest, StartResponse], Iterable[bytes] | None]
"""Sees every small request first and may answer it with a streamed response (a GetPackage of a
large package); None sends the request to spyne as usual."""


def needs_streaming(size: int, settings: Settings) -> bool:
    """The one place that decides which requests bypass spyne (its DOM costs >= 5x the body)."""
    return size > settings.stream_threshold_bytes


def read_body(environ: WSGIEnvironment, settings: Settings, into: IO[bytes]) -> int:
    """Copy the request body into ``into`` through the one bounded stream (:mod:`gateway.web`):
    refused past ``max_request_bytes``, a declared length before a byte is read. Returns the
    size, with ``into`` rewound."""
    return open_body(environ, settings.max_request_bytes, length_required=True).copy_to(into)


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(CHUNK):
        yield chunk


class SoapApplication:
    """``/soap/v1``: POST for SOAP 1.1 and 1.2 calls, GET ``?wsdl`` (or ``?wsdl11``, SOAP 1.1
    only) for the contract."""

    def __init__(
        self,
        exchange: Exchange,
        settings: Settings,
        package_request_handler: PackageRequestHandler | None = None,
        large_response_handler: LargeResponseHandler | None = None,
    ) -> None:
        self.exchange = exchange
        self.settings = settings
        self.package_request_handler = package_request_handler
        self.large_response_handler = large_response_handler
        self.wsdl = build_wsdl(service_address(settings))
        self.wsdl11 = build_wsdl11(service_address(settings))
        # spyne's own limit is set too, though requests reach it only after the check above.
        self.spyne: dict[SoapVersion, Any] = {
            version: WsgiApplication(
                build_application(version), max_content_length=settings.max_request_bytes
            )
            for version in SoapVersion
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rid = request_id(environ)
        outcome: dict[str, Any] = {"status": "", "operation": "", "agency": "", "fault": ""}

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            outcome["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)  # RequestLog adds X-Request-Id

        try:
            return self._handle(environ, respond, rid, outcome)
        finally:
            # for the one line per request (gateway.web.middleware.RequestLog) and its metrics
            logs.bind(
                operation=outcome["operation"], agency=outcome["agency"], code=outcome["fault"]
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
            keys = {key.lower() for key in query}
            if "wsdl11" in keys:  # the SOAP 1.1-only description (Apache Axis 1.4)
                outcome["operation"] = "wsdl11"
                return send_bytes(respond, HTTPStatus.OK, "text/xml; charset=utf-8", self.wsdl11)
            if "wsdl" in keys:
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
        busy = pending_refusal(environ)
        if busy is not None:  # refused before a byte of the body is read
            outcome["fault"] = busy.code
            return _fault(respond, version, busy, language=self._language(""))
        # Past the stream threshold the body goes to a temporary file, not memory.
        with tempfile.SpooledTemporaryFile(max_size=self.settings.stream_threshold_bytes) as body:
            try:
                size = read_body(environ, self.settings, body)
            except HttpRefusal as error:
                # A plain SOAP fault (500 in SOAP 1.1, 400 in 1.2), not 413: toolkits read the
                # fault of a 500/400 answer and throw their own fault type; a 413 they do not.
                outcome["fault"] = error.code
                return _fault(respond, version, error, language=self._language(""))
            try:
                head = read_head(_chunks(body), version)
                outcome["operation"] = head.operation
                handler = self.package_request_handler
                streaming = handler is not None and needs_streaming(size, self.settings)
                with self._nonce_rides(head, streaming):
                    agency = self._authenticate(head)
                    outcome["agency"] = agency
                    charge_agency(environ, agency)
                    body.seek(0)
                    request = SoapRequest(environ, version, body, size, head, agency, request_id)
                    if handler is not None and (streaming or head.operation in PACKAGE_OPERATIONS):
                        return _after_riders(lambda hold: handler(request, hold), respond)
                    if self.large_response_handler is not None:
                        streamed = self.large_response_handler(request, respond)
                        if streamed is not None:
                            return streamed
                        body.seek(0)
                    return self._call_spyne(request, respond, outcome)
            except GatewayError as error:
                outcome["fault"] = error.code
                return _fault(respond, version, error, language=self._language(outcome["agency"]))
            except Exception:
                log.exception("soap request_id=%s: unexpected failure", request_id)
                if outcome["status"]:  # the response has started: nothing more can be sent
                    raise
                internal = InternalError(request_id)
                outcome["fault"] = internal.code
                return _fault(respond, version, internal, language=self._language(""))

    def _language(self, agency: str) -> Language:
        """The language of the faults answered to ``agency`` (anonymous: the default)."""
        return self.settings.message_languages.for_agency(agency)

    def _authenticate(self, head: EnvelopeHead) -> str:
        """The caller's agency code; empty for a public operation called without credentials."""
        if head.security is None:
            if head.operation in PUBLIC_OPERATIONS:
                return ""
            raise AuthenticationFailed(
                "this operation needs a WS-Security UsernameToken in the SOAP Header"
            )
        return self.exchange.authenticate(username_token(head.security))

    @staticmethod
    def _nonce_rides(
        head: EnvelopeHead, streaming: bool
    ) -> contextlib.AbstractContextManager[None]:
        """For an operation that writes, the nonce goes into its durable transaction (one
        commit, not two); a streamed request keeps the nonce's own write."""
        if head.operation in WRITING_OPERATIONS and not streaming:
            return riders.riders_aboard()
        return contextlib.nullcontext()

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
        response = _after_riders(lambda hold: self.spyne[request.version](environ, hold), respond)
        if context.error is not None:
            outcome["fault"] = context.error.code
        return response


def _after_riders(
    answer: Callable[[StartResponse], Iterable[bytes]], respond: StartResponse
) -> list[bytes]:
    """``answer``'s response, its status and headers held until the writes the request still
    holds are done (:func:`riders.settle`): a replay found then is answered instead."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [(status, headers)]
        return written.append

    body = list(answer(hold))
    riders.settle()
    respond(*started[0])
    return [*written, *body]


def _plain(
    respond: StartResponse,
    status: HTTPStatus,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    return send_text(respond, status, message, headers)


def _fault(
    respond: StartResponse,
    version: SoapVersion,
    error: GatewayError,
    status: HTTPStatus | None = None,
    language: Language = Language.BOTH,
) -> list[bytes]:
    code = status or HTTPStatus(version.fault_status(error.side))
    body = fault_envelope(version, error, language)
    headers = refusal_headers(error) if isinstance(error, HttpRefusal) else []
    return send_bytes(respond, code, version.content_type, body, headers)


def make_app(
    exchange: Exchange,
    settings: Settings,
    *,
    package_request_handler: PackageRequestHandler | None = None,
    large_response_handler: LargeResponseHandler | None = None,
) -> WSGIApplication:
    """The WSGI application for ``/soap/v1``.

    ``package_request_handler`` receives SendDocument and SendStatus, and every request
    :func:`needs_streaming` selects (already authenticated, body spooled, to disk when large);
    without one they go to spyne like the rest.
    ``large_response_handler`` may stream the answer to a small request whose reply is large.
    """
    # spyne runs a full gc.collect() in the request that closes its context, once a second per
    # process: 30-50 ms for that request and every other thread of the worker (the GIL is
    # held), the whole tail of an unloaded node's latency. CPython's own collector remains;
    # the gateway closes its files itself.
    spyne_const.MIN_GC_INTERVAL = float("inf")
    for name in _SPYNE_FAULT_LOGGERS:
        spyne_logger = logging.getLogger(name)
        if _DROP_FAULTS not in spyne_logger.filters:
            spyne_logger.addFilter(_DROP_FAULTS)
    return SoapApplication(exchange, settings, package_request_handler, large_response_handler)


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
    "PackageRequestHandler",
    "SoapApplication",
    "SoapRequest",
    "make_app",
    "needs_streaming",
    "read_body",
    "send_bytes",
]
