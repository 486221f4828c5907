"""The client kit's raw-HTTP examples of the legacy eDoc dialect, unmodified, on a live gateway.

Generated stubs cannot express SendDocument's MIME parts nor GetDocument's header-and-MIME
answer, so each stack of the kit has a raw-HTTP example (``clients/*/legacy_raw*``,
clients/README.md) that sends one file as SwA ``multipart/related`` and fetches the document
back. Every run sends a fresh document with a file of its own; the test compares each printed
line with what the gateway must have answered, the printed SHA-256 with the file's, and reads the
stored package itself, so neither a wrong file nor a claim the gateway does not back passes.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

from gateway.edxml.model import DocumentPackage
from tests.fixtures import client_kit as kit
from tests.fixtures.client_kit import RECEIVER, SENDER, LiveGateway, Stack

pytestmark = pytest.mark.client_kit
live = kit.live

SAMPLES = kit.REPO / "conformance" / "samples" / "legacy" / "soap11"
FILE_NAME = "Công văn mẫu.pdf"
"""The AttachmentName of ``SAMPLES/SendDocument.xml``'s Manifest."""

STACKS = [
    Stack("python-stdlib", (), (sys.executable, "legacy_raw.py"), "python-zeep"),
    Stack("node-http", ("node",), ("node", "legacy_raw.js"), "node"),
    Stack("php-streams", ("php",), ("php", "legacy_raw.php"), "php"),
    Stack("java-net-http", ("java",), ("java", "LegacyRaw.java"), "java-axis"),
    Stack("mono-httpwebrequest", ("mono", "mcs"), ("bash", "legacy_raw.sh"), "dotnet-mono"),
]

_numbers = iter(range(700, 10_000))


@pytest.mark.parametrize("stack", STACKS, ids=[stack.name for stack in STACKS])
def test_raw_example_sends_a_file_and_fetches_it_back(
    live: LiveGateway, tmp_path: Path, stack: Stack
) -> None:
    kit.require(stack)
    number = next(_numbers)
    # Bytes no text decoding survives, with a MIME delimiter and CRLFs inside: only a file
    # carried byte for byte comes back with this hash.
    data = b"%PDF-1.4 " + stack.name.encode() + b"\r\n--MIME_x\r\n" + bytes(range(256)) * 40
    attachment = tmp_path / "attachment.pdf"
    attachment.write_bytes(data)
    env = {
        **live.environment(tmp_path),
        "LEGACY_SAMPLES": str(SAMPLES),
        "ATTACHMENT_FILE": str(attachment),
        "DOCUMENT_NUMBER": str(number),
    }
    lines, context = kit.run_example(stack, env)
    document_id = check_output(lines, context, number, data)
    _check_stored(live, document_id, data)


def check_output(lines: list[str], context: str, number: int, data: bytes) -> str:
    """The example's three lines as the gateway must have answered; the legacy DocumentId."""
    assert len(lines) == 3, context
    sent = re.fullmatch(r"legacy sent (\d+) success=true", lines[0])
    assert sent, context
    document_id = sent.group(1)
    edxml_id = f"{SENDER},2024/03/05,{number}/KTPH"
    assert lines[1] == (
        f"legacy header {document_id} from={SENDER} to={RECEIVER} edxml={edxml_id}"
    ), context
    assert lines[2] == (
        f"legacy fetched {document_id} file={FILE_NAME} size={len(data)} "
        f"sha256={hashlib.sha256(data).hexdigest()} matches=true"
    ), context
    return document_id


def _check_stored(live: LiveGateway, document_id: str, data: bytes) -> None:
    """The gateway itself holds the file under that id, for the receiver: not only the
    example's word for it."""
    package_id = live.exchange.legacy_package_id(int(document_id))
    assert package_id is not None, document_id
    package = live.exchange.read_package(RECEIVER, package_id)
    assert isinstance(package, DocumentPackage)
    assert [a.name for a in package.attachments] == [FILE_NAME]
    assert live.exchange.blobs.read_bytes(package.attachments[0].file) == data


def test_output_check_refuses_a_file_that_differs() -> None:
    """The check is not a formality: one byte off in the fetched file, or a failed send, fails."""
    data = b"%PDF-1.4 sent"
    good = [
        "legacy sent 5 success=true",
        f"legacy header 5 from={SENDER} to={RECEIVER} edxml={SENDER},2024/03/05,9/KTPH",
        f"legacy fetched 5 file={FILE_NAME} size={len(data)} "
        f"sha256={hashlib.sha256(data).hexdigest()} matches=true",
    ]
    assert check_output(good, "", 9, data) == "5"
    with pytest.raises(AssertionError):
        check_output(good, "", 9, data[:-1] + b"X")
    with pytest.raises(AssertionError):
        check_output(["legacy sent None success=false", *good[1:]], "", 9, data)


def test_every_raw_example_is_named_in_the_kit_readme() -> None:
    readme = (kit.CLIENTS / "README.md").read_text("utf-8")
    for stack in STACKS:
        example = stack.command[-1]
        assert f"`{stack.directory}/{example}`" in readme, stack.name
        assert (kit.CLIENTS / stack.directory / example).is_file(), example
