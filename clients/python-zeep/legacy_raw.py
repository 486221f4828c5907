"""The legacy eDoc dialect's file operations as raw HTTP, Python standard library only.

Generated stubs (zeep, suds) cannot express SendDocument's MIME parts nor GetDocument's answer
(header blocks plus MIME parts), so this writes both by hand: the envelopes are the dialect's
samples (conformance/samples/legacy/soap11) with their placeholders filled, the file travels as
a SwA multipart/related part named by the Manifest's cid:. See clients/README.md.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.request
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from xml.etree import ElementTree

EDOC, XLINK = "{http://www.e-doc.vn/Schema/}", "{http://www.w3.org/1999/xlink}"
env = os.environ
endpoint = env["GATEWAY_URL"].rstrip("/") + "/legacy/edoc"
samples = env.get("LEGACY_SAMPLES", "../../conformance/samples/legacy/soap11")


def envelope(operation: str, **values: str) -> bytes:
    """The sample request of the operation with its {{NAME}} placeholders filled in."""
    with open(os.path.join(samples, operation + ".xml"), encoding="utf-8") as sample:
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], sample.read()).encode()


def post(operation: str, body: bytes, content_type: str) -> dict[str, bytes]:
    """POST with the SOAPAction; the answer's MIME parts by Content-ID ("root": the envelope)."""
    headers = {"Content-Type": content_type, "SOAPAction": operation}
    request = urllib.request.Request(endpoint, body, headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        answer_type, answer = response.headers["Content-Type"], response.read()
    if not answer_type.startswith("multipart/"):
        return {"root": answer}
    head = f"Content-Type: {answer_type}\r\n\r\n".encode()
    message = BytesParser(_class=EmailMessage, policy=HTTP).parsebytes(head + answer)
    start = str(message.get_param("start", "")).strip("<>")
    parts = {}
    for part in message.iter_parts():
        content_id = str(part.get("Content-ID", "")).strip("<>")
        content = part.get_payload(decode=True)  # the part's bytes as they came
        assert isinstance(content, bytes)
        parts["root" if content_id == start else content_id] = content
    return parts


def find(element: ElementTree.Element, *names: str) -> ElementTree.Element:
    """The first element at this path of e-doc.vn names, each below the one before."""
    for name in names:
        found = element.find(f".//{EDOC}{name}")
        if found is None:
            raise SystemExit(f"no {name} in the answer")
        element = found
    return element


def text(element: ElementTree.Element, *names: str) -> str:
    return find(element, *names).text or ""


# SendDocument (sender): the envelope as the root part, the file as a base64 part.
with open(env["ATTACHMENT_FILE"], "rb") as attachment:
    data = attachment.read()
root = envelope(
    "SendDocument",
    ORGAN_ID=env["SENDER_CODE"],
    TOKEN=env["SENDER_SECRET"],
    TO_ORGAN_ID=env["RECEIVER_CODE"],
    NUMBER=env["DOCUMENT_NUMBER"],
)
cid = root.split(b'href="cid:', 1)[1].split(b'"', 1)[0].decode()  # the Manifest names the part
boundary = "MIME_" + uuid.uuid4().hex
body = b"".join(
    [
        f"--{boundary}\r\nContent-Type: text/xml; charset=utf-8\r\n".encode(),
        b"Content-ID: <Start>\r\n\r\n" + root,
        f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n".encode(),
        f"Content-Transfer-Encoding: base64\r\nContent-ID: <{cid}>\r\n\r\n".encode(),
        base64.b64encode(data),
        f"\r\n--{boundary}--\r\n".encode(),
    ]
)
content_type = f'multipart/related; type="text/xml"; boundary="{boundary}"; start="<Start>"'
answer = ElementTree.fromstring(post("SendDocument", body, content_type)["root"])
document_id = text(answer, "SendDocumentResponse", "DocumentId")
print(f"legacy sent {document_id} success={text(answer, 'Report', 'IsSuccess')}")

# GetDocument (receiver): a plain SOAP request; the answer is the document's header blocks and
# Manifest in the root part, one MIME part per file, whose content is the file's base64 text.
request = envelope(
    "GetDocument",
    ORGAN_ID=env["RECEIVER_CODE"],
    TOKEN=env["RECEIVER_SECRET"],
    DOCUMENT_ID=document_id,
)
parts = post("GetDocument", request, "text/xml; charset=utf-8")
answer = ElementTree.fromstring(parts["root"])
header = find(answer, "MessageHeader")
sender, receiver = text(header, "From", "OrganId"), text(header, "To", "OrganId")
edxml_id = text(header, "DocumentId")
print(f"legacy header {document_id} from={sender} to={receiver} edxml={edxml_id}")
reference = find(answer, "Manifest", "Reference")
name = text(reference, "AttachmentName")
received = base64.b64decode(parts[reference.get(f"{XLINK}href", "").removeprefix("cid:")])
digest = hashlib.sha256(received).hexdigest()
matches = str(received == data).lower()
print(f"legacy fetched {document_id} file={name} size={len(received)} sha256={digest}", end="")
print(f" matches={matches}")
