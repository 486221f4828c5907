"""What an assertion is, and the registry every assertion module adds itself to.

An assertion is a function of a session that returns normally (pass) or raises :class:`Failed`,
:class:`Skipped` or :class:`NotApplicable`. Its id (``EDGW-SEND-001``) is stable across versions
so vendors can quote it; the group is the id's middle part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GROUPS = (
    "WSDL",
    "SEND",
    "PULL",
    "GET",
    "CONFIRM",
    "STATUS",
    "FLOW",
    "DUP",
    "AUTH",
    "ACCESS",
    "INPUT",
    "LARGE",
    "TRACE",
    "SOAP",
    "MIME",
    "ORG",
)
_ID = re.compile(r"^EDGW-(?:LEG-)?([A-Z]+)-\d{3}$")
"""``EDGW-SEND-001`` (modern) or ``EDGW-LEG-SEND-001`` (the legacy eDoc dialect)."""


class Failed(Exception):
    """The endpoint did not behave as the reference says; the message says how."""


class Skipped(Exception):
    """The assertion could not run here (e.g. no peer agency was given)."""


class NotApplicable(Skipped):
    """The assertion does not apply to this endpoint (e.g. its size limit is beyond reach);
    unlike a plain skip it does not count against a mandatory assertion."""


Check = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Assertion:
    id: str
    title: str
    """One line: what the endpoint must do."""
    section: str
    """Where the requirement comes from (reference section, WSDL, standard)."""
    mandatory: bool
    dialect: str
    check: Check = field(repr=False, compare=False)

    @property
    def group(self) -> str:
        match = _ID.match(self.id)
        assert match is not None
        return match.group(1)


class Registry:
    """Assertions by dialect, in registration order (the order they run in)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Assertion] = {}

    def add(self, item: Assertion) -> None:
        match = _ID.match(item.id)
        if match is None or match.group(1) not in GROUPS:
            raise ValueError(
                f"assertion id {item.id!r} is not EDGW-[LEG-]<GROUP>-NNN with a known group"
            )
        key = (item.dialect, item.id)
        if key in self._items:
            raise ValueError(f"assertion {item.id} is registered twice for {item.dialect}")
        self._items[key] = item

    def for_dialect(self, dialect: str) -> list[Assertion]:
        return [a for (d, _), a in self._items.items() if d == dialect]


REGISTRY = Registry()


def assertion(
    id: str, title: str, section: str, *, mandatory: bool = True, dialect: str = "modern"
) -> Callable[[Check], Check]:
    """Register the decorated check in :data:`REGISTRY`."""

    def decorate(check: Check) -> Check:
        REGISTRY.add(Assertion(id, title, section, mandatory, dialect, check))
        return check

    return decorate


def expect(condition: object, reason: str) -> None:
    """Fail with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise Failed(reason)
