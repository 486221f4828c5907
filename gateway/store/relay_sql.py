"""The relay's tables: agency directory, outbox and leases (a base of
:class:`gateway.store.sql.SqlStore`).

Every state change is one transaction and writes its audit record in that transaction, so a
crash leaves either the change and its record, or neither. Outbox items are claimed with a
lease (owner + expiry): a node that dies mid-send loses its claims when the lease runs out, and
another node takes them over. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` (concurrent
claimers never block on or share an item); SQLite's ``BEGIN IMMEDIATE`` admits one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.errors import StorageError
from gateway.store.engine import Query, SqlDatabase, append_audit
from gateway.store.records import (
    OUTBOX_STATES,
    DirectoryEntry,
    NewOutbound,
    NewPackage,
    OutboxItem,
    OutboxState,
)
from gateway.store.rows import DIRECTORY_COLUMNS, OUTBOX_COLUMNS, directory_from, outbox_from

__all__ = [
    "OUTBOX_STATES",
    "DirectoryEntry",
    "OutboxItem",
    "OutboxState",
    "RelayTables",
    "insert_outbound",
    "insert_transport_trace",
    "transport_description",
]
_ATTEMPT_OUTCOMES = {
    OutboxState.SENT: "relay.sent",
    OutboxState.QUEUED: "relay.retry",
    OutboxState.DEAD: "relay.dead",
}
"""How an attempt may end, and the audit event each outcome records."""


def insert_outbound(q: Query, package: NewPackage, outbound: NewOutbound) -> None:
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


class RelayTables(SqlDatabase):
    """Directory, outbox and lease operations of the SQL store."""

    # -- directory ---------------------------------------------------------------------------
    def upsert_directory(
        self, entries: Sequence[DirectoryEntry], now: int, actor: str
    ) -> tuple[int, int]:
        """Insert or refresh entries (never deletes); returns (added, updated). A code that is
        a local agency is skipped: a mailbox here always wins over a remote listing."""
        added = updated = 0
        with self._tx() as q:
            for e in entries:
                if q.one("SELECT 1 FROM agencies WHERE code = ?", (e.code,)) is not None:
                    continue
                existing = q.one("SELECT source FROM directory WHERE code = ?", (e.code,))
                if existing is not None and existing["source"] == "manual" and e.source != "manual":
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
            append_audit(
                q,
                now,
                "directory.synced" if actor == "relay" else "admin.directory.changed",
                actor,
                ",".join(sorted({e.upstream for e in entries})),
                {"added": added, "updated": updated, "listed": len(entries)},
            )
        return added, updated

    def learn_directory(self, code: str, upstream: str, now: int) -> None:
        """Remember that ``code`` is reached through ``upstream`` unless it is already known."""
        with self._tx() as q:
            if q.one("SELECT 1 FROM agencies WHERE code = ?", (code,)) is not None:
                return
            q.run(
                "INSERT INTO directory (code, kind, upstream, source, updated_at) "
                "VALUES (?, 'upstream', ?, 'learned', ?) ON CONFLICT (code) DO NOTHING",
                (code, upstream, now),
            )

    def relayed_from_here(self, sender: str, document_id: str) -> bool:
        """Whether a package from ``sender`` about ``document_id`` was queued upstream from
        here (so the same document arriving from upstream is our own send reflected back)."""
        with self._tx("read") as q:
            row = q.one(
                "SELECT 1 FROM packages p WHERE p.sender = ? AND p.document_id = ? "
                "AND EXISTS (SELECT 1 FROM outbox o WHERE o.package_id = p.id) LIMIT 1",
                (sender, document_id),
            )
        return row is not None

    def directory_entry(self, code: str) -> DirectoryEntry | None:
        """The entry whose QCVN 102 code or QĐ 20 code is ``code``."""
        with self._tx("read") as q:
            row = q.one(f"SELECT {DIRECTORY_COLUMNS} FROM directory WHERE code = ?", (code,))
            if row is None:
                row = q.one(
                    f"SELECT {DIRECTORY_COLUMNS} FROM directory WHERE code_qd20 = ? "
                    "ORDER BY code LIMIT 1",
                    (code,),
                )
        return directory_from(row) if row else None

    def list_directory(self) -> list[DirectoryEntry]:
        with self._tx("read") as q:
            rows = q.all(f"SELECT {DIRECTORY_COLUMNS} FROM directory ORDER BY code")
        return [directory_from(row) for row in rows]

    # -- outbox ------------------------------------------------------------------------------
    def claim_outbox(
        self, upstream: str, owner: str, now: int, lease_until: int, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due items for one upstream.

        An item is due when it is queued, its retry time has come, nobody holds a live lease on
        it, and no earlier queued item about the same document waits for the same upstream
        (so a status or revoke never overtakes its document).
        """
        query = (
            f"SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.upstream = ? AND o.state = 'queued' "
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
                    (owner, lease_until, now, row["id"]),
                )
        return [
            outbox_from(row, lease_owner=owner, lease_expires_at=lease_until, updated_at=now)
            for row in rows
        ]

    def release_outbox(self, item_id: int, owner: str, now: int) -> None:
        """Give a claimed item back untried (its upstream's circuit opened meanwhile)."""
        with self._tx() as q:
            q.run(
                "UPDATE outbox SET lease_owner = '', lease_expires_at = 0, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND state = 'queued'",
                (now, item_id, owner),
            )

    def finish_outbox(
        self,
        item_id: int,
        owner: str,
        now: int,
        state: OutboxState,
        *,
        error: str = "",
        error_code: str = "",
        remote_id: str = "",
        next_attempt_at: int = 0,
        reporter: str = "",
    ) -> OutboxItem | None:
        """Record one attempt's outcome: ``sent``, ``queued`` (retry at ``next_attempt_at``)
        or ``dead``. None when this owner's lease was lost (another node took the item over;
        its outcome is the one that counts).

        A dead letter also becomes a transport trace for the package's sender (from
        ``reporter``, the gateway), in the same transaction; so does a send that succeeds
        after such a failure was reported (``queue retry``)."""
        if state not in _ATTEMPT_OUTCOMES:
            raise ValueError(f"an attempt cannot end in state {state!r}")
        with self._tx() as q:
            row = q.one(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "lease_owner = '', lease_expires_at = 0, last_error = ?, last_error_code = ?, "
                "remote_id = ?, updated_at = ? WHERE id = ? AND lease_owner = ? "
                f"AND state = 'queued' RETURNING {OUTBOX_COLUMNS}",
                (str(state), next_attempt_at, error, error_code, remote_id, now, item_id, owner),
            )
            if row is None:
                return None
            item = outbox_from(row)
            if state == OutboxState.DEAD:
                insert_transport_trace(q, item, now, "failed", reporter)
            elif state == OutboxState.SENT and _failure_reported(q, item):
                insert_transport_trace(q, item, now, "delivered", reporter)
            event = _ATTEMPT_OUTCOMES[OutboxState(state)]
            details: dict[str, Any] = {
                "outbox_id": item.id,
                "upstream": item.upstream,
                "attempt": item.attempts,
                "recipients": ",".join(item.recipients),
                "node": owner,
            }
            if error:
                details["error"] = error
            if error_code:
                details["error_code"] = error_code
            if remote_id:
                details["remote_id"] = remote_id
            if state == OutboxState.QUEUED:
                details["next_attempt_at"] = next_attempt_at
            append_audit(q, now, event, "relay", item.package_id, details)
        return item

    def expire_outbox(
        self,
        now: int,
        created_before: int,
        reason: str,
        *,
        error_code: str = "",
        reporter: str = "",
    ) -> int:
        """Dead-letter queued items older than the age limit (even if never claimable); each
        becomes a transport trace for its sender, as :meth:`finish_outbox` does."""
        with self._tx() as q:
            rows = q.all(
                "UPDATE outbox SET state = 'dead', last_error = ?, last_error_code = ?, "
                "updated_at = ?, lease_owner = '', lease_expires_at = 0 WHERE state = 'queued' "
                f"AND created_at < ? AND lease_expires_at <= ? RETURNING {OUTBOX_COLUMNS}",
                (reason, error_code, now, created_before, now),
            )
            for row in rows:
                item = outbox_from(row)
                insert_transport_trace(q, item, now, "failed", reporter)
                append_audit(
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

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        with self._tx("read") as q:
            row = q.one(f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (item_id,))
        return outbox_from(row) if row else None

    def outbox_items(
        self, state: str = "", upstream: str = "", package_id: str = "", limit: int = 100
    ) -> list[OutboxItem]:
        where, params = [], []
        for column, value in (("state", state), ("upstream", upstream), ("package_id", package_id)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox {clause}ORDER BY id LIMIT ?",
                (*params, limit),
            )
        return [outbox_from(row) for row in rows]

    def outbox_counts(self) -> dict[str, int]:
        with self._tx("read") as q:
            rows = q.all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {str(row["state"]): int(row["n"]) for row in rows}

    def retry_outbox(self, item_id: int, now: int, actor: str) -> OutboxItem:
        """Queue an item again now (a dead letter or a cancelled one gets fresh attempts)."""
        return self._admin_change(
            item_id,
            now,
            actor,
            "admin.outbox.retry",
            "UPDATE outbox SET state = 'queued', attempts = CASE WHEN state = 'queued' "
            "THEN attempts ELSE 0 END, created_at = CASE WHEN state = 'queued' THEN created_at "
            "ELSE ? END, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state <> 'sent' "
            f"RETURNING {OUTBOX_COLUMNS}",
            (now, now, now, item_id),
            "it was already sent",
        )

    def cancel_outbox(self, item_id: int, now: int, actor: str, reason: str) -> OutboxItem:
        """Stop relaying an item (queued or dead); a send in flight may still complete."""
        return self._admin_change(
            item_id,
            now,
            actor,
            "admin.outbox.cancel",
            "UPDATE outbox SET state = 'cancelled', last_error = ?, lease_owner = '', "
            "lease_expires_at = 0, updated_at = ? WHERE id = ? AND state IN ('queued', 'dead') "
            f"RETURNING {OUTBOX_COLUMNS}",
            (reason or "cancelled by an operator", now, item_id),
            "only a queued or dead item can be cancelled",
        )

    # -- leases ------------------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, now: int, until: int) -> bool:
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

    def release_lease(self, name: str, owner: str) -> None:
        with self._tx() as q:
            q.run("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def _admin_change(
        self,
        item_id: int,
        now: int,
        actor: str,
        event: str,
        sql: str,
        params: tuple[Any, ...],
        refusal: str,
    ) -> OutboxItem:
        with self._tx() as q:
            row = q.one(sql, params)
            if row is not None:
                item = outbox_from(row)
                append_audit(
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
            state = exists["state"]
            raise StorageError("R.Outbox.State", f"outbox item {item_id} is {state}: {refusal}")
        return item


def transport_description(item: OutboxItem, outcome: str) -> str:
    """The sentence a sender's clerk reads for a transport outcome (Vietnamese, then English)."""
    recipients = ", ".join(item.recipients) or "?"
    if outcome == "delivered":
        return (
            f"Trục đã chuyển được văn bản đến {recipients} qua {item.upstream} sau khi gửi lại "
            f"(delivered to {recipients} through {item.upstream} after a retry)"
        )
    code = f"{item.last_error_code}: " if item.last_error_code else ""
    return (
        f"Không chuyển được văn bản đến {recipients} qua {item.upstream}; "
        f"the gateway could not deliver it to {recipients} through {item.upstream}: "
        f"{code}{item.last_error}"
    )


def insert_transport_trace(
    q: Query, item: OutboxItem, now: int, outcome: str, reporter: str
) -> None:
    """Record a relay outcome as a trace for the package's sender (kind ``transport``)."""
    row = q.one("SELECT document_id FROM packages WHERE id = ?", (item.package_id,))
    if row is None:  # the package row is gone (never for a live outbox item): nothing to report
        return
    q.run(
        "INSERT INTO traces (document_id, status_package_id, from_agency, to_agency, "
        "status_code, description, status_time, recorded_at, kind, outcome, error_code, "
        "recipients, upstream) VALUES (?, ?, ?, ?, '', ?, '', ?, 'transport', ?, ?, ?, ?)",
        (
            row["document_id"],
            item.package_id,
            reporter or "edoc-gateway",
            item.sender,
            transport_description(item, outcome),
            now,
            outcome,
            item.last_error_code if outcome == "failed" else "",
            ",".join(item.recipients),
            item.upstream,
        ),
    )


def _failure_reported(q: Query, item: OutboxItem) -> bool:
    """Whether the sender was told this send failed, and not yet that it went through."""
    row = q.one(
        "SELECT outcome FROM traces WHERE kind = 'transport' AND status_package_id = ? "
        "AND upstream = ? ORDER BY seq DESC LIMIT 1",
        (item.package_id, item.upstream),
    )
    return row is not None and row["outcome"] == "failed"
