"""A VXP server as a WSGI app over a backend: routing, header verification, envelopes.

The app owns everything the protocol fixes (operation names from the path, the ``XroadVnpt-*``
HMAC check per systemId, multipart ``file_doc`` spooled to disk while hashed and checked against
``hash-file``, JSON in and out, base64 ``getEdoc`` streamed). A :class:`VxpBackend` owns storage and
rules, and refuses with :class:`VxpRefusal` (code + text, answered as a FAIL envelope). The national
axis simulator is one backend; the gateway's REST face (:mod:`gateway.restface.face`) is another.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from python_multipart.multipart import MultipartParser, parse_options_header

from gateway import logs
from gateway.errors import FaultSide, HttpRefusal, MalformedBody, VxpRefusal
from gateway.vxp import headers as vxp_headers
from gateway.vxp import wire
from gateway.vxp.wire import (
    AgencyRecord,
    Envelope,
    MessageType,
    ReceivedItem,
    SentItem,
)
from gateway.web import RequestBody, open_body, refusal_headers, status_line
from gateway.web.admission import charge_agency, pending_refusal

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
_JSON_LIMIT = 1024 * 1024
_CHUNK = 1024 * 1024
_B64_CHUNK = 3 * 256 * 1024
_UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class Upload:
    """A verified ``sendEdoc``: the file is spooled to ``path`` (the backend moves or copies it;
    the server deletes whatever is left there afterwards)."""

    from_code: str
    message_type: MessageType
    service_type: str
    to_codes: tuple[str, ...]
    sha256: str
    size: int
    path: Path


class VxpBackend(Protocol):
    """What a VXP server stores and decides. ``caller`` is the verified systemId."""

    def secret(self, system_id: str) -> str | None:
        """The HMAC secret of a systemId, or None if it is unknown."""
        ...

    def send_edoc(self, caller: str, upload: Upload) -> str:
        """Accept a package; its DocId."""
        ...

    def received_list(self, caller: str, message_type: MessageType) -> list[ReceivedItem]: ...

    def open_edoc(self, caller: str, doc_id: str) -> tuple[BinaryIO, int]:
        """The package's bytes and size, for a package delivered to ``caller``."""
        ...

    def update_status(self, caller: str, doc_id: str, status: str, description: str) -> None: ...

    def sent_list(self, caller: str, message_type: MessageType, doc_id: str) -> list[SentItem]: ...

    def agencies(self) -> list[AgencyRecord]: ...

    def register_agency(self, caller: str, agency: AgencyRecord) -> None: ...

    def delete_agency(self, caller: str, code: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recent a request's ``XroadVnpt-timestamp`` must be, and (with ``remember``) the
    refusal of a signature already seen: ``remember(system_id, signature)`` is False for one
    seen within ``2 * window_seconds``."""

    window_seconds: int
    remember: Callable[[str, str], bool] | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    operation: str
    caller: str
    params: vxp_headers.SignedParams
    environ: Environ
    body: RequestBody


class VxpApp:
    """The WSGI app: ``POST {base}/{operation}`` for the operations of :data:`wire.OPERATIONS`."""

    def __init__(
        self,
        backend: VxpBackend,
        spool_dir: Path | None = None,
        max_request_bytes: int | None = None,
        freshness: Freshness | None = None,
    ) -> None:
        self.backend = backend
        self.freshness = freshness
        self.spool_dir = spool_dir
        self.max_request_bytes = max_request_bytes
        """Larger bodies are refused before they are read; None: no limit (the simulator)."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        operation = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
        if operation not in wire.OPERATIONS:
            return _answer(
                start_response,
                Envelope.fail(wire.BAD_PARAMETER, f"unknown operation {operation!r}"),
                "404 Not Found",
            )
        logs.bind(operation=operation)
        try:  # refused before a byte of the body is read
            busy = pending_refusal(environ)
            if busy is not None:
                raise busy
            body = open_body(environ, self.max_request_bytes or _UNLIMITED)
        except HttpRefusal as refusal:
            logs.bind(code=refusal.code)
            return _refused(start_response, refusal)
        try:
            call = self._authenticate(operation, environ, body)
            if operation == "getEdoc":
                answer = self._get_edoc(call, start_response)
            else:
                answer = _answer(start_response, Envelope.ok(getattr(self, "_" + operation)(call)))
            # Read what the operation did not (getEdoc's "{}"): closing a socket with unread
            # bytes makes the kernel send RST, which destroys the answer in flight.
            body.drain()
            return answer
        except VxpRefusal as refusal:
            logs.bind(code=f"M.Vxp.{refusal.code}")  # the axis's own code (catalogue family)
            body.drain()  # a client still uploading must read the refusal
            return _answer(start_response, Envelope.fail(refusal.code, refusal.desc))
        except HttpRefusal as refusal:
            logs.bind(code=refusal.code)
            return _refused(start_response, refusal)
        except Exception:
            logs.bind(code="Server.Internal")
            log.exception("VXP %s failed", operation)
            return _answer(
                start_response,
                Envelope.fail(wire.SYSTEM_ERROR, "Loi he thong (internal error)"),
                "500 Internal Server Error",
            )

    # -- authentication -------------------------------------------------------------------

    def _authenticate(self, operation: str, environ: Environ, body: RequestBody) -> _Call:
        received = _headers(environ)
        system_id = vxp_headers.claimed_system_id(received)
        secret = self.backend.secret(system_id) if system_id else None
        if secret is None:
            raise VxpRefusal(wire.AUTH_FAILED, f"SystemId {system_id!r} khong ton tai (unknown)")
        try:
            params = vxp_headers.verify(received, secret)
        except vxp_headers.SignatureError as exc:
            raise VxpRefusal(wire.AUTH_FAILED, f"Sai chu ky (bad signature): {exc}") from None
        if self.freshness is not None:
            _check_fresh(self.freshness, params, received)
        logs.bind(agency=params.system_id)
        charge_agency(environ, params.system_id)
        return _Call(operation, params.system_id, params, environ, body)

    # -- operations ---------------------------------------------------------------------

    def _sendEdoc(self, call: _Call) -> dict[str, str]:
        message_type = _message_type(call.params)
        try:
            to_codes = wire.codes(call.params.get("to"))
        except ValueError as exc:
            raise VxpRefusal(wire.BAD_PARAMETER, str(exc)) from None
        from_code = _required(call.params, "from")
        declared = _required(call.params, "hash-file").lower()
        path, size, digest = self._spool_file_doc(call.environ, call.body)
        try:
            if digest != declared:
                raise VxpRefusal(
                    wire.INVALID_FILE, f"hash-file {declared} khac noi dung (file hash {digest})"
                )
            upload = Upload(
                from_code,
                message_type,
                call.params.get("servicetype", "eDoc"),
                to_codes,
                digest,
                size,
                path,
            )
            return {"DocId": self.backend.send_edoc(call.caller, upload)}
        finally:
            path.unlink(missing_ok=True)

    def _getReceivedEdocList(self, call: _Call) -> list[dict[str, Any]]:
        items = self.backend.received_list(call.caller, _message_type(call.params))
        return [item.to_json() for item in items]

    def _get_edoc(self, call: _Call, start_response: StartResponse) -> Iterable[bytes]:
        doc_id = _required(call.params, "docId")
        source, size = self.backend.open_edoc(call.caller, doc_id)
        prefix = b'{"status":"OK","ErrorCode":"0","ErrorDesc":"Thanh cong","data":"'
        suffix = b'"}'
        length = len(prefix) + 4 * ((size + 2) // 3) + len(suffix)
        start_response(
            "200 OK",
            [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(length))],
        )

        def body() -> Iterator[bytes]:
            with source:
                yield prefix
                while chunk := source.read(_B64_CHUNK):
                    yield base64.b64encode(chunk)
                yield suffix

        return body()

    def _updateStatus(self, call: _Call) -> None:
        status = _required(call.params, "status").lower()
        if status not in wire.ACK_STATUSES:
            raise VxpRefusal(wire.BAD_PARAMETER, f"status {status!r} is not processing|done|fail")
        doc_id = _required(call.params, "docId")
        self.backend.update_status(call.caller, doc_id, status, call.params.get("description"))

    def _getSentEdocList(self, call: _Call) -> list[dict[str, Any]]:
        items = self.backend.sent_list(
            call.caller, _message_type(call.params), call.params.get("docId")
        )
        return [item.to_json() for item in items]

    def _getAgenciesList(self, call: _Call) -> list[dict[str, Any]]:
        return [agency.to_list_json() for agency in self.backend.agencies()]

    def _getAgenciesListQD20(self, call: _Call) -> list[dict[str, Any]]:
        level = call.params.get("level")
        return [
            agency.to_qd20_json()
            for agency in self.backend.agencies()
            if agency.code_qd20
            and (not level or not level.isdigit() or agency.code_qd20.count(".") + 1 == int(level))
        ]

    def _registerAgency(self, call: _Call) -> None:
        body = _json_body(call.body)
        if not isinstance(body, dict):
            raise VxpRefusal(wire.BAD_PARAMETER, "registerAgency expects a JSON object")

        def text(name: str) -> str:
            value = body.get(name)
            return value.strip() if isinstance(value, str) else ""

        code, name = text("code"), text("name")
        if not code or not name:
            raise VxpRefusal(wire.BAD_PARAMETER, "registerAgency needs code and name")
        record = AgencyRecord(
            code=code,
            name=name,
            pcode=text("pcode") or call.caller,
            mail=text("mail"),
            mobile=text("mobile"),
            fax=text("fax"),
            code_qd20=text("codeQD20") or text("code_qd20"),
            id=text("id"),
        )
        self.backend.register_agency(call.caller, record)

    def _deleteAgency(self, call: _Call) -> None:
        self.backend.delete_agency(call.caller, _required(call.params, "AgencyCode"))

    # -- bodies ----------------------------------------------------------------------------

    def _spool_file_doc(self, environ: Environ, body: RequestBody) -> tuple[Path, int, str]:
        """Stream the multipart part ``file_doc`` to a temporary file; its path, size, SHA-256."""
        media, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        boundary = options.get(b"boundary")
        if media != b"multipart/form-data" or not boundary:
            raise VxpRefusal(wire.INVALID_FILE, "sendEdoc expects multipart/form-data (file_doc)")
        fd, name = tempfile.mkstemp(prefix="vxp-", suffix=".edxml", dir=self.spool_dir)
        path = Path(name)
        digest = hashlib.sha256()
        state: dict[str, Any] = {"field": b"", "value": b"", "name": None, "found": 0, "size": 0}
        out = os.fdopen(fd, "wb")

        def header_field(data: bytes, start: int, end: int) -> None:
            state["field"] += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            state["value"] += data[start:end]

        def header_end() -> None:
            if state["field"].lower() == b"content-disposition":
                state["name"] = parse_options_header(state["value"])[1].get(b"name")
            state["field"], state["value"] = b"", b""

        def part_begin() -> None:
            state["name"] = None

        def headers_finished() -> None:
            if state["name"] == b"file_doc":
                state["found"] += 1

        def part_data(data: bytes, start: int, end: int) -> None:
            if state["name"] == b"file_doc" and state["found"] == 1:
                piece = data[start:end]
                digest.update(piece)
                out.write(piece)
                state["size"] += len(piece)

        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": part_begin,
                "on_header_field": header_field,
                "on_header_value": header_value,
                "on_header_end": header_end,
                "on_headers_finished": headers_finished,
                "on_part_data": part_data,
            },
        )
        try:
            with out:
                for chunk in body.chunks(_CHUNK):
                    parser.write(chunk)
                parser.finalize()
        except Exception as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, OSError | HttpRefusal):
                raise
            raise VxpRefusal(wire.INVALID_FILE, f"multipart body unreadable: {exc}") from None
        if state["found"] != 1:
            path.unlink(missing_ok=True)
            raise VxpRefusal(wire.INVALID_FILE, "sendEdoc needs exactly one part named file_doc")
        return path, int(state["size"]), digest.hexdigest()


def _check_fresh(
    freshness: Freshness, params: vxp_headers.SignedParams, received: dict[str, str]
) -> None:
    """Refuse a timestamp outside the window, and a signature seen before within it."""
    # The SDK writes its local time without a zone, as this server's clock reads it.
    moment = vxp_headers.parse_timestamp(params.get("timestamp"))
    if abs(dt.datetime.now() - moment) > dt.timedelta(seconds=freshness.window_seconds):
        raise VxpRefusal(
            wire.AUTH_FAILED,
            f"XroadVnpt-timestamp {params.get('timestamp')} qua han (is more than "
            f"{freshness.window_seconds} s from now, vxp_freshness_seconds)",
        )
    if freshness.remember is not None:
        signature = received.get(vxp_headers.HASH_HEADER.lower(), "").strip().lower()
        if not freshness.remember(params.system_id, signature):
            raise VxpRefusal(
                wire.AUTH_FAILED,
                "Yeu cau lap lai (a replay: this signature was already used, "
                "vxp_reject_replays)",
            )


def _headers(environ: Environ) -> dict[str, str]:
    """Request headers by name (dashes restored, any case), values decoded from UTF-8 (WSGI
    hands them over as Latin-1)."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            raw = value.encode("latin-1", "replace")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = value
            out[key[5:].replace("_", "-").lower()] = text
    return out


def _json_body(body: RequestBody) -> Any:
    raw = body.read_all(_JSON_LIMIT, MalformedBody("JSON body too large"))
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise VxpRefusal(wire.BAD_PARAMETER, "the body is not JSON") from None


def _required(params: vxp_headers.SignedParams, name: str) -> str:
    value = params.get(name).strip()
    if not value:
        raise VxpRefusal(wire.BAD_PARAMETER, f"XroadVnpt-{name} is required")
    return value


def _message_type(params: vxp_headers.SignedParams) -> MessageType:
    value = params.get("messagetype", "edoc").strip().lower()
    for known in wire.MESSAGE_TYPES:
        if value == known:
            return known
    raise VxpRefusal(wire.BAD_PARAMETER, f"messagetype {value!r} is not edoc|status")


def _answer(
    start_response: StartResponse,
    envelope: Envelope,
    status: str = "200 OK",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    body = envelope.to_bytes()
    start_response(
        status,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *headers,
        ],
    )
    return [body]


def _refused(start_response: StartResponse, refusal: HttpRefusal) -> list[bytes]:
    """An HTTP-level refusal as a FAIL envelope with the refusal's own HTTP status (413, 400,
    503 with ``Retry-After``), the gateway's code first in ``ErrorDesc``."""
    code = wire.SYSTEM_ERROR if refusal.side is FaultSide.SERVER else wire.INVALID_FILE
    return _answer(
        start_response,
        Envelope.fail(code, f"{refusal.code}: {refusal.message}"),
        status_line(refusal.status),
        refusal_headers(refusal),
    )
