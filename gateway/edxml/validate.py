"""Validate an edXML package: the XSD of the writer's layout, then the rules an XSD cannot express.

Three layers, each producing :class:`~gateway.errors.Finding` objects with the field's codes
(``N.`` missing, ``R.`` out of range, ``M.`` malformed or a broken rule). A rule that only warns
(an axis-made TraceHeader, a revoke naming its document the VPCP-sample way) keeps the code of
the problem and carries ``Severity.WARNING``; the reader's repairs are its ``W.`` warnings.

1. What the lenient reader recorded (``pkg.errors``/``pkg.warnings``).
2. :func:`schema_findings`: the strict writer's output (``xsd/edxml-document.xsd`` or
   ``xsd/edxml-status.xsd``) validated by libxml2. Each libxml2 error becomes a finding with a
   dotted code (``N.MessageHeader.From.OrganId``), an XPath-like path without prefixes and an
   English sentence.
3. :func:`rule_findings`: agency-code syntax (reference §3), duplicate recipients, the
   PromulgationDate (Bkav Checker, §2.2), manifest/attachment pairing (§2.5), the business-type
   dependencies (§2.4) and the STATUS addressing (§2.7), one function per family.

The package is validated as the writer writes it (the reader is lenient and its input is never
validated raw). The schemas are compiled once per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal, Protocol, cast

from lxml import etree

from gateway.edxml.agency import check_agency_code
from gateway.edxml.attachments import normalize_content_id
from gateway.edxml.dates import format_date, now_ict
from gateway.edxml.enums import BusinessDocType
from gateway.edxml.model import (
    Business,
    DocumentPackage,
    MessageHeader,
    Package,
    StatusPackage,
    TraceHeaderList,
)
from gateway.edxml.namespaces import PREFIX, QCVN, local_name
from gateway.edxml.writer import package_bytes
from gateway.errors import Finding, InvalidPackage, Severity

SchemaKind = Literal["document", "status"]

__all__ = [
    "SchemaKind",
    "ensure_valid",
    "rule_findings",
    "schema",
    "schema_findings",
    "validate",
    "xsd_directory",
]

_ERROR = Severity.ERROR
_WARNING = Severity.WARNING

# ---------------------------------------------------------------------------------------------
# Locating and compiling the schemas
# ---------------------------------------------------------------------------------------------

_SCHEMA_FILES: dict[str, str] = {
    "document": "edxml-document.xsd",
    "status": "edxml-status.xsd",
}
_COMMON_FILE = "edxml-common.xsd"
_XS = "http://www.w3.org/2001/XMLSchema"


def xsd_directory() -> Traversable:
    """Where the XSD files are.

    A wheel carries them as ``gateway/_data/xsd`` (pyproject ``force-include``); a source checkout
    or an editable install uses the repository's top-level ``xsd/`` next to ``gateway/``.
    """
    packaged = importlib.resources.files("gateway") / "_data" / "xsd"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "xsd"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the edXML schemas are neither in the package (gateway/_data/xsd) nor in {checkout}"
    )


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
)


def _load_schema_document(directory: Traversable, name: str) -> etree._Element:
    """Parse ``name`` and inline its ``xs:include`` targets from the same directory.

    Inlining (instead of letting libxml2 fetch the include) keeps schema loading free of any
    file-system or network resolution, and works when the files sit inside a zipped wheel.
    """
    root = etree.fromstring((directory / name).read_bytes(), _SAFE_PARSER)
    for include in list(root.iterchildren(f"{{{_XS}}}include")):
        target = (include.get("schemaLocation") or "").replace("\\", "/").rsplit("/", 1)[-1]
        if not target.endswith(".xsd") or not (directory / target).is_file():
            raise FileNotFoundError(f"{name} includes {target!r}, which is not in {directory}")
        included = _load_schema_document(directory, target)
        position = root.index(include)
        root.remove(include)
        for offset, definition in enumerate(
            c for c in included if isinstance(c.tag, str) and local_name(c.tag) != "annotation"
        ):
            root.insert(position + offset, definition)
    return root


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled schema and what the error mapping needs to know about its content models."""

    xsd: etree.XMLSchema
    lock: threading.Lock
    children: dict[str, tuple[tuple[str, bool], ...]]
    """Element local name -> its child elements in order, each with "required" (minOccurs>0)."""
    pattern_types: dict[str, str]
    """An xs:pattern value -> the simple type that declares it (to word pattern errors)."""


_COMPILE_LOCK = threading.Lock()
_COMPILED: dict[str, _Compiled] = {}


def _compiled(kind: str) -> _Compiled:
    """The compiled schema of ``kind``, compiled on first use, exactly once per process."""
    found = _COMPILED.get(kind)
    if found is not None:
        return found
    if kind not in _SCHEMA_FILES:
        raise ValueError(f"unknown schema kind {kind!r}; expected 'document' or 'status'")
    with _COMPILE_LOCK:
        found = _COMPILED.get(kind)
        if found is None:
            document = _load_schema_document(xsd_directory(), _SCHEMA_FILES[kind])
            xsd = etree.XMLSchema(document.getroottree())
            children, pattern_types = _describe_xsd(document)
            found = _COMPILED[kind] = _Compiled(xsd, threading.Lock(), children, pattern_types)
    return found


def schema(kind: SchemaKind) -> etree.XMLSchema:
    """The compiled XSD for a document or a STATUS package; compiled once per process."""
    return _compiled(kind).xsd


def _describe_xsd(
    root: etree._Element,
) -> tuple[dict[str, tuple[tuple[str, bool], ...]], dict[str, str]]:
    """Walk the schema once: content models by element name, simple types by pattern."""
    xs = f"{{{_XS}}}"
    complex_types: dict[str, etree._Element] = {}
    pattern_types: dict[str, str] = {}
    for ct in root.iterchildren(f"{xs}complexType"):
        complex_types[ct.get("name", "")] = ct
    for st in root.iterchildren(f"{xs}simpleType"):
        for pattern in st.iter(f"{xs}pattern"):
            pattern_types[pattern.get("value", "")] = st.get("name", "")

    children: dict[str, tuple[tuple[str, bool], ...]] = {}

    def model_of(element: etree._Element) -> etree._Element | None:
        type_name = (element.get("type") or "").rsplit(":", 1)[-1]
        if type_name in complex_types:
            return complex_types[type_name]
        return element.find(f"{xs}complexType")

    def visit(element: etree._Element) -> None:
        name = element.get("name", "")
        model = model_of(element)
        if model is None or name in children:
            return
        # The content models here are one xs:sequence or xs:all of local elements (no groups).
        particles = [
            particle
            for compositor in model.iterchildren(f"{xs}sequence", f"{xs}all", f"{xs}choice")
            for particle in compositor.iterchildren(f"{xs}element")
        ]
        children[name] = tuple(
            (p.get("name", ""), p.get("minOccurs", "1") != "0") for p in particles
        )
        for particle in particles:
            visit(particle)

    for element in root.iterchildren(f"{xs}element"):
        visit(element)
    return children, pattern_types


# ---------------------------------------------------------------------------------------------
# Schema findings
# ---------------------------------------------------------------------------------------------


class _LogEntry(Protocol):
    """What is read from an lxml error-log entry (lxml-stubs does not describe the class)."""

    @property
    def message(self) -> str: ...
    @property
    def type_name(self) -> str: ...
    @property
    def path(self) -> str | None: ...
    @property
    def line(self) -> int: ...


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, collect_ids=False
)
_SKIPPED_IN_CODES = frozenset(
    {"edXML", "edXMLEnvelope", "edXMLHeader", "edXMLBody", "AttachmentEncoded"}
)
_XPATH_NAMESPACES = {PREFIX: QCVN}

_QNAME = re.compile(r"\{[^}]*\}")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_ELEMENT_NAME = re.compile(r"^Element '(?:\{[^}]*\})?([^']+)'")
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")
_SET = re.compile(r"set \{(.*)\}")
_PATTERN = re.compile(r"pattern '(.*)'\.?$", re.DOTALL)
_ATOMIC_TYPE = re.compile(r"atomic type '([^']+)'")

_TYPE_WORDS: dict[str, str] = {
    "DateType": "a date in yyyy/MM/dd form",
    "OptionalDateType": "empty or a date in yyyy/MM/dd form",
    "TimestampType": "a timestamp in yyyy/MM/dd HH:mm:ss form",
    "OptionalTimestampType": "empty or a timestamp in yyyy/MM/dd HH:mm:ss form",
    "OptionalCountType": "empty or a whole number",
    "ContentIdType": "'cid:' followed by the content id",
    "xs:base64Binary": "base64 text",
}


def schema_findings(kind: SchemaKind, xml: bytes) -> list[Finding]:
    """Validate serialised package bytes against the document or STATUS schema.

    Every libxml2 error becomes a finding: ``N.<path>`` for a missing element or an empty
    required value, ``R.<path>`` for a value outside an enumeration or range, ``M.<path>`` for a
    pattern or type error and anything else. A valid package costs one parse and one validation.
    """
    compiled = _compiled(kind)
    try:
        tree = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        return [Finding("M.Xml", f"line {line}, column {column}", f"not well-formed XML ({exc})")]
    with compiled.lock:  # an XMLSchema object keeps one error log: one validation at a time
        if compiled.xsd.validate(tree):
            return []
        entries = list(cast("Iterable[_LogEntry]", compiled.xsd.error_log))
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        finding = _map_entry(entry, tree, compiled)
        if (finding.code, finding.path) not in seen:
            seen.add((finding.code, finding.path))
            findings.append(finding)
    return findings


def _map_entry(entry: _LogEntry, root: etree._Element, compiled: _Compiled) -> Finding:
    message = entry.message or ""
    element = _locate(entry, root)
    plain = _QNAME.sub("", message)
    if element is None:
        return Finding("M.Xml", f"line {entry.line}", f"the package breaks the schema ({plain})")
    kind = entry.type_name
    if "Missing child element" in message:
        return _missing_child(element, _expected(message), compiled)
    if "This element is not expected" in message:
        return _unexpected(element, _expected(message), compiled, plain)
    if ", attribute '" in message or "The attribute '" in message:
        return _attribute_problem(element, message, plain)
    value = _value_of(element)
    blank = not " ".join(value.split())
    where = _describe(element)
    if blank and (
        "minLength" in message
        or "pattern" in message
        or "enumeration" in message
        or kind == "SCHEMAV_CVC_LENGTH_VALID"
    ):
        return Finding(f"N.{_code_path(element)}", _path_of(element), f"{where} must not be empty")
    if kind == "SCHEMAV_CVC_ENUMERATION_VALID":
        allowed = _SET.search(message)
        choices = allowed.group(1).replace("'", "") if allowed else "the allowed values"
        return Finding(
            f"R.{_code_path(element)}",
            _path_of(element),
            f"{where} is {_show(value)}, not one of {choices}",
        )
    if "facet 'min" in message or "facet 'max" in message or "facet 'total" in message:
        return Finding(
            f"R.{_code_path(element)}",
            _path_of(element),
            f"{where} is {_show(value)}, out of the allowed range ({plain})",
        )
    if kind == "SCHEMAV_CVC_PATTERN_VALID":
        pattern = _PATTERN.search(message)
        type_name = compiled.pattern_types.get(pattern.group(1), "") if pattern else ""
        wanted = _TYPE_WORDS.get(
            type_name, f"text matching {pattern.group(1)}" if pattern else "in the required form"
        )
        return Finding(
            f"M.{_code_path(element)}",
            _path_of(element),
            f"{where} is {_show(value)}, not {wanted}",
        )
    atomic = _ATOMIC_TYPE.search(message)
    if atomic:
        wanted = _TYPE_WORDS.get(atomic.group(1), f"a valid {atomic.group(1)} value")
        return Finding(
            f"M.{_code_path(element)}", _path_of(element), f"{where} is not {wanted} ({plain})"
        )
    return Finding(
        f"M.{_code_path(element)}", _path_of(element), f"{where} breaks the schema ({plain})"
    )


def _missing_child(element: etree._Element, expected: list[str], compiled: _Compiled) -> Finding:
    child = _first_required(element, expected, compiled) or (expected[0] if expected else "?")
    return Finding(
        f"N.{_code_path(element, child)}",
        f"{_path_of(element)}/{child}",
        f"{child} is missing in {_name_in_path(element)}",
    )


def _unexpected(
    element: etree._Element, expected: list[str], compiled: _Compiled, plain: str
) -> Finding:
    name = local_name(element.tag) if isinstance(element.tag, str) else "?"
    parent = element.getparent()
    if parent is None:
        return Finding(f"M.{name}", f"/{name}", f"<{name}> is not an edXML root ({plain})")
    parent_name = _name_in_path(parent)
    known = {child for child, _required in compiled.children.get(local_name(parent.tag), ())}
    if name not in known:
        return Finding(
            f"M.{_code_path(element)}",
            _path_of(element),
            f"{name} is not allowed in {parent_name}",
        )
    if any(s.tag == element.tag for s in element.itersiblings(preceding=True)):
        return Finding(
            f"M.{_code_path(element)}",
            _path_of(element),
            f"{name} appears more often than allowed in {parent_name}",
        )
    required = _first_required(parent, expected, compiled)
    if required is not None:
        later = {local_name(s.tag) for s in element.itersiblings() if isinstance(s.tag, str)}
        if required in later:
            return Finding(
                f"M.{_code_path(element)}",
                _path_of(element),
                f"{name} is out of order in {parent_name}: {required} must come before it",
            )
        return Finding(
            f"N.{_code_path(parent, required)}",
            f"{_path_of(parent)}/{required}",
            f"{required} is missing in {parent_name} (found {name} in its place)",
        )
    return Finding(
        f"M.{_code_path(element)}",
        _path_of(element),
        f"{name} is not expected at this place in {parent_name}",
    )


def _attribute_problem(element: etree._Element, message: str, plain: str) -> Finding:
    found = _ATTRIBUTE.search(message)
    attribute = found.group(1) if found else "?"
    name = _name_in_path(element)
    if "required but missing" in message:
        return Finding(
            f"N.{_code_path(element, attribute)}",
            f"{_path_of(element)}/@{attribute}",
            f"attribute {attribute} of {name} is missing",
        )
    value = element.get(attribute, "")
    if not value.strip() and "minLength" in message:
        return Finding(
            f"N.{_code_path(element, attribute)}",
            f"{_path_of(element)}/@{attribute}",
            f"attribute {attribute} of {name} must not be empty",
        )
    return Finding(
        f"M.{_code_path(element, attribute)}",
        f"{_path_of(element)}/@{attribute}",
        f"attribute {attribute} of {name} is not allowed or not valid ({plain})",
    )


def _first_required(parent: etree._Element, expected: list[str], compiled: _Compiled) -> str | None:
    required = {
        child
        for child, is_required in compiled.children.get(local_name(parent.tag), ())
        if is_required
    }
    return next((name for name in expected if name in required), None)


def _expected(message: str) -> list[str]:
    found = _EXPECTED.search(message)
    if not found:
        return []
    return [_QNAME.sub("", name).strip() for name in found.group(1).split(",")]


def _locate(entry: _LogEntry, root: etree._Element) -> etree._Element | None:
    """The element an error is about: from libxml2's path, else from its line and name."""
    path = entry.path
    if path:
        try:
            found = root.xpath(path, namespaces=_XPATH_NAMESPACES)
        except (etree.XPathError, TypeError):
            found = None
        if isinstance(found, list) and found and isinstance(found[0], etree._Element):
            return found[0]
    named = _ELEMENT_NAME.search(entry.message or "")
    name = named.group(1) if named else None
    for element in root.iter():
        if cast("int | None", element.sourceline) == entry.line and (
            name is None or (isinstance(element.tag, str) and local_name(element.tag) == name)
        ):
            return element
    return root if entry.line <= 1 else None


def _value_of(element: etree._Element) -> str:
    return element.text or ""


def _name_in_path(element: etree._Element) -> str:
    """The element's last path step: ``To[2]`` when it has same-named siblings, else ``To``."""
    name = local_name(element.tag) if isinstance(element.tag, str) else "?"
    parent = element.getparent()
    if parent is None:
        return name
    same = parent.findall(element.tag) if isinstance(element.tag, str) else []
    return f"{name}[{same.index(element) + 1}]" if len(same) > 1 else name


def _describe(element: etree._Element) -> str:
    """``OrganId of To[2]``: the element and its parent, as a human reads a location."""
    parent = element.getparent()
    name = local_name(element.tag) if isinstance(element.tag, str) else "?"
    return name if parent is None else f"{name} of {_name_in_path(parent)}"


def _path_of(element: etree._Element) -> str:
    """XPath-like location without prefixes, with [n] for repeated siblings."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        steps.append(_name_in_path(node))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def _code_path(element: etree._Element, child: str = "") -> str:
    """Dotted element path used in codes: ``MessageHeader.To.OrganId`` (no positions).

    The wrappers edXML, edXMLEnvelope, edXMLHeader, edXMLBody and AttachmentEncoded are left out,
    unless the finding is about the wrapper itself (``N.edXMLBody``).
    """
    names: list[str] = [child] if child else []
    node: etree._Element | None = element
    while node is not None:
        name = local_name(node.tag) if isinstance(node.tag, str) else "?"
        if name not in _SKIPPED_IN_CODES:
            names.append(name)
        node = node.getparent()
    if not names:
        names.append(local_name(element.tag) if isinstance(element.tag, str) else "edXML")
    return ".".join(reversed(names))


def _show(value: str, limit: int = 48) -> str:
    """Quote an offending value, cut short so hostile input cannot flood a message."""
    value = value.strip()
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"… ({len(value)} chars)"


# ---------------------------------------------------------------------------------------------
# Rule findings: what the XSD cannot say
# ---------------------------------------------------------------------------------------------

_MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
_TRACE = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
_BUSINESS = f"{_TRACE}/Bussiness"
_MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"
_ATTACHMENTS = "/edXML/AttachmentEncoded"


def _step(name: str, index: int, count: int) -> str:
    """A path step with its 1-based position when the element repeats."""
    return f"{name}[{index}]" if count > 1 else name


@functools.lru_cache(maxsize=4096)
def _agency_problem(text: str) -> str | None:
    """Why ``text`` is no agency code (QCVN 102 or QĐ 20 form), or None; cached per text."""
    finding = check_agency_code(text, "", "M.AgencyCode")
    return None if finding is None else finding.message


def _agency(
    text: str, code: str, path: str, severity: Severity = _ERROR, *, what: str = ""
) -> Iterator[Finding]:
    problem = _agency_problem(text)
    if problem is not None:
        yield Finding(code, path, f"{what}: {problem}" if what else problem, severity)


# Document rule families ---------------------------------------------------------------------


def _addressing_rules(header: MessageHeader) -> Iterator[Finding]:
    """From/To agency codes (error) and To duplicates (Bkav Checker rejects them, §2.2).

    An empty OrganId is the schema's ``N.`` finding, so it is not reported twice here.
    """
    if header.from_.organ_id:
        yield from _agency(
            header.from_.organ_id,
            "M.MessageHeader.From.OrganId",
            f"{_MH}/From/OrganId",
            what="OrganId of From",
        )
    first_seen: dict[str, int] = {}
    count = len(header.to)
    for index, to in enumerate(header.to, start=1):
        organ_id = to.organ_id.strip()
        step = _step("To", index, count)
        if not organ_id:
            continue
        yield from _agency(
            organ_id,
            "M.MessageHeader.To.OrganId",
            f"{_MH}/{step}/OrganId",
            what=f"OrganId of {step}",
        )
        if organ_id in first_seen:
            yield Finding(
                "M.MessageHeader.To.Duplicate",
                f"{_MH}/{step}/OrganId",
                f"{step} repeats the recipient {organ_id!r} of To[{first_seen[organ_id]}]; "
                "each agency may be addressed once",
            )
        else:
            first_seen[organ_id] = index


def _promulgation_rules(header: MessageHeader, today: dt.date) -> Iterator[Finding]:
    """PromulgationDate is required and not in the future (Bkav Checker, §2.2, §7 item 9)."""
    date = header.promulgation_info.promulgation_date
    path = f"{_MH}/PromulgationInfo/PromulgationDate"
    if date is None:
        yield Finding(
            "N.MessageHeader.PromulgationInfo.PromulgationDate",
            path,
            "PromulgationDate of PromulgationInfo is missing: a document needs its date of "
            "promulgation (ngày ban hành) in yyyy/MM/dd form",
        )
    elif date > today:
        yield Finding(
            "R.MessageHeader.PromulgationInfo.PromulgationDate",
            path,
            f"PromulgationDate {format_date(date)} is in the future (today is "
            f"{format_date(today)} in ICT); a document cannot be promulgated later than it is sent",
        )


def _response_for_rules(header: MessageHeader) -> Iterator[Finding]:
    """A reply's ResponseFor/OrganId, when given, must be an agency code (§2.2)."""
    count = len(header.response_for)
    for index, rf in enumerate(header.response_for, start=1):
        step = _step("ResponseFor", index, count)
        if rf.organ_id:
            yield from _agency(
                rf.organ_id,
                "M.MessageHeader.ResponseFor.OrganId",
                f"{_MH}/{step}/OrganId",
                what=f"OrganId of {step}",
            )


def _trace_rules(trace: TraceHeaderList) -> Iterator[Finding]:
    """TraceHeader OrganIds: warnings only; the axis appends ``null`` or empty hops (§2.4)."""
    count = len(trace.trace_headers)
    for index, header in enumerate(trace.trace_headers, start=1):
        step = _step("TraceHeader", index, count)
        if not header.organ_id.strip():
            yield Finding(
                "N.TraceHeaderList.TraceHeader.OrganId",
                f"{_TRACE}/{step}/OrganId",
                f"{step} has no OrganId (the axis appends hops with only a Timestamp)",
                _WARNING,
            )
        else:
            yield from _agency(
                header.organ_id,
                "M.TraceHeaderList.TraceHeader.OrganId",
                f"{_TRACE}/{step}/OrganId",
                _WARNING,
                what=f"OrganId of {step}",
            )


def _business_rules(business: Business, document_id: str) -> Iterator[Finding]:
    """What each BussinessDocType needs (§2.4, §2.8), and the agency codes it names.

    ``document_id`` is MessageHeader/DocumentId. VPCP's own revocation sample (VNPT SDK) names
    the revoked document only there, with no Bussiness/DocumentId: that is accepted with a
    warning, and only a revoke/update identifying no document at all is an error.
    """
    doc_type = business.doc_type
    if doc_type in (BusinessDocType.REVOKE, BusinessDocType.UPDATE) and not business.document_id:
        action = "revoke" if doc_type is BusinessDocType.REVOKE else "update"
        needs = (
            f"a {action} package (BussinessDocType {int(doc_type)}) must name the document it "
            "changes in Bussiness/DocumentId"
        )
        if document_id:
            yield Finding(
                "N.TraceHeaderList.Bussiness.DocumentId",
                f"{_BUSINESS}/DocumentId",
                f"{needs}; it is missing, so MessageHeader/DocumentId {document_id!r} is taken "
                "as the changed document (as in VPCP's revocation sample)",
                _WARNING,
            )
        else:
            yield Finding(
                "N.TraceHeaderList.Bussiness.DocumentId",
                f"{_BUSINESS}/DocumentId",
                f"{needs} (and the package has no MessageHeader/DocumentId either)",
            )
    if doc_type is BusinessDocType.UPDATE and business.document_info is None:
        yield Finding(
            "N.TraceHeaderList.Bussiness.BussinessDocumentInfo",
            f"{_BUSINESS}/BussinessDocumentInfo",
            "an update package (BussinessDocType 2) must say what changes in "
            "Bussiness/BussinessDocumentInfo",
        )
    if doc_type is BusinessDocType.REPLACE and not business.replacements:
        yield Finding(
            "N.TraceHeaderList.Bussiness.ReplacementInfoList",
            f"{_BUSINESS}/ReplacementInfoList",
            "a replace package (BussinessDocType 3) must name the replaced document in "
            "Bussiness/ReplacementInfoList/ReplacementInfo",
        )
    if business.document_info is not None:
        receivers = business.document_info.receivers
        for index, receiver in enumerate(receivers, start=1):
            step = _step("Receiver", index, len(receivers))
            yield from _agency(
                receiver.organ_id,
                "M.TraceHeaderList.Bussiness.BussinessDocumentInfo.ReceiverList.Receiver.OrganId",
                f"{_BUSINESS}/BussinessDocumentInfo/ReceiverList/{step}/OrganId",
                what=f"OrganId of {step}",
            )
    for index, replacement in enumerate(business.replacements, start=1):
        step = _step("ReplacementInfo", index, len(business.replacements))
        base = f"{_BUSINESS}/ReplacementInfoList/{step}"
        if not replacement.document_id:
            yield Finding(
                "N.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.DocumentId",
                f"{base}/DocumentId",
                f"{step} must name the replaced document in DocumentId",
            )
        for number, organ_id in enumerate(replacement.organ_ids, start=1):
            organ_step = _step("OrganId", number, len(replacement.organ_ids))
            yield from _agency(
                organ_id,
                "M.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.OrganIdList.OrganId",
                f"{base}/OrganIdList/{organ_step}",
                what=f"{organ_step} of {step}",
            )


def _manifest_rules(pkg: DocumentPackage) -> Iterator[Finding]:
    """Each Reference has exactly one Attachment with the same content id, and back (§2.5)."""
    ref_ids = [normalize_content_id(r.content_id) for r in pkg.references]
    att_ids = [normalize_content_id(a.content_id) for a in pkg.attachments]
    yield from _pairing(
        ref_ids,
        att_ids,
        code="M.edXMLManifest.Reference.ContentId",
        path=lambda step: f"{_MANIFEST}/{step}/ContentId",
        name="Reference",
        other="Attachment",
    )
    yield from _pairing(
        att_ids,
        ref_ids,
        code="M.Attachment.ContentId",
        path=lambda step: f"{_ATTACHMENTS}/{step}/ContentId",
        name="Attachment",
        other="manifest Reference",
    )


def _pairing(
    ids: list[str],
    others: list[str],
    *,
    code: str,
    path: Callable[[str], str],
    name: str,
    other: str,
) -> Iterator[Finding]:
    first_seen: dict[str, int] = {}
    available = set(others)
    for index, content_id in enumerate(ids, start=1):
        step = _step(name, index, len(ids))
        if content_id in first_seen:
            yield Finding(
                code,
                path(step),
                f"{step} repeats the content id {content_id!r} of "
                f"{name}[{first_seen[content_id]}]; content ids must be unique",
            )
            continue
        first_seen[content_id] = index
        if content_id not in available:
            yield Finding(
                code, path(step), f"{step} (content id {content_id!r}) has no {other} with that id"
            )


# STATUS rule family -------------------------------------------------------------------------


def _status_rules(pkg: StatusPackage) -> Iterator[Finding]:
    """A STATUS reports on another agency's document and carries its time (§2.7)."""
    header = pkg.header
    if header.from_.organ_id:
        yield from _agency(
            header.from_.organ_id,
            "M.MessageHeader.From.OrganId",
            f"{_MH}/From/OrganId",
            what="OrganId of From",
        )
    rf = header.response_for
    if rf is None:
        yield Finding(
            "N.MessageHeader.ResponseFor",
            f"{_MH}/ResponseFor",
            "a status must say which document it reports on in ResponseFor",
        )
    elif not rf.organ_id.strip():
        yield Finding(
            "N.MessageHeader.ResponseFor",
            f"{_MH}/ResponseFor/OrganId",
            "OrganId of ResponseFor must not be empty: it is the agency the status is sent to",
        )
    else:
        yield from _agency(
            rf.organ_id,
            "M.MessageHeader.ResponseFor.OrganId",
            f"{_MH}/ResponseFor/OrganId",
            what="OrganId of ResponseFor",
        )
        if rf.organ_id.strip() == header.from_.organ_id.strip():
            yield Finding(
                "M.MessageHeader.ResponseFor.SameAsFrom",
                f"{_MH}/ResponseFor/OrganId",
                f"the status is addressed to its own sender {rf.organ_id!r}: ResponseFor/OrganId "
                "must be the other agency (the one whose document is reported on)",
            )
    if header.timestamp is None:
        yield Finding(
            "N.MessageHeader.Timestamp",
            f"{_MH}/Timestamp",
            "Timestamp of MessageHeader must not be empty: a status carries when it happened "
            "(yyyy/MM/dd HH:mm:ss)",
        )


def rule_findings(pkg: Package, *, today: dt.date | None = None) -> list[Finding]:
    """The QCVN 102 rules an XSD cannot express, as findings (errors and warnings).

    ``today`` is the reference day for "not in the future" (default: today in ICT).
    """
    if isinstance(pkg, StatusPackage):
        return list(_status_rules(pkg))
    day = today if today is not None else now_ict().date()
    if isinstance(day, dt.datetime):
        day = day.date()
    header = pkg.header
    return [
        *_addressing_rules(header),
        *_promulgation_rules(header, day),
        *_response_for_rules(header),
        *_trace_rules(pkg.trace),
        *_business_rules(pkg.trace.business, header.document_id.strip()),
        *_manifest_rules(pkg),
    ]


# ---------------------------------------------------------------------------------------------
# The whole check
# ---------------------------------------------------------------------------------------------


def _kind(pkg: Package) -> SchemaKind:
    return "status" if isinstance(pkg, StatusPackage) else "document"


def validate(
    pkg: Package, *, today: dt.date | None = None, xml: bytes | None = None
) -> list[Finding]:
    """Every finding of a package: reading, schema, rules; deduplicated, errors first.

    ``xml`` may pass the writer's output for ``pkg`` (with or without attachment content) when
    the caller already has it; otherwise the package is written without content to validate it.
    A finding with the same code and path as an earlier one is dropped.
    """
    written = xml if xml is not None else package_bytes(pkg, None, with_content=False)
    found: list[Finding] = [
        *pkg.findings,
        *schema_findings(_kind(pkg), written),
        *rule_findings(pkg, today=today),
    ]
    unique: dict[tuple[str, str], Finding] = {}
    for finding in found:
        unique.setdefault((finding.code, finding.path), finding)
    ordered = list(unique.values())
    return [f for f in ordered if f.is_error] + [f for f in ordered if not f.is_error]


def ensure_valid(
    pkg: Package, *, today: dt.date | None = None, xml: bytes | None = None
) -> list[Finding]:
    """Raise :class:`InvalidPackage` when the package has an error; otherwise its warnings."""
    findings = validate(pkg, today=today, xml=xml)
    if any(f.is_error for f in findings):
        raise InvalidPackage(findings)
    return findings
