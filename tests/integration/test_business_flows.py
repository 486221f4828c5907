"""Business flows end to end (reference §2.7, §2.8, §4.5, §5.6): the national-axis simulator, a
provincial gateway, its relay and agencies on both sides, all real.

- The simulator runs in a thread on 127.0.0.1 with its own SQLite file.
- The provincial gateway is the WSGI app of ``gateway.server.build_app`` on a real HTTP server
  thread, configured with one ``[[upstream]]`` of protocol ``vxp`` pointing at the simulator.
- Its relay is the real :class:`RelayService`, stepped with ``run_once()``.
- Local agencies are zeep SOAP clients with WS-Security UsernameTokens; the upstream agency
  acts through a :class:`VxpConnector` with its own systemId on the simulator, as its own
  document-management software would.

Every test runs on SQLite and PostgreSQL (``store_settings``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import zeep
import zeep.exceptions
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from gateway.config import Settings, UpstreamSettings
from gateway.conformance.exchanges import ExchangeLog
from gateway.conformance.legacy import LegacyDriver
from gateway.edxml.enums import BusinessDocType, StatusCode
from gateway.edxml.model import (
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentPackage,
    ReplacementInfo,
    ResponseFor,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.relay.connector import InboundItem, OutboundPackage
from gateway.relay.connectors.vxp import VxpConnector
from gateway.simulator.httpd import Simulator
from gateway.store.blobs import FileBlobStore
from gateway.store.relay_sql import DirectoryEntry
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.gateways import ServedGateway
from tests.fixtures.packages import _organization, build_document, build_status

PROVINCE, PROVINCE_SECRET = "00.53.W00", "province-secret"  # the provincial gateway's system
CENTRE, CENTRE_SECRET = "00.41.W00", "centre-secret"  # another system on the national axis
SENDER = "000.00.01.H53"  # local: Văn phòng UBND tỉnh Tây Ninh
RECEIVER = "000.00.32.H53"  # local: UBND huyện Châu Thành
OTHER_LOCAL = "000.00.05.H53"  # local: Sở Nội vụ
UPSTREAM = "000.00.00.H41"  # upstream: UBND tỉnh Nghệ An, under CENTRE
LOCALS = {
    SENDER: "Văn phòng UBND tỉnh Tây Ninh",
    RECEIVER: "UBND huyện Châu Thành",
    OTHER_LOCAL: "Sở Nội vụ tỉnh Tây Ninh",
}
TNS = "urn:edoc-gateway:soap:v1"


# -- the parts ----------------------------------------------------------------------------------


@dataclass
class Traced:
    code: str
    sender: str
    receiver: str


class Province:
    """The simulator, the provincial gateway (real HTTP server), its relay, and the agencies."""

    def __init__(
        self,
        store_settings: Settings,
        tmp_path: Path,
        local: dict[str, str] | None = None,
        upstream: tuple[str, str] = (UPSTREAM, "UBND Tỉnh Nghệ An"),
    ) -> None:
        self.local = dict(LOCALS if local is None else local)
        self.sim = Simulator.create(
            tmp_path / "axis", {PROVINCE: PROVINCE_SECRET, CENTRE: CENTRE_SECRET}, seed=3
        ).start()
        endpoint = self.sim.url + "/XrdAdapter/adapter"
        self.gateway = ServedGateway(
            store_settings, endpoint, PROVINCE, PROVINCE_SECRET, self.local
        )
        self.settings, self.admin, self.relay = (
            self.gateway.settings,
            self.gateway.admin,
            self.gateway.relay,
        )
        self.url = f"{self.settings.public_url}/soap/v1"
        with urllib.request.urlopen(self.url + "?wsdl", timeout=10) as answer:
            (tmp_path / "gateway.wsdl").write_bytes(answer.read())
        self.wsdl = tmp_path / "gateway.wsdl"
        # The upstream agency's own software: another system on the axis.
        self.upstream = VxpConnector(
            UpstreamSettings(
                name="axis",
                protocol="vxp",
                endpoint=endpoint,
                system_id=CENTRE,
                secret=CENTRE_SECRET,
                timeout_seconds=10.0,
            )
        )
        self.upstream.register_agency(AgencyRecord(*upstream, pcode=CENTRE))
        self.blobs = FileBlobStore(tmp_path / "builder-blobs", durable=False)
        self._clients: dict[str, Any] = {}
        first = self.relay.run_once()  # imports the axis's directory (getAgenciesList)
        assert first.syncs["national"].listed >= 3

    def close(self) -> None:
        self.gateway.close()
        self.upstream.close()
        self.sim.close()

    # -- local agencies (SOAP) -------------------------------------------------------------

    def soap(self, code: str) -> Any:
        if code not in self._clients:
            client = zeep.Client(
                str(self.wsdl),
                wsse=UsernameToken(
                    code, self.admin.credentials.current_secret(code), use_digest=True
                ),
                settings=zeep.Settings(forbid_entities=True, forbid_external=True, strict=True),
                transport=Transport(operation_timeout=10, timeout=10),
            )
            self._clients[code] = client.bind("EdocGateway", "EdocGatewaySoap11")
        return self._clients[code]

    def pending(self, code: str, kind: str = "document") -> list[Any]:
        page = self.soap(code).GetPending(kind, 0, "")
        return list(page["items"]["item"]) if page["items"] else []

    def traces(self, code: str, document_id: str) -> list[Traced]:
        rows = self.soap(code).GetTraces(document_id, None, None) or []
        return [Traced(t.statusCode, t.fromAgency, t.toAgency) for t in rows]

    def take(self, code: str, kind: str = "document") -> list[tuple[str, Any]]:
        """Pull the mailbox: every pending package (id, parsed edXML), each confirmed ``ok``."""
        service = self.soap(code)
        taken = []
        for item in self.pending(code, kind):
            fetched = service.GetPackage(item.packageId)
            taken.append((item.packageId, read_package(fetched.package, self.blobs)))
            assert service.ConfirmReceived(item.packageId, "ok", "").outcome == "ok"
        return taken

    # -- the relay ---------------------------------------------------------------------------

    def relay_until_idle(self, limit: int = 20) -> None:
        self.gateway.relay_until_idle(limit)

    # -- the upstream agency (VXP) -----------------------------------------------------------

    def upstream_inbox(self, kind: str = "document") -> list[tuple[InboundItem, Any]]:
        """What waits for the upstream agency's system: fetched, acknowledged ``done``."""
        taken = []
        for item in self.upstream.list_inbound(kind, 100):  # type: ignore[arg-type]
            into = io.BytesIO()
            self.upstream.fetch(item, into)
            taken.append((item, read_package(into.getvalue(), self.blobs)))
            self.upstream.acknowledge(item, True, "Đã nhận")
        return taken

    def upstream_send(self, pkg: DocumentPackage | StatusPackage | Path) -> str:
        """The upstream agency sends a package (built, or a file's bytes as they are)."""
        if isinstance(pkg, Path):
            data = pkg.read_bytes()
            pkg = read_package(data, self.blobs)
        else:
            data = package_bytes(pkg, self.blobs)
        sent = self.upstream.send(
            OutboundPackage(
                package_id="upstream",
                kind="status" if isinstance(pkg, StatusPackage) else "document",
                sender=pkg.header.from_.organ_id,
                recipients=(),  # the axis reads To / ResponseFor
                open=lambda: io.BytesIO(data),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        return sent.remote_id

    # -- packages ----------------------------------------------------------------------------

    def document(
        self,
        sender: str,
        to: Iterable[str],
        number: int,
        doc_type: BusinessDocType = BusinessDocType.NEW,
        about: str = "",
        **header: Any,
    ) -> DocumentPackage:
        name = LOCALS.get(sender, "UBND Tỉnh Nghệ An")
        to = tuple(to)
        fields: dict[str, Any] = {
            "from_": _organization(sender, name),
            "to": tuple(_organization(code, LOCALS.get(code, code)) for code in to),
            "code": Code(str(number), "UBND-VP"),
            "document_id": document_id(sender, number),
        }
        fields.update(header)
        pkg = build_document(
            self.blobs, f"%PDF-1.4 văn bản {number} {doc_type.name}".encode(), **fields
        )
        reasons = {
            BusinessDocType.NEW: "Văn bản điện tử mới",
            BusinessDocType.REVOKE: "Thu hồi văn bản điện tử",
            BusinessDocType.UPDATE: "Cập nhật văn bản điện tử",
            BusinessDocType.REPLACE: "Thay thế văn bản điện tử",
        }
        business = Business(
            doc_type=doc_type,
            reason=reasons[doc_type],
            paper="0",
            document_id=about,
            document_info=(
                BusinessDocumentInfo("1", "0") if doc_type is BusinessDocType.UPDATE else None
            ),
            replacements=(
                (ReplacementInfo(about, to),) if doc_type is BusinessDocType.REPLACE else ()
            ),
        )
        trace = TraceHeaderList((TraceHeader(sender, dt.datetime(2024, 3, 5, 8, 9, 10)),), business)
        return replace(pkg, trace=trace)


def document_id(sender: str, number: int) -> str:
    return f"{sender},2024/03/05,{number}/UBND-VP"


def status(
    code: StatusCode, from_: str, about: DocumentPackage, to: str = ""
) -> StatusPackage:
    """A status from ``from_`` about ``about`` (to its sender unless ``to`` is given)."""
    header = about.header
    return build_status(
        code,
        from_=_organization(from_, LOCALS.get(from_, "UBND Tỉnh Nghệ An")),
        response_for=ResponseFor(
            organ_id=to or header.from_.organ_id,
            code=f"{header.code.code_number}/{header.code.code_notation}",
            promulgation_date=dt.date(2024, 3, 5),
            document_id=header.document_id,
        ),
        description=code.vietnamese,
    )


@pytest.fixture
def province(store_settings: Settings, tmp_path: Path) -> Iterator[Province]:
    world = Province(store_settings, tmp_path)
    yield world
    world.close()


def codes(traced: list[Traced]) -> list[tuple[str, str]]:
    return [(t.code, t.sender) for t in traced]


# -- a new document, and its statuses ----------------------------------------------------------


def test_new_document_to_a_local_and_an_upstream_agency_and_all_its_statuses(
    province: Province,
) -> None:
    doc = province.document(SENDER, (RECEIVER, UPSTREAM), 1)
    receipt = province.soap(SENDER).SendDocument(package_bytes(doc, province.blobs))
    assert receipt.duplicate is False

    # One local delivery, one bundled upstream send whose To lists only the external recipient.
    [item] = province.pending(RECEIVER)
    assert item.packageId == receipt.packageId
    assert province.upstream_inbox() == []  # nothing leaves before the relay runs
    province.relay_until_idle()
    [(inbound, sent)] = province.upstream_inbox()
    assert (inbound.sender, inbound.recipients) == (SENDER, (UPSTREAM,))
    assert [t.organ_id for t in sent.header.to] == [UPSTREAM]
    assert sent.header.document_id == doc.header.document_id
    [outbox] = province.admin.store.outbox_items(package_id=receipt.packageId)  # type: ignore[attr-defined]
    assert outbox.state == "sent" and outbox.remote_id

    # STATUS 01 from each receiver: locally at confirmation, from upstream through the poller.
    [(_, got)] = province.take(RECEIVER)
    assert got.header.document_id == doc.header.document_id
    province.upstream_send(status(StatusCode.RECEIVED, UPSTREAM, doc))
    province.relay_until_idle()
    assert sorted(codes(province.traces(SENDER, doc.header.document_id))) == sorted(
        [("01", RECEIVER), ("01", UPSTREAM)]
    )
    statuses = province.take(SENDER, "status")
    assert {(p.header.from_.organ_id, p.header.status_code) for _, p in statuses} == {
        (UPSTREAM, StatusCode.RECEIVED),
        (RECEIVER, StatusCode.RECEIVED),
    }

    # 02–06 from the local receiver (SOAP) and from the upstream one (VXP).
    for code in (StatusCode.ACCEPTED, StatusCode.ASSIGNED, StatusCode.PROCESSING,
                 StatusCode.FINISHED):
        province.soap(RECEIVER).SendStatus(
            package_bytes(status(code, RECEIVER, doc), province.blobs)
        )
        province.upstream_send(status(code, UPSTREAM, doc))
    province.relay_until_idle()
    seen = codes(province.traces(SENDER, doc.header.document_id))
    for sender in (RECEIVER, UPSTREAM):
        assert [c for c, s in seen if s == sender] == ["01", "03", "04", "05", "06"]
    assert all(t.receiver == SENDER for t in province.traces(SENDER, doc.header.document_id))
    assert len(province.take(SENDER, "status")) == 8
    # The upstream agency saw each of its transports acknowledged ``done`` by the province.
    acks = {row.receive_status for row in province.upstream.sent_list("status")}
    assert acks == {"done"}


def test_a_rejection_02_from_each_receiver_reaches_the_sender(province: Province) -> None:
    """QĐ 28/2018 Điều 9: a document that does not meet the rules is answered promptly with
    STATUS 02 (Từ chối không tiếp nhận), locally and through the axis alike."""
    doc = province.document(SENDER, (RECEIVER, UPSTREAM), 9)
    _sent_out(province, doc)
    province.soap(RECEIVER).SendStatus(
        package_bytes(status(StatusCode.REJECTED, RECEIVER, doc), province.blobs)
    )
    province.upstream_send(status(StatusCode.REJECTED, UPSTREAM, doc))
    province.relay_until_idle()
    seen = codes(province.traces(SENDER, doc.header.document_id))
    for sender in (RECEIVER, UPSTREAM):
        assert [c for c, s in seen if s == sender] == ["01", "02"]
    rejections = province.take(SENDER, "status")
    assert {(p.header.from_.organ_id, p.header.status_code) for _, p in rejections} == {
        (RECEIVER, StatusCode.REJECTED),
        (UPSTREAM, StatusCode.REJECTED),
    }


# -- revoke, update, replace; take-back --------------------------------------------------------


def _sent_out(province: Province, doc: DocumentPackage) -> None:
    """Send ``doc`` from SENDER to RECEIVER and UPSTREAM; both receive it and answer 01."""
    province.soap(SENDER).SendDocument(package_bytes(doc, province.blobs))
    province.relay_until_idle()
    province.take(RECEIVER)
    [(_, got)] = province.upstream_inbox()
    province.upstream_send(status(StatusCode.RECEIVED, UPSTREAM, got))
    province.relay_until_idle()
    province.take(SENDER, "status")


@pytest.mark.parametrize(
    "doc_type", [BusinessDocType.REVOKE, BusinessDocType.UPDATE, BusinessDocType.REPLACE]
)
def test_revoke_update_replace_answered_by_15_and_16(
    province: Province, doc_type: BusinessDocType
) -> None:
    original = province.document(SENDER, (RECEIVER, UPSTREAM), 2)
    _sent_out(province, original)
    about = original.header.document_id
    change = province.document(SENDER, (RECEIVER, UPSTREAM), 3, doc_type, about=about)
    receipt = province.soap(SENDER).SendDocument(package_bytes(change, province.blobs))
    assert receipt.duplicate is False
    province.relay_until_idle()

    [(_, local)] = province.take(RECEIVER)
    [(item, remote)] = province.upstream_inbox()
    for got in (local, remote):
        assert got.trace.business.doc_type is doc_type
        assert got.trace.business.document_id == about
    assert [t.organ_id for t in remote.header.to] == [UPSTREAM] and item.sender == SENDER

    # The local receiver agrees (15), the upstream one refuses (16): both reach the sender.
    province.soap(RECEIVER).SendStatus(
        package_bytes(status(StatusCode.CHANGE_ACCEPTED, RECEIVER, change), province.blobs)
    )
    province.upstream_send(status(StatusCode.CHANGE_REJECTED, UPSTREAM, remote))
    province.relay_until_idle()
    answers = {
        (p.header.from_.organ_id, p.header.status_code)
        for _, p in province.take(SENDER, "status")
    }
    # Each receiver's automatic 01 for the change document, then its answer.
    assert answers == {
        (RECEIVER, StatusCode.RECEIVED),
        (RECEIVER, StatusCode.CHANGE_ACCEPTED),
        (UPSTREAM, StatusCode.CHANGE_REJECTED),
    }
    traced = codes(province.traces(SENDER, change.header.document_id))
    assert ("15", RECEIVER) in traced and ("16", UPSTREAM) in traced


def test_take_back_13_answered_by_15_and_16(province: Province) -> None:
    doc = province.document(SENDER, (RECEIVER, UPSTREAM), 4)
    _sent_out(province, doc)
    document = doc.header.document_id
    sender = province.soap(SENDER)
    for receiver in (RECEIVER, UPSTREAM):  # the sender asks each receiver to give it back
        take_back = status(StatusCode.TAKE_BACK_REQUESTED, SENDER, doc, to=receiver)
        sender.SendStatus(package_bytes(take_back, province.blobs))
    province.relay_until_idle()

    [(_, local)] = province.take(RECEIVER, "status")
    [(item, remote)] = province.upstream_inbox("status")
    for got in (local, remote):
        assert got.header.status_code is StatusCode.TAKE_BACK_REQUESTED
        assert got.header.from_.organ_id == SENDER
        assert got.header.response_for.document_id == document
    assert item.recipients == (UPSTREAM,)

    province.soap(RECEIVER).SendStatus(
        package_bytes(status(StatusCode.CHANGE_ACCEPTED, RECEIVER, doc), province.blobs)
    )
    province.upstream_send(status(StatusCode.CHANGE_REJECTED, UPSTREAM, doc))
    province.relay_until_idle()
    traced = province.traces(SENDER, document)
    assert [(t.code, t.receiver) for t in traced if t.sender == SENDER] == [
        ("13", RECEIVER),
        ("13", UPSTREAM),
    ]
    assert [t.code for t in traced if t.sender == RECEIVER] == ["01", "15"]
    assert [t.code for t in traced if t.sender == UPSTREAM] == ["01", "16"]


# -- reply documents ---------------------------------------------------------------------------


def test_reply_documents_point_back_with_response_for(province: Province) -> None:
    doc = province.document(SENDER, (RECEIVER, UPSTREAM), 5)
    _sent_out(province, doc)
    answering = ResponseFor(
        organ_id=SENDER,
        code="5/UBND-VP",
        promulgation_date=dt.date(2024, 3, 5),
        document_id=doc.header.document_id,
    )
    local_reply = province.document(RECEIVER, (SENDER,), 6, response_for=(answering,))
    province.soap(RECEIVER).SendDocument(package_bytes(local_reply, province.blobs))
    remote_reply = province.document(UPSTREAM, (SENDER,), 7, response_for=(answering,))
    province.upstream_send(remote_reply)
    province.relay_until_idle()

    replies = {p.header.from_.organ_id: p for _, p in province.take(SENDER)}
    assert set(replies) == {RECEIVER, UPSTREAM}
    for reply in replies.values():
        assert reply.header.response_for == (answering,)
    # The sender's confirmations send 01 for each reply: locally, and through the relay.
    province.relay_until_idle()
    [(_, upstream_01)] = province.upstream_inbox("status")
    assert upstream_01.header.status_code is StatusCode.RECEIVED
    assert upstream_01.header.response_for.document_id == remote_reply.header.document_id
    assert codes(province.traces(RECEIVER, local_reply.header.document_id)) == [("01", SENDER)]


# -- documents from upstream, fanned out -------------------------------------------------------

G22 = "000.00.00.G22"  # Văn phòng Chính phủ: the sender of the VPCP SDK samples
SAMPLE_LOCALS = {
    "000.00.00.H41": "UBND Tỉnh Nghệ An",
    "000.00.00.H14": "UBND Tỉnh Sơn La",
    "000.00.00.G17": "Bộ Tư pháp",
}
SAMPLE_DOCUMENT = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


@pytest.fixture
def sample_province(store_settings: Settings, tmp_path: Path) -> Iterator[Province]:
    """The VPCP SDK samples' world: G22 upstream, its three recipients local here."""
    world = Province(store_settings, tmp_path, SAMPLE_LOCALS, (G22, "Văn phòng Chính phủ"))
    yield world
    world.close()


def test_documents_from_upstream_fan_out_and_the_samples_flow(
    sample_province: Province, samples_dir: Path
) -> None:
    province = sample_province
    sdk = samples_dir / "vpcp-sdk"
    locals_ = list(SAMPLE_LOCALS)
    # G22's new document (the one the SDK's revocation, update and cancellation samples name).
    new = province.document(
        G22, locals_, 7816, document_id=SAMPLE_DOCUMENT, code=Code("7816", "VPCP-TTĐT")
    )
    province.upstream_send(new)
    province.relay_until_idle()
    for code in locals_:  # one package on the axis, one mailbox entry per local recipient
        [(_, got)] = province.take(code)
        assert got.header.document_id == SAMPLE_DOCUMENT
    province.relay_until_idle()  # each confirmation's 01 goes up to G22
    received = province.upstream_inbox("status")
    assert sorted((p.header.from_.organ_id, p.header.status_code.value) for _, p in received) == [
        (code, "01") for code in sorted(locals_)
    ]
    assert {item.recipients for item, _ in received} == {(G22,)}

    # The SDK's take-back request (13, G22 → H41), answered by the SDK's 15.
    province.upstream_send(sdk / "status_cancellation_13.edxml")
    province.relay_until_idle()
    [(_, take_back)] = province.take("000.00.00.H41", "status")
    assert take_back.header.status_code is StatusCode.TAKE_BACK_REQUESTED
    h41 = province.soap("000.00.00.H41")
    h41.SendStatus((sdk / "status_change-acceptance_15.edxml").read_bytes())
    province.relay_until_idle()
    [(_, answer)] = province.upstream_inbox("status")
    assert (answer.header.from_.organ_id, answer.header.status_code.value) == (
        "000.00.00.H41",
        "15",
    )

    # The SDK's revocation, update and replacement fan out to every local recipient they name.
    for name, doc_type in (
        ("edoc_revocation.edxml", BusinessDocType.REVOKE),
        ("edoc_update.edxml", BusinessDocType.UPDATE),
        ("edoc_replacement.edxml", BusinessDocType.REPLACE),
    ):
        province.upstream_send(sdk / name)
        province.relay_until_idle()
        for code in locals_:
            [(_, got)] = province.take(code)
            assert got.trace.business.doc_type is doc_type
    province.relay_until_idle()
    h41.SendStatus((sdk / "status_change-rejection_16.edxml").read_bytes())
    province.relay_until_idle()
    statuses = province.upstream_inbox("status")
    assert sorted(p.header.status_code.value for _, p in statuses) == ["01"] * 9 + ["16"]
    # Nothing is left anywhere: every outbox item was sent, every axis delivery acknowledged.
    assert {i.state for i in province.admin.store.outbox_items()} == {"sent"}  # type: ignore[attr-defined]
    assert {r.receive_status for r in province.upstream.sent_list("edoc")} == {"done"}


# -- an unknown recipient ----------------------------------------------------------------------


def test_unknown_recipient_is_refused_at_send_time(province: Province) -> None:
    unknown = "000.00.00.H99"
    doc = province.document(SENDER, (RECEIVER, unknown), 8)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        province.soap(SENDER).SendDocument(package_bytes(doc, province.blobs))
    assert caught.value.message.startswith("R.MessageHeader.To.OrganId: ")
    entry = caught.value.detail.find(f"{{{TNS}}}GatewayFault")
    finding = entry.find(f"{{{TNS}}}finding")
    assert finding.findtext(f"{{{TNS}}}path").endswith("/To[2]/OrganId")
    assert unknown in finding.findtext(f"{{{TNS}}}message")
    assert province.pending(RECEIVER) == []  # nothing stored, nothing delivered, nothing queued
    assert province.admin.store.outbox_items() == []  # type: ignore[attr-defined]
    province.relay_until_idle()
    assert province.upstream_inbox() == []


# -- a dead letter reaches its sender ------------------------------------------------------------


def test_a_dead_letter_reaches_the_sender_on_every_face_and_a_retry_shows_too(
    province: Province, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14 item 1: the axis answers ErrorCode 18 (unknown unit) for an agency the province's
    directory still lists; the sender learns it from GetTraces (modern), the legacy GetTraces
    feed and the REST face's sent list, as the gateway's own transport report, never as a
    status from the receiver. Once the unit exists and an operator retries, that shows too."""
    unknown = "000.00.99.H99"
    store = province.admin.store
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
    store.upsert_directory(  # type: ignore[attr-defined]
        [DirectoryEntry(unknown, "national", name="Sở cũ", source="manual")], now, "operator"
    )
    doc = province.document(SENDER, (RECEIVER, unknown), 18)
    receipt = province.soap(SENDER).SendDocument(package_bytes(doc, province.blobs))
    with caplog.at_level(logging.INFO, logger="gateway.relay.worker"):
        province.relay_until_idle()
    [item] = store.outbox_items()  # type: ignore[attr-defined]
    assert item.state == "dead" and item.last_error_code == "M.Vxp.18"
    assert "khong ton tai" in item.last_error
    dead_logs = [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert [r.levelno for r in dead_logs] == [logging.ERROR]
    assert receipt.packageId in dead_logs[0].getMessage()

    # The modern face: one transport entry, from the gateway, with the axis's code and reason.
    rows = province.soap(SENDER).GetTraces(doc.header.document_id, None, None) or []
    [entry] = rows
    assert entry.kind == "transport" and entry.outcome == "failed"
    assert not entry.statusCode and entry.fromAgency == province.settings.gateway_id
    assert entry.toAgency == SENDER and entry.statusPackageId == receipt.packageId
    assert entry.errorCode == "M.Vxp.18" and entry.recipients == unknown
    assert entry.upstream == "national"
    assert "Don vi nhan 000.00.99.H99 khong ton tai" in entry.description
    assert entry.description.startswith("Không chuyển được văn bản đến 000.00.99.H99")
    # The local receiver sees no such entry: it is the sender's news.
    assert province.soap(RECEIVER).GetTraces(doc.header.document_id, None, None) in (None, [])

    # The legacy eDoc feed (GetTraces with a TimeStamp): a Status from the gateway, no code.
    legacy = LegacyDriver(
        f"{province.settings.public_url}/legacy/edoc",
        ExchangeLog(),
        SENDER,
        province.gateway.tokens[SENDER],
        province.blobs,
        timeout=20.0,
    )
    [trace] = legacy.traces(doc.header.document_id, since=dt.datetime(2000, 1, 1))
    assert trace.from_agency == province.settings.gateway_id and trace.to_agency == SENDER
    assert trace.status_code == ""
    assert trace.description.startswith("[TRANSPORT-FAILED M.Vxp.18] ")
    assert "khong ton tai" in trace.description

    # The REST face's sent list: the upstream row fails with the code; the local one is fine.
    rest = VxpConnector(
        UpstreamSettings(
            name="province",
            protocol="vxp",
            endpoint=f"{province.settings.public_url}/vxp",
            system_id=SENDER,
            secret=province.admin.credentials.current_secret(SENDER),
            timeout_seconds=10.0,
        )
    )
    try:
        sent = {row.to_code: row for row in rest.sent_list("edoc")}
    finally:
        rest.close()
    assert sent[unknown].send_status == "fail" and sent[unknown].receive_status == ""
    assert "M.Vxp.18: " in sent[unknown].send_status_desc
    assert sent[RECEIVER].send_status == "done"

    # The unit appears on the axis; the operator retries; the sender is told it went through.
    province.upstream.register_agency(AgencyRecord(unknown, "Sở cũ", pcode=CENTRE))
    store.retry_outbox(item.id, now, "operator")  # type: ignore[attr-defined]
    province.relay_until_idle()
    assert store.outbox_item(item.id).state == "sent"  # type: ignore[attr-defined]
    rows = province.soap(SENDER).GetTraces(doc.header.document_id, None, None)
    assert [(r.kind, r.outcome, r.errorCode) for r in rows] == [
        ("transport", "failed", "M.Vxp.18"),
        ("transport", "delivered", None),
    ]
    assert "sau khi gửi lại" in rows[1].description
    [(_, delivered)] = province.upstream_inbox()
    assert delivered.header.document_id == doc.header.document_id
    # A later ordinary status from the receiver is a status again, from the receiver.
    province.upstream_send(status(StatusCode.RECEIVED, unknown, doc))
    province.relay_until_idle()
    kinds = [
        (r.kind, r.statusCode, r.fromAgency)
        for r in province.soap(SENDER).GetTraces(doc.header.document_id, None, None)
    ]
    assert kinds[-1] == ("status", "01", unknown)
