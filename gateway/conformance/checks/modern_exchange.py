"""SEND, PULL, GET, CONFIRM and DUP: a document from the agency to the peer and back."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from gateway.conformance.checks.modern_session import ModernSession, expect_fault
from gateway.conformance.driver import Confirmation, Fetched, PendingItem, Receipt
from gateway.conformance.registry import assertion, expect
from gateway.conformance.session import Doc
from gateway.edxml.reader import read_package

CONTRACT = "wsdl/edoc-gateway.wsdl"


@dataclass(frozen=True, slots=True)
class Sent:
    doc: Doc
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class Pulled:
    sent: Sent
    listed: list[PendingItem]
    first: Fetched
    second: Fetched
    still_pending: bool


@dataclass(frozen=True, slots=True)
class Confirmed:
    pulled: Pulled
    confirmation: Confirmation
    again: Confirmation
    pending_after: list[str]


def sent(s: ModernSession) -> Sent:
    def build() -> Sent:
        doc = s.new_doc()
        return Sent(doc, s.send(doc))

    return s.scenario("sent", build)


def pulled(s: ModernSession) -> Pulled:
    def build() -> Pulled:
        first_sent = sent(s)
        listed = s.peer_driver.pending_all("document")
        first = s.peer_driver.get(first_sent.receipt.package_id)
        second = s.peer_driver.get(first_sent.receipt.package_id)
        still = first_sent.receipt.package_id in s.pending_ids()
        return Pulled(first_sent, listed, first, second, still)

    return s.scenario("pulled", build)


def confirmed(s: ModernSession) -> Confirmed:
    def build() -> Confirmed:
        p = pulled(s)
        package_id = p.sent.receipt.package_id
        confirmation = s.peer_driver.confirm(package_id, "ok")
        again = s.peer_driver.confirm(package_id, "ok")
        return Confirmed(p, confirmation, again, s.pending_ids())

    return s.scenario("confirmed", build)


# -- SEND -------------------------------------------------------------------------------------


@assertion(
    "EDGW-SEND-001",
    "SendDocument accepts a valid edXML package with a receipt",
    f"{CONTRACT} (SendDocument); ref §2",
)
def send_accepted(s: ModernSession) -> None:
    r = sent(s).receipt
    expect(r.package_id, "the receipt has no packageId")
    expect(r.kind == "document", f"receipt kind is {r.kind!r}")
    expect(r.duplicate is False, "a first send was reported as a duplicate")


@assertion("EDGW-SEND-002", "the receipt's receivedAt carries a time zone", f"{CONTRACT} (Receipt)")
def send_received_at(s: ModernSession) -> None:
    at = sent(s).receipt.received_at
    expect(at is not None and at.tzinfo is not None, f"receivedAt {at} has no zone")


@assertion(
    "EDGW-SEND-003",
    "the receipt carries the gateway's signed receipt (XML-DSig)",
    f"{CONTRACT} (Receipt/signedReceipt); DESIGN §5",
    mandatory=False,
)
def send_signed_receipt(s: ModernSession) -> None:
    signed = sent(s).receipt.signed_receipt
    expect(b"Signature" in signed, f"signedReceipt has no XML signature ({len(signed)} bytes)")


@assertion(
    "EDGW-SEND-004",
    "SendDocument works over the SOAP 1.2 binding too",
    f"{CONTRACT} (EdocGatewaySoap12)",
)
def send_soap12(s: ModernSession) -> None:
    doc = s.new_doc()
    receipt = s.soap12().send_document(doc.package)
    expect(receipt.kind == "document" and not receipt.duplicate, f"receipt {receipt}")
    s.peer_driver.confirm(receipt.package_id, "ok")


@assertion(
    "EDGW-SEND-005",
    "SendDocumentFields builds a package the peer reads",
    f"{CONTRACT} (SendDocumentFields)",
)
def send_fields(s: ModernSession) -> None:
    number = s.next_number()
    data = b"%PDF-1.4 fields " + number.encode()
    receipt = s.modern.send_document_fields(
        {
            "to": {"organId": [s.peer_driver.agency]},
            "subject": f"V/v kiểm thử trường {number}",
            "codeNumber": number,
            "codeNotation": f"KTPH-{s.tag}",
            "promulgationDate": s.today(),
            "attachments": {
                "attachment": [{"name": "f.pdf", "contentType": "application/pdf", "data": data}]
            },
        }
    )
    fetched = s.peer_driver.get(receipt.package_id)
    s.peer_driver.confirm(receipt.package_id, "ok")
    expect(fetched.summary.get("subject") == f"V/v kiểm thử trường {number}", "subject differs")
    shas = [a.get("sha256") for a in fetched.summary.get("attachments", [])]
    expect(shas == [hashlib.sha256(data).hexdigest()], f"attachment SHA-256 {shas}")


# -- PULL -------------------------------------------------------------------------------------


def _listed(p: Pulled) -> PendingItem | None:
    wanted = p.sent.receipt.package_id
    return next((i for i in p.listed if i.package_id == wanted), None)


@assertion(
    "EDGW-PULL-001", "the peer's GetPending lists the sent package", f"{CONTRACT} (GetPending)"
)
def pull_listed(s: ModernSession) -> None:
    expect(_listed(pulled(s)) is not None, "the sent package is not in the peer's document mailbox")


@assertion(
    "EDGW-PULL-002",
    "a pending item names sender, DocumentId and subject",
    f"{CONTRACT} (PendingItem); ref §2.2",
)
def pull_item_fields(s: ModernSession) -> None:
    p = pulled(s)
    item = _listed(p)
    expect(item is not None, "the sent package is not listed")
    assert item is not None
    doc = p.sent.doc
    expect(item.sender == doc.sender, f"sender {item.sender!r}, expected {doc.sender}")
    expect(item.document_id == doc.document_id, f"documentId {item.document_id!r}")
    expect(item.subject == doc.subject, f"subject {item.subject!r}")
    expect(item.kind == "document", f"kind {item.kind!r}")


@assertion("EDGW-PULL-003", "a package is not delivered to its own sender", "DESIGN §3 (routing)")
def pull_not_to_sender(s: ModernSession) -> None:
    p = pulled(s)
    expect(
        p.sent.receipt.package_id not in s.pending_ids(s.modern),
        "the sender's own mailbox lists the package it sent",
    )


@assertion(
    "EDGW-PULL-004",
    "listing and reading leave the package pending",
    f"{CONTRACT} (GetPending: reading changes nothing)",
)
def pull_read_only(s: ModernSession) -> None:
    expect(pulled(s).still_pending, "the package left the mailbox without ConfirmReceived")


@assertion(
    "EDGW-PULL-005", "GetPending pages with limit and nextCursor", f"{CONTRACT} (GetPending)"
)
def pull_paging(s: ModernSession) -> None:
    docs = [s.new_doc() for _ in range(2)]
    ids = [s.send(d).package_id for d in docs]
    seen: list[str] = []
    items, cursor = s.peer_driver.pending("document", 1, "")
    expect(len(items) == 1, f"limit 1 returned {len(items)} items")
    seen += [i.package_id for i in items]
    for _ in range(1000):
        if not cursor:
            break
        items, cursor = s.peer_driver.pending("document", 1, cursor)
        expect(len(items) <= 1, f"limit 1 returned {len(items)} items")
        seen += [i.package_id for i in items]
    for package_id in ids:
        s.peer_driver.confirm(package_id, "ok")
    expect(all(i in seen for i in ids), "paging with nextCursor did not reach both packages")
    expect(len(seen) == len(set(seen)), "paging returned a package twice")


# -- GET --------------------------------------------------------------------------------------


@assertion(
    "EDGW-GET-001",
    "GetPackage returns the edXML, readable with the same DocumentId",
    f"{CONTRACT} (GetPackage); ref §2.1",
)
def get_readable(s: ModernSession) -> None:
    p = pulled(s)
    pkg = read_package(p.first.package, s.blobs)
    expect(pkg.kind == "document", f"the package read as {pkg.kind}")
    expect(
        pkg.header.document_id == p.sent.doc.document_id,  # type: ignore[union-attr]
        "DocumentId differs from the one sent",
    )


@assertion(
    "EDGW-GET-002", "the attachment's SHA-256 is unchanged after GetPackage", "ref §2.5; DESIGN §3"
)
def get_attachment_intact(s: ModernSession) -> None:
    p = pulled(s)
    pkg = read_package(p.first.package, s.blobs)
    shas = [a.file.sha256 for a in getattr(pkg, "attachments", ())]
    expect(shas == [p.sent.doc.attachment_sha256], f"attachment SHA-256 {shas}")


@assertion(
    "EDGW-GET-003",
    "GetPackage's summary names sender, recipients and attachment",
    f"{CONTRACT} (PackageSummary)",
)
def get_summary(s: ModernSession) -> None:
    p = pulled(s)
    summary = p.first.summary
    expect(summary.get("document_id") == p.sent.doc.document_id, "summary document_id differs")
    expect((summary.get("from") or {}).get("organ_id") == p.sent.doc.sender, "summary from differs")
    to = [o.get("organ_id") for o in summary.get("to", [])]
    expect(to == list(p.sent.doc.recipients), f"summary to is {to}")
    shas = [a.get("sha256") for a in summary.get("attachments", [])]
    expect(shas == [p.sent.doc.attachment_sha256], f"summary attachments {shas}")


@assertion(
    "EDGW-GET-004",
    "GetPackage is repeatable: the same bytes twice",
    f"{CONTRACT} (GetPackage: repeatable)",
)
def get_repeatable(s: ModernSession) -> None:
    p = pulled(s)
    expect(p.first.package == p.second.package, "two reads returned different bytes")


@assertion(
    "EDGW-GET-005",
    "GetPackage's size is the length of the package returned",
    f"{CONTRACT} (GetPackage)",
)
def get_size(s: ModernSession) -> None:
    p = pulled(s)
    expect(p.first.size == len(p.first.package), f"size {p.first.size} != {len(p.first.package)}")


@assertion(
    "EDGW-GET-006",
    "the sender can read the package it sent",
    f"{CONTRACT} (GetPackage: sent or received)",
)
def get_by_sender(s: ModernSession) -> None:
    p = pulled(s)
    own = s.modern.get(p.sent.receipt.package_id)
    expect(
        own.package_id == p.sent.receipt.package_id and own.sender == s.modern.agency,
        f"{own.package_id}",
    )


@assertion(
    "EDGW-GET-007", "GetPackage of an unknown id is a client fault", f"{CONTRACT} (N.Package)"
)
def get_unknown(s: ModernSession) -> None:
    expect_fault(lambda: s.modern.get(f"no-such-package-{s.tag}"), codes=("N.",))


# -- CONFIRM ----------------------------------------------------------------------------------


@assertion(
    "EDGW-CONFIRM-001",
    "ConfirmReceived ok takes the package out of the mailbox",
    f"{CONTRACT} (ConfirmReceived)",
)
def confirm_removes(s: ModernSession) -> None:
    c = confirmed(s)
    expect(c.confirmation.outcome == "ok", f"outcome {c.confirmation.outcome!r}")
    expect(
        c.pulled.sent.receipt.package_id not in c.pending_after,
        "the package is still pending after ConfirmReceived",
    )


@assertion(
    "EDGW-CONFIRM-002",
    "confirming a document returns the STATUS 01 package id",
    f"{CONTRACT} (statusPackageId); ND 30/2020 Art. 21",
)
def confirm_status_id(s: ModernSession) -> None:
    expect(confirmed(s).confirmation.status_package_id, "no statusPackageId")


@assertion(
    "EDGW-CONFIRM-003",
    "confirming twice is harmless and sends no second STATUS 01",
    f"{CONTRACT} (ConfirmReceived)",
)
def confirm_twice(s: ModernSession) -> None:
    c = confirmed(s)
    expect(c.again.outcome == "ok", f"second confirm outcome {c.again.outcome!r}")
    expect(
        not c.again.status_package_id
        or c.again.status_package_id == c.confirmation.status_package_id,
        "a second STATUS 01 was sent",
    )


@assertion(
    "EDGW-CONFIRM-004",
    "outcome failed is recorded without a STATUS 01",
    f"{CONTRACT} (ConfirmOutcome)",
    mandatory=False,
)
def confirm_failed(s: ModernSession) -> None:
    doc = s.new_doc()
    receipt = s.send(doc)
    result = s.peer_driver.confirm(receipt.package_id, "failed", "kiểm thử: lỗi đọc")
    expect(result.outcome == "failed", f"outcome {result.outcome!r}")
    expect(not result.status_package_id, "a failed confirmation sent a STATUS 01")
    codes = [t.status_code for t in s.modern.traces(document_id=doc.document_id)]
    expect("01" not in codes, f"traces after a failed confirmation: {codes}")


@assertion(
    "EDGW-CONFIRM-005", "the sender cannot confirm the package it sent", "DESIGN §3 (mailboxes)"
)
def confirm_by_sender(s: ModernSession) -> None:
    receipt = sent(s).receipt
    expect_fault(lambda: s.modern.confirm(receipt.package_id, "ok"), codes=("N.", "M.Permission"))


# -- DUP --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duplicated:
    doc: Doc
    first: Receipt
    again: Receipt
    listed: list[str]
    after_confirm: Receipt
    listed_after: list[str]


def duplicated(s: ModernSession) -> Duplicated:
    def build() -> Duplicated:
        doc = s.new_doc()
        first = s.send(doc)
        again = s.send(doc)
        listed = s.pending_ids()
        s.peer_driver.confirm(first.package_id, "ok")
        after = s.send(doc)
        return Duplicated(doc, first, again, listed, after, s.pending_ids())

    return s.scenario("duplicated", build)


@assertion("EDGW-DUP-001", "a resend is reported as a duplicate", "DESIGN §3 (exactly-once effect)")
def dup_flagged(s: ModernSession) -> None:
    expect(duplicated(s).again.duplicate is True, "the resend was not flagged duplicate=true")


@assertion(
    "EDGW-DUP-002",
    "a resend returns the original packageId and receivedAt",
    "DESIGN §3 (the original receipt)",
)
def dup_original_receipt(s: ModernSession) -> None:
    d = duplicated(s)
    expect(
        d.again.package_id == d.first.package_id,
        f"packageId {d.again.package_id} != original {d.first.package_id}",
    )
    expect(
        d.again.received_at == d.first.received_at,
        f"receivedAt {d.again.received_at} != {d.first.received_at}",
    )


@assertion(
    "EDGW-DUP-003",
    "a resent package is delivered once",
    "DESIGN §3 (no consumer sees a package twice)",
)
def dup_delivered_once(s: ModernSession) -> None:
    d = duplicated(s)
    copies = [i for i in d.listed if i in (d.first.package_id, d.again.package_id)]
    expect(len(copies) == 1, f"the peer's mailbox holds {len(copies)} copies")


@assertion(
    "EDGW-DUP-004",
    "a resend after confirmation gets the original receipt and no redelivery",
    "DESIGN §3 (dedupe lasts as long as the data)",
)
def dup_after_confirm(s: ModernSession) -> None:
    d = duplicated(s)
    expect(
        d.after_confirm.duplicate and d.after_confirm.package_id == d.first.package_id,
        f"receipt {d.after_confirm}",
    )
    expect(
        d.first.package_id not in d.listed_after, "the confirmed package came back to the mailbox"
    )


@assertion("EDGW-DUP-005", "a new document number is a new package, not a duplicate", "DESIGN §3")
def dup_new_number(s: ModernSession) -> None:
    d = duplicated(s)
    other = s.new_doc()
    receipt = s.send(other)
    s.peer_driver.confirm(receipt.package_id, "ok")
    expect(not receipt.duplicate and receipt.package_id != d.first.package_id, f"receipt {receipt}")


@assertion("EDGW-DUP-006", "a resent status returns the original receipt", "DESIGN §3; ref §2.7")
def dup_status(s: ModernSession) -> None:
    doc = s.new_doc()
    s.peer_driver.confirm(s.send(doc).package_id, "ok")
    package = s.status("03", doc, s.peer_driver.agency, description=f"tiếp nhận {dt.date.today()}")
    first = s.peer_driver.send_status(package)
    again = s.peer_driver.send_status(package)
    expect(again.duplicate and again.package_id == first.package_id, f"resend receipt {again}")
