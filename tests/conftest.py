"""Shared fixtures: a real blob store in tmp_path, the shared samples, minimal valid packages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # ``tests.fixtures`` and ``gateway`` without PYTHONPATH
    sys.path.insert(0, str(REPO_ROOT))

from gateway.edxml.model import DocumentPackage, StatusPackage  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402
from tests.fixtures.packages import MINIMAL_PDF, build_document, build_status  # noqa: E402

SAMPLES_DIR = REPO_ROOT.parent / "shared" / "samples"


@pytest.fixture
def blob_store(tmp_path: Path) -> FileBlobStore:
    """A real, non-durable (no fsync) content-addressed store under this test's tmp_path."""
    return FileBlobStore(tmp_path / "blobs", durable=False)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """``../shared/samples`` next to the repository; skipped locally if absent, fatal on CI."""
    if not SAMPLES_DIR.is_dir():
        reason = (
            f"shared edXML samples not found at {SAMPLES_DIR} "
            "(expected ../shared/samples next to the repository)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the sample tests, not skip them")
        pytest.skip(reason)
    return SAMPLES_DIR


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
