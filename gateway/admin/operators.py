"""Operator accounts of the web console: passwords (argon2id), sign-in with throttling, sessions.

A password is kept only as an argon2id hash (memory-hard: a stolen database does not give the
passwords away cheaply). A session is a random token in an HttpOnly cookie; the database keeps
only its SHA-256 with the session's CSRF token, so every worker and node sees the same sessions
and disabling an operator or changing a password ends them at once. Failed sign-ins are counted
in the database per name and per address; past the limit a sign-in is refused for a while
without even checking the password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.errors import BadRequest, SignInRefused
from gateway.store.console_sql import ConsoleTables, OperatorRecord, Role, SessionRecord

SECOND = 1_000_000
SESSION_SECONDS = 8 * 3600
"""A working day: a session ends after eight hours, signed in or not."""
THROTTLE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD_LENGTH = 12
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
_DUMMY_HASH = _HASHER.hash("not a password of anyone")
"""Verified against when the name is unknown, so a wrong name costs as long as a wrong password."""


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    """Goes into the cookie; never stored."""
    record: SessionRecord


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BadRequest(
            "R.Operator.Name",
            f"operator name {name!r}: use 2-64 lower-case letters, digits, '.', '_' or '-' "
            "(tên đăng nhập)",
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(
            "R.Operator.Password",
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters (mật khẩu)",
        )
    return password


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadRequest(
            "R.Operator.Role", f"role {text!r}: one of viewer, operator, admin (vai trò)"
        ) from None


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    """Accounts and sessions over the console's tables."""

    def __init__(self, tables: ConsoleTables) -> None:
        self.tables = tables

    def add(self, name: str, role: Role, password: str, now: int, actor: str) -> OperatorRecord:
        return self.tables.add_operator(check_name(name), role, hash_password(password), now, actor)

    def set_password(self, name: str, password: str, now: int, actor: str) -> OperatorRecord:
        return self.tables.update_operator(name, now, actor, password_hash=hash_password(password))

    def set_enabled(self, name: str, enabled: bool, now: int, actor: str) -> OperatorRecord:
        return self.tables.update_operator(name, now, actor, enabled=enabled)

    def sign_in(self, name: str, password: str, address: str, now: int) -> NewSession:
        """A new session, or :class:`SignInRefused` (every attempt is recorded)."""
        since = now - THROTTLE_WINDOW_SECONDS * SECOND
        by_name, by_address = self.tables.failures_since(name, address, since)
        if by_name >= MAX_FAILURES_PER_NAME or by_address >= MAX_FAILURES_PER_ADDRESS:
            self.tables.record_sign_in(name, address, now, False)
            raise SignInRefused(throttled=True)
        operator = self.tables.get_operator(name)
        if not _verify(operator.password_hash if operator else _DUMMY_HASH, password) or (
            operator is None or not operator.enabled
        ):
            self.tables.record_sign_in(name, address, now, False)
            raise SignInRefused(throttled=False)
        self.tables.record_sign_in(name, address, now, True)
        if _HASHER.check_needs_rehash(operator.password_hash):
            operator = self.tables.update_operator(
                name, now, name, password_hash=_HASHER.hash(password)
            )
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + SESSION_SECONDS * SECOND
        self.tables.open_session(token_digest(token), operator.name, csrf, now, expires)
        return NewSession(token, SessionRecord(operator, csrf, now, expires))

    def session(self, token: str, now: int) -> SessionRecord | None:
        return self.tables.session(token_digest(token), now) if token else None

    def sign_out(self, token: str, now: int, operator: str) -> None:
        self.tables.close_session(token_digest(token), now, operator)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
