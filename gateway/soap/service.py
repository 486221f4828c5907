"""The modern SOAP service: document/literal wrapped operations over the exchange.

Each operation converts its typed input to the exchange's call, and the exchange's answer to the
WSDL's types; nothing here stores or decides anything. The WSGI layer (``gateway.soap.app``)
has authenticated the caller before spyne runs and left a :class:`CallContext` in the WSGI
environment; every :class:`~gateway.errors.GatewayError` becomes a fault carrying its code.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from spyne import ByteArray, DateTime, Fault, Int, Long, ServiceBase, Unicode, rpc

from gateway import __version__, exchange
from gateway.catalogue import Language, render
from gateway.edxml.dates import ICT, parse_date, parse_timestamp
from gateway.errors import AuthenticationFailed, GatewayError, InternalError
from gateway.soap import types as t

log = logging.getLogger(__name__)

ENVIRON_KEY = "edoc_gateway.soap"
SOAP_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
SERVICE_NAME = "EdocGateway"

_F = TypeVar("_F", bound=Callable[..., Any])


_public: set[str] = set()
_AUTH_NOTE = "Needs WS-Security UsernameToken credentials."
_PUBLIC_NOTE = "Needs no credentials (a UsernameToken, if sent, is checked)."


def operation(*params: Any, public: bool = False, **options: Any) -> Callable[[_F], _F]:
    """spyne's ``@rpc``, typed for mypy (spyne ships none), declaring the GatewayFault.

    The docstring becomes the operation's WSDL documentation, on one line, with a sentence
    saying whether credentials are needed; ``public`` operations answer without them.
    """

    def decorate(function: _F) -> _F:
        text = " ".join(inspect.cleandoc(function.__doc__ or "").split())
        function.__doc__ = f"{text} {_PUBLIC_NOTE if public else _AUTH_NOTE}"
        if public:
            _public.add(function.__name__)
        descriptor = rpc(*params, _faults=[t.GatewayFault], **options)(function)
        return cast(_F, descriptor)

    return decorate


@dataclass
class CallContext:
    """What the WSGI layer knows about a request, handed to the operations through the environ."""

    exchange: exchange.Exchange
    agency: str
    """The authenticated agency code; empty for an anonymous call to a public operation."""
    request_id: str
    body: bytes = b""
    """The request body, parsed by the protocol instead of spyne's own copy of the input."""
    error: GatewayError | None = None
    """The error answered as a fault, for the access log line."""

    @property
    def language(self) -> Language:
        """The language the caller's clerks read (``message_language``, per agency)."""
        return self.exchange.settings.message_languages.for_agency(self.agency)


def call_context(ctx: Any) -> CallContext:
    context: CallContext = ctx.transport.req_env[ENVIRON_KEY]
    return context


def _caller(ctx: Any) -> tuple[exchange.Exchange, str]:
    """The exchange and the authenticated agency; the WSGI layer guarantees one for these calls."""
    context = call_context(ctx)
    if not context.agency:
        raise AuthenticationFailed("this operation needs WS-Security UsernameToken credentials")
    return context.exchange, context.agency


def _bytes(value: Any) -> bytes:
    """spyne hands base64Binary values over as a sequence of byte chunks."""
    return b"".join(value) if value is not None else b""


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """xs:dateTime without a zone is taken as UTC (the WSDL says so)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def receipt_type(receipt: exchange.Receipt, language: Language = Language.BOTH) -> t.Receipt:
    return t.Receipt(
        packageId=receipt.package_id,
        kind=receipt.kind,
        receivedAt=receipt.received_at,
        duplicate=receipt.duplicate,
        warnings=[
            t.Finding(**{**f.as_dict(), "message": render(f.code, f.message, language)})
            for f in receipt.warnings
        ],
        signatureStatus=receipt.signature_status,
        signatureReason=receipt.signature_reason,
        signedReceipt=[receipt.signed_receipt],
    )


def _summary_date(value: str | None) -> dt.date | None:
    """Summary dates are edXML's ``yyyy/MM/dd`` (``gateway.edxml.summary`` writes them)."""
    return parse_date(value)[0] if value else None


def _summary_time(value: str | None) -> dt.datetime | None:
    """Summary timestamps are edXML's ``yyyy/MM/dd HH:mm:ss``, always ICT."""
    return parse_timestamp(value)[0].replace(tzinfo=ICT) if value else None


def package_reply(content: exchange.PackageContent, data: bytes) -> tuple[Any, ...]:
    """GetPackage's out values, in WSDL order (the streaming path sends ``data`` separately)."""
    summary = _package_summary(content.summary, _summary_json(content.summary))
    return (
        content.package_id,
        content.kind,
        content.sender,
        content.received_at,
        content.size,
        data,
        summary,
    )


def _package_summary(summary: dict[str, Any], summary_json: str) -> t.PackageSummary:
    sender = summary.get("from") or {}
    response_for = summary.get("response_for")
    if not isinstance(response_for, dict):  # a document lists what it answers; a status one
        response_for = {}
    return t.PackageSummary(
        kind=summary.get("kind", ""),
        fromOrganId=sender.get("organ_id", ""),
        fromName=sender.get("name", ""),
        documentId=summary.get("document_id") or response_for.get("document_id"),
        code=summary.get("code"),
        subject=summary.get("subject"),
        documentType=summary.get("document_type"),
        to=[org.get("organ_id", "") for org in summary.get("to", ())] or None,
        promulgationDate=_summary_date(summary.get("promulgation_date")),
        dueDate=_summary_date(summary.get("due_date")),
        priority=summary.get("priority"),
        attachments=[
            t.AttachmentSummary(
                name=a.get("name", ""),
                contentType=a.get("declared_type", ""),
                fileKind=a.get("kind", ""),
                size=a.get("size", 0),
                sha256=a.get("sha256", ""),
            )
            for a in summary.get("attachments", ())
        ]
        or None,
        statusCode=summary.get("status_code"),
        statusMeaning=summary.get("status_meaning"),
        description=summary.get("description"),
        timestamp=_summary_time(summary.get("timestamp")),
        responseForOrganId=response_for.get("organ_id"),
        responseForDocumentId=response_for.get("document_id"),
        responseForCode=response_for.get("code"),
        summaryJson=summary_json,
    )


def _fields(model: Any, names: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for the exchange's dataclass from the optional fields that were sent."""
    values = {attr: getattr(model, name) for name, attr in names.items()}
    return {attr: value for attr, value in values.items() if value is not None}


_DOCUMENT_OPTIONAL = {
    "place": "place",
    "type": "type",
    "typeName": "type_name",
    "content": "content",
    "signerCompetence": "signer_competence",
    "signerPosition": "signer_position",
    "signerFullName": "signer_full_name",
    "priority": "priority",
    "dueDate": "due_date",
    "documentId": "document_id",
    "steeringType": "steering_type",
}
_STATUS_OPTIONAL = {
    "description": "description",
    "responseForCode": "response_for_code",
    "responseForPromulgationDate": "response_for_promulgation_date",
    "staffDepartment": "staff_department",
    "staffName": "staff_name",
    "staffMobile": "staff_mobile",
    "staffEmail": "staff_email",
}


def document_fields(model: Any) -> exchange.DocumentFields:
    return exchange.DocumentFields(
        to=tuple(model.to or ()),
        subject=model.subject,
        code_number=model.codeNumber,
        code_notation=model.codeNotation,
        promulgation_date=model.promulgationDate,
        attachments=tuple(
            exchange.AttachmentInput(
                name=a.name,
                content_type=a.contentType,
                description=a.description or "",
                data=_bytes(a.data),
            )
            for a in model.attachments or ()
        ),
        **_fields(model, _DOCUMENT_OPTIONAL),
    )


def status_fields(model: Any) -> exchange.StatusFields:
    return exchange.StatusFields(
        response_for_organ_id=model.responseForOrganId,
        response_for_document_id=model.responseForDocumentId,
        status_code=model.statusCode,
        timestamp=_utc(model.timestamp),
        **_fields(model, _STATUS_OPTIONAL),
    )


class EdocGatewayService(ServiceBase):  # type: ignore[misc]
    """The operations. Names are the WSDL's; parameters are camelCase elements."""

    __service_name__ = SERVICE_NAME

    @classmethod
    def call_wrapper(cls, ctx: Any, args: Any = None) -> Any:
        """Turn gateway errors into faults with their code; hide anything unexpected."""
        try:
            return super().call_wrapper(ctx, args)
        except GatewayError as error:
            raise t.GatewayFault(error) from error
        except Fault:
            raise
        except Exception:
            request_id = call_context(ctx).request_id
            log.exception("soap request_id=%s: unexpected failure", request_id)
            raise t.GatewayFault(InternalError(request_id)) from None

    @operation(
        t.required(ByteArray),
        _args=("package",),
        _returns=t.required(t.Receipt),
        _out_variable_name="receipt",
    )
    def SendDocument(ctx: Any, package: Any) -> t.Receipt:
        """Send an edXML document package (QCVN 102:2016) as base64Binary. The receipt comes
        after the package is durably stored; a resend of the same package returns the original
        receipt with duplicate=true."""
        gateway, agency = _caller(ctx)
        receipt = gateway.send_document(agency, _bytes(package))
        return receipt_type(receipt, call_context(ctx).language)

    @operation(
        t.required(t.DocumentFields),
        _args=("document",),
        _returns=t.required(t.Receipt),
        _out_variable_name="receipt",
    )
    def SendDocumentFields(ctx: Any, document: Any) -> t.Receipt:
        """Send a document described field by field; the gateway builds the edXML package."""
        gateway, agency = _caller(ctx)
        receipt = gateway.send_document_fields(agency, document_fields(document))
        return receipt_type(receipt, call_context(ctx).language)

    @operation(
        t.required(ByteArray),
        _args=("package",),
        _returns=t.required(t.Receipt),
        _out_variable_name="receipt",
    )
    def SendStatus(ctx: Any, package: Any) -> t.Receipt:
        """Send an edXML status package (base64Binary) about a received document."""
        gateway, agency = _caller(ctx)
        receipt = gateway.send_status(agency, _bytes(package))
        return receipt_type(receipt, call_context(ctx).language)

    @operation(
        t.required(t.StatusFields),
        _args=("status",),
        _returns=t.required(t.Receipt),
        _out_variable_name="receipt",
    )
    def SendStatusFields(ctx: Any, status: Any) -> t.Receipt:
        """Send a processing status described field by field."""
        gateway, agency = _caller(ctx)
        receipt = gateway.send_status_fields(agency, status_fields(status))
        return receipt_type(receipt, call_context(ctx).language)

    @operation(
        t.required(t.PACKAGE_KIND),
        t.optional(Int),
        t.optional(Unicode),
        _args=("kind", "limit", "cursor"),
        _returns=(t.listing(t.PendingItem, "item", "PendingItemList"), t.required(Unicode)),
        _out_variable_names=("items", "nextCursor"),
    )
    def GetPending(ctx: Any, kind: str, limit: int | None, cursor: str | None) -> Any:
        """List packages waiting in the caller's mailbox, oldest first. limit 0 or absent means
        the largest page; pass nextCursor back to read on (empty: the end was reached). Reading
        changes nothing: a package stays pending until ConfirmReceived."""
        gateway, agency = _caller(ctx)
        page = gateway.get_pending(agency, kind, limit or 0, cursor or "")
        items = [
            t.PendingItem(
                packageId=i.package_id,
                kind=i.kind,
                sender=i.sender,
                documentId=i.document_id,
                subject=i.subject,
                receivedAt=i.received_at,
                size=i.size,
            )
            for i in page.items
        ]
        return items, page.next_cursor

    @operation(
        t.required(Unicode),
        _args=("packageId",),
        _returns=(
            t.required(Unicode),
            t.required(t.PACKAGE_KIND),
            t.required(Unicode),
            t.required(DateTime),
            t.required(Long),
            t.required(ByteArray),
            t.required(t.PackageSummary),
        ),
        _out_variable_names=(
            "packageId",
            "kind",
            "sender",
            "receivedAt",
            "size",
            "package",
            "summary",
        ),
    )
    def GetPackage(ctx: Any, packageId: str) -> Any:
        """Fetch a package the caller sent or received: its edXML (base64Binary) and a parsed
        summary. Repeatable: reading does not confirm."""
        gateway, agency = _caller(ctx)
        content = gateway.get_package(agency, packageId)
        with content.open() as stream:
            return package_reply(content, stream.read())

    @operation(
        t.required(Unicode),
        t.required(t.CONFIRM_OUTCOME),
        t.optional(Unicode),
        _args=("packageId", "outcome", "reason"),
        _returns=(t.required(Unicode), t.required(t.CONFIRM_OUTCOME), t.required(Unicode)),
        _out_variable_names=("packageId", "outcome", "statusPackageId"),
    )
    def ConfirmReceived(ctx: Any, packageId: str, outcome: str, reason: str | None) -> Any:
        """Take a package out of the pending list. On ok, a document's sender automatically gets
        STATUS 01 ("Đã đến", Decree 30/2020 Art. 21), whose id is statusPackageId. Confirming
        twice is harmless."""
        gateway, agency = _caller(ctx)
        result = gateway.confirm_received(agency, packageId, outcome, reason or "")
        return result.package_id, result.outcome, result.status_package_id

    @operation(
        t.optional(Unicode),
        t.optional(Unicode),
        t.optional(DateTime),
        _args=("documentId", "packageId", "since"),
        _returns=t.listing(t.TraceEntry, "trace", "TraceEntryList"),
        _out_variable_name="traces",
    )
    def GetTraces(
        ctx: Any,
        documentId: str | None,
        packageId: str | None,
        since: dt.datetime | None,
    ) -> list[t.TraceEntry]:
        """The statuses reported about a document the caller sent or received, oldest first:
        give its documentId or the packageId of one of its packages; since (UTC when no zone is
        given) skips older entries. Entries of kind transport are the gateway's own reports on
        relaying the caller's packages (a dead letter, a refusal by the upstream with its code,
        a later delivery), never a status from the receiver."""
        gateway, agency = _caller(ctx)
        entries = gateway.get_traces(agency, documentId or "", packageId or "", _utc(since))
        return [
            t.TraceEntry(
                statusPackageId=e.status_package_id,
                fromAgency=e.from_agency,
                toAgency=e.to_agency,
                statusCode=e.status_code,
                description=e.description,
                statusTime=e.status_time,
                recordedAt=e.recorded_at,
                kind=e.kind,
                outcome=e.outcome or None,
                errorCode=e.error_code or None,
                recipients=",".join(e.recipients) or None,
                upstream=e.upstream or None,
            )
            for e in entries
        ]

    @operation(
        _returns=t.listing(t.Agency, "agency", "AgencyList"),
        _out_variable_name="agencies",
    )
    def GetAgencies(ctx: Any) -> list[t.Agency]:
        """The agencies the caller can exchange documents with."""
        gateway, agency = _caller(ctx)
        return [
            t.Agency(code=a.code, name=a.name, email=a.email, enabled=a.enabled)
            for a in gateway.get_agencies(agency)
        ]

    @operation(
        _returns=(t.required(Unicode), t.required(DateTime), t.optional(Unicode)),
        _out_variable_names=("version", "serverTime", "agency"),
        public=True,
    )
    def Ping(ctx: Any) -> Any:
        """Check the service is up; with credentials, also which agency they identify."""
        context = call_context(ctx)
        return __version__, dt.datetime.now(dt.UTC), context.agency or None

    @operation(_returns=t.required(t.ServiceInfo), _out_variable_name="info", public=True)
    def GetServiceInfo(ctx: Any) -> t.ServiceInfo:
        """Version, deployment role and limits (request size, replay window, PasswordText)."""
        info = call_context(ctx).exchange.service_info()
        return t.ServiceInfo(
            version=info.version,
            role=info.role,
            maxRequestBytes=info.max_request_bytes,
            streamThresholdBytes=info.stream_threshold_bytes,
            replayWindowSeconds=info.replay_window_seconds,
            passwordTextAllowed=info.password_text_allowed,
        )


PUBLIC_OPERATIONS = frozenset(_public)
"""Operations that answer without credentials (credentials, if sent, are still checked)."""

WRITING_OPERATIONS = frozenset(
    {"SendDocument", "SendDocumentFields", "SendStatus", "SendStatusFields", "ConfirmReceived"}
)
"""Operations that end in a durable write: their nonce is recorded by that write."""

PACKAGE_OPERATIONS = frozenset({"SendDocument", "SendStatus"})
"""Operations whose one argument is a package: answered without spyne's request machinery
(``gateway.soap.streaming``), which costs more than the rest of a small send's answer."""


def _summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)
