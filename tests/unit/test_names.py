"""Attachment names handed out as file names never leave the client's directory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.edxml.names import MAX_NAME_BYTES, safe_file_name, with_safe_names
from gateway.store.blobs import FileBlobStore
from tests.fixtures.packages import build_document


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/x.pdf", "x.pdf"),
        ("/etc/passwd", "passwd"),
        ("C:\\Windows\\evil.pdf", "evil.pdf"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("  .hidden ", "hidden"),
        ("", "attachment-1"),
        ("..", "attachment-1"),
        ("a/", "attachment-1"),
        ("tên tệp.pdf", "tên tệp.pdf"),
        ("Công văn: số 12?.pdf", "Công văn_ số 12_.pdf"),
        ("bad\x00name\x1f.doc", "bad_name_.doc"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("report.pdf. . ", "report.pdf"),
    ],
)
def test_safe_file_name(name: str, expected: str) -> None:
    assert safe_file_name(name, "attachment-1") == expected


def test_long_names_keep_their_extension_within_the_byte_budget() -> None:
    name = "Quyết định " * 40 + ".docx"
    safe = safe_file_name(name)
    assert safe.endswith(".docx") and len(safe.encode()) <= MAX_NAME_BYTES
    safe.encode().decode("utf-8")  # never a cut inside a character


def test_with_safe_names_changes_only_unsafe_names(blob_store: FileBlobStore) -> None:
    pkg = build_document(blob_store, b"%PDF-1.4 x")
    assert with_safe_names(pkg) is pkg
    evil = replace(pkg, attachments=(replace(pkg.attachments[0], name="../../etc/x.pdf"),))
    safe = with_safe_names(evil)
    assert safe.attachments[0].name == "x.pdf"
    assert evil.attachments[0].name == "../../etc/x.pdf"  # the original is untouched
