"""Lenient in from upstream (issue 14 item 2): every package the national axis's test platform
delivered (``../shared/samples/axis-delivered/``) goes through a real simulator process and the
gateway's inbound poller into a local mailbox, with warnings for what a local client would be
refused for (a VXP systemId ``vxp.saas.03`` as From/OrganId, the axis's own trace hops). The
same bytes from a local client stay refused.

The simulator plays the test platform: one system, ``vxp.saas.03``, sends each sample as it was
delivered, to itself and to an agency registered under it; the gateway polls as that system, and
has a mailbox for each recipient (``vxp.saas.03`` registered as a system). On SQLite and
PostgreSQL (``store_settings``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import Settings, UpstreamSettings
from gateway.errors import InvalidPackage
from gateway.exchange import Exchange
from gateway.relay.connectors.vxp import VxpConnector
from gateway.relay.service import RelayService
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.simulator_process import simulator_process

SYSTEM, SECRET = "vxp.saas.03", "saas-secret"
UNIT = "000.00.15.H51"  # the 2019 sample's sender and recipient, a unit under the system


@pytest.fixture
def axis(tmp_path: Path) -> Iterator[str]:
    """``edoc-gateway simulate-axis`` as its own process; yields its endpoint."""
    with simulator_process(tmp_path / "axis", "--agency", f"{SYSTEM}:{SECRET}") as (url, _):
        yield url


def test_every_axis_delivered_sample_reaches_a_local_mailbox(
    axis: str, store_settings: Settings, samples_dir: Path
) -> None:
    samples = sorted((samples_dir / "axis-delivered").glob("*.edxml"))
    assert len(samples) >= 3
    platform = VxpConnector(
        UpstreamSettings(
            name="platform",
            protocol="vxp",
            endpoint=axis,
            system_id=SYSTEM,
            secret=SECRET,
            timeout_seconds=10,
        )
    )
    platform.register_agency(AgencyRecord(UNIT, "Sở Tư pháp (test)", pcode=SYSTEM))
    upstream = UpstreamSettings(
        name="national",
        protocol="vxp",
        endpoint=axis,
        system_id=SYSTEM,
        secret=SECRET,
        timeout_seconds=10,
        poll_interval_seconds=0.001,
    )
    settings = replace(store_settings, upstreams=(upstream,), default_upstream="")
    exchange = Exchange(settings)
    now = dt.datetime.now(dt.UTC)
    exchange.credentials.add_agency(SYSTEM, "Nền tảng thử nghiệm VXP", "", now, system=True)
    exchange.credentials.add_agency(UNIT, "Sở Tư pháp (test)", "", now)
    relay = RelayService(settings, exchange=exchange)
    try:
        sent = {}
        for sample in samples:
            data = sample.read_bytes()
            from_code = SYSTEM if b"<edXML:OrganId>vxp.saas.03<" in data else UNIT
            sent[sample.name] = platform.send_edoc(
                from_code, "edoc", io.BytesIO(data), hashlib.sha256(data).hexdigest()
            )
        step = relay.run_once()
        poll = step.polls["national"]
        assert (poll.accepted, poll.refused, poll.deferred) == (len(samples), 0, 0), poll

        delivered = {}
        for mailbox in (SYSTEM, UNIT):
            for item in exchange.get_pending(mailbox, "document", 50, "").items:
                delivered[item.document_id] = (mailbox, item)
        for sample in samples:
            text = sample.read_text("utf-8")
            document_id = text.split("<edXML:DocumentId>", 1)[1].split("<", 1)[0]
            mailbox, item = delivered[document_id]
            assert mailbox == (SYSTEM if "vxp.saas.03" in text else UNIT)
            stored = exchange.store.get_package(item.package_id)
            assert stored is not None
            warnings = json.loads(stored.warnings_json)
            assert all(w["severity"] == "warning" for w in warnings)
            if mailbox == SYSTEM:  # what strict validation calls errors is a warning here
                codes = {w["code"] for w in warnings}
                assert {"M.MessageHeader.From.OrganId", "M.MessageHeader.To.OrganId"} <= codes
                assert any(
                    "accepted as delivered by upstream national" in w["message"] for w in warnings
                )
            # The receiver reads it and confirms, like any other document.
            content = exchange.get_package(mailbox, item.package_id)
            assert content.summary["subject"]
        # Every delivery was acknowledged done at the axis, none failed.
        states = {row.receive_status for row in platform.sent_list("edoc")}
        assert states == {"done"}, platform.sent_list("edoc")

        # Local clients stay strict: the same bytes from the mailbox's own client are refused.
        strict = samples[-1] if "vxp.saas.03" in samples[-1].read_text("utf-8") else samples[1]
        with pytest.raises(InvalidPackage) as refused:
            exchange.send_document(SYSTEM, strict.read_bytes())
        assert refused.value.code in ("M.MessageHeader.From.OrganId", "M.MessageHeader.To.OrganId")
    finally:
        relay.close()
        platform.close()
        exchange.close()
