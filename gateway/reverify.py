"""Re-verify the signatures of accepted packages on the bytes kept as received.

A verdict is given on arrival with the trust configuration of that day. Later an operator adds
a CA that was missing, a CA turns out to be compromised, or an auditor asks whether a document
still verifies: the signature is checked again on the raw received bytes (kept in the blob
store, their SHA-256 in the signed receipt) with the trust configuration in force now. The new
verdict is stored beside the original one, never over it, and the audit log gets a
``package.reverified`` record in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from gateway.errors import NotFound
from gateway.exchange import Exchange
from gateway.store.base import SignatureCheck, StoredPackage, from_micros, to_micros

PAGE = 500

NO_RAW_BUILT = "built by the gateway from fields: there are no received bytes to re-verify"
NO_RAW_OLD = "received before raw bytes were kept (schema 5): cannot re-verify"
NO_RAW_TRANSLATED = (
    "translated from the legacy eDoc dialect, which carries no XML signature (the request, "
    "which holds the agency's secret, is not kept): nothing to re-verify"
)
_NO_RAW = {"built": ("built", NO_RAW_BUILT), "translated": ("translated", NO_RAW_TRANSLATED)}


@dataclass(frozen=True, slots=True)
class Reverification:
    """One package's outcome: a new verdict, or why there is none."""

    package_id: str
    sender: str
    received_at: dt.datetime
    original: str
    """The verdict given on arrival."""
    previous: str
    """The verdict in force before this run (the latest re-verification, else the original)."""
    status: str
    """The new verdict; empty when the package could not be re-verified (see ``note``)."""
    trust_domain: str
    note: str
    """The verdict's reason, or why nothing was checked."""
    raw: str = "kept"
    """The received bytes: ``kept``, ``built`` (none: the gateway built the package),
    ``translated`` (none: a legacy eDoc request, never kept), ``old`` (none: accepted before
    they were kept) or ``missing`` (the blob is gone: investigate)."""

    @property
    def checked(self) -> bool:
        return bool(self.status)

    @property
    def changed(self) -> bool:
        return self.checked and self.status != self.previous

    @property
    def became_invalid(self) -> bool:
        return self.changed and self.status == "invalid"

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "package_id": self.package_id,
            "sender": self.sender,
            "received_at": self.received_at.isoformat(),
            "original": self.original,
            "previous": self.previous,
            "status": self.status,
            "changed": self.changed,
            "trust_domain": self.trust_domain,
            "note": self.note,
            "raw": self.raw,
        }


def select(
    exchange: Exchange, package_ids: Iterable[str] = (), since: dt.datetime | None = None
) -> Iterator[StoredPackage]:
    """The named packages, or every package received since ``since`` (all when None)."""
    ids = list(package_ids)
    if ids:
        for package_id in ids:
            stored = exchange.store.get_package(package_id)
            if stored is None:
                raise NotFound("N.Package", f"no package {package_id} is stored here")
            yield stored
        return
    start = to_micros(since) if since is not None else 0
    after: tuple[int, str] | None = None
    while page := exchange.store.packages_received(start, after, PAGE):
        yield from page
        after = (page[-1].received_at, page[-1].package_id)


def reverify(
    exchange: Exchange, packages: Iterable[StoredPackage], *, actor: str = "operator"
) -> Iterator[Reverification]:
    """Check each package's kept bytes again and record every new verdict (with its audit
    record) as it goes, so an interrupted run keeps what it did."""
    for stored in packages:
        original = str(json.loads(stored.signature_json).get("status", ""))
        history = exchange.store.signature_checks(stored.package_id)
        previous = history[-1].status if history else original
        domain = exchange.trust.domain_name(stored.sender) or ""
        base = Reverification(
            stored.package_id,
            stored.sender,
            from_micros(stored.received_at),
            original,
            previous,
            "",
            domain,
            "",
        )
        if not stored.raw_sha256:
            raw, note = _NO_RAW.get(stored.origin, ("old", NO_RAW_OLD))
            yield replace(base, note=note, raw=raw)
            continue
        if not exchange.blobs.contains(stored.raw_sha256):
            missing = f"the kept raw bytes (blob {stored.raw_sha256}) are missing"
            yield replace(base, note=missing, raw="missing")
            continue
        with exchange.blobs.local_copy(stored.raw_sha256) as raw_path:
            result = exchange.verify_signature(stored.sender, raw_path)
        record = exchange.store.record_signature_check(
            SignatureCheck(
                seq=0,
                package_id=stored.package_id,
                checked_at=to_micros(exchange.clock()),
                status=result.status.value,
                previous_status=previous,
                trust_domain=domain,
                signature_json=json.dumps(result.as_dict(), ensure_ascii=False),
            ),
            actor,
            {
                "original_status": original,
                "raw_sha256": stored.raw_sha256,
                "reason": result.reason,
            },
        )
        yield replace(base, status=record.status, note=result.reason)

