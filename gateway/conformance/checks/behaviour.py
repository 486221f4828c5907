"""Behavioural assertions written once against the common :class:`Driver` interface.

What must hold whatever the wire format: a sent document reaches the peer's mailbox and only
it, the attachment arrives byte for byte, confirmation empties the mailbox and produces the
automatic status 01, statuses 02–06 reach the sender, trace reads can be repeated, a resend gets
the original id, a wrong secret or another agency's access is refused with nothing stored.
:func:`register` adds them for a dialect under its id prefix; its session implements
:class:`BehaviourSession` (the dialect's drivers, a fresh document, an impostor driver).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from gateway.conformance.driver import (
    Confirmation,
    Driver,
    Fetched,
    Receipt,
    ServiceFault,
    Trace,
)
from gateway.conformance.registry import Failed, assertion, expect
from gateway.conformance.session import Doc
from gateway.edxml.enums import StatusCode

BUSINESS_CODES = ("02", "03", "04", "05", "06")


class BehaviourSession(Protocol):
    """What the shared assertions need from a dialect's session."""

    @property
    def driver(self) -> Driver: ...

    @property
    def peer(self) -> Driver: ...

    def new_doc(self, **options: Any) -> Doc: ...

    def impostor(self) -> Driver:
        """The agency's driver with a wrong secret."""
        ...

    def third_agency(self) -> str:
        """An enabled agency other than the two of the run (Skipped if there is none)."""
        ...

    def document(self, sender: str, recipients: tuple[str, ...], **options: Any) -> Doc: ...

    def status(
        self,
        code: StatusCode | str,
        about: Doc,
        sender: str,
        *,
        to: str | None = None,
        description: str = "",
    ) -> bytes: ...

    def scenario(self, name: str, build: Callable[[], Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Sections:
    """Where each behaviour is specified in a dialect's reference."""

    send: str
    pull: str
    get: str
    confirm: str
    status: str
    trace: str
    dup: str
    auth: str
    access: str


@dataclass(slots=True)
class Flow:
    """One document through its whole life; each step's error kept for the checks needing it."""

    doc: Doc
    receipt: Receipt
    resent: Receipt | Exception
    listed: list[str]
    sender_listed: list[str]
    fetched: Fetched | Exception
    confirmation: Confirmation | Exception
    pending_after: list[str]
    updates: dict[str, Exception | None] = field(default_factory=dict)
    traces: list[Trace] = field(default_factory=list)
    traces_again: list[Trace] | Exception = field(default_factory=list)


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (ServiceFault, Failed) as exc:
        return exc


def flow(s: BehaviourSession) -> Flow:
    """Send, resend, list, fetch, confirm, update 02–06, read traces twice (once per run)."""

    def build() -> Flow:
        doc = s.new_doc()
        receipt = s.driver.send_document(doc.package)
        resent = _attempt(lambda: s.driver.send_document(doc.package))
        listed = [i.package_id for i in s.peer.pending("document")[0]]
        sender_listed = [i.package_id for i in s.driver.pending("document")[0]]
        fetched = _attempt(lambda: s.peer.get(receipt.package_id))
        confirmation = _attempt(lambda: s.peer.confirm(receipt.package_id))
        pending_after = [i.package_id for i in s.peer.pending("document")[0]]
        result = Flow(
            doc, receipt, resent, listed, sender_listed, fetched, confirmation, pending_after
        )
        for code in BUSINESS_CODES:
            package = s.status(code, doc, s.peer.agency)
            failure = _attempt(partial(s.peer.send_status, package))
            result.updates[code] = failure if isinstance(failure, Exception) else None
        result.traces = s.driver.traces(document_id=doc.document_id)
        result.traces_again = _attempt(lambda: s.driver.traces(document_id=doc.document_id))
        return result

    value: Flow = s.scenario("behaviour-flow", build)
    return value


def _ok(value: Any, what: str) -> Any:
    if isinstance(value, Exception):
        raise Failed(f"{what} failed: {value}")
    return value


def _codes(traces: list[Trace]) -> list[str]:
    return [t.status_code.zfill(2) if t.status_code.isdigit() else t.status_code for t in traces]


def register(dialect: str, prefix: str, sections: Sections) -> None:
    """Register the behavioural assertions for ``dialect`` as ``<prefix><GROUP>-NNN``."""

    def add(
        group_id: str, title: str, section: str, mandatory: bool = True
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        return assertion(
            f"{prefix}{group_id}", title, section, mandatory=mandatory, dialect=dialect
        )

    @add("SEND-001", "SendDocument accepts a valid document and answers its id", sections.send)
    def send_accepted(s: BehaviourSession) -> None:
        receipt = flow(s).receipt
        expect(receipt.package_id, "the answer names no document id")

    @add("PULL-001", "the recipient's pending list holds the sent document", sections.pull)
    def pull_listed(s: BehaviourSession) -> None:
        f = flow(s)
        expect(
            f.receipt.package_id in f.listed,
            f"id {f.receipt.package_id} is not in the peer's pending list {f.listed[:20]}",
        )

    @add("PULL-002", "the sender's own pending list does not hold it", sections.pull)
    def pull_not_sender(s: BehaviourSession) -> None:
        f = flow(s)
        expect(f.receipt.package_id not in f.sender_listed, "the sender's pending list has it")

    @add("GET-001", "the recipient fetches the document with its subject", sections.get)
    def get_subject(s: BehaviourSession) -> None:
        f = flow(s)
        fetched: Fetched = _ok(f.fetched, "fetching the document")
        subject = fetched.summary.get("subject")
        expect(subject == f.doc.subject, f"subject {subject!r}, sent {f.doc.subject!r}")

    @add("GET-002", "attachment bytes are equal after the fetch (SHA-256)", sections.get)
    def get_bytes(s: BehaviourSession) -> None:
        f = flow(s)
        fetched: Fetched = _ok(f.fetched, "fetching the document")
        shas = [a.get("sha256") for a in fetched.summary.get("attachments", [])]
        expect(
            shas == [f.doc.attachment_sha256],
            f"attachment SHA-256 {shas}, sent {f.doc.attachment_sha256}",
        )

    @add("CONFIRM-001", "ConfirmReceived takes the document off the pending list", sections.confirm)
    def confirm_removes(s: BehaviourSession) -> None:
        f = flow(s)
        _ok(f.confirmation, "ConfirmReceived")
        expect(f.receipt.package_id not in f.pending_after, "still pending after ConfirmReceived")

    @add(
        "STATUS-001",
        "after ConfirmReceived the sender's traces hold the automatic status 01",
        sections.status,
    )
    def status_01(s: BehaviourSession) -> None:
        f = flow(s)
        _ok(f.confirmation, "ConfirmReceived")
        codes = _codes(f.traces)
        expect("01" in codes, f"no status 01 about the document in the sender's traces {codes}")

    for number, code in enumerate(BUSINESS_CODES, start=2):
        title = (
            f"status {code} ({StatusCode(code).vietnamese}) from the recipient reaches the sender"
        )

        def check(s: BehaviourSession, code: str = code) -> None:
            f = flow(s)
            failure = f.updates.get(code)
            expect(failure is None, f"sending status {code} failed: {failure}")
            codes = _codes(f.traces)
            expect(code in codes, f"status {code} is not in the sender's traces {codes}")
            sender = [t.from_agency for t in f.traces if _codes([t]) == [code]]
            expect(sender == [s.peer.agency], f"status {code} names senders {sender}")

        add(f"STATUS-{number:03d}", title, sections.status)(check)

    @add("TRACE-001", "reading the traces again returns the same statuses", sections.trace)
    def trace_repeatable(s: BehaviourSession) -> None:
        f = flow(s)
        again: list[Trace] = _ok(f.traces_again, "the second trace read")
        expect(f.traces, "the first trace read returned nothing about the document")
        expect(
            sorted(_codes(again)) == sorted(_codes(f.traces)),
            f"the second read returned {sorted(_codes(again))}, the first "
            f"{sorted(_codes(f.traces))}: the read is destructive",
        )

    @add("DUP-001", "resending the same document answers the original id", sections.dup)
    def dup_same_id(s: BehaviourSession) -> None:
        f = flow(s)
        resent: Receipt = _ok(f.resent, "the resend")
        expect(
            resent.package_id == f.receipt.package_id,
            f"the resend got id {resent.package_id}, the original {f.receipt.package_id}",
        )

    @add("DUP-002", "a resent document is pending once, not twice", sections.dup)
    def dup_once(s: BehaviourSession) -> None:
        f = flow(s)
        mine = [i for i in f.listed if i == f.receipt.package_id]
        resent = f.resent.package_id if isinstance(f.resent, Receipt) else ""
        extra = [i for i in f.listed if resent and i == resent and resent != f.receipt.package_id]
        expect(len(mine) == 1 and not extra, f"pending list {f.listed[:20]}")

    @add("AUTH-001", "a wrong secret is refused and nothing is stored", sections.auth)
    def auth_wrong_secret(s: BehaviourSession) -> None:
        doc = s.new_doc()
        try:
            receipt = s.impostor().send_document(doc.package)
        except ServiceFault:
            pass
        else:
            raise Failed(f"a send with a wrong secret was accepted as {receipt.package_id}")
        subjects = []
        for item in s.peer.pending("document")[0]:
            fetched = _attempt(partial(s.peer.get, item.package_id))
            if isinstance(fetched, Fetched):
                subjects.append(fetched.summary.get("subject"))
        expect(doc.subject not in subjects, "the refused document was delivered to the peer")

    @add(
        "ACCESS-001",
        "an agency that is neither sender nor recipient cannot fetch the document",
        sections.access,
    )
    def access_get(s: BehaviourSession) -> None:
        doc = s.document(s.driver.agency, (s.third_agency(),))
        receipt = s.driver.send_document(doc.package)
        try:
            fetched = s.peer.get(receipt.package_id)
        except ServiceFault:
            return
        raise Failed(
            f"{s.peer.agency} fetched document {receipt.package_id} addressed only to another "
            f"agency (subject {fetched.summary.get('subject')!r})"
        )

    @add(
        "ACCESS-002",
        "an agency that is not a recipient cannot confirm the document",
        sections.access,
    )
    def access_confirm(s: BehaviourSession) -> None:
        doc = s.new_doc()
        receipt = s.driver.send_document(doc.package)
        try:
            s.driver.confirm(receipt.package_id)
        except ServiceFault:
            pass
        else:
            raise Failed("the sender confirmed a document addressed only to the peer")
        listed = [i.package_id for i in s.peer.pending("document")[0]]
        expect(receipt.package_id in listed, "the refused confirmation emptied the peer's mailbox")
        s.peer.confirm(receipt.package_id)
