"""edoc-gateway from suds-community: send, pull, fetch, confirm, traces, faults (SOAP 1.1).

suds sends only PasswordText by itself, so the PasswordDigest is written here, as the
UsernameToken profile says: Base64(SHA-1(nonce + created + secret)), with a fresh nonce and
Created for every call (the gateway refuses a nonce it has seen). Settings come from the
environment (clients/README.md). suds speaks SOAP 1.1 only. KIT_STEP=busy makes one call
only, to show the fault of a gateway at its limit.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

from suds import WebFault
from suds.client import Client
from suds.sax.date import DateTime
from suds.wsse import Security, UsernameToken

url = os.environ["GATEWAY_URL"].rstrip("/") + "/soap/v1?wsdl"


class Agency:
    """A suds client that signs each call in as one agency."""

    def __init__(self, code: str, secret: str) -> None:
        self.code, self.secret = code, secret
        self.client = Client(url, port="EdocGatewaySoap11", cache=None, timeout=60)

    def call(self, operation: str, *args):  # type: ignore[no-untyped-def]
        token = UsernameToken(self.code)
        nonce = os.urandom(16)
        created = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        token.setnonce(base64.b64encode(nonce).decode())
        token.setnonceencoding(True)
        token.setcreated(created)
        digest = hashlib.sha1(nonce + str(DateTime(created)).encode() + self.secret.encode())
        token.setpassworddigest(base64.b64encode(digest.digest()).decode())
        security = Security()
        security.tokens.append(token)
        self.client.set_options(wsse=security)
        return getattr(self.client.service, operation)(*args)


def show_fault(path: str, error: WebFault) -> None:
    fault = error.fault
    code = fault.detail.GatewayFault.code
    standard = str(fault.faultcode).rpartition(":")[2]
    print(f"fault {path} {code} {standard} | {fault.faultstring}")


sender = Agency(os.environ["SENDER_CODE"], os.environ["SENDER_SECRET"])
receiver = Agency(os.environ["RECEIVER_CODE"], os.environ["RECEIVER_SECRET"])

if os.environ.get("KIT_STEP") == "busy":
    # A gateway at its limit refuses every call at once with Server.Busy (soap:Server, HTTP 500
    # with Retry-After): nothing was done, send it again later.
    try:
        sender.call("Ping")
    except WebFault as error:
        show_fault("busy", error)
    raise SystemExit(0)

with open(os.environ["PACKAGE_FILE"], "rb") as file:
    receipt = sender.call("SendDocument", base64.b64encode(file.read()).decode())
print(f"sent {receipt.packageId} duplicate={str(receipt.duplicate).lower()}")

page = receiver.call("GetPending", "document", 100, None)
items = page["items"].item if page["items"] else []
print("pending " + " ".join(item.packageId for item in items))

fetched = receiver.call("GetPackage", receipt.packageId)
matches = str(len(base64.b64decode(fetched.package)) == fetched.size).lower()
print(f"fetched {fetched.packageId} size={fetched.size} matches={matches}")

confirmed = receiver.call("ConfirmReceived", receipt.packageId, "ok", None)
print(f"confirmed {confirmed.packageId} status={confirmed.statusPackageId}")

traces = sender.call("GetTraces", None, receipt.packageId, None)
for trace in traces.trace if traces else []:
    print(f"trace {trace.statusCode} {trace.fromAgency} -> {trace.toAgency}")

try:
    Agency(os.environ["SENDER_CODE"], "not-the-secret").call("Ping")
except WebFault as error:
    show_fault("auth", error)
try:
    sender.call("SendDocument", base64.b64encode(b"this is not an edXML package").decode())
except WebFault as error:
    show_fault("validation", error)
try:
    sender.call("SendDocument", base64.b64encode(b"x" * int(os.environ["LIMIT_BYTES"])).decode())
except WebFault as error:
    show_fault("limits", error)
