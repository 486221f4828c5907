"""The web console's queries: operators, sessions, sign-in throttling, the document tracker's
search, a package's timeline sources and the overview's counts.

Kept apart from the exchange's store code: the console only reads what the exchange wrote,
plus its own tables (``operators``, ``console_sessions``, ``console_sign_ins``; schema 11).
The search index (``package_index``, ``package_recipients``, subject words, and since schema
14 each package's parties: its sender and recipients as index terms) is filled by database
triggers on every write path, so nothing here has to be called on intake. Rows are
read by column name.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.audit.chain import AuditRecord
from gateway.errors import AlreadyExists, NotFound
from gateway.store.base import StorageError
from gateway.store.engine import AUDIT_COLUMNS, Query, append_audit, audit_record

if TYPE_CHECKING:
    from gateway.store.sql import SqlStore

Named = dict[str, Any]


class Role(enum.StrEnum):
    """What an operator may do in the console; each role includes the ones before it."""

    VIEWER = "viewer"
    """Read every page; change nothing, download nothing."""
    OPERATOR = "operator"
    """Also retry and cancel queued sends."""
    ADMIN = "admin"
    """Also manage agencies, run audit checks and exports, download attachments."""

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class PackageState(enum.StrEnum):
    """A package's state in the tracker: its most urgent delivery or send wins."""

    DEAD = "dead"
    FAILED = "failed"
    QUEUED = "queued"
    PENDING = "pending"
    CANCELLED = "cancelled"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    name: str
    role: Role
    password_hash: str
    enabled: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    operator: OperatorRecord
    csrf_token: str
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What the tracker's form asks; empty fields do not filter."""

    document_id: str = ""
    code: str = ""
    """Số, ký hiệu: the whole code (``7/UBND-VP``) or its beginning (``7/UBND``)."""
    words: str = ""
    """Words of the subject (all of them must occur; diacritics are folded)."""
    sender: str = ""
    recipient: str = ""
    since: int = 0
    until: int = 0
    """Received before this time (micros, exclusive); 0 for no bound."""
    state: str = ""
    kind: str = ""
    limit: int = 50
    before: int | None = None
    """The ``seq`` of the previous page's last row: the next page starts after it."""


@dataclass(frozen=True, slots=True)
class IndexedPackage:
    seq: int
    package_id: str
    kind: str
    sender: str
    document_id: str
    code: str
    subject: str
    received_at: int
    state: str


@dataclass(frozen=True, slots=True)
class QueueDepth:
    upstream: str
    queued: int
    oldest_created_at: int | None
    dead: int


@dataclass(frozen=True, slots=True)
class Overview:
    received_today: int
    delivered_today: int
    sent_today: int
    mailbox_backlog: tuple[tuple[str, int], ...]
    queues: tuple[QueueDepth, ...]
    dead_letters: int
    leases: tuple[tuple[str, str, int], ...]
    """(name, owner, expires_at) of every named lease (the pollers')."""
    last_attempts: tuple[tuple[str, str, int], ...]
    """(upstream, event, at) of each upstream's latest relay attempt."""
    audit_count: int
    last_verification: AuditRecord | None


def code_key(code: str) -> str:
    """What a code search compares: ASCII letters lower-cased, spaces removed (the triggers
    compute the same from the stored code)."""
    return "".join(c.lower() if c.isascii() else c for c in code).replace(" ", "")


def _fts_words(words: str) -> str:
    """An FTS5 query that needs every word, each quoted (no operator syntax reaches FTS5)."""
    terms = [w.replace('"', "") for w in words.split()]
    return " AND ".join(_fts_term(t) for t in terms if t)


_D_VARIANTS_UP_TO = 4
"""A word with more d's than this is looked for as typed (2 ** 4 spellings at most)."""


def _fts_term(term: str) -> str:
    """One word, d and đ alike (dong finds Đồng, as on PostgreSQL, whose index folds đ).

    SQLite's tokenizer removes accents but keeps đ a letter of its own, so the word is looked
    for in each spelling that puts d or đ where the clerk typed either.
    """
    plain = term.replace("đ", "d").replace("Đ", "D")
    places = [i for i, letter in enumerate(plain) if letter in "dD"]
    if not places or len(places) > _D_VARIANTS_UP_TO:
        return f'"{term}"'
    spellings = []
    for choice in itertools.product("dđ", repeat=len(places)):
        letters = list(plain)
        for place, letter in zip(places, choice, strict=True):
            letters[place] = letter
        spellings.append("".join(letters))
    return "(" + " OR ".join(f'"{s}"' for s in spellings) + ")"


def party_token(role: str, code: str) -> str:
    """The search index's token for an agency in a package: ``s`` (sender) or ``r``
    (recipient) and the hex of its code, as schema 14's triggers write it (one token, exact)."""
    return role + code.encode("utf-8").hex()


def _fts_match(query: SearchQuery) -> str:
    """The FTS5 query of the words and, when asked, the sender and recipient: one MATCH
    intersects their doclists (the words are looked for in the subject only)."""
    match = f"subject : ({_fts_words(query.words)})"
    if query.sender.strip():
        match += f' AND parties : "{party_token("s", query.sender.strip())}"'
    if query.recipient.strip():
        match += f' AND parties : "{party_token("r", query.recipient.strip())}"'
    return match


_INDEX_COLUMNS = (
    "i.seq, i.package_id, i.kind, i.sender, i.document_id, i.code, i.subject, i.received_at, "
    "i.state"
)
_RARE = 2000
"""Below this many matches, PostgreSQL sorts the matches of subject words; above, it walks
the newest packages testing each (the first page then comes long before the last match)."""
_COMMON = 10
"""A match the planner estimates at ``_COMMON`` times ``_RARE`` rows or more is common
without counting it (PostgreSQL)."""
_OPERATOR_COLUMNS = "name, role, password_hash, enabled, created_at, updated_at"


class ConsoleTables:
    """The console's side of the store, over an open :class:`SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    @property
    def engine(self) -> str:
        return self.store.dialect.name

    # -- operators ---------------------------------------------------------------------------
    def add_operator(
        self, name: str, role: Role, password_hash: str, now: int, actor: str
    ) -> OperatorRecord:
        with self.store._tx() as q:
            if _one(q, "SELECT name FROM operators WHERE name = ?", (name,)) is not None:
                raise AlreadyExists("M.Operator.Exists", f"operator {name} already exists")
            q.run(
                f"INSERT INTO operators ({_OPERATOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (name, str(role), password_hash, True, now, now),
            )
            append_audit(
                q, now, "console.operator.added", actor, name, {"role": str(role)}
            )
        return OperatorRecord(name, role, password_hash, True, now, now)

    def get_operator(self, name: str) -> OperatorRecord | None:
        with self.store._tx("read") as q:
            row = _one(q, f"SELECT {_OPERATOR_COLUMNS} FROM operators WHERE name = ?", (name,))
        return _operator(row) if row else None

    def list_operators(self) -> list[OperatorRecord]:
        with self.store._tx("read") as q:
            rows = _all(q, f"SELECT {_OPERATOR_COLUMNS} FROM operators ORDER BY name")
        return [_operator(row) for row in rows]

    def update_operator(
        self,
        name: str,
        now: int,
        actor: str,
        *,
        enabled: bool | None = None,
        password_hash: str | None = None,
    ) -> OperatorRecord:
        """Disable or re-enable an operator or set a new password; either ends the operator's
        sessions (a stolen cookie dies with the old password)."""
        changes: dict[str, Any] = {"updated_at": now}
        if enabled is not None:
            changes["enabled"] = enabled
        if password_hash is not None:
            changes["password_hash"] = password_hash
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self.store._tx() as q:
            q.run(f"UPDATE operators SET {assignments} WHERE name = ?", (*changes.values(), name))
            row = _one(q, f"SELECT {_OPERATOR_COLUMNS} FROM operators WHERE name = ?", (name,))
            if row is None:
                raise NotFound("N.Operator", f"no operator {name}")
            q.run("DELETE FROM console_sessions WHERE operator = ?", (name,))
            details: dict[str, Any] = {}
            if enabled is not None:
                details["enabled"] = enabled
            if password_hash is not None:
                details["password"] = "changed"
            append_audit(q, now, "console.operator.updated", actor, name, details)
        return _operator(row)

    # -- sessions and sign-ins ---------------------------------------------------------------
    def open_session(
        self, token_sha256: str, operator: str, csrf_token: str, now: int, expires_at: int
    ) -> None:
        with self.store._tx() as q:
            q.run("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
            q.run(
                "INSERT INTO console_sessions (token_sha256, operator, csrf_token, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_sha256, operator, csrf_token, now, expires_at),
            )
            append_audit(q, now, "console.signed_in", operator, operator, {})

    def session(self, token_sha256: str, now: int) -> SessionRecord | None:
        """The live session of an enabled operator under this token, if any."""
        with self.store._tx("read") as q:
            row = _one(
                q,
                "SELECT s.csrf_token, s.created_at AS session_created, s.expires_at, "
                f"{', '.join('o.' + c for c in _OPERATOR_COLUMNS.split(', '))} "
                "FROM console_sessions s JOIN operators o ON o.name = s.operator "
                "WHERE s.token_sha256 = ? AND s.expires_at > ?",
                (token_sha256, now),
            )
        if row is None:
            return None
        operator = _operator(row)
        if not operator.enabled:
            return None
        return SessionRecord(
            operator, row["csrf_token"], int(row["session_created"]), int(row["expires_at"])
        )

    def close_session(self, token_sha256: str, now: int, operator: str) -> None:
        with self.store._tx() as q:
            q.run("DELETE FROM console_sessions WHERE token_sha256 = ?", (token_sha256,))
            append_audit(q, now, "console.signed_out", operator, operator, {})

    def record_sign_in(self, name: str, address: str, at: int, ok: bool) -> None:
        with self.store._tx() as q:
            q.run(
                "INSERT INTO console_sign_ins (name, address, at, ok) VALUES (?, ?, ?, ?)",
                (name, address, at, ok),
            )
            if ok:  # a success clears the name's failures: throttling counts since then
                q.run("DELETE FROM console_sign_ins WHERE name = ? AND NOT ok", (name,))
            else:
                append_audit(
                    q, at, "console.sign_in_refused", name or "-", name or "-",
                    {"address": address},
                )

    def failures_since(self, name: str, address: str, since: int) -> tuple[int, int]:
        """Failed sign-ins since ``since``: (for this name, from this address)."""
        with self.store._tx("read") as q:
            by_name = _one(
                q,
                "SELECT COUNT(*) AS n FROM console_sign_ins WHERE name = ? AND at >= ? AND NOT ok",
                (name, since),
            )
            by_address = _one(
                q,
                "SELECT COUNT(*) AS n FROM console_sign_ins "
                "WHERE address = ? AND at >= ? AND NOT ok",
                (address, since),
            )
        return int(by_name["n"] if by_name else 0), int(by_address["n"] if by_address else 0)

    # -- the tracker -------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> list[IndexedPackage]:
        """Packages matching every filled field, newest first (in the order they were indexed,
        which is the order they were received), one page.

        Subject words drive the query from the word index: on SQLite one FTS5 MATCH of the
        words, the sender and the recipient (schema 14) hands the matches out newest first and
        the other filters are checked on the way, so the first page comes without sorting every
        match, and a common word with a selective agency costs the agency's rows, not the
        word's; on PostgreSQL the words and the parties are one GIN scan (schema 14), and the
        planner's estimate or a bounded count tells whether they are rare (then their matches
        are sorted) or common (then the newest rows are walked and tested).
        """
        limit = max(1, min(query.limit, 500))
        words = query.words.strip()
        if words and self.engine != "postgres" and _fts_words(words):
            sql, params = self._fts_search(query)
        else:
            order = "ORDER BY i.seq DESC LIMIT ?"
            if words and self.engine == "postgres":
                where, params = self._filters(dataclasses.replace(query, sender="", recipient=""))
                match, found = self._gin_match(query)
                if self._rare(match, found):
                    order = "ORDER BY i.seq + 0 DESC LIMIT ?"  # sort the few matches, no walk
                where, params = [*match, *where], [*found, *params]
            else:
                where, params = self._filters(query)
            clause = f"WHERE {' AND '.join(where)} " if where else ""
            sql = f"SELECT {_INDEX_COLUMNS} FROM package_index i {clause}{order}"
        with self.store._tx("read") as q:
            rows = _all(q, sql, (*params, limit))
        return [_indexed(row) for row in rows]

    @staticmethod
    def _gin_match(query: SearchQuery) -> tuple[list[str], list[Any]]:
        """PostgreSQL with subject words: the words and the parties (schema 14), both answered
        by the one GIN index on (subject_search, parties)."""
        where = ["i.subject_search @@ plainto_tsquery('simple', edoc_fold(?))"]
        params: list[Any] = [query.words.strip()]
        parties = [f"s:{query.sender.strip()}"] if query.sender.strip() else []
        parties += [f"r:{query.recipient.strip()}"] if query.recipient.strip() else []
        if parties:
            where.append("i.parties @> ?::text[]")
            params.append(parties)
        return where, params

    def _fts_search(self, query: SearchQuery) -> tuple[str, list[Any]]:
        """SQLite with subject words: the sender, the recipient and the page's bound go into
        the MATCH (FTS5 skips through its doclists); the other filters are tested per row."""
        rest = dataclasses.replace(query, sender="", recipient="", before=None)
        where, params = self._filters(rest)
        if query.before is not None:
            where.append("f.rowid < ?")
            params.append(query.before)
        clause = "".join(f" AND {w}" for w in where)
        sql = (
            f"SELECT {_INDEX_COLUMNS} FROM package_subjects f CROSS JOIN package_index i "
            f"WHERE package_subjects MATCH ? AND i.seq = f.rowid{clause} "
            "ORDER BY f.rowid DESC LIMIT ?"
        )
        return sql, [_fts_match(query), *params]

    def _rare(self, where: list[str], params: list[Any]) -> bool:
        """Whether the words (and parties) match fewer than ``_RARE`` packages (PostgreSQL).

        Counting costs what finding ``_RARE`` matches costs: a scan of 1/p rows for a word of
        frequency p, or its whole posting list. A match the planner's statistics put far above
        the bound (a common word) is taken as common without counting; only the others, whose
        estimate may be too high or too low, are counted."""
        condition = " AND ".join(where)
        with self.store._tx("read") as q:
            plan = _one(q, f"EXPLAIN (FORMAT JSON) SELECT 1 FROM package_index i WHERE {condition}",
                        params)
            if plan is not None and _estimate(plan) >= _COMMON * _RARE:
                return False
            row = _one(
                q,
                f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM package_index i WHERE {condition} "
                "LIMIT ?) m",
                (*params, _RARE),
            )
        return row is not None and int(row["n"]) < _RARE

    @staticmethod
    def _filters(query: SearchQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if query.document_id.strip():
            where.append("i.document_id = ?")
            params.append(query.document_id.strip())
        if query.code.strip():
            key = code_key(query.code.strip())
            where.append("i.code_key >= ? AND i.code_key < ?")
            params += [key, key + "\U0010ffff"]
        for column, value in (("sender", query.sender), ("state", query.state),
                              ("kind", query.kind)):
            if value.strip():
                where.append(f"i.{column} = ?")
                params.append(value.strip())
        if query.recipient.strip():
            where.append(
                "i.package_id IN (SELECT r.package_id FROM package_recipients r "
                "WHERE r.recipient = ?)"
            )
            params.append(query.recipient.strip())
        if query.since:
            where.append("i.received_at >= ?")
            params.append(query.since)
        if query.until:
            where.append("i.received_at < ?")
            params.append(query.until)
        if query.before is not None:
            where.append("i.seq < ?")
            params.append(query.before)
        return where, params

    def indexed(self, package_id: str) -> IndexedPackage | None:
        with self.store._tx("read") as q:
            row = _one(
                q, f"SELECT {_INDEX_COLUMNS} FROM package_index i WHERE i.package_id = ?",
                (package_id,),
            )
        return _indexed(row) if row else None

    def recipients_of(self, package_id: str) -> list[str]:
        with self.store._tx("read") as q:
            rows = _all(
                q,
                "SELECT recipient FROM package_recipients WHERE package_id = ? ORDER BY recipient",
                (package_id,),
            )
        return [str(row["recipient"]) for row in rows]

    def audit_about(self, subject: str, limit: int = 500) -> list[AuditRecord]:
        """The audit records whose subject is this package (or agency, operator), oldest first."""
        with self.store._tx("read") as q:
            rows = _all(
                q,
                f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject = ? ORDER BY seq LIMIT ?",
                (subject, limit),
            )
        return [audit_record(row) for row in rows]

    def statuses_about(self, document_id: str, package_id: str) -> list[Named]:
        """Every status and transport report about the document or the package, oldest first."""
        with self.store._tx("read") as q:
            return _all(
                q,
                "SELECT seq, document_id, status_package_id, from_agency, to_agency, "
                "status_code, description, status_time, recorded_at, kind, outcome, "
                "error_code, recipients, upstream FROM traces "
                "WHERE document_id = ? OR status_package_id = ? ORDER BY seq",
                (document_id, package_id),
            )

    # -- the overview ------------------------------------------------------------------------
    def overview(self, day_start: int) -> Overview:
        with self.store._tx("read") as q:
            received = _count(
                q, "SELECT COUNT(*) AS n FROM package_index WHERE received_at >= ?", (day_start,)
            )
            delivered = _count(
                q,
                "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'confirmed' AND done_at >= ?",
                (day_start,),
            )
            sent = _count(
                q,
                "SELECT COUNT(*) AS n FROM outbox WHERE state = 'sent' AND updated_at >= ?",
                (day_start,),
            )
            backlog = _all(
                q,
                "SELECT recipient, COUNT(*) AS n FROM deliveries WHERE state = 'pending' "
                "GROUP BY recipient ORDER BY COUNT(*) DESC, recipient LIMIT 200",
            )
            queues = _all(
                q,
                "SELECT upstream, SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS queued, "
                "MIN(CASE WHEN state = 'queued' THEN created_at END) AS oldest, "
                "SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead "
                "FROM outbox WHERE state IN ('queued', 'dead') GROUP BY upstream "
                "ORDER BY upstream",
            )
            dead = _count(q, "SELECT COUNT(*) AS n FROM outbox WHERE state = 'dead'")
            leases = _all(q, "SELECT name, owner, expires_at FROM leases ORDER BY name")
            attempts = _all(
                q,
                "SELECT event, at, details_json FROM audit_log WHERE seq IN ("
                "SELECT MAX(seq) FROM audit_log WHERE event IN "
                "('relay.sent', 'relay.retry', 'relay.dead') GROUP BY actor, subject) "
                "ORDER BY seq DESC LIMIT 200",
            )
            audit_count = _count(q, "SELECT COUNT(*) AS n FROM audit_log")
            verified = _one(
                q,
                f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq = (SELECT MAX(seq) "
                "FROM audit_log WHERE event = 'console.audit.verified')",
            )
        last = audit_record(verified) if verified else None
        latest: dict[str, tuple[str, str, int]] = {}
        for row in attempts:
            upstream = str(json.loads(row["details_json"]).get("upstream", ""))
            if upstream and upstream not in latest:
                latest[upstream] = (upstream, str(row["event"]), int(row["at"]))
        return Overview(
            received_today=received,
            delivered_today=delivered,
            sent_today=sent,
            mailbox_backlog=tuple((str(r["recipient"]), int(r["n"])) for r in backlog),
            queues=tuple(
                QueueDepth(
                    str(r["upstream"]),
                    int(r["queued"] or 0),
                    None if r["oldest"] is None else int(r["oldest"]),
                    int(r["dead"] or 0),
                )
                for r in queues
            ),
            dead_letters=dead,
            leases=tuple(
                (str(r["name"]), str(r["owner"]), int(r["expires_at"])) for r in leases
            ),
            last_attempts=tuple(sorted(latest.values())),
            audit_count=audit_count,
            last_verification=last,
        )

    def record(
        self, at: int, event: str, actor: str, subject: str, details: dict[str, Any]
    ) -> None:
        """An audit record of a console action (the operator is the actor)."""
        self.store.record_event(at, event, actor, subject, details)


def _one(q: Query, sql: str, params: Sequence[Any] = ()) -> Named | None:
    row = q.one(sql, params)
    return None if row is None else dict(row)


def _all(q: Query, sql: str, params: Sequence[Any] = ()) -> list[Named]:
    return [dict(row) for row in q.all(sql, params)]


def _count(q: Query, sql: str, params: Sequence[Any] = ()) -> int:
    row = _one(q, sql, params)
    return int(row["n"]) if row and row["n"] is not None else 0


def _operator(row: Named) -> OperatorRecord:
    try:
        role = Role(row["role"])
    except ValueError:
        raise StorageError("M.Operator.Role", f"operator {row['name']} has no known role") from None
    return OperatorRecord(
        name=str(row["name"]),
        role=role,
        password_hash=str(row["password_hash"]),
        enabled=bool(row["enabled"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
    )


def _estimate(plan: Named) -> float:
    """The planner's row estimate from an ``EXPLAIN (FORMAT JSON)`` row."""
    [document] = plan.values()
    parsed = json.loads(document) if isinstance(document, str) else document
    return float(parsed[0]["Plan"]["Plan Rows"])


def _indexed(row: Named) -> IndexedPackage:
    fields = {f.name for f in dataclasses.fields(IndexedPackage)}
    return IndexedPackage(**{k: v for k, v in row.items() if k in fields})
