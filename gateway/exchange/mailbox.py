"""Mailboxes: what waits for an agency (and the agencies it acts for), reading a package,
confirming or failing a delivery (with the automatic STATUS 01), progress notes, what was sent,
and the traces of a document. Reads never change state: a client that crashes mid-read can read
again."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

from gateway import logs
from gateway.edxml.dates import ICT
from gateway.edxml.model import Package
from gateway.edxml.reader import read_package
from gateway.edxml.summary import with_file_names
from gateway.errors import BadRequest, NotFound
from gateway.exchange.delegation import Delegation
from gateway.exchange.intake import Intake
from gateway.exchange.parts import Parts
from gateway.exchange.types import (
    MAX_PENDING_PAGE,
    ConfirmResult,
    PackageContent,
    PendingItem,
    PendingPage,
    TraceEntry,
)
from gateway.security.signatures import sign_package
from gateway.store.base import Delivery, StoredPackage, TraceRow, from_micros, to_micros
from gateway.store.records import SentRow

log = logging.getLogger(__name__)

KINDS = ("document", "status")
OUTCOMES = ("ok", "relayed", "failed")


class Mailbox:
    def __init__(self, parts: Parts, delegation: Delegation, intake: Intake) -> None:
        self._parts = parts
        self._delegation = delegation
        self._intake = intake

    # -- what waits ---------------------------------------------------------------------------
    def get_pending(self, agency: str, kind: str, limit: int, cursor: str) -> PendingPage:
        self._parts.agency(agency)
        limit = _page_limit(kind, limit)
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise BadRequest(
                "M.GetPending.Cursor", f"cursor {cursor!r} was not issued by this gateway"
            ) from None
        rows = self._parts.store.pending(agency, kind, limit, after)
        items = tuple(
            PendingItem(
                package_id=row.package.package_id,
                kind=row.package.kind,
                sender=row.package.sender,
                document_id=row.package.document_id,
                subject=str(json.loads(row.package.summary_json).get("subject", "")),
                received_at=from_micros(row.package.received_at),
                size=row.package.size,
            )
            for row in rows
        )
        next_cursor = str(rows[-1].seq) if len(rows) == limit else ""
        return PendingPage(items, next_cursor)

    def delegated_pending(
        self, agency: str, kind: str, limit: int = MAX_PENDING_PAGE
    ) -> list[tuple[Delivery, StoredPackage]]:
        """Pending deliveries to the agency and to every agency it acts for, oldest first."""
        self._parts.agency(agency)
        limit = _page_limit(kind, limit)
        return self._parts.store.pending_in(self._delegation.mailboxes(agency), kind, limit)

    def delegated_deliveries(self, agency: str, package_id: str) -> list[Delivery]:
        """A package's deliveries to the agency's mailbox and those of the agencies it acts
        for (empty for a package none of them received)."""
        deliveries = self._parts.store.deliveries_of(package_id)
        if not deliveries:
            return []
        boxes = set(self._delegation.mailboxes(agency))
        return [d for d in deliveries if d.recipient in boxes]

    def sent_report(
        self, agency: str, kind: str, package_id: str = "", limit: int = MAX_PENDING_PAGE
    ) -> list[SentRow]:
        """What the agency and the agencies it acts for sent, per recipient, newest first."""
        self._parts.agency(agency)
        return self._parts.store.sent_by(
            self._delegation.mailboxes(agency), kind, package_id, limit
        )

    # -- reading a package --------------------------------------------------------------------
    def get_package(self, agency: str, package_id: str) -> PackageContent:
        stored = self._fetched(agency, package_id)
        blobs = self._parts.blobs
        blob = stored.blob_sha256
        size, opener = stored.size, lambda: blobs.open(blob)
        if stored.size <= self._parts.settings.stream_threshold_bytes:
            # What the gateway emits carries its signature (the sender's, if any, was recorded
            # as a verdict on arrival). Larger packages stream unsigned: signing holds the whole
            # document in memory several times over.
            signed = sign_package(blobs.read_bytes(blob), self._parts.signing_key)
            size, opener = len(signed), lambda: io.BytesIO(signed)
        return PackageContent(
            package_id=stored.package_id,
            kind=stored.kind,
            sender=stored.sender,
            received_at=from_micros(stored.received_at),
            size=size,
            summary=with_file_names(json.loads(stored.summary_json)),
            open=opener,
        )

    def read_package(self, agency: str, package_id: str) -> Package:
        """A package as the canonical model, for a face that translates it to its own dialect
        (the gateway's signature is not added: a dialect that carries none would drop it)."""
        stored = self._fetched(agency, package_id)
        with self._parts.blobs.open(stored.blob_sha256) as stream:
            return read_package(stream, self._parts.blobs, self._parts.read_options)

    def _fetched(self, agency: str, package_id: str) -> StoredPackage:
        self._parts.agency(agency)
        stored = self._visible_package(agency, package_id)
        # Who read what, when: a read, so the record rides on the next durable commit.
        self._parts.store.record_event(
            self._parts.now_micros(),
            f"{stored.kind}.fetched",
            agency,
            package_id,
            {},
            durable=False,
        )
        logs.bind(package_id=package_id, agency=agency)
        log.debug(
            "%s %s fetched by %s",
            stored.kind,
            package_id,
            agency,
            extra={"package_id": package_id, "agency": agency},
        )
        return stored

    def _visible_package(self, agency: str, package_id: str) -> StoredPackage:
        """A package the agency sent or that was addressed to it; others look absent."""
        store = self._parts.store
        stored = store.get_package(package_id)
        if stored is not None and (
            stored.sender == agency
            or store.get_delivery(package_id, agency) is not None
            or self._delegation.acts_for(agency, stored.sender)
            or self.delegated_deliveries(agency, package_id)
        ):
            return stored
        raise _not_found(package_id, agency)

    # -- finishing a delivery -----------------------------------------------------------------
    def confirm_received(
        self, agency: str, package_id: str, outcome: str, reason: str, *, mailbox: str = ""
    ) -> ConfirmResult:
        """Finish a delivery to ``agency``'s mailbox, or to ``mailbox``, an agency it acts for.

        ``ok``: the receiver's software has the package; for a document the gateway sends
        STATUS 01 to the sender at once (Decree 30/2020 Art. 21). ``relayed``: a transport
        acknowledgement from a system that passes the package on (a child gateway, or a system
        built on the national axis SDK, which sends its own statuses as the axis expects): the
        delivery is finished and no status is sent, so the sender never gets two 01s.
        ``failed``: the receiver could not take it (``reason`` says why).
        """
        parts = self._parts
        parts.agency(agency)
        agency = self._mailbox(agency, mailbox, package_id)
        receiver = parts.agency(agency)
        if outcome not in OUTCOMES:
            raise BadRequest(
                "R.ConfirmReceived.Outcome",
                f"outcome must be ok, relayed or failed, not {outcome!r}",
            )
        delivery = parts.store.get_delivery(package_id, agency)
        if delivery is None:
            raise _not_found(package_id, agency)
        followup = None
        if outcome == "ok" and delivery.state == "pending" and delivery.kind == "document":
            stored = parts.store.get_package(package_id)
            assert stored is not None
            followup = self._intake.automatic_status(receiver, stored)
        state = "failed" if outcome == "failed" else "confirmed"
        finished, status = parts.store.finish_delivery(
            package_id, agency, state, reason, parts.now_micros(), followup
        )
        outcome_now = "ok" if finished.state == "confirmed" else finished.state
        logs.bind(package_id=package_id, agency=agency)
        log.info(
            "%s %s %s by %s%s",
            delivery.kind,
            package_id,
            finished.state,
            agency,
            f"; STATUS 01 {status.package_id} sent" if status is not None else "",
            extra={"package_id": package_id, "agency": agency},
        )
        return ConfirmResult(package_id, outcome_now, status.package_id if status else "")

    def mark_processing(
        self, agency: str, package_id: str, note: str, *, mailbox: str = ""
    ) -> Delivery:
        """Record that the recipient is working on a delivery; it stays pending (listed)."""
        self._parts.agency(agency)
        box = self._mailbox(agency, mailbox, package_id)
        delivery = self._parts.store.mark_progress(
            package_id, box, "processing", note, self._parts.now_micros()
        )
        if delivery is None:
            raise _not_found(package_id, agency)
        log.info(
            "%s %s processing by %s",
            delivery.kind,
            package_id,
            box,
            extra={"package_id": package_id, "agency": box},
        )
        return delivery

    def _mailbox(self, agency: str, mailbox: str, package_id: str) -> str:
        if mailbox and mailbox != agency and not self._delegation.acts_for(agency, mailbox):
            raise _not_found(package_id, agency)
        return mailbox or agency

    # -- traces ---------------------------------------------------------------------------------
    def get_traces(
        self,
        agency: str,
        document_id: str = "",
        package_id: str = "",
        since: dt.datetime | None = None,
    ) -> list[TraceEntry]:
        self._parts.agency(agency)
        if package_id:
            document_id = self._visible_package(agency, package_id).document_id
        if not document_id:
            raise BadRequest("N.GetTraces.DocumentId", "give a documentId or a packageId")
        start = to_micros(since) if since is not None else 0
        return [_trace_entry(row) for row in self._parts.store.traces(agency, document_id, start)]

    def get_traces_to(
        self, agency: str, since: dt.datetime, limit: int = MAX_PENDING_PAGE
    ) -> list[TraceEntry]:
        """Statuses addressed to the agency (about any document it sent), recorded at or after
        ``since``, oldest first: the feed a legacy client polls (GetTraces). A read."""
        self._parts.agency(agency)
        limit = MAX_PENDING_PAGE if limit <= 0 else min(limit, MAX_PENDING_PAGE)
        rows = self._parts.store.traces_to(agency, to_micros(since), limit)
        return [_trace_entry(r) for r in rows]

    # -- the legacy dialect's numbers -----------------------------------------------------------
    def legacy_id(self, package_id: str) -> int:
        """The legacy eDoc dialect's number for a package (given on first use, then fixed)."""
        return self._parts.store.legacy_id(package_id)

    def legacy_package_id(self, legacy_id: int) -> str | None:
        return self._parts.store.legacy_package_id(legacy_id)


def _page_limit(kind: str, limit: int) -> int:
    if kind not in KINDS:
        raise BadRequest("R.GetPending.Kind", f"kind must be document or status, not {kind!r}")
    return MAX_PENDING_PAGE if limit <= 0 else min(limit, MAX_PENDING_PAGE)


def _not_found(package_id: str, agency: str) -> NotFound:
    return NotFound("N.Package", f"no package {package_id} for agency {agency}", "packageId")


def _trace_entry(row: TraceRow) -> TraceEntry:
    """A stored trace as the operations return it (status time as written, read as ICT)."""
    return TraceEntry(
        status_package_id=row.status_package_id,
        from_agency=row.from_agency,
        to_agency=row.to_agency,
        status_code=row.status_code,
        description=row.description,
        status_time=(
            dt.datetime.strptime(row.status_time, "%Y/%m/%d %H:%M:%S").replace(tzinfo=ICT)
            if row.status_time
            else None
        ),
        recorded_at=from_micros(row.recorded_at),
        document_id=row.document_id,
        kind=row.kind,
        outcome=row.outcome,
        error_code=row.error_code,
        recipients=row.recipients,
        upstream=row.upstream,
    )
