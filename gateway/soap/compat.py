"""Make spyne 2.14 (its last release, 2022) import on Python 3.12/3.13 and decode base64 fast.

Import this module before anything imports spyne (``gateway.soap`` does it first).

1. spyne vendors six 1.14, whose ``spyne.util.six.moves`` importer implements only the
   ``find_module`` protocol that Python 3.12 removed, so ``import spyne`` fails there. A finder
   placed first in ``sys.meta_path`` answers ``find_spec`` for those names and delegates the
   actual loading to six's own importer. (On 3.13 spyne also needs the ``cgi`` module back: the
   ``legacy-cgi`` distribution, declared in pyproject.toml.)
2. ``ByteArray.from_base64`` joins the base64 *string* one character at a time: most of the time
   of a 1 MB request, and ~15x the payload in memory. :func:`decode_base64` replaces it.
"""

from __future__ import annotations

import binascii
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

import pybase64

_SIX_MOVES = "spyne.util.six.moves"


class _SixMovesLoader(importlib.abc.Loader):
    """Hands out the module six's own importer builds; there is nothing to execute."""

    def __init__(self, importer: Any) -> None:
        self.importer = importer

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module: ModuleType = self.importer.load_module(spec.name)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """six's importer returns a ready module: executing it again is not needed."""


class _SixMovesFinder(importlib.abc.MetaPathFinder):
    """``find_spec`` for ``spyne.util.six.moves*``, answered by the vendored six importer."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_SIX_MOVES):
            return None
        # six appends its importer to sys.meta_path when ``spyne.util.six`` is executed, which
        # always happens before anything imports one of its ``moves`` modules.
        importer: Any
        for importer in sys.meta_path:
            known = getattr(importer, "known_modules", None)
            if isinstance(known, dict) and fullname in known:
                loader = _SixMovesLoader(importer)
                return importlib.machinery.ModuleSpec(
                    fullname, loader, is_package=importer.is_package(fullname)
                )
        return None


if not any(isinstance(finder, _SixMovesFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _SixMovesFinder())

# Imported only now: spyne needs the finder above. The modules that import the stdlib ``cgi``
# (deprecated since 3.11; legacy-cgi on 3.13) are loaded here, its warning silenced: a known
# dependency of a frozen library, not news for every run.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    import spyne.protocol.soap
    import spyne.server.wsgi  # noqa: F401
from spyne.error import ValidationError  # noqa: E402
from spyne.model import binary as _binary  # noqa: E402

_WHITESPACE = b" \t\r\n"


def decode_base64(value: str | bytes | list[str | bytes] | tuple[str | bytes, ...]) -> tuple[bytes]:
    """Decode ``xs:base64Binary`` text in C, strictly (whitespace allowed, nothing else).

    Returns a 1-tuple, as spyne's decoding handlers do. Broken input is a client error, reported
    without echoing the (possibly huge) value back.
    """
    parts = value if isinstance(value, list | tuple) else (value,)
    try:
        data = b"".join(p.encode("ascii") if isinstance(p, str) else p for p in parts)
        try:
            return (pybase64.b64decode(data, validate=True),)
        except binascii.Error:
            # Line breaks (every 76 characters, as MIME encoders write) are legal here.
            return (pybase64.b64decode(data.translate(None, _WHITESPACE), validate=True),)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise ValidationError(None, "The base64Binary value is not valid base64.") from None


# The handler table captured the original classmethod at import time: replace both.
_binary.ByteArray.from_base64 = classmethod(lambda cls, value: decode_base64(value))
_binary.binary_decoding_handlers[_binary.BINARY_ENCODING_BASE64] = decode_base64
