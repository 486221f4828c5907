"""edoc-gateway from zeep: send a document, pull the mailbox, fetch, confirm, read traces.

Reads its settings from the environment (clients/README.md): GATEWAY_URL, SENDER_CODE,
SENDER_SECRET, RECEIVER_CODE, RECEIVER_SECRET, PACKAGE_FILE, LIMIT_BYTES and SOAP_VERSION
(1.1 or 1.2). zeep builds the WS-Security UsernameToken PasswordDigest by itself.
KIT_STEP=busy makes one call only, to show the fault of a gateway at its limit.
"""

from __future__ import annotations

import os

import zeep
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

TNS = "urn:edoc-gateway:soap:v1"
url = os.environ["GATEWAY_URL"].rstrip("/") + "/soap/v1"
binding = "EdocGatewaySoap12" if os.environ.get("SOAP_VERSION") == "1.2" else "EdocGatewaySoap11"


def service(code: str, secret: str):  # type: ignore[no-untyped-def]
    """A proxy that signs every call in as ``code`` (PasswordDigest, Nonce, Created)."""
    client = zeep.Client(
        url + "?wsdl",
        wsse=UsernameToken(code, secret, use_digest=True),
        settings=zeep.Settings(strict=True, xml_huge_tree=True),
        transport=Transport(operation_timeout=60),
    )
    return client.bind("EdocGateway", binding)


def show_fault(path: str, fault: Fault) -> None:
    """The gateway's code is in the GatewayFault detail; the sentence is the fault string."""
    detail = fault.detail.find(f"{{{TNS}}}GatewayFault")
    code = detail.findtext(f"{{{TNS}}}code")
    standard = (fault.code or "").rpartition("}")[2].rpartition(":")[2]
    print(f"fault {path} {code} {standard} | {fault.message}")


sender = service(os.environ["SENDER_CODE"], os.environ["SENDER_SECRET"])
receiver = service(os.environ["RECEIVER_CODE"], os.environ["RECEIVER_SECRET"])

if os.environ.get("KIT_STEP") == "busy":
    # A gateway at its limit refuses every call at once with Server.Busy (soap:Server, or
    # Receiver in SOAP 1.2; HTTP 500 with Retry-After): nothing was done, send it again later.
    try:
        sender.Ping()
    except Fault as fault:
        show_fault("busy", fault)
    raise SystemExit(0)

with open(os.environ["PACKAGE_FILE"], "rb") as file:
    receipt = sender.SendDocument(file.read())
print(f"sent {receipt.packageId} duplicate={str(receipt.duplicate).lower()}")

page = receiver.GetPending("document", 100, None)
items = page.items.item if page.items is not None else []
print("pending " + " ".join(item.packageId for item in items))

fetched = receiver.GetPackage(receipt.packageId)
matches = str(len(fetched.package) == fetched.size).lower()
print(f"fetched {fetched.packageId} size={fetched.size} matches={matches}")

confirmed = receiver.ConfirmReceived(receipt.packageId, "ok", None)
print(f"confirmed {confirmed.packageId} status={confirmed.statusPackageId}")

for trace in sender.GetTraces(None, receipt.packageId, None) or []:
    print(f"trace {trace.statusCode} {trace.fromAgency} -> {trace.toAgency}")

try:
    service(os.environ["SENDER_CODE"], "not-the-secret").Ping()
except Fault as fault:
    show_fault("auth", fault)
try:
    sender.SendDocument(b"this is not an edXML package")
except Fault as fault:
    show_fault("validation", fault)
try:
    sender.SendDocument(b"x" * int(os.environ["LIMIT_BYTES"]))
except Fault as fault:
    show_fault("limits", fault)
