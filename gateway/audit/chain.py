"""A tamper-evident audit log: hash-chained records, their verification, and an offline export.

Every record carries the SHA-256 of its own content and the hash of the record before it, so a
changed, deleted, inserted or reordered record breaks the chain where it happened. Verification
names the record and the kind of damage. What a hash chain cannot show on its own is a log cut
short at the end, or one rewritten from some point on with every later hash recomputed; an
*anchor* (the ``seq:hash`` of a record, kept elsewhere, e.g. in a signed checkpoint or the
previous audit report) closes that gap: the record it names must still be there, unchanged.

This module only computes and checks; storing records is the store's job. It imports nothing
from the gateway but its error types, so the offline verifier runs on an auditor's machine.

Record content, format version 1
================================
A record's content is a JSON object (RFC 8259) with exactly seven members::

    actor      string   who acted: an agency code, "operator" or "gateway"
    at         integer  when: microseconds since 1970-01-01T00:00:00Z
    details    object   a few members whose values are strings, integers, true, false or null
    event      string   what happened, e.g. "package.accepted"
    prev_hash  string   hash of the previous record; the first record (seq 1) has 64 "0"s
    seq        integer  position in the log: 1, 2, 3, ... without gaps
    subject    string   what it happened to: a package id, an agency code, or ""

Its *canonical bytes* are that object written as UTF-8 JSON with:

* the members of every object (the record and ``details``) in ascending order of their keys,
  compared by Unicode code point (``details`` keys are ASCII, so this is plain byte order);
* no whitespace outside strings: ``,`` between members and ``:`` after keys;
* strings written literally in UTF-8, except that ``"`` and ``\\`` are written ``\\"`` and
  ``\\\\``, the controls U+0008, U+0009, U+000A, U+000C and U+000D are written ``\\b``,
  ``\\t``, ``\\n``, ``\\f`` and ``\\r``, and the other controls U+0000 to U+001F are written
  ``\\u00xx`` with lowercase hex digits. Nothing else is escaped (not ``/``, not U+007F, not
  non-ASCII). Text is not Unicode-normalised: Vietnamese in NFC and in NFD are different text;
* integers in decimal, ``-`` for negatives, without leading zeros, fraction or exponent; records
  made here keep integers within +-(2**53 - 1) so that every JSON reader reads them exactly;
* ``true``, ``false`` and ``null`` for booleans and absent values.

This is what Python's ``json.dumps(content, ensure_ascii=False, sort_keys=True,
separators=(",", ":")).encode("utf-8")`` produces, on every Python 3 version.

The serialisation is unambiguous: a string ends only at an unescaped ``"``, and every ``"`` or
``\\`` inside a string is escaped, so no field can spill into the next; each object has a fixed
set of members in a fixed order; and each value has exactly one spelling. Different contents
therefore give different bytes, and parsing then re-serialising gives the same bytes back (the
export reader checks this, so a spelling change such as ``\\u001F`` for ``\\u001f`` is caught).

The record's ``hash`` is the SHA-256 of the canonical bytes, as 64 lowercase hex digits.

Export file, format version 1
=============================
UTF-8 JSON Lines: every line, the last included, ends with LF (0x0A); no BOM, no blank lines,
no line longer than ``MAX_LINE_BYTES``. Line 1 is exactly::

    {"format":"edoc-gateway-audit-log","hash":"sha-256","version":1}

Each further line is one record, in log order, written canonically (rules above) as::

    {"hash":"<the record's hash>","record":<the record's canonical bytes>}

so the hashed bytes appear verbatim: for a line ``b`` with a 64-digit hash, the record's
canonical bytes are ``b[84:-2]`` and ``sha256(b[84:-2])`` must equal ``b[9:73]``.

Verification, in order over the records: each record's hash must match its content; record
``n`` must follow record ``n - 1`` and its ``prev_hash`` must be the hash of record ``n - 1``
(for record 1: 64 zeros); with an anchor ``s:h``, record ``s`` must be present with hash ``h``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, TypeAlias

from gateway.errors import ExportFormatError

DetailValue: TypeAlias = str | int | bool | None

GENESIS_HASH: Final = "0" * 64
"""The ``prev_hash`` of record 1."""
FORMAT_NAME: Final = "edoc-gateway-audit-log"
FORMAT_VERSION: Final = 1
HASH_NAME: Final = "sha-256"
MAX_RECORD_BYTES: Final = 16_384
"""Upper bound on a record's canonical bytes: details are a few facts, never a document."""
MAX_LINE_BYTES: Final = MAX_RECORD_BYTES + 128
"""Longest export line the reader accepts (record plus hash wrapper), so a hostile file cannot
make the verifier read a gigabyte into one line."""
MAX_PROBLEMS: Final = 100
"""Problems kept in a report; later ones are only counted."""
MAX_DETAILS: Final = 32
"""Most members a record's ``details`` may have."""
SAFE_INT: Final = 2**53 - 1
"""Largest integer every JSON reader (JavaScript included) reads exactly."""

_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
_HEADER_FIELDS: Final = {"format": FORMAT_NAME, "hash": HASH_NAME, "version": FORMAT_VERSION}
_HEADER_TEXT: Final = _ENCODER.encode(_HEADER_FIELDS)
HEADER_LINE: Final = (_HEADER_TEXT + "\n").encode("utf-8")
_CONTENT_KEYS: Final = frozenset(("actor", "at", "details", "event", "prev_hash", "seq", "subject"))
_EVENT_RE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_DETAIL_KEY_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_HASH_RE: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the log. ``hash`` covers every other field (see the module docstring)."""

    seq: int
    at: int
    event: str
    actor: str
    subject: str
    details: dict[str, DetailValue]
    prev_hash: str
    hash: str


def _record_content(record: AuditRecord) -> dict[str, object]:
    """Every field but ``hash``: what the hash covers."""
    return {
        "actor": record.actor,
        "at": record.at,
        "details": record.details,
        "event": record.event,
        "prev_hash": record.prev_hash,
        "seq": record.seq,
        "subject": record.subject,
    }


def canonical_bytes(record: AuditRecord) -> bytes:
    """The bytes ``record.hash`` is the SHA-256 of. Raises ``ValueError`` for text that UTF-8
    cannot carry (lone surrogates)."""
    return _ENCODER.encode(_record_content(record)).encode("utf-8")


def _type_error(record: AuditRecord) -> str | None:
    """Why ``record`` does not have the shape of a record, or None. Checked at run time because
    records built from database rows or files have only the types their source gave them."""
    if type(record.seq) is not int:
        return f"seq is {type(record.seq).__name__}, not an integer"
    if type(record.at) is not int:
        return f"at is {type(record.at).__name__}, not an integer"
    for name in ("event", "actor", "subject", "prev_hash", "hash"):
        value = getattr(record, name)
        if type(value) is not str:
            return f"{name} is {type(value).__name__}, not a string"
    if type(record.details) is not dict:
        return f"details is {type(record.details).__name__}, not an object"
    for key, value in record.details.items():
        if type(key) is not str:
            return f"details key {key!r} is not a string"
        if value is not None and type(value) not in (str, int, bool):
            return f"details[{key!r}] is {type(value).__name__}, not a string, integer or boolean"
    return None


def _rule_error(record: AuditRecord) -> str | None:
    """Why a new record breaks the rules of what may be logged, or None."""
    if not _EVENT_RE.fullmatch(record.event):
        return f"event {record.event!r} is not dotted lowercase words like 'package.accepted'"
    if not record.actor:
        return "actor is empty"
    if not 0 <= record.at <= SAFE_INT:
        return f"at {record.at} is not microseconds since 1970 within 2**53"
    if len(record.details) > MAX_DETAILS:
        return f"details has {len(record.details)} members; at most {MAX_DETAILS}"
    for key, value in record.details.items():
        if not _DETAIL_KEY_RE.fullmatch(key):
            return f"details key {key!r} is not 1-64 ASCII letters, digits, '_', '.' or '-'"
        if type(value) is int and not -SAFE_INT <= value <= SAFE_INT:
            return f"details[{key!r}] = {value} is outside +-(2**53 - 1)"
    return None


def next_record(
    prev: AuditRecord | None,
    *,
    at: int,
    event: str,
    actor: str,
    subject: str,
    details: Mapping[str, DetailValue] | None = None,
) -> AuditRecord:
    """The record that follows ``prev`` (None: the first record of the log).

    The caller appends it in the same transaction that read ``prev``, so two writers cannot
    both extend the same tip. ``details`` is copied. Raises ``ValueError`` for content that
    breaks the record rules (event spelling, empty actor, detail keys and types, size).
    """
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    record = AuditRecord(seq, at, event, actor, subject, dict(details or {}), prev_hash, "")
    error = _type_error(record) or _rule_error(record)
    if error is not None:
        raise ValueError(f"audit record {seq}: {error}")
    try:
        data = canonical_bytes(record)
    except UnicodeEncodeError as exc:
        raise ValueError(f"audit record {seq}: text is not valid Unicode ({exc.reason})") from None
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError(f"audit record {seq}: {len(data)} bytes; at most {MAX_RECORD_BYTES}")
    digest = hashlib.sha256(data).hexdigest()
    return AuditRecord(seq, at, event, actor, subject, record.details, prev_hash, digest)


class Chain:
    """Appends records one after another in memory, keeping the tip (tests, benchmarks, tools
    that write a log of their own)."""

    def __init__(self, tip: AuditRecord | None = None) -> None:
        self.tip = tip

    def append(
        self,
        *,
        at: int,
        event: str,
        actor: str,
        subject: str,
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditRecord:
        """The next record, which becomes the tip."""
        self.tip = next_record(
            self.tip, at=at, event=event, actor=actor, subject=subject, details=details
        )
        return self.tip


class ProblemKind(enum.StrEnum):
    """What is wrong at a place in the log."""

    CHANGED = "changed"
    """The record's content does not match its hash: edited after it was written."""
    MALFORMED = "malformed"
    """The record does not have the shape of a record (a field of the wrong type)."""
    BROKEN_LINK = "broken-link"
    """The record's ``prev_hash`` is not the hash of the record before it."""
    DELETED = "deleted"
    """Sequence numbers are missing between two records."""
    REORDERED = "reordered"
    """A record comes after one with a higher sequence number."""
    DUPLICATE = "duplicate"
    """The same record appears twice in a row."""
    INSERTED = "inserted"
    """A second, different record has the sequence number of the one before it."""
    TRUNCATED = "truncated"
    """The log ends before the record the anchor names."""
    ANCHOR_MISMATCH = "anchor-mismatch"
    """The record the anchor names has another hash, or is not where it should be."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``verify``: the sequence number it concerns and a sentence saying what."""

    seq: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of ``verify``.

    ``last_seq`` and ``last_hash`` describe the last record in sequence order (0 and
    ``GENESIS_HASH`` for an empty log); on a clean report they form the anchor to keep for the
    next verification. ``problems`` holds the first ``MAX_PROBLEMS``; ``problem_count`` all.
    """

    count: int
    last_seq: int
    last_hash: str
    problems: list[Problem]
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def anchor(self) -> str:
        """``last_seq:last_hash``, the form ``verify(anchor=...)`` and the CLI take."""
        return f"{self.last_seq}:{self.last_hash}"


def parse_anchor(text: str) -> tuple[int, str]:
    """``"seq:hash"`` as ``(seq, hash)``; ``ValueError`` if it is not a positive sequence number
    and 64 hex digits."""
    seq_text, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    if not sep or not seq_text.isdigit() or int(seq_text) < 1 or not _HASH_RE.fullmatch(digest):
        raise ValueError(f"anchor {text!r} is not SEQ:HASH (a record number, 64 hex digits)")
    return int(seq_text), digest


@dataclass(slots=True)
class _Gap:
    """Sequence numbers ``lo..hi`` skipped by the record after them; late records may still
    fill it from the bottom (an adjacent swap), otherwise it is reported as deleted."""

    lo: int
    hi: int
    links: tuple[str, ...]
    """Hashes record ``lo`` may link to (those of record ``lo - 1``)."""
    after_prev: str | None
    """``prev_hash`` of record ``hi + 1``, checked once the gap is filled (None: not trusted)."""


class _Verifier:
    """The O(1)-memory state of one pass over a log, fed one record at a time.

    The *tip* is the record with the highest sequence number placed so far. A record whose hash
    fails is placed where its neighbours say it belongs, not where its (untrusted) ``seq`` says,
    so a change to one record is reported against that record only.
    """

    def __init__(self, anchor: tuple[int, str] | None) -> None:
        self.count = 0
        self.tip_seq = 0
        self.tip_hash = GENESIS_HASH
        self.tip_links: tuple[str, ...] = (GENESIS_HASH,)
        self.gap: _Gap | None = None
        self.anchor = anchor
        self.anchor_seen = False
        self.problems: list[Problem] = []
        self.problem_count = 0

    def report(self, seq: int, kind: ProblemKind, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(seq, kind, message))

    def feed(self, record: AuditRecord) -> None:
        self.count += 1
        error = _type_error(record)
        computed: str | None = None
        try:  # even for a malformed record: its hash may be what the next record links to
            computed = hashlib.sha256(canonical_bytes(record)).hexdigest()
        except (TypeError, ValueError, RecursionError) as exc:
            error = error or f"its content cannot be serialised ({exc})"
        if error is None and computed == record.hash:
            self.place(record, record.seq, (computed,), trusted=True)
            return
        seq = self.position_of_damaged(record)
        claimed = "" if record.seq == seq else f" (which claims to be record {record.seq!r})"
        if error is not None:
            self.report(seq, ProblemKind.MALFORMED, f"record {seq}{claimed}: {error}")
        else:
            self.report(
                seq,
                ProblemKind.CHANGED,
                f"record {seq}{claimed}: its content does not match its hash "
                "(changed after it was written)",
            )
        links = tuple(dict.fromkeys(h for h in (record.hash, computed) if isinstance(h, str)))
        self.place(record, seq, links, trusted=False)

    def position_of_damaged(self, record: AuditRecord) -> int:
        """The sequence number a damaged record stands for: where its link points if that is
        the tip or an open gap, else its own ``seq`` if that lies ahead, else after the tip."""
        gap = self.gap
        if gap is not None and (record.prev_hash in gap.links or record.seq == gap.lo):
            return gap.lo
        if record.prev_hash in self.tip_links:
            return self.tip_seq + 1
        if type(record.seq) is int and record.seq > self.tip_seq:
            return record.seq
        return self.tip_seq + 1

    def place(self, record: AuditRecord, seq: int, links: tuple[str, ...], trusted: bool) -> None:
        """Check ``record`` (standing for ``seq``) against what came before it."""
        gap = self.gap
        if gap is not None and seq == gap.lo:
            self.report(
                seq,
                ProblemKind.REORDERED,
                f"record {seq} comes after record {self.tip_seq}: out of order",
            )
            if trusted and record.prev_hash not in gap.links:
                self.report_broken_link(seq)
            self.check_anchor(seq, record.hash)
            gap.lo += 1
            gap.links = links
            if gap.lo > gap.hi:
                if gap.after_prev is not None and gap.after_prev not in links:
                    self.report_broken_link(gap.hi + 1)
                self.gap = None
            return
        if gap is not None:
            self.close_gap(gap)
        if seq > self.tip_seq:
            if seq == self.tip_seq + 1:
                if trusted and record.prev_hash not in self.tip_links:
                    self.report_broken_link(seq)
            else:
                after_prev = record.prev_hash if trusted else None
                self.gap = _Gap(self.tip_seq + 1, seq - 1, self.tip_links, after_prev)
            self.tip_seq, self.tip_links = seq, links
            self.tip_hash = record.hash if isinstance(record.hash, str) else ""
            self.check_anchor(seq, record.hash)
        elif seq == self.tip_seq and record.hash == self.tip_hash:
            self.report(seq, ProblemKind.DUPLICATE, f"record {seq} appears twice in a row")
        elif seq == self.tip_seq:
            self.report(
                seq,
                ProblemKind.INSERTED,
                f"record {seq} appears twice, with different content: one was inserted",
            )
        else:
            self.report(
                seq,
                ProblemKind.REORDERED,
                f"record {seq} comes after record {self.tip_seq}: "
                "it is out of order, or a copy of an earlier record",
            )

    def report_broken_link(self, seq: int) -> None:
        self.report(
            seq,
            ProblemKind.BROKEN_LINK,
            f"record {seq} does not link to record {seq - 1} (its prev_hash is not the hash of "
            f"record {seq - 1}): record {seq - 1} was replaced, or records before {seq} were "
            "deleted and the rest renumbered",
        )

    def close_gap(self, gap: _Gap) -> None:
        what = f"record {gap.lo} is" if gap.lo == gap.hi else f"records {gap.lo}-{gap.hi} are"
        self.report(
            gap.lo,
            ProblemKind.DELETED,
            f"{what} missing (deleted, or moved elsewhere in the log): "
            f"record {gap.hi + 1} follows record {gap.lo - 1}",
        )
        self.gap = None

    def check_anchor(self, seq: int, digest: object) -> None:
        if self.anchor is None or self.anchor_seen or seq != self.anchor[0]:
            return
        self.anchor_seen = True
        if digest != self.anchor[1]:
            self.report(
                seq,
                ProblemKind.ANCHOR_MISMATCH,
                f"record {seq} does not have the anchor's hash {self.anchor[1]}: "
                "the log was rewritten at or before it",
            )

    def finish(self) -> VerifyReport:
        if self.gap is not None:
            self.close_gap(self.gap)
        if self.anchor is not None and not self.anchor_seen:
            anchor_seq = self.anchor[0]
            if self.tip_seq < anchor_seq:
                self.report(
                    self.tip_seq + 1,
                    ProblemKind.TRUNCATED,
                    f"records {self.tip_seq + 1}-{anchor_seq} are missing at the end: the log "
                    f"ends at record {self.tip_seq} but the anchor names record {anchor_seq}",
                )
            else:
                self.report(
                    anchor_seq,
                    ProblemKind.ANCHOR_MISMATCH,
                    f"record {anchor_seq}, which the anchor names, is not in its place",
                )
        return VerifyReport(
            self.count, self.tip_seq, self.tip_hash, self.problems, self.problem_count
        )


def verify(records: Iterable[AuditRecord], *, anchor: str | None = None) -> VerifyReport:
    """Check a log, given in sequence order, in one pass and constant memory.

    ``anchor`` (``"seq:hash"``, e.g. the ``anchor`` of an earlier clean report or a signed
    checkpoint) must name a record that is present with that hash; it is how truncation and
    wholesale rewrites are caught. Raises ``ValueError`` only for a malformed anchor: everything
    wrong with the records is reported, never raised.
    """
    verifier = _Verifier(None if anchor is None else parse_anchor(anchor))
    for record in records:
        verifier.feed(record)
    return verifier.finish()


def export(records: Iterable[AuditRecord], out: BinaryIO) -> int:
    """Write ``records`` as an export file (format in the module docstring); return how many.

    Records are written as stored, damage included, so the auditor sees what the gateway has.
    Raises ``ValueError`` for a record the format cannot carry (a field of the wrong type, text
    that is not valid Unicode).
    """
    out.write(HEADER_LINE)
    count = 0
    for record in records:
        count += 1
        out.write(_export_line(record, count))
    return count


def _export_line(record: AuditRecord, position: int) -> bytes:
    error = _type_error(record)
    if error is None:
        line = _ENCODER.encode({"hash": record.hash, "record": _record_content(record)})
        try:
            return line.encode("utf-8") + b"\n"
        except UnicodeEncodeError as exc:
            error = f"text is not valid Unicode ({exc.reason})"
    raise ValueError(f"record {position} (seq {record.seq!r}) cannot be exported: {error}")


def _decode_line(raw: bytes, number: int) -> dict[str, Any]:
    """The JSON object on one line, which must be in canonical form."""
    if len(raw) > MAX_LINE_BYTES:
        raise ExportFormatError(number, f"line longer than {MAX_LINE_BYTES} bytes")
    if not raw.endswith(b"\n"):
        raise ExportFormatError(number, "the line does not end with LF (file cut short?)")
    try:
        text = raw[:-1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExportFormatError(number, f"not UTF-8 at byte {exc.start + 1}") from None
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportFormatError(number, f"not JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # an integer too long to convert; deep nesting
        raise ExportFormatError(number, f"not readable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ExportFormatError(number, f"a {type(value).__name__}, not a JSON object")
    try:
        canonical = _ENCODER.encode(value)
    except ValueError as exc:  # a number that overflowed to infinity: never written by export
        raise ExportFormatError(number, f"not readable JSON: {exc}") from None
    if canonical != text:
        raise ExportFormatError(
            number, "not in canonical form (member order, spacing or escapes differ)"
        )
    return value


def _parse_record(raw: bytes, number: int) -> AuditRecord:
    value = _decode_line(raw, number)
    content = value.get("record")
    if value.keys() != {"hash", "record"} or not isinstance(content, dict):
        raise ExportFormatError(number, 'a record line is {"hash":...,"record":{...}}')
    if content.keys() != _CONTENT_KEYS:
        raise ExportFormatError(
            number, f"a record has the members {', '.join(sorted(_CONTENT_KEYS))}"
        )
    record = AuditRecord(
        content["seq"],
        content["at"],
        content["event"],
        content["actor"],
        content["subject"],
        content["details"],
        content["prev_hash"],
        value["hash"],
    )
    error = _type_error(record)
    if error is not None:
        raise ExportFormatError(number, error)
    return record


def read_export(stream: BinaryIO) -> Iterator[AuditRecord]:
    """The records of an export file, read lazily in constant memory.

    Raises ``ExportFormatError`` (with the 1-based ``line``) when the file is not an export of
    this format or a line is damaged beyond reading: not UTF-8, not JSON, not canonical, or not
    shaped like a record. Content that reads fine but was changed is ``verify``'s to find.
    """
    raw = stream.readline(MAX_LINE_BYTES + 1)
    if raw != HEADER_LINE:
        if not raw:
            raise ExportFormatError(1, "the file is empty")
        header = _decode_line(raw, 1)
        if header.get("format") != FORMAT_NAME:
            raise ExportFormatError(
                1, f"not an audit export: the first line must be {_HEADER_TEXT}"
            )
        version, algorithm = header.get("version"), header.get("hash")
        if version != FORMAT_VERSION or algorithm != HASH_NAME:
            raise ExportFormatError(
                1,
                f"unsupported export: version {version!r}, hash {algorithm!r} "
                f"(this verifier reads version {FORMAT_VERSION}, {HASH_NAME})",
            )
        raise ExportFormatError(1, f"the first line must be exactly {_HEADER_TEXT}")
    number = 1
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        yield _parse_record(raw, number)
