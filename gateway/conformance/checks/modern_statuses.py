"""STATUS, FLOW and TRACE: business statuses travel back to the sender and can be read again."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.conformance.checks.modern_exchange import confirmed
from gateway.conformance.checks.modern_session import ModernSession, expect_fault
from gateway.conformance.driver import Receipt, Trace
from gateway.conformance.registry import Failed, assertion, expect
from gateway.conformance.session import Doc
from gateway.edxml.enums import BusinessDocType
from gateway.edxml.model import StatusPackage
from gateway.edxml.reader import read_package

CONTRACT = "wsdl/edoc-gateway.wsdl"
STATUS_REF = "ref §2.7 (STATUS codes), §2.8 (flows)"


# -- STATUS 01 --------------------------------------------------------------------------------


@assertion(
    "EDGW-STATUS-001",
    "after ConfirmReceived the sender's status mailbox has STATUS 01",
    "ND 30/2020 Art. 21; ref §2.8",
)
def status01_mailbox(s: ModernSession) -> None:
    c = confirmed(s)
    listed = s.pending_ids(s.modern, "status")
    expect(
        c.confirmation.status_package_id in listed,
        "STATUS 01 is not in the sender's status mailbox",
    )


@assertion(
    "EDGW-STATUS-002",
    "STATUS 01 appears in the sender's traces, from the peer",
    f"{CONTRACT} (GetTraces); ref §2.7",
)
def status01_trace(s: ModernSession) -> None:
    c = confirmed(s)
    traces = s.modern.traces(package_id=c.pulled.sent.receipt.package_id)
    ones = [t for t in traces if t.status_code == "01"]
    expect(ones, f"no 01 in the traces: {[t.status_code for t in traces]}")
    expect(
        (ones[0].from_agency, ones[0].to_agency) == (s.peer_driver.agency, s.modern.agency),
        f"STATUS 01 goes from {ones[0].from_agency} to {ones[0].to_agency}",
    )


@assertion(
    "EDGW-STATUS-003", "the STATUS 01 package is an edXML status about the document", STATUS_REF
)
def status01_package(s: ModernSession) -> None:
    c = confirmed(s)
    fetched = s.modern.get(c.confirmation.status_package_id)
    pkg = read_package(fetched.package, s.blobs)
    if not isinstance(pkg, StatusPackage):
        raise Failed(f"the STATUS 01 package reads as a {pkg.kind} package")
    header = pkg.header
    expect(header.status_code.value == "01", f"StatusCode {header.status_code}")
    rf = header.response_for
    expect(
        rf is not None and rf.document_id == c.pulled.sent.doc.document_id,
        "ResponseFor/DocumentId does not name the confirmed document",
    )


# -- statuses 02..06 sent by the peer --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reported:
    doc: Doc
    rejected: Doc
    receipts: dict[str, Receipt]
    status_mailbox: list[str]
    traces: list[Trace]
    rejected_traces: list[Trace]


def reported(s: ModernSession) -> Reported:
    def build() -> Reported:
        doc, rejected = s.new_doc(), s.new_doc()
        for d in (doc, rejected):
            s.peer_driver.confirm(s.send(d).package_id, "ok")
        receipts = {}
        for code in ("03", "04", "05", "06"):
            receipts[code] = s.peer_driver.send_status(s.status(code, doc, s.peer_driver.agency))
        receipts["02"] = s.peer_driver.send_status(s.status("02", rejected, s.peer_driver.agency))
        return Reported(
            doc,
            rejected,
            receipts,
            s.pending_ids(s.modern, "status"),
            s.modern.traces(document_id=doc.document_id),
            s.modern.traces(document_id=rejected.document_id),
        )

    return s.scenario("reported", build)


def _status_check(code: str, meaning: str) -> None:
    @assertion(
        f"EDGW-STATUS-{int(code) + 2:03d}",
        f"STATUS {code} ({meaning}) from the peer reaches the sender's mailbox and traces",
        STATUS_REF,
    )
    def check(s: ModernSession) -> None:
        r = reported(s)
        receipt = r.receipts[code]
        expect(receipt.kind == "status" and not receipt.duplicate, f"receipt {receipt}")
        expect(
            receipt.package_id in r.status_mailbox,
            f"STATUS {code} is not in the sender's status mailbox",
        )
        traces = r.rejected_traces if code == "02" else r.traces
        found = [t for t in traces if t.status_package_id == receipt.package_id]
        expect(
            found, f"STATUS {code} is not in the sender's traces: {[t.status_code for t in traces]}"
        )
        expect(found[0].status_code == code, f"the trace says {found[0].status_code}")
        expect(
            found[0].from_agency == s.peer_driver.agency,
            f"the trace is from {found[0].from_agency}",
        )


for _code, _meaning in (
    ("02", "refused"),
    ("03", "accepted and registered"),
    ("04", "assigned"),
    ("05", "in process"),
    ("06", "finished"),
):
    _status_check(_code, _meaning)


@assertion(
    "EDGW-STATUS-009", "traces list statuses oldest first", f"{CONTRACT} (GetTraces: oldest first)"
)
def status_order(s: ModernSession) -> None:
    codes = [t.status_code for t in reported(s).traces]
    expect(codes == ["01", "03", "04", "05", "06"], f"traces in order: {codes}")


@assertion(
    "EDGW-STATUS-010",
    "SendStatusFields builds a status the sender sees",
    f"{CONTRACT} (SendStatusFields)",
    mandatory=False,
)
def status_fields(s: ModernSession) -> None:
    doc = s.new_doc()
    s.peer_driver.confirm(s.send(doc).package_id, "ok")
    receipt = s.peer_driver.send_status_fields(
        {
            "responseForOrganId": s.modern.agency,
            "responseForDocumentId": doc.document_id,
            "statusCode": "03",
        }
    )
    codes = [t.status_code for t in s.modern.traces(document_id=doc.document_id)]
    expect(receipt.kind == "status" and "03" in codes, f"traces {codes}")


@assertion("EDGW-STATUS-011", "a status code outside 01..06, 13, 15, 16 is refused", "ref §2.7")
def status_unknown_code(s: ModernSession) -> None:
    doc = s.new_doc()
    s.peer_driver.confirm(s.send(doc).package_id, "ok")
    package = s.status("03", doc, s.peer_driver.agency).replace(
        b"<edXML:StatusCode>03</edXML:StatusCode>", b"<edXML:StatusCode>99</edXML:StatusCode>"
    )
    expect(b">99<" in package, "could not build the status (writer layout changed)")
    expect_fault(lambda: s.peer_driver.send_status(package), codes=("R.", "M."))
    codes = [t.status_code for t in s.modern.traces(document_id=doc.document_id)]
    expect("99" not in codes, "the refused status appears in the traces")


# -- FLOW: revoke, update, replace, take back ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flow:
    original: Doc
    change: Receipt | None
    delivered_type: int | None
    delivered_target: str
    answer: Receipt
    traces: list[Trace]


def _change_flow(s: ModernSession, doc_type: BusinessDocType, answer_code: str) -> Flow:
    original = s.new_doc()
    s.peer_driver.confirm(s.send(original).package_id, "ok")
    business = s.business(doc_type, original, recipients=(s.peer_driver.agency,))
    change = s.new_doc(
        business=business,
        document_id=original.document_id if doc_type is not BusinessDocType.REPLACE else None,
    )
    receipt = s.send(change)
    fetched = s.peer_driver.get(receipt.package_id)
    pkg = read_package(fetched.package, s.blobs)
    trace = getattr(pkg, "trace", None)
    delivered_type = int(trace.business.doc_type) if trace is not None else None
    target = ""
    if trace is not None:
        target = trace.business.document_id or (
            trace.business.replacements[0].document_id if trace.business.replacements else ""
        )
    s.peer_driver.confirm(receipt.package_id, "ok")
    answer = s.peer_driver.send_status(s.status(answer_code, original, s.peer_driver.agency))
    return Flow(
        original,
        receipt,
        delivered_type,
        target,
        answer,
        s.modern.traces(document_id=original.document_id),
    )


def _takeback(s: ModernSession) -> tuple[Flow, list[str]]:
    original = s.new_doc()
    s.peer_driver.confirm(s.send(original).package_id, "ok")
    request = s.modern.send_status(
        s.status(
            "13",
            original,
            s.modern.agency,
            to=s.peer_driver.agency,
            description="Đề nghị lấy lại văn bản (kiểm thử)",
        )
    )
    at_peer = s.pending_ids(s.peer_driver, "status")
    answer = s.peer_driver.send_status(s.status("16", original, s.peer_driver.agency))
    flow = Flow(
        original, request, None, "", answer, s.modern.traces(document_id=original.document_id)
    )
    return flow, at_peer


_FLOWS = {
    "revoke": (BusinessDocType.REVOKE, "15"),
    "update": (BusinessDocType.UPDATE, "16"),
    "replace": (BusinessDocType.REPLACE, "15"),
}


def _flow_checks(name: str, number: int) -> None:
    doc_type, answer = _FLOWS[name]

    def flow(s: ModernSession) -> Flow:
        return s.scenario(f"flow-{name}", lambda: _change_flow(s, doc_type, answer))

    @assertion(
        f"EDGW-FLOW-{number:03d}",
        f"a {name} (BussinessDocType {int(doc_type)}) reaches the peer naming the changed document",
        "ref §2.4, §2.8",
    )
    def delivered(s: ModernSession) -> None:
        f = flow(s)
        expect(f.delivered_type == int(doc_type), f"delivered BussinessDocType {f.delivered_type}")
        expect(f.delivered_target == f.original.document_id, f"it names {f.delivered_target!r}")

    @assertion(
        f"EDGW-FLOW-{number + 1:03d}",
        f"the peer's answer {answer} to the {name} reaches the sender's traces",
        "ref §2.7 (15/16), §2.8",
    )
    def answered(s: ModernSession) -> None:
        f = flow(s)
        found = [t for t in f.traces if t.status_package_id == f.answer.package_id]
        expect(
            found and found[0].status_code == answer, f"traces: {[t.status_code for t in f.traces]}"
        )


for _index, _name in enumerate(("revoke", "update", "replace")):
    _flow_checks(_name, 1 + 2 * _index)


@assertion(
    "EDGW-FLOW-007",
    "a take-back request (STATUS 13) reaches the peer's status mailbox",
    "ref §2.7 (13), §2.8",
)
def takeback_delivered(s: ModernSession) -> None:
    flow, at_peer = s.scenario("flow-takeback", lambda: _takeback(s))
    assert flow.change is not None
    expect(flow.change.package_id in at_peer, "STATUS 13 is not in the peer's status mailbox")


@assertion(
    "EDGW-FLOW-008",
    "the peer's answer 16 to a take-back reaches the sender's traces",
    "ref §2.7 (16), §2.8",
)
def takeback_answered(s: ModernSession) -> None:
    flow, _ = s.scenario("flow-takeback", lambda: _takeback(s))
    codes = [t.status_code for t in flow.traces]
    expect(
        any(t.status_package_id == flow.answer.package_id for t in flow.traces), f"traces: {codes}"
    )
    expect("13" in codes, f"the take-back request itself is not traced: {codes}")


# -- TRACE ------------------------------------------------------------------------------------


@assertion(
    "EDGW-TRACE-001",
    "GetTraces read twice gives the same entries",
    f"{CONTRACT} (GetTraces); DESIGN §3 (reads change nothing)",
)
def trace_repeatable(s: ModernSession) -> None:
    r = reported(s)
    again = s.modern.traces(document_id=r.doc.document_id)
    expect(again == r.traces, f"second read differs: {[t.status_code for t in again]}")


@assertion(
    "EDGW-TRACE-002", "traces by packageId equal traces by documentId", f"{CONTRACT} (GetTraces)"
)
def trace_by_package(s: ModernSession) -> None:
    r = reported(s)
    by_package = s.modern.traces(package_id=r.receipts["03"].package_id)
    expect(by_package == r.traces, f"by packageId: {[t.status_code for t in by_package]}")


@assertion(
    "EDGW-TRACE-003", "since in the future returns no entries", f"{CONTRACT} (GetTraces since)"
)
def trace_since(s: ModernSession) -> None:
    r = reported(s)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    expect(
        not s.modern.traces(document_id=r.doc.document_id, since=later), "entries after tomorrow"
    )


@assertion(
    "EDGW-TRACE-004",
    "the receiver reads the same traces of the document",
    f"{CONTRACT} (GetTraces: sent or received)",
)
def trace_receiver(s: ModernSession) -> None:
    r = reported(s)
    theirs = s.peer_driver.traces(document_id=r.doc.document_id)
    expect(
        [t.status_package_id for t in theirs] == [t.status_package_id for t in r.traces],
        f"peer sees {[t.status_code for t in theirs]}",
    )


@assertion(
    "EDGW-TRACE-005",
    "reading traces leaves the status mailbox as it was",
    "DESIGN §3 (reads change nothing)",
)
def trace_read_only(s: ModernSession) -> None:
    r = reported(s)
    before = s.pending_ids(s.modern, "status")
    s.modern.traces(document_id=r.doc.document_id)
    s.modern.traces(package_id=r.receipts["03"].package_id)
    after = s.pending_ids(s.modern, "status")
    expect(
        after == before,
        f"the status mailbox changed: {len(before)} items before, {len(after)} after",
    )


@assertion(
    "EDGW-TRACE-006",
    "every traced status package can be fetched by the sender",
    f"{CONTRACT} (GetPackage of statuses)",
)
def trace_packages(s: ModernSession) -> None:
    r = reported(s)
    for t in r.traces:
        fetched = s.modern.get(t.status_package_id)
        code = fetched.summary.get("status_code")
        expect(
            fetched.kind == "status" and code == t.status_code,
            f"{t.status_package_id}: {fetched.kind} {code}",
        )


@assertion(
    "EDGW-TRACE-007",
    "GetTraces with neither documentId nor packageId is a client fault",
    f"{CONTRACT} (GetTraces)",
    mandatory=False,
)
def trace_no_key(s: ModernSession) -> None:
    expect_fault(lambda: s.modern.traces(), codes=("N.", "M.", "R."))
