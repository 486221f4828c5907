"""Named client profiles: the quirks of one legacy client system, switched by configuration.

A profile is a TOML file (``<name>.toml``). Bundled profiles live next to this module; the
directory named by the ``legacy_profiles_dir`` setting adds more or overrides a bundled one of the
same name, so provincial IT changes behaviour without code. The profile used for a request is the
one ``legacy_profile_by_agency`` names for the calling agency, else ``legacy_profile``.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.edxml.agency import parse_agency_code
from gateway.errors import GatewayError, ProfileError

_FORMATS = {
    "yyyy/MM/dd HH:mm:ss": "%Y/%m/%d %H:%M:%S",
    "dd/MM/yyyy HH:mm:ss": "%d/%m/%Y %H:%M:%S",
    "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S",
    "yyyy-MM-ddTHH:mm:ss": "%Y-%m-%dT%H:%M:%S",
    "yyyy/MM/dd": "%Y/%m/%d",
    "dd/MM/yyyy": "%d/%m/%Y",
    "yyyy-MM-dd": "%Y-%m-%d",
}
_TOKENS = ("yyyy", "MM", "dd", "HH", "mm", "ss")


def _format(pattern: str, value: dt.date) -> str:
    """Java-style pattern; years always four digits (strftime drops the zeros of year 1)."""
    fields = {
        "yyyy": f"{value.year:04d}",
        "MM": f"{value.month:02d}",
        "dd": f"{value.day:02d}",
        "HH": f"{getattr(value, 'hour', 0):02d}",
        "mm": f"{getattr(value, 'minute', 0):02d}",
        "ss": f"{getattr(value, 'second', 0):02d}",
    }
    out = pattern
    for token in _TOKENS:
        out = out.replace(token, fields[token])
    return out


_CHOICES = {
    "response_parts": ("base64-text", "binary"),
    "request_parts": ("auto", "base64-text", "binary"),
    "multipart_responses": ("attachments", "always"),
    "status_code_format": ("numeric", "two-digit"),
}


@dataclass(frozen=True, slots=True)
class Profile:
    """One client system's quirks (every field is documented in the bundled ``edoc.toml``)."""

    name: str = "edoc"
    description: str = ""
    trace_timestamp_format: str = "dd/MM/yyyy HH:mm:ss"
    status_timestamp_format: str = "yyyy/MM/dd HH:mm:ss"
    date_format: str = "yyyy/MM/dd"
    response_parts: str = "base64-text"
    request_parts: str = "auto"
    multipart_responses: str = "attachments"
    status_code_format: str = "numeric"
    organization_extra_fields: bool = False
    document_needs_file: bool = True
    """SendDocument with no file at all (an empty Manifest and no MIME part) is refused."""
    agency_codes: dict[str, str] = field(default_factory=dict)
    """Client code → gateway code."""

    def format_timestamp(self, value: dt.datetime, which: str = "trace") -> str:
        pattern = self.trace_timestamp_format if which == "trace" else self.status_timestamp_format
        return _format(pattern, value)

    def format_date(self, value: dt.date) -> str:
        return _format(self.date_format, value)

    def status_code(self, canonical: str) -> str:
        """``"01"`` → ``"1"`` for numeric clients; the canonical two digits otherwise."""
        if self.status_code_format == "numeric" and canonical.isdigit():
            return str(int(canonical))
        return canonical

    def to_gateway(self, code: str) -> str:
        return self.agency_codes.get(code.strip(), code.strip())

    def to_client(self, code: str) -> str:
        for client, gateway in self.agency_codes.items():
            if gateway == code:
                return client
        return code


def _bundled() -> dict[str, str]:
    folder = importlib.resources.files(__name__)
    return {
        entry.name[: -len(".toml")]: entry.read_text("utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def parse_profile(text: str, source: str) -> Profile:
    """A profile from TOML text, every value checked; ``source`` names it in errors."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError("M.Profile.File", f"{source} is not valid TOML: {exc}") from exc
    known = set(Profile.__dataclass_fields__)
    for key in raw:
        if key not in known:
            raise ProfileError(
                "M.Profile.Unknown",
                f"{source}: unknown key {key!r} (known: {', '.join(sorted(known))})",
            )
    for key in ("trace_timestamp_format", "status_timestamp_format", "date_format"):
        if key in raw and raw[key] not in _FORMATS:
            raise ProfileError(
                "R.Profile." + key,
                f"{source}: {key} must be one of {', '.join(_FORMATS)}, not {raw[key]!r}",
            )
    for key, allowed in _CHOICES.items():
        if key in raw and raw[key] not in allowed:
            raise ProfileError(
                "R.Profile." + key,
                f"{source}: {key} must be one of {', '.join(allowed)}, not {raw[key]!r}",
            )
    codes = raw.get("agency_codes", {})
    if not isinstance(codes, dict):
        raise ProfileError("M.Profile.agency_codes", f"{source}: [agency_codes] must be a table")
    for client, gateway in codes.items():
        for code in (client, gateway):
            try:
                parse_agency_code(str(code), path=f"{source} [agency_codes]")
            except GatewayError as exc:
                raise ProfileError(
                    "M.Profile.agency_codes", f"{source}: [agency_codes]: {exc.message}"
                ) from None
    for key in ("organization_extra_fields", "document_needs_file"):
        if key in raw and not isinstance(raw[key], bool):
            raise ProfileError("T.Profile." + key, f"{source}: {key} must be true or false")
    values = {key: value for key, value in raw.items() if key != "agency_codes"}
    return Profile(**values, agency_codes={str(k): str(v) for k, v in codes.items()})


def load_profiles(directory: Path | None) -> dict[str, Profile]:
    """Bundled profiles, then those of ``directory`` (same name replaces)."""
    texts = {name: (text, f"bundled profile {name}") for name, text in _bundled().items()}
    if directory is not None:
        if not directory.is_dir():
            raise ProfileError(
                "M.Config.legacy_profiles_dir", f"legacy_profiles_dir {directory} is no directory"
            )
        for path in sorted(directory.glob("*.toml")):
            texts[path.stem] = (path.read_text("utf-8"), str(path))
    profiles = {}
    for name, (text, source) in texts.items():
        profile = parse_profile(text, source)
        if profile.name != name:
            raise ProfileError(
                "M.Profile.name", f"{source}: name {profile.name!r} must match the file name"
            )
        profiles[name] = profile
    return profiles


class ProfileChooser:
    """Which profile serves which agency, from the settings (checked once, at start)."""

    def __init__(self, settings: Settings) -> None:
        self.profiles = load_profiles(settings.legacy_profiles_dir)
        self.by_agency: dict[str, Profile] = {}
        for entry in settings.legacy_profile_by_agency:
            code, _, name = entry.partition("=")
            self.by_agency[code.strip()] = self._named(name.strip(), "legacy_profile_by_agency")
        self.default = self._named(settings.legacy_profile, "legacy_profile")

    def _named(self, name: str, setting: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ProfileError(
                "R.Config." + setting, f"{setting}: no profile {name!r} (known: {known})"
            ) from None

    def for_agency(self, code: str) -> Profile:
        """The profile for a caller; the client-side code is mapped by each profile first."""
        direct = self.by_agency.get(code)
        if direct is not None:
            return direct
        for profile in self.by_agency.values():
            mapped = profile.agency_codes.get(code)
            if mapped is not None and self.by_agency.get(mapped) is profile:
                return profile
        return self.default
