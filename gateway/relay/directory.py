"""The agency directory: which agencies are reached through which upstream.

Local agencies are the ones with a mailbox here (the store's ``agencies`` table); this module
keeps the others, as the upstreams list them (``getAgenciesList`` / ``getAgenciesListQD20``,
both code forms kept as given, never converted), plus entries an operator adds. A sync upserts:
it never deletes an entry and never touches a local agency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.edxml.agency import is_valid_agency_code
from gateway.relay.connector import Connector, RemoteAgency
from gateway.store.base import RoutingStore
from gateway.store.records import DirectoryEntry

__all__ = ["DirectoryEntry", "SyncResult", "add_entry", "entries_from_remote", "sync_directory"]


@dataclass(frozen=True, slots=True)
class SyncResult:
    upstream: str
    listed: int
    added: int
    updated: int
    skipped: tuple[str, ...]
    """Listed agencies whose codes are not valid in either form (reported, not stored)."""


def entries_from_remote(
    agencies: Iterable[RemoteAgency], upstream: str
) -> tuple[list[DirectoryEntry], list[str]]:
    """Directory entries for an upstream's listing, and the codes that had to be skipped.

    The primary key is the QCVN 102 code; an agency the upstream lists only in the QĐ 20 form
    is keyed by that code. The same agency listed twice (one call per form) is merged.
    """
    merged: dict[str, DirectoryEntry] = {}
    skipped: list[str] = []
    for a in agencies:
        code, qd20 = a.code.strip(), a.code_qd20.strip()
        key = code or qd20
        if not key or not is_valid_agency_code(key) or (qd20 and not is_valid_agency_code(qd20)):
            skipped.append(key or a.name or "(no code)")
            continue
        known = merged.get(key)
        merged[key] = DirectoryEntry(
            code=key,
            upstream=upstream,
            name=a.name or (known.name if known else ""),
            code_qd20=qd20 or (known.code_qd20 if known else ""),
            email=a.email or (known.email if known else ""),
            parent=a.parent or (known.parent if known else ""),
            kind="upstream",
            source="sync",
        )
    return list(merged.values()), skipped


def sync_directory(
    store: RoutingStore, connector: Connector, upstream: str, now: int
) -> SyncResult:
    """Import an upstream's agency list (one transaction; audited as ``directory.synced``)."""
    listed = list(connector.agencies())
    entries, skipped = entries_from_remote(listed, upstream)
    added, updated = store.upsert_directory(entries, now, "relay")
    return SyncResult(upstream, len(listed), added, updated, tuple(skipped))


def add_entry(
    store: RoutingStore, entry: DirectoryEntry, now: int, actor: str = "operator"
) -> None:
    """An operator's entry (a peer gateway, an agency missing from the upstream's list)."""
    from gateway.errors import BadRequest

    for code in (entry.code, entry.code_qd20):
        if code and not is_valid_agency_code(code):
            raise BadRequest("M.AgencyCode", f"{code!r} is not a valid agency code in either form")
    if entry.kind not in ("upstream", "peer"):
        raise BadRequest("R.Directory.Kind", "kind must be upstream or peer")
    if store.get_agency(entry.code) is not None:
        raise BadRequest(
            "R.Directory.Local", f"{entry.code} has a mailbox here: it is a local agency"
        )
    store.upsert_directory([entry], now, actor)
