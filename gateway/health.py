"""Health: can the gateway do its job, and what needs an operator's attention soon.

``edoc-gateway health`` prints this (``--json`` for monitoring) and exits 1 when a check fails;
``/readyz`` answers the same checks over HTTP (``gateway.admin.probes``). Each check names what
failed: no data directory, no or an outdated database, a master key that does not derive the
issued secrets, no signing key, an unwritable blob store, dead letters, a package queued too
long, an upstream that has not answered for too long. The checks only read: a mistyped
``data_dir`` is reported, never created (with a new database and key) and called healthy.
Certificate expiry is reported ahead of time: the gateway's own signing certificate
``certificate_expiry_warning_days`` ahead, each trust domain's anchors and intermediates its
``expiry_warning_days`` ahead; every domain is listed with each anchor's expiry date.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from gateway import __version__
from gateway.config import BlobBackend, Settings
from gateway.errors import GatewayError
from gateway.security.certificates import TrustStore, expiring, load_certificates
from gateway.security.credentials import derive_secret, master_key_of, secret_hash
from gateway.security.keys import signing_material
from gateway.security.signatures import SigningKey
from gateway.store.base import Store, from_micros, to_micros
from gateway.store.blobs_pg import PostgresBlobStore
from gateway.store.sql import PostgresDialect, SqliteDialect, SqlStore
from gateway.trust import SenderTrust

SECOND = 1_000_000
_SAMPLED_AGENCIES = 5
"""Agencies whose stored secret hash the master key is checked against."""


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
    """Run every check; a failing one is reported, never raised. Nothing is created: a missing
    data directory, database, key or certificate is a failure, never made on the spot."""
    health = Health(__version__)
    now = at or dt.datetime.now(dt.UTC)
    if not settings.data_dir.is_dir():
        health.checks.append(
            Check(
                "data directory",
                False,
                f"{settings.data_dir} does not exist (a mistyped data_dir?); nothing was created",
            )
        )
    store = _database(settings, health)
    if store is not None:
        try:
            _master_key(settings, store, health)
            _relay(settings, store, health, now)
        finally:
            store.close()
    _blob_store(settings, health)
    _certificates(settings, health, at)
    return health


def _database(settings: Settings, health: Health) -> Store | None:
    """The database, opened as it is (never created, never migrated), if its schema is current."""
    dialect: SqliteDialect | PostgresDialect
    if settings.uses_postgres:
        dialect = PostgresDialect(settings.database_dsn)
        where = "PostgreSQL"
    else:
        if not settings.sqlite_path.is_file():
            health.checks.append(
                Check("database", False, f"no database at {settings.sqlite_path}")
            )
            return None
        dialect = SqliteDialect(settings.sqlite_path)
        where = str(settings.sqlite_path)
    store = SqlStore(dialect)
    try:
        version = store.existing_schema_version()
        wanted = store.latest_schema_version()
        if version is None or version < wanted:
            health.checks.append(
                Check(
                    "database",
                    False,
                    f"{where}: "
                    + ("no gateway schema" if version is None else f"schema version {version}")
                    + f", this release needs {wanted} (run `edoc-gateway db upgrade`)",
                )
            )
            store.close()
            return None
        last = store.audit_records(0, 1)
    except Exception as exc:
        health.checks.append(Check("database", False, f"{where}: {_why(exc)}"))
        store.close()
        return None
    health.checks.append(Check("database", True, f"{where}: schema version {version}"))
    health.checks.append(
        Check("audit log", True, "records present" if last else "empty (no activity)")
    )
    return store


def _master_key(settings: Settings, store: Store, health: Health) -> None:
    """The key (``master_key``, else its file) derives the secrets the agencies were issued
    (a few sampled)."""
    try:
        key = master_key_of(settings, create=False)
    except Exception as exc:
        health.checks.append(Check("master key", False, _why(exc)))
        return
    source = "master_key" if settings.master_key else str(settings.key_file)
    agencies = store.list_agencies()[:_SAMPLED_AGENCIES]
    wrong = [
        a.code
        for a in agencies
        if secret_hash(derive_secret(key, a.code, a.secret_version)) != a.secret_hash
    ]
    if wrong:
        detail = (
            f"{source} does not match the key the agency secrets were issued with "
            f"(checked {', '.join(wrong)}): every call would be refused"
        )
    elif agencies:
        detail = f"{source} matches {len(agencies)} sampled agency secret(s)"
    else:
        detail = f"{source} (no agency registered to check it against)"
    health.checks.append(Check("master key", not wrong, detail))


def _relay(settings: Settings, store: Store, health: Health, now: dt.datetime) -> None:
    """Dead letters, the oldest queued package, and upstreams that stopped answering."""
    depth = store.outbox_depth()
    dead = sum(d.count for d in depth if d.state == "dead")
    health.checks.append(
        Check(
            "dead letters",
            dead == 0,
            f"{dead} dead letter(s): `edoc-gateway queue list --state dead`, then retry or cancel"
            if dead
            else "none",
        )
    )
    queued = [d.oldest_created_at for d in depth if d.state == "queued" and d.oldest_created_at]
    limit = settings.health_oldest_queued_seconds
    if queued:
        age = (to_micros(now) - min(queued)) / SECOND
        health.checks.append(
            Check(
                "oldest queued package",
                age <= limit,
                f"queued {age:.0f} s ago (limit health_oldest_queued_seconds = {limit})",
            )
        )
    else:
        health.checks.append(Check("oldest queued package", True, "the outbox is empty"))
    contacts = {h.upstream: h for h in store.upstream_health()}
    down_limit = settings.health_upstream_down_seconds
    for upstream in settings.upstreams:
        seen = contacts.get(upstream.name)
        if seen is None:
            health.checks.append(
                Check(f"upstream {upstream.name}", True, "no contact recorded yet")
            )
            continue
        if not seen.failing_since:
            health.checks.append(
                Check(
                    f"upstream {upstream.name}",
                    True,
                    f"answering (last contact {from_micros(seen.last_ok_at):%Y-%m-%d %H:%M:%S})",
                )
            )
            continue
        down = (to_micros(now) - seen.failing_since) / SECOND
        health.checks.append(
            Check(
                f"upstream {upstream.name}",
                down <= down_limit,
                f"not answering for {down:.0f} s (limit health_upstream_down_seconds = "
                f"{down_limit}): {seen.last_error}",
            )
        )


def _blob_store(settings: Settings, health: Health) -> None:
    """The blob directory exists and takes a file (written and removed again); with
    ``blob_backend = "postgres"``, the blob tables answer."""
    if settings.blob_backend is BlobBackend.POSTGRES:
        _postgres_blobs(settings, health)
        return
    root = settings.blob_dir
    if not root.is_dir():
        health.checks.append(Check("blob store", False, f"no blob directory at {root}"))
        return
    scratch = root / "tmp" if (root / "tmp").is_dir() else root
    try:
        with tempfile.NamedTemporaryFile(dir=scratch, prefix="health-") as probe:
            probe.write(b"edoc-gateway health probe\n")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        health.checks.append(Check("blob store", False, f"{root} is not writable: {_why(exc)}"))
        return
    health.checks.append(Check("blob store", True, f"{root} is writable"))


def _postgres_blobs(settings: Settings, health: Health) -> None:
    scratch = settings.scratch_dir
    if not scratch.is_dir():
        health.checks.append(Check("blob store", False, f"no scratch directory at {scratch}"))
        return
    try:
        blobs = PostgresBlobStore(settings.database_dsn, scratch)
        try:
            blobs.contains("0" * 64)  # a read of the blob table: reachable and migrated
            where = blobs.location
        finally:
            blobs.close()
    except Exception as exc:
        health.checks.append(Check("blob store", False, f"PostgreSQL blobs: {_why(exc)}"))
        return
    health.checks.append(Check("blob store", True, f"{where} answers"))


def _certificates(settings: Settings, health: Health, at: dt.datetime | None) -> None:
    try:
        key_file, certificate_file = signing_material(settings, create=False)
        signing = SigningKey.from_files(key_file, certificate_file)
    except Exception as exc:
        health.checks.append(Check("signing key", False, _why(exc)))
        return
    health.checks.append(
        Check(
            "signing key",
            True,
            f"{key_file} loaded; certificate {signing.certificate.subject.rfc4514_string()} "
            f"until {signing.certificate.not_valid_after_utc:%Y-%m-%d}",
        )
    )
    try:
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
        health.checks.append(Check("certificates", False, _why(exc)))


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, GatewayError) else f"{type(exc).__name__}: {exc}"


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
