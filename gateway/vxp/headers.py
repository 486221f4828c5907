"""The ``XroadVnpt-*`` header scheme of the national axis (reference §4.2), both directions.

A client signs a request by listing its parameters (``systemid``, ``timestamp``, ``Content-Type``,
the per-call keys, ``hash-file`` for sendEdoc) as ``XroadVnpt-<name>`` headers, then adds:

- ``XroadVnpt-sign-header-key``: the signed header names joined by ``;``;
- ``XroadVnpt-sign-header``: a compact JSON object of those headers, in insertion order;
- ``XroadVnpt-hash-header``: lowercase hex HMAC-SHA256 of that JSON string (UTF-8), keyed by
  the UTF-8 secret. The secret itself never travels.

Because the exact JSON string is transmitted, a server recomputes the HMAC over it as received:
no canonicalisation. It then checks that every ``XroadVnpt-*`` header actually sent agrees with the
JSON, so a header cannot be swapped after signing. Names are compared case-insensitively: the
SDK itself sends both ``docId`` and ``docid`` (reference §7.13).

Header values travel as UTF-8 bytes (a Vietnamese ``description`` is not Latin-1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.errors import VxpSignatureError

SignatureError = VxpSignatureError
"""The name this module raised it under first (the class lives in :mod:`gateway.errors`)."""

PREFIX = "XroadVnpt-"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
SIGN_HEADER = "XroadVnpt-sign-header"
HASH_HEADER = "XroadVnpt-hash-header"
VERSION_HEADER = "XroadVnpt-version"
VERSION = "3.0.201608"
"""The SDK's protocol version header (sent, not signed)."""
USER_AGENT = "edoc-gateway VXP/1.0 XRoad/VPCP"

_UNSIGNED = {h.lower() for h in (SIGN_HEADER_KEY, SIGN_HEADER, HASH_HEADER, VERSION_HEADER)}


def format_timestamp(moment: dt.datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` as the Java SDK writes it: ``+`` is a literal and ``SSSS`` the
    milliseconds padded to four digits (e.g. ``25032024T101530+0123``)."""
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


def parse_timestamp(text: str) -> dt.datetime:
    """The inverse of :func:`format_timestamp` (naive local time, as the SDK sends it)."""
    head, sep, millis = text.partition("+")
    if not sep or len(millis) != 4 or not millis.isdigit():
        raise ValueError(f"timestamp {text!r} is not ddMMyyyy'T'HHmmss+SSSS")
    return dt.datetime.strptime(head, "%d%m%YT%H%M%S").replace(microsecond=int(millis) * 1000)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` keyed by ``secret`` (both UTF-8)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(secret: str, params: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The HTTP headers for one call: each parameter as ``XroadVnpt-<name>`` plus the three
    signature headers. ``params`` are ``(name, value)`` pairs without the prefix, in signing
    order (``systemid``, ``timestamp``, ``Content-Type``, per-call keys, ``hash-file``)."""
    signed: dict[str, str] = {}
    for name, value in params:
        header = PREFIX + name
        if header.lower() in _UNSIGNED or any(k.lower() == header.lower() for k in signed):
            raise ValueError(f"parameter {name!r} is reserved or given twice")
        signed[header] = value
    document = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
    headers = list(signed.items())
    headers.append((SIGN_HEADER_KEY, ";".join(signed)))
    headers.append((SIGN_HEADER, document))
    headers.append((HASH_HEADER, hmac_hex(secret, document)))
    return headers


@dataclass(frozen=True, slots=True)
class SignedParams:
    """The parameters a verified request carries, looked up case-insensitively without the
    ``XroadVnpt-`` prefix (``params.get("docId")`` finds ``XroadVnpt-docid``)."""

    items: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        wanted = (PREFIX + name).lower()
        for header, value in self.items:
            if header.lower() == wanted:
                return value
        return default

    @property
    def system_id(self) -> str:
        return self.get("systemid")


def claimed_system_id(headers: Mapping[str, str]) -> str:
    """The ``systemid`` a request claims (to look up its secret before verifying)."""
    return _lookup(headers, PREFIX + "systemid") or ""


def verify(headers: Mapping[str, str], secret: str) -> SignedParams:
    """Check a request's signature; return its signed parameters.

    ``headers`` maps received header names (any case) to values already decoded from UTF-8.
    Raises :class:`SignatureError` naming what is wrong; the comparison is constant-time.
    """
    document = _lookup(headers, SIGN_HEADER)
    received_hash = _lookup(headers, HASH_HEADER)
    key_list = _lookup(headers, SIGN_HEADER_KEY)
    if document is None or received_hash is None or key_list is None:
        raise SignatureError(
            f"missing {SIGN_HEADER_KEY}, {SIGN_HEADER} or {HASH_HEADER}: the request is not signed"
        )
    expected = hmac_hex(secret, document)
    if not hmac.compare_digest(expected, received_hash.strip().lower()):
        raise SignatureError(f"{HASH_HEADER} does not match: wrong secret or altered headers")
    try:
        signed = json.loads(document)
    except ValueError as exc:
        raise SignatureError(f"{SIGN_HEADER} is not JSON: {exc}") from None
    if not isinstance(signed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in signed.items()
    ):
        raise SignatureError(f"{SIGN_HEADER} must be a JSON object of strings")
    names = [name for name in key_list.split(";") if name]
    if sorted(n.lower() for n in names) != sorted(k.lower() for k in signed):
        raise SignatureError(f"{SIGN_HEADER_KEY} does not list the headers in {SIGN_HEADER}")
    lowered = {k.lower(): v for k, v in signed.items()}
    for name, value in headers.items():
        low = name.lower()
        if not low.startswith(PREFIX.lower()) or low in _UNSIGNED:
            continue
        if low not in lowered:
            raise SignatureError(f"header {name} was sent but not signed")
        if lowered[low] != value:
            raise SignatureError(f"header {name} differs from the signed value")
    params = SignedParams(tuple(signed.items()))
    if not params.system_id:
        raise SignatureError("XroadVnpt-systemid is not signed")
    timestamp = params.get("timestamp")
    try:
        parse_timestamp(timestamp)
    except ValueError as exc:
        raise SignatureError(str(exc)) from None
    return params


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
