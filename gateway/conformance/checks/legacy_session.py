"""The legacy dialect's session: raw-HTTP drivers for the agency and the peer (OrganId + Token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.conformance.driver import ServiceFault
from gateway.conformance.exchanges import ExchangeLog
from gateway.conformance.legacy import LegacyDriver
from gateway.conformance.modern import http_request
from gateway.conformance.registry import Skipped
from gateway.conformance.session import Doc, RunConfig, Session
from gateway.store.blobs import FileBlobStore


class LegacySession(Session):
    def __init__(
        self,
        config: RunConfig,
        log: ExchangeLog,
        workdir: Path,
        driver: LegacyDriver,
        peer: LegacyDriver | None,
        wsdl: bytes,
    ) -> None:
        super().__init__(config, log, workdir, driver, peer)
        self.legacy = driver
        self.legacy_peer = peer
        self.wsdl = wsdl
        self.wsdl_path = workdir / "edoc-legacy.wsdl"

    @property
    def peer_driver(self) -> LegacyDriver:
        if self.legacy_peer is None:
            raise Skipped("needs a second agency: pass --peer-agency and --peer-secret")
        return self.legacy_peer

    def new_doc(self, **options: Any) -> Doc:
        """A fresh document from the agency to the peer."""
        return self.document(self.legacy.agency, (self.peer_driver.agency,), **options)

    def impostor(self) -> LegacyDriver:
        return self.legacy.variant(token=self.legacy.token[::-1] + "x")

    def third_agency(self) -> str:
        """An agency other than the two of the run, from GetOrganizations."""

        def build() -> list[str]:
            reply = self.legacy.organizations().check()
            return [(e.text or "").strip() for e in reply.findall(".//e:Organization/e:OrganId")]

        known = {self.legacy.agency, self.peer_driver.agency}
        others = sorted(c for c in self.scenario("organizations", build) if c and c not in known)
        if not others:
            raise Skipped("GetOrganizations lists no third agency to address a document to")
        return others[0]

    def stranger(self) -> LegacyDriver:
        """An OrganId no endpoint knows (a valid code form, with some token)."""
        return self.legacy.variant(organ_id="000.00.99.Z99", token="bm90LWEtdG9rZW4=")


def connect(config: RunConfig, log: ExchangeLog, workdir: Path) -> LegacySession:
    """Fetch ``?wsdl`` once (it must be served) and build the two agencies' drivers."""
    endpoint = config.endpoint.split("?", 1)[0]
    exchange = http_request(log, "GET", endpoint + "?wsdl", b"", {}, config.timeout)
    if exchange.error:
        raise ServiceFault("", f"the WSDL could not be fetched: {exchange.error}")
    if exchange.status != 200:
        raise ServiceFault("", f"GET ?wsdl answered HTTP {exchange.status}")
    # The same content-addressed directory the session's own blob store uses.
    blobs = FileBlobStore(workdir / "blobs", durable=False)
    driver = LegacyDriver(
        endpoint, log, config.agency, config.secret, blobs, timeout=config.timeout
    )
    peer = None
    if config.peer_agency:
        peer = LegacyDriver(
            endpoint, log, config.peer_agency, config.peer_secret, blobs, timeout=config.timeout
        )
    session = LegacySession(config, log, workdir, driver, peer, exchange.response_full)
    session.wsdl_path.write_bytes(exchange.response_full)
    return session
