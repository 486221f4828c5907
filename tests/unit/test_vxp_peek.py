"""The incremental header peek of the VXP servers: codes from a real package, and a refusal
(never an internal error) for anything that is not edXML."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import VxpRefusal
from gateway.vxp import wire
from gateway.vxp.peek import peek_header

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "examples" / "quickstart-document.edxml"


def test_codes_of_the_example_package() -> None:
    codes = peek_header(EXAMPLE)
    assert codes.sender == "000.00.01.H53"
    assert codes.to and all(codes.to)
    assert codes.recipients("edoc") == tuple(dict.fromkeys(codes.to))


def test_an_unbound_prefix_below_the_root_does_not_break_the_peek(tmp_path: Path) -> None:
    """lxml keeps such a tag as "e--dXML:edXMLEnvelope", which ``etree.QName`` refuses with a
    ValueError: the fuzzer found the REST face answering that with an internal error. The peek
    only wants the header's codes; the full reader refuses the package afterwards."""
    text = EXAMPLE.read_text(encoding="utf-8")
    mangled = text.replace("<edXML:edXMLEnvelope", "<e--dXML:edXMLEnvelope", 1)
    assert mangled != text
    path = tmp_path / "upload.edxml"
    path.write_text(mangled, encoding="utf-8")
    assert peek_header(path) == peek_header(EXAMPLE)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: text.replace("<edXML ", "<e--dXML:edXML ", 1),
        lambda text: text.replace("<edXML ", "<Envelope ", 1),
        lambda text: text[: len(text) // 3],
        lambda text: "not xml at all",
    ],
    ids=["unbound-root-prefix", "other-root", "truncated", "not-xml"],
)
def test_not_edxml_is_refused_as_an_invalid_file(tmp_path: Path, mangle: object) -> None:
    assert callable(mangle)
    path = tmp_path / "upload.edxml"
    path.write_text(mangle(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(VxpRefusal) as refused:
        peek_header(path)
    assert refused.value.code == wire.INVALID_FILE
