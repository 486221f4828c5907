"""docs/configuration.md documents every key, as the settings' field docstrings say it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from gateway import config, configdoc

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_every_key_has_a_docstring() -> None:
    assert configdoc.undocumented() == []


def test_the_reference_matches_the_docstrings() -> None:
    text = DOC.read_text("utf-8")
    assert configdoc.update(text) == text, (
        "docs/configuration.md is out of date: run `python -m gateway.configdoc`"
    )


def test_every_key_and_table_is_in_the_document() -> None:
    text = DOC.read_text("utf-8")
    for cls, _, _table in configdoc.TABLES:
        for f in dataclasses.fields(cls):
            if "table" in f.metadata:
                assert f"[[{f.metadata['table']}]]" in text or f"[{f.metadata['table']}]" in text
            else:
                assert re.search(rf"^\| `{f.name}` \|", text, re.M), f.name
    for key in ("relay_max_attempts", "relay_max_age_hours", "relay_backoff_base_seconds",
                "relay_backoff_max_seconds", "relay_circuit_failures",
                "relay_circuit_cooldown_seconds", "relay_concurrency", "directory_sync_minutes",
                "master_key_file"):  # fmt: skip
        assert f"| `{key}` |" in text


def test_a_changed_docstring_makes_the_document_stale() -> None:
    text = DOC.read_text("utf-8")
    docs = configdoc.field_docs(config.Settings)
    assert docs["port"] in text
    stale = text.replace(docs["port"], "Some other meaning.")
    assert configdoc.update(stale) != stale
