"""Delegated agencies' queries (a base of :class:`gateway.store.sql.SqlStore`): an agency's
children, the mailboxes of several agencies at once, transport progress, and what a set of
senders sent.

A parent agency acts for the agencies registered under it (the national axis's centre model,
reference §4.4), so the adapters that serve it read several mailboxes as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store.engine import SqlDatabase, append_audit
from gateway.store.records import AgencyRecord, Delivery, SentRow, StoredPackage
from gateway.store.rows import (
    AGENCY_COLUMNS,
    DELIVERY_BY_KEY,
    DELIVERY_COLUMNS,
    PACKAGE_COLUMNS,
    agency_from,
    codes,
    delivery_from,
    package_from,
    select,
)

_MAX_CODES = 500
"""Bound on the codes one query names (a parent with more children is an operator's error)."""


def _marks(codes: Sequence[str]) -> str:
    if not codes or len(codes) > _MAX_CODES:
        raise ValueError(f"between 1 and {_MAX_CODES} agency codes, not {len(codes)}")
    return ", ".join("?" for _ in codes)


class DelegationTables(SqlDatabase):
    """Queries over several agencies at once, for a parent acting for its children."""

    def agency_children(self, parent: str) -> list[AgencyRecord]:
        """The agencies registered directly under ``parent`` (enabled or not), by code."""

        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {AGENCY_COLUMNS} FROM agencies WHERE parent = ? ORDER BY code", (parent,)
            )
        return [agency_from(row) for row in rows]

    def deliveries_of(self, package_id: str) -> list[Delivery]:
        """Every mailbox delivery of one package, oldest first."""

        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE package_id = ? ORDER BY seq",
                (package_id,),
            )
        return [delivery_from(row) for row in rows]

    def pending_in(
        self, recipients: Sequence[str], kind: str, limit: int
    ) -> list[tuple[Delivery, StoredPackage]]:
        """Pending deliveries of a kind to any of ``recipients``, in arrival order."""

        delivery_columns = select(DELIVERY_COLUMNS, "d", "d_")
        package_columns = select(PACKAGE_COLUMNS, "p", "p_")
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {delivery_columns}, {package_columns} FROM deliveries d "
                "JOIN packages p ON p.id = d.package_id "
                f"WHERE d.recipient IN ({_marks(recipients)}) AND d.kind = ? "
                "AND d.state = 'pending' ORDER BY d.seq LIMIT ?",
                (*recipients, kind, limit),
            )
        return [(delivery_from(row, "d_"), package_from(row, "p_")) for row in rows]

    def mark_progress(
        self, package_id: str, recipient: str, progress: str, note: str, now: int
    ) -> Delivery | None:
        """Record that the recipient is working on a pending delivery (audited as
        ``delivery.<progress>``); a finished delivery is returned unchanged; None if absent."""

        with self._tx() as q:
            changed = q.one(
                "UPDATE deliveries SET progress = ?, progress_note = ? "
                "WHERE package_id = ? AND recipient = ? AND state = 'pending' RETURNING seq",
                (progress, note, package_id, recipient),
            )
            if changed is not None:
                append_audit(
                    q,
                    now,
                    f"delivery.{progress}",
                    recipient,
                    package_id,
                    {"note": note} if note else {},
                )
            row = q.one(DELIVERY_BY_KEY, (package_id, recipient))
        return delivery_from(row) if row else None

    def sent_by(
        self, senders: Sequence[str], kind: str, package_id: str, limit: int
    ) -> list[SentRow]:
        """Packages of a kind that any of ``senders`` sent (or just ``package_id``), newest
        first, up to ``limit`` packages: one row per local recipient and per upstream
        recipient."""

        package_columns = select(PACKAGE_COLUMNS, "p", "p_")
        where = f"p.sender IN ({_marks(senders)}) AND p.kind = ?"
        params: tuple[Any, ...] = (*senders, kind)
        if package_id:
            where += " AND p.id = ?"
            params += (package_id,)
        with self._tx("read") as q:
            packages = [
                package_from(row, "p_")
                for row in q.all(
                    f"SELECT {package_columns} FROM packages p WHERE {where} "
                    "ORDER BY p.received_at DESC, p.id LIMIT ?",
                    (*params, limit),
                )
            ]
            if not packages:
                return []
            ids = [p.package_id for p in packages]
            local = q.all(
                "SELECT package_id, recipient, state, reason, COALESCE(done_at, 0) AS done_at, "
                "progress "
                f"FROM deliveries WHERE package_id IN ({_marks(ids)}) ORDER BY seq",
                ids,
            )
            remote = q.all(
                "SELECT package_id, upstream, recipients, state, last_error, updated_at, "
                f"remote_id, last_error_code FROM outbox WHERE package_id IN ({_marks(ids)}) "
                "ORDER BY id",
                ids,
            )
        by_id = {p.package_id: p for p in packages}
        rows: dict[str, list[SentRow]] = {p.package_id: [] for p in packages}
        for d in local:
            rows[d["package_id"]].append(
                SentRow(
                    by_id[d["package_id"]],
                    d["recipient"],
                    "local",
                    d["state"],
                    d["reason"],
                    int(d["done_at"]),
                    "",
                    d["progress"],
                )
            )
        for o in remote:
            for recipient in codes(o["recipients"]):
                rows[o["package_id"]].append(
                    SentRow(
                        by_id[o["package_id"]],
                        recipient,
                        o["upstream"],
                        o["state"],
                        o["last_error"],
                        int(o["updated_at"]),
                        o["remote_id"],
                        error_code=o["last_error_code"],
                    )
                )
        return [row for p in packages for row in rows[p.package_id]]
