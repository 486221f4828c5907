"""The eight operations of the eDoc dialect, on the gateway's exchange (reference §5.3–5.5).

Each operation authenticates OrganId + Token, translates, and calls one
:class:`gateway.exchange.Exchange` operation. Failures the dialect reports in a Report
(permission, validation, unknown document) come back as ``IsSuccess=false`` with a stable code.

A package sent in the dialect is translated from the request's tree straight to the canonical
model and handed to the exchange with the bytes of the request: parsed once, written once (by
the exchange, in its normalised form).

Document ids: the dialect's ids are numbers (Bkav's ``document_id`` bigint); the gateway gives
each package a number on first use (``legacy_ids``) and keeps it.

GetTraces without destruction: statuses addressed to the caller wait in its mailbox as
"status" deliveries. Without TimeStamp the answer is every status not yet acknowledged, so a
client that crashed mid-read reads them again. With TimeStamp T (the cursor), the statuses
received before T are acknowledged (the client has them: it asks from T on) and every status
received at or after T is returned, acknowledged or not, so asking twice with the same T gives the
same answer.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Callable

from lxml import etree

from gateway.edxml.agency import AgencyCodeForm, is_valid_agency_code
from gateway.edxml.dates import ICT, parse_timestamp
from gateway.edxml.model import DocumentPackage, StatusPackage
from gateway.errors import DateFormatError, GatewayError, NotFound
from gateway.exchange import Exchange, TraceEntry
from gateway.store.blobs import StagedBlobs
from legacy_adapters.edoc_soap import translate
from legacy_adapters.edoc_soap.envelope import Answer, ErrorItem, leaf, q, report, response
from legacy_adapters.edoc_soap.mime import Part
from legacy_adapters.edoc_soap.translate import child, child_text, local
from legacy_adapters.profiles import Profile, ProfileChooser

log = logging.getLogger(__name__)
_Element = etree._Element
PERMISSION = "M.Permission"
NOT_ALLOWED = "M.GetDocumentCheckAllow"
MAX_TRACES = 500


class Refusal(Exception):
    """An operation's failure as the dialect reports it: a Report with one error."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.item = ErrorItem(code, description)


class Request:
    """One parsed call: the SOAP header and body, the attachment parts by Content-ID, and the
    SOAP envelope's bytes as received (the root part of a multipart request)."""

    def __init__(
        self,
        header: _Element | None,
        body: _Element,
        parts: dict[str, Part],
        raw: bytes = b"",
        stage: StagedBlobs | None = None,
        admit: Callable[[str], None] = lambda agency: None,
    ) -> None:
        self.header = header
        self.body = body
        self.parts = parts
        self.raw = raw
        self.stage = stage
        """Where the request's parts wait; published only if what they belong to is accepted."""
        self.admit = admit
        """Called with the authenticated agency before the operation works (the per-agency
        rate of the front door; a refusal is raised from it)."""

    def header_block(self, name: str) -> _Element | None:
        return child(self.header, name)

    def wrapper(self, *names: str) -> _Element | None:
        for name in names:
            found = child(self.body, name)
            if found is not None:
                return found
        return None


class LegacyService:
    """The dialect's operations for one exchange and one set of client profiles."""

    def __init__(self, exchange: Exchange, profiles: ProfileChooser) -> None:
        self.exchange = exchange
        self.profiles = profiles
        self.operations: dict[str, Callable[[Request], Answer]] = {
            "SendDocument": self.send_document,
            "GetPendingDocumentIds": self.get_pending_document_ids,
            "GetDocument": self.get_document,
            "ConfirmReceived": self.confirm_received,
            "UpdateTraces": self.update_traces,
            "GetTraces": self.get_traces,
            "CheckPermission": self.check_permission,
            "GetOrganizations": self.get_organizations,
        }

    # -- authentication ---------------------------------------------------------------------------
    def authenticate(self, request: Request, holder: _Element | None) -> tuple[str, Profile]:
        """The agency OrganId + Token prove, and its profile; the Token is the agency's current
        secret (derived, never stored), compared in constant time. The proven agency is then
        charged (``request.admit``: the front door's per-agency rate, which may refuse with
        ``Server.Busy``), never a code merely claimed."""
        organ_id = child_text(holder, "OrganId")
        token = child_text(holder, "Token")
        if not organ_id or not token:
            raise Refusal(PERMISSION, "OrganId and Token are required")
        profile = self.profiles.for_agency(organ_id)
        code = profile.to_gateway(organ_id)
        expected = self.exchange.agency_secret(code)
        ok = hmac.compare_digest(expected.encode(), token.encode()) if expected else False
        if not ok:
            hmac.compare_digest(token.encode(), token.encode())  # same work either way
            raise Refusal(
                PERMISSION, "permission denied: unknown or disabled OrganId, or wrong Token"
            )
        request.admit(code)
        return code, profile

    @staticmethod
    def credentials_holder(request: Request, *spots: _Element | None) -> _Element | None:
        """Where OrganId + Token are: the documented spot first, then any element holding both
        (clients differ on where they put them)."""
        for spot in spots:
            if spot is not None and child(spot, "OrganId") is not None:
                return spot
        for root in (request.body, request.header):
            if root is None:
                continue
            for el in root.iter():
                if child(el, "OrganId") is not None and child(el, "Token") is not None:
                    return el
        return None

    # -- operations -------------------------------------------------------------------------------
    def send_document(self, request: Request) -> Answer:
        signature = request.header_block("Signature")
        key_info = child(signature, "KeyInfo")
        holder = self.credentials_holder(request, key_info, signature)
        agency, profile = self.authenticate(request, holder)
        message_header = request.header_block("MessageHeader")
        if message_header is None:
            raise Refusal("N.MessageHeader", "the SOAP Header has no edXML:MessageHeader")
        if request.header_block("ErrorList") is None:
            raise Refusal(
                "N.MessageHeader.ErrorList",
                "the SOAP Header must carry an edXML:ErrorList (empty is fine)",
            )
        references = translate.manifest_references(child(request.body, "Manifest"))
        if not references and not request.parts and profile.document_needs_file:
            # A toolkit that ignores mime:multipartRelated (PHP's SoapClient) sends the header
            # blocks without the file: accepting it would deliver a document with no content.
            raise Refusal(
                "N.Manifest.File",
                "the document carries no file (tệp đính kèm): its Manifest names none and the "
                "request has no MIME part; send the file as a part named by a Manifest Reference",
            )
        pkg = translate.document_from_legacy(
            message_header,
            request.header_block("TraceHeaderList"),
            references,
            request.parts,
            request.stage or self.exchange.blob_io,
            profile,
            self.exchange.read_options,
        )
        receipt = self.exchange.send_translated(agency, pkg, request.raw, request.stage)
        legacy_id = self.exchange.legacy_id(receipt.package_id)
        return Answer([response("SendDocument", report(), leaf("DocumentId", str(legacy_id)))])

    def get_pending_document_ids(self, request: Request) -> Answer:
        wrapper = request.wrapper("GetPendingDocumentIdsRequest", "GetPendingDocumentIds")
        agency, _profile = self.authenticate(request, self.credentials_holder(request, wrapper))
        ids = etree.Element(q("DocumentIds"))
        cursor = ""
        while True:
            page = self.exchange.get_pending(agency, "document", 500, cursor)
            for item in page.items:
                etree.SubElement(ids, q("DocumentId")).text = str(
                    self.exchange.legacy_id(item.package_id)
                )
            cursor = page.next_cursor
            if not cursor:
                break
        return Answer([response("GetPendingDocumentIds", ids)])

    def _package_id(self, request: Request, agency: str) -> str:
        """The documentId (any case, anywhere in the envelope) as the gateway's package id."""
        text = ""
        for root in (request.body, request.header):
            if root is None:
                continue
            found = next((el for el in root.iter() if local(el.tag).lower() == "documentid"), None)
            if found is not None:
                text = (found.text or "").strip()
                break
        if not text:
            raise Refusal("N.DocumentId", "documentId is required")
        try:
            number = int(text)
        except ValueError:
            raise Refusal("T.DocumentId", f"documentId {text!r} is not a number") from None
        package_id = self.exchange.legacy_package_id(number)
        if package_id is None:
            raise Refusal(NOT_ALLOWED, f"document {number} is not addressed to {agency}")
        return package_id

    def get_document(self, request: Request) -> Answer:
        wrapper = request.wrapper("GetDocumentRequest", "GetDocument")
        agency, profile = self.authenticate(request, self.credentials_holder(request, wrapper))
        package_id = self._package_id(request, agency)
        try:
            pkg = self.exchange.read_package(agency, package_id)
        except NotFound:
            raise Refusal(NOT_ALLOWED, f"this document is not addressed to {agency}") from None
        if not isinstance(pkg, DocumentPackage):
            raise Refusal(NOT_ALLOWED, "this id names a status, not a document")
        legacy = translate.document_to_legacy(pkg, profile)
        return Answer([legacy.manifest], header=list(legacy.header_blocks), files=legacy.files)

    def confirm_received(self, request: Request) -> Answer:
        wrapper = request.wrapper("ConfirmReceived", "ConfirmReceivedRequest")
        agency, _profile = self.authenticate(request, self.credentials_holder(request, wrapper))
        package_id = self._package_id(request, agency)
        try:
            self.exchange.confirm_received(agency, package_id, "ok", "")
        except NotFound:
            raise Refusal(NOT_ALLOWED, f"this document is not addressed to {agency}") from None
        return Answer([response("ConfirmReceived", report())])

    def update_traces(self, request: Request) -> Answer:
        signature = request.header_block("Signature")
        key_info = child(signature, "KeyInfo")
        wrapper = request.wrapper("UpdateTraces")
        agency, profile = self.authenticate(
            request, self.credentials_holder(request, key_info, signature, wrapper)
        )
        status = request.wrapper("Status")
        if status is None:
            status = child(wrapper, "Status")
        if status is None:
            raise Refusal("N.Status", "the SOAP Body has no Status")
        pkg = translate.status_from_legacy(status, self.exchange.blob_io, profile)
        self.exchange.send_translated(agency, pkg, request.raw)
        return Answer([response("UpdateTraces", report())])

    def get_traces(self, request: Request) -> Answer:
        wrapper = request.wrapper("GetTraces", "GetTracesRequest")
        agency, profile = self.authenticate(request, self.credentials_holder(request, wrapper))
        raw = child_text(wrapper, "TimeStamp") or child_text(wrapper, "Timestamp")
        package_ids: list[str | TraceEntry] = []
        if raw:
            try:
                local_time, _exact = parse_timestamp(raw)
            except DateFormatError:
                raise Refusal(
                    "T.GetTraces.TimeStamp", f"TimeStamp {raw!r} is not yyyy/MM/dd HH:mm:ss"
                ) from None
            since = local_time.replace(tzinfo=ICT)
            self._acknowledge_before(agency, since)
            entries = self.exchange.get_traces_to(agency, since, MAX_TRACES)
            package_ids = [e.status_package_id if e.kind == "status" else e for e in entries]
        else:
            page = self.exchange.get_pending(agency, "status", MAX_TRACES, "")
            package_ids = [item.package_id for item in page.items]
        traces = etree.Element(q("Traces"))
        for entry in dict.fromkeys(package_ids):
            if not isinstance(entry, str):  # the gateway's own report on relaying a package
                traces.append(translate.transport_to_legacy(entry, profile))
                continue
            pkg = self.exchange.read_package(agency, entry)
            if isinstance(pkg, StatusPackage):
                traces.append(translate.status_to_legacy(pkg, profile))
        return Answer([response("GetTraces", traces)])

    def _acknowledge_before(self, agency: str, since: dt.datetime) -> None:
        cursor = ""
        while True:
            page = self.exchange.get_pending(agency, "status", 500, cursor)
            for item in page.items:
                if item.received_at < since:
                    self.exchange.confirm_received(agency, item.package_id, "ok", "")
            cursor = page.next_cursor
            if not cursor:
                return

    def check_permission(self, request: Request) -> Answer:
        holder = self.credentials_holder(
            request, request.header_block("CheckPermission"), request.wrapper("CheckPermission")
        )
        self.authenticate(request, holder)
        return Answer([response("CheckPermission", report())])

    def get_organizations(self, request: Request) -> Answer:
        wrapper = request.wrapper("GetOrganizations", "GetOrganizationsRequest")
        agency, profile = self.authenticate(request, self.credentials_holder(request, wrapper))
        organizations = etree.Element(q("Organizations"))
        for info in self.exchange.get_agencies(agency):
            org = etree.SubElement(organizations, q("Organization"))
            values = [
                ("OrganId", profile.to_client(info.code)),
                ("OrganizationInCharge", info.name),
                ("OrganName", info.name),
                ("OrganAdd", ""),
                ("Email", info.email),
                ("Telephone", ""),
                ("Fax", ""),
                ("Website", ""),
            ]
            if profile.organization_extra_fields:
                values += [
                    ("agency", "true"),  # local: has a mailbox on this gateway
                    ("send_vpcp", "false"),
                    ("is_integrator_center", "false"),
                    ("domain_new", _qd20_form(info.code, profile.to_client(info.code))),
                ]
            for name, value in values:
                etree.SubElement(org, q(name)).text = value
        return Answer([response("GetOrganizations", organizations)])


def _qd20_form(*codes: str) -> str:
    """The QĐ 20/2020 form among an agency's codes (Bkav's ``domain_new``), or empty."""
    for code in codes:
        if is_valid_agency_code(code, form=AgencyCodeForm.QD20):
            return code
    return ""


def refusal_of(exc: GatewayError) -> Refusal:
    """A gateway error as the dialect's Report error (its stable code, its sentence)."""
    where = f" at {exc.path}" if exc.path else ""
    return Refusal(exc.code, exc.message + where)
