"""Retention: confirmed and delivered packages lose their content after ``retention_*_days``,
their identity after ``retention_duplicate_days``, and the blob collector removes what no
package references any more.

Run by ``edoc-gateway packages purge [--dry-run]`` and every ``retention_interval_minutes`` by
the relay process (under a lease, so one node of several does it). The work goes in batches of
:data:`BATCH` packages, each one short transaction with its audit record (``retention.purged``,
``retention.forgotten``): memory stays bounded whatever the store's size, intake is never held
up for long, and a crash (even SIGKILL) loses at most the batch in progress, which the next run
does again. The audit log stays a valid hash chain: purging adds records, never changes one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from gateway.config import Settings
from gateway.store.base import Store
from gateway.store.blobs import BlobStore
from gateway.store.crash import crash_point

Candidates = Callable[[str, int, tuple[int, str], int], list[tuple[int, str]]]
Apply = Callable[[Sequence[str], int, str, dict[str, Any]], list[str]]
DAY = 86_400 * 1_000_000
"""A day in the store's time unit (microseconds)."""
BATCH = 500
KINDS = ("document", "status")


@dataclass(slots=True)
class RetentionReport:
    dry_run: bool = False
    purged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    """Packages that lost their content (or, dry run, would)."""
    forgotten: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    """Purged packages whose identity was dropped (or would be)."""
    blobs_removed: int = 0
    blobs_restored: int = 0
    """Blobs a crashed collection had staged, put back before this one."""

    def describe(self) -> str:
        verb = "would be" if self.dry_run else "were"
        parts = [f"{self.purged[k]} {k} package(s) purged" for k in KINDS]
        parts += [f"{self.forgotten[k]} {k} identit(ies) forgotten" for k in KINDS]
        parts.append(f"{self.blobs_removed} unreferenced blob(s) removed")
        return f"{'; '.join(parts)} ({verb} done)"


def run_retention(
    store: Store,
    blobs: BlobStore,
    settings: Settings,
    now: int,
    *,
    dry_run: bool = False,
    actor: str = "retention",
    collect: bool = True,
) -> RetentionReport:
    """Purge, forget, then collect, as the settings say; ``now`` in microseconds."""
    report = RetentionReport(dry_run=dry_run)
    days_of = {
        "document": settings.retention_document_days,
        "status": settings.retention_status_days,
    }
    for kind in KINDS:
        days = days_of[kind]
        if days:
            report.purged[kind] = _purge(store, kind, days, now, dry_run, actor)
        window = settings.retention_duplicate_days
        if window:
            report.forgotten[kind] = _forget(store, kind, window, now, dry_run, actor)
    if collect:
        grace = settings.blob_collect_grace_hours * 3600
        report.blobs_restored, report.blobs_removed = collect_blobs(
            store, blobs, cutoff=now / 1_000_000 - grace, dry_run=dry_run
        )
    return report


def _purge(store: Store, kind: str, days: int, now: int, dry_run: bool, actor: str) -> int:
    return _in_batches(
        store.purge_candidates,
        store.purge_packages,
        "purge.batch",
        kind,
        days,
        now,
        dry_run,
        actor,
    )


def _forget(store: Store, kind: str, days: int, now: int, dry_run: bool, actor: str) -> int:
    return _in_batches(
        store.forget_candidates,
        store.forget_packages,
        "forget.batch",
        kind,
        days,
        now,
        dry_run,
        actor,
    )


def _in_batches(
    candidates: Candidates,
    apply: Apply,
    point: str,
    kind: str,
    days: int,
    now: int,
    dry_run: bool,
    actor: str,
) -> int:
    """Page through the candidates received more than ``days`` ago, one batch at a time."""
    before = now - days * DAY
    done, after = 0, (-1, "")
    while page := candidates(kind, before, after, BATCH):
        after = page[-1]
        ids = [package_id for _, package_id in page]
        if dry_run:
            done += len(ids)
            continue
        details = {"kind": kind, "retention_days": days, "received_before": before}
        done += len(apply(ids, now, actor, details))
        crash_point(point)
    return done


def collect_blobs(
    store: Store, blobs: BlobStore, cutoff: float, dry_run: bool = False
) -> tuple[int, int]:
    """(restored, removed): staged blobs of a crashed collection put back, then every blob no
    package references and last written before ``cutoff`` (Unix seconds) removed."""
    restored = 0 if dry_run else blobs.restore_staged()
    removed = 0
    digests = blobs.digests()
    while batch := list(islice(digests, BATCH)):
        removed += len(blobs.collect(batch, store.referenced_blobs, cutoff, dry_run))
    return restored, removed


def now_micros() -> int:
    return time.time_ns() // 1000
