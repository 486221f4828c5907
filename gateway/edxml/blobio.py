"""What the edXML core needs from a blob store, as protocols (``gateway.store`` implements them).

Keeping these here lets the core stream attachments without depending on any storage backend.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from gateway.edxml.model import BlobRef


class BlobSink(Protocol):
    """Where streamed bytes go; :meth:`commit` returns their content address."""

    def write(self, data: bytes) -> int: ...

    def commit(self) -> BlobRef: ...

    def abort(self) -> None: ...


class BlobStoreLike(Protocol):
    """Create sinks and read blobs back by address."""

    def writer(self, max_size: int | None = None) -> BlobSink: ...

    def open(self, ref: BlobRef | str) -> BinaryIO: ...
