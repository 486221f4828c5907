"""Durable state: the SQL store (SQLite by default, PostgreSQL by DSN) and the blob store."""

from __future__ import annotations

from gateway.config import Settings
from gateway.store.blobs import FileBlobStore
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore


def open_store(settings: Settings) -> SqlStore:
    """The configured database, migrated to the current schema."""
    dialect: SqliteDialect | PostgresDialect
    if settings.uses_postgres:
        dialect = PostgresDialect(settings.database_dsn)
    else:
        dialect = SqliteDialect(settings.sqlite_path)
    store = SqlStore(dialect)
    store.migrate()
    return store


def open_blobs(settings: Settings) -> FileBlobStore:
    blobs = FileBlobStore(settings.blob_dir, durable=True)
    blobs.clean_temporary()
    return blobs


__all__ = ["FileBlobStore", "SqlStore", "open_blobs", "open_store"]
