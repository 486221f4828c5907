"""Delegated agencies' queries (mixed into :class:`SqlStore`): an agency's children, the
mailboxes of several agencies at once, transport progress, and what a set of senders sent.

A parent agency acts for the agencies registered under it (the national axis's centre model,
reference §4.4), so the adapters that serve it read several mailboxes as one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.store.base import AgencyRecord, Delivery, StoredPackage

if TYPE_CHECKING:
    from gateway.store.sql import _Q, Mode, PostgresDialect, SqliteDialect

_MAX_CODES = 500
"""Bound on the codes one query names (a parent with more children is an operator's error)."""


@dataclass(frozen=True, slots=True)
class SentRow:
    """One recipient of a package a sender sent: a local mailbox or an upstream's send."""

    package: StoredPackage
    recipient: str
    route: str
    """``local``, or the name of the upstream the package is queued for."""
    state: str
    """A delivery's ``pending``/``confirmed``/``failed``, or an outbox ``queued``/``sent``/
    ``dead``/``cancelled``."""
    reason: str
    """The recipient's reason (local) or the last relay error (upstream)."""
    updated_at: int
    """When the state last changed (0 while a local delivery is still pending)."""
    remote_id: str = ""
    """The upstream's id for the send, once sent."""
    progress: str = ""


class _Host(Protocol):
    dialect: SqliteDialect | PostgresDialect

    def _tx(self, mode: Mode = ...) -> contextlib.AbstractContextManager[_Q]: ...

    @staticmethod
    def _audit(
        q: _Q, at: int, event: str, actor: str, subject: str, details: dict[str, Any]
    ) -> None: ...


def _marks(codes: Sequence[str]) -> str:
    if not codes or len(codes) > _MAX_CODES:
        raise ValueError(f"between 1 and {_MAX_CODES} agency codes, not {len(codes)}")
    return ", ".join("?" for _ in codes)


class DelegationTables:
    """Queries over several agencies at once, for a parent acting for its children."""

    def agency_children(self: _Host, parent: str) -> list[AgencyRecord]:
        """The agencies registered directly under ``parent`` (enabled or not), by code."""
        from gateway.store.sql import _AGENCY_COLUMNS, _agency

        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE parent = ? ORDER BY code", (parent,)
            )
        return [_agency(row) for row in rows]

    def deliveries_of(self: _Host, package_id: str) -> list[Delivery]:
        """Every mailbox delivery of one package, oldest first."""
        from gateway.store.sql import _DELIVERY_COLUMNS, _delivery

        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE package_id = ? ORDER BY seq",
                (package_id,),
            )
        return [_delivery(row) for row in rows]

    def pending_in(
        self: _Host, recipients: Sequence[str], kind: str, limit: int
    ) -> list[tuple[Delivery, StoredPackage]]:
        """Pending deliveries of a kind to any of ``recipients``, in arrival order."""
        from gateway.store.sql import _DELIVERY_COLUMNS, _PACKAGE_COLUMNS, _delivery, _package

        delivery_columns = ", ".join(f"d.{c.strip()}" for c in _DELIVERY_COLUMNS.split(","))
        package_columns = ", ".join(f"p.{c.strip()}" for c in _PACKAGE_COLUMNS.split(","))
        width = len(_DELIVERY_COLUMNS.split(","))
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {delivery_columns}, {package_columns} FROM deliveries d "
                "JOIN packages p ON p.id = d.package_id "
                f"WHERE d.recipient IN ({_marks(recipients)}) AND d.kind = ? "
                "AND d.state = 'pending' ORDER BY d.seq LIMIT ?",
                (*recipients, kind, limit),
            )
        return [(_delivery(row[:width]), _package(row[width:])) for row in rows]

    def mark_progress(
        self: _Host, package_id: str, recipient: str, progress: str, note: str, now: int
    ) -> Delivery | None:
        """Record that the recipient is working on a pending delivery (audited as
        ``delivery.<progress>``); a finished delivery is returned unchanged; None if absent."""
        from gateway.store.sql import _DELIVERY_BY_KEY, _delivery

        with self._tx() as q:
            changed = q.one(
                "UPDATE deliveries SET progress = ?, progress_note = ? "
                "WHERE package_id = ? AND recipient = ? AND state = 'pending' RETURNING seq",
                (progress, note, package_id, recipient),
            )
            if changed is not None:
                self._audit(
                    q,
                    now,
                    f"delivery.{progress}",
                    recipient,
                    package_id,
                    {"note": note} if note else {},
                )
            row = q.one(_DELIVERY_BY_KEY, (package_id, recipient))
        return _delivery(row) if row else None

    def sent_by(
        self: _Host, senders: Sequence[str], kind: str, package_id: str, limit: int
    ) -> list[SentRow]:
        """Packages of a kind that any of ``senders`` sent (or just ``package_id``), newest
        first, up to ``limit`` packages: one row per local recipient and per upstream
        recipient."""
        from gateway.store.sql import _PACKAGE_COLUMNS, _package

        package_columns = ", ".join(f"p.{c.strip()}" for c in _PACKAGE_COLUMNS.split(","))
        where = f"p.sender IN ({_marks(senders)}) AND p.kind = ?"
        params: tuple[Any, ...] = (*senders, kind)
        if package_id:
            where += " AND p.id = ?"
            params += (package_id,)
        with self._tx("read") as q:
            packages = [
                _package(row)
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
                "SELECT package_id, recipient, state, reason, COALESCE(done_at, 0), progress "
                f"FROM deliveries WHERE package_id IN ({_marks(ids)}) ORDER BY seq",
                ids,
            )
            remote = q.all(
                "SELECT package_id, upstream, recipients, state, last_error, updated_at, "
                f"remote_id FROM outbox WHERE package_id IN ({_marks(ids)}) ORDER BY id",
                ids,
            )
        by_id = {p.package_id: p for p in packages}
        rows: dict[str, list[SentRow]] = {p.package_id: [] for p in packages}
        for pid, recipient, state, reason, done_at, progress in local:
            rows[pid].append(
                SentRow(by_id[pid], recipient, "local", state, reason, int(done_at), "", progress)
            )
        for pid, upstream, recipients, state, error, updated_at, remote_id in remote:
            for recipient in (r for r in str(recipients).split(",") if r):
                rows[pid].append(
                    SentRow(
                        by_id[pid], recipient, upstream, state, error, int(updated_at), remote_id
                    )
                )
        return [row for p in packages for row in rows[p.package_id]]
