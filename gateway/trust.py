"""The trust configuration in force: trust domains built from settings, and which one judges
each sender's signer certificates.

Agencies sign with certificates from different PKIs (the Government CA of Ban Cơ yếu Chính phủ,
a ministry's own CA, a test CA in a pilot), so each sender is mapped to the domain whose
anchors and revocation policy apply to it: an exact agency code first, then the longest prefix
(``000.00.*``), then ``*``. The flat ``trust_store_dir``/``trust_*`` settings form the domain
named ``default``, which serves ``*``, so configurations written before domains existed keep
working unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from gateway.config import DEFAULT_TRUST_DOMAIN, Settings, check
from gateway.errors import CertificateError, ConfigError, Finding
from gateway.security.certificates import (
    TrustDomain,
    TrustStore,
    check_certificate,
    load_certificates,
)
from gateway.security.signatures import CertificateCheck


def trust_problems(settings: Settings) -> list[Finding]:
    """Anchors, intermediates and the flat ``trust_store_dir`` that cannot be used: missing,
    unreadable, not certificates, or a directory without any. ``config check`` reports these
    with the rest; :func:`trust_domains` refuses to start with them."""
    problems: list[Finding] = []
    sources: list[tuple[str, str, Path]] = []
    if settings.trust_store_dir is not None:
        sources.append(("trust_store_dir", "trust_store_dir", settings.trust_store_dir))
    for domain in settings.trust_domains:
        where = f"trust domain {domain.name!r}"
        sources.extend((where, "anchor", path) for path in domain.anchors)
        sources.extend((where, "intermediate", path) for path in domain.intermediates)
    for where, kind, path in sources:
        code = "M.Config." + (
            "trust_store_dir" if kind == "trust_store_dir" else f"trust_domain.{kind}s"
        )
        what = "directory" if path.is_dir() else "file"
        label = f"{where}: {path}" if kind == "trust_store_dir" else f"{where}: {kind} {path}"
        if not path.exists():
            problems.append(Finding(code, "", f"{label} cannot be used: no such file or directory"))
            continue
        try:
            found = load_certificates(path)
        except (CertificateError, OSError) as exc:
            message = exc.message if isinstance(exc, CertificateError) else str(exc)
            problems.append(Finding(code, "", f"{label} cannot be used: {message}"))
            continue
        if not found:
            problems.append(
                Finding(code, "", f"{label}: {what} holds no .pem, .crt, .cer or .der file")
            )
    return problems


def trust_domains(settings: Settings) -> list[TrustDomain]:
    """Every configured domain with its certificates loaded (the flat settings first)."""
    check(settings)
    problems = trust_problems(settings)
    if problems:
        raise ConfigError.of(problems)
    domains = []
    if settings.trust_store_dir is not None:
        domains.append(
            TrustDomain(
                name=DEFAULT_TRUST_DOMAIN,
                anchors=load_certificates(settings.trust_store_dir),
                revocation=settings.trust_revocation,
                ocsp=settings.trust_ocsp,
                proxy=settings.trust_proxy or None,
                expiry_warning_days=settings.certificate_expiry_warning_days,
            )
        )
    for d in settings.trust_domains:
        domains.append(
            TrustDomain(
                name=d.name,
                anchors=load_certificates(*d.anchors),
                intermediates=load_certificates(*d.intermediates) if d.intermediates else (),
                revocation=d.revocation,
                crl_urls_override=d.crl_urls,
                ocsp=d.ocsp,
                cache_seconds=d.cache_seconds,
                timeout_seconds=d.timeout_seconds,
                proxy=d.proxy or None,
                expiry_warning_days=(
                    settings.certificate_expiry_warning_days
                    if d.expiry_warning_days is None
                    else d.expiry_warning_days
                ),
            )
        )
    return domains


class SenderTrust:
    """The trust store and the sender → domain mapping, built once and shared by threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        own_certificates: Iterable[x509.Certificate] = (),
    ) -> None:
        self.store = TrustStore(
            trust_domains(settings),
            own_certificates=own_certificates,
            own_expiry_warning_days=settings.certificate_expiry_warning_days,
        )
        self._exact: dict[str, str] = {}
        self._prefixes: list[tuple[str, str]] = []
        self._fallback = DEFAULT_TRUST_DOMAIN if settings.trust_store_dir is not None else None
        for pattern, name in settings.trust_senders:
            if pattern == "*":
                self._fallback = name
            elif pattern.endswith("*"):
                self._prefixes.append((pattern[:-1], name))
            else:
                self._exact[pattern] = name
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def domain_name(self, sender: str) -> str | None:
        """The domain judging ``sender``: exact code, longest prefix, ``*``; None if none."""
        if sender in self._exact:
            return self._exact[sender]
        for prefix, name in self._prefixes:
            if sender.startswith(prefix):
                return name
        return self._fallback

    def domain_for(self, sender: str) -> TrustDomain | None:
        name = self.domain_name(sender)
        return None if name is None else self.store.domain(name)

    def checker(self, sender: str) -> CertificateCheck:
        """What the signature verifier asks about ``sender``'s signer certificate."""
        domain = self.domain_for(sender)
        if domain is None:
            reason = (
                "no trust store is configured (trust_store_dir)"
                if not self.store.domains
                else f"no trust domain is configured for sender {sender} ([trust_senders])"
            )
            return lambda der: (
                f"{reason}: the signer's certificate cannot be chained to a trusted authority"
            )
        chosen = domain

        def check(der: bytes) -> str | None:
            result = check_certificate(der, chosen)
            return None if result.ok else f"{result.reason} (trust domain {chosen.name})"

        return check
