"""The blob store interface, and its filesystem backend (one node; ``gateway.store.blobs_pg``
holds the PostgreSQL one, for several nodes sharing nothing but the database).

Attachments are never held in memory: readers stream decoded bytes into a :class:`BlobWriter`,
which hashes as it writes and moves the finished file to ``<root>/<aa>/<sha256>``. The same
content is stored once whoever sends it. A blob becomes visible only after its bytes and its
directory entry are on disk (``fsync``), so a crash never leaves a half-written blob under a
real name: temporary files live in ``<root>/tmp`` and are cleaned at start-up.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, Self

from gateway.edxml.model import BlobRef
from gateway.errors import LimitExceeded, StorageError
from gateway.store.crash import crash_point

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
Referenced = Callable[[Sequence[str]], set[str]]
"""Asks the database which of these blobs some package still references."""


class BlobWriting(Protocol):
    """A blob being written: hashed as it streams in, filed under its hash by ``commit``."""

    def write(self, data: bytes) -> int: ...

    def digest(self) -> BlobRef: ...

    def commit(self) -> BlobRef: ...

    def abort(self) -> None: ...

    def __enter__(self) -> BlobWriting: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def write_whole(writer: BlobWriting, data: bytes) -> BlobRef:
    """A store's ``put_bytes`` through its own writer (hashed, limited, filed alike)."""
    with writer as w:
        w.write(data)
        return w.commit()


def write_stream(writer: BlobWriting, stream: BinaryIO) -> BlobRef:
    """A store's ``put_stream`` through its own writer, a chunk at a time."""
    with writer as w:
        while chunk := stream.read(CHUNK):
            w.write(chunk)
        return w.commit()


class BlobStore(Protocol):
    """What the gateway needs from a blob backend (``blob_backend``: ``file`` or ``postgres``).

    Blobs are content-addressed (SHA-256) and immutable; reads and writes stream, so no
    backend ever holds a whole blob in memory. ``tmp_dir`` is this node's own scratch
    directory (requests are spooled there), never shared state.
    """

    tmp_dir: Path

    @property
    def location(self) -> str:
        """Where the blobs are, for health output and messages."""
        ...

    def writer(self, max_size: int | None = None) -> BlobWriting: ...

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef: ...

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobRef:
        """Keep a finished scratch file the gateway wrote itself (already hashed) as a blob."""
        ...

    def open(self, ref: BlobRef | str) -> BinaryIO: ...

    def read_bytes(self, ref: BlobRef | str) -> bytes: ...

    def contains(self, ref: BlobRef | str) -> bool: ...

    def iter_chunks(self, ref: BlobRef | str, size: int = CHUNK) -> Iterator[bytes]: ...

    def local_copy(self, ref: BlobRef | str) -> contextlib.AbstractContextManager[Path]:
        """A file holding the blob's bytes for as long as the context lasts (for code that
        needs a path, such as signature re-verification)."""
        ...

    def delete(self, ref: BlobRef | str) -> None: ...

    def digests(self) -> Iterator[str]:
        """Every blob's address, in order (``db migrate-blobs``, the collector)."""
        ...

    def clean_temporary(self, older_than_seconds: float = 3600.0) -> int: ...

    def collect(
        self, digests: Sequence[str], referenced: Referenced, cutoff: float, dry_run: bool = False
    ) -> list[str]:
        """Remove those of ``digests`` no package references and last written before ``cutoff``
        (Unix seconds); returns the ones removed (or, ``dry_run``, that would be)."""
        ...

    def restore_staged(self) -> int:
        """Put back what a crashed collection left half done; returns how many."""
        ...

    def close(self) -> None: ...


class MeteredWriter:
    """What every blob writer does with the bytes it is given, whatever it keeps them in:
    refuses them once committed or past ``max_size`` (aborting itself), and hashes them for
    the content address. Subclasses keep the bytes and implement ``abort``."""

    def __init__(self, max_size: int | None) -> None:
        self._max_size = max_size
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False

    def _count(self, data: bytes) -> None:
        """Account for ``data`` before it is kept; raises when it may not be."""
        if self._done:
            raise StorageError("M.Blob.Closed", "write to a blob that is already committed")
        self._size += len(data)
        if self._max_size is not None and self._size > self._max_size:
            self.abort()
            raise LimitExceeded(
                "R.Attachment.Size",
                f"attachment is larger than the configured maximum of {self._max_size} bytes",
            )
        self._hash.update(data)

    def _start_commit(self) -> None:
        """Mark the writer finished; a second commit (or one after abort) is refused."""
        if self._done:
            raise StorageError("M.Blob.Closed", "blob already committed or aborted")
        self._done = True

    def digest(self) -> BlobRef:
        """The content address of what was written so far, before ``commit`` files it
        (the exchange looks for a duplicate first, and aborts instead of filing one)."""
        return BlobRef(self._hash.hexdigest(), self._size)

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()


class BlobWriter(MeteredWriter):
    """Streams bytes to a temporary file, hashing them; ``commit`` files them under their hash."""

    def __init__(self, store: FileBlobStore | StagedBlobs, max_size: int | None = None) -> None:
        super().__init__(max_size)
        self._store = store
        self._tmp_path = os.path.join(store.tmp_dir, f"blob-{secrets.token_hex(12)}")
        fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        self._count(data)
        self._file.write(data)
        return len(data)

    def commit(self) -> BlobRef:
        self._start_commit()
        try:
            self._file.flush()
            digest = self._hash.hexdigest()
            if isinstance(self._store, StagedBlobs):
                self._file.close()
                self._store.keep(digest, Path(self._tmp_path))
                return BlobRef(digest, self._size)
            final = self._store.path_for(digest)
            if final.is_file():
                # Same address, same bytes, already filed (and fsync'd by whoever filed them):
                # the copy is dropped unsynced; only the directory entry is made sure of.
                self._file.close()
                os.unlink(self._tmp_path)
                if self._store.durable:
                    _fsync_dir(final.parent)
                return BlobRef(digest, self._size)
            if self._store.durable:
                os.fsync(self._file.fileno())
            self._file.close()
            try:
                # Same address means same bytes: replacing an existing blob changes nothing.
                os.replace(self._tmp_path, final)
            except FileNotFoundError:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp_path, final)
            if self._store.durable:
                _fsync_dir(final.parent)
        except OSError as exc:
            self._discard()
            raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc
        return BlobRef(digest, self._size)

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)


class FileBlobStore:
    """Blobs as files named by their SHA-256, in 256 directories by the first two hex digits.

    One level keeps directory creation off the hot path (on a slow disk a ``mkdir`` costs as much
    as writing a small blob); ext4's hashed directories handle millions of files at this fan-out.

    ``durable=False`` skips ``fsync`` for scratch stores (CLI inspection, tests of parsing only).
    """

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.tmp_dir = self.root / "tmp"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                "M.Blob.Root", f"cannot use blob directory {self.root}: {exc}"
            ) from exc

    def clean_temporary(self, older_than_seconds: float = 3600.0) -> int:
        """Delete temporary files a crashed writer left behind; returns how many.

        Only files untouched for ``older_than_seconds``: other processes sharing this store
        (gunicorn workers, a second node) may be writing theirs right now.
        """
        return clean_scratch(self.tmp_dir, older_than_seconds)

    def path_for(self, digest: str) -> Path:
        if not _SHA256.match(digest):
            raise StorageError("M.Blob.Address", f"{digest!r} is not a SHA-256 hex digest")
        return self.root / digest[:2] / digest

    def writer(self, max_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, max_size)

    def put_bytes(self, data: bytes) -> BlobRef:
        return write_whole(self.writer(), data)

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        return write_stream(self.writer(max_size), stream)

    def adopt(self, path: str | os.PathLike[str], digest: str) -> BlobRef:
        """File a finished file the gateway wrote itself under ``digest``, without a copy.

        The file (a request spooled to disk, already hashed by its writer) is hard-linked into
        place, so a package of hundreds of megabytes is kept without being read again; its
        temporary name can then be deleted as usual. Across filesystems it is copied instead,
        a chunk at a time, and the copy's hash must equal ``digest``. Never pass a file that
        anyone may still change: the blob would change with it.
        """
        source = Path(path)
        final = self.path_for(digest)
        try:
            if self.durable:
                fd = os.open(source, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, final)
            except FileExistsError:  # same address, same bytes: now written again, for the
                os.utime(final)  # collector's grace (see collect)
            if self.durable:
                _fsync_dir(final.parent)
            return BlobRef(digest, final.stat().st_size)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise StorageError("M.Blob.Write", f"could not store blob: {exc}") from exc
        with source.open("rb") as stream:
            copied = self.put_stream(stream)
        if copied.sha256 != digest:
            raise StorageError(
                "M.Blob.Changed", f"{source} changed while it was being kept (hash {digest})"
            )
        return copied

    def open(self, ref: BlobRef | str) -> BinaryIO:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        try:
            return self.path_for(digest).open("rb")
        except FileNotFoundError:
            raise StorageError("N.Blob", f"blob {digest} is not in the store") from None

    def read_bytes(self, ref: BlobRef | str) -> bytes:
        with self.open(ref) as f:
            return f.read()

    def contains(self, ref: BlobRef | str) -> bool:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        return self.path_for(digest).is_file()

    def iter_chunks(self, ref: BlobRef | str, size: int = CHUNK) -> Iterator[bytes]:
        with self.open(ref) as f:
            while chunk := f.read(size):
                yield chunk

    @contextlib.contextmanager
    def local_copy(self, ref: BlobRef | str) -> Iterator[Path]:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        yield self.path_for(digest)

    @property
    def location(self) -> str:
        return str(self.root)

    def digests(self) -> Iterator[str]:
        """Every blob's address, in order (for ``db migrate-blobs`` and the collector)."""
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            names = sorted(p.name for p in folder.iterdir())
            yield from (n for n in names if _SHA256.match(n) and n[:2] == folder.name)

    def delete(self, ref: BlobRef | str) -> None:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        with contextlib.suppress(FileNotFoundError):
            self.path_for(digest).unlink()

    def collect(
        self, digests: Sequence[str], referenced: Referenced, cutoff: float, dry_run: bool = False
    ) -> list[str]:
        """Remove unreferenced blobs older than ``cutoff``, crash-safe.

        A request in flight writes its blobs before the row naming them commits, so a young blob
        is never taken (the grace), and a blob written again (same content) is young again. A
        candidate is first renamed to a staged name in ``tmp`` (``collect-<sha256>``), then asked
        about once more: one referenced or rewritten meanwhile is put back. A crash leaves at
        most staged files, which :meth:`restore_staged` puts back before the next collection.
        """
        old = [d for d in digests if _mtime(self.path_for(d)) <= cutoff]
        candidates = [d for d in old if d not in referenced(old)] if old else []
        if dry_run or not candidates:
            return candidates
        staged: dict[str, Path] = {}
        for digest in candidates:
            place = self.tmp_dir / f"collect-{digest}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path_for(digest), place)
                staged[digest] = place
                crash_point("collect.staged")
        still = referenced(list(staged))
        removed = []
        for digest, place in staged.items():
            if digest in still or _mtime(place) > cutoff:
                self._put_back(digest, place)
            else:
                with contextlib.suppress(FileNotFoundError):
                    place.unlink()
                    removed.append(digest)
        return removed

    def close(self) -> None:
        """Nothing held open (the protocol's other backend holds connections)."""

    def restore_staged(self) -> int:
        """Put back what a collection that crashed had staged (the next one decides again)."""
        restored = 0
        for place in self.tmp_dir.glob("collect-*"):
            digest = place.name.removeprefix("collect-")
            if _SHA256.match(digest):
                self._put_back(digest, place)
                restored += 1
        return restored

    def _put_back(self, digest: str, place: Path) -> None:
        final = self.path_for(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            os.link(place, final)  # (exists: written again meanwhile, the same bytes)
        with contextlib.suppress(FileNotFoundError):
            place.unlink()


def clean_scratch(tmp_dir: Path, older_than_seconds: float) -> int:
    """Delete the scratch files in ``tmp_dir`` untouched for ``older_than_seconds``."""
    removed = 0
    cutoff = time.time() - older_than_seconds
    # blob-*: writers; received-*, edoc-package-*: requests spooled by the exchange and the
    # streaming SOAP handler (see FileBlobStore.adopt); vxp-*: uploads to the REST face.
    patterns = ("blob-*", "received-*", "edoc-package-*", "vxp-*")
    leftovers = (tmp_dir.glob(p) for p in patterns)
    for leftover in itertools.chain.from_iterable(leftovers):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime <= cutoff:
                leftover.unlink()
                removed += 1
    return removed


def _mtime(path: Path) -> float:
    """When a blob was last written (infinitely recent when it is gone: never a candidate)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


STAGE_IN_MEMORY_BYTES = 1 << 20
"""What one request may stage in memory, all blobs together; the rest goes to scratch files."""


class StagedBlobs:
    """New blobs of one request, written and hashed but filed only when it is accepted.

    A blob is visible to readers through this view at once (the reader unwraps a zip it just
    decoded), and to everyone else only after :meth:`publish`. Until then it is held in memory
    (the first :data:`STAGE_IN_MEMORY_BYTES` of the request's new blobs) or is a ``blob-*`` file
    in this node's scratch directory, so a crash leaves only what ``clean_temporary`` removes.
    Blobs the store already holds are read from the store. Works over any backend: ``publish``
    hands each file to the backend's ``adopt`` (a hard link for files, a streamed copy for
    PostgreSQL) and each held blob to its ``put_bytes`` (a row, when the blob is small enough
    for the database), which makes it durable; so the scratch writes themselves skip ``fsync``.
    """

    durable = False  # the backend's adopt makes a published blob durable

    def __init__(self, store: BlobStore, in_memory: int = STAGE_IN_MEMORY_BYTES) -> None:
        self.store = store
        self.tmp_dir = store.tmp_dir
        self._staged: dict[str, Path | bytes] = {}
        self._memory_left = in_memory

    def keep(self, digest: str, content: Path | bytes) -> None:
        """Called by a writer's commit: hold ``content`` under ``digest`` (once per content)."""
        if digest not in self._staged:
            self._staged[digest] = content
        elif isinstance(content, Path):
            with contextlib.suppress(FileNotFoundError):
                content.unlink()

    def reserve(self, size: int) -> bool:
        """Whether ``size`` more bytes may be held in memory (and, if so, count them)."""
        if size > self._memory_left:
            return False
        self._memory_left -= size
        return True

    def give_back(self, size: int) -> None:
        """Bytes reserved for a blob that went to a file after all, or was aborted."""
        self._memory_left += size

    def writer(self, max_size: int | None = None) -> BlobWriting:
        return StagedWriter(self, max_size)

    def open(self, ref: BlobRef | str) -> BinaryIO:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        staged = self._staged.get(digest)
        if isinstance(staged, bytes):
            return io.BytesIO(staged)
        if staged is not None:
            return staged.open("rb")
        return self.store.open(digest)

    def read_bytes(self, ref: BlobRef | str) -> bytes:
        with self.open(ref) as f:
            return f.read()

    def put_bytes(self, data: bytes) -> BlobRef:
        return write_whole(self.writer(), data)

    def publish(self) -> None:
        """File every staged blob under its address in the backend (durably)."""
        while self._staged:
            digest, content = next(iter(self._staged.items()))
            if isinstance(content, bytes):
                self.store.put_bytes(content)
            else:
                self.store.adopt(content, digest)
            del self._staged[digest]
            if isinstance(content, Path):
                with contextlib.suppress(FileNotFoundError):
                    content.unlink()

    def discard(self) -> None:
        """Delete what was not published."""
        for content in self._staged.values():
            if isinstance(content, Path):
                with contextlib.suppress(FileNotFoundError):
                    content.unlink()
        self._staged.clear()

    @property
    def pending(self) -> int:
        """How many blobs wait to be published."""
        return len(self._staged)


class SpillingWriter(MeteredWriter):
    """A blob kept in memory while :meth:`_may_hold` allows, else streamed on to the writer
    :meth:`_spill_writer` gives; a blob that stayed in memory is handed to :meth:`_keep`."""

    def __init__(self, max_size: int | None) -> None:
        super().__init__(max_size)
        self._buffer = bytearray()
        self._spill: BlobWriting | None = None

    def _may_hold(self, size: int) -> bool:
        raise NotImplementedError

    def _let_go(self, size: int) -> None:
        """``size`` bytes held in memory are no longer (spilled, or aborted)."""

    def _spill_writer(self) -> BlobWriting:
        raise NotImplementedError

    def _keep(self, digest: str, data: bytes) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> int:
        self._count(data)
        if self._spill is None:
            if self._may_hold(len(data)):
                self._buffer += data
                return len(data)
            self._spill = self._spill_writer()
            self._spill.write(bytes(self._buffer))
            self._let_go(len(self._buffer))
            self._buffer = bytearray()
        return self._spill.write(data)

    def commit(self) -> BlobRef:
        self._start_commit()
        if self._spill is not None:
            return self._spill.commit()
        ref = self.digest()
        self._keep(ref.sha256, bytes(self._buffer))
        self._buffer = bytearray()
        return ref

    def abort(self) -> None:
        self._done = True
        self._let_go(len(self._buffer))
        self._buffer = bytearray()
        if self._spill is not None:
            self._spill.abort()


class StagedWriter(SpillingWriter):
    """A staged blob: in memory while the stage's budget lasts, else on to a scratch file."""

    def __init__(self, stage: StagedBlobs, max_size: int | None) -> None:
        super().__init__(max_size)
        self._stage = stage

    def _may_hold(self, size: int) -> bool:
        return self._stage.reserve(size)

    def _let_go(self, size: int) -> None:
        self._stage.give_back(size)

    def _spill_writer(self) -> BlobWriting:
        return BlobWriter(self._stage)

    def _keep(self, digest: str, data: bytes) -> None:
        self._stage.keep(digest, data)


@contextlib.contextmanager
def staged(store: BlobStore) -> Iterator[StagedBlobs]:
    """A view of ``store`` in which new blobs stay in scratch until :meth:`StagedBlobs.publish`;
    what is not published is deleted on the way out (a refused package leaves no file behind)."""
    stage = StagedBlobs(store)
    try:
        yield stage
    finally:
        stage.discard()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
