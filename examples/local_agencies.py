"""Play the province's two demo agencies over SOAP (zeep) for the README walkthrough.

    python examples/local_agencies.py send     # 000.00.01.H53 to 000.00.32.H53 and 000.00.00.H41
    python examples/local_agencies.py receive  # 000.00.32.H53 pulls and confirms (STATUS 01)
    python examples/local_agencies.py traces   # the sender's view: every status that came back

Secrets come from ``edoc-gateway agencies show-secret`` on the same configuration.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import zeep
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
DOCUMENT = Path(__file__).with_name("walkthrough-document.edxml")
DOCUMENT_ID = "000.00.01.H53,2026/11/02,126/VP-HCTC"


def client(url: str, config: str, code: str) -> Any:
    secret = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "agencies", "show-secret", code,
         "--config", config],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.split()[-1]
    return zeep.Client(
        f"{url}?wsdl",
        wsse=UsernameToken(code, secret, use_digest=True),
        transport=Transport(timeout=10, operation_timeout=30),
    ).service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("send", "receive", "traces"))
    parser.add_argument("--url", default="http://127.0.0.1:8080/soap/v1")
    parser.add_argument("--config", default="examples/province.toml")
    parser.add_argument(
        "--expect", type=int, default=3, help="traces: wait until this many statuses are back"
    )
    parser.add_argument("--wait", type=float, default=60.0, help="traces: seconds to wait")
    args = parser.parse_args()
    if args.action == "send":
        receipt = client(args.url, args.config, SENDER).SendDocument(DOCUMENT.read_bytes())
        print(f"sent {receipt.packageId} (duplicate: {receipt.duplicate})")
    elif args.action == "receive":
        receiver = client(args.url, args.config, RECEIVER)
        page = receiver.GetPending("document", 10, "")
        for item in page["items"]["item"] if page["items"] else []:
            print(f"received {item.packageId} from {item.sender}: {item.subject}")
            receiver.ConfirmReceived(item.packageId, "ok", "")
            print("  confirmed: STATUS 01 goes back to the sender")
    else:
        sender = client(args.url, args.config, SENDER)
        deadline = time.monotonic() + args.wait
        while len(traces := sender.GetTraces(DOCUMENT_ID, None, None) or []) < args.expect:
            if time.monotonic() >= deadline:
                break  # print what came back: the missing ones say where to look
            time.sleep(0.5)  # statuses from upstream come back through the relay's poller
        for trace in traces:
            print(f"STATUS {trace.statusCode} from {trace.fromAgency}: {trace.description}")


if __name__ == "__main__":
    main()
