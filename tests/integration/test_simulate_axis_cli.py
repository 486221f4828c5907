"""``edoc-gateway simulate-axis`` as a subprocess, talked to by the real connector."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest

from gateway.config import UpstreamSettings
from gateway.relay.connector import TransientRelayError
from gateway.relay.connectors.vxp import VxpConnector
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.simulator_process import cli_command, simulator_process

_command = cli_command


def test_simulate_axis_subprocess(tmp_path: Path) -> None:
    with simulator_process(
        tmp_path / "axis",
        "--agency", "00.22.W00:s-a", "--agency", "00.41.W00:s-b",
        "--faults", "error=503:op=getSentEdocList:count=1",
    ) as (url, process):
        def conn(system: str, secret: str) -> VxpConnector:
            return VxpConnector(UpstreamSettings(
                name="sim", protocol="vxp", endpoint=url, system_id=system, secret=secret,
                timeout_seconds=5))

        a, b = conn("00.22.W00", "s-a"), conn("00.41.W00", "s-b")
        b.register_agency(AgencyRecord("000.00.00.H41", "UBND", pcode="00.41.W00"))
        data = b"<edXML><edXMLEnvelope><edXMLHeader><MessageHeader><To><OrganId>000.00.00.H41"
        data += b"</OrganId></To></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
        doc_id = a.send_edoc("00.22.W00", "edoc", io.BytesIO(data),
                             hashlib.sha256(data).hexdigest())
        [item] = b.received_list("edoc")
        got = io.BytesIO()
        b.get_edoc(item.doc_id, got)
        assert got.getvalue() == data
        with pytest.raises(TransientRelayError, match="503"):
            a.sent_list("edoc")  # the --faults rule fires once
        assert a.sent_list("edoc")[0].sender_doc_id == doc_id
        a.close()
        b.close()
        assert (tmp_path / "axis" / "simulator.sqlite3").exists()
    assert process.returncode == 0


def test_simulate_axis_rejects_bad_arguments() -> None:
    result = subprocess.run(
        [*_command(), "simulate-axis", "--agency", "no-secret"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and "CODE:SECRET" in result.stderr
    result = subprocess.run(
        [*_command(), "simulate-axis", "--faults", "explode"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and "unknown fault kind" in result.stderr
