"""Schema 7 (the previous release) → 10 (upstream contact health): a store with packages,
outbox rows and audit records upgrades in place on SQLite and PostgreSQL, nothing is lost, the
audit chain still verifies, and the new table takes contact outcomes."""

from __future__ import annotations

from gateway.audit.chain import verify
from gateway.config import Settings
from gateway.store import open_store
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore
from tests.fixtures.rows import stored_package

PREVIOUS_RELEASE = 7


class _PreviousRelease(SqlStore):
    """The store as the previous release left it: the same code, its migrations only."""

    def _migrations(self) -> list[tuple[int, str, str]]:
        return [m for m in super()._migrations() if m[0] <= PREVIOUS_RELEASE]


def test_previous_release_store_upgrades_keeping_everything(store_settings: Settings) -> None:
    dialect: SqliteDialect | PostgresDialect
    if store_settings.uses_postgres:
        dialect = PostgresDialect(store_settings.database_dsn)
    else:
        store_settings.data_dir.mkdir(parents=True, exist_ok=True)
        dialect = SqliteDialect(store_settings.sqlite_path)
    old = _PreviousRelease(dialect)
    try:
        assert old.migrate() == PREVIOUS_RELEASE
        for number in range(5):
            old.accept(stored_package(number, 1_000_000 + number, upstream="national"))
        before_audit = list(old.audit_records(0, 1000))
        before_outbox = old.outbox_items()
        before_packages = [old.get_package(f"p-{n}") for n in range(5)]
    finally:
        old.close()
    assert len(before_audit) >= 5 and len(before_outbox) == 5

    store = open_store(store_settings)  # what `db upgrade` and `serve` do
    try:
        assert store.schema_version() == store.latest_schema_version() >= 10
        assert list(store.audit_records(0, 1000)) == before_audit
        assert store.outbox_items() == before_outbox
        assert [store.get_package(f"p-{n}") for n in range(5)] == before_packages
        report = verify(store.audit_records(0, 1000))
        assert report.ok and report.count == len(before_audit)
        assert store.upstream_health() == []
        store.record_upstream_contact("national", False, 5_000_000, "T.Relay: down")
        store.record_upstream_contact("national", False, 6_000_000, "T.Relay: still down")
        [seen] = store.upstream_health()
        assert (seen.failing_since, seen.last_failure_at, seen.last_error) == (
            5_000_000,
            6_000_000,
            "T.Relay: still down",
        )
        store.record_upstream_contact("national", True, 7_000_000)
        [seen] = store.upstream_health()
        assert (seen.failing_since, seen.last_ok_at) == (0, 7_000_000)
    finally:
        store.close()
