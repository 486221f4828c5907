"""Moving every blob from one backend to the other (``edoc-gateway db migrate-blobs``).

The move is a copy, blob by blob, in address order: each blob is streamed from the source into
the target (never whole in memory) and its address checked on arrival. A blob is filed in the
target atomically (a file renamed into place, a PostgreSQL transaction), and one already there is
skipped, so a run stopped at any moment (even SIGKILL) is simply run again and continues where
it stopped. The source is left as it was: the operator switches ``blob_backend`` once the copy is
complete, and removes the old blobs when satisfied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.errors import StorageError
from gateway.store.blobs import BlobStore


@dataclass(slots=True)
class MoveReport:
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0


def move_blobs(
    source: BlobStore,
    target: BlobStore,
    digests: Iterator[str],
    progress: Callable[[MoveReport], None] | None = None,
) -> MoveReport:
    """Copy each blob of ``digests`` from ``source`` into ``target`` unless it is there."""
    report = MoveReport()
    for digest in digests:
        if target.contains(digest):
            report.already_there += 1
            continue
        with source.open(digest) as stream:
            ref = target.put_stream(stream)
        if ref.sha256 != digest:
            target.delete(ref)
            raise StorageError(
                "M.Blob.Changed",
                f"blob {digest} in {source.location} does not hash to its address "
                f"(got {ref.sha256}): it is damaged and was not copied",
            )
        report.copied += 1
        report.bytes_copied += ref.size
        if progress is not None:
            progress(report)
    return report
