"""Blobs in PostgreSQL, so that with ``database_dsn`` set the database is the only shared state.

A blob is one ``blobs`` row (its address and size) and ``blob_chunks`` rows of at most
:data:`CHUNK` bytes each (``bytea`` stored uncompressed: attachments are mostly compressed
already, and compressing them again costs CPU for nothing). Both directions stream: a writer
hashes the bytes as they come and sends each chunk as it fills, inside one transaction that
``commit`` ends, so a blob is visible wholly or not at all; a reader fetches one chunk per
query. Neither keeps more than a chunk in memory, and neither writes a scratch file.

Migration 0008 creates the tables. Each thread has its own connection (autocommit; every write
is an explicit transaction), opened on first use and reopened after a fork.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from gateway.edxml.model import BlobRef
from gateway.errors import StorageError
from gateway.store.blobs import (
    _SHA256,
    CHUNK,
    BlobWriting,
    MeteredWriter,
    Referenced,
    clean_scratch,
    write_stream,
)
from gateway.store.crash import crash_point

__all__ = ["CHUNK", "PostgresBlobStore", "PostgresBlobWriter"]


_IDLE_STREAMS = 4
"""Stream connections a process keeps for the next large blob (more are closed after use)."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StorageError(
            "M.Store.Driver", "PostgreSQL needs psycopg: pip install 'edoc-gateway[postgres]'"
        ) from exc
    return psycopg


def _digest_of(ref: BlobRef | str) -> str:
    digest = ref.sha256 if isinstance(ref, BlobRef) else ref
    if not _SHA256.match(digest):
        raise StorageError("M.Blob.Address", f"{digest!r} is not a SHA-256 hex digest")
    return digest


class PostgresBlobWriter(MeteredWriter):
    """Hashes what is written and streams it into PostgreSQL a chunk at a time, in one
    transaction of its own that ``commit`` ends (nothing is visible before, to anyone).

    A blob of at most one chunk is held in memory and filed at ``commit`` by the thread's own
    connection. A larger one opens a stream (:class:`_Stream`) when its second chunk begins:
    its chunks go in under a provisional key, and ``commit``, knowing the hash at last, moves
    them to their address. No scratch file, no second pass over the bytes, one chunk in memory.
    """

    def __init__(self, store: PostgresBlobStore, max_size: int | None = None) -> None:
        super().__init__(max_size)
        self._store = store
        self._buffer = bytearray()
        self._stream: _Stream | None = None

    def write(self, data: bytes) -> int:
        self._count(data)
        self._buffer += data
        if len(self._buffer) > CHUNK:
            stream = self._stream
            if stream is None:
                stream = self._stream = _Stream(self._store)
            try:
                while len(self._buffer) > CHUNK:  # the last chunk waits for commit
                    stream.send(bytes(self._buffer[:CHUNK]))
                    del self._buffer[:CHUNK]
            except BaseException:
                self.abort()
                raise
        return len(data)

    def commit(self) -> BlobRef:
        self._start_commit()
        ref = self.digest()
        try:
            if self._stream is None:
                self._store._file(ref, iter((bytes(self._buffer),)) if self._size else iter(()))
            else:
                self._stream.send(bytes(self._buffer))
                self._stream.finish(ref)
        finally:
            self._discard()
        return ref

    def abort(self) -> None:
        if not self._done:
            self._done = True
        self._discard()

    def _discard(self) -> None:
        self._buffer = bytearray()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()


class _Stream:
    """One large blob on its way in: a connection of its own (the thread's connection serves
    other work meanwhile) inside one open transaction, its chunks under a provisional key.

    The transaction is the blob's atomicity: an abort, a crash or a lost connection rolls every
    chunk back, and the provisional key is never committed (the collector and ``digests``
    see only addresses). Commit moves the chunks to the address; PostgreSQL rewrites only
    their small row headers, the out-of-line bytes stay where they are.
    """

    def __init__(self, store: PostgresBlobStore) -> None:
        self._store = store
        self._key = f"provisional-{uuid.uuid4().hex}"
        self._seq = 0
        self._sent = 0
        self._connection = store._stream_connection()
        try:
            self._connection.execute(
                "INSERT INTO blobs (sha256, size, chunk_size, created_at) VALUES (%s, 0, %s, %s)",
                (self._key, CHUNK, _now_micros()),
            )
        except Exception as exc:
            self.close()
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc

    def send(self, data: bytes) -> None:
        try:
            self._connection.execute(
                "INSERT INTO blob_chunks (sha256, seq, data) VALUES (%s, %s, %b)",
                (self._key, self._seq, data),
            )
        except Exception as exc:
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc
        self._seq += 1
        self._sent += len(data)

    def finish(self, ref: BlobRef) -> None:
        """File the chunks under ``ref`` and commit; an address already stored (or being
        stored by another node, whose commit this waits for) keeps its own chunks."""
        if self._sent != ref.size:
            raise StorageError(
                "M.Blob.Changed", f"blob {ref.sha256} changed while it was being kept"
            )
        connection = self._connection
        try:
            new = _claim(connection, ref)
            if new:
                connection.execute(
                    "UPDATE blob_chunks SET sha256 = %s WHERE sha256 = %s", (ref.sha256, self._key)
                )
            # A duplicate's chunks go with the provisional row (ON DELETE CASCADE).
            connection.execute("DELETE FROM blobs WHERE sha256 = %s", (self._key,))
            crash_point("blob.stream.commit")
            connection.commit()
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc
        self._store._release_stream_connection(connection)
        self._connection = None

    def close(self) -> None:
        """Roll back whatever was not committed and let the connection go."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        except Exception:  # a broken connection is dropped, not reused
            with contextlib.suppress(Exception):
                connection.close()
            return
        self._store._release_stream_connection(connection)


def _now_micros() -> int:
    return int(time.time() * 1_000_000)


def _claim(connection: Any, ref: BlobRef) -> bool:
    """Insert the blob's row; True when it is new. Already stored: same address, same bytes,
    only made young again, so the collector's grace protects it while the row naming it has
    yet to commit."""
    row = connection.execute(
        "INSERT INTO blobs (sha256, size, chunk_size, created_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (sha256) DO UPDATE"
        " SET created_at = EXCLUDED.created_at RETURNING (xmax = 0)",
        (ref.sha256, ref.size, CHUNK, _now_micros()),
    ).fetchone()
    return bool(row is not None and row[0])


class _ChunkReader(io.RawIOBase):
    """A blob read back one chunk per query (never more than a chunk in memory); seekable, as
    an HTTP client measuring an upload's length expects of a file."""

    def __init__(self, store: PostgresBlobStore, digest: str, size: int, chunk_size: int) -> None:
        super().__init__()
        self._store = store
        self._digest = digest
        self._size = size
        self._chunk_size = chunk_size
        self._position = 0
        self._loaded = -1
        self._current = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size:
            return 0
        seq, start = divmod(self._position, self._chunk_size)
        if seq != self._loaded:
            self._current = self._store._chunk(self._digest, seq)
            self._loaded = seq
        n = min(len(buffer), len(self._current) - start)
        if n <= 0:
            raise StorageError("M.Blob.Chunk", f"blob {self._digest}: chunk {seq} is short")
        buffer[:n] = self._current[start : start + n]
        self._position += n
        return n


class PostgresBlobStore:
    """:class:`gateway.store.blobs.BlobStore` in PostgreSQL's ``blobs``/``blob_chunks`` tables."""

    def __init__(self, dsn: str, scratch_dir: str | os.PathLike[str]) -> None:
        self.dsn = dsn
        self.tmp_dir = Path(scratch_dir)
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                "M.Blob.Root", f"cannot use scratch directory {self.tmp_dir}: {exc}"
            ) from exc
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._idle_streams: list[Any] = []
        self._pid = os.getpid()

    # -- plumbing ----------------------------------------------------------------------------
    def _forget_if_forked(self) -> None:
        if os.getpid() != self._pid:  # forked (gunicorn): the parent's sockets are not ours
            with self._lock:
                self._local = threading.local()
                self._connections = []
                self._idle_streams = []
                self._pid = os.getpid()

    def _connection(self) -> Any:
        self._forget_if_forked()
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            psycopg = _psycopg()
            try:
                connection = psycopg.connect(self.dsn, autocommit=True)
            except psycopg.Error as exc:
                raise StorageError(
                    "M.Store.Connect", f"cannot connect to PostgreSQL: {exc}"
                ) from exc
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(Exception):
                    connection.close()
            self._connections.clear()
            self._idle_streams.clear()
        self._local = threading.local()

    def _file(self, ref: BlobRef, chunks: Iterator[bytes]) -> None:
        """Insert a blob and its chunks in one transaction; an address already stored (or being
        stored by another node, whose commit this waits for) is left as it is."""
        connection = self._connection()
        try:
            with connection.transaction(), connection.cursor() as cursor:
                if not _claim(cursor, ref):
                    return
                written = 0
                for seq, data in enumerate(chunks):
                    cursor.execute(
                        "INSERT INTO blob_chunks (sha256, seq, data) VALUES (%s, %s, %b)",
                        (ref.sha256, seq, data),
                    )
                    written += len(data)
                if written != ref.size:
                    raise StorageError(
                        "M.Blob.Changed", f"blob {ref.sha256} changed while it was being kept"
                    )
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc

    def _stream_connection(self) -> Any:
        """A connection for one :class:`_Stream` (not autocommit: its transaction is the
        blob's), an idle one of this process when there is one."""
        self._forget_if_forked()
        with self._lock:
            while self._idle_streams:
                idle = self._idle_streams.pop()
                if not idle.closed:
                    return idle
        psycopg = _psycopg()
        try:
            connection = psycopg.connect(self.dsn)
        except psycopg.Error as exc:
            raise StorageError("M.Store.Connect", f"cannot connect to PostgreSQL: {exc}") from exc
        with self._lock:
            self._connections.append(connection)
        return connection

    def _release_stream_connection(self, connection: Any) -> None:
        with self._lock:
            if os.getpid() == self._pid and len(self._idle_streams) < _IDLE_STREAMS:
                self._idle_streams.append(connection)
                return
        with contextlib.suppress(Exception):
            connection.close()

    def _chunk(self, digest: str, seq: int) -> bytes:
        with self._connection().cursor(binary=True) as cursor:  # bytea as is, not hex text
            cursor.execute(
                "SELECT data FROM blob_chunks WHERE sha256 = %s AND seq = %s", (digest, seq)
            )
            row = cursor.fetchone()
        if row is None:
            raise StorageError("N.Blob", f"blob {digest} is not in the store (chunk {seq})")
        return bytes(row[0])

    def _row(self, digest: str) -> tuple[int, int] | None:
        """(size, chunk size) of a stored blob."""
        with self._connection().cursor() as cursor:
            cursor.execute("SELECT size, chunk_size FROM blobs WHERE sha256 = %s", (digest,))
            row = cursor.fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    # -- the BlobStore interface -------------------------------------------------------------
    @property
    def location(self) -> str:
        return "PostgreSQL (blobs table)"

    def writer(self, max_size: int | None = None) -> BlobWriting:
        return PostgresBlobWriter(self, max_size)

    def put_bytes(self, data: bytes) -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        view = memoryview(data)
        self._file(ref, (bytes(view[i : i + CHUNK]) for i in range(0, len(data), CHUNK)))
        return ref

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        return write_stream(self.writer(max_size), stream)

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobRef:
        """Copy a scratch file in, a chunk at a time; its hash must equal ``digest``."""
        try:
            with open(path, "rb") as stream:
                ref = self.put_stream(stream)
        except OSError as exc:
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc
        if ref.sha256 != digest:
            raise StorageError(
                "M.Blob.Changed", f"{path} changed while it was being kept (hash {digest})"
            )
        return ref

    def open(self, ref: BlobRef | str) -> BinaryIO:
        digest = _digest_of(ref)
        row = self._row(digest)
        if row is None:
            raise StorageError("N.Blob", f"blob {digest} is not in the store")
        return io.BufferedReader(_ChunkReader(self, digest, *row), CHUNK)

    def read_bytes(self, ref: BlobRef | str) -> bytes:
        with self.open(ref) as f:
            return f.read()

    def contains(self, ref: BlobRef | str) -> bool:
        return self._row(_digest_of(ref)) is not None

    def iter_chunks(self, ref: BlobRef | str, size: int = CHUNK) -> Iterator[bytes]:
        with self.open(ref) as f:
            while chunk := f.read(size):
                yield chunk

    @contextlib.contextmanager
    def local_copy(self, ref: BlobRef | str) -> Iterator[Path]:
        with tempfile.NamedTemporaryFile(dir=self.tmp_dir, prefix="blob-") as copy:
            for chunk in self.iter_chunks(ref):
                copy.write(chunk)
            copy.flush()
            yield Path(copy.name)

    def delete(self, ref: BlobRef | str) -> None:
        digest = _digest_of(ref)
        connection = self._connection()
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM blob_chunks WHERE sha256 = %s", (digest,))
            cursor.execute("DELETE FROM blobs WHERE sha256 = %s", (digest,))

    def digests(self, after: str = "") -> Iterator[str]:
        """Every blob's address, in order, a page at a time (migrate-blobs, the collector)."""
        while True:
            with self._connection().cursor() as cursor:
                cursor.execute(
                    "SELECT sha256 FROM blobs WHERE sha256 > %s ORDER BY sha256 LIMIT 1000",
                    (after,),
                )
                page = [str(r[0]) for r in cursor.fetchall()]
            if not page:
                return
            yield from page
            after = page[-1]

    def collect(
        self, digests: Sequence[str], referenced: Referenced, cutoff: float, dry_run: bool = False
    ) -> list[str]:
        """Remove unreferenced blobs older than ``cutoff`` in one statement: the question (no
        ``package_blobs`` row) and the deletion are one transaction in the database that holds
        the references, so nothing committed meanwhile can be missed; the grace covers rows
        still in flight (a blob stored again is made young again, see :meth:`_file`)."""
        if not digests:
            return []
        verb = "SELECT b.sha256 FROM blobs b" if dry_run else "DELETE FROM blobs b"
        connection = self._connection()
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute(
                f"{verb} WHERE b.sha256 = ANY(%s) AND b.created_at <= %s AND NOT EXISTS"
                " (SELECT 1 FROM package_blobs pb WHERE pb.blob_sha256 = b.sha256)"
                + ("" if dry_run else " RETURNING b.sha256"),
                (list(digests), int(cutoff * 1_000_000)),
            )
            removed = [str(r[0]) for r in cursor.fetchall()]
            for _ in removed:  # a crash before the commit undoes the whole deletion
                crash_point("collect.staged")
        return removed

    def restore_staged(self) -> int:
        """Nothing to put back: a collection is one transaction here."""
        return 0

    def clean_temporary(self, older_than_seconds: float = 3600.0) -> int:
        """Delete scratch files a crashed process left behind; returns how many."""
        return clean_scratch(self.tmp_dir, older_than_seconds)
