"""conformance/samples: every sample request, signed by sign.py, works against a demo gateway."""

from __future__ import annotations

import http.client
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from gateway.config import Settings
from tests.integration.conformance_server import DemoGateway

SAMPLES = Path(__file__).resolve().parents[2] / "conformance" / "samples"
CONTENT_TYPES = {
    "soap11": "text/xml; charset=utf-8",
    "soap12": "application/soap+xml; charset=utf-8",
}
SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
# The order a vendor would replay them in, and who sends each.
SEQUENCE = (
    ("SendDocument", SENDER),
    ("GetPending", RECEIVER),
    ("GetPackage", RECEIVER),
    ("ConfirmReceived", RECEIVER),
    ("SendStatus", RECEIVER),
    ("SendStatusFields", RECEIVER),
    ("SendDocumentFields", SENDER),
    ("GetTraces", SENDER),
    ("GetAgencies", SENDER),
    ("Ping", ""),
    ("GetServiceInfo", ""),
)


def _sign_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_sign", SAMPLES / "sign.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_sample_per_operation_and_version() -> None:
    for folder in CONTENT_TYPES:
        assert sorted(p.stem for p in (SAMPLES / folder).glob("*.xml")) == sorted(
            name for name, _ in SEQUENCE
        )


@pytest.mark.parametrize("folder", list(CONTENT_TYPES))
def test_samples_replay_against_a_demo_gateway(tmp_path: Path, folder: str) -> None:
    sign = _sign_module()
    gateway = DemoGateway(Settings(data_dir=tmp_path / "data"))
    values = {"NUMBER": "77"}
    try:
        port = gateway.server.server_address[1]
        for operation, agency in SEQUENCE:
            template = (SAMPLES / folder / f"{operation}.xml").read_text(encoding="utf-8")
            secret = gateway.secrets[agency] if agency else ""
            body = sign.fill(template, agency, secret, values).encode()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/soap/v1", body, {"Content-Type": CONTENT_TYPES[folder]})
            response = connection.getresponse()
            reply = response.read()
            connection.close()
            assert response.status == 200, (operation, reply[:2000])
            assert b"Fault" not in reply, (operation, reply[:2000])
            if operation == "SendDocument":
                found = re.search(rb"packageId>([^<]+)<", reply)
                assert found is not None
                values["PACKAGE_ID"] = found.group(1).decode()
    finally:
        gateway.close()


def test_unfilled_placeholders_are_named() -> None:
    sign = _sign_module()
    with pytest.raises(SystemExit, match="PACKAGE_ID"):
        sign.fill("<a>{{PACKAGE_ID}}</a>", "", "", {})
