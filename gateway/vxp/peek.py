"""Who a package is from and for, read from the start of an edXML file.

Both VXP servers (the simulator and the REST face) route or check an upload on these codes
before anything else reads the package; the parse stops at the end of ``MessageHeader``, long
before the attachments, so a 500 MB upload costs a few kilobytes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.edxml.namespaces import local_name
from gateway.errors import VxpRefusal
from gateway.safexml import pull_parser
from gateway.vxp import wire

HEADER_LIMIT = 16 * 1024 * 1024
"""A MessageHeader that has not ended this far into the file is refused."""
_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class HeaderCodes:
    sender: str
    """``MessageHeader/From/OrganId``."""
    to: tuple[str, ...]
    """``MessageHeader/To/OrganId``, in order (a document's recipients)."""
    response_for: tuple[str, ...]
    """``MessageHeader/ResponseFor/OrganId`` (a status's recipient)."""

    def recipients(self, message_type: wire.MessageType) -> tuple[str, ...]:
        """``To`` for a document, ``ResponseFor`` for a status, each code once."""
        named = self.to if message_type == "edoc" else self.response_for
        return tuple(dict.fromkeys(named))


def peek_header(path: Path) -> HeaderCodes:
    """The codes of the edXML header, read incrementally; not XML or not edXML → refusal."""
    parser = pull_parser()
    sender = ""
    to: list[str] = []
    response_for: list[str] = []
    stack: list[str] = []
    read = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                read += len(chunk)
                parser.feed(chunk)
                for event, element in parser.read_events():
                    assert isinstance(element, etree._Element)
                    # the tag as parsed: an unbound prefix leaves "p:name", which QName refuses
                    name = local_name(str(element.tag))
                    if event == "start":
                        if not stack and name != "edXML":
                            raise VxpRefusal(wire.INVALID_FILE, f"root is {name}, not edXML")
                        stack.append(name)
                        continue
                    stack.pop()
                    text = (element.text or "").strip()
                    if name == "OrganId" and stack and text and "MessageHeader" in stack:
                        if stack[-1] == "From" and stack[-2] == "MessageHeader":
                            sender = text
                        elif stack[-1] == "To":
                            to.append(text)
                        elif stack[-1] == "ResponseFor":
                            response_for.append(text)
                    elif name == "MessageHeader":
                        return HeaderCodes(sender, tuple(to), tuple(response_for))
                if read > HEADER_LIMIT:
                    break
    except etree.XMLSyntaxError as exc:
        raise VxpRefusal(wire.INVALID_FILE, f"File khong hop le (not XML): {exc}") from None
    raise VxpRefusal(wire.INVALID_FILE, "File khong hop le: no edXML MessageHeader")
