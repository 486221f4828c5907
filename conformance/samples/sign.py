#!/usr/bin/env python3
"""Fill a sample SOAP request with a fresh WS-Security UsernameToken, ready for curl or SoapUI.

Nonces are single-use (a replay is refused), so sign every request just before sending it:

    python3 sign.py --agency 000.00.01.H53 --secret=SECRET soap11/SendDocument.xml > request.xml
    curl -sS -H 'Content-Type: text/xml; charset=utf-8' --data-binary @request.xml \\
         http://127.0.0.1:8080/soap/v1

Placeholders: {{SECURITY}} becomes the wsse:Security header (PasswordDigest: Base64(SHA-1(nonce +
created + secret)), UsernameToken Profile 1.0); --set NAME=VALUE fills {{NAME}} (e.g.
--set PACKAGE_ID=...); --package FILE fills {{PACKAGE_BASE64}} with that edXML file's base64.
Needs only Python's standard library.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import sys

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def security(agency: str, secret: str) -> str:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + secret.encode()).digest())
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{agency}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def fill(template: str, agency: str, secret: str, values: dict[str, str]) -> str:
    """The template with every placeholder replaced; an unfilled one is an error."""
    text = template.replace("{{SECURITY}}", security(agency, secret) if agency else "")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        missing = text[text.index("{{") : text.index("}}", text.index("{{")) + 2]
        raise SystemExit(f"placeholder {missing} is not filled: use --set or --package")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("template", help="a sample request, e.g. soap11/GetPending.xml")
    parser.add_argument("--agency", default="", help="agency code (omit for Ping/GetServiceInfo)")
    parser.add_argument("--secret", default="")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--package", help="edXML file for {{PACKAGE_BASE64}}")
    args = parser.parse_args(argv)
    values = dict(item.split("=", 1) for item in args.set)
    if args.package:
        with open(args.package, "rb") as stream:
            values["PACKAGE_BASE64"] = base64.b64encode(stream.read()).decode()
    with open(args.template, encoding="utf-8") as stream:
        sys.stdout.write(fill(stream.read(), args.agency, args.secret, values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
