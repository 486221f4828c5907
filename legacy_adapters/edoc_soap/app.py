"""The eDoc dialect's WSGI face at ``/legacy/edoc``: HTTP, MIME and SOAP around the service.

A request is plain ``text/xml`` (or ``application/soap+xml``), SwA ``multipart/related`` or MTOM
(``application/xop+xml`` root); attachment parts are streamed to the blob store as they arrive.
The operation comes from SOAPAction (quoted or not, a bare name or a URI ending in it), else the
SOAP 1.2 ``action`` parameter, else the Body's wrapper element. Answers are in the request's
SOAP version; they are multipart/related when they carry files (or always, per profile), each
file part written as base64 text or binary as the profile says.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from lxml import etree

from gateway import logs
from gateway.config import Settings
from gateway.errors import Busy, FaultSide, GatewayError, LimitExceeded
from gateway.exchange import Exchange
from gateway.safexml import has_doctype, tree_parser
from gateway.store.blobs import StagedBlobs
from gateway.web import open_body
from gateway.web.admission import charge_agency, pending_refusal
from legacy_adapters.edoc_soap.envelope import (
    CONTENT_TYPES,
    SOAP11,
    SOAP12,
    Answer,
    envelope,
    fault,
    report,
    response,
)
from legacy_adapters.edoc_soap.mime import (
    CHUNK,
    ContentType,
    Multipart,
    parse_content_type,
    read_multipart,
)
from legacy_adapters.edoc_soap.service import LegacyService, Refusal, Request, refusal_of
from legacy_adapters.edoc_soap.translate import LegacyFile, child, local
from legacy_adapters.profiles import Profile, ProfileChooser

log = logging.getLogger(__name__)
PATH = "/legacy/edoc"
ENVELOPE_LIMIT = 16 << 20
_WRAPPERS = {
    "GetPendingDocumentIdsRequest": "GetPendingDocumentIds",
    "GetDocumentRequest": "GetDocument",
    "GetTraces": "GetTraces",
    "ConfirmReceived": "ConfirmReceived",
    "GetOrganizations": "GetOrganizations",
    "CheckPermission": "CheckPermission",
    "Status": "UpdateTraces",
    "Manifest": "SendDocument",
}
WSGIEnvironment = dict[str, Any]
StartResponse = Callable[..., Any]


def contract_directory(kind: str) -> Traversable | Path:
    """``wsdl`` or ``xsd``: packaged in a wheel, or the checkout's top-level folder."""
    import importlib.resources

    packaged = importlib.resources.files("gateway") / "_data" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / kind


def served_wsdl(settings: Settings, name: str = "edoc-legacy.wsdl") -> bytes:
    """A committed WSDL with its address and schema locations pointing at this gateway:
    ``edoc-legacy.wsdl`` at ``?wsdl``, the WS-I form for generated stubs
    (``edoc-legacy-wsi.wsdl``) at ``?wsdl=wsi``."""
    url = settings.public_url.rstrip("/") + PATH
    text = (contract_directory("wsdl") / name).read_text("utf-8")
    text = text.replace("http://127.0.0.1:8080/legacy/edoc", url)
    return text.replace('schemaLocation="../xsd/', f'schemaLocation="{url}?xsd=').encode()


def make_legacy_app(exchange: Exchange, settings: Settings) -> Callable[..., Iterable[bytes]]:
    """The WSGI app for ``/legacy/edoc`` over ``exchange``."""
    profiles = ProfileChooser(settings)
    service = LegacyService(exchange, profiles)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        query = str(environ.get("QUERY_STRING", ""))
        if method in ("GET", "HEAD"):
            return _get(query, settings, start_response)
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "GET, POST")])
            return [b""]
        stage = exchange.stage()  # parts wait here until their package is accepted
        try:
            return _post(environ, start_response, service, exchange, profiles, settings, stage)
        finally:
            stage.discard()

    return app


def _get(query: str, settings: Settings, start_response: StartResponse) -> Iterable[bytes]:
    if query.lower() == "wsdl":
        body = served_wsdl(settings)
    elif query.lower() == "wsdl=wsi":
        body = served_wsdl(settings, "edoc-legacy-wsi.wsdl")
    elif query.startswith("xsd="):
        name = query[4:]
        if name not in ("edoc-legacy.xsd", "edoc-legacy-requests.xsd"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such schema"]
        body = (contract_directory("xsd") / name).read_bytes()
    else:
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [
            f"eDoc SOAP dialect endpoint; WSDL at {PATH}?wsdl (for generated .NET/Java stubs: "
            f"{PATH}?wsdl=wsi)\n".encode()
        ]
    start_response(
        "200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _action_of(environ: WSGIEnvironment, *content_types: str) -> str:
    raw = str(environ.get("HTTP_SOAPACTION", ""))
    candidates = [raw]
    for value in content_types:
        params = parse_content_type(value).params
        candidates += [params.get("action", "")]
        for nested in ("start-info", "type"):
            if nested in params:
                candidates.append(parse_content_type(params[nested]).params.get("action", ""))
    for candidate in candidates:
        name = candidate.strip().strip('"').strip()
        if name:
            return name.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].rsplit(":", 1)[-1]
    return ""


def _post(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    service: LegacyService,
    exchange: Exchange,
    profiles: ProfileChooser,
    settings: Settings,
    stage: StagedBlobs,
) -> Iterable[bytes]:
    content_type = str(environ.get("CONTENT_TYPE", "text/xml"))
    parsed_type = parse_content_type(content_type)
    version = _declared_version(parsed_type)  # the envelope's own, once it is read
    profile = profiles.default
    languages = settings.message_languages
    language = languages.default  # the caller's, once its OrganId is read
    multipart: Multipart | None = None
    try:
        busy = pending_refusal(environ)
        if busy is not None:  # refused before a byte of the body is read
            raise busy
        stream = open_body(environ, settings.max_request_bytes)
        if parsed_type.media_type == "multipart/related":
            multipart = read_multipart(
                stream,  # type: ignore[arg-type]
                parsed_type,
                lambda: stage.writer(settings.max_attachment_bytes),
                max_root=ENVELOPE_LIMIT,
                text_parts=lambda root: _envelope_profile(root, profiles).request_parts,
                max_parts=settings.max_mime_parts,
            )
            root = multipart.root
            root_type = multipart.root_type
            action = _action_of(environ, content_type, _raw_type(root_type))
        else:
            root = stream.read_all(
                ENVELOPE_LIMIT,
                LimitExceeded(
                    "R.Envelope.Size",
                    f"a plain SOAP request is limited to {ENVELOPE_LIMIT} bytes; "
                    "send files as multipart/related attachment parts",
                ),
            )
            action = _action_of(environ, content_type)
        try:
            env = etree.fromstring(root, tree_parser(huge_tree=True))
        except etree.XMLSyntaxError as exc:
            return _send(
                start_response,
                fault(version, True, "M.Soap.Xml", f"not XML: {exc}", language),
                profile,
                exchange,
            )
        if has_doctype(env):
            # SOAP forbids a DTD; its entities would be dropped, not expanded (safexml).
            return _send(
                start_response,
                fault(
                    version,
                    True,
                    "M.Soap.Doctype",
                    "a SOAP message must not contain a DOCTYPE declaration",
                    language,
                ),
                profile,
                exchange,
            )
        if local(env.tag) != "Envelope" or etree.QName(env).namespace not in (SOAP11, SOAP12):
            return _send(
                start_response,
                fault(
                    version,
                    True,
                    "M.Soap.Envelope",
                    "the root element is no SOAP Envelope",
                    language,
                ),
                profile,
                exchange,
            )
        version = str(etree.QName(env).namespace)
        header = child(env, "Header")
        body = child(env, "Body")
        if body is None:
            return _send(
                start_response,
                fault(version, True, "N.Soap.Body", "the SOAP Envelope has no Body", language),
                profile,
                exchange,
            )
        if not action:
            first = next((c for c in body if isinstance(c.tag, str)), None)
            action = _WRAPPERS.get(local(first.tag) if first is not None else "", "")
        operation = service.operations.get(action)
        if operation is None:
            known = ", ".join(service.operations)
            return _send(
                start_response,
                fault(
                    version,
                    True,
                    "R.SOAPAction",
                    f"unknown SOAPAction {action!r} (known: {known})",
                    language,
                ),
                profile,
                exchange,
            )
        logs.bind(operation=action)

        def admit(agency: str) -> None:  # once authenticated: the log line's agency, its rate
            logs.bind(agency=agency)
            charge_agency(environ, agency)

        request = Request(header, body, multipart.parts if multipart else {}, root, stage, admit)
        organ_id = _organ_id(request)  # as the client writes it; the profile maps it to ours
        gateway_code = profiles.for_agency(organ_id).agency_codes.get(organ_id, organ_id)
        language = languages.for_agency(gateway_code)
        try:
            answer = operation(request)
            profile = _profile_of(request, profiles)
        except Refusal as refusal:
            logs.bind(code=refusal.item.code, outcome="refused")
            answer = Answer([response(action, report([refusal.item], language))])
        except GatewayError as exc:
            if exc.side is FaultSide.SERVER:
                raise
            logs.bind(code=exc.code, outcome="refused")
            answer = Answer([response(action, report([refusal_of(exc).item], language))])
        return _send(start_response, answer, profile, exchange, version)
    except GatewayError as exc:
        client = exc.side is FaultSide.CLIENT
        if not client and not isinstance(exc, Busy):
            log.error("legacy request failed: %s", exc)
        return _send(
            start_response,
            fault(version, client, exc.code, exc.message, language),
            profile,
            exchange,
        )
    except Exception:
        log.exception("legacy request failed")
        return _send(
            start_response,
            fault(
                version, False, "M.Server", "the gateway could not complete the request", language
            ),
            profile,
            exchange,
        )


def _declared_version(content_type: ContentType) -> str:
    """The SOAP version the Content-Type announces (a multipart's root ``type``), so that a
    refusal made before the envelope is read is still a fault in the caller's version."""
    media = content_type.media_type
    if media == "multipart/related":
        media = parse_content_type(content_type.params.get("type", "")).media_type
        if media == "application/xop+xml":
            start_info = content_type.params.get("start-info", "")
            media = parse_content_type(start_info).media_type
    return SOAP12 if media == "application/soap+xml" else SOAP11


def _raw_type(content_type: Any) -> str:
    params = "".join(f'; {k}="{v}"' for k, v in content_type.params.items())
    return f"{content_type.media_type}{params}"


def _envelope_profile(root: bytes | None, profiles: ProfileChooser) -> Profile:
    """The caller's profile, read from the envelope before the attachment parts arrive."""
    if root is None:
        return profiles.default
    try:
        env = etree.fromstring(root, tree_parser(huge_tree=True))
    except etree.XMLSyntaxError:
        return profiles.default
    return _profile_of(Request(child(env, "Header"), env, {}), profiles)


def _profile_of(request: Request, profiles: ProfileChooser) -> Profile:
    organ_id = _organ_id(request)
    return profiles.for_agency(organ_id) if organ_id else profiles.default


def _organ_id(request: Request) -> str:
    """The caller's OrganId (the one beside a Token), or empty."""
    for root in (request.body, request.header):
        if root is None:
            continue
        for el in root.iter():
            if local(el.tag) == "OrganId" and child(el.getparent(), "Token") is not None:
                return (el.text or "").strip()
    return ""


def _send(
    start_response: StartResponse,
    answer: Answer,
    profile: Profile,
    exchange: Exchange,
    version: str = SOAP11,
) -> Iterable[bytes]:
    xml = envelope(version, answer)
    soap_type = CONTENT_TYPES[version]
    status = {200: "200 OK", 400: "400 Bad Request", 500: "500 Internal Server Error"}[
        answer.status
    ]
    files = [f for f in answer.files if isinstance(f, LegacyFile)]
    if not files and profile.multipart_responses != "always":
        start_response(
            status,
            [("Content-Type", f"{soap_type}; charset=utf-8"), ("Content-Length", str(len(xml)))],
        )
        return [xml]
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_id = f"root.{uuid.uuid4().hex}@edoc-gateway"
    as_text = profile.response_parts == "base64-text"
    pieces: list[bytes | LegacyFile] = [
        (
            f"--{boundary}\r\nContent-Type: {soap_type}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\nContent-ID: <{root_id}>\r\n\r\n"
        ).encode()
        + xml
    ]
    for item in files:
        pieces.append(
            (
                f"\r\n--{boundary}\r\nContent-Type: {item.content_type}\r\n"
                f"Content-Transfer-Encoding: binary\r\nContent-ID: <{item.content_id}>\r\n\r\n"
            ).encode()
        )
        pieces.append(item)
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    length = 0
    for piece in pieces:
        if isinstance(piece, bytes):
            length += len(piece)
        else:
            size = piece.blob.size
            length += 4 * ((size + 2) // 3) if as_text else size
    start_response(
        status,
        [
            (
                "Content-Type",
                f'multipart/related; type="{soap_type}"; boundary="{boundary}"; '
                f'start="<{root_id}>"',
            ),
            ("Content-Length", str(length)),
        ],
    )
    return _stream(pieces, exchange, as_text)


def _stream(pieces: list[bytes | LegacyFile], exchange: Exchange, as_text: bool) -> Iterator[bytes]:
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
            continue
        with contextlib.closing(exchange.blob_io.open(piece.blob.sha256)) as stream:
            step = 3 * CHUNK if as_text else CHUNK
            while data := stream.read(step):
                yield base64.b64encode(data) if as_text else data
