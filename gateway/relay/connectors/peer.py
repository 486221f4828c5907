"""The peer connector: a parent edoc-gateway's SOAP service (``/soap/v1``) as an upstream.

A chained gateway (a district's or a ministry's) holds one agency credential at its parent:
``system_id`` is that agency's code there and ``secret`` its UsernameToken secret. Every call
carries a WS-Security UsernameToken (PasswordDigest, fresh Nonce and Created).

zeep is built once from the WSDL shipped with this package (never fetched: the parent's copy is
the same contract), with the service address overridden to the upstream's endpoint. Two calls
move packages of any size without holding them in memory, which zeep cannot do:

- a send above ``inline_limit`` is posted by hand: zeep writes the envelope (with its
  UsernameToken) around a marker, and the package is base64-encoded from its source as the body
  is sent, with a Content-Length (the parent's streaming path spools and pull-parses it);
- GetPackage answers are always read with a pull parser, decoding the base64 ``package`` text
  chunk by chunk into the target file.

Failures are sorted for the relay:

- no connection, a timeout, a TLS or proxy failure, HTTP errors without a SOAP fault, an
  unreadable answer, or a ``Server`` (SOAP 1.2 ``Receiver``) fault → :class:`TransientRelayError`;
- a ``Client`` (``Sender``) fault: an invalid package, an unknown recipient, a refused sender,
  wrong credentials → :class:`PermanentRelayError` with the parent's code (its ``GatewayFault``
  detail), its sentence and its findings.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TypeVar

import requests
import requests.adapters
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.config import UpstreamSettings
from gateway.edxml.attachments import Base64StreamDecoder, encode_base64_chunks
from gateway.errors import Finding, PermanentRelayError, Severity, TransientRelayError
from gateway.relay.connector import (
    InboundItem,
    Kind,
    OutboundPackage,
    RemoteAgency,
    SendResult,
)
from gateway.safexml import pull_parser

TNS = "urn:edoc-gateway:soap:v1"
BINDING = f"{{{TNS}}}EdocGatewaySoap11"
WSDL_NAME = "edoc-gateway.wsdl"
INLINE_SEND_LIMIT = 4 * 1024 * 1024
"""Packages up to this size are sent through zeep; larger ones are streamed by hand."""
_CHUNK = 1 << 16
_MARK = "EDOC-GATEWAY-PEER-PACKAGE"
_SEND_OPERATION: dict[Kind, str] = {"document": "SendDocument", "status": "SendStatus"}
_T = TypeVar("_T")
# zeep's constructors are not annotated; the connector keeps what they return as Any.
_ZeepClient: Any = zeep.Client
_ZeepTransport: Any = Transport
_ZeepUsernameToken: Any = UsernameToken


def connector(upstream: UpstreamSettings) -> PeerConnector:
    return PeerConnector(upstream)


def wsdl_file() -> Path:
    """The service's WSDL: ``gateway/_data/wsdl`` in a wheel, ``wsdl/`` in a source checkout."""
    packaged = importlib.resources.files("gateway") / "_data" / "wsdl" / WSDL_NAME
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "wsdl" / WSDL_NAME
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(
        f"the service WSDL is neither in the package (gateway/_data/wsdl) nor at {checkout}"
    )


class _SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connections (direct or to the proxy) leave from one local address."""

    def __init__(self, source_address: str) -> None:
        self._source = (source_address, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["source_address"] = self._source
        return super().proxy_manager_for(proxy, **kwargs)


def _session(upstream: UpstreamSettings) -> requests.Session:
    """The requests session zeep and the streamed calls share: TLS, proxy, source address."""
    session = requests.Session()
    session.trust_env = False  # only the configured proxy and CA bundle, never the environment's
    if upstream.verify_tls and upstream.ca_bundle is not None:
        session.verify = str(upstream.ca_bundle)
    else:
        session.verify = upstream.verify_tls
    if upstream.client_cert_file is not None:
        session.cert = (
            (str(upstream.client_cert_file), str(upstream.client_key_file))
            if upstream.client_key_file is not None
            else str(upstream.client_cert_file)
        )
    if upstream.proxy:
        session.proxies = {"http": upstream.proxy, "https": upstream.proxy}
    if upstream.source_address:
        adapter = _SourceAddressAdapter(upstream.source_address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


class _StreamedBody:
    """A request body of known length, produced as it is read: head, base64 chunks, tail."""

    def __init__(self, head: bytes, source: BinaryIO, size: int, tail: bytes) -> None:
        self._length = len(head) + 4 * ((size + 2) // 3) + len(tail)
        self._parts = self._produce(head, source, tail)
        self._buffer = b""

    @staticmethod
    def _produce(head: bytes, source: BinaryIO, tail: bytes) -> Iterator[bytes]:
        yield head
        yield from encode_base64_chunks(source)
        yield tail

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            part = next(self._parts, None)
            if part is None:
                break
            self._buffer += part
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class PeerConnector:
    """One agency's account at a parent gateway."""

    def __init__(
        self, upstream: UpstreamSettings, *, inline_limit: int = INLINE_SEND_LIMIT
    ) -> None:
        self.name = upstream.name
        self._upstream = upstream
        self._address = upstream.endpoint
        self._inline_limit = inline_limit
        self._timeout = upstream.timeout_seconds
        self._session = _session(upstream)
        transport = _ZeepTransport(
            session=self._session,
            timeout=upstream.timeout_seconds,
            operation_timeout=upstream.timeout_seconds,
        )
        self._client: Any = _ZeepClient(
            str(wsdl_file()),
            wsse=_ZeepUsernameToken(upstream.system_id, upstream.secret, use_digest=True),
            transport=transport,
            settings=zeep.Settings(
                strict=True, forbid_entities=True, forbid_external=True, xml_huge_tree=True
            ),
        )
        self._service: Any = self._client.create_service(BINDING, upstream.endpoint)
        self._cursors: dict[Kind, str] = {"document": "", "status": ""}
        self._lock = threading.Lock()

    # -- the relay's Connector interface ----------------------------------------------------

    def send(self, package: OutboundPackage) -> SendResult:
        """SendDocument or SendStatus; a resend answers with the original receipt."""
        operation = _SEND_OPERATION[package.kind]
        if package.size <= self._inline_limit:
            with package.open() as source:
                data = source.read()
            receipt = self._call(operation, lambda: getattr(self._service, operation)(data))
        else:
            receipt = self._call(operation, lambda: self._send_streamed(operation, package))
        package_id = getattr(receipt, "packageId", None)
        if not isinstance(package_id, str) or not package_id:
            raise TransientRelayError("R.Peer.Answer", f"{operation} answered without a packageId")
        return SendResult(remote_id=package_id)

    def list_inbound(self, kind: Kind, limit: int) -> list[InboundItem]:
        """One page of GetPending. Each call continues after the previous page, and starts over
        when the mailbox is exhausted, so items left unconfirmed at the head (a fetch that keeps
        failing) do not hide the rest of a long mailbox."""
        with self._lock:
            cursor = self._cursors[kind]
        page = self._call("GetPending", lambda: self._service.GetPending(kind, limit, cursor))
        items = page["items"].item if page["items"] is not None else []
        with self._lock:
            self._cursors[kind] = page["nextCursor"] or ""
        return [InboundItem(str(item.packageId), kind, str(item.sender or "")) for item in items]

    def fetch(self, item: InboundItem, into: BinaryIO) -> None:
        """GetPackage, its base64 ``package`` decoded as it arrives (the answer may be huge)."""
        self._call("GetPackage", lambda: self._fetch_streamed(item.remote_id, into))

    def acknowledge(self, item: InboundItem, ok: bool, reason: str) -> None:
        """ConfirmReceived: takes the item out of this agency's mailbox at the parent.

        ``relayed``, not ``ok``: this gateway passes the package on, and the receiver's own
        STATUS 01 follows from here when its software confirms it; an ``ok`` would make the
        parent send a premature second 01 to the sender."""
        outcome = "relayed" if ok else "failed"
        self._call(
            "ConfirmReceived",
            lambda: self._service.ConfirmReceived(item.remote_id, outcome, reason or None),
        )

    def agencies(self) -> Iterable[RemoteAgency]:
        """GetAgencies: the parent's agencies that are enabled (a disabled one cannot receive)."""
        listing = self._call("GetAgencies", lambda: self._service.GetAgencies())
        rows = listing if isinstance(listing, list) else getattr(listing, "agency", None) or []
        return [
            RemoteAgency(code=str(row.code), name=str(row.name or ""), email=str(row.email or ""))
            for row in rows
            if row.enabled
        ]

    def close(self) -> None:
        self._session.close()

    # -- the wire -------------------------------------------------------------------------

    def _message(self, operation: str, **values: Any) -> bytes:
        """The operation's envelope with a fresh UsernameToken, serialised."""
        envelope = self._client.create_message(self._service, operation, **values)
        data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return data

    def _post(self, operation: str, body: Any, *, stream: bool = False) -> requests.Response:
        return self._session.post(
            self._address,
            data=body,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'},
            timeout=(self._timeout, self._timeout),
            stream=stream,
        )

    def _reply(self, operation: str, response: requests.Response) -> Any:
        """zeep's reading of an answer: the result, or its Fault / TransportError raised."""
        binding = self._service._binding
        return binding.process_reply(self._client, binding.get(operation), response)

    def _send_streamed(self, operation: str, package: OutboundPackage) -> Any:
        envelope = self._client.create_message(self._service, operation, b"")
        slot = envelope.find(f".//{{{TNS}}}package")
        assert slot is not None, f"{operation} has a package element"
        slot.text = _MARK
        head, tail = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8").split(
            _MARK.encode(), 1
        )
        with package.open() as source:
            response = self._post(operation, _StreamedBody(head, source, package.size, tail))
        return self._reply(operation, response)

    def _fetch_streamed(self, package_id: str, into: BinaryIO) -> None:
        response = self._post(
            "GetPackage", self._message("GetPackage", packageId=package_id), stream=True
        )
        with response:
            if response.status_code != 200:
                self._reply("GetPackage", response)  # raises the fault or the HTTP error
                raise TransientRelayError(
                    "R.Peer.Http", f"GetPackage answered HTTP {response.status_code}"
                )
            declared, written = _decode_package(response.iter_content(_CHUNK), into)
        if declared is not None and declared != written:
            raise TransientRelayError(
                "R.Peer.Answer",
                f"GetPackage {package_id}: {written} bytes decoded, the answer says {declared}",
            )

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except zeep.exceptions.Fault as fault:
            _refused(self.name, operation, fault)
        except requests.exceptions.Timeout as exc:
            raise TransientRelayError(
                "R.Peer.Timeout", f"{operation}: no answer within the timeout ({exc})", operation
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise TransientRelayError(
                "R.Peer.Network", f"{operation}: {type(exc).__name__}: {exc}", operation
            ) from exc
        except zeep.exceptions.TransportError as exc:
            raise TransientRelayError(
                "R.Peer.Http",
                f"{operation}: the parent answered HTTP {exc.status_code} without a SOAP fault",
                operation,
            ) from exc
        except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            raise TransientRelayError(
                "R.Peer.Answer", f"{operation}: unreadable answer: {exc}", operation
            ) from exc


def _decode_package(chunks: Iterable[bytes], into: BinaryIO) -> tuple[int | None, int]:
    """Pull-parse a GetPackageResponse: decode ``package`` into ``into``. Returns the declared
    ``size`` (None if absent) and the bytes written."""
    parser = pull_parser()
    decoder = Base64StreamDecoder(into)
    depth = 0
    in_body = False
    operation = ""
    package: Any = None
    seen = False
    declared: int | None = None

    def consume() -> None:
        nonlocal depth, in_body, operation, package, seen, declared
        for event, element in parser.read_events():
            if not isinstance(element, etree._Element):
                continue
            name = str(element.tag).rsplit("}", 1)[-1]
            if event == "start":
                depth += 1
                if depth == 2:
                    in_body = name == "Body"
                elif depth == 3 and in_body:
                    operation = name
                elif depth == 4 and in_body and name == "package":
                    package, seen = element, True
            else:
                if depth == 4 and in_body and name == "size" and element.text:
                    declared = int(element.text)
                depth -= 1
                if element is package:
                    _drain(package, decoder)
                    package = None
        if package is not None:
            _drain(package, decoder)

    try:
        for chunk in chunks:
            parser.feed(chunk)
            consume()
        parser.close()
        consume()
        decoder.close()
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise TransientRelayError(
            "R.Peer.Answer", f"GetPackage: unreadable answer ({exc})"
        ) from exc
    if operation != "GetPackageResponse" or not seen:
        raise TransientRelayError(
            "R.Peer.Answer", f"GetPackage: the answer carries no package ({operation or 'empty'})"
        )
    if decoder.invalid_characters or decoder.dangling_characters:
        raise TransientRelayError("R.Peer.Answer", "GetPackage: the package is not valid base64")
    return declared, decoder.decoded_bytes


def _drain(element: Any, decoder: Base64StreamDecoder) -> None:
    if element.text:
        decoder.feed(element.text)
        element.text = None


def _refused(upstream: str, operation: str, fault: zeep.exceptions.Fault) -> NoReturn:
    """Raise the relay error for a SOAP fault: ``Client``/``Sender`` is permanent, the rest
    (``Server``/``Receiver``, or a fault without a standard code) transient."""
    side = str(fault.code or "").rsplit(":", 1)[-1]
    if not side:  # XML that is neither a reply nor a fault (an HTML error page, a proxy's)
        raise TransientRelayError(
            "R.Peer.Answer", f"{operation}: neither a reply nor a SOAP fault: {fault.message}"
        )
    code, findings = _fault_detail(fault)
    message = f"{operation} refused by {upstream} ({side}): {fault.message}"
    if side in ("Client", "Sender"):
        raise PermanentRelayError(code or "M.Peer.Fault", message, operation, findings)
    raise TransientRelayError(code or "R.Peer.Fault", message, operation, findings)


def _fault_detail(fault: zeep.exceptions.Fault) -> tuple[str, list[Finding]]:
    """The parent's ``tns:GatewayFault``: its error code and findings (empty if absent)."""
    detail = fault.detail
    entry = detail.find(f"{{{TNS}}}GatewayFault") if isinstance(detail, etree._Element) else None
    if entry is None:
        return "", []
    findings = [
        Finding(
            code=finding.findtext(f"{{{TNS}}}code") or "",
            path=finding.findtext(f"{{{TNS}}}path") or "",
            message=finding.findtext(f"{{{TNS}}}message") or "",
            severity=(
                Severity.WARNING
                if finding.findtext(f"{{{TNS}}}severity") == "warning"
                else Severity.ERROR
            ),
        )
        for finding in entry.findall(f"{{{TNS}}}finding")
    ]
    return entry.findtext(f"{{{TNS}}}code") or "", findings
