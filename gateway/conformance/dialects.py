"""The dialects the kit can test: how to connect, and which modules hold their assertions.

Adding a dialect (the legacy eDoc SOAP dialect) is one entry here: a ``connect`` function that
returns a :class:`~gateway.conformance.session.Session` whose drivers speak it, and the modules
whose ``@assertion(..., dialect=...)`` functions check it. The runner never changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from gateway.conformance.exchanges import ExchangeLog
from gateway.conformance.session import RunConfig, Session

Connect = Callable[[RunConfig, ExchangeLog, Path], Session]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    description: str
    connect: str
    """``module:function`` of the :data:`Connect` callable (imported only when used)."""
    modules: tuple[str, ...]
    """Modules registering this dialect's assertions."""

    def load(self) -> Connect:
        for module in self.modules:
            importlib.import_module(module)
        module_name, _, name = self.connect.partition(":")
        return cast(Connect, getattr(importlib.import_module(module_name), name))


DIALECTS: dict[str, Dialect] = {
    "modern": Dialect(
        "modern",
        "the SOAP service at /soap/v1 (WSDL wsdl/edoc-gateway.wsdl), SOAP 1.1 and 1.2",
        "gateway.conformance.checks.modern_session:connect",
        (
            "gateway.conformance.checks.modern_contract",
            "gateway.conformance.checks.modern_exchange",
            "gateway.conformance.checks.modern_statuses",
            "gateway.conformance.checks.modern_security",
            "gateway.conformance.checks.modern_large",
        ),
    ),
    "legacy": Dialect(
        "legacy",
        "the eDoc SOAP dialect at /legacy/edoc (reference §5; WSDL wsdl/edoc-legacy.wsdl)",
        "gateway.conformance.checks.legacy_session:connect",
        ("gateway.conformance.checks.legacy_checks",),
    ),
}
