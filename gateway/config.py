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


_ROLES = ("agency-gateway", "provincial-axis")
_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert a raw value to the type of the field it sets, or say why it cannot be."""
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
        table = raw.get("gateway", raw)
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


def describe(settings: Settings) -> dict[str, str]:
    """The effective settings as text, secrets masked, for ``config check``."""
    out = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if name == "database_dsn" and value and "@" in value:
            scheme, rest = value.split("://", 1)
            value = f"{scheme}://***@{rest.split('@', 1)[1]}"
        out[name] = str(value)
    return out
