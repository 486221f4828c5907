"""Configuration: one TOML file plus ``GATEWAY_*`` environment overrides, checked on load.

Defaults run the embedded setup (SQLite and blobs under ``./data``) with no file at all.
``edoc-gateway config check`` prints the effective settings or says what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError
from gateway.relay.connector import UpstreamSettings

MiB = 1 << 20


class ConfigError(GatewayError):
    """A setting is missing, malformed or contradicts another."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, with the value used when neither the file nor the environment sets it."""

    data_dir: Path = Path("data")
    """SQLite database, blob store and the master key live here (created if missing)."""
    database_dsn: str = ""
    """``postgresql://...`` to use PostgreSQL; empty means SQLite in ``data_dir``."""
    role: str = "agency-gateway"
    """``agency-gateway`` or ``provincial-axis`` (reported by GetServiceInfo)."""
    public_url: str = "http://127.0.0.1:8080"
    """Where clients reach the service; used in the exported WSDL's address."""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    """gunicorn sync workers (about one per core)."""
    max_request_bytes: int = 512 * MiB
    """Larger request bodies are refused with HTTP 413 before they are read."""
    stream_threshold_bytes: int = 4 * MiB
    """Requests larger than this bypass spyne and are parsed by streaming."""
    password_text_allowed: bool = False
    """Accept WS-Security PasswordText (only behind TLS); PasswordDigest is always accepted."""
    replay_window_seconds: int = 300
    """UsernameToken ``Created`` must be this close to now; nonces are remembered this long."""
    master_key_file: Path | None = None
    """File holding the key that derives agency secrets; default ``<data_dir>/master.key``."""
    gateway_id: str = "edoc-gateway"
    """How receipts and signatures name this gateway (its agency code or host name)."""
    signing_key_file: Path | None = None
    """PEM private key that signs receipts and emitted packages. Unset: a self-signed key and
    certificate are generated in ``<data_dir>/signing/`` on first start (fine for a pilot; a
    production gateway configures one issued by a trusted CA)."""
    signing_cert_file: Path | None = None
    """PEM certificate (chain) matching ``signing_key_file``."""
    signature_required_for: tuple[str, ...] = ()
    """Senders whose packages are refused unless their XML signature verifies ("*" = all)."""
    signature_sha1_allowed_for: tuple[str, ...] = ()
    """Senders whose legacy RSA-SHA1 signatures may verify (SHA-1 is refused otherwise)."""
    trust_store_dir: Path | None = None
    """Directory of CA certificates (PEM) that signer certificates must chain to. Unset:
    certificates are reported but not chained (results say "unverifiable")."""
    trust_revocation: str = "soft-fail"
    """Revocation checks for signer certificates: ``off``, ``soft-fail`` (an unreachable CRL or
    OCSP server leaves the status unknown) or ``hard-fail`` (it makes the certificate untrusted).
    A revoked certificate is never trusted."""
    trust_ocsp: bool = True
    """Ask the certificate's OCSP responder first; CRLs are the fallback."""
    trust_proxy: str = ""
    """HTTP proxy for CRL and OCSP requests (the specialised network usually needs one)."""
    certificate_expiry_warning_days: int = 30
    """Health output warns this many days before a configured certificate expires."""
    upstreams: tuple[UpstreamSettings, ...] = ()
    """The ``[[upstream]]`` tables: where packages for agencies that are not local go."""
    routes: tuple[RouteRule, ...] = ()
    """The ``[[route]]`` tables, tried in order after the agency directory's exact codes."""
    default_upstream: str = ""
    """The upstream for a recipient no directory entry or route matches; empty: such a
    recipient is refused at send time."""
    relay_max_attempts: int = 20
    """A package still undelivered after this many transient failures becomes a dead letter."""
    relay_max_age_hours: int = 72
    """... or after this many hours in the outbox, whichever comes first."""
    relay_backoff_base_seconds: int = 5
    """The first retry waits about this long; each further one doubles it (with jitter)."""
    relay_backoff_max_seconds: int = 900
    relay_lease_seconds: int = 120
    """How long a worker owns a claimed outbox item or a poller lease before another node may
    take it over (longer than the slowest upstream call)."""
    relay_circuit_failures: int = 5
    """Consecutive transient failures that open an upstream's circuit breaker."""
    relay_circuit_cooldown_seconds: int = 60
    """How long an open circuit waits before one probe send is let through."""
    relay_concurrency: int = 4
    """Sends in flight at once per upstream (threads of the relay worker). Sends mostly wait on
    the upstream, so a few more than the cores pay off; 1 sends one package at a time."""
    directory_sync_minutes: int = 60
    """How often ``relay run`` refreshes the agency directory from each upstream (0: never)."""
    trust_domains: tuple[TrustDomainSettings, ...] = field(
        default=(), metadata={"table": "trust_domain"}
    )
    """``[[trust_domain]]`` tables: further PKIs, each for the senders mapped to it (TOML only)."""
    trust_senders: tuple[tuple[str, str], ...] = field(
        default=(), metadata={"table": "trust_senders"}
    )
    """``[trust_senders]``: (sender pattern, domain name) pairs. A pattern is an exact agency
    code, a prefix ending in ``*`` (``000.00.*``) or ``*`` alone; the most specific one wins."""
    legacy_profiles_dir: Path | None = None
    """Directory of extra legacy client profiles (``<name>.toml``) for the eDoc SOAP dialect at
    ``/legacy/edoc``; a file here overrides a bundled profile of the same name."""
    legacy_profile: str = "edoc"
    """The legacy client profile used for agencies not named in ``legacy_profile_by_agency``."""
    legacy_profile_by_agency: tuple[str, ...] = ()
    """``"<agency code>=<profile>"`` entries choosing a legacy client profile per agency."""

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "gateway.sqlite3"

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def signing_dir(self) -> Path:
        return self.data_dir / "signing"

    @property
    def uses_postgres(self) -> bool:
        return self.database_dsn.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A ``[[route]]`` table: recipients matching every given test go to ``upstream``."""

    upstream: str
    prefix: str = ""
    """The code's text starts with this (useful for QĐ 20 codes: ``H36.``)."""
    level1: str = ""
    """The code's level-1 unit (``H36``, ``G22``), in either code form."""
    level: int = 0
    """The code's level (1 = ministry or province); 0: any level."""

    def describe(self) -> str:
        tests = [
            f"{name}={value!r}"
            for name, value in (
                ("prefix", self.prefix),
                ("level1", self.level1),
                ("level", self.level),
            )
            if value
        ]
        return f"{' '.join(tests)} -> {self.upstream}"


@dataclass(frozen=True, slots=True)
class TrustDomainSettings:
    """One ``[[trust_domain]]`` table as written: where its certificates are, how it checks.

    Certificates are read when the exchange starts (and by ``config check``), not here.
    """

    name: str
    anchors: tuple[Path, ...]
    """CA certificate files or directories of them (PEM or DER): the trusted roots."""
    intermediates: tuple[Path, ...] = ()
    """Untrusted CA certificates for path building (signatures often omit them)."""
    revocation: str = "soft-fail"
    ocsp: bool = True
    proxy: str = ""
    crl_urls: tuple[str, ...] = ()
    """CRL URLs used instead of the certificates' own (e.g. a mirror on the government net)."""
    cache_seconds: int = 3600
    """How long revocation answers and CRLs are reused (never past their nextUpdate)."""
    timeout_seconds: float = 10.0
    """Deadline for one OCSP or CRL request."""
    expiry_warning_days: int | None = None
    """Health warns this many days before an anchor expires (default: the global setting)."""


DEFAULT_TRUST_DOMAIN = "default"
"""The domain the flat ``trust_store_dir``/``trust_*`` settings define; it serves ``*``."""

_ROLES = ("agency-gateway", "provincial-axis")
_NESTED = ("upstreams", "routes")
_TABLE_FIELDS = {
    str(f.metadata["table"]): f.name for f in dataclasses.fields(Settings) if "table" in f.metadata
}
_FIELDS = {
    f.name: f
    for f in dataclasses.fields(Settings)
    if f.name not in _NESTED and "table" not in f.metadata
}
_UPSTREAM_FIELDS = {f.name: f for f in dataclasses.fields(UpstreamSettings)}
_ROUTE_FIELDS = {f.name: f for f in dataclasses.fields(RouteRule)}


def _coerce(name: str, value: Any, source: str, default: Any = dataclasses.MISSING) -> Any:
    """Convert a raw value to the type of the field it sets, or say why it cannot be."""
    if default is dataclasses.MISSING:
        default = getattr(Settings(), name)
    kind: type[Any] = type(default) if default is not None else Path
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{value!r} is not true or false")
        if kind is tuple:
            if isinstance(value, str):
                value = [part for part in value.split(",") if part.strip()]
            if not isinstance(value, list | tuple):
                raise ValueError("a list of agency codes is expected")
            return tuple(str(part).strip() for part in value)
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("a number is expected")
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError("a number is expected")
            return float(value)
        if issubclass(kind, Path):
            return Path(str(value)).expanduser()
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError("M.Config." + name, f"{source}: {name}: {exc}", source) from None


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from a TOML file (``[gateway]`` table or top level) and the environment.

    ``GATEWAY_CONFIG`` names the file when ``path`` is None; ``GATEWAY_<NAME>`` overrides a key.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_name = path if path is not None else env.get("GATEWAY_CONFIG")
    if file_name:
        file_path = Path(file_name)
        try:
            raw = tomllib.loads(file_path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError("M.Config.File", f"cannot read {file_path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("M.Config.File", f"{file_path} is not valid TOML: {exc}") from exc
        table = dict(raw.get("gateway", raw))
        nested = {key: table.pop(key, raw.get(key, [])) for key in ("upstream", "route")}
        values["upstreams"] = tuple(
            _upstream(item, f"{file_path}: [[upstream]] #{n}", env)
            for n, item in enumerate(_tables(nested["upstream"], "upstream", file_path), 1)
        )
        values["routes"] = tuple(
            _route(item, f"{file_path}: [[route]] #{n}")
            for n, item in enumerate(_tables(nested["route"], "route", file_path), 1)
        )
        values.update(_trust_tables(raw, table, str(file_path)))
        for key, value in table.items():
            name = key.replace("-", "_")
            if key in _TABLE_FIELDS:
                continue
            if name not in _FIELDS:
                known = ", ".join(sorted(_FIELDS))
                raise ConfigError(
                    "M.Config.Unknown", f"{file_path}: unknown setting {key!r} (known: {known})"
                )
            values[name] = _coerce(name, value, str(file_path))
    for name in _FIELDS:
        env_name = "GATEWAY_" + name.upper()
        if env_name in env:
            values[name] = _coerce(name, env[env_name], env_name)
    settings = Settings(**values)
    check(settings)
    return settings


def _tables(value: Any, key: str, file_path: Path) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(
            f"M.Config.{key}", f"{file_path}: {key} must be written as [[{key}]] tables"
        )
    return value


def _fields_of(
    item: dict[str, Any], known: Mapping[str, dataclasses.Field[Any]], source: str
) -> dict[str, Any]:
    """A nested table's values, coerced to its dataclass's field types."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(
                "M.Config.Unknown",
                f"{source}: unknown key {key!r} (known: {', '.join(sorted(known))})",
            )
        field = known[name]
        default = field.default if field.default is not dataclasses.MISSING else ""
        out[name] = _coerce(name, value, source, default)
    return out


def upstream_secret_variable(name: str) -> str:
    """``GATEWAY_UPSTREAM_<NAME>_SECRET``: where an upstream's secret may come from instead."""
    return (
        "GATEWAY_UPSTREAM_" + "".join(c if c.isalnum() else "_" for c in name.upper()) + "_SECRET"
    )


def _upstream(item: dict[str, Any], source: str, env: Mapping[str, str]) -> UpstreamSettings:
    values = _fields_of(item, _UPSTREAM_FIELDS, source)
    for required in ("name", "protocol", "endpoint"):
        if not values.get(required):
            raise ConfigError(f"N.Config.upstream.{required}", f"{source}: {required} is required")
    secret = env.get(upstream_secret_variable(values["name"]))
    if secret is not None:
        values["secret"] = secret
    return UpstreamSettings(**values)


def _route(item: dict[str, Any], source: str) -> RouteRule:
    values = _fields_of(item, _ROUTE_FIELDS, source)
    if not values.get("upstream"):
        raise ConfigError("N.Config.route.upstream", f"{source}: upstream is required")
    rule = RouteRule(**values)
    if not (rule.prefix or rule.level1 or rule.level):
        raise ConfigError(
            "N.Config.route",
            f"{source}: a route needs at least one of prefix, level1 or level "
            "(use default_upstream for a catch-all)",
        )
    return rule


def _check_relay(settings: Settings) -> None:
    """Upstream names are unique and every route and the default name one of them."""
    from gateway.relay.connectors import PROTOCOLS

    names: list[str] = []
    for upstream in settings.upstreams:
        where = f"[[upstream]] {upstream.name!r}"
        if upstream.name in names:
            raise ConfigError("R.Config.upstream.name", f"{where} is defined twice")
        names.append(upstream.name)
        if upstream.protocol not in PROTOCOLS:
            raise ConfigError(
                "R.Config.upstream.protocol",
                f"{where}: protocol must be one of {', '.join(PROTOCOLS)}, "
                f"not {upstream.protocol!r}",
            )
        if not upstream.endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                "M.Config.upstream.endpoint", f"{where}: endpoint must be an http(s):// URL"
            )
        if (upstream.client_cert_file is None) != (upstream.client_key_file is None):
            raise ConfigError(
                "M.Config.upstream.client_cert_file",
                f"{where}: client_cert_file and client_key_file go together",
            )
        if upstream.timeout_seconds <= 0 or upstream.poll_interval_seconds <= 0:
            raise ConfigError(
                "R.Config.upstream.timeout_seconds",
                f"{where}: timeout_seconds and poll_interval_seconds must be positive",
            )
    for rule in settings.routes:
        if rule.upstream not in names:
            raise ConfigError(
                "R.Config.route.upstream",
                f"[[route]] {rule.describe()}: no [[upstream]] is named {rule.upstream!r}",
            )
    if settings.default_upstream and settings.default_upstream not in names:
        raise ConfigError(
            "R.Config.default_upstream",
            f"default_upstream {settings.default_upstream!r} names no [[upstream]] "
            f"(configured: {', '.join(names) or 'none'})",
        )
    for name in ("relay_max_attempts", "relay_max_age_hours", "relay_backoff_base_seconds"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"R.Config.{name}", f"{name} must be at least 1")
    if settings.relay_backoff_max_seconds < settings.relay_backoff_base_seconds:
        raise ConfigError(
            "R.Config.relay_backoff_max_seconds",
            "relay_backoff_max_seconds must not be below relay_backoff_base_seconds",
        )
    if settings.relay_lease_seconds < 10:
        raise ConfigError("R.Config.relay_lease_seconds", "relay_lease_seconds must be >= 10")
    if settings.relay_circuit_failures < 1:
        raise ConfigError(
            "R.Config.relay_circuit_failures", "relay_circuit_failures must be at least 1"
        )
    if not 1 <= settings.relay_concurrency <= 64:
        raise ConfigError(
            "R.Config.relay_concurrency", "relay_concurrency must be between 1 and 64"
        )


def check(settings: Settings) -> None:
    """Refuse contradictory or unusable settings with a sentence saying which and why."""
    if settings.role not in _ROLES:
        raise ConfigError("R.Config.role", f"role must be one of {', '.join(_ROLES)}")
    if settings.database_dsn and not settings.uses_postgres:
        raise ConfigError(
            "M.Config.database_dsn",
            "database_dsn must be a postgresql:// URL (leave it empty for SQLite)",
        )
    if not 1 <= settings.port <= 65535:
        raise ConfigError("R.Config.port", "port must be between 1 and 65535")
    if settings.workers < 1:
        raise ConfigError("R.Config.workers", "workers must be at least 1")
    if settings.stream_threshold_bytes > settings.max_request_bytes:
        raise ConfigError(
            "M.Config.stream_threshold_bytes",
            "stream_threshold_bytes must not exceed max_request_bytes",
        )
    if settings.trust_revocation not in ("off", "soft-fail", "hard-fail"):
        raise ConfigError(
            "R.Config.trust_revocation", "trust_revocation must be off, soft-fail or hard-fail"
        )
    if (settings.signing_key_file is None) != (settings.signing_cert_file is None):
        raise ConfigError(
            "M.Config.signing_key_file",
            "signing_key_file and signing_cert_file go together: set both or neither",
        )
    for entry in settings.legacy_profile_by_agency:
        code, _, profile = entry.partition("=")
        if not code.strip() or not profile.strip():
            raise ConfigError(
                "M.Config.legacy_profile_by_agency",
                f"legacy_profile_by_agency entry {entry!r} must read <agency code>=<profile>",
            )
    if settings.replay_window_seconds < 30:
        raise ConfigError(
            "R.Config.replay_window_seconds", "replay_window_seconds must be at least 30"
        )
    _check_relay(settings)
    check_trust(settings)


def describe(settings: Settings) -> dict[str, str]:
    """The effective settings as text, secrets masked, for ``config check``."""
    out = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if name == "database_dsn" and value and "@" in value:
            scheme, rest = value.split("://", 1)
            value = f"{scheme}://***@{rest.split('@', 1)[1]}"
        out[name] = str(value)
    for upstream in settings.upstreams:
        secret = "***" if upstream.secret else "(none)"
        out[f"upstream.{upstream.name}"] = (
            f"{upstream.protocol} {upstream.endpoint} system_id={upstream.system_id!r} "
            f"secret={secret} timeout={upstream.timeout_seconds}s"
        )
    for index, rule in enumerate(settings.routes, 1):
        out[f"route.{index}"] = rule.describe()
    out.update(_describe_trust(settings))
    return out


# --- trust domains -----------------------------------------------------------------------------

_DOMAIN_KEYS = {f.name for f in dataclasses.fields(TrustDomainSettings)}


def _trust_tables(raw: Mapping[str, Any], table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``[[trust_domain]]`` and ``[trust_senders]``, at the top level or under ``[gateway]``."""
    found: dict[str, Any] = {}
    domains_raw = table.get("trust_domain", raw.get("trust_domain"))
    if domains_raw is not None:
        if not isinstance(domains_raw, list) or not all(isinstance(d, dict) for d in domains_raw):
            raise ConfigError(
                "M.Config.trust_domain",
                f"{source}: trust_domain must be a list of tables ([[trust_domain]])",
            )
        found["trust_domains"] = tuple(
            _trust_domain(entry, f"{source}: [[trust_domain]] #{index}")
            for index, entry in enumerate(domains_raw, start=1)
        )
    senders_raw = table.get("trust_senders", raw.get("trust_senders"))
    if senders_raw is not None:
        found["trust_senders"] = _trust_senders(senders_raw, f"{source}: [trust_senders]")
    return found


def _trust_domain(entry: Mapping[str, Any], where: str) -> TrustDomainSettings:
    """One ``[[trust_domain]]`` table, each key checked for its type."""
    values: dict[str, Any] = {}
    for key, value in entry.items():
        name = key.replace("-", "_")
        if name not in _DOMAIN_KEYS:
            known = ", ".join(sorted(_DOMAIN_KEYS))
            raise ConfigError(
                "M.Config.trust_domain", f"{where}: unknown key {key!r} (known: {known})"
            )
        values[name] = value
    label = f"{where} ({values['name']})" if isinstance(values.get("name"), str) else where
    if not isinstance(values.get("name"), str) or not values["name"].strip():
        raise ConfigError("N.Config.trust_domain.name", f"{where}: every trust domain needs a name")
    if "anchors" not in values:
        raise ConfigError(
            "N.Config.trust_domain.anchors",
            f"{label}: anchors (CA certificate files or directories) are required",
        )

    def paths(key: str) -> tuple[Path, ...]:
        value = values.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ConfigError(
                f"T.Config.trust_domain.{key}", f"{label}: {key} must be a path or a list of paths"
            )
        return tuple(Path(i).expanduser() for i in items)

    def typed(key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = values[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ConfigError(
                f"T.Config.trust_domain.{key}", f"{label}: {key} must be {what}, not {value!r}"
            )
        return value

    result = TrustDomainSettings(name=values["name"].strip(), anchors=paths("anchors"))
    changes: dict[str, Any] = {"intermediates": paths("intermediates")}
    for key, kind, what in (
        ("revocation", str, "off, soft-fail or hard-fail"),
        ("ocsp", bool, "true or false"),
        ("proxy", str, "an http(s) URL"),
        ("cache_seconds", int, "a number of seconds"),
        ("timeout_seconds", (int, float), "a number of seconds"),
        ("expiry_warning_days", int, "a number of days"),
    ):
        if key in values:
            changes[key] = typed(key, kind, what)
    if "timeout_seconds" in changes:
        changes["timeout_seconds"] = float(changes["timeout_seconds"])
    if "crl_urls" in values:
        urls = values["crl_urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ConfigError(
                "T.Config.trust_domain.crl_urls", f"{label}: crl_urls must be a list of URLs"
            )
        changes["crl_urls"] = tuple(urls)
    return dataclasses.replace(result, **changes)


def _trust_senders(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``domain = ["code", "prefix*", "*"]`` lines, flattened to (pattern, domain) pairs."""
    if not isinstance(raw, dict):
        raise ConfigError(
            "T.Config.trust_senders",
            f'{where} must be a table of domain = ["sender code", "prefix*", "*"] lines',
        )
    pairs: list[tuple[str, str]] = []
    for domain, patterns in raw.items():
        items = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise ConfigError(
                "T.Config.trust_senders", f"{where}: {domain} must list sender codes or prefixes"
            )
        pairs.extend((pattern.strip(), str(domain)) for pattern in items)
    return tuple(pairs)


def check_trust(settings: Settings) -> None:
    """Refuse trust domains that cannot work: say which domain or sender, and why.

    Anchors and intermediates are read here, so an unreadable or non-certificate file is
    reported by ``config check`` rather than on the first signed package.
    """
    from gateway.security.certificates import CertificateError, load_certificates

    names: dict[str, str] = {}
    if settings.trust_store_dir is not None:
        names[DEFAULT_TRUST_DOMAIN] = "trust_store_dir"
    for domain in settings.trust_domains:
        where = f"trust domain {domain.name!r}"
        if domain.name in names:
            raise ConfigError(
                "M.Config.trust_domain.name",
                f"{where} is defined twice (also by {names[domain.name]})",
            )
        names[domain.name] = "[[trust_domain]]"
        if domain.revocation not in ("off", "soft-fail", "hard-fail"):
            raise ConfigError(
                "R.Config.trust_domain.revocation",
                f"{where}: revocation must be off, soft-fail or hard-fail, "
                f"not {domain.revocation!r}",
            )
        if domain.cache_seconds < 0 or not domain.timeout_seconds > 0:
            raise ConfigError(
                "R.Config.trust_domain",
                f"{where}: cache_seconds must be 0 or more and timeout_seconds more than 0",
            )
        if domain.expiry_warning_days is not None and domain.expiry_warning_days < 0:
            raise ConfigError(
                "R.Config.trust_domain.expiry_warning_days",
                f"{where}: expiry_warning_days must be 0 or more",
            )
        for url in (*domain.crl_urls, *((domain.proxy,) if domain.proxy else ())):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    "M.Config.trust_domain", f"{where}: {url!r} is not an http(s) URL"
                )
        for kind, paths in (("anchor", domain.anchors), ("intermediate", domain.intermediates)):
            if kind == "anchor" and not paths:
                raise ConfigError(
                    "N.Config.trust_domain.anchors", f"{where}: no anchors are configured"
                )
            for path in paths:
                try:
                    found = load_certificates(path)
                except (CertificateError, OSError) as exc:
                    message = exc.message if isinstance(exc, CertificateError) else str(exc)
                    raise ConfigError(
                        f"M.Config.trust_domain.{kind}s",
                        f"{where}: {kind} {path} cannot be used: {message}",
                    ) from None
                if not found:
                    raise ConfigError(
                        f"M.Config.trust_domain.{kind}s",
                        f"{where}: {kind} directory {path} holds no .pem, .crt, .cer or .der file",
                    )
    seen: dict[str, str] = {}
    if settings.trust_store_dir is not None:
        seen["*"] = DEFAULT_TRUST_DOMAIN
    for pattern, domain_name in settings.trust_senders:
        if domain_name not in names:
            known = ", ".join(sorted(names)) or "none is configured"
            raise ConfigError(
                "R.Config.trust_senders",
                f"[trust_senders] maps senders to trust domain {domain_name!r}, which is not "
                f"defined (defined: {known})",
            )
        if not pattern or "*" in pattern[:-1]:
            raise ConfigError(
                "M.Config.trust_senders",
                f"[trust_senders] {domain_name}: {pattern!r} is not an agency code, a prefix "
                "ending in '*', or '*'",
            )
        if pattern in seen:
            already = seen[pattern]
            how = (
                " (the flat trust_store_dir settings form the default domain, which serves '*')"
                if pattern == "*" and already == DEFAULT_TRUST_DOMAIN
                else ""
            )
            raise ConfigError(
                "M.Config.trust_senders",
                f"[trust_senders]: sender {pattern!r} is mapped twice, to {already!r} and to "
                f"{domain_name!r}{how}",
            )
        seen[pattern] = domain_name


def _describe_trust(settings: Settings) -> dict[str, str]:
    """One line per trust domain and one per mapped domain, for ``config check``."""
    out = {}
    for d in settings.trust_domains:
        out[f"trust_domain.{d.name}"] = (
            f"anchors={', '.join(map(str, d.anchors))}; "
            f"intermediates={', '.join(map(str, d.intermediates)) or '-'}; "
            f"revocation={d.revocation}; ocsp={d.ocsp}; proxy={d.proxy or '-'}; "
            f"cache_seconds={d.cache_seconds}"
        )
    by_domain: dict[str, list[str]] = {}
    for pattern, name in settings.trust_senders:
        by_domain.setdefault(name, []).append(pattern)
    for name, patterns in by_domain.items():
        out[f"trust_senders.{name}"] = ", ".join(patterns)
    return out
