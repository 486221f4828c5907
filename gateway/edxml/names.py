"""Attachment names made safe to hand out as file names.

``AttachmentName`` is whatever the sender wrote: ``../../etc/x.pdf``, ``C:\\Windows\\x.pdf``,
``/etc/passwd``, control characters, a reserved Windows device name. A client that saves a file
under the name it is given must not be led out of its directory, so every face that hands a
name out uses :func:`safe_file_name`; the original stays in the package and the summaries
(``name``) for display.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from typing import overload

from gateway.edxml.model import DocumentPackage, Package, StatusPackage

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)
MAX_NAME_BYTES = 200
"""Bytes of UTF-8 (ext4 allows 255; a copy suffix such as ``-2`` must still fit)."""


def safe_file_name(name: str, fallback: str = "attachment") -> str:
    """The last path component of ``name`` with characters no filesystem accepts replaced.

    Vietnamese letters are kept (in NFC); directories, drive letters, leading dots and trailing
    dots or spaces are not; an empty or reserved result becomes ``fallback`` (or is prefixed
    with ``_``). The extension is kept when the name must be shortened.
    """
    text = unicodedata.normalize("NFC", name).replace("\\", "/")
    text = text.rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip().lstrip(".").rstrip(". ")
    if not text or set(text) <= {"_"}:
        return fallback
    if text.split(".", 1)[0].strip().lower() in _RESERVED:
        text = "_" + text
    return _shorten(text)


def _shorten(text: str) -> str:
    if len(text.encode()) <= MAX_NAME_BYTES:
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, dot, ext = text, "", ""
    budget = MAX_NAME_BYTES - len((dot + ext).encode())
    cut = stem.encode()[:budget].decode("utf-8", "ignore").rstrip(". ")
    return cut + dot + ext


@overload
def with_safe_names(pkg: DocumentPackage) -> DocumentPackage: ...
@overload
def with_safe_names(pkg: StatusPackage) -> StatusPackage: ...
@overload
def with_safe_names(pkg: Package) -> Package: ...


def with_safe_names(pkg: Package) -> Package:
    """``pkg`` with every AttachmentName made safe (the same object when all already are):
    what the gateway writes and hands out; the summary keeps the names as sent."""
    if not isinstance(pkg, DocumentPackage):
        return pkg
    attachments = tuple(
        replace(a, name=safe_file_name(a.name, f"attachment-{i}")) if a.name else a
        for i, a in enumerate(pkg.attachments, start=1)
    )
    references = tuple(
        replace(r, attachment_name=safe_file_name(r.attachment_name, f"attachment-{i}"))
        if r.attachment_name
        else r
        for i, r in enumerate(pkg.references, start=1)
    )
    if attachments == pkg.attachments and references == pkg.references:
        return pkg
    return replace(pkg, attachments=attachments, references=references)
