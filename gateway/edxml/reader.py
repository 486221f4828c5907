"""Lenient, streaming edXML reader.

Real packages carry quirks (reference §7): junk before ``<?xml``, ``Bussiness`` vs ``Business``,
``cid:`` mismatches, undeclared ``xlink:`` prefixes, ``dd/MM/yyyy`` dates, status ``"1"``. The
reader repairs each one and records a ``W.`` warning on the package; damaged values that cannot be
repaired become errors (``M.``/``R.``) but do not stop the read, so a validator can report them all.

Input that is not an edXML package at all (not XML, a DOCTYPE, the wrong namespace, non-UTF-8,
absurd nesting) raises :class:`~gateway.errors.UnusableInput`.

Memory: the input is fed to lxml in chunks. ``ContentTransferEncoded`` text never reaches the
tree: it is base64-decoded piece by piece straight into a blob writer (hashing as it goes). Only
the envelope and attachment metadata are kept as a small tree for mapping onto the model.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

from gateway.edxml import mapping
from gateway.edxml.attachments import Base64StreamDecoder
from gateway.edxml.blobio import BlobSink, BlobStoreLike
from gateway.edxml.model import BlobRef, Package
from gateway.edxml.namespaces import (
    EDOC_LEGACY,
    QCVN,
    WELL_KNOWN_PREFIXES,
    local_name,
    namespace_of,
)
from gateway.errors import Finding, LimitExceeded, Severity, UnusableInput
from gateway.safexml import has_doctype, pull_parser, tree_parser


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Limits and switches for reading untrusted packages; the defaults suit an axis gateway."""

    max_depth: int = 256
    """Deepest element nesting accepted: libxml2's own limit, so both read paths agree
    (edXML needs about 10; hostile input uses thousands)."""
    max_attachment_bytes: int | None = 384 << 20
    """Largest decoded attachment (as sent, before any unzipping); None means no limit beyond
    the request size. 384 MiB is what a 512 MiB request of base64 can carry."""
    max_decompressed_bytes: int | None = 384 << 20
    """Largest file unwrapped from a single-entry zip (a zip bomb of 3 MB inflates to GiB)."""
    max_compression_ratio: int | None = 200
    """Largest unwrapped size over the zip's own size (past the first MiB): documents compress
    1-20x, bombs 1000x."""
    max_attachments: int = 500
    unwrap_single_entry_zips: bool = True
    """Unwrap the zip the VNPT library puts around single files (§2.5)."""
    chunk_size: int = 1 << 16
    small_input: int = 256 << 10
    """Inputs up to this size are parsed in one go (fast); larger ones stream."""
    head_limit: int = 4 << 20
    """How much of the start of a file is examined for junk and undeclared prefixes."""


DEFAULT_OPTIONS = ReadOptions()

_XML_DECL = re.compile(rb"^<\?xml[^>]*?\?>", re.DOTALL)
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ATTACHMENTS_TAG = f"{{{QCVN}}}AttachmentEncoded"
_ATTACHMENT_TAG = f"{{{QCVN}}}Attachment"
_CONTENT_TAG = f"{{{QCVN}}}ContentTransferEncoded"
_ROOT_START = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.:-]*)")


def read_package(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    blobs: BlobStoreLike,
    options: ReadOptions = DEFAULT_OPTIONS,
) -> Package:
    """Read an edXML document or status package from bytes, a file path or a binary stream."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _read_stream(io.BytesIO(bytes(source)), blobs, options)
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as stream:
                return _read_stream(stream, blobs, options)
        except OSError as exc:
            raise UnusableInput("M.File", f"cannot read {os.fspath(source)}: {exc}") from exc
    return _read_stream(source, blobs, options)


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes or up to the end: raw streams and pipes may return less per call."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def _read_stream(stream: BinaryIO, blobs: BlobStoreLike, options: ReadOptions) -> Package:
    findings: list[Finding] = []
    first = _read_up_to(stream, options.small_input + 1)
    if len(first) <= options.small_input:
        return _read_small(_repair_head(first, findings), blobs, options, findings)
    chunks = _chunks(stream, options.chunk_size)
    head, rest = _take_head(first, chunks, options.head_limit)
    head = _repair_head(head, findings)
    streamer = _Streamer(blobs, options)
    try:
        streamer.feed(head)
        for chunk in rest:
            streamer.feed(chunk)
        root = streamer.close()
    except BaseException:
        streamer.abort()
        raise
    return mapping.map_package(root, streamer.contents, blobs, options, findings)


def _read_small(
    data: bytes, blobs: BlobStoreLike, options: ReadOptions, findings: list[Finding]
) -> Package:
    """Small inputs: let lxml build the tree in C (4-5x faster than a Python target).

    The input is already in memory and at most ``small_input`` bytes, so its attachment text is
    bounded too; it is decoded with the same streaming decoder and dropped from the tree.
    """
    parser = tree_parser()
    doctype = data.find(b"<!DOCTYPE")
    if doctype != -1 and _FIRST_ELEMENT.search(data, 0, doctype) is None:
        # A DOCTYPE in the prolog: refuse before libxml2 reads entity declarations (its
        # amplification guard would otherwise answer first, with a vaguer message).
        raise _doctype_refused()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    # libxml2 refused deeper nesting itself; a smaller configured limit is checked here.
    return _map_tree(root, blobs, options, findings, options.max_depth < _LIBXML2_MAX_DEPTH)


def read_element(
    root: etree._Element, blobs: BlobStoreLike, options: ReadOptions = DEFAULT_OPTIONS
) -> Package:
    """Read an edXML package a caller built as a tree in memory (a face translating its own
    dialect element by element), with the same repairs and findings as a package file, and
    no serialising and parsing again. Inline attachment content is decoded into blobs and
    dropped from the tree."""
    return _map_tree(root, blobs, options, [], True)


def _map_tree(
    root: etree._Element,
    blobs: BlobStoreLike,
    options: ReadOptions,
    findings: list[Finding],
    check_depth: bool,
) -> Package:
    _check_root(root.tag)
    if check_depth:
        _check_depth(root, min(options.max_depth, _LIBXML2_MAX_DEPTH))
    contents: dict[int, DecodedContent] = {}
    section = root.find(_ATTACHMENTS_TAG)
    if section is not None:
        attachments = section.findall(_ATTACHMENT_TAG)
        if len(attachments) > options.max_attachments:
            raise _too_many_attachments(options)
        for index, attachment in enumerate(attachments, start=1):
            encoded = attachment.find(_CONTENT_TAG)
            if encoded is None:
                continue
            writer = blobs.writer(options.max_attachment_bytes)
            decoder = Base64StreamDecoder(writer)
            try:
                decoder.feed(encoded.text or "")
                contents[index] = _finish(decoder, writer)
            except BaseException:
                writer.abort()
                raise
            encoded.text = None
    return mapping.map_package(root, contents, blobs, options, findings)


_LIBXML2_MAX_DEPTH = 256
"""libxml2 refuses deeper nesting by itself unless XML_PARSE_HUGE is set."""


def _check_depth(root: etree._Element, max_depth: int) -> None:
    depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            raise _too_deep(max_depth, element)


def _too_deep(max_depth: int, element: etree._Element | None = None) -> LimitExceeded:
    where = ""
    if element is not None:
        names = [local_name(e.tag) for e in element.iterancestors()][::-1][:6]
        where = "/" + "/".join(names) + "/..."
    return LimitExceeded(
        "R.Xml.Depth", f"elements are nested deeper than {max_depth} levels", where
    )


def _finish(decoder: Base64StreamDecoder, writer: BlobSink) -> DecodedContent:
    decoder.close()
    return DecodedContent(
        writer.commit(),
        decoder.head,
        decoder.invalid_characters,
        decoder.dangling_characters,
        decoder.padding_inside,
    )


def _doctype_refused() -> UnusableInput:
    return UnusableInput(
        "M.Xml.Doctype",
        "a DOCTYPE declaration is not allowed in an edXML package "
        "(it can carry external entities or entity expansion)",
        "line 1",
    )


def _too_many_attachments(options: ReadOptions) -> LimitExceeded:
    return LimitExceeded(
        "R.Attachment.Count",
        f"more than {options.max_attachments} attachments",
        "/edXML/AttachmentEncoded",
    )


def _take_head(first: bytes, chunks: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes]]:
    """Read enough of the start to see the root element and the envelope's prefixes."""
    parts: list[bytes] = [first]
    size = len(first)
    if b"AttachmentEncoded" in first:
        return first, chunks
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit or b"AttachmentEncoded" in chunk:
            break
    return b"".join(parts), chunks


def _repair_head(head: bytes, findings: list[Finding]) -> bytes:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:2]:
        raise UnusableInput(
            "M.Encoding", "the package is UTF-16; edXML (QCVN 102:2016) packages must be UTF-8"
        )
    start = head.find(b"<?xml")
    if start == -1:
        start = head.find(b"<")
    if start == -1:
        raise UnusableInput("M.Xml", "the input is not XML: no '<' in its first bytes")
    if start > 0:
        junk = head[:start]
        if junk.strip():
            findings.append(
                Finding(
                    "W.LeadingJunk",
                    "byte 0",
                    f"{len(junk)} byte(s) before the XML declaration were removed: {junk[:16]!r}",
                    Severity.WARNING,
                )
            )
        head = head[start:]
    declaration = _XML_DECL.match(head)
    if declaration:
        encoding = _DECL_ENCODING.search(declaration.group(0))
        if encoding and encoding.group(1).lower().replace(b"-", b"") != b"utf8":
            raise UnusableInput(
                "M.Encoding",
                f"the package declares encoding {encoding.group(1).decode()!r}; "
                "edXML (QCVN 102:2016) packages must be UTF-8",
                "line 1",
            )
    return _declare_missing_prefixes(head, findings)


def _declare_missing_prefixes(head: bytes, findings: list[Finding]) -> bytes:
    """Declare well-known prefixes (``xlink:``, ``edXML:``...) on the root element.

    Senders use ``xlink:href`` without declaring ``xlink`` (VPCP's own sample), or write
    ``edXML:AttachmentEncoded`` after the envelope that declared ``edXML`` has closed. libxml2
    then drops the prefix or refuses the file. Declaring these prefixes on the root is harmless
    where they are already declared (an inner declaration wins) and keeps the data as meant; a
    warning is recorded only where the sender really left a use undeclared.
    """
    declaration = _XML_DECL.match(head)
    root = _ROOT_START.search(head, declaration.end() if declaration else 0)
    while root and head[root.start() + 1 : root.start() + 2] in (b"!", b"?"):
        root = _ROOT_START.search(head, root.end())
    if root is None:
        return head
    root_tag_end = head.find(b">", root.end())
    root_tag = head[root.start() : root_tag_end]
    envelope_end = head.find(b"edXMLEnvelope>", root_tag_end)
    added: list[bytes] = []
    for prefix, uri in WELL_KNOWN_PREFIXES.items():
        name = prefix.encode()
        if name + b":" not in head or b"xmlns:" + name + b"=" in root_tag:
            continue
        if _use_pattern(prefix).search(head) is None:
            continue
        added.append(b' xmlns:%s="%s"' % (name, uri.encode()))
        declared_anywhere = b"xmlns:" + name + b"=" in head
        used_after_envelope = envelope_end != -1 and any(
            b"xmlns:" + name + b"=" not in m.group(0)
            for m in _use_pattern(prefix, element_only=True).finditer(head, envelope_end)
        )
        if not declared_anywhere or used_after_envelope:
            findings.append(
                Finding(
                    f"W.Namespace.{prefix}",
                    "/edXML",
                    f"prefix '{prefix}:' is used where it is not declared; read as {uri}",
                    Severity.WARNING,
                )
            )
    if not added:
        return head
    return head[: root.end()] + b"".join(added) + head[root.end() :]


@functools.cache
def _use_pattern(prefix: str, *, element_only: bool = False) -> re.Pattern[bytes]:
    """``prefix:`` starting an element (with its start tag) or an attribute name; not text."""
    name = re.escape(prefix.encode())
    if element_only:
        return re.compile(rb"<" + name + rb":[A-Za-z_][^>]*>")
    return re.compile(rb"(?:<|</|\s)" + name + rb":[A-Za-z_]")


def _syntax_error(exc: etree.XMLSyntaxError) -> UnusableInput | LimitExceeded:
    line, column = exc.position if exc.position else (0, 0)
    message = str(exc.msg or exc)
    where = f"line {line}, column {column}" if line else ""
    if "not proper UTF-8" in message or "encoding" in message.lower():
        return UnusableInput("M.Encoding", f"the package is not valid UTF-8 ({message})", where)
    if "Excessive depth" in message:
        return LimitExceeded(
            "R.Xml.Depth", f"elements are nested deeper than {_LIBXML2_MAX_DEPTH} levels", where
        )
    if "Premature end" in message or "EndTag" in message or "end of data" in message.lower():
        return UnusableInput("M.Xml.Truncated", f"the XML ends too early ({message})", where)
    return UnusableInput("M.Xml", f"the input is not well-formed XML ({message})", where)


@dataclass(slots=True)
class DecodedContent:
    """What one ``ContentTransferEncoded`` element held, after streaming decode."""

    blob: BlobRef
    head: bytes
    invalid_characters: int = 0
    dangling_characters: int = 0
    padding_inside: bool = False


class _Streamer:
    """Feeds an lxml pull parser and keeps ``ContentTransferEncoded`` text out of the tree.

    libxml2 builds the tree in C (prefixes and all, exactly as the in-memory path does). After
    each chunk, the text accumulated so far in an open ``ContentTransferEncoded`` element is
    handed to a streaming base64 decoder and removed from the tree, so the tree never holds
    more than one chunk of it. (libxml2 appends text to the element's *current* last child,
    read afresh on every call, so removing that child between feeds is safe: the next text
    simply starts a new node.)
    """

    def __init__(self, blobs: BlobStoreLike, options: ReadOptions) -> None:
        self.blobs = blobs
        self.options = options
        self.parser = pull_parser()
        self.depth = 0
        self.root: etree._Element | None = None
        self.attachments_seen = 0
        self.contents: dict[int, DecodedContent] = {}
        """Decoded ``ContentTransferEncoded`` per attachment, by 1-based position in the file."""
        self._content: etree._Element | None = None
        self._writer: BlobSink | None = None
        self._decoder: Base64StreamDecoder | None = None
        self._broken = False
        """The input failed to parse: the events still pending are read for what came before
        the error (a DOCTYPE, the root), but no attachment is completed from them (lxml 6.2
        reports the end of every open element when a truncated input is closed)."""

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            self._broken = True
            self._events()  # report what came before the error first (a DOCTYPE, the root)
            raise _syntax_error(exc) from None
        self._events()
        self._drain_text()

    def close(self) -> etree._Element:
        try:
            root = self.parser.close()
        except etree.XMLSyntaxError as exc:
            self._broken = True
            self._events()
            raise _syntax_error(exc) from None
        self._events()
        return root

    def _events(self) -> None:
        for event, element in self.parser.read_events():
            if not isinstance(element, etree._Element):
                continue
            if event == "start":
                self._start(element)
            else:
                self._end(element)

    def _start(self, element: etree._Element) -> None:
        self.depth += 1
        if self.depth > self.options.max_depth:
            raise _too_deep(self.options.max_depth, element)
        if self.root is None:
            self.root = element
            if has_doctype(element):
                raise _doctype_refused()
            _check_root(element.tag)
            return
        if self.depth == 3 and element.tag == _ATTACHMENT_TAG:
            self.attachments_seen += 1
            if self.attachments_seen > self.options.max_attachments:
                raise _too_many_attachments(self.options)
        elif self.depth == 4 and element.tag == _CONTENT_TAG and self._is_in_attachments(element):
            self._writer = self.blobs.writer(self.options.max_attachment_bytes)
            self._decoder = Base64StreamDecoder(self._writer)
            self._content = element

    @staticmethod
    def _is_in_attachments(element: etree._Element) -> bool:
        parent = element.getparent()
        grandparent = parent.getparent() if parent is not None else None
        return grandparent is not None and grandparent.tag == _ATTACHMENTS_TAG

    def _end(self, element: etree._Element) -> None:
        self.depth -= 1
        if element is self._content and not self._broken:
            self._drain_text()
            assert self._decoder is not None and self._writer is not None
            self.contents[self.attachments_seen] = _finish(self._decoder, self._writer)
            self._content = self._writer = self._decoder = None

    def _drain_text(self) -> None:
        content = self._content
        if content is not None and content.text:
            assert self._decoder is not None
            self._decoder.feed(content.text)
            content.text = None

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.abort()
            self._writer = None


def _check_root(tag: str) -> None:
    ns = namespace_of(tag)
    name = local_name(tag)
    if ns == QCVN and name == "edXML":
        return
    if ns == EDOC_LEGACY:
        raise UnusableInput(
            "M.Namespace",
            f"root <{name}> is in the legacy eDoc SOAP namespace {EDOC_LEGACY}; that dialect is "
            "accepted only by the legacy SOAP endpoint, not as an edXML file",
            "/" + name,
        )
    if ns != QCVN:
        shown = ns or "no namespace"
        raise UnusableInput(
            "M.Namespace",
            f"root <{name}> is in {shown}; an edXML package must use the QCVN 102:2016 "
            f"namespace {QCVN}",
            "/" + name,
        )
    raise UnusableInput(
        "M.Xml.Root",
        f"root element is <{name}>; an edXML package starts with <edXML>",
        "/" + name,
    )
