"""WS-Security UsernameToken headers (PasswordDigest) for requests written by hand.

zeep signs its own calls; raw requests (malformed bodies, replays, streamed uploads) need the
same header as text. Digest = Base64(SHA-1(nonce + created + password)), UsernameToken Profile
1.0 §3.1; nonces are single-use, so every request needs a fresh one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def created_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def security_header(
    username: str, secret: str, *, nonce: bytes | None = None, created: str | None = None
) -> str:
    """A ``wsse:Security`` element with a PasswordDigest UsernameToken, as XML text."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or created_now()
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + secret.encode()).digest())
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/'
        f'oasis-200401-wss-soap-message-security-1.0#Base64Binary">'
        f"{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )
