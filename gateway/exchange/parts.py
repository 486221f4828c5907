"""What every room of the exchange works with: settings, the store, the blobs, the clock, the
credentials, the gateway's signing key, sender trust and the router, opened once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import Settings
from gateway.edxml.reader import ReadOptions
from gateway.errors import PermissionDenied
from gateway.routing.router import Router
from gateway.security.credentials import Credentials, master_key_of
from gateway.security.keys import signing_material
from gateway.security.signatures import SigningKey
from gateway.store import open_blobs, open_store
from gateway.store.base import AgencyRecord, Store, to_micros
from gateway.store.blobs import BlobStore
from gateway.trust import SenderTrust


@dataclass(frozen=True, slots=True)
class Parts:
    settings: Settings
    store: Store
    blobs: BlobStore
    clock: Callable[[], dt.datetime]
    credentials: Credentials
    signing_key: SigningKey
    trust: SenderTrust
    router: Router

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        store: Store | None,
        blobs: BlobStore | None,
        clock: Callable[[], dt.datetime],
    ) -> Parts:
        store = store if store is not None else open_store(settings)
        blobs = blobs if blobs is not None else open_blobs(settings)
        credentials = Credentials(
            store,
            master_key_of(settings),
            replay_window=dt.timedelta(seconds=settings.replay_window_seconds),
            password_text_allowed=settings.password_text_allowed,
        )
        key_file, cert_file = signing_material(settings)
        return cls(
            settings=settings,
            store=store,
            blobs=blobs,
            clock=clock,
            credentials=credentials,
            signing_key=SigningKey.from_files(key_file, cert_file),
            trust=SenderTrust(settings),
            router=Router(settings, store),
        )

    @property
    def read_options(self) -> ReadOptions:
        """How untrusted packages are read here: the attachment and unzip limits of the
        settings (``max_attachment_bytes``, ``max_decompressed_bytes``,
        ``max_compression_ratio``)."""
        return ReadOptions(
            max_attachment_bytes=self.settings.max_attachment_bytes,
            max_decompressed_bytes=self.settings.max_decompressed_bytes,
            max_compression_ratio=self.settings.max_compression_ratio,
        )

    def now_micros(self) -> int:
        return to_micros(self.clock())

    def agency(self, code: str) -> AgencyRecord:
        """The enabled agency ``code``; any operation by another is refused."""
        record = self.store.get_agency(code)
        if record is None or not record.enabled:
            raise PermissionDenied("M.Permission", f"agency {code} is not enabled here")
        return record
