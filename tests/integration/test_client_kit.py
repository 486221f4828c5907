"""The client kit (clients/): every stack's example, unmodified, against a live gateway.

Each example reads the same environment (clients/README.md), runs the same conversation (send,
pull, fetch, confirm, traces, then three faults) and prints one line per step. The test starts
the whole gateway (every face, as ``serve`` mounts them) on an ephemeral port, gives each run a
fresh document, and compares every printed line with what the gateway must have answered. With
``KIT_STEP=busy`` each example makes one call to a gateway whose in-flight slots the test holds,
and prints the ``Server.Busy`` fault as its toolkit read it. A toolkit that is not installed
skips its example locally and fails it on CI (``.ci/run`` installs them all).
"""

from __future__ import annotations

import fcntl
import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.edxml.model import Code
from gateway.edxml.writer import package_bytes
from tests.fixtures import client_kit
from tests.fixtures.client_kit import CLIENTS, LIMIT, RECEIVER, SENDER, LiveGateway, Stack, require
from tests.fixtures.packages import build_document

pytestmark = pytest.mark.client_kit
live = client_kit.live
SOAP_ENV = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}

STACKS = [
    Stack("zeep", (), (sys.executable, "example.py"), "python-zeep"),
    Stack("suds", (), (sys.executable, "example.py"), "python-suds", versions=("1.1",)),
    Stack("node-soap", ("node", "npm"), ("node", "example.js"), "node"),
    Stack("php-soapclient", ("php",), ("php", "example.php"), "php"),
    Stack("axis-1.4", ("java", "javac"), ("bash", "run.sh"), "java-axis", versions=("1.1",)),
    Stack("mono-wsdl", ("mono", "mcs", "wsdl"), ("bash", "run.sh"), "dotnet-mono"),
    Stack("jaxws-ri", ("wsimport", "java", "javac"), ("bash", "run.sh"), "java-jaxws"),
]

_counter = iter(range(100, 10_000))


def _cases() -> list[Any]:
    return [
        pytest.param(stack, version, id=f"{stack.name}-soap{version}")
        for stack in STACKS
        for version in stack.versions
    ]


@pytest.mark.parametrize(("stack", "version"), _cases())
def test_example_runs_the_whole_conversation(
    live: LiveGateway, tmp_path: Path, stack: Stack, version: str
) -> None:
    require(stack)
    number = next(_counter)
    package = tmp_path / "document.edxml"
    pkg = build_document(
        live.exchange.blobs,
        b"%PDF-1.4 kit " + stack.name.encode(),
        code=Code(str(number), "VPCP-TTĐT"),
        document_id=f"{SENDER},2024/03/05,{number}/VPCP-TTĐT",
    )
    package.write_bytes(package_bytes(pkg, live.exchange.blobs))
    env = {
        **live.environment(tmp_path),
        "PACKAGE_FILE": str(package),
        "LIMIT_BYTES": str(LIMIT + 1),
        "SOAP_VERSION": version,
    }
    lines, context = client_kit.run_example(stack, env)
    _check_conversation(lines, live, version, context)


def _check_conversation(lines: list[str], live: LiveGateway, version: str, context: str) -> None:
    assert len(lines) == 8, context
    sent = re.fullmatch(r"sent (\S+) duplicate=false", lines[0])
    assert sent, context
    package_id = sent.group(1)
    assert lines[1].startswith("pending ") and package_id in lines[1].split()[1:], context
    fetched = re.fullmatch(rf"fetched {re.escape(package_id)} size=(\d+) matches=true", lines[2])
    assert fetched and int(fetched.group(1)) > 1000, context
    confirmed = re.fullmatch(rf"confirmed {re.escape(package_id)} status=(\S+)", lines[3])
    assert confirmed, context
    assert lines[4] == f"trace 01 {RECEIVER} -> {SENDER}", context
    side = "Client" if version == "1.1" else "Sender"
    faults = (
        ("auth", "M.Security.Authentication"),
        ("validation", "M.Xml"),
        ("limits", "R.Request.Size"),
    )
    for line, (path, code) in zip(lines[5:], faults, strict=True):
        head, _, sentence = line.partition(" | ")
        assert head == f"fault {path} {code} {side}", context
        assert sentence.startswith(f"{code}: ") and len(sentence) > len(code) + 10, context


@contextmanager
def _every_slot_held(settings: Settings) -> Iterator[None]:
    """Hold all of the node's in-flight slots, as requests running in other worker processes
    would: each slot file locked with ``flock``, as ``SlotPool`` locks it. The lock waits for a
    request still finishing (its slot is freed once its answer is sent), never for a clock."""
    directory = settings.data_dir / "run" / "inflight"
    directory.mkdir(parents=True, exist_ok=True)
    fds = [
        os.open(directory / f"slot-{n:04d}", os.O_RDWR | os.O_CREAT, 0o600)
        for n in range(settings.max_in_flight)
    ]
    try:
        for fd in fds:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing the descriptor drops its lock


def _busy_on_the_wire(live: LiveGateway, version: str) -> str:
    """POST a Ping as any client would: the gateway's busy answer must be a SOAP fault of the
    request's version (HTTP 500, Retry-After); its fault text, which each stack must show."""
    env = SOAP_ENV[version]
    media = "text/xml" if version == "1.1" else "application/soap+xml"
    ping = f"<s:Envelope xmlns:s='{env}'><s:Body><Ping xmlns='urn:edoc-gateway:soap:v1'/>"
    connection = http.client.HTTPConnection(live.url.removeprefix("http://"), timeout=60)
    try:
        connection.request(
            "POST", "/soap/v1", ping + "</s:Body></s:Envelope>", {"Content-Type": media}
        )
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status == 500, (answer.status, body)
    assert answer.getheader("Retry-After") == str(live.settings.busy_retry_after_seconds)
    fault = etree.fromstring(body).find(f"{{{env}}}Body/{{{env}}}Fault")
    assert fault is not None, body
    if version == "1.1":
        assert fault.findtext("faultcode") == "soap:Server", body
        text = fault.findtext("faultstring")
    else:
        assert fault.findtext(f"{{{env}}}Code/{{{env}}}Value") == "soap:Receiver", body
        text = fault.findtext(f"{{{env}}}Reason/{{{env}}}Text")
    assert text and text.startswith("Server.Busy: "), body
    return text


@pytest.mark.parametrize(("stack", "version"), _cases())
def test_example_reads_the_busy_fault(
    live: LiveGateway, tmp_path: Path, stack: Stack, version: str
) -> None:
    """Every slot of the node held: the example's one call (``KIT_STEP=busy``) is refused with
    ``Server.Busy``, and the stack must read it as a fault: the standard code, the gateway's
    code from the ``GatewayFault`` detail and the fault text, exactly as sent."""
    require(stack)
    env = {**live.environment(tmp_path), "SOAP_VERSION": version, "KIT_STEP": "busy"}
    side = "Server" if version == "1.1" else "Receiver"
    with _every_slot_held(live.settings):
        text = _busy_on_the_wire(live, version)
        lines, context = client_kit.run_example(stack, env)
    assert lines == [f"fault busy Server.Busy {side} | {text}"], context


def test_every_stack_is_listed_in_the_kit_readme() -> None:
    readme = (CLIENTS / "README.md").read_text("utf-8")
    for stack in STACKS:
        assert f"`{stack.directory}/`" in readme, stack.name
        assert (CLIENTS / stack.directory).is_dir(), stack.directory


AXIS_JARS = ":".join(
    f"/usr/share/java/{jar}.jar"
    for jar in (
        "axis",
        "jaxrpc",
        "saaj",
        "commons-discovery",
        "commons-logging",
        "wsdl4j",
        "javax.activation",
        "javax.mail",
    )
)


def _run(command: list[str], cwd: Path) -> str:
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"{command}: {run.stdout}\n{run.stderr}"
    return run.stdout + run.stderr


def test_mono_imports_the_legacy_wsi_wsdl_without_options(
    live: LiveGateway, tmp_path: Path
) -> None:
    """Mono's ``wsdl`` stops on ``?wsdl`` (type-bound parts); ``?wsdl=wsi`` imports and
    compiles. SendDocument and GetDocument (MIME parts) are left out by the importer, as
    ``clients/README.md`` says: raw HTTP for those."""
    require(Stack("mono-wsdl", ("mono", "mcs", "wsdl"), (), "dotnet-mono"))
    url = f"{live.url}/legacy/edoc"
    refused = subprocess.run(
        ["wsdl", "-nologo", f"-out:{tmp_path / 'plain.cs'}", url + "?wsdl"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Unable to import binding" in refused.stdout + refused.stderr
    _run(["wsdl", "-nologo", f"-out:{tmp_path / 'Legacy.cs'}", url + "?wsdl=wsi"], tmp_path)
    source = (tmp_path / "Legacy.cs").read_text("utf-8")
    for operation in (
        "GetPendingDocumentIds",
        "ConfirmReceived",
        "UpdateTraces",
        "GetTraces",
        "CheckPermission",
        "GetOrganizations",
    ):
        assert f" {operation}(" in source, operation
    _run(
        [
            "mcs",
            "-nologo",
            "-target:library",
            "-r:System.Web.Services",
            "-r:System.Xml",
            f"-out:{tmp_path / 'Legacy.dll'}",
            str(tmp_path / "Legacy.cs"),
        ],
        tmp_path,
    )


def _axis_stubs(tmp_path: Path, wsdl: str, *options: str) -> list[str]:
    """WSDL2Java's sources for ``wsdl`` (run with ``options``), under ``tmp_path/src``."""
    require(Stack("axis-1.4", ("java", "javac"), (), "java-axis"))
    command = ["java", "-cp", AXIS_JARS, "org.apache.axis.wsdl.WSDL2Java", *options]
    _run([*command, "-o", "src", wsdl], tmp_path)
    sources = [str(p) for p in (tmp_path / "src").rglob("*.java")]
    assert any(p.endswith("EdocLegacySoap11Stub.java") for p in sources)
    (tmp_path / "classes").mkdir()
    return sources


def _javac(tmp_path: Path, sources: list[str]) -> subprocess.CompletedProcess[str]:
    command = ["javac", "-nowarn", "-encoding", "UTF-8", "-cp", AXIS_JARS, "-d", "classes"]
    return subprocess.run(
        [*command, *sources], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def test_axis_imports_the_legacy_wsdl_without_options(live: LiveGateway, tmp_path: Path) -> None:
    """Apache Axis 1.4's WSDL2Java on ``?wsdl`` (no -N mappings) gives stubs that compile."""
    compiled = _javac(tmp_path, _axis_stubs(tmp_path, f"{live.url}/legacy/edoc?wsdl"))
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_axis_compiles_the_legacy_wsi_wsdl_only_with_no_wrapped(
    live: LiveGateway, tmp_path: Path
) -> None:
    """Measured, so that the docs say it: WSDL2Java on ``?wsdl=wsi`` without options generates
    stubs javac refuses. Its wrapped style (the default) takes header blocks for wrappers (it
    unwraps UpdateTraces' ``Signature`` header into ``updateTraces(SignatureKeyInfo keyInfo, ...)``)
    and never writes the classes of ``MessageHeader``, ``TraceHeaderList`` and ``Signature`` (nor
    the holders of the first two), which SendDocument and GetDocument still name. With ``-W``
    (``--noWrapped``) they compile. Should Axis ever compile them without options, this fails
    and the docs must change."""
    wsi = f"{live.url}/legacy/edoc?wsdl=wsi"
    refused = _javac(tmp_path, _axis_stubs(tmp_path, wsi))
    assert refused.returncode != 0, "the stubs compile now: update clients/README.md"
    wrapped = next((tmp_path / "src").rglob("EdocLegacyPortType.java")).read_text("utf-8")
    assert "updateTraces(vn.e_doc.www.Schema.SignatureKeyInfo keyInfo," in wrapped
    missing = set(re.findall(r"symbol: +class (\w+)", refused.stdout + refused.stderr))
    header_blocks = {"MessageHeader", "TraceHeaderList", "Signature"}
    assert missing == header_blocks | {"MessageHeaderHolder", "TraceHeaderListHolder"}, missing
    plain = tmp_path / "no-wrapped"
    plain.mkdir()
    compiled = _javac(plain, _axis_stubs(plain, wsi, "-W"))
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    stub = next((plain / "src").rglob("EdocLegacyPortType.java")).read_text("utf-8")
    assert "updateTraces(vn.e_doc.www.Schema.Signature signature," in stub
