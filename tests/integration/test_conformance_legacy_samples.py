"""conformance/samples/legacy: every sample, filled by fill.py, works against a demo gateway."""

from __future__ import annotations

import http.client
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from gateway.config import Settings
from tests.integration.conformance_server import DemoGateway

SAMPLES = Path(__file__).resolve().parents[2] / "conformance" / "samples" / "legacy"
SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
# The order a vendor would replay them in, and who sends each.
SEQUENCE = (
    ("SendDocument", SENDER),
    ("GetPendingDocumentIds", RECEIVER),
    ("GetDocument", RECEIVER),
    ("ConfirmReceived", RECEIVER),
    ("UpdateTraces", RECEIVER),
    ("GetTraces", SENDER),
    ("CheckPermission", SENDER),
    ("GetOrganizations", SENDER),
)
EDOC = "http://www.e-doc.vn/Schema/"


def _fill_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("legacy_fill", SAMPLES / "fill.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_sample_per_operation_and_version() -> None:
    for folder in ("soap11", "soap12"):
        assert sorted(p.stem for p in (SAMPLES / folder).glob("*.xml")) == sorted(
            name for name, _ in SEQUENCE
        )


@pytest.mark.parametrize(("folder", "binary"), [("soap11", False), ("soap12", True)])
def test_samples_replay_against_a_demo_gateway(tmp_path: Path, folder: str, binary: bool) -> None:
    fill = _fill_module()
    gateway = DemoGateway(Settings(data_dir=tmp_path / "data"))
    values = {"NUMBER": "77"}
    try:
        port = gateway.server.server_address[1]
        for operation, agency in SEQUENCE:
            template = (SAMPLES / folder / f"{operation}.xml").read_text(encoding="utf-8")
            values["TO_ORGAN_ID"] = RECEIVER if agency == SENDER else SENDER
            envelope = fill.fill(template, agency, gateway.secrets[agency], values)
            body, headers = fill.request(envelope, operation, SAMPLES / "files", binary)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/legacy/edoc", body, headers)
            response = connection.getresponse()
            reply = response.read()
            connection.close()
            assert response.status == 200, (operation, reply[:2000])
            assert b"Fault" not in reply and b"IsSuccess>false" not in reply, (
                operation,
                reply[:2000],
            )
            if operation == "SendDocument":
                found = re.search(rb"DocumentId>(\d+)<", reply)
                assert found is not None, reply[:2000]
                values["DOCUMENT_ID"] = found.group(1).decode()
            if operation == "GetPendingDocumentIds":
                assert f"DocumentId>{values['DOCUMENT_ID']}<".encode() in reply
            if operation == "GetDocument":
                assert b"%PDF-1.4" in reply or b"JVBERi0xLjQ" in reply  # binary or base64 text
            if operation == "GetTraces":
                assert reply.count(b"<edXML:Status>") >= 2  # the automatic 1 and the 3
    finally:
        gateway.close()


def test_unfilled_placeholders_are_named() -> None:
    fill = _fill_module()
    with pytest.raises(SystemExit, match="DOCUMENT_ID"):
        fill.fill("<a>{{DOCUMENT_ID}}</a>", "", "", {})
