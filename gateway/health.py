"""Health: can the gateway do its job, and what needs an operator's attention soon.

``edoc-gateway health`` prints this (``--json`` for monitoring) and exits 1 when a check fails.
Certificate expiry is reported ahead of time: the gateway's own signing certificate
``certificate_expiry_warning_days`` ahead, each trust domain's anchors and intermediates its
``expiry_warning_days`` ahead; every domain is listed with each anchor's expiry date.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from gateway import __version__
from gateway.config import Settings
from gateway.security.certificates import TrustStore, expiring, load_certificates
from gateway.security.keys import signing_material
from gateway.store import open_blobs, open_store
from gateway.trust import SenderTrust


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Health:
    version: str
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trust_domains: list[dict[str, Any]] = field(default_factory=list)
    """Each trust domain: revocation mode, senders mapped to it, its anchors and their expiry."""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "checks": [check.__dict__ for check in self.checks],
            "warnings": self.warnings,
            "trust_domains": self.trust_domains,
        }


def check(settings: Settings, *, at: dt.datetime | None = None) -> Health:
    """Run every check; a failing one is reported, never raised."""
    health = Health(__version__)
    try:
        store = open_store(settings)
        try:
            version = store.schema_version()
            last = store.audit_records(0, 1)
            health.checks.append(Check("database", True, f"schema version {version}"))
            health.checks.append(
                Check("audit log", True, "records present" if last else "empty (no activity)")
            )
        finally:
            store.close()
    except Exception as exc:
        health.checks.append(Check("database", False, f"{type(exc).__name__}: {exc}"))
    try:
        blobs = open_blobs(settings)
        probe = blobs.put_bytes(b"edoc-gateway health probe\n")
        health.checks.append(
            Check(
                "blob store", os.access(blobs.root, os.W_OK), f"{blobs.root} ({probe.sha256[:12]}…)"
            )
        )
    except Exception as exc:
        health.checks.append(Check("blob store", False, f"{type(exc).__name__}: {exc}"))
    try:
        _key, certificate_file = signing_material(settings)
        own = load_certificates(certificate_file)
        trust = SenderTrust(settings, own_certificates=own)
        store_of_trust: TrustStore = trust.store
        anchors = [a for d in store_of_trust.domains.values() for a in d.anchors]
        soon = expiring(store_of_trust, at=at)  # each domain's own warning period
        expired = [w for w in soon if w.expired]
        health.checks.append(
            Check(
                "certificates",
                not expired,
                f"signing certificate {certificate_file}; {len(anchors)} trust anchor(s) in "
                f"{len(store_of_trust.domains)} trust domain(s)",
            )
        )
        _list_domains(health, trust, settings, at)
        for warning in soon:
            state = "EXPIRED" if warning.expired else f"expires in {warning.days_left} day(s)"
            health.warnings.append(
                f"{warning.role} {warning.subject}: {state} "
                f"({warning.not_after:%Y-%m-%d}, sha256 {warning.fingerprint_sha256[:16]}…)"
            )
    except Exception as exc:
        health.checks.append(Check("certificates", False, f"{type(exc).__name__}: {exc}"))
    return health


def _list_domains(
    health: Health, trust: SenderTrust, settings: Settings, at: dt.datetime | None
) -> None:
    """One check per trust domain naming each anchor's expiry; an expired anchor fails it."""
    now = at or dt.datetime.now(dt.UTC)
    senders: dict[str, list[str]] = {}
    if settings.trust_store_dir is not None:
        senders.setdefault("default", []).append("*")
    for pattern, name in settings.trust_senders:
        senders.setdefault(name, []).append(pattern)
    for domain in trust.store.domains.values():
        ordered = sorted(domain.anchors, key=lambda c: c.not_valid_after_utc)
        days = [(cert.not_valid_after_utc - now).days for cert in ordered]
        health.trust_domains.append(
            {
                "name": domain.name,
                "revocation": domain.revocation,
                "senders": senders.get(domain.name, []),
                "anchors": [
                    {
                        "subject": cert.subject.rfc4514_string(),
                        "not_after": cert.not_valid_after_utc.isoformat(),
                        "days_left": left,
                    }
                    for cert, left in zip(ordered, days, strict=True)
                ],
            }
        )
        listed = "; ".join(
            f"{cert.subject.rfc4514_string()} until {cert.not_valid_after_utc:%Y-%m-%d}"
            + (" (EXPIRED)" if left < 0 else "")
            for cert, left in zip(ordered, days, strict=True)
        )
        mapped = ", ".join(senders.get(domain.name, [])) or "no sender"
        health.checks.append(
            Check(
                f"trust domain {domain.name}",
                all(left >= 0 for left in days),
                f"revocation {domain.revocation}, for {mapped}: {listed}",
            )
        )
