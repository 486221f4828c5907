"""The client kit (clients/): every stack's example, unmodified, against a live gateway.

Each example reads the same environment (clients/README.md), runs the same conversation (send,
pull, fetch, confirm, traces, then three faults) and prints one line per step. The test starts
the whole gateway (every face, as ``serve`` mounts them) on an ephemeral port, gives each run a
fresh document, and compares every printed line with what the gateway must have answered. A
toolkit that is not installed skips its example locally and fails it on CI (``.ci/run``
installs them all).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.edxml.model import Code
from gateway.edxml.writer import package_bytes
from tests.fixtures import client_kit
from tests.fixtures.client_kit import CLIENTS, LIMIT, RECEIVER, SENDER, LiveGateway, Stack, require
from tests.fixtures.packages import build_document

pytestmark = pytest.mark.client_kit
live = client_kit.live

STACKS = [
    Stack("zeep", (), (sys.executable, "example.py"), "python-zeep"),
    Stack("suds", (), (sys.executable, "example.py"), "python-suds", versions=("1.1",)),
    Stack("node-soap", ("node", "npm"), ("node", "example.js"), "node"),
    Stack("php-soapclient", ("php",), ("php", "example.php"), "php"),
    Stack("axis-1.4", ("java", "javac"), ("bash", "run.sh"), "java-axis", versions=("1.1",)),
    Stack("mono-wsdl", ("mono", "mcs", "wsdl"), ("bash", "run.sh"), "dotnet-mono"),
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


def test_axis_imports_the_legacy_wsdl_without_options(live: LiveGateway, tmp_path: Path) -> None:
    """Apache Axis 1.4's WSDL2Java on ``?wsdl`` (no -N mappings) gives stubs that compile."""
    require(Stack("axis-1.4", ("java", "javac"), (), "java-axis"))
    _run(
        [
            "java",
            "-cp",
            AXIS_JARS,
            "org.apache.axis.wsdl.WSDL2Java",
            "-o",
            "src",
            f"{live.url}/legacy/edoc?wsdl",
        ],
        tmp_path,
    )
    sources = [str(p) for p in (tmp_path / "src").rglob("*.java")]
    assert any(p.endswith("EdocLegacySoap11Stub.java") for p in sources)
    (tmp_path / "classes").mkdir()
    _run(["javac", "-nowarn", "-cp", AXIS_JARS, "-d", "classes", *sources], tmp_path)
