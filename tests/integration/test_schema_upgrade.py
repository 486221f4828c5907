"""Schema 6 → 7 (transport traces): a database written by the previous schema upgrades in place,
on SQLite and PostgreSQL, and what it held reads as before (statuses stay statuses)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

from gateway.config import Settings
from gateway.store import open_store
from gateway.store.base import NewOutbound, NewPackage, NewTrace
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore


class _OlderStore(SqlStore):
    """The store as an earlier release left it: the same code path, only the migrations below
    ``schema``."""

    schema = 0

    def _migrations(self) -> list[tuple[int, str, str]]:
        return [m for m in super()._migrations() if m[0] < self.schema]


def _store_before(settings: Settings, schema: int) -> SqlStore:
    """A store on ``settings``' engine that migrates only as far as ``schema`` less one."""
    dialect: SqliteDialect | PostgresDialect
    if settings.uses_postgres:
        dialect = PostgresDialect(settings.database_dsn)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        dialect = SqliteDialect(settings.sqlite_path)
    store = _OlderStore(dialect)
    store.schema = schema
    return store


def _old_store(settings: Settings) -> SqlStore:
    store = _store_before(settings, 7)
    assert store.migrate() == 6
    return store


def _package(
    package_id: str, kind: str, *, trace: NewTrace | None = None, **more: object
) -> NewPackage:
    return NewPackage(
        package_id=package_id,
        kind=kind,
        sender="000.00.01.H53",
        document_id="000.00.01.H53,2024/03/05,7/UBND-VP",
        dedupe_key=f"key-{package_id}",
        content_sha256="c" * 64,
        blob_sha256="b" * 64,
        size=10,
        received_at=1_000_000,
        summary_json="{}",
        warnings_json="[]",
        recipients=("000.00.32.H53",),
        trace=trace,
        **more,  # type: ignore[arg-type]
    )


def test_schema_6_upgrades_to_7_keeping_traces_and_outbox(store_settings: Settings) -> None:
    old = _old_store(store_settings)
    try:
        old.accept(
            _package(
                "doc-1",
                "document",
                outbound=(NewOutbound("national", ("000.00.99.H99",), "doc-key", "b" * 64, 10),),
            )
        )
        old.accept(
            _package(
                "status-1",
                "status",
                trace=NewTrace(
                    "000.00.01.H53,2024/03/05,7/UBND-VP",
                    "000.00.32.H53",
                    "000.00.01.H53",
                    "01",
                    "Đã đến",
                    "2024/03/05 08:09:10",
                ),
            )
        )
    finally:
        old.close()

    store = open_store(store_settings)  # what `db upgrade` and `serve` do
    try:
        assert store.schema_version() == store.latest_schema_version() >= 7
        [status] = store.traces("000.00.01.H53", "000.00.01.H53,2024/03/05,7/UBND-VP", 0)
        assert (status.kind, status.status_code, status.outcome, status.error_code) == (
            "status",
            "01",
            "",
            "",
        )
        [item] = store.outbox_items()
        assert item.state == "queued" and item.last_error_code == ""
        # The upgraded outbox works: a dead letter becomes the sender's transport trace.
        [claimed] = store.claim_outbox("national", "node", 2_000_000, 3_000_000, 10)
        dead = store.finish_outbox(
            claimed.id,
            "node",
            2_500_000,
            "dead",
            error="refused by national: ErrorCode 18",
            error_code="M.Vxp.18",
            reporter="edoc-gateway",
        )
        assert dead is not None and dead.last_error_code == "M.Vxp.18"
        traces = store.traces("000.00.01.H53", "000.00.01.H53,2024/03/05,7/UBND-VP", 0)
        assert [(t.kind, t.outcome, t.error_code, t.from_agency) for t in traces] == [
            ("status", "", "", "000.00.32.H53"),
            ("transport", "failed", "M.Vxp.18", "edoc-gateway"),
        ]
        assert traces[1].recipients == ("000.00.99.H99",) and traces[1].upstream == "national"
    finally:
        store.close()


CONSOLE_SCHEMA = 11
"""The migration that adds the console's operators and the tracker's search index."""


def test_the_console_schema_backfills_the_search_index(store_settings: Settings) -> None:
    from gateway.store.console_sql import SearchQuery

    old = _store_before(store_settings, CONSOLE_SCHEMA)
    assert old.migrate() < CONSOLE_SCHEMA
    summary = (
        '{"code": "7/UBND-VP", "subject": "Về việc tổ chức hội nghị tổng kết",'
        ' "to": [{"organ_id": "000.00.32.H53"}, {"organ_id": "000.00.99.H99"}]}'
    )
    try:
        document = _package(
            "doc-1",
            "document",
            outbound=(NewOutbound("national", ("000.00.99.H99",), "doc-key", "b" * 64, 10),),
        )
        old.accept(replace(document, summary_json=summary))
        status = _package(
            "status-1",
            "status",
            trace=NewTrace("x", "000.00.32.H53", "000.00.01.H53", "01", "Đã đến", ""),
        )
        old.accept(replace(status, summary_json='{"kind": "status", "description": "Đã đến"}'))
    finally:
        old.close()

    store = open_store(store_settings)
    try:
        assert store.schema_version() >= CONSOLE_SCHEMA
        tables = store.console_tables()
        [found] = tables.search(SearchQuery(code="7/ubnd"))
        assert (found.package_id, found.state, found.subject) == (
            "doc-1",
            "queued",
            "Về việc tổ chức hội nghị tổng kết",
        )
        assert [r.package_id for r in tables.search(SearchQuery(words="hoi nghi"))] == ["doc-1"]
        assert tables.recipients_of("doc-1") == ["000.00.32.H53", "000.00.99.H99"]
        assert {r.package_id for r in tables.search(SearchQuery(recipient="000.00.32.H53"))} == {
            "doc-1",
            "status-1",
        }
        assert tables.indexed("status-1").subject == "Đã đến"  # type: ignore[union-attr]
        # Intake after the upgrade keeps the index current (the triggers).
        [claimed] = store.claim_outbox("national", "node", 2_000_000, 3_000_000, 10)
        store.finish_outbox(claimed.id, "node", 2_500_000, "sent", remote_id="r")  # type: ignore[arg-type]
        assert tables.indexed("doc-1").state == "pending"  # type: ignore[union-attr]
        store.finish_delivery("doc-1", "000.00.32.H53", "confirmed", "", 2_600_000)
        assert tables.indexed("doc-1").state == "done"  # type: ignore[union-attr]
    finally:
        store.close()


def test_the_previous_release_upgrades_with_packages_outbox_and_audit_intact(
    store_settings: Settings,
) -> None:
    from gateway.audit.chain import verify
    from gateway.store.blobs import FileBlobStore
    from gateway.store.retention import DAY, run_retention

    old = _store_before(store_settings, 8)  # the previous release: before PG blobs, retention
    try:
        assert old.migrate() == 7
        old.accept(
            _package(
                "doc-1",
                "document",
                outbound=(NewOutbound("national", ("000.00.99.H99",), "doc-key", "b" * 64, 10),),
            )
        )
        old.accept(_package("doc-2", "document"))
        old.record_event(2_000_000, "package.read", "000.00.32.H53", "doc-2", {"via": "soap"})
        before = {
            "packages": [old.get_package(i) for i in ("doc-1", "doc-2")],
            "outbox": old.outbox_items(),
            "audit": old.audit_records(0, 1000),
            "deliveries": old.deliveries_of("doc-2"),
        }
    finally:
        old.close()

    store = open_store(store_settings)
    try:
        assert store.schema_version() == store.latest_schema_version() >= 9
        assert [store.get_package(i) for i in ("doc-1", "doc-2")] == before["packages"]
        assert store.outbox_items() == before["outbox"]
        assert store.deliveries_of("doc-2") == before["deliveries"]
        audit = store.audit_records(0, 1000)
        assert audit == before["audit"] and verify(audit).ok
        # the upgraded store takes part in retention: nothing is purged while a delivery is
        # pending or a send is queued, and the audit chain goes on from the old records
        settings = dataclasses.replace(store_settings, retention_document_days=1)
        blobs = FileBlobStore(store_settings.data_dir / "blobs", durable=False)
        report = run_retention(store, blobs, settings, 10 * DAY)
        assert report.purged["document"] == 0
        store.finish_delivery("doc-2", "000.00.32.H53", "confirmed", "", 3_000_000)
        report = run_retention(store, blobs, settings, 10 * DAY, collect=False)
        assert report.purged["document"] == 1
        after = store.audit_records(0, 1000)
        assert after[: len(audit)] == audit and verify(after).ok
        assert after[-1].event == "retention.purged" and after[-1].subject == "doc-2"
    finally:
        store.close()


SEARCH_PARTIES_SCHEMA = 14
"""The migration that puts the sender's and recipients' codes into the search index."""


def test_schema_13_upgrades_and_word_plus_agency_search_finds_the_right_packages(
    store_settings: Settings,
) -> None:
    from gateway.audit.chain import verify
    from gateway.store.console_sql import SearchQuery

    old = _store_before(store_settings, SEARCH_PARTIES_SCHEMA)
    packages = [  # (id, sender, subject, recipients in the summary, mailbox deliveries)
        ("doc-1", "000.00.01.H53", "Về việc tổ chức hội nghị", ["000.00.32.H53"], ()),
        ("doc-2", "000.00.02.H53", "Hội nghị tổng kết năm", ["000.00.32.H53"], ()),
        ("doc-3", "000.00.01.H53", "Báo cáo thuế đất đai", ["000.00.99.H99"], ("000.00.33.H53",)),
        ("doc-4", "H53.17", "Hội nghị về đất đai", [], ("000.00.33.H53",)),
        ("doc-5", "H53.17.01", "Kế hoạch hội nghị", ["000.00.99.H99"], ()),
    ]
    try:
        assert old.migrate() == SEARCH_PARTIES_SCHEMA - 1
        for n, (pid, sender, subject, to, local) in enumerate(packages):
            summary = {"code": f"{n}/UBND", "subject": subject, "to": [{"organ_id": r} for r in to]}
            old.accept(
                replace(
                    _package(
                        pid,
                        "document",
                        outbound=(NewOutbound("national", ("000.00.99.H99",), pid, "b" * 64, 10),)
                        if "000.00.99.H99" in to
                        else (),
                    ),
                    sender=sender,
                    dedupe_key=f"key-{pid}",
                    received_at=1_000_000 + n,
                    summary_json=json.dumps(summary, ensure_ascii=False),
                    recipients=local,
                )
            )
        old.record_event(2_000_000, "package.read", "000.00.32.H53", "doc-2", {"via": "soap"})
        audit = old.audit_records(0, 1000)
        outbox = old.outbox_items()
    finally:
        old.close()

    store = open_store(store_settings)
    assert isinstance(store, SqlStore)
    try:
        assert store.schema_version() == store.latest_schema_version() >= SEARCH_PARTIES_SCHEMA
        tables = store.console_tables()

        def ids(**fields: str) -> list[str]:
            return [p.package_id for p in tables.search(SearchQuery(**fields))]  # type: ignore[arg-type]

        assert ids(words="hoi nghi", sender="000.00.01.H53") == ["doc-1"]
        assert ids(words="hội nghị", sender="H53.17") == ["doc-4"]  # not H53.17.01's doc-5
        assert ids(words="đất đai", sender="000.00.01.H53") == ["doc-3"]
        assert ids(words="nghị", recipient="000.00.32.H53") == ["doc-2", "doc-1"]
        assert ids(words="đất", recipient="000.00.33.H53") == ["doc-4", "doc-3"]  # deliveries
        assert ids(words="nghị", sender="000.00.02.H53", recipient="000.00.32.H53") == ["doc-2"]
        assert ids(words="thuế", sender="000.00.02.H53") == []
        assert ids(words="nghị") == ["doc-5", "doc-4", "doc-2", "doc-1"]
        assert store.outbox_items() == outbox
        after = store.audit_records(0, 1000)
        assert after == audit and verify(after).ok
        # intake after the upgrade indexes the new package's parties (the new triggers)
        store.accept(
            replace(
                _package("doc-6", "document"),
                sender="000.00.01.H53",
                dedupe_key="key-doc-6",
                received_at=3_000_000,
                summary_json='{"subject": "Hội nghị mới", "to": [{"organ_id": "000.00.32.H53"}]}',
            )
        )
        assert ids(words="hoi nghi", sender="000.00.01.H53") == ["doc-6", "doc-1"]
        assert ids(words="nghị", recipient="000.00.32.H53") == ["doc-6", "doc-2", "doc-1"]
        assert verify(store.audit_records(0, 1000)).ok
        if not store_settings.uses_postgres:  # the rebuilt FTS5 index agrees with its content
            with store._tx() as q:
                q.run(
                    "INSERT INTO package_subjects (package_subjects, rank) "
                    "VALUES ('integrity-check', 1)"
                )
    finally:
        store.close()


INLINE_BLOBS_SCHEMA = 16
"""The migration that keeps small blobs inside the database (``inline_blobs``)."""


def test_schema_15_upgrades_to_inline_blobs_keeping_packages_files_outbox_and_audit(
    store_settings: Settings,
) -> None:
    import datetime as dt
    import hashlib

    from gateway.audit.chain import verify
    from gateway.edxml.writer import package_bytes
    from gateway.exchange import Exchange
    from gateway.store.blobs import FileBlobStore
    from tests.fixtures.cluster import organization
    from tests.fixtures.packages import MINIMAL_PDF, build_document

    sender, receiver = "000.00.00.G22", "000.00.00.H41"
    now = dt.datetime.now(dt.UTC)

    def document(ex: Exchange, number: int) -> bytes:
        pkg = build_document(
            ex.blobs,
            MINIMAL_PDF + f" upgrade {number}".encode(),
            from_=organization(sender),
            to=(organization(receiver),),
            document_id=f"{sender},2026/01/05,{number}/UP",
        )
        return package_bytes(pkg, ex.blobs)

    # The previous release: schema 15, every blob a file (its exchange knew no other store).
    old = _store_before(store_settings, INLINE_BLOBS_SCHEMA)
    assert old.migrate() == INLINE_BLOBS_SCHEMA - 1
    files = FileBlobStore(store_settings.blob_dir)
    ex = Exchange(store_settings, store=old, blobs=files)
    try:
        for code in (sender, receiver):
            ex.credentials.add_agency(code, f"Agency {code}", "", now)
        first = ex.send_document(sender, document(ex, 1))
        confirmed = ex.send_document(sender, document(ex, 2))
        ex.confirm_received(receiver, confirmed.package_id, "ok", "")
        old.accept(
            _package(
                "doc-out",
                "document",
                outbound=(NewOutbound("national", ("000.00.99.H99",), "k", "b" * 64, 10),),
            )
        )
        fetched = ex.get_package(receiver, first.package_id).open().read()
        kept = {pid: old.get_package(pid) for pid in (first.package_id, confirmed.package_id)}
        outbox, audit = old.outbox_items(), old.audit_records(0, 1000)
    finally:
        ex.close()
    blob_files = sorted(p.name for p in store_settings.blob_dir.glob("??/*"))
    assert blob_files  # the old release's blobs are files

    new = Exchange(store_settings)  # open_store migrates; open_blobs reads both places
    try:
        assert new.store.schema_version() == INLINE_BLOBS_SCHEMA
        assert {pid: new.store.get_package(pid) for pid in kept} == kept
        assert new.store.outbox_items() == outbox
        assert new.store.audit_records(0, len(audit)) == audit and verify(audit).ok
        assert new.get_package(receiver, first.package_id).open().read() == fetched
        for stored in kept.values():
            assert stored is not None
            data = new.blobs.read_bytes(stored.blob_sha256)
            assert hashlib.sha256(data).hexdigest() == stored.blob_sha256
        # intake after the upgrade keeps its small blobs in the database, beside the old files
        later = new.send_document(sender, document(new, 3))
        stored = new.store.get_package(later.package_id)
        assert stored is not None and not files.contains(stored.blob_sha256)
        assert sorted(p.name for p in store_settings.blob_dir.glob("??/*")) == blob_files
        assert new.get_package(receiver, later.package_id).open().read()
        assert verify(new.store.audit_records(0, 1000)).ok
    finally:
        new.close()
