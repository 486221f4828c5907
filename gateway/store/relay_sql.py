"""The relay's tables: agency directory, outbox and leases (mixed into :class:`SqlStore`).

Every state change is one transaction and writes its audit record in that transaction, so a
crash leaves either the change and its record, or neither. Outbox items are claimed with a
lease (owner + expiry): a node that dies mid-send loses its claims when the lease runs out, and
another node takes them over. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` (concurrent
claimers never block on or share an item); SQLite's ``BEGIN IMMEDIATE`` admits one writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.store.base import NewOutbound, NewPackage, StorageError

if TYPE_CHECKING:
    from gateway.store.sql import _Q, Mode, PostgresDialect, Row, SqliteDialect

OUTBOX_STATES = ("queued", "sent", "dead", "cancelled")
_OUTBOX_COLUMNS = (
    "id, package_id, upstream, kind, sender, recipients, document_key, blob_sha256, size, "
    "state, attempts, next_attempt_at, lease_owner, lease_expires_at, last_error, remote_id, "
    "created_at, updated_at"
)
_DIRECTORY_COLUMNS = "code, code_qd20, name, email, parent, kind, upstream, source, updated_at"


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """An agency reached through an upstream (``kind='upstream'``) or a peer gateway
    (``kind='peer'``); both code forms are kept as the upstream gave them."""

    code: str
    upstream: str
    name: str = ""
    code_qd20: str = ""
    email: str = ""
    parent: str = ""
    kind: str = "upstream"
    source: str = "sync"
    """``sync`` (from the upstream's list), ``manual`` (an operator) or ``learned`` (a package
    arrived from that agency through the upstream)."""
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    package_id: str
    upstream: str
    kind: str
    sender: str
    recipients: tuple[str, ...]
    document_key: str
    blob_sha256: str
    size: int
    state: str
    attempts: int
    next_attempt_at: int
    lease_owner: str
    lease_expires_at: int
    last_error: str
    remote_id: str
    created_at: int
    updated_at: int


class _Host(Protocol):
    dialect: SqliteDialect | PostgresDialect

    def _tx(self, mode: Mode = ...) -> contextlib.AbstractContextManager[_Q]: ...

    @staticmethod
    def _audit(
        q: _Q, at: int, event: str, actor: str, subject: str, details: dict[str, Any]
    ) -> None: ...


def insert_outbound(q: _Q, package: NewPackage, outbound: NewOutbound) -> None:
    """Queue a send inside the accepting transaction (called by ``SqlStore.accept``)."""
    q.run(
        "INSERT INTO outbox (package_id, upstream, kind, sender, recipients, document_key, "
        "blob_sha256, size, state, next_attempt_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
        (
            package.package_id,
            outbound.upstream,
            package.kind,
            package.sender,
            ",".join(outbound.recipients),
            outbound.document_key,
            outbound.blob_sha256,
            outbound.size,
            package.received_at,
            package.received_at,
            package.received_at,
        ),
    )


class RelayTables:
    """Directory, outbox and lease operations of the SQL store."""

    # -- directory ---------------------------------------------------------------------------
    def upsert_directory(
        self: _Host, entries: Sequence[DirectoryEntry], now: int, actor: str
    ) -> tuple[int, int]:
        """Insert or refresh entries (never deletes); returns (added, updated). A code that is
        a local agency is skipped: a mailbox here always wins over a remote listing."""
        added = updated = 0
        with self._tx() as q:
            for e in entries:
                if q.one("SELECT 1 FROM agencies WHERE code = ?", (e.code,)) is not None:
                    continue
                existing = q.one("SELECT source FROM directory WHERE code = ?", (e.code,))
                if existing is not None and existing[0] == "manual" and e.source != "manual":
                    continue  # an operator's entry is not overwritten by a sync
                q.run(
                    "INSERT INTO directory (code, code_qd20, name, email, parent, kind, upstream, "
                    "source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (code) DO UPDATE SET code_qd20 = excluded.code_qd20, "
                    "name = excluded.name, email = excluded.email, parent = excluded.parent, "
                    "kind = excluded.kind, upstream = excluded.upstream, "
                    "source = excluded.source, updated_at = excluded.updated_at",
                    (
                        e.code,
                        e.code_qd20,
                        e.name,
                        e.email,
                        e.parent,
                        e.kind,
                        e.upstream,
                        e.source,
                        now,
                    ),
                )
                if existing is None:
                    added += 1
                else:
                    updated += 1
            self._audit(
                q,
                now,
                "directory.synced" if actor == "relay" else "admin.directory.changed",
                actor,
                ",".join(sorted({e.upstream for e in entries})),
                {"added": added, "updated": updated, "listed": len(entries)},
            )
        return added, updated

    def learn_directory(self: _Host, code: str, upstream: str, now: int) -> None:
        """Remember that ``code`` is reached through ``upstream`` unless it is already known."""
        with self._tx() as q:
            if q.one("SELECT 1 FROM agencies WHERE code = ?", (code,)) is not None:
                return
            q.run(
                "INSERT INTO directory (code, kind, upstream, source, updated_at) "
                "VALUES (?, 'upstream', ?, 'learned', ?) ON CONFLICT (code) DO NOTHING",
                (code, upstream, now),
            )

    def directory_entry(self: _Host, code: str) -> DirectoryEntry | None:
        """The entry whose QCVN 102 code or QĐ 20 code is ``code``."""
        with self._tx("read") as q:
            row = q.one(f"SELECT {_DIRECTORY_COLUMNS} FROM directory WHERE code = ?", (code,))
            if row is None:
                row = q.one(
                    f"SELECT {_DIRECTORY_COLUMNS} FROM directory WHERE code_qd20 = ? "
                    "ORDER BY code LIMIT 1",
                    (code,),
                )
        return _directory(row) if row else None

    def list_directory(self: _Host) -> list[DirectoryEntry]:
        with self._tx("read") as q:
            rows = q.all(f"SELECT {_DIRECTORY_COLUMNS} FROM directory ORDER BY code")
        return [_directory(row) for row in rows]

    # -- outbox ------------------------------------------------------------------------------
    def claim_outbox(
        self: _Host, upstream: str, owner: str, now: int, lease_until: int, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due items for one upstream.

        An item is due when it is queued, its retry time has come, nobody holds a live lease on
        it, and no earlier queued item about the same document waits for the same upstream
        (so a status or revoke never overtakes its document).
        """
        query = (
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE o.upstream = ? AND o.state = 'queued' "
            "AND o.next_attempt_at <= ? AND o.lease_expires_at <= ? AND NOT EXISTS ("
            "SELECT 1 FROM outbox e WHERE e.upstream = o.upstream "
            "AND e.document_key = o.document_key AND e.state = 'queued' AND e.id < o.id) "
            "ORDER BY o.next_attempt_at, o.id LIMIT ?"
        )
        if self.dialect.name == "postgres":
            query += " FOR UPDATE SKIP LOCKED"
        with self._tx() as q:
            rows = q.all(query, (upstream, now, now, limit))
            for row in rows:
                q.run(
                    "UPDATE outbox SET lease_owner = ?, lease_expires_at = ?, updated_at = ? "
                    "WHERE id = ?",
                    (owner, lease_until, now, row[0]),
                )
        return [
            _outbox(row, lease_owner=owner, lease_expires_at=lease_until, updated_at=now)
            for row in rows
        ]

    def release_outbox(self: _Host, item_id: int, owner: str, now: int) -> None:
        """Give a claimed item back untried (its upstream's circuit opened meanwhile)."""
        with self._tx() as q:
            q.run(
                "UPDATE outbox SET lease_owner = '', lease_expires_at = 0, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND state = 'queued'",
                (now, item_id, owner),
            )

    def finish_outbox(
        self: _Host,
        item_id: int,
        owner: str,
        now: int,
        state: str,
        *,
        error: str = "",
        remote_id: str = "",
        next_attempt_at: int = 0,
    ) -> OutboxItem | None:
        """Record one attempt's outcome: ``sent``, ``queued`` (retry at ``next_attempt_at``)
        or ``dead``. None when this owner's lease was lost (another node took the item over;
        its outcome is the one that counts)."""
        if state not in ("sent", "queued", "dead"):
            raise ValueError(f"an attempt cannot end in state {state!r}")
        with self._tx() as q:
            row = q.one(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "lease_owner = '', lease_expires_at = 0, last_error = ?, remote_id = ?, "
                "updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'queued' "
                f"RETURNING {_OUTBOX_COLUMNS}",
                (state, next_attempt_at, error, remote_id, now, item_id, owner),
            )
            if row is None:
                return None
            item = _outbox(row)
            event = {"sent": "relay.sent", "queued": "relay.retry", "dead": "relay.dead"}[state]
            details: dict[str, Any] = {
                "outbox_id": item.id,
                "upstream": item.upstream,
                "attempt": item.attempts,
                "recipients": ",".join(item.recipients),
                "node": owner,
            }
            if error:
                details["error"] = error
            if remote_id:
                details["remote_id"] = remote_id
            if state == "queued":
                details["next_attempt_at"] = next_attempt_at
            self._audit(q, now, event, "relay", item.package_id, details)
        return item

    def expire_outbox(self: _Host, now: int, created_before: int, reason: str) -> int:
        """Dead-letter queued items older than the age limit (even if never claimable)."""
        with self._tx() as q:
            rows = q.all(
                f"UPDATE outbox SET state = 'dead', last_error = ?, updated_at = ?, "
                "lease_owner = '', lease_expires_at = 0 WHERE state = 'queued' "
                f"AND created_at < ? AND lease_expires_at <= ? RETURNING {_OUTBOX_COLUMNS}",
                (reason, now, created_before, now),
            )
            for row in rows:
                item = _outbox(row)
                self._audit(
                    q,
                    now,
                    "relay.dead",
                    "relay",
                    item.package_id,
                    {
                        "outbox_id": item.id,
                        "upstream": item.upstream,
                        "attempt": item.attempts,
                        "error": reason,
                    },
                )
        return len(rows)

    def outbox_item(self: _Host, item_id: int) -> OutboxItem | None:
        with self._tx("read") as q:
            row = q.one(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (item_id,))
        return _outbox(row) if row else None

    def outbox_items(
        self: _Host, state: str = "", upstream: str = "", package_id: str = "", limit: int = 100
    ) -> list[OutboxItem]:
        where, params = [], []
        for column, value in (("state", state), ("upstream", upstream), ("package_id", package_id)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox {clause}ORDER BY id LIMIT ?",
                (*params, limit),
            )
        return [_outbox(row) for row in rows]

    def outbox_counts(self: _Host) -> dict[str, int]:
        with self._tx("read") as q:
            rows = q.all("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {str(row[0]): int(row[1]) for row in rows}

    def retry_outbox(self: _Host, item_id: int, now: int, actor: str) -> OutboxItem:
        """Queue an item again now (a dead letter or a cancelled one gets fresh attempts)."""
        return _admin_change(
            self,
            item_id,
            now,
            actor,
            "admin.outbox.retry",
            "UPDATE outbox SET state = 'queued', attempts = CASE WHEN state = 'queued' "
            "THEN attempts ELSE 0 END, created_at = CASE WHEN state = 'queued' THEN created_at "
            "ELSE ? END, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state <> 'sent' "
            f"RETURNING {_OUTBOX_COLUMNS}",
            (now, now, now, item_id),
            "it was already sent",
        )

    def cancel_outbox(self: _Host, item_id: int, now: int, actor: str, reason: str) -> OutboxItem:
        """Stop relaying an item (queued or dead); a send in flight may still complete."""
        return _admin_change(
            self,
            item_id,
            now,
            actor,
            "admin.outbox.cancel",
            "UPDATE outbox SET state = 'cancelled', last_error = ?, lease_owner = '', "
            "lease_expires_at = 0, updated_at = ? WHERE id = ? AND state IN ('queued', 'dead') "
            f"RETURNING {_OUTBOX_COLUMNS}",
            (reason or "cancelled by an operator", now, item_id),
            "only a queued or dead item can be cancelled",
        )

    # -- leases ------------------------------------------------------------------------------
    def acquire_lease(self: _Host, name: str, owner: str, now: int, until: int) -> bool:
        """Take or renew a named lease; False while another owner's lease is live."""
        with self._tx() as q:
            row = q.one(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE leases.owner = excluded.owner OR leases.expires_at <= ? RETURNING owner",
                (name, owner, until, now),
            )
        return row is not None

    def release_lease(self: _Host, name: str, owner: str) -> None:
        with self._tx() as q:
            q.run("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))


def _admin_change(
    host: _Host,
    item_id: int,
    now: int,
    actor: str,
    event: str,
    sql: str,
    params: tuple[Any, ...],
    refusal: str,
) -> OutboxItem:
    with host._tx() as q:
        row = q.one(sql, params)
        if row is not None:
            item = _outbox(row)
            host._audit(
                q,
                now,
                event,
                actor,
                item.package_id,
                {"outbox_id": item.id, "upstream": item.upstream, "state": item.state},
            )
        else:
            exists = q.one("SELECT state FROM outbox WHERE id = ?", (item_id,))
    if row is None:
        if exists is None:
            raise StorageError("N.Outbox", f"no outbox item {item_id}")
        raise StorageError("R.Outbox.State", f"outbox item {item_id} is {exists[0]}: {refusal}")
    return item


def _directory(row: Row) -> DirectoryEntry:
    return DirectoryEntry(
        code=row[0],
        code_qd20=row[1],
        name=row[2],
        email=row[3],
        parent=row[4],
        kind=row[5],
        upstream=row[6],
        source=row[7],
        updated_at=int(row[8]),
    )


def _outbox(row: Row, **override: Any) -> OutboxItem:
    values: dict[str, Any] = {
        "id": int(row[0]),
        "package_id": row[1],
        "upstream": row[2],
        "kind": row[3],
        "sender": row[4],
        "recipients": tuple(code for code in str(row[5]).split(",") if code),
        "document_key": row[6],
        "blob_sha256": row[7],
        "size": int(row[8]),
        "state": row[9],
        "attempts": int(row[10]),
        "next_attempt_at": int(row[11]),
        "lease_owner": row[12],
        "lease_expires_at": int(row[13]),
        "last_error": row[14],
        "remote_id": row[15],
        "created_at": int(row[16]),
        "updated_at": int(row[17]),
    }
    values.update(override)
    return OutboxItem(**values)
