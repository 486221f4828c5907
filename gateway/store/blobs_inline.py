"""Small blobs inside the database, committed with the package that names them (issue 12).

An accepted package of ordinary size has three or four blobs (its attachments, the normalised
package, the signed receipt): as files they cost two ``fsync`` each before the database commit
(its own sync) makes the package visible. :class:`InlineBlobStore` keeps every blob up to
``inline_blob_bytes`` in the ``inline_blobs`` table instead, and hands larger ones to the
configured backend (files or PostgreSQL chunks), so an ordinary accept is one durable commit.

Inside :func:`held_for_commit` (the keeper opens it around one accept), small blobs are not
written at all: they are held in memory, readable by the request that made them, and the store
inserts them in the package's own transaction (``NewPackage.inline_blobs``). A crash, a refusal
or a duplicate found at the last moment leaves none behind. Outside it (the relay, restores, the
CLI), a small blob is one durable row of its own, as a file would be.

A blob that a package names again has ``written_at`` refreshed in that package's transaction,
and the collector removes only rows older than its grace that no ``package_blobs`` row names,
in one statement: a package committed meanwhile either refreshed the row or re-inserted it.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import io
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from gateway.edxml.model import BlobRef
from gateway.errors import StorageError
from gateway.store.blobs import (
    CHUNK,
    BlobStore,
    BlobWriting,
    Referenced,
    SpillingWriter,
    write_stream,
    write_whole,
)
from gateway.store.crash import crash_point
from gateway.store.engine import Query, SqlDatabase

__all__ = ["InlineBlobStore", "InlineBlobTable", "held_for_commit", "insert_inline_blobs"]

_HELD: contextvars.ContextVar[dict[str, bytes] | None] = contextvars.ContextVar(
    "inline_blobs_held", default=None
)
_PAGE = 1000


@contextlib.contextmanager
def held_for_commit() -> Iterator[dict[str, bytes]]:
    """Hold the small blobs written in this block (by this thread) for the caller's store
    transaction instead of writing them; the mapping is SHA-256 → bytes. A nested block shares
    the outer one's. With a backend that keeps nothing inline, the mapping stays empty."""
    if (held := _HELD.get()) is not None:
        yield held
        return
    held = {}
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)


def insert_inline_blobs(q: Query, blobs: Sequence[tuple[str, bytes]]) -> None:
    """Insert held blobs in the caller's transaction; one already there is made young again
    (``written_at`` is the wall clock, which the collector's grace is measured against)."""
    now = _now_micros()
    for digest, data in blobs:
        q.run(
            "INSERT INTO inline_blobs (sha256, size, written_at, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET written_at = excluded.written_at",
            (digest, len(data), now, data),
        )


class InlineBlobTable(SqlDatabase):
    """The ``inline_blobs`` table, for reads and for blobs written outside an accept."""

    def put(self, digest: str, data: bytes) -> None:
        with self._tx() as q:
            insert_inline_blobs(q, [(digest, data)])

    def get(self, digest: str) -> bytes | None:
        with self._tx("read") as q:
            row = q.one("SELECT data FROM inline_blobs WHERE sha256 = ?", (digest,))
        return None if row is None else bytes(row["data"])

    def has(self, digest: str) -> bool:
        with self._tx("read") as q:
            return q.one("SELECT 1 AS x FROM inline_blobs WHERE sha256 = ?", (digest,)) is not None

    def digests(self) -> Iterator[str]:
        """Every address, in order, a page at a time."""
        after = ""
        while True:
            with self._tx("read") as q:
                rows = q.all(
                    "SELECT sha256 FROM inline_blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
                    (after, _PAGE),
                )
            if not rows:
                return
            yield from (str(r["sha256"]) for r in rows)
            after = str(rows[-1]["sha256"])

    def delete(self, digest: str) -> None:
        with self._tx() as q:
            q.run("DELETE FROM inline_blobs WHERE sha256 = ?", (digest,))

    def collect(self, digests: Sequence[str], cutoff: float, dry_run: bool) -> list[str]:
        """Those of ``digests`` older than ``cutoff`` that no package names, removed in one
        statement (the question and the deletion see the same committed references)."""
        if not digests:
            return []
        marks = ", ".join("?" for _ in digests)
        where = (
            f"WHERE b.sha256 IN ({marks}) AND b.written_at <= ? AND NOT EXISTS"
            " (SELECT 1 FROM package_blobs pb WHERE pb.blob_sha256 = b.sha256)"
        )
        params = (*digests, int(cutoff * 1_000_000))
        with self._tx("read" if dry_run else "write") as q:
            if dry_run:
                rows = q.all(f"SELECT b.sha256 FROM inline_blobs b {where}", params)
            else:
                rows = q.all(f"DELETE FROM inline_blobs AS b {where} RETURNING sha256", params)
                for _ in rows:  # a crash before the commit undoes the whole deletion
                    crash_point("collect.staged")
        return sorted(str(r["sha256"]) for r in rows)


class InlineWriter(SpillingWriter):
    """Keeps up to ``inline_blob_bytes`` in memory; past that, streams on to the backend."""

    def __init__(self, store: InlineBlobStore, max_size: int | None) -> None:
        super().__init__(max_size)
        self._store = store

    def _may_hold(self, size: int) -> bool:
        return len(self._buffer) + size <= self._store.limit

    def _spill_writer(self) -> BlobWriting:
        return self._store.backend.writer()

    def _keep(self, digest: str, data: bytes) -> None:
        self._store.keep(digest, data)


class InlineBlobStore:
    """A :class:`~gateway.store.blobs.BlobStore`: small blobs in the database, the rest in
    ``backend``. Reads look in what this thread holds, then the table, then the backend."""

    def __init__(self, backend: BlobStore, table: InlineBlobTable, limit: int) -> None:
        self.backend = backend
        self.table = table
        self.limit = limit
        self.tmp_dir = backend.tmp_dir

    @property
    def location(self) -> str:
        return f"{self.backend.location} (blobs up to {self.limit} bytes in the database)"

    def keep(self, digest: str, data: bytes) -> None:
        """A finished small blob: held for the accept in progress, or written now."""
        held = _HELD.get()
        if held is not None:
            held[digest] = data
        else:
            self.table.put(digest, data)

    def writer(self, max_size: int | None = None) -> BlobWriting:
        if self.limit <= 0:
            return self.backend.writer(max_size)
        return InlineWriter(self, max_size)

    def put_bytes(self, data: bytes) -> BlobRef:
        return write_whole(self.writer(), data)

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        return write_stream(self.writer(max_size), stream)

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobRef:
        """A finished scratch file: read into the database when small, else the backend's."""
        if self.limit <= 0 or os.path.getsize(path) > self.limit:
            return self.backend.adopt(path, digest)
        with open(path, "rb") as source:
            ref = self.put_stream(source)
        if ref.sha256 != digest:
            raise StorageError("M.Blob.Changed", f"{path} changed while it was being kept")
        return ref

    def _small(self, digest: str) -> bytes | None:
        held = _HELD.get()
        if held is not None and digest in held:
            return held[digest]
        # Read even with inline_blob_bytes = 0: rows kept while it was larger are still there.
        return self.table.get(digest)

    def open(self, ref: BlobRef | str) -> BinaryIO:
        digest = _digest(ref)
        data = self._small(digest)
        if data is not None:
            return io.BytesIO(data)
        return self.backend.open(digest)

    def read_bytes(self, ref: BlobRef | str) -> bytes:
        digest = _digest(ref)
        data = self._small(digest)
        return data if data is not None else self.backend.read_bytes(digest)

    def contains(self, ref: BlobRef | str) -> bool:
        digest = _digest(ref)
        return self._small(digest) is not None or self.backend.contains(digest)

    def iter_chunks(self, ref: BlobRef | str, size: int = CHUNK) -> Iterator[bytes]:
        digest = _digest(ref)
        data = self._small(digest)
        if data is None:
            yield from self.backend.iter_chunks(digest, size)
            return
        for start in range(0, len(data), size):
            yield data[start : start + size]

    @contextlib.contextmanager
    def local_copy(self, ref: BlobRef | str) -> Iterator[Path]:
        digest = _digest(ref)
        data = self._small(digest)
        if data is None:
            with self.backend.local_copy(digest) as path:
                yield path
            return
        with tempfile.NamedTemporaryFile(dir=self.tmp_dir, prefix="blob-") as copy:
            copy.write(data)
            copy.flush()
            yield Path(copy.name)

    def delete(self, ref: BlobRef | str) -> None:
        digest = _digest(ref)
        self.table.delete(digest)
        self.backend.delete(digest)

    def digests(self) -> Iterator[str]:
        """Both places' addresses, merged in order (a blob in both is named once)."""
        last = None
        for digest in heapq.merge(self.table.digests(), self.backend.digests()):
            if digest != last:
                yield digest
                last = digest

    def clean_temporary(self, older_than_seconds: float = 3600.0) -> int:
        return self.backend.clean_temporary(older_than_seconds)

    def collect(
        self, digests: Sequence[str], referenced: Referenced, cutoff: float, dry_run: bool = False
    ) -> list[str]:
        inline = self.table.collect(digests, cutoff, dry_run)
        files = self.backend.collect(digests, referenced, cutoff, dry_run)
        return sorted({*inline, *files})

    def restore_staged(self) -> int:
        return self.backend.restore_staged()

    def close(self) -> None:
        self.table.close()
        self.backend.close()


def _digest(ref: BlobRef | str) -> str:
    return ref.sha256 if isinstance(ref, BlobRef) else ref


def _now_micros() -> int:
    return time.time_ns() // 1000
