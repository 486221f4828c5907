"""Configuration: one TOML file plus ``GATEWAY_*`` environment overrides, checked on load.

Defaults run the embedded setup (SQLite and blobs under ``./data``) with no file at all.
``edoc-gateway config check`` prints the effective settings or says what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
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
    directory_sync_minutes: int = 60
    """How often ``relay run`` refreshes the agency directory from each upstream (0: never)."""

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


_ROLES = ("agency-gateway", "provincial-axis")
_NESTED = ("upstreams", "routes")
_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name not in _NESTED}
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
        for key, value in table.items():
            name = key.replace("-", "_")
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
    if settings.replay_window_seconds < 30:
        raise ConfigError(
            "R.Config.replay_window_seconds", "replay_window_seconds must be at least 30"
        )
    _check_relay(settings)


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
    return out
