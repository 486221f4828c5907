"""Agency credentials: secrets, WS-Security UsernameToken checks, replay protection.

WS-Security PasswordDigest is ``Base64(SHA-1(nonce + created + password))``: the server needs the
password itself to check it, so a one-way hash alone cannot verify it. Rather than keep secrets
in the database, each agency's secret is *derived*: ``HMAC-SHA256(master key, code, version)``.
The database holds only the version and a SHA-256 of the secret (to notice a wrong master key),
so a copy of the database reveals no secret; the master key lives in a file readable by the
gateway alone (``<data_dir>/master.key``, mode 0600). Rotating a secret bumps the version.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from gateway.config import Settings
from gateway.edxml.agency import check_registrable
from gateway.errors import (
    AlreadyExists,
    AuthenticationFailed,
    BadRequest,
    MasterKeyError,
    NotFound,
    ReplayedNonce,
)
from gateway.store.base import AgencyRecord, Store, to_micros

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class UsernameToken:
    """A WS-Security UsernameToken as received (nonce already base64-decoded)."""

    username: str
    password: str
    password_type: Literal["digest", "text"]
    nonce: bytes | None = None
    created: str | None = None


def load_master_key(path: Path, *, create: bool = True) -> bytes:
    """Read the master key, creating it (0600) on first start."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise MasterKeyError("N.Security.MasterKey", f"no master key at {path}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first
            return load_master_key(path, create=False)
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64encode(key) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        return key
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError("M.Security.MasterKey", f"{path} does not hold a {KEY_BYTES}-byte key")
    return key


def new_master_key() -> str:
    """A fresh master key as text (``master_key``, or the content of ``master_key_file``)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def master_key_of(settings: Settings, *, create: bool = True) -> bytes:
    """The configured master key: ``master_key`` itself, else the file (created if missing,
    unless ``create=False``: health checks never make a key)."""
    if settings.master_key:
        try:
            key = base64.b64decode(settings.master_key.strip(), validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise MasterKeyError(
                "M.Security.MasterKey", f"master_key does not hold a {KEY_BYTES}-byte key"
            )
        return key
    return load_master_key(settings.key_file, create=create)


def derive_secret(master_key: bytes, code: str, version: int) -> str:
    """The agency's secret for this version: 43 URL-safe characters."""
    message = f"edoc-gateway/agency-secret/v1\x00{code}\x00{version}".encode()
    digest = hmac.new(master_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security UsernameToken Profile 1.1 PasswordDigest."""
    raw = nonce + created.encode("utf-8") + password.encode("utf-8")
    return base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")


def parse_created(text: str) -> dt.datetime:
    """``wsu:Created`` (xsd:dateTime, normally UTC with ``Z``) as an aware datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def valid_email(address: str) -> str:
    """``address`` checked as an e-mail address (syntax, no DNS), normalised; '' stays ''."""
    address = address.strip()
    if not address:
        return ""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadRequest("M.Agency.Email", f"{address!r} is not an e-mail address: {exc}") from None


class Credentials:
    """Issues agency secrets and checks UsernameTokens against them."""

    def __init__(
        self,
        store: Store,
        master_key: bytes,
        *,
        replay_window: dt.timedelta,
        password_text_allowed: bool,
    ) -> None:
        self.store = store
        self.master_key = master_key
        self.replay_window = replay_window
        self.password_text_allowed = password_text_allowed

    # -- administration -----------------------------------------------------------------------
    def add_agency(
        self,
        code: str,
        name: str,
        email: str,
        now: dt.datetime,
        *,
        parent: str = "",
        system: bool = False,
    ) -> tuple[AgencyRecord, str]:
        """Register an agency; returns it and its secret (shown once, never stored).

        ``parent``: an agency already registered here that may act for this one. ``system``:
        the code is a system's id (a VXP systemId such as ``vxp.saas.03``), not an agency code.
        ``email`` must be an address (syntax only, no DNS lookup)."""
        text = check_registrable(code, system=system, path="agency code")
        email = valid_email(email)
        if parent:
            parent = self._existing(parent).code
            if parent == text:
                raise BadRequest("R.Agency.Parent", f"agency {parent} cannot be its own parent")
        if self.store.get_agency(text) is not None:
            raise AlreadyExists("M.Agency.Exists", f"agency {text} is already registered")
        secret = derive_secret(self.master_key, text, 1)
        record = AgencyRecord(
            code=text,
            name=name,
            email=email,
            enabled=True,
            secret_version=1,
            secret_hash=secret_hash(secret),
            created_at=to_micros(now),
            updated_at=to_micros(now),
            parent=parent,
        )
        self.store.add_agency(record)
        return record, secret

    def rotate(self, code: str, now: dt.datetime) -> tuple[AgencyRecord, str]:
        """A new secret for an agency; the previous one stops working at once."""
        current = self._existing(code)
        version = current.secret_version + 1
        secret = derive_secret(self.master_key, current.code, version)
        record = self.store.update_agency(
            current.code,
            updated_at=to_micros(now),
            secret_version=version,
            secret_hash=secret_hash(secret),
        )
        return record, secret

    def set_enabled(self, code: str, enabled: bool, now: dt.datetime) -> AgencyRecord:
        current = self._existing(code)
        return self.store.update_agency(current.code, updated_at=to_micros(now), enabled=enabled)

    def current_secret(self, code: str) -> str:
        """The secret in force (for the demo and for an operator who lost it)."""
        return self._secret_of(self._existing(code))

    def _existing(self, code: str) -> AgencyRecord:
        record = self.store.get_agency(code.strip())
        if record is None:
            raise NotFound("N.Agency", f"no agency {code} is registered")
        return record

    def _secret_of(self, record: AgencyRecord) -> str:
        secret = derive_secret(self.master_key, record.code, record.secret_version)
        if not hmac.compare_digest(secret_hash(secret), record.secret_hash):
            raise MasterKeyError(
                "M.Security.MasterKey",
                "the master key does not match the one the agency secrets were issued with",
            )
        return secret

    # -- authentication -----------------------------------------------------------------------
    def authenticate(self, token: UsernameToken, now: dt.datetime) -> str:
        """The agency code the token proves, or :class:`AuthenticationFailed` saying why."""
        record = self.store.get_agency(token.username.strip())
        if record is None or not record.enabled:
            # One message for both: do not tell a prober which codes exist.
            raise AuthenticationFailed("unknown or disabled agency, or wrong password")
        secret = self._secret_of(record)
        if token.password_type == "text":
            if not self.password_text_allowed:
                raise AuthenticationFailed(
                    "PasswordText is not accepted here; "
                    "send a PasswordDigest with Nonce and Created"
                )
            if not hmac.compare_digest(token.password.encode(), secret.encode()):
                raise AuthenticationFailed("unknown or disabled agency, or wrong password")
        else:
            if token.nonce is None or not token.created:
                raise AuthenticationFailed("a PasswordDigest needs a Nonce and a Created time")
            expected = password_digest(token.nonce, token.created, secret)
            if not hmac.compare_digest(expected.encode(), token.password.strip().encode()):
                raise AuthenticationFailed("unknown or disabled agency, or wrong password")
        if token.created:
            self._check_fresh(token.created, now)
        if token.nonce is not None:
            nonce = base64.b64encode(token.nonce).decode("ascii")
            forget_before = to_micros(now - 2 * self.replay_window)
            if not self.store.remember_nonce(record.code, nonce, to_micros(now), forget_before):
                raise ReplayedNonce()
        return record.code

    def _check_fresh(self, created: str, now: dt.datetime) -> None:
        try:
            moment = parse_created(created)
        except ValueError:
            raise AuthenticationFailed(f"Created {created!r} is not an xsd:dateTime") from None
        if abs(now - moment) > self.replay_window:
            seconds = int(self.replay_window.total_seconds())
            raise AuthenticationFailed(
                f"Created {created} is more than {seconds} s from the gateway's clock "
                f"({now.isoformat(timespec='seconds')}); check the client's clock"
            )
