"""Content-addressed blob store on the filesystem.

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
import itertools
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gateway.edxml.model import BlobRef
from gateway.errors import LimitExceeded, StorageError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class BlobWriter:
    """Streams bytes to a temporary file, hashing them; ``commit`` files them under their hash."""

    def __init__(self, store: FileBlobStore, max_size: int | None = None) -> None:
        self._store = store
        self._max_size = max_size
        self._tmp_path = os.path.join(store.tmp_dir, f"blob-{secrets.token_hex(12)}")
        fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False

    def write(self, data: bytes) -> int:
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
        self._file.write(data)
        return len(data)

    def commit(self) -> BlobRef:
        if self._done:
            raise StorageError("M.Blob.Closed", "blob already committed or aborted")
        self._done = True
        try:
            self._file.flush()
            if self._store.durable:
                os.fsync(self._file.fileno())
            self._file.close()
            digest = self._hash.hexdigest()
            final = self._store.path_for(digest)
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

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()


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
        removed = 0
        cutoff = time.time() - older_than_seconds
        # blob-*: writers; received-*, edoc-package-*: requests spooled by the exchange and the
        # streaming SOAP handler (see FileBlobStore.adopt); vxp-*: uploads to the REST face.
        patterns = ("blob-*", "received-*", "edoc-package-*", "vxp-*")
        leftovers = (self.tmp_dir.glob(p) for p in patterns)
        for leftover in itertools.chain.from_iterable(leftovers):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime <= cutoff:
                    leftover.unlink()
                    removed += 1
        return removed

    def path_for(self, digest: str) -> Path:
        if not _SHA256.match(digest):
            raise StorageError("M.Blob.Address", f"{digest!r} is not a SHA-256 hex digest")
        return self.root / digest[:2] / digest

    def writer(self, max_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, max_size)

    def put_bytes(self, data: bytes) -> BlobRef:
        with self.writer() as w:
            w.write(data)
            return w.commit()

    def put_stream(self, stream: BinaryIO, max_size: int | None = None) -> BlobRef:
        with self.writer(max_size) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()

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
            with contextlib.suppress(FileExistsError):  # same address, same bytes
                os.link(source, final)
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

    def delete(self, ref: BlobRef | str) -> None:
        digest = ref.sha256 if isinstance(ref, BlobRef) else ref
        with contextlib.suppress(FileNotFoundError):
            self.path_for(digest).unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
