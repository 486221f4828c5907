"""The national-axis-compatible REST face: the VXP operations (reference §4.3) over the
gateway's own exchange, so a system built on the national axis SDK can point its
``service.endpoint`` at ``http://HOST:8080/vxp`` unchanged.

- ``systemid`` is an agency code registered here; the HMAC key is that agency's current secret
  (the one ``edoc-gateway agencies show-secret`` prints). A disabled agency is unknown.
- The caller acts for itself and for the agencies registered under it (``parent``), as a
  national-axis centre acts for its units: it sends with ``from`` = any of them, and its
  received list, ``getEdoc``, ``updateStatus`` and sent list cover all of their mailboxes.
- ``docId`` is the gateway's package id, for sender and receivers alike; a package addressed to
  two agencies the caller acts for is listed once (``to`` names both) and acknowledged once.
- ``updateStatus`` is the axis's transport acknowledgement, nothing more: ``done`` finishes the
  delivery (outcome ``relayed``: no automatic STATUS 01, because an SDK-built system sends its
  own business statuses as ``messagetype=status``, as it does on the national axis, and the
  sender must not get two 01s), ``fail`` records it failed with the description,
  ``processing`` is recorded and the package stays listed. Repeating the same final status is
  accepted; changing it is refused.
- ``registerAgency`` registers a child under the caller (or under ``pcode``, an agency the caller
  acts for) and answers no secret: the child is reached through its parent. An operator may still
  give the child its own secret (``agencies show-secret``) to connect directly.
- ``deleteAgency`` disables such a child (its mail is kept); registering it again enables it.

Refusals are FAIL envelopes with the simulator's codes (:mod:`gateway.vxp.wire`) and the
gateway's own error code in ``ErrorDesc``; nothing is stored for a refused request.
"""

from __future__ import annotations

import json
from typing import BinaryIO

from gateway.catalogue import Language, render
from gateway.config import Settings
from gateway.edxml.agency import AgencyCodeForm, parse_agency_code
from gateway.errors import (
    BadRequest,
    GatewayError,
    InvalidAgencyCode,
    InvalidPackage,
    MasterKeyError,
    NotFound,
    PermissionDenied,
    StorageError,
    VxpRefusal,
)
from gateway.exchange import Exchange
from gateway.restface.server import Freshness, Upload, VxpApp
from gateway.store.records import SentRow
from gateway.vxp import wire
from gateway.vxp.peek import peek_header
from gateway.vxp.wire import AgencyRecord, MessageType, ReceivedItem, SentItem

PREFIX = "/vxp"
_KIND: dict[str, str] = {"edoc": "document", "status": "status"}
_RECIPIENT_CODE = "R.MessageHeader.To.OrganId"


def make_vxp_app(exchange: Exchange, settings: Settings) -> VxpApp:
    """The WSGI app to mount at :data:`PREFIX` (uploads spool into the blob store's scratch
    directory, so an accepted package is linked into the store, not copied); bodies over
    ``max_request_bytes`` are refused before they are read; ``vxp_freshness_seconds`` and
    ``vxp_reject_replays`` bound the life of a signed request."""
    freshness = None
    if settings.vxp_freshness_seconds:
        window = settings.vxp_freshness_seconds

        def remember(system_id: str, signature: str) -> bool:
            return exchange.remember_signature(system_id, signature, window)

        freshness = Freshness(window, remember if settings.vxp_reject_replays else None)
    return VxpApp(
        ExchangeBackend(exchange),
        spool_dir=exchange.spool_dir,
        max_request_bytes=settings.max_request_bytes,
        freshness=freshness,
    )


def _refusal(exc: GatewayError, language: Language = Language.BOTH) -> VxpRefusal:
    """A gateway error as the axis would answer it, its sentence in ``language``."""
    if isinstance(exc, InvalidPackage):
        code = (
            wire.UNKNOWN_RECEIVER
            if any(f.code == _RECIPIENT_CODE for f in exc.findings) or exc.code == _RECIPIENT_CODE
            else wire.INVALID_FILE
        )
    elif isinstance(exc, PermissionDenied):
        code = (
            wire.SENDER_NOT_REGISTERED
            if exc.code == "M.MessageHeader.From.OrganId"
            else wire.NOT_OWNER
        )
    elif isinstance(exc, NotFound):
        code = wire.NOT_FOUND
    elif isinstance(exc, BadRequest | InvalidAgencyCode):
        code = wire.BAD_PARAMETER
    elif isinstance(exc, StorageError | MasterKeyError):
        code = wire.SYSTEM_ERROR
    else:  # unreadable or oversized input
        code = wire.INVALID_FILE
    where = f" at {exc.path}" if exc.path else ""
    return VxpRefusal(code, f"{exc.code}{where}: {render(exc.code, exc.message, language)}")


class ExchangeBackend:
    """A :class:`gateway.restface.server.VxpBackend` over the gateway's exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def _refused(self, exc: GatewayError, caller: str) -> VxpRefusal:
        """``exc`` as the axis answers it, in the language of the caller's clerks."""
        return _refusal(exc, self.exchange.settings.message_languages.for_agency(caller))

    # -- identity -------------------------------------------------------------------------
    def secret(self, system_id: str) -> str | None:
        return self.exchange.agency_secret(system_id.strip())

    # -- packages -------------------------------------------------------------------------
    def send_edoc(self, caller: str, upload: Upload) -> str:
        if not self.exchange.acts_for(caller, upload.from_code):
            raise VxpRefusal(
                wire.SENDER_NOT_REGISTERED,
                f"Don vi gui {upload.from_code} khong dung voi ma da dang ky: {caller} "
                f"(from must be {caller} or an agency registered under it)",
            )
        codes = peek_header(upload.path)
        sender, to, response_for = codes.sender, codes.to, codes.response_for
        if sender != upload.from_code:
            raise VxpRefusal(
                wire.SENDER_NOT_REGISTERED,
                f"Don vi gui {upload.from_code} khac From/OrganId {sender or '(none)'} "
                "(the from header must name the package's sender)",
            )
        named = to if upload.message_type == "edoc" else response_for
        if upload.to_codes and set(upload.to_codes) != set(named):
            raise VxpRefusal(
                wire.BAD_PARAMETER,
                f"to {list(upload.to_codes)} khac don vi nhan trong goi tin {list(named)} "
                "(the to header must name the package's recipients)",
            )
        try:
            if upload.message_type == "edoc":
                receipt = self.exchange.send_document(caller, upload.path)
            else:
                receipt = self.exchange.send_status(caller, upload.path)
        except GatewayError as exc:
            if exc.code == "M.Package.Kind":
                other = "status" if upload.message_type == "edoc" else "edoc"
                message = (
                    f"messagetype {upload.message_type} does not match the package: send it "
                    f"with messagetype {other}"
                )
                language = self.exchange.settings.message_languages.for_agency(caller)
                raise VxpRefusal(
                    wire.INVALID_FILE,
                    f"{exc.code}: {render(exc.code, message, language)}",
                ) from None
            raise self._refused(exc, caller) from None
        return receipt.package_id

    def received_list(self, caller: str, message_type: MessageType) -> list[ReceivedItem]:
        try:
            pending = self.exchange.delegated_pending(caller, _KIND[message_type])
        except GatewayError as exc:
            raise self._refused(exc, caller) from None
        grouped: dict[str, list[tuple[str, str, str]]] = {}
        packages = {}
        for delivery, package in pending:
            packages[package.package_id] = package
            grouped.setdefault(package.package_id, []).append(
                (delivery.recipient, delivery.progress, delivery.progress_note)
            )
        items = []
        for package_id, boxes in grouped.items():
            package = packages[package_id]
            processing = [note for _, progress, note in boxes if progress == "processing"]
            items.append(
                ReceivedItem(
                    doc_id=package_id,
                    message_type=message_type,
                    from_code=package.sender,
                    to_codes=tuple(recipient for recipient, _, _ in boxes),
                    status="processing" if processing else "initial",
                    status_desc=processing[0] if processing else "",
                    created_time=wire.axis_time(package.received_at),
                    updated_time=wire.axis_time(package.received_at),
                )
            )
        return items

    def open_edoc(self, caller: str, doc_id: str) -> tuple[BinaryIO, int]:
        try:
            content = self.exchange.get_package(caller, doc_id)
        except GatewayError as exc:
            raise self._refused(exc, caller) from None
        return content.open(), content.size

    def update_status(self, caller: str, doc_id: str, status: str, description: str) -> None:
        deliveries = self.exchange.delegated_deliveries(caller, doc_id)
        if not deliveries:
            raise VxpRefusal(wire.NOT_FOUND, f"Khong tim thay goi tin {doc_id} (not found)")
        wanted = {"done": "confirmed", "fail": "failed"}.get(status, "pending")
        for delivery in deliveries:
            if delivery.state != "pending" and delivery.state != wanted:
                final = "done" if delivery.state == "confirmed" else "fail"
                raise VxpRefusal(
                    wire.BAD_PARAMETER,
                    f"{doc_id} is already {final} for {delivery.recipient}: cannot set {status}",
                )
        try:
            for delivery in deliveries:
                if status == "processing":
                    self.exchange.mark_processing(
                        caller, doc_id, description, mailbox=delivery.recipient
                    )
                else:
                    self.exchange.confirm_received(
                        caller,
                        doc_id,
                        "relayed" if status == "done" else "failed",
                        description or ("" if status == "done" else "fail"),
                        mailbox=delivery.recipient,
                    )
        except GatewayError as exc:
            raise self._refused(exc, caller) from None

    def sent_list(self, caller: str, message_type: MessageType, doc_id: str) -> list[SentItem]:
        try:
            rows = self.exchange.sent_report(caller, _KIND[message_type], doc_id)
        except GatewayError as exc:
            raise self._refused(exc, caller) from None
        return [_sent_item(row, message_type) for row in rows]

    # -- the registry ---------------------------------------------------------------------
    def agencies(self) -> list[AgencyRecord]:
        """Local agencies (enabled), then the upstreams' agencies from the directory."""
        records = [
            AgencyRecord(
                code=a.code,
                name=a.name,
                pcode=a.parent,
                mail=a.email,
                code_qd20=a.code if _is_qd20(a.code) else "",
            )
            for a in self.exchange.local_agencies()
        ]
        records.extend(
            AgencyRecord(
                code=e.code,
                name=e.name,
                pcode=e.parent,
                mail=e.email,
                code_qd20=e.code_qd20 or (e.code if _is_qd20(e.code) else ""),
            )
            for e in self.exchange.upstream_agencies()
        )
        return records

    def register_agency(self, caller: str, agency: AgencyRecord) -> None:
        try:
            self.exchange.register_child(
                caller, agency.code, agency.name, agency.mail, parent=agency.pcode
            )
        except GatewayError as exc:
            raise self._refused(exc, caller) from None

    def delete_agency(self, caller: str, code: str) -> None:
        try:
            self.exchange.disable_child(caller, code)
        except GatewayError as exc:
            raise self._refused(exc, caller) from None


def _is_qd20(code: str) -> bool:
    try:
        return parse_agency_code(code).form is AgencyCodeForm.QD20
    except InvalidAgencyCode:
        return False


def _relay_failure(row: SentRow) -> str:
    """Why a send to an upstream failed: the gateway's transport report, with the upstream's
    code (a dead letter is no status from the receiver, so receiveStatus stays empty)."""
    if row.state == "cancelled":
        return f"Da huy (cancelled by an operator at {row.route}): {row.reason}"
    code = f"{row.error_code}: " if row.error_code else ""
    return (
        f"Khong chuyen duoc qua {row.route} (the gateway could not deliver it through "
        f"{row.route}): {code}{row.reason or row.state}"
    )


def _sent_item(row: SentRow, message_type: str) -> SentItem:
    summary = json.loads(row.package.summary_json)
    if row.route == "local":
        send = ("done", "Da chuyen vao hop thu (delivered to the recipient's mailbox)")
        receive = {
            "pending": "processing" if row.progress == "processing" else "initial",
            "confirmed": "done",
            "failed": "fail",
        }.get(row.state, row.state)
        receive_desc = row.reason
        received = wire.axis_time(row.updated_at) if row.state != "pending" else ""
        receiver_doc_id = row.package.package_id
    else:
        send = {
            "queued": ("processing", f"Dang chuyen len {row.route} (queued for {row.route})"),
            "sent": ("done", f"Da chuyen len {row.route} (sent to {row.route})"),
        }.get(row.state, ("fail", _relay_failure(row)))
        receive, receive_desc, received = "", "", ""
        receiver_doc_id = row.remote_id
    return SentItem(
        sender_doc_id=row.package.package_id,
        receiver_doc_id=receiver_doc_id,
        from_code=row.package.sender,
        to_code=row.recipient,
        message_type=message_type,
        sent_time=wire.axis_time(row.package.received_at),
        received_time=received,
        send_status=send[0],
        send_status_desc=send[1],
        receive_status=receive,
        receive_status_desc=receive_desc,
        title=str(summary.get("subject", "")),
        notation=str(summary.get("code", "")),
    )
