"""Who is who: authenticating an agency, its secret for the faces that sign with it, the
agencies a client may address, the upstreams' agencies, and what this gateway is."""

from __future__ import annotations

import datetime as dt

from gateway import __version__
from gateway.exchange.parts import Parts
from gateway.exchange.types import AgencyInfo, ServiceInfo
from gateway.security.credentials import UsernameToken
from gateway.store.base import AgencyRecord
from gateway.store.records import DirectoryEntry, to_micros


class Directory:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def authenticate(self, token: UsernameToken) -> str:
        return self._parts.credentials.authenticate(token, self._parts.clock())

    def agency_secret(self, code: str) -> str | None:
        """The current secret of an enabled agency (a face's HMAC key or token), else None."""
        record = self._parts.store.get_agency(code.strip())
        if record is None or not record.enabled:
            return None
        return self._parts.credentials.current_secret(record.code)

    def remember_signature(self, system_id: str, signature: str, window_seconds: int) -> bool:
        """Record a REST-face request signature; False when it was seen within the window (a
        replay). Kept beside the WS-Security nonces, so every process of every node sees it."""
        now = self._parts.clock()
        forget_before = to_micros(now - dt.timedelta(seconds=2 * window_seconds))
        return self._parts.store.remember_nonce(
            f"vxp:{system_id}", signature, to_micros(now), forget_before
        )

    def ensure_agency(self, code: str, name: str) -> str:
        """Register ``code`` unless it is registered already; its current secret (the demo)."""
        parts = self._parts
        if parts.store.get_agency(code) is None:
            parts.credentials.add_agency(code, name, "", parts.clock())
        return parts.credentials.current_secret(code)

    def get_agencies(self, agency: str) -> list[AgencyInfo]:
        self._parts.agency(agency)
        return [AgencyInfo(a.code, a.name, a.email, a.enabled) for a in self.local_agencies()]

    def local_agencies(self) -> list[AgencyRecord]:
        """The enabled agencies with a mailbox here."""
        return [a for a in self._parts.store.list_agencies() if a.enabled]

    def upstream_agencies(self) -> list[DirectoryEntry]:
        """The agencies reached through upstreams and peers, as the directory knows them."""
        return self._parts.store.list_directory()

    def service_info(self) -> ServiceInfo:
        s = self._parts.settings
        return ServiceInfo(
            version=__version__,
            role=s.role,
            max_request_bytes=s.max_request_bytes,
            stream_threshold_bytes=s.stream_threshold_bytes,
            replay_window_seconds=s.replay_window_seconds,
            password_text_allowed=s.password_text_allowed,
        )
