"""Durable state: the SQL store (SQLite by default, PostgreSQL by DSN) and the blob store."""

from __future__ import annotations

from gateway.config import BlobBackend, Settings
from gateway.store.base import Store
from gateway.store.blobs import BlobStore, FileBlobStore
from gateway.store.blobs_pg import PostgresBlobStore
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore


def open_store(settings: Settings) -> Store:
    """The configured database, migrated to the current schema."""
    dialect: SqliteDialect | PostgresDialect
    if settings.uses_postgres:
        dialect = PostgresDialect(settings.database_dsn)
    else:
        dialect = SqliteDialect(settings.sqlite_path)
    store = SqlStore(dialect)
    store.migrate()
    return store


def open_blobs(settings: Settings) -> BlobStore:
    """The configured blob backend (``blob_backend``); its scratch files from a crash cleaned."""
    blobs: BlobStore
    if settings.blob_backend is BlobBackend.POSTGRES:
        blobs = PostgresBlobStore(settings.database_dsn, settings.scratch_dir)
    else:
        blobs = FileBlobStore(settings.blob_dir, durable=True)
    blobs.clean_temporary()
    return blobs


__all__ = [
    "BlobStore",
    "FileBlobStore",
    "PostgresBlobStore",
    "SqlStore",
    "Store",
    "open_blobs",
    "open_store",
]
