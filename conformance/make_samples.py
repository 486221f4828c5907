"""Write conformance/samples/soap11 and soap12: one request per modern operation.

Run from the repository root (``python conformance/make_samples.py``) after the WSDL changes;
tests/integration/test_conformance_samples.py replays every sample against a demo gateway.
The packages inside are the bundled quick-start document and a STATUS 03 answering it, between
the ``serve --demo`` agencies.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from gateway.edxml.enums import StatusCode
from gateway.edxml.model import Organization, ResponseFor, StaffInfo, StatusHeader, StatusPackage
from gateway.edxml.writer import package_bytes

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
TNS = "urn:edoc-gateway:soap:v1"
VERSIONS = {
    "soap11": "http://schemas.xmlsoap.org/soap/envelope/",
    "soap12": "http://www.w3.org/2003/05/soap-envelope",
}
SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
DOCUMENT_ID = "000.00.01.H53,2026/11/02,125/VP-HCTC"
"""The bundled quick-start document's DocumentId."""


def status_package() -> bytes:
    pkg = StatusPackage(
        header=StatusHeader(
            from_=Organization(RECEIVER, "UBND huyện Châu Thành", "UBND huyện Châu Thành"),
            response_for=ResponseFor(SENDER, "125/VP-HCTC", dt.date(2026, 11, 2), DOCUMENT_ID),
            staff_info=StaffInfo("Văn thư", "Trần Thị B", "0912000001", "vanthu@example.gov.vn"),
            status_code=StatusCode.ACCEPTED,
            description="Tiếp nhận, vào sổ văn bản đến",
            timestamp=dt.datetime(2026, 11, 3, 10, 0, 0),
        )
    )
    return package_bytes(pkg, None)


def bodies() -> dict[str, str]:
    document = (REPO / "gateway" / "examples" / "quickstart-document.edxml").read_bytes()
    doc64 = base64.b64encode(document).decode()
    status64 = base64.b64encode(status_package()).decode()
    return {
        "SendDocument": f"<tns:package>{doc64}</tns:package>",
        "SendDocumentFields": (
            f"<tns:document><tns:to><tns:organId>{RECEIVER}</tns:organId></tns:to>"
            "<tns:subject>V/v mẫu gửi theo trường</tns:subject><tns:codeNumber>{{NUMBER}}"
            "</tns:codeNumber><tns:codeNotation>UBND-VP</tns:codeNotation>"
            "<tns:promulgationDate>2024-03-05</tns:promulgationDate><tns:attachments>"
            "<tns:attachment><tns:name>mau.pdf</tns:name><tns:contentType>application/pdf"
            "</tns:contentType><tns:data>JVBERi0xLjQgbWF1</tns:data></tns:attachment>"
            "</tns:attachments></tns:document>"
        ),
        "SendStatus": f"<tns:package>{status64}</tns:package>",
        "SendStatusFields": (
            f"<tns:status><tns:responseForOrganId>{SENDER}</tns:responseForOrganId>"
            f"<tns:responseForDocumentId>{DOCUMENT_ID}</tns:responseForDocumentId>"
            "<tns:statusCode>04</tns:statusCode></tns:status>"
        ),
        "GetPending": "<tns:kind>document</tns:kind><tns:limit>10</tns:limit>",
        "GetPackage": "<tns:packageId>{{PACKAGE_ID}}</tns:packageId>",
        "ConfirmReceived": (
            "<tns:packageId>{{PACKAGE_ID}}</tns:packageId><tns:outcome>ok</tns:outcome>"
        ),
        "GetTraces": f"<tns:documentId>{DOCUMENT_ID}</tns:documentId>",
        "GetAgencies": "",
        "Ping": "",
        "GetServiceInfo": "",
    }


def main() -> None:
    for folder, namespace in VERSIONS.items():
        target = ROOT / "samples" / folder
        target.mkdir(parents=True, exist_ok=True)
        for operation, body in bodies().items():
            header = "" if operation in ("Ping", "GetServiceInfo") else "{{SECURITY}}"
            text = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<soap:Envelope xmlns:soap="{namespace}" xmlns:tns="{TNS}">\n'
                f"  <soap:Header>{header}</soap:Header>\n"
                f"  <soap:Body>\n    <tns:{operation}>{body}</tns:{operation}>\n  </soap:Body>\n"
                "</soap:Envelope>\n"
            )
            (target / f"{operation}.xml").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
