"""The audit chain: building, verifying, exporting, and a mutation test over the export file.

The mutation tests change an exported log one byte at a time and require every change to be
caught and pinned on the record it hit: either ``read_export`` refuses the line (with its line
number) or ``verify`` reports problems about that record's sequence number and no other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.audit import (
    GENESIS_HASH,
    AuditRecord,
    Chain,
    DetailValue,
    ExportFormatError,
    ProblemKind,
    VerifyReport,
    canonical_bytes,
    export,
    next_record,
    parse_anchor,
    read_export,
    verify,
)
from gateway.audit.chain import HEADER_LINE, MAX_LINE_BYTES, MAX_PROBLEMS, SAFE_INT

REPO = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds

EVENTS: tuple[tuple[str, str, dict[str, DetailValue]], ...] = (
    ("package.accepted", "000.00.01.H31", {"document_id": "12/QĐ-UBND", "bytes": 48213}),
    ("relay.attempt", "gateway", {"upstream": "vpcp", "attempt": 2, "ok": False}),
    ("delivery.confirmed", "000.00.12.H31", {"receiver": "000.00.12.H31"}),
    ("status.accepted", "000.00.12.H31", {"status": "03", "staff": None}),
    ("admin.agency.added", "operator", {"name": 'Sở Nội vụ "Hải Phòng"\n\\ tab\t'}),
)


def build(count: int) -> list[AuditRecord]:
    chain = Chain()
    records = []
    for i in range(count):
        event, actor, details = EVENTS[i % len(EVENTS)]
        records.append(
            chain.append(
                at=T0 + i, event=event, actor=actor, subject=f"pkg-{i:04d}", details=details
            )
        )
    return records


def export_bytes(records: Sequence[AuditRecord]) -> bytes:
    out = io.BytesIO()
    export(records, out)
    return out.getvalue()


def check_bytes(data: bytes, anchor: str | None = None) -> VerifyReport | ExportFormatError:
    """``verify(read_export(...))`` over ``data``, or the error that made it unreadable."""
    try:
        return verify(read_export(io.BytesIO(data)), anchor=anchor)
    except ExportFormatError as exc:
        return exc


def problems_of(report: VerifyReport) -> list[tuple[int, ProblemKind]]:
    return [(p.seq, p.kind) for p in report.problems]


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


# --- building ----------------------------------------------------------------------------------


def test_records_count_from_one_and_link_back_to_genesis() -> None:
    records = build(3)
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH == "0" * 64
    assert records[1].prev_hash == records[0].hash
    assert records[2].prev_hash == records[1].hash
    for record in records:
        assert record.hash == hashlib.sha256(canonical_bytes(record)).hexdigest()
    assert next_record(records[-1], at=T0, event="a.b", actor="x", subject="").seq == 4


def test_canonical_bytes_follow_the_documented_format_exactly() -> None:
    """A known-answer vector an auditor's own implementation can check itself against."""
    record = next_record(
        None,
        at=1_767_225_600_000_000,
        event="package.accepted",
        actor="000.00.01.H31",
        subject="pkg-1",
        details={"z": None, "ok": True, "n": -5, "a": 'Quyết định "số" 1\n\\ /\x1f\x7f\u2028'},
    )
    expected = (
        '{"actor":"000.00.01.H31","at":1767225600000000,'
        '"details":{"a":"Quyết định \\"số\\" 1\\n\\\\ /\\u001f\x7f\u2028","n":-5,"ok":true,'
        '"z":null},"event":"package.accepted","prev_hash":"' + "0" * 64 + '","seq":1,'
        '"subject":"pkg-1"}'
    ).encode("utf-8")
    assert canonical_bytes(record) == expected
    assert record.hash == hashlib.sha256(expected).hexdigest()
    assert record.hash == "45153af50a7b8920e8ca0f8b51129c8c2c4c4f56122cf7989bb45b4d7dced2f2"


def test_details_order_does_not_matter_and_are_copied() -> None:
    details: dict[str, DetailValue] = {"b": 1, "a": "x"}
    first = next_record(None, at=T0, event="a.b", actor="x", subject="s", details=details)
    details["c"] = True
    second = next_record(
        None, at=T0, event="a.b", actor="x", subject="s", details={"a": "x", "b": 1}
    )
    assert first.hash == second.hash
    assert first.details == {"a": "x", "b": 1}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event": "Package accepted"}, "event"),
        ({"event": "accepted"}, "event"),
        ({"actor": ""}, "actor is empty"),
        ({"at": -1}, "at -1"),
        ({"at": 2**53}, "within 2**53"),
        ({"at": 1.5}, "not an integer"),
        ({"at": True}, "not an integer"),
        ({"subject": None}, "not a string"),
        ({"details": {"khóa": "x"}}, "ASCII"),
        ({"details": {"": "x"}}, "ASCII"),
        ({"details": {"a": 1.5}}, "float"),
        ({"details": {"a": b"x"}}, "bytes"),
        ({"details": {"a": [1]}}, "list"),
        ({"details": {"a": 2**60}}, "2**53"),
        ({"details": {f"k{i}": i for i in range(33)}}, "at most 32"),
        ({"details": {"a": "x" * 20_000}}, "bytes; at most"),
        ({"subject": "pkg-\ud800"}, "not valid Unicode"),
    ],
)
def test_next_record_refuses_what_the_format_cannot_carry(
    changes: dict[str, object], reason: str
) -> None:
    fields: dict[str, object] = {
        "at": T0,
        "event": "package.accepted",
        "actor": "000.00.01.H31",
        "subject": "pkg-1",
        "details": {},
        **changes,
    }
    with pytest.raises(ValueError, match=re.escape(reason)):
        next_record(None, **fields)  # type: ignore[arg-type]


# --- verification over records ------------------------------------------------------------------


def test_an_intact_log_verifies_and_reports_its_anchor() -> None:
    records = build(10)
    report = verify(records)
    assert report.ok and report.count == 10 and report.problems == []
    assert (report.last_seq, report.last_hash) == (10, records[-1].hash)
    assert report.anchor == f"10:{records[-1].hash}"
    assert verify(records, anchor=report.anchor).ok
    assert verify(records, anchor=f"4:{records[3].hash.upper()}").ok


def test_an_empty_log_verifies_unless_an_anchor_says_records_existed() -> None:
    report = verify([])
    assert report.ok and (report.count, report.last_seq, report.last_hash) == (0, 0, GENESIS_HASH)
    anchored = verify([], anchor=f"3:{'a' * 64}")
    assert problems_of(anchored) == [(1, ProblemKind.TRUNCATED)]


def test_a_changed_record_is_named() -> None:
    records = build(8)
    records[4] = dataclasses.replace(records[4], subject="pkg-forged")
    report = verify(records)
    assert problems_of(report) == [(5, ProblemKind.CHANGED)]
    assert str(report.problems[0]).startswith(
        "changed: record 5: its content does not match its hash"
    )


def test_a_replaced_and_rehashed_record_breaks_the_next_link() -> None:
    records = build(8)
    records[4] = next_record(
        records[3], at=T0, event="package.accepted", actor="000.00.01.H31", subject="forged"
    )
    assert problems_of(verify(records)) == [(6, ProblemKind.BROKEN_LINK)]


def test_deleting_then_renumbering_and_rehashing_the_rest_is_caught_by_an_anchor() -> None:
    original = build(8)
    anchor = verify(original).anchor
    chain = Chain(original[2])
    rewritten = original[:3] + [
        chain.append(at=r.at, event=r.event, actor=r.actor, subject=r.subject, details=r.details)
        for r in original[4:]
    ]
    assert verify(rewritten).ok  # a hash chain alone cannot see a rewritten tail
    assert problems_of(verify(rewritten, anchor=anchor)) == [(8, ProblemKind.TRUNCATED)]
    assert problems_of(verify(rewritten, anchor=f"7:{original[6].hash}")) == [
        (7, ProblemKind.ANCHOR_MISMATCH)
    ]


def test_records_from_a_damaged_database_are_reported_not_raised() -> None:
    records = build(6)
    bad: list[AuditRecord] = [
        dataclasses.replace(records[1], seq="2"),  # type: ignore[arg-type]
        dataclasses.replace(records[1], details={"a": 1.5}),  # type: ignore[dict-item]
        dataclasses.replace(records[1], hash=None),  # type: ignore[arg-type]
        dataclasses.replace(records[1], subject="\udc80"),
        dataclasses.replace(records[1], details=[]),  # type: ignore[arg-type]
    ]
    for damaged in bad:
        log = [records[0], damaged, *records[2:]]
        report = verify(log)
        assert [p.seq for p in report.problems] == [2], (damaged, report.problems)
        assert report.problems[0].kind in (ProblemKind.MALFORMED, ProblemKind.CHANGED)


def test_problems_are_capped_but_all_counted() -> None:
    records = [dataclasses.replace(r, actor="x") for r in build(MAX_PROBLEMS + 150)]
    report = verify(records)
    assert len(report.problems) == MAX_PROBLEMS
    assert report.problem_count == MAX_PROBLEMS + 150 and not report.ok


@pytest.mark.parametrize("text", ["", "5", "x:ab", f"0:{'a' * 64}", f"-1:{'a' * 64}", "3:abc"])
def test_malformed_anchors_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_anchor(text)
    with pytest.raises(ValueError, match="SEQ:HASH"):
        verify([], anchor=text)


# --- deletion, reordering, duplication (on the exported file, as an auditor gets it) -------------

N = 12


@pytest.fixture(scope="module")
def log() -> tuple[list[AuditRecord], list[bytes]]:
    records = build(N)
    return records, lines_of(export_bytes(records))


def test_every_single_deletion_is_reported_as_that_record(
    log: tuple[list[AuditRecord], list[bytes]],
) -> None:
    _, lines = log
    for i in range(1, len(lines) - 1):  # every record line but the last
        report = check_bytes(b"".join(lines[:i] + lines[i + 1 :]))
        assert isinstance(report, VerifyReport)
        assert problems_of(report) == [(i, ProblemKind.DELETED)], i
        assert f"record {i} is missing" in report.problems[0].message


def test_deleting_the_last_records_needs_the_anchor(
    log: tuple[list[AuditRecord], list[bytes]],
) -> None:
    records, lines = log
    anchor = f"{N}:{records[-1].hash}"
    for kept in range(N):
        data = b"".join(lines[: 1 + kept])
        report = check_bytes(data)
        assert isinstance(report, VerifyReport) and report.ok
        anchored = check_bytes(data, anchor)
        assert isinstance(anchored, VerifyReport)
        assert problems_of(anchored) == [(kept + 1, ProblemKind.TRUNCATED)]
        assert f"records {kept + 1}-{N} are missing at the end" in anchored.problems[0].message


def test_every_adjacent_swap_is_reported_as_reordering(
    log: tuple[list[AuditRecord], list[bytes]],
) -> None:
    _, lines = log
    for i in range(1, len(lines) - 1):
        swapped = [*lines]
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        report = check_bytes(b"".join(swapped))
        assert isinstance(report, VerifyReport)
        assert problems_of(report) == [(i, ProblemKind.REORDERED)], i


def test_moving_a_record_further_is_reported(log: tuple[list[AuditRecord], list[bytes]]) -> None:
    _, lines = log
    moved = [lines[0], *lines[1:3], *lines[4:9], lines[3], *lines[9:]]
    report = check_bytes(b"".join(moved))
    assert isinstance(report, VerifyReport)
    assert problems_of(report) == [(3, ProblemKind.DELETED), (3, ProblemKind.REORDERED)]


def test_duplicates_and_insertions_are_reported(
    log: tuple[list[AuditRecord], list[bytes]],
) -> None:
    records, lines = log
    for i in range(1, len(lines)):
        doubled = check_bytes(b"".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]))
        assert isinstance(doubled, VerifyReport)
        assert problems_of(doubled) == [(i, ProblemKind.DUPLICATE)], i
        copied_to_end = check_bytes(b"".join([*lines, lines[i]]))
        assert isinstance(copied_to_end, VerifyReport)
        kind = ProblemKind.DUPLICATE if i == N else ProblemKind.REORDERED
        assert problems_of(copied_to_end) == [(i, kind)], i
    forged = next_record(
        records[3], at=T0, event="package.accepted", actor="000.00.01.H31", subject="forged"
    )
    inserted = check_bytes(b"".join(lines[:6]) + export_bytes([forged])[len(HEADER_LINE) :])
    assert isinstance(inserted, VerifyReport)
    assert problems_of(inserted) == [(5, ProblemKind.INSERTED)]


# --- the export file ----------------------------------------------------------------------------


def test_export_layout_lets_an_auditor_hash_the_raw_bytes(
    log: tuple[list[AuditRecord], list[bytes]],
) -> None:
    records, lines = log
    assert lines[0] == HEADER_LINE
    assert HEADER_LINE == b'{"format":"edoc-gateway-audit-log","hash":"sha-256","version":1}\n'
    for record, line in zip(records, lines[1:], strict=True):
        assert line[84:-2] == canonical_bytes(record)
        assert hashlib.sha256(line[84:-2]).hexdigest() == line[9:73].decode() == record.hash
        assert json.loads(line) == {"hash": record.hash, "record": json.loads(line[84:-2])}


def test_round_trip_keeps_every_record(log: tuple[list[AuditRecord], list[bytes]]) -> None:
    records, lines = log
    assert list(read_export(io.BytesIO(b"".join(lines)))) == records


def test_export_writes_damage_as_stored_and_refuses_what_it_cannot_carry() -> None:
    records = build(3)
    records[1] = dataclasses.replace(records[1], subject="changed")
    report = check_bytes(export_bytes(records))
    assert isinstance(report, VerifyReport)
    assert problems_of(report) == [(2, ProblemKind.CHANGED)]
    with pytest.raises(ValueError, match=r"record 2 \(seq 2\) cannot be exported: .*float"):
        export_bytes([records[0], dataclasses.replace(records[1], at=1.5)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not valid Unicode"):
        export_bytes([dataclasses.replace(records[0], actor="\ud800")])


def _replace_line(lines: list[bytes], index: int, line: bytes) -> bytes:
    return b"".join([*lines[:index], line, *lines[index + 1 :]])


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda ls: b"", 1, "empty"),
        (lambda ls: b"\n", 1, "not JSON"),
        (lambda ls: b"hello\n" + b"".join(ls[1:]), 1, "not JSON"),
        (lambda ls: _replace_line(ls, 0, b'{"format":"x"}\n'), 1, "not an audit export"),
        (lambda ls: _replace_line(ls, 0, ls[0].replace(b":1}", b":2}")), 1, "version 2"),
        (lambda ls: _replace_line(ls, 0, ls[0].replace(b":1}", b":true}")), 1, "exactly"),
        (lambda ls: _replace_line(ls, 0, ls[0].replace(b"sha-256", b"sha-1")), 1, "sha-1"),
        (lambda ls: b"\xef\xbb\xbf" + b"".join(ls), 1, "not UTF-8|not JSON"),
        (lambda ls: b"".join(ls)[:-1], N + 1, "does not end with LF"),
        (lambda ls: b"".join(ls) + b"\n", N + 2, "not JSON"),
        (lambda ls: _replace_line(ls, 3, ls[3].replace(b'":', b'": ')), 4, "canonical"),
        (lambda ls: _replace_line(ls, 3, b"[1]\n"), 4, "not a JSON object"),
        (lambda ls: _replace_line(ls, 3, b"{}\n"), 4, '"record"'),
        (lambda ls: _replace_line(ls, 3, ls[3].replace(b'"at"', b'"au"')), 4, "members"),
        (
            lambda ls: _replace_line(ls, 6, ls[6].replace(b'"bytes":48213', b'"bytes":4.5')),
            7,
            "float",
        ),
        (lambda ls: _replace_line(ls, 3, ls[3].replace(b'"seq":3', b'"seq":"3"')), 4, "seq is str"),
        (lambda ls: _replace_line(ls, 2, b"x" * (MAX_LINE_BYTES + 5)), 3, "longer than"),
        (lambda ls: _replace_line(ls, 2, b"[" * 5000 + b"\n"), 3, "not readable JSON|not JSON"),
        (lambda ls: _replace_line(ls, 2, b'{"a":' + b"9" * 5000 + b"}\n"), 3, "not readable"),
    ],
)
def test_unreadable_exports_name_the_line(
    log: tuple[list[AuditRecord], list[bytes]],
    edit: Callable[[list[bytes]], bytes],
    line: int,
    message: str,
) -> None:
    _, lines = log
    result = check_bytes(edit(lines))
    assert isinstance(result, ExportFormatError), result
    assert result.line == line and result.path == f"line {line}"
    assert result.code == "M.AuditExport"
    assert re.search(message, result.message), result.message


# --- the mutation test --------------------------------------------------------------------------


def _similar_byte(value: int) -> int:
    """Another byte of the same class, so the line usually still decodes and only the content
    changes: digit for digit (never a leading zero), letter for letter, a UTF-8 continuation
    byte for another; anything else for something arbitrary but different."""
    if 0x30 <= value <= 0x39:
        return b"1234567891"[value - 0x30]
    if 0x61 <= value <= 0x7A:
        return 0x61 + (value - 0x61 + 1) % 26
    if 0x41 <= value <= 0x5A:
        return 0x41 + (value - 0x41 + 1) % 26
    if 0x80 <= value <= 0xBF:
        return 0x80 + (value - 0x80 + 1) % 0x40
    if 0xC2 <= value <= 0xDF:
        return 0xC2 + (value - 0xC2 + 1) % 30
    return value ^ 0x01


def _assert_caught(data: bytes, position: int, line_starts: list[int]) -> bool:
    """The change at ``position`` is reported against its line / record; True if readable."""
    line = max(i for i, start in enumerate(line_starts) if start <= position) + 1
    result = check_bytes(data)
    if isinstance(result, ExportFormatError):
        assert result.line == line, (position, line, result)
        return False
    assert not result.ok, (position, data[line_starts[line - 1] : line_starts[line - 1] + 400])
    assert {p.seq for p in result.problems} == {line - 1}, (position, result.problems)
    return True


def _mutation_log(count: int) -> tuple[bytes, list[int]]:
    data = export_bytes(build(count))
    starts = [0]
    for line in lines_of(data)[:-1]:
        starts.append(starts[-1] + len(line))
    return data, starts


def test_every_single_byte_change_is_caught_and_pinned_on_its_record() -> None:
    data, starts = _mutation_log(40)
    rng = random.Random(20260101)
    readable = 0
    for position, value in enumerate(data):
        for replacement in (
            _similar_byte(value),
            rng.choice([b for b in range(256) if b != value]),
        ):
            mutated = data[:position] + bytes([replacement]) + data[position + 1 :]
            readable += _assert_caught(mutated, position, starts)
    assert readable > len(data) // 2  # most "similar" changes left the file readable


@pytest.mark.slow
def test_every_value_of_every_byte_is_caught_on_a_short_log() -> None:
    data, starts = _mutation_log(3)
    for position, value in enumerate(data):
        for replacement in range(256):
            if replacement != value:
                mutated = data[:position] + bytes([replacement]) + data[position + 1 :]
                _assert_caught(mutated, position, starts)


# --- properties ---------------------------------------------------------------------------------

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
)
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + ' "\\/\n\t\x00\x1f\x7f\u2028\U0001f4c4'),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)
DETAIL_VALUES = st.one_of(TEXT, st.integers(-SAFE_INT, SAFE_INT), st.booleans(), st.none())
DETAILS = st.dictionaries(
    st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True), DETAIL_VALUES, max_size=6
)
ENTRY = st.tuples(
    st.integers(0, SAFE_INT),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,2}", fullmatch=True),
    TEXT.filter(bool),
    TEXT,
    DETAILS,
)


def _chain_of(
    entries: list[tuple[int, str, str, str, dict[str, DetailValue]]],
) -> list[AuditRecord]:
    chain = Chain()
    return [
        chain.append(at=at, event=event, actor=actor, subject=subject, details=details)
        for at, event, actor, subject, details in entries
    ]


@settings(max_examples=30, deadline=None)
@given(st.lists(ENTRY, min_size=1, max_size=8))
def test_any_log_round_trips_through_an_export_and_verifies(
    entries: list[tuple[int, str, str, str, dict[str, DetailValue]]],
) -> None:
    records = _chain_of(entries)
    data = export_bytes(records)
    assert list(read_export(io.BytesIO(data))) == records
    report = check_bytes(data, anchor=f"{len(records)}:{records[-1].hash}")
    assert isinstance(report, VerifyReport) and report.ok and report.count == len(records)
    for record in records:
        content = json.loads(canonical_bytes(record))
        assert content.pop("details") == record.details and content["seq"] == record.seq


@settings(max_examples=30, deadline=None)
@given(st.lists(ENTRY, min_size=2, max_size=6), st.data())
def test_any_change_to_a_detail_is_reported_at_its_record(
    entries: list[tuple[int, str, str, str, dict[str, DetailValue]]], data: st.DataObject
) -> None:
    records = _chain_of(entries)
    index = data.draw(st.integers(0, len(records) - 1))
    key = data.draw(st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True))
    value = data.draw(DETAIL_VALUES)
    changed = dataclasses.replace(records[index], details={**records[index].details, key: value})
    assume(canonical_bytes(changed) != canonical_bytes(records[index]))
    records[index] = changed
    assert [p.seq for p in verify(records).problems] == [index + 1]


# --- the offline verifier -----------------------------------------------------------------------


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_offline_verifier_exit_codes(
    tmp_path: Path, log: tuple[list[AuditRecord], list[bytes]]
) -> None:
    records, lines = log
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"".join(lines))
    result = run_verifier(str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"OK: {N} records, last hash {records[-1].hash}"
    assert f"{N}:{records[-1].hash}" in result.stdout

    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"".join(lines).replace(b"pkg-0006", b"pkg-0666"))
    result = run_verifier(str(tampered))
    assert result.returncode == 1
    assert "changed: record 7: its content does not match its hash" in result.stdout
    assert "FAILED: 1 problem in 12 records" in result.stdout

    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(lines[:-2]))
    assert run_verifier(str(short)).returncode == 0
    result = run_verifier(str(short), "--anchor", f"{N}:{records[-1].hash}")
    assert result.returncode == 1 and "truncated" in result.stdout

    garbled = tmp_path / "garbled.jsonl"
    garbled.write_bytes(b"".join(lines).replace(b'"seq":5', b'"seq":5 ', 1))
    result = run_verifier(str(garbled))
    assert result.returncode == 2 and "line 6" in result.stderr

    assert run_verifier(str(tmp_path / "missing.jsonl")).returncode == 2
    assert run_verifier(str(good), "--anchor", "nonsense").returncode == 2


def test_offline_verifier_loads_no_database_or_web_code() -> None:
    code = (
        "import sys, gateway.audit.__main__; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('gateway', 'sqlite3', 'psycopg', 'lxml', 'spyne', 'waitress', 'zeep'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert result.stdout.split() == [
        "gateway",
        "gateway.audit",
        "gateway.audit.__main__",
        "gateway.audit.chain",
        "gateway.errors",
    ]
