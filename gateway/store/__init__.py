"""Durable state: the SQL store (SQLite by default, PostgreSQL by DSN) and the blob store."""

from __future__ import annotations

from gateway.config import BlobBackend, Settings
from gateway.store.base import Store
from gateway.store.blobs import BlobStore, FileBlobStore
from gateway.store.blobs_inline import InlineBlobStore, InlineBlobTable
from gateway.store.blobs_pg import PostgresBlobStore
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore


def _dialect(settings: Settings) -> SqliteDialect | PostgresDialect:
    if settings.uses_postgres:
        return PostgresDialect(settings.database_dsn)
    return SqliteDialect(settings.sqlite_path)


def open_store(settings: Settings) -> Store:
    """The configured database, migrated to the current schema."""
    store = SqlStore(_dialect(settings))
    store.migrate()
    return store


def open_blobs(settings: Settings) -> BlobStore:
    """The configured blobs: those up to ``inline_blob_bytes`` in the database (open the store
    first: it migrates), the rest in ``blob_backend``; scratch files from a crash cleaned."""
    backend: BlobStore
    if settings.blob_backend is BlobBackend.POSTGRES:
        backend = PostgresBlobStore(settings.database_dsn, settings.scratch_dir)
    else:
        backend = FileBlobStore(settings.blob_dir, durable=True)
    table = InlineBlobTable(_dialect(settings))
    blobs = InlineBlobStore(backend, table, settings.inline_blob_bytes)
    blobs.clean_temporary()
    return blobs


__all__ = [
    "BlobStore",
    "FileBlobStore",
    "InlineBlobStore",
    "PostgresBlobStore",
    "SqlStore",
    "Store",
    "open_blobs",
    "open_store",
]
