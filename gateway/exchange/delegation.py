"""Delegated agencies: who may act for whom (a national-axis centre for its units), and the
registering and disabling of the agencies under a parent."""

from __future__ import annotations

import logging

from gateway.edxml.agency import check_registrable
from gateway.errors import BadRequest, NotFound, PermissionDenied
from gateway.exchange.parts import Parts
from gateway.exchange.types import MAX_DELEGATION_DEPTH, MAX_MAILBOXES
from gateway.store.base import AgencyRecord

log = logging.getLogger(__name__)


class Delegation:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def acts_for(self, agency: str, code: str) -> bool:
        """Whether ``agency`` may act as ``code``: itself, or an enabled agency registered under
        it (directly or further down), as a national-axis centre acts for its units."""
        if code == agency:
            return True
        store = self._parts.store
        record = store.get_agency(code)
        for _ in range(MAX_DELEGATION_DEPTH):
            if record is None or not record.enabled or not record.parent:
                return False
            if record.parent == agency:
                return True
            record = store.get_agency(record.parent)
        return False

    def mailboxes(self, agency: str) -> tuple[str, ...]:
        """The agency and every enabled agency it acts for, nearest first."""
        found = [agency]
        index = 0
        while index < len(found) and index < MAX_DELEGATION_DEPTH * MAX_MAILBOXES:
            for child in self._parts.store.agency_children(found[index]):
                if child.enabled and child.code not in found and len(found) < MAX_MAILBOXES:
                    found.append(child.code)
            index += 1
        return tuple(found)

    def register_child(
        self, agency: str, code: str, name: str, email: str = "", parent: str = ""
    ) -> AgencyRecord:
        """Register ``code`` under ``parent`` (the agency itself or one it acts for). The child
        may then be acted for by its parents; registering it again under the same parent
        enables it again."""
        parts = self._parts
        parts.agency(agency)
        parent = parent or agency
        if not self.acts_for(agency, parent):
            raise PermissionDenied(
                "R.Agency.Parent", f"{parent} is not {agency} or an agency registered under it"
            )
        text = check_registrable(code, path="code")
        existing = parts.store.get_agency(text)
        if existing is None:
            record, _secret = parts.credentials.add_agency(
                text, name, email, parts.clock(), parent=parent
            )
            log.info("agency %s registered under %s by %s", text, parent, agency)
            return record
        if existing.parent != parent:
            raise PermissionDenied(
                "R.Agency.Exists",
                f"agency {text} is already registered here"
                + (f" under {existing.parent}" if existing.parent else "")
                + f", not under {parent}",
            )
        if not existing.enabled:
            log.info("agency %s enabled again under %s by %s", text, parent, agency)
            return parts.credentials.set_enabled(text, True, parts.clock())
        return existing

    def disable_child(self, agency: str, code: str) -> AgencyRecord:
        """Disable an agency registered under this one (or further down); its mail is kept."""
        parts = self._parts
        parts.agency(agency)
        record = parts.store.get_agency(code.strip())
        if (
            record is None
            or record.code == agency
            or not record.parent
            or not self.acts_for(agency, record.parent)
        ):
            raise NotFound("N.Agency", f"no agency {code} is registered under {agency}")
        if not record.enabled:
            return record
        if any(child.enabled for child in parts.store.agency_children(record.code)):
            raise BadRequest(
                "R.Agency.Children", f"{record.code} still has enabled agencies registered under it"
            )
        log.info("agency %s disabled by %s", record.code, agency)
        return parts.credentials.set_enabled(record.code, False, parts.clock())
