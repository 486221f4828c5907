#!/usr/bin/env python3
"""Fill a legacy eDoc sample with OrganId/Token and wrap it as the dialect's MIME request.

    python3 fill.py --organ-id 000.00.01.H53 --token=SECRET1 --set TO_ORGAN_ID=000.00.32.H53 \
        --set NUMBER=77 soap11/SendDocument.xml --out req.bin

writes the body to ``--out`` and prints the matching curl command: SwA ``multipart/related``
(a fresh boundary, root part ``<Start>``) with one part per ``cid:`` the Manifest names, read from
``files/`` (``--binary``: raw bytes, else base64 text as Bkav's clients write it). SOAP 1.1
samples get a SOAPAction header, SOAP 1.2 ones the ``action`` parameter. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def fill(template: str, organ_id: str, token: str, values: dict[str, str]) -> str:
    """The template with {{ORGAN_ID}}, {{TOKEN}} and every --set value filled in."""
    known = {"ORGAN_ID": organ_id, "TOKEN": token, **values}
    missing = sorted({m for m in re.findall(r"\{\{(\w+)\}\}", template) if m not in known})
    if missing:
        raise SystemExit(f"set these placeholders with --set NAME=VALUE: {', '.join(missing)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: known[m.group(1)], template)


def request(
    envelope: str, action: str, files: Path, binary: bool = False
) -> tuple[bytes, dict[str, str]]:
    """The multipart/related body and its HTTP headers (Content-Type, SOAPAction)."""
    soap12 = SOAP12 in envelope[:400]
    soap_type = "application/soap+xml" if soap12 else "text/xml"
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    out = [
        f"--{boundary}\r\nContent-Type: {soap_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\nContent-ID: <Start>\r\n\r\n".encode()
        + envelope.encode()
    ]
    for cid in re.findall(r'href="cid:([^"]+)"', envelope):
        path = next(iter(sorted(files.glob(cid + ".*"))), None)
        if path is None:
            raise SystemExit(f"no file for cid:{cid} in {files}")
        data = path.read_bytes()
        encoding = "Content-Transfer-Encoding: binary\r\n" if binary else ""
        out.append(
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n{encoding}"
            f"Content-ID: <{cid}>\r\n\r\n".encode()
            + (data if binary else base64.b64encode(data))
        )
    out.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="{soap_type}"; boundary="{boundary}"; start="<Start>"'
    headers = {"Content-Type": content_type}
    if soap12:
        headers["Content-Type"] += f'; action="{action}"'
    else:
        headers["SOAPAction"] = action
    return b"".join(out), headers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--organ-id", required=True)
    parser.add_argument("--token", required=True, help="the agency's secret")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--binary", action="store_true", help="binary file parts")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--endpoint", default="http://127.0.0.1:8080/legacy/edoc")
    args = parser.parse_args(argv)
    values = dict(item.split("=", 1) for item in args.set)
    envelope = fill(args.template.read_text("utf-8"), args.organ_id, args.token, values)
    body, headers = request(envelope, args.template.stem, HERE / "files", args.binary)
    args.out.write_bytes(body)
    flags = " ".join(f"-H '{k}: {v}'" for k, v in headers.items())
    print(f"curl -sS {flags} --data-binary @{args.out} {args.endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
