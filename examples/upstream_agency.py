"""Play an agency on the national axis (the simulator) beyond the province, for the README
walkthrough: register it under its own system, then receive its documents, acknowledge them and
answer each with STATUS 01 and 03, as its document-management software would.

    python examples/upstream_agency.py register
    python examples/upstream_agency.py answer
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import time

from gateway.config import UpstreamSettings
from gateway.edxml.enums import StatusCode
from gateway.edxml.model import (
    DocumentPackage,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusHeader,
    StatusPackage,
)
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.relay.connector import OutboundPackage
from gateway.relay.connectors.vxp import VxpConnector
from gateway.store.blobs import FileBlobStore
from gateway.vxp.wire import AgencyRecord

AGENCY = Organization(
    organ_id="000.00.00.H41",
    organization_in_charge="UBND tỉnh Nghệ An",
    organ_name="UBND tỉnh Nghệ An",
    organ_add="Vinh, Nghệ An",
    email="vanthu@example.gov.vn",
    telephone="0238 000 0000",
    fax="",
    website="",
)


def status(code: StatusCode, document: DocumentPackage) -> bytes:
    header = document.header
    pkg = StatusPackage(
        StatusHeader(
            from_=AGENCY,
            response_for=ResponseFor(
                organ_id=header.from_.organ_id,
                code=f"{header.code.code_number}/{header.code.code_notation}",
                promulgation_date=header.promulgation_info.promulgation_date,
                document_id=header.document_id,
            ),
            staff_info=StaffInfo("Văn thư", "Lê Thị C", "0912000003", "c@example.gov.vn"),
            status_code=code,
            description=code.vietnamese,
            timestamp=dt.datetime.now().replace(microsecond=0),
        )
    )
    return package_bytes(pkg, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("register", "answer"))
    parser.add_argument("--endpoint", default="http://127.0.0.1:8480/XrdAdapter/adapter")
    parser.add_argument("--system", default="00.41.W00")
    parser.add_argument("--secret", default="centre-secret")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="answer: seconds to wait for a document"
    )
    args = parser.parse_args()
    axis = VxpConnector(
        UpstreamSettings(
            name="axis", protocol="vxp", endpoint=args.endpoint, system_id=args.system,
            secret=args.secret, timeout_seconds=10,
        )
    )
    try:
        if args.action == "register":
            axis.register_agency(AgencyRecord(AGENCY.organ_id, AGENCY.organ_name, args.system))
            print(f"{AGENCY.organ_id} registered under {args.system}")
            return
        deadline = time.monotonic() + args.wait
        while not (items := axis.list_inbound("document", 100)):
            if time.monotonic() >= deadline:
                raise SystemExit(f"no document arrived within {args.wait:g} s")
            time.sleep(0.5)  # the province's relay has not sent it yet
        for item in items:
            into = io.BytesIO()
            axis.fetch(item, into)
            document = read_package(into.getvalue(), FileBlobStore(_scratch(), durable=False))
            assert isinstance(document, DocumentPackage)
            axis.acknowledge(item, True, "Đã nhận")
            print(f"received {document.header.document_id} from {item.sender}: "
                  f"{document.header.subject}")
            for code in (StatusCode.RECEIVED, StatusCode.ACCEPTED):
                data = status(code, document)
                axis.send(
                    OutboundPackage(
                        package_id=f"status-{code.value}", kind="status",
                        sender=AGENCY.organ_id, recipients=(), open=lambda d=data: io.BytesIO(d),
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    )
                )
                print(f"  answered STATUS {code.value} ({code.vietnamese})")
    finally:
        axis.close()


def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="upstream-agency-")


if __name__ == "__main__":
    main()
