"""The PostgreSQL blob backend on a real server, and ``db migrate-blobs`` both ways (resumable)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from gateway.config import BlobBackend, Settings
from gateway.errors import LimitExceeded, StorageError
from gateway.store import open_blobs, open_store
from gateway.store.blobs import FileBlobStore, staged
from gateway.store.blobs_inline import InlineBlobStore
from gateway.store.blobs_pg import CHUNK, PostgresBlobStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_blobs(postgres_dsn: str, tmp_path: Path) -> PostgresBlobStore:
    settings = Settings(data_dir=tmp_path / "data", database_dsn=postgres_dsn)
    open_store(settings).close()  # migration 0008 creates the tables
    blobs = PostgresBlobStore(postgres_dsn, tmp_path / "scratch")
    yield blobs  # type: ignore[misc]
    blobs.close()


def _chunk_rows(dsn: str, digest: str) -> list[int]:
    with psycopg.connect(dsn) as c:
        rows = c.execute(
            "SELECT length(data) FROM blob_chunks WHERE sha256 = %s ORDER BY seq", (digest,)
        ).fetchall()
    return [int(r[0]) for r in rows]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_blob_round_trip_at_chunk_boundaries(pg_blobs: PostgresBlobStore, size: int) -> None:
    data = os.urandom(size)
    with pg_blobs.writer() as w:
        for i in range(0, size, 100_000):  # written in pieces that straddle the chunks
            w.write(data[i : i + 100_000])
        ref = w.commit()
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == size
    assert pg_blobs.contains(ref)
    assert pg_blobs.read_bytes(ref) == data
    assert b"".join(pg_blobs.iter_chunks(ref, 4096)) == data
    rows = _chunk_rows(pg_blobs.dsn, ref.sha256)
    assert sum(rows) == size and all(n <= CHUNK for n in rows)
    assert len(rows) == -(-size // CHUNK)
    assert list(pg_blobs.tmp_dir.iterdir()) == []  # the spill file is gone


def test_same_bytes_are_stored_once_and_an_aborted_writer_leaves_nothing(
    pg_blobs: PostgresBlobStore,
) -> None:
    data = os.urandom(2 * CHUNK + 5)
    first = pg_blobs.put_bytes(data)
    with open(pg_blobs.tmp_dir / "received-x", "wb") as f:
        f.write(data)
    assert pg_blobs.adopt(pg_blobs.tmp_dir / "received-x", first.sha256) == first
    assert len(_chunk_rows(pg_blobs.dsn, first.sha256)) == 3
    writer = pg_blobs.writer()
    writer.write(os.urandom(2 * CHUNK))
    unseen = writer.digest()
    writer.abort()
    assert not pg_blobs.contains(unseen)
    assert [p.name for p in pg_blobs.tmp_dir.iterdir()] == ["received-x"]
    with pytest.raises(StorageError) as missing:
        pg_blobs.open(unseen)
    assert missing.value.code == "N.Blob"


def _rows(dsn: str) -> tuple[list[str], int]:
    """Every committed blob address and the number of chunk rows, as another node sees them."""
    with psycopg.connect(dsn) as c:
        addresses = [str(r[0]) for r in c.execute("SELECT sha256 FROM blobs ORDER BY 1")]
        row = c.execute("SELECT count(*) FROM blob_chunks").fetchone()
    return addresses, int(row[0]) if row else 0


def test_a_large_blob_streams_in_one_transaction_without_a_scratch_file(
    pg_blobs: PostgresBlobStore,
) -> None:
    data = os.urandom(3 * CHUNK + 17)
    with pg_blobs.writer() as w:
        for i in range(0, len(data), 300_000):
            w.write(data[i : i + 300_000])
        # Three chunks have gone to the server, yet no one else sees a row, and nothing is
        # spilled locally.
        assert _rows(pg_blobs.dsn) == ([], 0)
        assert list(pg_blobs.tmp_dir.iterdir()) == []
        ref = w.commit()
    assert _rows(pg_blobs.dsn) == ([ref.sha256], 4)  # no provisional row is left
    assert pg_blobs.read_bytes(ref) == data

    # The same bytes streamed again keep the first copy's chunks and leave nothing else.
    with pg_blobs.writer() as again:
        again.write(data)
        assert again.commit() == ref
    assert _rows(pg_blobs.dsn) == ([ref.sha256], 4)

    # An abort, and a limit crossed mid-stream, roll the sent chunks back.
    other = os.urandom(2 * CHUNK + 1)
    writer = pg_blobs.writer()
    writer.write(other)
    writer.abort()
    with pytest.raises(LimitExceeded), pg_blobs.writer(max_size=2 * CHUNK) as limited:
        limited.write(other)
    assert _rows(pg_blobs.dsn) == ([ref.sha256], 4)


def test_a_crash_before_a_streamed_blob_commits_leaves_nothing(
    pg_blobs: PostgresBlobStore, tmp_path: Path
) -> None:
    script = (
        "import os, sys\n"
        "from gateway.store.blobs_pg import CHUNK, PostgresBlobStore\n"
        "blobs = PostgresBlobStore(sys.argv[1], sys.argv[2])\n"
        "w = blobs.writer()\n"
        "w.write(os.urandom(3 * CHUNK))\n"
        "w.commit()\n"
        "print('not killed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, pg_blobs.dsn, str(tmp_path / "crash-scratch")],
        env={**os.environ, "GATEWAY_CRASH_POINT": "blob.stream.commit:1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "not killed" not in done.stdout
    assert _rows(pg_blobs.dsn) == ([], 0)  # the server rolled the whole stream back


def test_a_limit_refuses_and_a_changed_file_is_not_adopted(pg_blobs: PostgresBlobStore) -> None:
    with pytest.raises(LimitExceeded), pg_blobs.writer(max_size=CHUNK) as w:
        w.write(b"x" * CHUNK)
        w.write(b"y")
    spool = pg_blobs.tmp_dir / "received-y"
    spool.write_bytes(b"what was hashed")
    with pytest.raises(StorageError) as changed:
        pg_blobs.adopt(spool, hashlib.sha256(b"something else").hexdigest())
    assert changed.value.code == "M.Blob.Changed"


def test_a_reader_seeks_and_tells_as_a_file_does(pg_blobs: PostgresBlobStore) -> None:
    """An HTTP client measures an upload by seeking to its end (the relay streams blobs)."""
    data = os.urandom(2 * CHUNK + 100)
    ref = pg_blobs.put_bytes(data)
    with pg_blobs.open(ref) as f:
        assert f.seekable() and f.seek(0, os.SEEK_END) == len(data) and f.tell() == len(data)
        f.seek(CHUNK - 3)
        assert f.read(6) == data[CHUNK - 3 : CHUNK + 3]
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
        f.seek(0)
        assert f.read() == data


def test_local_copy_and_delete(pg_blobs: PostgresBlobStore) -> None:
    ref = pg_blobs.put_bytes(b"raw bytes as received")
    with pg_blobs.local_copy(ref) as path:
        assert path.read_bytes() == b"raw bytes as received"
    assert not path.exists()
    pg_blobs.delete(ref)
    assert not pg_blobs.contains(ref) and _chunk_rows(pg_blobs.dsn, ref.sha256) == []


def test_open_blobs_follows_blob_backend(postgres_dsn: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_dsn=postgres_dsn,
        blob_backend=BlobBackend.POSTGRES,
        master_key="A" * 43 + "=",
    )
    open_store(settings).close()
    blobs = open_blobs(settings)
    assert isinstance(blobs, InlineBlobStore) and isinstance(blobs.backend, PostgresBlobStore)
    ref = blobs.put_bytes(b"in the database")
    large = blobs.put_bytes(b"x" * (settings.inline_blob_bytes + 1))  # the backend's
    assert not (tmp_path / "data" / "blobs").exists()
    assert blobs.read_bytes(ref) == b"in the database"
    assert blobs.backend.contains(large) and not blobs.backend.contains(ref)
    blobs.close()


def _cli(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_migrate_blobs_both_ways_and_resumes_after_sigkill(
    postgres_dsn: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{data_dir}"\ndatabase_dsn = "{postgres_dsn}"\n')
    files = FileBlobStore(data_dir / "blobs", durable=False)
    contents = {files.put_bytes(os.urandom(n)).sha256 for n in range(60)}
    contents |= {files.put_bytes(os.urandom(3 * CHUNK)).sha256 for _ in range(40)}

    def in_database() -> int:
        with psycopg.connect(postgres_dsn) as c:
            try:
                row = c.execute("SELECT count(*) FROM blobs").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
        return int(row[0]) if row else 0

    first = _cli(config, "db", "migrate-blobs", "--to", "postgres")
    deadline = time.monotonic() + 120
    while in_database() < 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    copied_before = in_database()
    assert 0 < copied_before < len(contents)  # stopped after some blobs, before the last

    second = _cli(config, "db", "migrate-blobs", "--to", "postgres")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "already in PostgreSQL" in out and 'blob_backend = "postgres"' in out
    database = PostgresBlobStore(postgres_dsn, tmp_path / "scratch")
    try:
        assert set(database.digests()) == contents
        for digest in contents:
            assert hashlib.sha256(database.read_bytes(digest)).hexdigest() == digest

        # ...and back into an empty file store.
        config.write_text(f'data_dir = "{tmp_path / "other"}"\ndatabase_dsn = "{postgres_dsn}"\n')
        back = _cli(config, "db", "migrate-blobs", "--to", "file")
        out, err = back.communicate(timeout=300)
        assert back.returncode == 0, err
        assert out.startswith(f"{len(contents)} blob(s) copied")
        restored = FileBlobStore(tmp_path / "other" / "blobs", durable=False)
        assert set(restored.digests()) == contents
        for digest in contents:
            assert hashlib.sha256(restored.read_bytes(digest)).hexdigest() == digest
    finally:
        database.close()


def test_migrate_blobs_needs_postgres(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    run = _cli(config, "db", "migrate-blobs", "--to", "postgres")
    _out, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "N.Config.database_dsn" in err


def test_staged_blobs_reach_postgres_only_when_published(pg_blobs: PostgresBlobStore) -> None:
    """A refused package leaves no row behind; an accepted one files its staged blobs in PG."""
    content = os.urandom(CHUNK + 5)
    with staged(pg_blobs) as stage:
        ref = stage.put_bytes(content)
        assert stage.read_bytes(ref) == content and not pg_blobs.contains(ref)
        stage.publish()
    assert pg_blobs.read_bytes(ref) == content
    with staged(pg_blobs) as stage:
        dropped = stage.put_bytes(b"refused " + os.urandom(16))
    assert not pg_blobs.contains(dropped)
    assert list(pg_blobs.tmp_dir.iterdir()) == []
