"""The national axis connector: the VXP REST API (reference §4) over httpx.

Every call is signed with the ``XroadVnpt-*`` HMAC headers (:mod:`gateway.vxp.headers`), bounded
by the upstream's timeout, and its failure sorted for the relay:

- no answer, a timeout, a reset, a TLS or proxy failure, HTTP 5xx, 408/429, any HTTP error
  without a VXP envelope, an unreadable body, or a FAIL envelope with a "system error" code →
  :class:`TransientRelayError` (a misconfigured endpoint must not dead-letter packages);
- a FAIL envelope for anything else (invalid file, unknown unit, wrong sender, bad HMAC) →
  :class:`PermanentRelayError` carrying the axis's ErrorCode and ErrorDesc.

Uploads stream the file from its source in chunks and downloads spool to a temporary file, so a
500 MB package never sits in memory whole.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import ssl
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, BinaryIO

import httpx

from gateway.config import UpstreamSettings
from gateway.errors import PermanentRelayError, TransientRelayError
from gateway.relay.connector import (
    InboundItem,
    Kind,
    OutboundPackage,
    RemoteAgency,
    SendResult,
)
from gateway.vxp import headers as vxp_headers
from gateway.vxp.wire import (
    RETRYABLE_CODES,
    AgencyRecord,
    Envelope,
    MessageType,
    ReceivedItem,
    SentItem,
)

INLINE_RESPONSE_LIMIT = 8 * 1024 * 1024
"""getEdoc answers up to this size are parsed as JSON; larger ones are decoded as a stream."""
_CHUNK = 1024 * 1024
_DATA_KEY = re.compile(rb'"data"\s*:\s*"')
_KIND_TO_TYPE: dict[Kind, MessageType] = {"document": "edoc", "status": "status"}
_TYPE_TO_KIND: dict[str, Kind] = {"edoc": "document", "status": "status"}


def connector(upstream: UpstreamSettings) -> VxpConnector:
    return VxpConnector(upstream)


def _ssl_context(upstream: UpstreamSettings) -> ssl.SSLContext:
    """TLS as configured: the specialised network's CA bundle, an optional client certificate."""
    if upstream.verify_tls:
        context = ssl.create_default_context(
            cafile=str(upstream.ca_bundle) if upstream.ca_bundle else None
        )
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if upstream.client_cert_file:
        context.load_cert_chain(
            str(upstream.client_cert_file),
            str(upstream.client_key_file) if upstream.client_key_file else None,
        )
    return context


class VxpConnector:
    """One national-axis account (``systemid`` + secret) at one endpoint.

    The VXP operations are public methods with the axis's vocabulary; the :class:`Connector`
    methods the relay calls (``send``, ``list_inbound``, ``fetch``, ``acknowledge``,
    ``agencies``) are built on them.
    """

    def __init__(
        self,
        upstream: UpstreamSettings,
        *,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        inline_limit: int = INLINE_RESPONSE_LIMIT,
    ) -> None:
        self.name = upstream.name
        self._upstream = upstream
        self._clock = clock
        self._inline_limit = inline_limit
        transport = httpx.HTTPTransport(
            verify=_ssl_context(upstream),
            proxy=upstream.proxy or None,
            local_address=upstream.source_address or None,
        )
        self._client = httpx.Client(
            base_url=upstream.endpoint.rstrip("/") + "/",
            transport=transport,
            timeout=httpx.Timeout(upstream.timeout_seconds),
            trust_env=False,  # only the configured proxy, never one from the environment
            headers={"User-Agent": vxp_headers.USER_AGENT},
        )

    # -- the VXP operations -----------------------------------------------------------------

    def send_edoc(
        self,
        from_code: str,
        message_type: MessageType,
        source: BinaryIO,
        sha256: str,
        to: Sequence[str] = (),
        file_name: str = "package.edxml",
    ) -> str:
        """``sendEdoc``: upload one package as the multipart part ``file_doc``; its DocId."""
        params = [("from", from_code), ("servicetype", "eDoc"), ("messagetype", message_type)]
        if to:
            params.append(("to", json.dumps(list(to), separators=(",", ":"))))
        params.append(("hash-file", sha256.lower()))
        files = {"file_doc": (file_name, source, "application/xml")}
        data = self._call("sendEdoc", params, "multipart/form-data", files=files)
        doc_id = data.get("DocId", data.get("docId")) if isinstance(data, dict) else data
        if not isinstance(doc_id, str) or not doc_id:
            raise TransientRelayError("R.Vxp.Answer", "sendEdoc answered OK without a DocId")
        return doc_id

    def received_list(self, message_type: MessageType) -> list[ReceivedItem]:
        """``getReceivedEdocList``: packages waiting for this system (listing changes nothing)."""
        data = self._call(
            "getReceivedEdocList", [("servicetype", "eDoc"), ("messagetype", message_type)]
        )
        return [ReceivedItem.from_json(item) for item in self._items(data, "getReceivedEdocList")]

    def get_edoc(self, doc_id: str, into: IO[bytes]) -> int:
        """``getEdoc``: decode the package's base64 ``data`` into ``into``; the bytes written."""
        request = self._request("getEdoc", [("docId", doc_id)], "application/json", body=b"{}")
        with tempfile.SpooledTemporaryFile(max_size=self._inline_limit) as spool:
            status = self._exchange(request, "getEdoc", spool)
            size = spool.tell()
            spool.seek(0)
            if size <= self._inline_limit or status >= 400:
                envelope = self._envelope(spool.read(), status, "getEdoc")
                if not isinstance(envelope.data, str):
                    raise TransientRelayError("R.Vxp.Answer", "getEdoc answered OK without data")
                content = base64.b64decode(envelope.data)
                into.write(content)
                return len(content)
            try:
                return _stream_data(spool, into)
            except ValueError as exc:
                raise TransientRelayError("R.Vxp.Answer", f"getEdoc: {exc}", "getEdoc") from None

    def update_status(self, doc_id: str, status: str, description: str = "") -> None:
        """``updateStatus``: the transport acknowledgement (``processing``, ``done``, ``fail``)."""
        params = [("docId", doc_id), ("status", status)]
        if description:
            params.append(("description", description))
        self._call("updateStatus", params)

    def sent_list(self, message_type: MessageType, doc_id: str = "") -> list[SentItem]:
        """``getSentEdocList``: what became of this system's sends, per recipient."""
        params = [("servicetype", "eDoc"), ("messagetype", message_type)]
        if doc_id:
            params.append(("docId", doc_id))
        data = self._call("getSentEdocList", params)
        return [SentItem.from_json(item) for item in self._items(data, "getSentEdocList")]

    def agencies_list(self) -> list[dict[str, Any]]:
        """``getAgenciesList``: the national directory with QCVN 102 codes."""
        return self._items(self._call("getAgenciesList", []), "getAgenciesList")

    def agencies_list_qd20(self, level: str = "") -> list[dict[str, Any]]:
        """``getAgenciesListQD20``: the same directory with QĐ 20 codes (and ``code102``)."""
        params = [("level", level)] if level else []
        return self._items(self._call("getAgenciesListQD20", params), "getAgenciesListQD20")

    def register_agency(self, agency: AgencyRecord) -> None:
        """``registerAgency``: put a child unit under this system (``pcode``)."""
        body = json.dumps(agency.to_register_json(), ensure_ascii=False).encode()
        self._call("registerAgency", [], body=body)

    def delete_agency(self, code: str) -> None:
        """``deleteAgency``: remove a child unit registered by this system."""
        self._call("deleteAgency", [("AgencyCode", code)])

    # -- the relay's Connector interface ----------------------------------------------------

    def send(self, package: OutboundPackage) -> SendResult:
        with package.open() as source:
            doc_id = self.send_edoc(
                package.sender,
                _KIND_TO_TYPE[package.kind],
                source,
                package.sha256,
                package.recipients,
                file_name=f"{package.package_id}.edxml",
            )
        return SendResult(remote_id=doc_id)

    def list_inbound(self, kind: Kind, limit: int) -> list[InboundItem]:
        items: list[InboundItem] = []
        for item in self.received_list(_KIND_TO_TYPE[kind]):
            if item.status.lower() in ("done", "fail"):
                continue
            items.append(InboundItem(item.doc_id, kind, item.from_code, item.to_codes))
            if len(items) >= limit:
                break
        return items

    def fetch(self, item: InboundItem, into: BinaryIO) -> None:
        self.get_edoc(item.remote_id, into)

    def acknowledge(self, item: InboundItem, ok: bool, reason: str) -> None:
        self.update_status(item.remote_id, "done" if ok else "fail", reason)

    def agencies(self) -> Iterable[RemoteAgency]:
        """Both directory forms merged on the QCVN 102 code (QĐ 20-only units kept as such)."""
        merged: dict[str, RemoteAgency] = {}
        for row in self.agencies_list():
            code = str(row.get("code") or "")
            if code:
                merged[code] = RemoteAgency(
                    code=code,
                    name=str(row.get("name") or ""),
                    email=str(row.get("mail") or ""),
                    parent=str(row.get("pid") or ""),
                )
        extra: list[RemoteAgency] = []
        for row in self.agencies_list_qd20():
            code102 = str(row.get("code102") or "")
            code_qd20 = str(row.get("code") or "")
            known = merged.get(code102)
            if known is not None:
                merged[code102] = RemoteAgency(
                    known.code, known.name, known.email, code_qd20, known.parent
                )
            else:
                extra.append(
                    RemoteAgency(
                        code=code102,
                        name=str(row.get("name") or ""),
                        email=str(row.get("mail") or ""),
                        code_qd20=code_qd20,
                    )
                )
        return [*merged.values(), *extra]

    def close(self) -> None:
        self._client.close()

    # -- the wire -------------------------------------------------------------------------

    def _request(
        self,
        operation: str,
        params: Sequence[tuple[str, str]],
        content_type: str,
        *,
        body: bytes | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Request:
        signed = vxp_headers.sign(
            self._upstream.secret,
            [
                ("systemid", self._upstream.system_id),
                ("timestamp", vxp_headers.format_timestamp(self._clock())),
                ("Content-Type", content_type),
                *params,
            ],
        )
        headers = [(name.encode(), value.encode("utf-8")) for name, value in signed]
        headers.append((vxp_headers.VERSION_HEADER.encode(), vxp_headers.VERSION.encode()))
        if files is None:
            headers.append((b"Content-Type", content_type.encode()))
        return self._client.build_request(
            "POST", operation, headers=headers, content=body, files=files
        )

    def _call(
        self,
        operation: str,
        params: Sequence[tuple[str, str]],
        content_type: str = "application/json",
        *,
        body: bytes | None = None,
        files: dict[str, Any] | None = None,
    ) -> Any:
        if body is None and files is None:
            body = b"{}"
        request = self._request(operation, params, content_type, body=body, files=files)
        with tempfile.SpooledTemporaryFile(max_size=_CHUNK) as spool:
            status = self._exchange(request, operation, spool)
            spool.seek(0)
            return self._envelope(spool.read(), status, operation).data

    def _exchange(self, request: httpx.Request, operation: str, into: IO[bytes]) -> int:
        """Send; copy the answer's body into ``into``; its HTTP status. Network trouble and
        HTTP 5xx become :class:`TransientRelayError`."""
        try:
            response = self._client.send(request, stream=True)
            try:
                for chunk in response.iter_bytes(_CHUNK):
                    into.write(chunk)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransientRelayError(
                "R.Vxp.Timeout", f"{operation}: no answer within the timeout ({exc})", operation
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientRelayError(
                "R.Vxp.Network", f"{operation}: {type(exc).__name__}: {exc}", operation
            ) from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientRelayError(
                "R.Vxp.Http",
                f"{operation}: the axis answered HTTP {response.status_code}",
                operation,
            )
        return response.status_code

    def _envelope(self, body: bytes, status: int, operation: str) -> Envelope:
        try:
            envelope = Envelope.from_json(json.loads(body))
        except ValueError:
            raise TransientRelayError(
                "R.Vxp.Answer",
                f"{operation}: HTTP {status} without a VXP envelope: {body[:200]!r}",
                operation,
            ) from None
        if envelope.status == "OK":
            return envelope
        message = f"{operation} refused: ErrorCode {envelope.error_code}: {envelope.error_desc}"
        if envelope.error_code in RETRYABLE_CODES:
            raise TransientRelayError(f"R.Vxp.{envelope.error_code}", message, operation)
        raise PermanentRelayError(f"M.Vxp.{envelope.error_code}", message, operation)

    @staticmethod
    def _items(data: Any, operation: str) -> list[dict[str, Any]]:
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
            raise TransientRelayError(
                "R.Vxp.Answer", f"{operation}: data is not a list of objects", operation
            )
        return data


def _stream_data(spool: IO[bytes], into: IO[bytes]) -> int:
    """Decode the envelope's base64 ``data`` string from a spooled answer without holding it:
    locate ``"data":"``, decode up to the closing quote (undoing JSON's ``\\/``, ``\\n`` and
    ``\\r`` escapes), then check the rest of the envelope says OK."""
    head = spool.read(_CHUNK)
    found = _DATA_KEY.search(head)
    if found is None:
        raise ValueError("no base64 data in the answer")
    before = head[: found.start()]
    spool.seek(found.end())
    pending = b""
    written = 0
    after: bytes | None = None
    while after is None:
        chunk = spool.read(_CHUNK)
        if not chunk:
            raise ValueError("the data string is not terminated")
        end = chunk.find(b'"')
        if end >= 0:
            chunk, after = chunk[:end], chunk[end + 1 :] + spool.read()
        text = pending + chunk
        if text.endswith(b"\\") and after is None:
            text, carry = text[:-1], b"\\"
        else:
            carry = b""
        text = (
            text.replace(b"\\/", b"/")
            .replace(b"\\n", b"")
            .replace(b"\\r", b"")
            .translate(None, b" \t\r\n")
        )
        if b"\\" in text:
            raise ValueError("unexpected escape in the base64 data")
        usable = len(text) - len(text) % 4 if after is None else len(text)
        written += into.write(base64.b64decode(text[:usable], validate=True))
        pending = text[usable:] + carry
    envelope = Envelope.from_json(json.loads(before + b'"data":null' + after))
    if envelope.status != "OK":
        raise ValueError(f"FAIL envelope {envelope.error_code}: {envelope.error_desc}")
    return written

