"""The VXP connector against the national-axis simulator: a real server on 127.0.0.1 (ephemeral
port, its own SQLite file), called by the real connector over httpx."""

from __future__ import annotations

import hashlib
import io
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import UpstreamSettings
from gateway.edxml.writer import package_bytes
from gateway.relay.connector import (
    OutboundPackage,
    PermanentRelayError,
    TransientRelayError,
)
from gateway.relay.connectors import connect
from gateway.relay.connectors.vxp import VxpConnector
from gateway.simulator.faults import FaultRule
from gateway.simulator.httpd import ADMIN_PATH, Simulator
from gateway.store.blobs import FileBlobStore
from gateway.vxp import headers as vxp_headers
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.packages import build_document, build_status
from tests.fixtures.pki import make_pki

CENTRE_A, SECRET_A = "00.22.W00", "secret-a"
CENTRE_B, SECRET_B = "00.41.W00", "secret-b"
SENDER, RECEIVER = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator.create(
        tmp_path / "axis", {CENTRE_A: SECRET_A, CENTRE_B: SECRET_B}, seed=7
    ).start()
    yield simulator
    simulator.close()


def _settings(sim: Simulator, system: str, secret: str, **kw: Any) -> UpstreamSettings:
    return UpstreamSettings(
        name="national", protocol="vxp", endpoint=sim.url + "/XrdAdapter/adapter",
        system_id=system, secret=secret, timeout_seconds=5.0, **kw,
    )


@pytest.fixture
def a(sim: Simulator) -> Iterator[VxpConnector]:
    conn = connect(_settings(sim, CENTRE_A, SECRET_A))
    assert isinstance(conn, VxpConnector)
    conn.register_agency(AgencyRecord(SENDER, "Văn phòng Chính phủ", pcode=CENTRE_A,
                                      code_qd20="G22"))
    yield conn
    conn.close()


@pytest.fixture
def b(sim: Simulator) -> Iterator[VxpConnector]:
    conn = VxpConnector(_settings(sim, CENTRE_B, SECRET_B))
    conn.register_agency(AgencyRecord(RECEIVER, "UBND Tỉnh Nghệ An", pcode=CENTRE_B,
                                      code_qd20="H41"))
    yield conn
    conn.close()


@pytest.fixture
def document(blob_store: FileBlobStore) -> bytes:
    return package_bytes(build_document(blob_store), blob_store)


def _outbound(data: bytes, kind: str = "document", sender: str = SENDER,
              recipients: tuple[str, ...] = (RECEIVER,)) -> OutboundPackage:
    return OutboundPackage(
        package_id="pkg-1", kind=kind, sender=sender, recipients=recipients,  # type: ignore[arg-type]
        open=lambda: io.BytesIO(data), size=len(data), sha256=hashlib.sha256(data).hexdigest(),
    )


def _set_faults(sim: Simulator, rules: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(
        sim.url + ADMIN_PATH, data=json.dumps({"rules": rules}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


# -- every operation ---------------------------------------------------------------------------


def test_document_and_status_round_trip(
    a: VxpConnector, b: VxpConnector, document: bytes
) -> None:
    sent = a.send(_outbound(document))
    assert len(sent.remote_id) == 24
    assert a.list_inbound("document", 10) == []
    [item] = b.list_inbound("document", 10)
    assert (item.kind, item.sender, item.recipients) == ("document", SENDER, (RECEIVER,))
    into = io.BytesIO()
    b.fetch(item, into)
    assert into.getvalue() == document
    [row] = a.sent_list("edoc", sent.remote_id)
    assert (row.to_code, row.receive_status, row.receiver_doc_id) == (
        RECEIVER, "initial", item.remote_id)
    b.update_status(item.remote_id, "processing")
    assert [i.status for i in b.received_list("edoc")] == ["processing"]
    b.acknowledge(item, True, "Đã nhận")  # non-ASCII description travels as UTF-8
    assert b.list_inbound("document", 10) == []
    [row] = a.sent_list("edoc")
    assert (row.receive_status, row.receive_status_desc) == ("done", "Đã nhận")
    b.acknowledge(item, True, "again")  # a repeated final ack after a crash is accepted
    with pytest.raises(PermanentRelayError, match="already done"):
        b.update_status(item.remote_id, "fail", "too late")

    status = package_bytes(build_status(), None)
    b.send(_outbound(status, "status", RECEIVER, ()))  # recipients from ResponseFor
    [back] = a.list_inbound("status", 10)
    into = io.BytesIO()
    a.fetch(back, into)
    assert into.getvalue() == status
    a.acknowledge(back, False, "cannot parse")
    assert a.list_inbound("status", 10) == []
    assert b.sent_list("status")[0].receive_status == "fail"


def test_directory_both_code_forms(a: VxpConnector, b: VxpConnector) -> None:
    agencies = {agency.code: agency for agency in a.agencies()}
    assert agencies[SENDER].code_qd20 == "G22"
    assert agencies[SENDER].parent == CENTRE_A
    assert agencies[RECEIVER].name == "UBND Tỉnh Nghệ An"
    assert CENTRE_B in agencies
    assert {row["code"] for row in a.agencies_list_qd20(level="1")} == {"G22", "H41"}
    a.register_agency(AgencyRecord("000.01.00.G22", "Vụ Hành chính", pcode=SENDER))
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.12"):
        b.delete_agency("000.01.00.G22")  # not B's
    with pytest.raises(PermanentRelayError, match="still has agencies"):
        a.delete_agency(SENDER)
    a.delete_agency("000.01.00.G22")
    assert "000.01.00.G22" not in {x.code for x in a.agencies()}
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.12"):
        b.register_agency(AgencyRecord("000.02.00.H41", "X", pcode=SENDER))


# -- refusals: permanent ----------------------------------------------------------------------


def test_sender_must_be_registered_under_the_system(
    a: VxpConnector, b: VxpConnector, document: bytes
) -> None:
    with pytest.raises(PermanentRelayError) as refused:
        b.send(_outbound(document))  # B sends as G22, registered under A
    assert refused.value.code == "M.Vxp.19"
    assert f"Don vi gui {SENDER} khong dung voi ma da dang ky: {CENTRE_B}" in str(refused.value)
    a.send(_outbound(document, sender=CENTRE_A))  # a system may send as itself


def test_unknown_recipient_and_invalid_file(
    a: VxpConnector, b: VxpConnector, document: bytes
) -> None:
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.18.*000\.00\.00\.Z99"):
        a.send(_outbound(document, recipients=(RECEIVER, "000.00.00.Z99")))
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.10"):
        a.send(_outbound(b"this is not XML"))
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.10.*hash-file"):
        a.send(replace(_outbound(document), sha256="0" * 64))
    assert b.list_inbound("document", 10) == []


def test_hmac_failures(sim: Simulator, a: VxpConnector, document: bytes) -> None:
    wrong = VxpConnector(_settings(sim, CENTRE_A, "not the secret"))
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.15.*does not match"):
        wrong.send(_outbound(document))  # refused even mid-upload: the body is drained
    unknown = VxpConnector(_settings(sim, "99.99.W00", SECRET_A))
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.15.*unknown"):
        unknown.received_list("edoc")
    signed = vxp_headers.sign(SECRET_A, [
        ("systemid", CENTRE_A), ("timestamp", "05032024T081509+0042"),
        ("Content-Type", "application/json"), ("messagetype", "edoc"),
    ])
    tampered = [(n, "status" if n == "XroadVnpt-messagetype" else v) for n, v in signed]
    answer = httpx.post(sim.url + "/getReceivedEdocList", headers=tampered, content=b"{}",
                        timeout=5)
    assert answer.json()["ErrorCode"] == "15" and "differs" in answer.json()["ErrorDesc"]
    unsigned = [(n, v) for n, v in signed if n != vxp_headers.HASH_HEADER]
    answer = httpx.post(sim.url + "/getReceivedEdocList", headers=unsigned, timeout=5)
    assert answer.json()["status"] == "FAIL" and answer.json()["ErrorCode"] == "15"
    good = httpx.post(sim.url + "/getReceivedEdocList", headers=signed, timeout=5)
    assert good.json() == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong",
                           "data": []}
    wrong.close()
    unknown.close()


# -- simulator behaviour ------------------------------------------------------------------------


def test_resend_returns_the_original_doc_id(
    a: VxpConnector, b: VxpConnector, document: bytes
) -> None:
    first = a.send(_outbound(document)).remote_id
    assert a.send(_outbound(document)).remote_id == first
    assert len(b.list_inbound("document", 10)) == 1
    other = package_bytes(build_status(), None)
    assert a.send(_outbound(other, "status", CENTRE_A, (RECEIVER,))).remote_id != first


def test_duplicate_delivery_fault(
    sim: Simulator, a: VxpConnector, b: VxpConnector, document: bytes
) -> None:
    _set_faults(sim, [{"kind": "duplicate", "count": 1}])
    a.send(_outbound(document))
    items = b.list_inbound("document", 10)
    assert len(items) == 2 and items[0].remote_id != items[1].remote_id
    copies = []
    for item in items:
        into = io.BytesIO()
        b.fetch(item, into)
        copies.append(into.getvalue())
    assert copies == [document, document]
    assert {row.receiver_doc_id for row in a.sent_list("edoc")} == {i.remote_id for i in items}


# -- faults: transient -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"kind": "reset"}, "R.Vxp.Network"),
        ({"kind": "drop"}, "R.Vxp.Network"),
        ({"kind": "error", "arg": 503}, "R.Vxp.Http"),
        ({"kind": "error", "arg": 500}, "R.Vxp.Http"),
    ],
)
def test_connection_faults_are_transient(
    sim: Simulator, a: VxpConnector, b: VxpConnector, document: bytes,
    rule: dict[str, Any], code: str,
) -> None:
    _set_faults(sim, [{**rule, "operation": "sendEdoc", "count": 1}])
    with pytest.raises(TransientRelayError) as failed:
        a.send(_outbound(document))
    assert failed.value.code == code
    assert b.list_inbound("document", 10) == []  # the fault happened before processing
    a.send(_outbound(document))  # the count is spent: the retry goes through
    assert len(b.list_inbound("document", 10)) == 1
    assert _set_faults(sim, [])["rules"] == []


def test_delay_beyond_the_timeout_is_transient_and_resend_dedupes(
    sim: Simulator, a: VxpConnector, document: bytes
) -> None:
    slow = VxpConnector(replace(_settings(sim, CENTRE_A, SECRET_A), timeout_seconds=0.3))
    sim.faults.replace([FaultRule.parse("delay=1200:op=sendEdoc:count=1")])
    with pytest.raises(TransientRelayError, match="timeout") as failed:
        slow.send(_outbound(document))
    assert failed.value.code == "R.Vxp.Timeout"
    slow.close()
    # the delayed request still landed at the axis: the retry gets the same DocId back
    b = VxpConnector(_settings(sim, CENTRE_B, SECRET_B))
    b.register_agency(AgencyRecord(RECEIVER, "UBND", pcode=CENTRE_B))
    for _ in range(50):
        if b.list_inbound("document", 10):
            break
        time.sleep(0.1)
    first = a.sent_list("edoc")[0].sender_doc_id
    assert a.send(_outbound(document)).remote_id == first
    b.close()


def test_fault_scoped_to_one_operation_and_probability(
    sim: Simulator, a: VxpConnector
) -> None:
    _set_faults(sim, [{"kind": "error", "arg": 502, "operation": "getEdoc"}])
    a.received_list("edoc")  # other operations unaffected
    with pytest.raises(TransientRelayError, match="502"):
        a.get_edoc("0" * 24, io.BytesIO())
    sim.faults.replace([FaultRule.parse("reset:p=0.5")])
    outcomes = []
    for _ in range(40):
        try:
            a.received_list("edoc")
            outcomes.append(True)
        except TransientRelayError:
            outcomes.append(False)
    assert True in outcomes and False in outcomes
    assert sim.faults.rules()[0].fired == outcomes.count(False)


def test_admin_endpoint_rejects_bad_rules(sim: Simulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as bad:
        _set_faults(sim, [{"kind": "explode"}])
    assert bad.value.code == 400
    with pytest.raises(ValueError, match="5xx"):
        FaultRule.parse("error=404")


def test_not_found_is_permanent(a: VxpConnector) -> None:
    with pytest.raises(PermanentRelayError, match=r"M\.Vxp\.100"):
        a.get_edoc("0" * 24, io.BytesIO())


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    settings = UpstreamSettings(name="x", protocol="vxp", endpoint="http://127.0.0.1:9",
                                system_id=CENTRE_A, secret=SECRET_A, timeout_seconds=2)
    with VxpConnectorContext(settings) as conn, pytest.raises(TransientRelayError):
        conn.received_list("edoc")


class VxpConnectorContext:
    def __init__(self, settings: UpstreamSettings) -> None:
        self.conn = VxpConnector(settings)

    def __enter__(self) -> VxpConnector:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


# -- large packages stream ---------------------------------------------------------------------


@pytest.mark.slow
def test_large_package_streams_both_ways(
    sim: Simulator, a: VxpConnector, b: VxpConnector, tmp_path: Path, blob_store: FileBlobStore
) -> None:
    content = hashlib.sha256(b"seed").digest() * (12 * 1024 * 1024 // 32)  # 12 MB attachment
    data = package_bytes(build_document(blob_store, content), blob_store)
    path = tmp_path / "big.edxml"
    path.write_bytes(data)
    package = replace(_outbound(data), open=lambda: path.open("rb"))
    a.send(package)
    [item] = b.list_inbound("document", 10)
    small_window = VxpConnector(_settings(sim, CENTRE_B, SECRET_B), inline_limit=64 * 1024)
    target = tmp_path / "got.edxml"
    with target.open("wb") as into:
        small_window.fetch(item, into)  # decoded as a stream, not parsed as one JSON value
    assert hashlib.sha256(target.read_bytes()).hexdigest() == package.sha256
    small_window.close()


# -- TLS, client certificates, source address ------------------------------------------------


def test_mutual_tls_ca_bundle_and_source_address(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, CENTRE_A)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    sim = Simulator.create(tmp_path / "axis", {CENTRE_A: SECRET_A}, tls=context).start()
    try:
        assert sim.url.startswith("https://127.0.0.1:")
        base = replace(_settings(sim, CENTRE_A, SECRET_A), timeout_seconds=3.0)
        good = VxpConnector(replace(
            base, ca_bundle=pki["ca"], client_cert_file=pki["client_cert"],
            client_key_file=pki["client_key"], source_address="127.0.0.1",
        ))
        assert good.received_list("edoc") == []
        good.close()
        no_client_cert = VxpConnector(replace(base, ca_bundle=pki["ca"]))
        with pytest.raises(TransientRelayError):
            no_client_cert.received_list("edoc")
        no_client_cert.close()
        untrusted = VxpConnector(replace(
            base, client_cert_file=pki["client_cert"], client_key_file=pki["client_key"]))
        with pytest.raises(TransientRelayError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.received_list("edoc")  # the system CAs do not know the test CA
        untrusted.close()
    finally:
        sim.close()
