"""Routing decisions: for each recipient, a local mailbox or the upstream that reaches it.

Order (reference §5.6, DESIGN §2): an enabled local agency; an exact code in the agency
directory (either code form); the configured ``[[route]]`` rules in order; the default upstream.
A recipient none of these reaches is refused at send time with ``R.MessageHeader.To.OrganId``:
a package is never accepted for a recipient it cannot reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import RouteRule, Settings
from gateway.edxml.agency import AgencyCode, parse_agency_code
from gateway.errors import Finding, InvalidAgencyCode, InvalidPackage
from gateway.store.base import RoutingStore

LOCAL = ""
"""The ``upstream`` of a local destination."""


@dataclass(frozen=True, slots=True)
class Destination:
    upstream: str
    """The upstream's name; :data:`LOCAL` for a mailbox here."""
    reason: str
    """How it was decided (``local agency``, ``directory``, ``route ...``, ``default upstream``)."""

    @property
    def local(self) -> bool:
        return self.upstream == LOCAL


@dataclass(frozen=True, slots=True)
class Route:
    """A package's recipients split by destination, each list in the package's order."""

    local: tuple[str, ...] = ()
    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def external(self) -> tuple[str, ...]:
        return tuple(code for codes in self.upstreams.values() for code in codes)


class Router:
    def __init__(self, settings: Settings, store: RoutingStore) -> None:
        self.settings = settings
        self.store = store
        self.upstream_names = frozenset(u.name for u in settings.upstreams)

    def resolve(self, code: str) -> Destination | None:
        """Where ``code`` is reached, or None when nothing reaches it (or it is disabled here)."""
        record = self.store.get_agency(code)
        if record is not None:
            return Destination(LOCAL, "local agency") if record.enabled else None
        if not self.upstream_names:
            return None
        entry = self.store.directory_entry(code)
        if entry is not None and entry.upstream in self.upstream_names:
            return Destination(entry.upstream, f"directory ({entry.source})")
        parsed: AgencyCode | None
        try:
            parsed = parse_agency_code(code)
        except InvalidAgencyCode:
            parsed = None
        for rule in self.settings.routes:
            if _matches(rule, code, parsed):
                return Destination(rule.upstream, f"route {rule.describe()}")
        if self.settings.default_upstream:
            return Destination(self.settings.default_upstream, "default upstream")
        return None

    def route(self, codes: list[str], path: str) -> Route:
        """Split recipients by destination, or refuse the package naming every unreachable one."""
        local: list[str] = []
        upstreams: dict[str, list[str]] = {}
        findings: list[Finding] = []
        for index, code in enumerate(codes, start=1):
            destination = self.resolve(code)
            if destination is None:
                where = f"{path}[{index}]/OrganId" if len(codes) > 1 else f"{path}/OrganId"
                findings.append(Finding("R.MessageHeader.To.OrganId", where, self._unknown(code)))
            elif destination.local:
                local.append(code)
            else:
                upstreams.setdefault(destination.upstream, []).append(code)
        if findings:
            raise InvalidPackage(findings)
        return Route(
            tuple(dict.fromkeys(local)),
            {name: tuple(dict.fromkeys(found)) for name, found in upstreams.items()},
        )

    def _unknown(self, code: str) -> str:
        text = f"no agency {code} has a mailbox here (unknown or disabled recipient)"
        if self.upstream_names:
            text += (
                " and no directory entry, [[route]] or default_upstream reaches it"
                if not self.settings.default_upstream
                else ""
            )
        return text


def _matches(rule: RouteRule, code: str, parsed: AgencyCode | None) -> bool:
    if rule.prefix and not code.startswith(rule.prefix):
        return False
    if rule.level1 and (parsed is None or parsed.level1 != rule.level1):
        return False
    return not (rule.level and (parsed is None or parsed.level != rule.level))
