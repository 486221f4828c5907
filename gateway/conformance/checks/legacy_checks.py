"""The legacy eDoc dialect's assertions: the shared behaviours, then what is the dialect's own.

Shared (``behaviour.register``): send, pending, fetch, confirm, automatic 01, statuses 02–06,
repeatable traces, duplicates, a wrong token, cross-agency access. Own: the WSDL in zeep,
SOAPAction forms, SOAP 1.2, SwA/MTOM/parameter-only multipart, the e-doc.vn answers with their
(empty) ErrorList, the dialect's timestamp formats, OrganId + Token refusals, hostile XML.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gateway.conformance.checks import behaviour
from gateway.conformance.checks.legacy_session import LegacySession
from gateway.conformance.driver import Fetched, ServiceFault
from gateway.conformance.legacy import (
    EDOC,
    MTOM,
    OPERATIONS,
    SOAP11,
    SOAP12,
    SWA_BINARY,
    LegacyDriver,
    Reply,
    same_status,
)
from gateway.conformance.registry import Failed, assertion, expect
from gateway.conformance.session import Doc

D = "legacy"
P = "EDGW-LEG-"
WSDL = "wsdl/edoc-legacy.wsdl"
NOT_ALLOWED = "M.GetDocumentCheckAllow"

behaviour.register(
    D,
    P,
    behaviour.Sections(
        send="ref §5.3 (SendDocument)",
        pull="ref §5.3, §5.5.2 (GetPendingDocumentIds)",
        get="ref §5.3, §5.5.3 (GetDocument)",
        confirm="ref §5.5.4 (ConfirmReceived)",
        status="ref §5.3 (UpdateTraces, GetTraces), §5.5.4–5",
        trace="ref §5.3, §5.9 (GetTraces must not be destructive here)",
        dup="ref §5.3 (M.Exist: a resend is the same document)",
        auth="ref §5.4 (OrganId + Token)",
        access="ref §5.5.3 (M.GetDocumentCheckAllow)",
    ),
)


def _fault(call: Any, what: str) -> ServiceFault:
    """``call()`` must be refused (SOAP fault or Report IsSuccess=false)."""
    try:
        value = call()
    except ServiceFault as fault:
        return fault
    raise Failed(f"{what} was accepted: {value!r:.200}")


def _refused(reply: Reply, what: str, code_prefix: str = "") -> ServiceFault:
    fault = reply.fault()
    if fault is None:
        raise Failed(f"{what} was accepted (HTTP {reply.exchange.status})")
    if code_prefix:
        expect(
            fault.code.startswith(code_prefix),
            f"{what} was refused with code {fault.code!r}, expected {code_prefix}…: {fault}",
        )
    return fault


def _not_delivered(s: LegacySession, doc: Doc) -> None:
    """Nothing stored: the refused document is in no pending list of the peer."""
    for document_id in s.peer_driver.pending_ids():
        try:
            fetched = s.peer_driver.get(document_id)
        except ServiceFault:
            continue
        expect(
            fetched.summary.get("subject") != doc.subject,
            f"the refused document was stored and delivered as id {document_id}",
        )


def _round_trip(s: LegacySession, driver: LegacyDriver) -> tuple[Doc, Reply, Fetched]:
    """Send with ``driver``'s file mode and version; the peer fetches and confirms."""
    doc = s.new_doc()
    reply = driver.send_reply(doc.package)
    receipt_id = reply.check().text(".//e:SendDocumentResponse/e:DocumentId")
    expect(receipt_id.isdigit(), f"DocumentId {receipt_id!r} is not a number")
    fetched = s.peer_driver.get(receipt_id)
    s.peer_driver.confirm(receipt_id)
    return doc, reply, fetched


def _same_file(doc: Doc, fetched: Fetched) -> None:
    shas = [a.get("sha256") for a in fetched.summary.get("attachments", [])]
    expect(
        shas == [doc.attachment_sha256], f"attachment SHA-256 {shas}, sent {doc.attachment_sha256}"
    )


# -- WSDL ---------------------------------------------------------------------------------------


def _zeep(s: LegacySession) -> Any:
    import zeep
    from zeep.transports import Transport

    def build() -> Any:
        return zeep.Client(  # type: ignore[no-untyped-call]
            s.legacy.endpoint + "?wsdl",
            settings=zeep.Settings(forbid_entities=True, strict=False),
            transport=Transport(  # type: ignore[no-untyped-call]
                timeout=s.config.timeout, operation_timeout=s.config.timeout
            ),
        )

    return s.scenario("zeep-client", build)


@assertion(
    f"{P}WSDL-001",
    "?wsdl loads in zeep with the eight operations, SOAP 1.1 and 1.2",
    f"{WSDL}; ref §5.3",
    dialect=D,
)
def wsdl_loads(s: LegacySession) -> None:
    client = _zeep(s)
    for binding in ("EdocLegacySoap11", "EdocLegacySoap12"):
        found = [
            b for name, b in client.wsdl.bindings.items() if etree.QName(name).localname == binding
        ]
        expect(found, f"the WSDL has no binding {binding}")
        operations = set(found[0]._operations)
        expect(set(OPERATIONS) <= operations, f"{binding} lacks {set(OPERATIONS) - operations}")


@assertion(
    f"{P}WSDL-002",
    "the WSDL describes the SwA parts with the WSDL MIME binding",
    f"{WSDL}; ref §5.3; WSDL 1.1 §5",
    dialect=D,
)
def wsdl_mime(s: LegacySession) -> None:
    root = etree.fromstring(s.wsdl)
    mime = "http://schemas.xmlsoap.org/wsdl/mime/"
    described = {
        op.get("name")
        for op in root.iter("{http://schemas.xmlsoap.org/wsdl/}operation")
        if op.find(f".//{{{mime}}}multipartRelated") is not None
    }
    expect(
        {"SendDocument", "GetDocument"} <= described, f"mime:multipartRelated only on {described}"
    )


@assertion(
    f"{P}WSDL-003",
    "a zeep client built from the WSDL calls GetOrganizations",
    f"{WSDL}; ref §5.3",
    dialect=D,
)
def wsdl_call(s: LegacySession) -> None:
    service = _zeep(s).create_service(
        "{urn:edoc-gateway:legacy:edoc}EdocLegacySoap11", s.legacy.endpoint
    )
    answer = service.GetOrganizations(OrganId=s.legacy.agency, Token=s.legacy.token)
    codes = [o.OrganId for o in answer.Organizations.Organization]
    expect(s.legacy.agency in codes, f"GetOrganizations through zeep lists {codes}")


# -- SOAP: actions, versions, answers -----------------------------------------------------------


def _organizations_ok(reply: Reply, s: LegacySession) -> None:
    reply.check()
    ids = [(e.text or "").strip() for e in reply.findall(".//e:Organization/e:OrganId")]
    expect(s.legacy.agency in ids, f"GetOrganizations lists {ids}")


@assertion(
    f"{P}SOAP-001",
    "an unquoted SOAPAction is dispatched (plain text/xml)",
    "ref §5.3 (wire example)",
    dialect=D,
)
def soap_unquoted(s: LegacySession) -> None:
    body = s.legacy.credentials("GetOrganizations")
    _organizations_ok(s.legacy.call("GetOrganizations", body, as_multipart=False), s)


@assertion(
    f"{P}SOAP-002", "a quoted SOAPAction is dispatched", "ref §5.3; SOAP 1.1 §6.1.1", dialect=D
)
def soap_quoted(s: LegacySession) -> None:
    body = s.legacy.credentials("GetOrganizations")
    reply = s.legacy.call("GetOrganizations", body, soap_action='"GetOrganizations"')
    _organizations_ok(reply, s)


@assertion(
    f"{P}SOAP-003",
    "a SOAP 1.2 request (action in Content-Type) is answered in SOAP 1.2",
    "ref §5.1",
    dialect=D,
)
def soap12(s: LegacySession) -> None:
    reply = s.legacy.call(
        "GetOrganizations", s.legacy.credentials("GetOrganizations"), version=SOAP12,
        as_multipart=False,
    )  # fmt: skip
    _organizations_ok(reply, s)
    expect(reply.version == SOAP12, f"answered in {reply.version or 'no envelope'}")
    ctype = reply.exchange.response_headers.get("Content-Type", "")
    expect(ctype.startswith("application/soap+xml"), f"Content-Type {ctype!r}")


@assertion(
    f"{P}SOAP-004",
    "answers are e-doc.vn-qualified <Action>Response wrappers",
    "ref §5.3, §5.9",
    dialect=D,
)
def soap_wrappers(s: LegacySession) -> None:
    calls = {
        "GetPendingDocumentIds": s.legacy.credentials("GetPendingDocumentIdsRequest"),
        "GetTraces": s.legacy.credentials(
            "GetTraces", "<TimeStamp>2000/01/01 00:00:00</TimeStamp>"
        ),
        "GetOrganizations": s.legacy.credentials("GetOrganizations"),
    }
    for action, body in calls.items():
        reply = s.legacy.call(action, body).check()
        expect(
            reply.find(f".//e:{action}Response") is not None,
            f"{action} answered without edXML:{action}Response",
        )


@assertion(
    f"{P}SOAP-005",
    "an unknown SOAPAction is a fault, not a success",
    "ref §5.3 (dispatch on SOAPAction)",
    dialect=D,
)
def soap_unknown(s: LegacySession) -> None:
    reply = s.legacy.call("DeleteEverything", s.legacy.credentials("DeleteEverything"))
    _refused(reply, "an unknown SOAPAction")


# -- MIME ---------------------------------------------------------------------------------------


@assertion(
    f"{P}MIME-001",
    "a parameter-only call as multipart/related with no attachment works",
    "ref §5.3 (wire example)",
    dialect=D,
)
def mime_no_attachment(s: LegacySession) -> None:
    reply = s.legacy.call(
        "GetPendingDocumentIds", s.legacy.credentials("GetPendingDocumentIdsRequest")
    )
    reply.check()
    expect(reply.find(".//e:DocumentIds") is not None, "no edXML:DocumentIds in the answer")


@assertion(
    f"{P}MIME-002",
    "SwA with binary parts: the file arrives byte for byte",
    "ref §5.3 (MIME parts)",
    dialect=D,
)
def mime_binary(s: LegacySession) -> None:
    doc, _reply, fetched = _round_trip(s, s.legacy.variant(files=SWA_BINARY))
    _same_file(doc, fetched)


@assertion(
    f"{P}MIME-003",
    "MTOM (xop:Include, SOAP 1.2): the file arrives byte for byte",
    "ref §5.1 (setDoingMTOM)",
    dialect=D,
)
def mime_mtom(s: LegacySession) -> None:
    doc, reply, fetched = _round_trip(s, s.legacy.variant(files=MTOM, version=SOAP12))
    expect(reply.version == SOAP12, f"the MTOM send was answered in {reply.version}")
    _same_file(doc, fetched)


@assertion(
    f"{P}MIME-004", "SendDocument over SOAP 1.2 SwA is answered in SOAP 1.2", "ref §5.1", dialect=D
)
def mime_soap12(s: LegacySession) -> None:
    doc, reply, fetched = _round_trip(s, s.legacy.variant(version=SOAP12))
    expect(reply.version == SOAP12, f"answered in {reply.version}")
    _same_file(doc, fetched)


@assertion(
    f"{P}MIME-005",
    "each GetDocument Manifest Reference names a MIME part of the answer",
    "ref §5.3 (GetDocument), §5.9",
    dialect=D,
)
def mime_references(s: LegacySession) -> None:
    flow = behaviour.flow(s)
    reply = s.peer_driver.get_reply(flow.receipt.package_id).check()
    refs = reply.findall(".//e:Manifest/e:Reference")
    expect(refs, "the GetDocument Manifest has no Reference")
    for ref in refs:
        href = ref.get("{http://www.w3.org/1999/xlink}href", "")
        expect(href.startswith("cid:"), f"Reference xlink:href {href!r} is not cid:")
        expect(href[4:] in reply.parts, f"no MIME part has Content-ID {href[4:]!r}")
        name = ref.findtext(f"{{{EDOC}}}AttachmentName", "")
        expect(name.endswith(".pdf"), f"AttachmentName {name!r}")


# -- SEND / GET specifics -------------------------------------------------------------------------


@assertion(
    f"{P}SEND-002",
    "success Reports carry IsSuccess=true and an empty edXML:ErrorList",
    "ref §5.3 (Report shape)",
    dialect=D,
)
def send_error_list(s: LegacySession) -> None:
    doc = s.new_doc()
    replies = {"SendDocument": s.legacy.send_reply(doc.package)}
    document_id = replies["SendDocument"].check().text(".//e:DocumentId")
    replies["ConfirmReceived"] = s.peer_driver.call(
        "ConfirmReceived",
        s.peer_driver.credentials("ConfirmReceived", f"<documentId>{document_id}</documentId>"),
    )
    replies["CheckPermission"] = s.legacy.call(
        "CheckPermission", "", s.legacy.credentials("CheckPermission")
    )
    for action, reply in replies.items():
        reply.check()
        report = reply.find(f".//e:{action}Response/e:Report")
        expect(report is not None, f"{action} answered without edXML:Report")
        assert report is not None
        error_list = report.find(f"{{{EDOC}}}ErrorList")
        expect(error_list is not None, f"{action}'s Report has no edXML:ErrorList")
        expect(
            error_list is not None and len(error_list) == 0, f"{action}'s ErrorList is not empty"
        )


@assertion(
    f"{P}SEND-003",
    "SendDocument without the ErrorList header block is refused; nothing stored",
    "ref §5.3 (N.MessageHeader.ErrorList)",
    dialect=D,
)
def send_without_error_list(s: LegacySession) -> None:
    doc = s.new_doc()
    reply = s.legacy.send_reply(doc.package, error_list=False)
    _refused(reply, "a SendDocument without edXML:ErrorList", "N.")
    _not_delivered(s, doc)


@assertion(
    f"{P}SEND-004",
    "SendDocument answers a numeric DocumentId",
    "ref §5.3 (DocumentId = the axis's numeric id)",
    dialect=D,
)
def send_numeric(s: LegacySession) -> None:
    document_id = behaviour.flow(s).receipt.package_id
    expect(document_id.isdigit(), f"DocumentId {document_id!r} is not a number")


_DMY = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
_YMD = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


@assertion(
    f"{P}GET-003",
    "GetDocument TraceHeader timestamps are dd/MM/yyyy HH:mm:ss",
    "ref §5.9",
    dialect=D,
)
def get_trace_timestamps(s: LegacySession) -> None:
    fetched = behaviour.flow(s).fetched
    if isinstance(fetched, Exception):
        raise Failed(f"fetching the document failed: {fetched}")
    stamps = fetched.summary.get("trace_timestamps", [])
    expect(stamps, "GetDocument's TraceHeaderList has no TraceHeader/Timestamp")
    bad = [t for t in stamps if not _DMY.match(t)]
    expect(not bad, f"timestamps not dd/MM/yyyy HH:mm:ss: {bad}")


@assertion(
    f"{P}GET-004",
    "GetDocument's SOAP Header carries edXML:MessageHeader and TraceHeaderList",
    "ref §5.3 (GetDocument: no wrapper)",
    dialect=D,
)
def get_header_blocks(s: LegacySession) -> None:
    flow = behaviour.flow(s)
    reply = s.peer_driver.get_reply(flow.receipt.package_id).check()
    header = reply.header
    expect(header is not None, "the answer has no SOAP Header")
    assert header is not None
    for name in ("MessageHeader", "TraceHeaderList"):
        expect(header.find(f"{{{EDOC}}}{name}") is not None, f"no edXML:{name} header block")
    found = header.findtext(f"{{{EDOC}}}MessageHeader/{{{EDOC}}}DocumentId", "")
    expect(found == flow.doc.document_id, f"DocumentId {found!r}, sent {flow.doc.document_id!r}")


# -- STATUS / TRACE specifics ---------------------------------------------------------------------


@assertion(
    f"{P}STATUS-007",
    'the automatic status reads "1" or "01" (per client profile)',
    "ref §5.5.4, §5.9",
    dialect=D,
)
def status_form(s: LegacySession) -> None:
    traces = behaviour.flow(s).traces
    first = [t.status_code for t in traces if same_status(t.status_code, "01")]
    expect(first and first[0] in ("1", "01"), f"status codes {[t.status_code for t in traces]}")


@assertion(
    f"{P}TRACE-002",
    "GetTraces with a TimeStamp returns the statuses from then on, twice alike",
    "ref §5.3 (GetTraces TimeStamp)",
    dialect=D,
)
def trace_since(s: LegacySession) -> None:
    flow = behaviour.flow(s)
    since = "2000/01/01 00:00:00"
    first = [t.status_code for t, _ in s.legacy.trace_entries(flow.doc.document_id, since)]
    again = [t.status_code for t, _ in s.legacy.trace_entries(flow.doc.document_id, since)]
    expect(len(first) >= 6, f"GetTraces from {since} returned {first} for the document")
    expect(sorted(first) == sorted(again), f"first {first}, then {again}")


@assertion(
    f"{P}TRACE-003",
    "GetTraces Status timestamps are yyyy/MM/dd HH:mm:ss",
    "ref §5.3 (Timestamp)",
    mandatory=False,
    dialect=D,
)
def trace_timestamps(s: LegacySession) -> None:
    flow = behaviour.flow(s)
    stamps = [ts for _, ts in s.legacy.trace_entries(flow.doc.document_id, "2000/01/01 00:00:00")]
    bad = [t for t in stamps if not _YMD.match(t)]
    expect(stamps and not bad, f"Status timestamps {stamps}")


# -- AUTH / ORG -----------------------------------------------------------------------------------


@assertion(f"{P}AUTH-002", "a wrong Token is refused (Report M.Permission)", "ref §5.4", dialect=D)
def auth_wrong_token(s: LegacySession) -> None:
    impostor = s.impostor()
    reply = impostor.call(
        "GetPendingDocumentIds", impostor.credentials("GetPendingDocumentIdsRequest")
    )
    fault = _refused(reply, "a wrong Token")
    expect("Permission" in fault.code, f"refused with {fault.code!r}, expected a Permission code")


@assertion(
    f"{P}AUTH-003",
    "an unknown OrganId is refused; its SendDocument stores nothing",
    "ref §5.4",
    dialect=D,
)
def auth_unknown(s: LegacySession) -> None:
    stranger = s.stranger()
    reply = stranger.call("GetOrganizations", stranger.credentials("GetOrganizations"))
    _refused(reply, "an unknown OrganId")
    doc = s.new_doc()
    _refused(stranger.send_reply(doc.package), "SendDocument from an unknown OrganId")
    _not_delivered(s, doc)


@assertion(
    f"{P}AUTH-004",
    "CheckPermission (header block) answers true for the right Token, false otherwise",
    "ref §5.3 (CheckPermission)",
    dialect=D,
)
def auth_check_permission(s: LegacySession) -> None:
    good = s.legacy.call("CheckPermission", "", s.legacy.credentials("CheckPermission"))
    expect(good.success is True, f"right Token: IsSuccess {good.success} {good.error_codes}")
    impostor = s.impostor()
    bad = impostor.call("CheckPermission", "", impostor.credentials("CheckPermission"))
    expect(bad.success is False or bad.fault() is not None, "wrong Token: IsSuccess true")


@assertion(
    f"{P}ORG-001",
    "GetOrganizations lists both agencies with the dialect's eight fields",
    "ref §5.3 (GetOrganizations)",
    dialect=D,
)
def org_fields(s: LegacySession) -> None:
    reply = s.legacy.organizations().check()
    by_id = {
        o.findtext(f"{{{EDOC}}}OrganId", "").strip(): o
        for o in reply.findall(".//e:Organizations/e:Organization")
    }
    for code in (s.legacy.agency, s.peer_driver.agency):
        expect(code in by_id, f"{code} is not listed ({sorted(by_id)[:10]})")
    fields = (
        "OrganId",
        "OrganizationInCharge",
        "OrganName",
        "OrganAdd",
        "Email",
        "Telephone",
        "Fax",
        "Website",
    )
    missing = [f for f in fields if by_id[s.legacy.agency].find(f"{{{EDOC}}}{f}") is None]
    expect(not missing, f"Organization lacks {missing}")


# -- INPUT ----------------------------------------------------------------------------------------


def _mangled_send(s: LegacySession, mangle: Any) -> tuple[Doc, Reply]:
    doc = s.new_doc()
    body, content_type, headers = s.legacy.send_request(doc.package, files=SWA_BINARY)
    return doc, s.legacy.post(mangle(body), content_type, headers)


@assertion(
    f"{P}INPUT-001",
    "malformed XML is a SOAP fault; nothing stored",
    "ref §5.3; DESIGN §5",
    dialect=D,
)
def input_malformed(s: LegacySession) -> None:
    doc, reply = _mangled_send(s, lambda b: b.replace(b"</edXML:MessageHeader>", b"", 1))
    fault = _refused(reply, "malformed XML")
    expect(
        fault.standard in ("Client", "Sender"), f"fault code {fault.standard!r}, expected Client"
    )
    _not_delivered(s, doc)


@assertion(
    f"{P}INPUT-002",
    "an Envelope in a wrong namespace is refused; nothing stored",
    "ref §5.2; SOAP 1.1 §4.1.2",
    dialect=D,
)
def input_namespace(s: LegacySession) -> None:
    doc, reply = _mangled_send(
        s, lambda b: b.replace(SOAP11.encode(), b"http://example.org/not-soap/", 1)
    )
    _refused(reply, "an Envelope in a foreign namespace")
    _not_delivered(s, doc)


@assertion(
    f"{P}INPUT-003",
    "a DOCTYPE (XXE) is refused, the entity never expanded; nothing stored",
    "ref §5.2, §7; DESIGN §5",
    dialect=D,
)
def input_xxe(s: LegacySession) -> None:
    doctype = b'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'

    def mangle(body: bytes) -> bytes:
        body = body.replace(b"?>\r\n<soap:Envelope", b"?>\r\n" + doctype + b"<soap:Envelope", 1)
        return re.sub(rb"(<edXML:Subject>)", rb"\1&xxe;", body, count=1)

    doc, reply = _mangled_send(s, mangle)
    _refused(reply, "a request with a DOCTYPE")
    _not_delivered(s, doc)


@assertion(
    f"{P}INPUT-004",
    "a SendDocument Reference naming no MIME part is refused; nothing stored",
    "ref §5.3 (Manifest/Reference href)",
    dialect=D,
)
def input_missing_part(s: LegacySession) -> None:
    doc, reply = _mangled_send(s, lambda b: b.replace(b'href="cid:', b'href="cid:missing-', 1))
    _refused(reply, "a Reference to a missing part", "N.")
    _not_delivered(s, doc)


@assertion(
    f"{P}ACCESS-003",
    "GetDocument by the document's own sender is refused, as on Bkav's axis",
    "ref §5.5.3 (a notification is required: M.GetDocumentCheckAllow)",
    mandatory=False,
    dialect=D,
)
def access_sender(s: LegacySession) -> None:
    receipt = behaviour.flow(s).receipt
    reply = s.legacy.get_reply(receipt.package_id)
    _refused(reply, "GetDocument by the sender (no notification of its own)", NOT_ALLOWED)
