"""The modern dialect's session: zeep drivers for the agency and the peer, and shared helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.conformance.driver import Receipt, ServiceFault
from gateway.conformance.exchanges import ExchangeLog
from gateway.conformance.modern import BINDING12, Credentials, ModernDriver
from gateway.conformance.registry import Failed, Skipped, expect
from gateway.conformance.session import Doc, RunConfig, Session


class ModernSession(Session):
    def __init__(
        self,
        config: RunConfig,
        log: ExchangeLog,
        workdir: Path,
        driver: ModernDriver,
        peer: ModernDriver | None,
        wsdl: bytes,
    ) -> None:
        super().__init__(config, log, workdir, driver, peer)
        self.modern = driver
        self.modern_peer = peer
        self.wsdl = wsdl

    @property
    def peer_driver(self) -> ModernDriver:
        if self.modern_peer is None:
            raise Skipped("needs a second agency: pass --peer-agency and --peer-secret")
        return self.modern_peer

    def anonymous(self, binding: str | None = None) -> ModernDriver:
        return self.modern.variant(anonymous=True, binding=binding)

    def soap12(self) -> ModernDriver:
        return self.modern.variant(binding=BINDING12)

    def as_agency(self, **options: Any) -> ModernDriver:
        """The agency's driver with altered credentials (secret, nonce, created, digest...)."""
        c = self.modern.credentials
        assert c is not None
        fields = {"agency": c.agency, "secret": c.secret, **options}
        return self.modern.variant(Credentials(**fields))

    def info(self) -> Any:
        return self.scenario("service-info", lambda: self.anonymous().service_info())

    def new_doc(self, **options: Any) -> Doc:
        """A fresh document from the agency to the peer."""
        return self.document(self.modern.agency, (self.peer_driver.agency,), **options)

    def send(self, doc: Doc) -> Receipt:
        return self.modern.send_document(doc.package)

    def pending_doc_ids(
        self, driver: ModernDriver | None = None, kind: str = "document"
    ) -> list[str]:
        return [i.document_id for i in (driver or self.peer_driver).pending_all(kind)]

    def pending_ids(self, driver: ModernDriver | None = None, kind: str = "document") -> list[str]:
        return [i.package_id for i in (driver or self.peer_driver).pending_all(kind)]

    def assert_not_delivered(self, doc: Doc) -> None:
        """Nothing stored: the refused document is in no mailbox of the peer."""
        found = [d for d in self.pending_doc_ids() if d == doc.document_id]
        expect(not found, f"the refused document {doc.document_id} was delivered to the peer")

    def third_agency(self) -> str:
        """An enabled agency other than the agency and the peer, from GetAgencies."""
        known = {self.modern.agency, self.peer_driver.agency}
        others = [code for code in self.modern.agencies() if code not in known]
        if not others:
            raise Skipped("GetAgencies lists no third agency to address a package to")
        return sorted(others)[0]


def expect_fault(
    call: Callable[[], Any], *, codes: tuple[str, ...] = (), side: str = "client"
) -> ServiceFault:
    """Run ``call``; it must fault on the client side with a code starting with one of ``codes``."""
    try:
        value = call()
    except ServiceFault as fault:
        standards = ("Client", "Sender") if side == "client" else ("Server", "Receiver")
        expect(
            fault.standard in standards or (not fault.standard and fault.http_status >= 400),
            f"expected a {side} fault, got fault code {fault.standard!r}: {fault}",
        )
        if codes:
            expect(
                fault.code.startswith(codes),
                f"expected a fault code starting with {' or '.join(codes)}, got {fault}",
            )
        return fault
    raise Failed(f"expected a fault{' ' + '/'.join(codes) if codes else ''}, got {value!r:.300}")


def connect(config: RunConfig, log: ExchangeLog, workdir: Path) -> ModernSession:
    """Fetch the WSDL once into ``workdir`` and build the two agencies' drivers."""
    endpoint = config.endpoint.split("?", 1)[0]
    wsdl_path = workdir / "edoc-gateway.wsdl"
    wsdl = ModernDriver.fetch_wsdl(endpoint, log, wsdl_path, config.timeout)
    driver = ModernDriver(
        endpoint, wsdl_path, log, Credentials(config.agency, config.secret), timeout=config.timeout
    )
    peer = None
    if config.peer_agency:
        peer = ModernDriver(
            endpoint,
            wsdl_path,
            log,
            Credentials(config.peer_agency, config.peer_secret),
            timeout=config.timeout,
        )
    return ModernSession(config, log, workdir, driver, peer, wsdl)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
