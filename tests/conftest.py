"""Shared fixtures: a real blob store in tmp_path, the shared samples, minimal valid packages."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # ``tests.fixtures`` and ``gateway`` without PYTHONPATH
    sys.path.insert(0, str(REPO_ROOT))

from gateway.edxml.model import DocumentPackage, StatusPackage  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402
from tests.fixtures.packages import MINIMAL_PDF, build_document, build_status  # noqa: E402
from tests.fixtures.samples import require_samples  # noqa: E402


@pytest.fixture
def blob_store(tmp_path: Path) -> FileBlobStore:
    """A real, non-durable (no fsync) content-addressed store under this test's tmp_path."""
    return FileBlobStore(tmp_path / "blobs", durable=False)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real samples' directory (tests/fixtures/samples.py); skipped locally if absent,
    fatal on CI."""
    return require_samples()


@pytest.fixture
def make_document(blob_store: FileBlobStore) -> Callable[..., DocumentPackage]:
    """Factory: ``make_document(content=b"...", name=..., subject=...)`` in ``blob_store``."""

    def factory(content: bytes = MINIMAL_PDF, **kwargs: Any) -> DocumentPackage:
        return build_document(blob_store, content, **kwargs)

    return factory


@pytest.fixture
def minimal_document(make_document: Callable[..., DocumentPackage]) -> DocumentPackage:
    """A valid document package with one small PDF attachment in ``blob_store``."""
    return make_document()


@pytest.fixture
def make_status() -> Callable[..., StatusPackage]:
    return build_status


@pytest.fixture
def minimal_status() -> StatusPackage:
    """A valid STATUS 01 package answering the minimal document."""
    return build_status()


POSTGRES_DSN_VARIABLE = "GATEWAY_TEST_POSTGRES_DSN"


def _postgres_dsn() -> str:
    dsn = os.environ.get(POSTGRES_DSN_VARIABLE, "")
    if not dsn:
        reason = f"{POSTGRES_DSN_VARIABLE} is not set: PostgreSQL tests need a server"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run sets it and CI must not skip these tests")
        pytest.skip(reason)
    return dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Gateway settings on a fresh database: a SQLite file, or a new PostgreSQL schema.

    Each PostgreSQL test gets its own schema (dropped afterwards), so tests never see each
    other's rows and can run against CI's shared ``test`` database.
    """
    from gateway.config import Settings

    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "data")
        return
    with postgres_schema() as scoped:
        yield Settings(data_dir=tmp_path / "data", database_dsn=scoped)


@pytest.fixture
def postgres_dsn() -> Any:
    """A DSN on a new PostgreSQL schema of its own (dropped afterwards)."""
    with postgres_schema() as scoped:
        yield scoped


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test server, as a DSN whose search_path is that schema."""
    import uuid
    from urllib.parse import quote

    import psycopg

    dsn = _postgres_dsn()
    schema = f"edoc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in dsn else "?"
    scoped = f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield scoped
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
