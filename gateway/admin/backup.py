"""``edoc-gateway backup -o FILE`` and ``edoc-gateway restore FILE``.

A backup is one tar archive: the SQLite database (``database/gateway.sqlite3``, which holds the
blobs up to ``inline_blob_bytes``), every blob file (``blobs/<aa>/<sha256>``), the master key
(``keys/master.key``) and the generated signing pair (``signing/``) when the gateway uses one,
and ``manifest.json`` last, with each member's SHA-256 and size, the schema version, the counts
and the audit log's last hash.

Consistent while traffic flows, because of the order: the database is copied first with SQLite's
online backup API (a snapshot of one moment, taken page by page without stopping writers), then
the blobs. Blobs are content-addressed, written before the row that names them commits, and never
deleted, so every blob the snapshot refers to is already on disk when the copy starts; blobs that
arrive later are copied too and harm nothing.

Restore goes into an empty data directory only: each member is checked against the manifest
(and each blob against its own name), the database's integrity and audit chain are verified and
every blob it refers to must be present, all in a staging directory that becomes the data
directory by one rename. PostgreSQL is backed up with ``pg_dump``, then the blob directory and
keys copied after it (docs/backup.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway import __version__
from gateway.audit.chain import AuditRecord, verify
from gateway.config import Settings
from gateway.errors import BadRequest, UnusableInput
from gateway.security.keys import CERT_NAME, KEY_NAME
from gateway.store.blobs_inline import InlineBlobTable
from gateway.store.sql import SqliteDialect, SqlStore

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "database/gateway.sqlite3"
MASTER_KEY = "keys/master.key"
_MEMBER = re.compile(
    r"^(database/gateway\.sqlite3|keys/master\.key|signing/gateway\.(key|crt)"
    r"|blobs/[0-9a-f]{2}/[0-9a-f]{64})$"
)
_CHUNK = 1 << 20


@dataclass
class Manifest:
    created_at: str
    gateway_version: str
    engine: str
    schema_version: int
    packages: int
    audit_records: int
    audit_anchor: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Member name → ``{"sha256": ..., "size": ...}``."""
    format: int = FORMAT

    def as_json(self) -> bytes:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=1, sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            manifest = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise UnusableInput(
                "M.Backup.Manifest", f"the manifest cannot be read: {exc}"
            ) from None
        if manifest.format != FORMAT:
            raise UnusableInput(
                "M.Backup.Manifest", f"backup format {manifest.format}, this release reads {FORMAT}"
            )
        return manifest


@dataclass
class RestoreReport:
    manifest: Manifest
    blobs: int
    audit_records: int


def backup(settings: Settings, output: Path, *, now: dt.datetime | None = None) -> Manifest:
    """Write a consistent backup of this gateway's SQLite database, blobs and keys to ``output``
    (mode 0600: it holds the master key), atomically."""
    if settings.uses_postgres:
        raise BadRequest(
            "M.Backup.Engine",
            "this gateway uses PostgreSQL: back the database up with pg_dump and the blobs and "
            "keys by copying them after the dump (see docs/backup.md)",
        )
    if not settings.sqlite_path.is_file():
        raise BadRequest("N.Backup.Database", f"no database at {settings.sqlite_path}")
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=output.parent) as scratch:
        snapshot = Path(scratch) / "gateway.sqlite3"
        store = SqlStore(SqliteDialect(settings.sqlite_path))
        try:
            store.snapshot_sqlite(snapshot)  # first: the moment the backup stands for
        finally:
            store.close()
        manifest = _describe(snapshot, now)
        partial = Path(scratch) / "backup.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as archive:
            _add(archive, manifest, DATABASE, snapshot)
            for name, path in _blobs(settings.blob_dir):
                _add(archive, manifest, name, path)
            for name, path in _keys(settings):
                _add(archive, manifest, name, path)
            data = manifest.as_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(_now(now).timestamp())
            archive.addfile(info, _BytesReader(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, output)
    return manifest


def _describe(snapshot: Path, now: dt.datetime | None) -> Manifest:
    store = SqlStore(SqliteDialect(snapshot))
    try:
        records = list(_audit(store))
        return Manifest(
            created_at=_now(now).isoformat(),
            gateway_version=__version__,
            engine="sqlite",
            schema_version=store.schema_version(),
            packages=store.package_count(),
            audit_records=len(records),
            audit_anchor=records[-1].hash if records else "",
        )
    finally:
        store.close()


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _audit(store: SqlStore) -> Iterator[AuditRecord]:
    after = 0
    while page := store.audit_records(after, 5000):
        yield from page
        after = page[-1].seq


def _blobs(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not re.fullmatch(r"[0-9a-f]{2}", folder.name) or not folder.is_dir():
            continue  # tmp/ holds unfinished writes
        for blob in sorted(folder.iterdir()):
            if re.fullmatch(r"[0-9a-f]{64}", blob.name):
                yield f"blobs/{folder.name}/{blob.name}", blob


def _keys(settings: Settings) -> Iterator[tuple[str, Path]]:
    if settings.key_file.is_file():
        yield MASTER_KEY, settings.key_file
    if settings.signing_key_file is None and settings.signing_dir.is_dir():
        yield f"signing/{KEY_NAME}", settings.signing_dir / KEY_NAME
        yield f"signing/{CERT_NAME}", settings.signing_dir / CERT_NAME


def _add(archive: tarfile.TarFile, manifest: Manifest, name: str, path: Path) -> None:
    """Add one file, hashing exactly the bytes written into the archive."""
    with path.open("rb") as source:
        size = os.fstat(source.fileno()).st_size
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o600
        info.mtime = int(os.fstat(source.fileno()).st_mtime)
        hashing = _HashingReader(source, size)
        archive.addfile(info, hashing)
    manifest.files[name] = {"sha256": hashing.digest(), "size": size}


class _HashingReader:
    """A file object for ``addfile`` that hashes what tarfile reads (``size`` bytes)."""

    def __init__(self, source: IO[bytes], size: int) -> None:
        self.source = source
        self.left = size
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        data = self.source.read(n)
        self.left -= len(data)
        self.hash.update(data)
        return data

    def digest(self) -> str:
        return self.hash.hexdigest()


class _BytesReader(_HashingReader):
    def __init__(self, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data), len(data))


def restore(archive_path: Path, settings: Settings) -> RestoreReport:
    """Restore a backup into ``settings.data_dir``, which must be empty or absent."""
    if settings.uses_postgres:
        raise BadRequest(
            "M.Backup.Engine",
            "this gateway uses PostgreSQL: restore the database with pg_restore (docs/backup.md)",
        )
    target = settings.data_dir.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadRequest(
            "R.Restore.NotEmpty",
            f"{target} is not an empty directory: restore only into a new data directory",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.parent))
    try:
        report = _unpack(archive_path, staging)
        os.sync()  # every restored file on disk before the directory becomes the data_dir
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _unpack(archive_path: Path, staging: Path) -> RestoreReport:
    try:
        archive = tarfile.open(archive_path, mode="r:*")  # noqa: SIM115 (closed just below)
    except (OSError, tarfile.TarError) as exc:
        raise UnusableInput(
            "M.Backup.Archive", f"{archive_path} is not a backup: {exc}"
        ) from None
    with archive:
        try:
            manifest = Manifest.parse(_read(archive, MANIFEST))
        except KeyError:
            raise UnusableInput("M.Backup.Manifest", "the archive holds no manifest") from None
        seen: set[str] = set()
        for member in archive:
            if member.name == MANIFEST:
                continue
            if not member.isfile() or not _MEMBER.match(member.name):
                raise UnusableInput(
                    "M.Backup.Archive", f"unexpected member {member.name!r} in the backup"
                )
            expected = manifest.files.get(member.name)
            if expected is None:
                raise UnusableInput(
                    "M.Backup.Hash", f"{member.name} is in the archive but not in the manifest"
                )
            digest = _extract(archive, member, staging / member.name)
            blob = member.name.rsplit("/", 1)[-1] if member.name.startswith("blobs/") else ""
            if digest != expected["sha256"] or (blob and digest != blob):
                raise UnusableInput(
                    "M.Backup.Hash", f"{member.name} does not match its SHA-256 in the manifest"
                )
            seen.add(member.name)
        missing = sorted(set(manifest.files) - seen)
        if missing:
            raise UnusableInput(
                "M.Backup.Hash", f"{len(missing)} file(s) of the manifest are missing: {missing[0]}"
            )
    blobs = sum(1 for name in seen if name.startswith("blobs/"))
    (staging / "blobs" / "tmp").mkdir(parents=True, exist_ok=True)
    database = staging / DATABASE
    final = staging / "gateway.sqlite3"
    database.rename(final)
    database.parent.rmdir()
    if (staging / MASTER_KEY).exists():
        (staging / MASTER_KEY).rename(staging / "master.key")
        (staging / "keys").rmdir()
    records = _check_database(final, staging / "blobs", manifest)
    return RestoreReport(manifest, blobs, records)


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.getmember(name)
    stream = archive.extractfile(member)
    if stream is None:
        raise KeyError(name)
    with stream:
        return stream.read()


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> str:
    stream = archive.extractfile(member)
    if stream is None:
        raise UnusableInput("M.Backup.Archive", f"{member.name} cannot be read")
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with stream, os.fdopen(fd, "wb") as out:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()  # made durable all at once before the rename (restore)


def _check_database(path: Path, blobs: Path, manifest: Manifest) -> int:
    """The restored database is intact, its audit chain verifies up to the manifest's anchor,
    and every blob it names is present."""
    store = SqlStore(SqliteDialect(path))
    try:
        problem = store.sqlite_integrity()
        if problem:
            raise UnusableInput("M.Backup.Database", f"the database is damaged: {problem}")
        records = list(_audit(store))
        report = verify(records)
        if not report.ok or (records[-1].hash if records else "") != manifest.audit_anchor:
            raise UnusableInput(
                "M.Backup.Database", "the audit log does not verify against the manifest's anchor"
            )
        referenced = store.all_referenced_blobs()
        inline = InlineBlobTable(store.dialect)
        try:
            in_database = set(inline.digests())
        finally:
            inline.close()
        absent = sorted(
            d for d in referenced if d not in in_database and not (blobs / d[:2] / d).is_file()
        )
        if absent:
            raise UnusableInput(
                "M.Backup.Database", f"{len(absent)} blob(s) the database names are missing"
            )
        return len(records)
    finally:
        store.close()
