"""The content-addressed blob store: addressing, atomic commit, limits, crash leftovers."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from gateway.edxml.model import EMPTY_SHA256, BlobRef
from gateway.errors import LimitExceeded, StorageError
from gateway.store.blobs import CHUNK, FileBlobStore, StagedBlobs, staged
from tests.fixtures.packages import tmp_leftovers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_files(store: FileBlobStore) -> list[Path]:
    return sorted(
        p for p in store.root.rglob("*") if p.is_file() and store.tmp_dir not in p.parents
    )


def test_address_is_sha256_and_size(blob_store: FileBlobStore) -> None:
    data = "Văn bản điện tử".encode() * 100
    ref = blob_store.put_bytes(data)
    assert ref == BlobRef(sha(data), len(data))
    assert blob_store.read_bytes(ref) == data
    assert blob_store.read_bytes(ref.sha256) == data
    assert blob_store.contains(ref) and blob_store.contains(ref.sha256)


def test_path_layout(blob_store: FileBlobStore) -> None:
    data = b"%PDF-1.4 layout"
    ref = blob_store.put_bytes(data)
    digest = sha(data)
    expected = blob_store.root / digest[:2] / digest
    assert blob_store.path_for(digest) == expected
    assert expected.is_file() and expected.read_bytes() == data
    assert blob_files(blob_store) == [expected]
    assert ref.sha256 == expected.name


def test_same_content_is_stored_once(blob_store: FileBlobStore) -> None:
    data = b"same bytes from two senders"
    first = blob_store.put_bytes(data)
    second = blob_store.put_stream(io.BytesIO(data))
    with blob_store.writer() as w:
        w.write(data[:5])
        w.write(data[5:])
        third = w.commit()
    assert first == second == third
    assert len(blob_files(blob_store)) == 1
    assert tmp_leftovers(blob_store) == []
    other = blob_store.put_bytes(data + b"!")
    assert other != first and len(blob_files(blob_store)) == 2


def test_empty_blob(blob_store: FileBlobStore) -> None:
    ref = blob_store.put_bytes(b"")
    assert ref == BlobRef(EMPTY_SHA256, 0)
    assert blob_store.read_bytes(ref) == b""


@pytest.mark.parametrize("durable", [True, False])
def test_commit_is_atomic(tmp_path: Path, durable: bool) -> None:
    store = FileBlobStore(tmp_path / "store", durable=durable)
    data = b"x" * 1000
    final = store.path_for(sha(data))
    writer = store.writer()
    writer.write(data[:400])
    assert not final.exists(), "nothing may appear under the final name before commit"
    assert len(tmp_leftovers(store)) == 1
    writer.write(data[400:])
    assert not final.exists()
    ref = writer.commit()
    assert final.is_file() and final.read_bytes() == data
    assert ref == BlobRef(sha(data), 1000)
    assert tmp_leftovers(store) == []


def test_abort_leaves_nothing(blob_store: FileBlobStore) -> None:
    writer = blob_store.writer()
    writer.write(b"half a file")
    writer.abort()
    writer.abort()  # idempotent
    assert tmp_leftovers(blob_store) == []
    assert blob_files(blob_store) == []
    with pytest.raises(StorageError) as info:
        writer.write(b"more")
    assert info.value.code == "M.Blob.Closed"
    with pytest.raises(StorageError):
        writer.commit()


def test_exception_inside_with_aborts(blob_store: FileBlobStore) -> None:
    with pytest.raises(RuntimeError), blob_store.writer() as w:
        w.write(b"partial")
        raise RuntimeError("sender hung up")
    assert tmp_leftovers(blob_store) == []
    assert blob_files(blob_store) == []


def test_commit_twice_is_refused(blob_store: FileBlobStore) -> None:
    writer = blob_store.writer()
    writer.write(b"a")
    writer.commit()
    with pytest.raises(StorageError) as info:
        writer.commit()
    assert info.value.code == "M.Blob.Closed"
    with pytest.raises(StorageError):
        writer.write(b"b")


@pytest.mark.parametrize("pieces", [[11], [5, 6], [10, 1, 0]])
def test_max_size_exceeded(blob_store: FileBlobStore, pieces: list[int]) -> None:
    writer = blob_store.writer(max_size=10)
    with pytest.raises(LimitExceeded) as info:
        for n in pieces:
            writer.write(b"z" * n)
    assert info.value.code == "R.Attachment.Size"
    assert "10" in info.value.message
    assert tmp_leftovers(blob_store) == []
    assert blob_files(blob_store) == []
    with pytest.raises(StorageError):
        writer.commit()


def test_max_size_exactly_reached_is_fine(blob_store: FileBlobStore) -> None:
    writer = blob_store.writer(max_size=10)
    writer.write(b"0123456789")
    assert writer.commit().size == 10


def test_put_stream_with_limit(blob_store: FileBlobStore) -> None:
    data = b"\x00" * (CHUNK + 10)
    with pytest.raises(LimitExceeded):
        blob_store.put_stream(io.BytesIO(data), max_size=CHUNK)
    assert tmp_leftovers(blob_store) == [] and blob_files(blob_store) == []
    ref = blob_store.put_stream(io.BytesIO(data), max_size=len(data))
    assert ref == BlobRef(sha(data), len(data))
    assert b"".join(blob_store.iter_chunks(ref, size=1000)) == data
    assert [len(c) for c in blob_store.iter_chunks(ref)] == [CHUNK, 10]


def test_clean_temporary(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "s", durable=False)
    crashed = [store.writer() for _ in range(3)]
    for w in crashed:
        w.write(b"interrupted upload")
    (store.tmp_dir / "blob-leftover-from-last-run").write_bytes(b"x")
    (store.tmp_dir / "not-ours.txt").write_bytes(b"keep")
    assert len(tmp_leftovers(store)) == 5
    # Fresh temporary files may belong to another worker writing right now: kept.
    assert store.clean_temporary() == 0
    assert len(tmp_leftovers(store)) == 5
    assert store.clean_temporary(older_than_seconds=0) == 4
    assert tmp_leftovers(store) == ["not-ours.txt"]
    assert store.clean_temporary(older_than_seconds=0) == 0
    # A fresh store on the same root still works and finds committed blobs.
    ref = store.put_bytes(b"committed")
    reopened = FileBlobStore(tmp_path / "s", durable=False)
    assert reopened.read_bytes(ref) == b"committed"


def test_open_missing_blob(blob_store: FileBlobStore) -> None:
    missing = sha(b"never stored")
    with pytest.raises(StorageError) as info:
        blob_store.open(missing)
    assert info.value.code == "N.Blob"
    assert missing in info.value.message
    with pytest.raises(StorageError):
        blob_store.read_bytes(BlobRef(missing, 12))
    assert not blob_store.contains(missing)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "abc",
        "../" + "0" * 61,
        "0" * 63,
        "0" * 65,
        "A" * 64,  # upper case is not the canonical form
        "g" * 64,
        "0" * 62 + "/x",
    ],
)
def test_bad_address(blob_store: FileBlobStore, address: str) -> None:
    with pytest.raises(StorageError) as info:
        blob_store.open(address)
    assert info.value.code == "M.Blob.Address"
    with pytest.raises(StorageError):
        blob_store.path_for(address)
    with pytest.raises(StorageError):
        blob_store.contains(address)


def test_delete(blob_store: FileBlobStore) -> None:
    ref = blob_store.put_bytes(b"to delete")
    blob_store.delete(ref)
    assert not blob_store.contains(ref)
    blob_store.delete(ref)  # deleting twice is fine


def test_unusable_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(StorageError) as info:
        FileBlobStore(blocker / "blobs")
    assert info.value.code == "M.Blob.Root"


def test_adopt_links_a_spooled_file_without_copying(blob_store: FileBlobStore) -> None:
    data = b"<edXML>as received</edXML>\n" * 1000
    spool = blob_store.tmp_dir / "received-test"
    spool.write_bytes(data)
    ref = blob_store.adopt(spool, sha(data))
    assert ref == BlobRef(sha(data), len(data))
    assert blob_store.path_for(ref.sha256).samefile(spool)  # one inode, two names
    spool.unlink()
    assert blob_store.read_bytes(ref) == data
    again = blob_store.tmp_dir / "received-again"
    again.write_bytes(data)
    assert blob_store.adopt(again, sha(data)) == ref  # already there: nothing changes


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem (tmpfs)")
def test_adopt_copies_across_filesystems_and_checks_the_hash(
    blob_store: FileBlobStore,
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        source = Path(other) / "spooled"
        source.write_bytes(b"on another filesystem")
        if source.stat().st_dev == blob_store.root.stat().st_dev:
            pytest.skip("/dev/shm is on the same filesystem here")
        ref = blob_store.adopt(source, sha(b"on another filesystem"))
        assert not blob_store.path_for(ref.sha256).samefile(source)
        assert blob_store.read_bytes(ref) == b"on another filesystem"
        source.write_bytes(b"changed after hashing")
        with pytest.raises(StorageError) as caught:
            blob_store.adopt(source, sha(b"what the writer hashed"))
        assert caught.value.code == "M.Blob.Changed"
    assert tmp_leftovers(blob_store) == []


def test_a_blob_already_filed_is_not_written_again(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path / "blobs", durable=True)
    first = blobs.put_bytes(b"the same bytes")
    path = blobs.path_for(first.sha256)
    inode = os.stat(path).st_ino
    again = blobs.put_bytes(b"the same bytes")
    assert again == first
    assert os.stat(path).st_ino == inode  # the first file stays; the copy was dropped
    assert blobs.read_bytes(again) == b"the same bytes"
    assert not [p for p in blobs.tmp_dir.iterdir() if p.is_file()]


def test_staged_blobs_are_filed_only_when_published(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    kept = store.put_bytes(b"already here")
    with staged(store) as stage:
        ref = stage.put_bytes(b"new content")
        again = stage.put_bytes(b"new content")  # same content staged once
        assert again == ref and stage.pending == 1
        assert stage.read_bytes(ref) == b"new content"  # readable through the stage
        assert stage.read_bytes(kept) == b"already here"
        assert not store.contains(ref)
        stage.publish()
        assert store.read_bytes(ref) == b"new content" and stage.pending == 0
    with staged(store) as stage:
        dropped = stage.put_bytes(b"refused")
    assert not store.contains(dropped)
    assert list(store.tmp_dir.iterdir()) == []


def test_a_stage_holds_small_blobs_in_memory_and_spills_past_its_budget(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    stage = StagedBlobs(store, in_memory=100)
    small = stage.put_bytes(b"s" * 60)
    assert tmp_leftovers(store) == []  # in memory: no scratch file
    with stage.writer() as w:  # 60 + 50 > 100: this one goes to a file, written in pieces
        w.write(b"x" * 30)
        w.write(b"y" * 20)
        spilled = w.commit()
    assert len(tmp_leftovers(store)) == 1
    last = stage.put_bytes(b"z" * 40)  # the spilled blob's bytes were given back: 40 fits
    assert len(tmp_leftovers(store)) == 1
    assert stage.read_bytes(spilled) == b"x" * 30 + b"y" * 20
    assert stage.read_bytes(small) == b"s" * 60 and stage.read_bytes(last) == b"z" * 40
    assert not any(store.contains(r) for r in (small, spilled, last))
    stage.publish()
    assert [store.read_bytes(r) for r in (small, spilled, last)] == [
        b"s" * 60, b"x" * 30 + b"y" * 20, b"z" * 40
    ]
    assert tmp_leftovers(store) == [] and stage.pending == 0


def test_an_aborted_staged_blob_leaves_nothing_and_frees_its_memory(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    stage = StagedBlobs(store, in_memory=100)
    with pytest.raises(LimitExceeded), stage.writer(max_size=80) as w:
        w.write(b"a" * 70)
        w.write(b"a" * 20)  # past max_size: the writer aborts itself
    ref = stage.put_bytes(b"b" * 100)  # the whole budget is there again
    assert tmp_leftovers(store) == [] and stage.pending == 1
    stage.discard()
    assert not store.contains(ref) and tmp_leftovers(store) == []
