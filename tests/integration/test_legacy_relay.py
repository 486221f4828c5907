"""A legacy eDoc client's document round trip between two provinces over the national axis
(issue 5 item 7): legacy client → canonical edXML → relay → axis → relay → legacy client, and its
statuses all the way back.

- One national-axis simulator runs in a thread on 127.0.0.1 with its own SQLite file.
- Gateways A (Tây Ninh) and B (Nghệ An) are each ``gateway.server.build_app`` on a real HTTP
  server thread with their own data directory and store (A on ``store_settings``: SQLite and
  PostgreSQL; B on SQLite), each with an ``[[upstream]]`` of protocol ``vxp`` on the simulator
  under its own systemId. Their relays are the real :class:`RelayService`, stepped.
- The agencies are legacy eDoc clients speaking the dialect at ``/legacy/edoc`` as raw HTTP
  (:class:`~gateway.conformance.legacy.LegacyDriver`: SwA with base64-text parts, OrganId + Token).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.conformance.exchanges import ExchangeLog
from gateway.conformance.legacy import LegacyDriver, decode_part
from gateway.edxml.enums import BusinessDocType, StatusCode
from gateway.edxml.model import (
    Business,
    Code,
    DocumentPackage,
    ResponseFor,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.writer import package_bytes
from gateway.simulator.httpd import Simulator
from gateway.store.blobs import FileBlobStore
from tests.fixtures.gateways import ServedGateway
from tests.fixtures.packages import _organization, build_document, build_status

SYSTEM_A, SECRET_A = "00.53.W00", "tay-ninh-secret"
SYSTEM_B, SECRET_B = "00.41.W00", "nghe-an-secret"
AT_A = "000.00.01.H53"  # Văn phòng UBND tỉnh Tây Ninh, behind gateway A
AT_B = "000.00.01.H41"  # Văn phòng UBND tỉnh Nghệ An, behind gateway B
NAMES = {AT_A: "Văn phòng UBND tỉnh Tây Ninh", AT_B: "Văn phòng UBND tỉnh Nghệ An"}
DOCUMENT_ID = f"{AT_A},2024/03/05,21/UBND-VP"
# A client profile of A's agency: statuses as "01"… stamped dd/MM/yyyy HH:mm:ss.
TWO_DIGIT = "two-digit-vn"
TWO_DIGIT_PROFILE = f"""name = "{TWO_DIGIT}"
description = "A client that writes status codes as two digits and dates day first"
status_code_format = "two-digit"
status_timestamp_format = "dd/MM/yyyy HH:mm:ss"
"""
FILE = b"%PDF-1.4\n% c\xc3\xb4ng v\xc4\x83n li\xc3\xaan t\xe1\xbb\x89nh\n" + bytes(range(256)) * 40


class TwoProvinces:
    """The simulator, gateways A and B, and a legacy client for each one's agency."""

    def __init__(self, settings_a: Settings, tmp_path: Path, profile_a: str) -> None:
        self.sim = Simulator.create(
            tmp_path / "axis", {SYSTEM_A: SECRET_A, SYSTEM_B: SECRET_B}, seed=5
        ).start()
        axis = self.sim.url + "/XrdAdapter/adapter"
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        (profiles / f"{TWO_DIGIT}.toml").write_text(TWO_DIGIT_PROFILE, "utf-8")
        settings_a = replace(
            settings_a,
            legacy_profiles_dir=profiles,
            legacy_profile_by_agency=(f"{AT_A}={profile_a}",),
        )
        self.a = ServedGateway(settings_a, axis, SYSTEM_A, SECRET_A, {AT_A: NAMES[AT_A]})
        self.b = ServedGateway(
            Settings(data_dir=tmp_path / "b-data"), axis, SYSTEM_B, SECRET_B, {AT_B: NAMES[AT_B]}
        )
        for gateway in (self.a, self.b):  # both import the axis's directory (getAgenciesList)
            first = gateway.relay.run_once()
            assert first.syncs["national"].listed >= 2
        # Each gateway reaches the other's agency through the axis, by the synced directory.
        for gateway, remote in ((self.a, AT_B), (self.b, AT_A)):
            entry = gateway.admin.store.directory_entry(remote)
            assert entry is not None and (entry.upstream, entry.source) == ("national", "sync")
        self.profile_a = profile_a
        self.blobs = FileBlobStore(tmp_path / "client-blobs", durable=False)
        self.log = ExchangeLog()
        self.client_a = self.client(self.a, AT_A)
        self.client_b = self.client(self.b, AT_B)

    def client(self, gateway: ServedGateway, code: str) -> LegacyDriver:
        return LegacyDriver(
            f"{gateway.settings.public_url}/legacy/edoc",
            self.log,
            code,
            gateway.tokens[code],
            self.blobs,
            timeout=20.0,
        )

    def relay_both(self) -> None:
        """Each relay until idle, A again last: whatever B sent on is fetched by A too."""
        for gateway in (self.a, self.b, self.a):
            gateway.relay_until_idle()

    def close(self) -> None:
        self.a.close()
        self.b.close()
        self.sim.close()


@pytest.fixture(params=["edoc", TWO_DIGIT])
def provinces(
    store_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[TwoProvinces]:
    """A's agency reads with the bundled ``edoc`` profile or with a two-digit one."""
    world = TwoProvinces(store_settings, tmp_path, request.param)
    yield world
    world.close()


def document(blobs: FileBlobStore) -> DocumentPackage:
    pkg = build_document(
        blobs,
        FILE,
        name="Công văn 21-UBND.pdf",
        from_=_organization(AT_A, NAMES[AT_A]),
        to=(_organization(AT_B, NAMES[AT_B]),),
        code=Code("21", "UBND-VP"),
        document_id=DOCUMENT_ID,
        subject="V/v phối hợp liên thông giữa hai tỉnh",
    )
    trace = TraceHeaderList(
        (TraceHeader(AT_A, dt.datetime(2024, 3, 5, 8, 9, 10)),),
        Business(doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper="0"),
    )
    return replace(pkg, trace=trace)


def status_bytes(blobs: FileBlobStore, code: StatusCode, at: dt.datetime) -> bytes:
    """B's status about A's document, as edXML (the driver writes it as UpdateTraces' Status)."""
    pkg = build_status(
        code,
        from_=_organization(AT_B, NAMES[AT_B]),
        response_for=ResponseFor(AT_A, "21/UBND-VP", dt.date(2024, 3, 5), DOCUMENT_ID),
        description=code.vietnamese,
        timestamp=at,
    )
    return package_bytes(pkg, blobs)


def test_legacy_document_crosses_the_axis_and_its_statuses_come_back(
    provinces: TwoProvinces,
) -> None:
    world = provinces
    sent = world.client_a.send_document(package_bytes(document(world.blobs), world.blobs))
    assert sent.package_id.isdigit()
    assert world.client_b.pending_ids() == []  # nothing crosses before the relays run

    world.relay_both()  # A sends to the axis; B's poller fetches it
    [pending_id] = world.client_b.pending_ids()
    # The client's resend (it lost the answer) is the same document: nothing new crosses.
    again = world.client_a.send_document(package_bytes(document(world.blobs), world.blobs))
    assert again.package_id == sent.package_id
    world.relay_both()
    assert world.client_b.pending_ids() == [pending_id]
    got = world.client_b.get(pending_id)
    summary = got.summary
    assert (summary["document_id"], summary["from"]) == (DOCUMENT_ID, AT_A)
    assert summary["subject"] == "V/v phối hợp liên thông giữa hai tỉnh"
    [attachment] = summary["attachments"]
    assert attachment["name"] == "Công văn 21-UBND.pdf"
    assert attachment["sha256"] == hashlib.sha256(FILE).hexdigest()
    raw = world.client_b.get_reply(pending_id).check()
    assert [decode_part(v) for k, v in raw.parts.items() if k == attachment["content_id"]] == [
        FILE
    ]
    # The profile's GetDocument trace timestamp (dd/MM/yyyy HH:mm:ss), A's first trace kept.
    stamps = summary["trace_timestamps"]
    assert stamps[0] == "05/03/2024 08:09:10"
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", s) for s in stamps)

    world.client_b.confirm(pending_id)  # the automatic 01 goes back to A
    assert world.client_b.pending_ids() == []
    two_digit = world.profile_a == TWO_DIGIT
    for code, at in (
        (StatusCode.ACCEPTED, dt.datetime(2024, 3, 6, 9, 0, 0)),
        (StatusCode.FINISHED, dt.datetime(2024, 3, 7, 16, 30, 0)),
    ):
        body = world.client_b.status_body(status_bytes(world.blobs, code, at))
        if two_digit:  # B's client writes "03", as some clients do; the gateway reads both
            body = body.replace(f"<StatusCode>{int(code.value)}<", f"<StatusCode>{code.value}<")
        assert f"<StatusCode>{code.value if two_digit else int(code.value)}<" in body
        world.client_b.call("UpdateTraces", body, world.client_b.signature()).check()
    assert world.client_a.traces(DOCUMENT_ID) == []  # nothing back before the relays run

    world.relay_both()  # B sends the three statuses; A's poller fetches them
    first = world.client_a.trace_entries(DOCUMENT_ID)
    assert {(t.from_agency, t.to_agency) for t, _ in first} == {(AT_B, AT_A)}
    stamped = {t.status_code: stamp for t, stamp in first}
    assert len(stamped) == len(first) == 3
    if two_digit:  # as A's agency's profile writes them
        assert sorted(stamped) == ["01", "03", "06"]
        assert stamped["03"] == "06/03/2024 09:00:00"
        assert stamped["06"] == "07/03/2024 16:30:00"
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", stamped["01"])
    else:  # the edoc profile: numeric codes, yyyy/MM/dd HH:mm:ss
        assert sorted(stamped) == ["1", "3", "6"]
        assert stamped["3"] == "2024/03/06 09:00:00"
        assert stamped["6"] == "2024/03/07 16:30:00"
        assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", stamped["1"])
    assert world.client_a.trace_entries(DOCUMENT_ID) == first  # reading is not destructive
    # Nothing was left anywhere: every outbox item sent, nothing pending at B.
    for gateway in (world.a, world.b):
        assert {i.state for i in gateway.admin.store.outbox_items()} == {"sent"}  # type: ignore[attr-defined]
    assert world.client_b.pending_ids() == []
