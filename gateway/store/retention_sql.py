"""Retention's tables work (mixed into :class:`gateway.store.sql.SqlStore`).

A package is purged (loses its content) only when nothing may still read it: no delivery is
pending and no upstream send is queued or dead (a dead letter may be requeued). Purging drops
the package's ``package_blobs`` rows except its receipt's and stamps ``purged_at``; its row, with
the identity duplicate detection needs, stays until it is forgotten. Each batch is one
transaction with its audit record, so a crash leaves a batch wholly done or not at all. Every
blob a package needs is in ``package_blobs`` (the exchange's keeper writes them all there), so
that table alone tells the collector what is still referenced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store.crash import crash_point
from gateway.store.engine import Query, SqlDatabase, append_audit

_ELIGIBLE = (
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.package_id = p.id AND d.state = 'pending')"
    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.package_id = p.id"
    " AND o.state IN ('queued', 'dead'))"
)
"""Nothing may still read the package: every delivery and every upstream send is over."""

_DEPENDANTS = (
    "signature_checks",
    "legacy_ids",
    "outbox",
    "deliveries",
    "package_blobs",
    "package_index",
    "package_recipients",
)
"""Tables whose rows name a package by ``package_id`` (``traces`` names it otherwise); the
console's index and recipient rows go with the identity (the SQLite subject index follows by
trigger; the index row goes first, so removing its recipients has no parties to re-index)."""


def _page(
    host: SqlDatabase, condition: str, kind: str, before: int, after: tuple[int, str], limit: int
) -> list[tuple[int, str]]:
    with host._tx("read") as q:
        rows = q.all(
            "SELECT p.received_at, p.id FROM packages p WHERE p.kind = ? AND p.received_at < ?"
            " AND (p.received_at > ? OR (p.received_at = ? AND p.id > ?))"
            f" AND {condition} ORDER BY p.received_at, p.id LIMIT ?",
            (kind, before, after[0], after[0], after[1], limit),
        )
    return [(int(r["received_at"]), str(r["id"])) for r in rows]


def _locked(q: Query, ids: Sequence[str], condition: str) -> list[str]:
    """Those of ``ids`` that still meet ``condition``, locked until the transaction ends (on
    PostgreSQL; SQLite has one writer at a time): a batch another node did meanwhile is not
    done twice."""
    if not ids:
        return []
    lock = " FOR UPDATE" if q.dialect.name == "postgres" else ""
    rows = q.all(
        f"SELECT p.id FROM packages p WHERE p.id IN ({_marks(ids)}) AND {condition}"
        f" ORDER BY p.id{lock}",
        tuple(ids),
    )
    return [str(r["id"]) for r in rows]


def _record(
    q: Query,
    now: int,
    event: str,
    actor: str,
    ids: Sequence[str],
    details: dict[str, Any],
) -> None:
    """The batch's audit record, in its transaction: which packages, how many, why."""
    facts = {**details, "count": len(ids), "packages": ",".join(ids)}
    append_audit(q, now, event, actor, ids[0], facts)


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class RetentionTables(SqlDatabase):
    """Purge, forget, and the collector's question (is this blob still referenced?)."""

    def purge_candidates(
        self, kind: str, before: int, after: tuple[int, str], limit: int
    ) -> list[tuple[int, str]]:
        """(received_at, id) of packages of ``kind`` received before ``before`` whose content
        may go, after ``after`` in that order (keyset paging: bounded work per page)."""
        return _page(self, f"p.purged_at = 0 AND {_ELIGIBLE}", kind, before, after, limit)

    def purge_packages(
        self, ids: Sequence[str], now: int, actor: str, details: dict[str, Any]
    ) -> list[str]:
        """Drop the content references of these packages (their receipt stays) and record it;
        returns the ids purged now (one already purged, e.g. by another node, is skipped)."""
        with self._tx() as q:
            purged = _locked(q, ids, f"p.purged_at = 0 AND {_ELIGIBLE}")
            if not purged:
                return []
            marks = _marks(purged)
            q.run(
                f"DELETE FROM package_blobs WHERE package_id IN ({marks}) AND blob_sha256 <> "
                "(SELECT p.receipt_sha256 FROM packages p WHERE p.id = package_blobs.package_id)",
                tuple(purged),
            )
            q.run(f"UPDATE packages SET purged_at = ? WHERE id IN ({marks})", (now, *purged))
            crash_point("purge.tx")  # inside the transaction: a crash here undoes the batch
            _record(q, now, "retention.purged", actor, purged, details)
        return purged

    def forget_candidates(
        self, kind: str, before: int, after: tuple[int, str], limit: int
    ) -> list[tuple[int, str]]:
        """Purged packages of ``kind`` received before ``before``: their identity may go."""
        return _page(self, "p.purged_at > 0", kind, before, after, limit)

    def forget_packages(
        self, ids: Sequence[str], now: int, actor: str, details: dict[str, Any]
    ) -> list[str]:
        """Delete purged packages' rows and every row naming them, and record it."""
        with self._tx() as q:
            gone = _locked(q, ids, "p.purged_at > 0")
            if not gone:
                return []
            marks = _marks(gone)
            for table in _DEPENDANTS:
                q.run(f"DELETE FROM {table} WHERE package_id IN ({marks})", tuple(gone))
            q.run(f"DELETE FROM traces WHERE status_package_id IN ({marks})", tuple(gone))
            q.run(f"DELETE FROM packages WHERE id IN ({marks})", tuple(gone))
            _record(q, now, "retention.forgotten", actor, gone, details)
        return gone

    def referenced_blobs(self, digests: Sequence[str]) -> set[str]:
        """Which of these blobs some package still needs."""
        if not digests:
            return set()
        with self._tx("read") as q:
            rows = q.all(
                f"SELECT DISTINCT blob_sha256 FROM package_blobs"
                f" WHERE blob_sha256 IN ({_marks(digests)})",
                tuple(digests),
            )
        return {str(r["blob_sha256"]) for r in rows}
