"""The tracker's search against a plain query (issue 15): whatever plan ``search`` takes (on
SQLite the sender and recipient inside the FTS5 MATCH, schema 14), it returns exactly the rows
that a straightforward query of the index's own columns and recipient rows returns, for a
range of filters, on both engines."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.config import Settings
from gateway.store import open_store
from gateway.store.base import NewPackage
from gateway.store.console_sql import ConsoleTables, SearchQuery, code_key
from gateway.store.sql import SqlStore

SENDERS = ("000.00.01.H53", "000.00.02.H53", "H53.17", "H53.17.01")
"""Both code forms, and one code that begins another (a prefix must not match)."""
RECIPIENTS = ("000.00.32.H53", "000.00.33.H53", "H53.17", "H53.17.01", "000.00.99.H99")
WORDS = ("văn", "bản", "hội", "nghị", "tổng", "kết", "thuế", "đất", "đai")
T0 = 1_700_000_000_000_000


@pytest.fixture
def filled(store_settings: Settings) -> Iterator[tuple[SqlStore, ConsoleTables]]:
    """A store of 120 packages with random senders, subjects and recipients; some recipients
    come only from a mailbox delivery (added to the index after the package's own row)."""
    store = open_store(store_settings)
    assert isinstance(store, SqlStore)
    rng = random.Random(15)
    try:
        for n in range(120):
            to = rng.sample(RECIPIENTS, rng.randint(0, 2))
            local = tuple(rng.sample([r for r in RECIPIENTS if r not in to], rng.randint(0, 1)))
            code = f"{n % 17}/UBND-{'VP' if n % 3 else 'KT'}"
            summary = {
                "code": code,
                "subject": " ".join(rng.choices(WORDS, k=rng.randint(1, 5))),
                "to": [{"organ_id": r} for r in to],
            }
            store.accept(
                NewPackage(
                    package_id=f"p{n:03d}",
                    kind="document" if n % 5 else "status",
                    sender=rng.choice(SENDERS),
                    document_id=f"doc-{n % 40}",
                    dedupe_key=f"key-{n}",
                    content_sha256="c" * 64,
                    blob_sha256="b" * 64,
                    size=10,
                    received_at=T0 + n * 1_000_000,
                    summary_json=json.dumps(summary, ensure_ascii=False),
                    warnings_json="[]",
                    recipients=local,
                )
            )
        yield store, store.console_tables()
    finally:
        store.close()


def _plain(store: SqlStore, query: SearchQuery) -> list[str]:
    """The same search as the simplest query that can be written: every filter a condition on
    package_index or package_recipients, the words by the engine's word match alone, all rows
    sorted, the page cut in Python."""
    where: list[str] = []
    params: list[Any] = []
    if query.words:
        if store.dialect.name == "postgres":
            where.append("i.subject_search @@ plainto_tsquery('simple', edoc_fold(?))")
            params.append(query.words)
        else:
            terms = " ".join(f'"{w}"' for w in query.words.split())
            where.append(
                "i.seq IN (SELECT rowid FROM package_subjects WHERE package_subjects MATCH ?)"
            )
            params.append(f"subject : ({terms})")
    if query.sender:
        where.append("i.sender = ?")
        params.append(query.sender)
    if query.recipient:
        where.append(
            "EXISTS (SELECT 1 FROM package_recipients r "
            "WHERE r.package_id = i.package_id AND r.recipient = ?)"
        )
        params.append(query.recipient)
    if query.code:
        where.append("substr(i.code_key, 1, length(?)) = ?")
        params += [code_key(query.code)] * 2
    for column in ("state", "kind", "document_id"):
        if getattr(query, column):
            where.append(f"i.{column} = ?")
            params.append(getattr(query, column))
    if query.since:
        where.append("i.received_at >= ?")
        params.append(query.since)
    if query.until:
        where.append("i.received_at < ?")
        params.append(query.until)
    if query.before is not None:
        where.append("i.seq < ?")
        params.append(query.before)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with store._tx("read") as q:
        rows = q.all(f"SELECT i.package_id FROM package_index i {clause} ORDER BY i.seq DESC",
                     params)
    return [str(r["package_id"]) for r in rows][: query.limit]


def _queries() -> Iterator[SearchQuery]:
    rng = random.Random(1502)
    for _ in range(150):
        fields: dict[str, Any] = {"limit": rng.choice((3, 10, 50))}
        if rng.random() < 0.8:
            fields["words"] = " ".join(rng.sample(WORDS, rng.choice((1, 1, 2))))
        if rng.random() < 0.6:
            fields["sender"] = rng.choice(SENDERS)
        if rng.random() < 0.5:
            fields["recipient"] = rng.choice(RECIPIENTS)
        if rng.random() < 0.15:
            fields["kind"] = rng.choice(("document", "status"))
        if rng.random() < 0.15:
            fields["state"] = rng.choice(("pending", "done"))
        if rng.random() < 0.15:
            fields["code"] = f"{rng.randrange(17)}/ubnd"
        if rng.random() < 0.2:
            start = T0 + rng.randrange(120) * 1_000_000
            fields["since"], fields["until"] = start, start + 40_000_000
        if rng.random() < 0.2:
            fields["before"] = rng.randrange(1, 130)
        yield SearchQuery(**fields)


def test_search_returns_what_the_plain_query_returns(
    filled: tuple[SqlStore, ConsoleTables],
) -> None:
    store, tables = filled
    checked = matched = 0
    for query in _queries():
        expected = _plain(store, query)
        assert [p.package_id for p in tables.search(query)] == expected, query
        checked += 1
        matched += bool(expected)
    assert checked == 150 and matched >= 40  # the filters do find things, not only nothing


def test_an_agency_code_finds_only_its_own_packages_with_a_word(
    filled: tuple[SqlStore, ConsoleTables],
) -> None:
    """H53.17 begins H53.17.01; a recipient that came from a delivery counts as one."""
    store, tables = filled
    for role in ("sender", "recipient"):
        for code in ("H53.17", "H53.17.01"):
            for word in WORDS:
                query = SearchQuery(
                    words=word,
                    limit=500,
                    sender=code if role == "sender" else "",
                    recipient=code if role == "recipient" else "",
                )
                found = tables.search(query)
                assert [p.package_id for p in found] == _plain(store, query)
                if role == "sender":
                    assert {p.sender for p in found} <= {code}
                else:
                    assert all(code in tables.recipients_of(p.package_id) for p in found)
    delivered_only = [
        d.recipient
        for n in range(120)
        for d in store.deliveries_of(f"p{n:03d}")
        if d.recipient not in {r["organ_id"] for r in _to(store, f"p{n:03d}")}
    ]
    assert delivered_only  # the fixture does add recipients by delivery


def _to(store: SqlStore, package_id: str) -> list[dict[str, str]]:
    package = store.get_package(package_id)
    assert package is not None
    return list(json.loads(package.summary_json)["to"])
