"""What operations reads from the store (a base of :class:`gateway.store.sql.SqlStore`): each
upstream's contact health, and the gauges health checks and ``/metrics`` compute at the moment
they are asked (mailbox backlog, outbox depth, the oldest undelivered package).

Reads are plain aggregate queries over indexed columns; the one write, a contact outcome, is an
upsert of one row per upstream that the relay throttles (``gateway.relay.contact``). Backups
read through here too: an online SQLite snapshot, the blobs rows name, an integrity check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.errors import StorageError
from gateway.store.engine import SqlDatabase
from gateway.store.records import OutboxDepth, UpstreamHealth

__all__ = ["OpsTables", "OutboxDepth", "UpstreamHealth"]


class OpsTables(SqlDatabase):
    """Upstream contact health and the operational gauges of the SQL store."""

    def record_upstream_contact(
        self, upstream: str, ok: bool, now: int, error: str = "", *, polled: bool = False
    ) -> None:
        """Record one contact outcome; a failure keeps the start of the current failing run.
        ``polled``: a successful listing by the poller (it also moves ``last_poll_at``)."""
        with self._tx("cache") as q:
            if ok:
                q.run(
                    "INSERT INTO upstream_health (upstream, last_ok_at, failing_since, "
                    "last_poll_at, updated_at) VALUES (?, ?, 0, ?, ?) ON CONFLICT (upstream) DO "
                    "UPDATE SET last_ok_at = excluded.last_ok_at, failing_since = 0, "
                    "last_poll_at = CASE WHEN excluded.last_poll_at > 0 THEN "
                    "excluded.last_poll_at ELSE upstream_health.last_poll_at END, "
                    "updated_at = excluded.updated_at",
                    (upstream, now, now if polled else 0, now),
                )
            else:
                q.run(
                    "INSERT INTO upstream_health (upstream, last_failure_at, failing_since, "
                    "last_error, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (upstream) DO "
                    "UPDATE SET last_failure_at = excluded.last_failure_at, failing_since = "
                    "CASE WHEN upstream_health.failing_since = 0 THEN excluded.failing_since "
                    "ELSE upstream_health.failing_since END, last_error = excluded.last_error, "
                    "updated_at = excluded.updated_at",
                    (upstream, now, now, error[:500], now),
                )

    def upstream_health(self) -> list[UpstreamHealth]:
        with self._tx("read") as q:
            rows = q.all(
                "SELECT upstream, last_ok_at, last_failure_at, failing_since, last_error, "
                "updated_at, last_poll_at FROM upstream_health ORDER BY upstream"
            )
        return [
            UpstreamHealth(
                upstream=str(r["upstream"]),
                last_ok_at=int(r["last_ok_at"]),
                last_failure_at=int(r["last_failure_at"]),
                failing_since=int(r["failing_since"]),
                last_error=str(r["last_error"]),
                updated_at=int(r["updated_at"]),
                last_poll_at=int(r["last_poll_at"]),
            )
            for r in rows
        ]

    def outbox_depth(self) -> list[OutboxDepth]:
        """Items by upstream and state (sent ones included: a counter's worth of history)."""
        with self._tx("read") as q:
            rows = q.all(
                "SELECT upstream, state, COUNT(*) AS items, MIN(created_at) AS oldest FROM outbox "
                "GROUP BY upstream, state ORDER BY upstream, state"
            )
        return [
            OutboxDepth(
                upstream=str(r["upstream"]),
                state=str(r["state"]),
                count=int(r["items"]),
                oldest_created_at=int(r["oldest"] or 0),
            )
            for r in rows
        ]

    def mailbox_backlog(self) -> dict[tuple[str, str], int]:
        """Pending local deliveries by (recipient, kind): what agencies have not fetched."""
        with self._tx("read") as q:
            rows = q.all(
                "SELECT recipient, kind, COUNT(*) AS items FROM deliveries "
                "WHERE state = 'pending' GROUP BY recipient, kind"
            )
        return {(str(r["recipient"]), str(r["kind"])): int(r["items"]) for r in rows}

    def oldest_pending_delivery_at(self) -> int:
        """``created_at`` of the oldest local delivery not yet confirmed (0: none)."""
        with self._tx("read") as q:
            row = q.one(
                "SELECT MIN(created_at) AS oldest FROM deliveries WHERE state = 'pending'"
            )
        return int(row["oldest"]) if row and row["oldest"] is not None else 0

    # -- backup -------------------------------------------------------------------------------
    def package_count(self) -> int:
        with self._tx("read") as q:
            row = q.one("SELECT COUNT(*) AS n FROM packages")
        return int(row["n"]) if row else 0

    def all_referenced_blobs(self) -> set[str]:
        """Every blob a row names: packages, their attachments, receipts, raw requests and
        outbox bundles (a restore must find each one)."""
        with self._tx("read") as q:
            rows = q.all(
                "SELECT blob_sha256 AS digest FROM packages "
                "UNION SELECT receipt_sha256 FROM packages UNION SELECT raw_sha256 FROM packages "
                "UNION SELECT blob_sha256 FROM package_blobs UNION SELECT blob_sha256 FROM outbox"
            )
        return {str(r["digest"]) for r in rows if r["digest"]}

    def snapshot_sqlite(self, target: Path) -> None:
        """Copy the SQLite database to ``target`` with the online backup API: one consistent
        moment, while other connections go on writing."""
        if self.dialect.name != "sqlite":
            raise StorageError("M.Backup.Engine", "an online snapshot needs the SQLite engine")
        destination = sqlite3.connect(target)
        try:
            self._connection().backup(destination, pages=1024)
        finally:
            destination.close()

    def sqlite_integrity(self) -> str:
        """``PRAGMA integrity_check``: empty when the database is sound, else the first problem."""
        with self._tx("read") as q:
            row = q.one("PRAGMA integrity_check")
        verdict = str(next(iter(row.values()))) if row else "no answer"
        return "" if verdict == "ok" else verdict
