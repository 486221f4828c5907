"""Validation: the XSDs describe the strict writer's output, and the QCVN rules fire precisely.

Three groups:
- every shared sample (real VPCP/VXP packages) is read, re-written WITH content, and must give zero
  schema findings; its rule findings are asserted exactly, with the reason for each;
- hand-built packages (model dataclasses + ``dataclasses.replace``) exercise each rule and the
  mapping of libxml2 errors to ``N.``/``R.``/``M.`` codes and prefix-free paths;
- the schema machinery: compiled once, loadable by xmlschema too, found on disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.edxml import read_package
from gateway.edxml.enums import (
    BusinessDocType,
    Priority,
    ReceiverType,
    StatusCode,
    SteeringType,
)
from gateway.edxml.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    MessageHeader,
    OpaqueXml,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.validate import (
    ensure_valid,
    rule_findings,
    schema,
    schema_findings,
    validate,
    xsd_directory,
)
from gateway.edxml.writer import package_bytes
from gateway.errors import Finding, InvalidPackage, Severity
from gateway.store.blobs import FileBlobStore
from tests.fixtures.samples import SAMPLES_DIR, require_samples, sample_names

E, W = Severity.ERROR, Severity.WARNING
TODAY = dt.date(2025, 12, 31)
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
TRACE = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
BUSINESS = f"{TRACE}/Bussiness"
MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def codes(findings: list[Finding]) -> set[tuple[str, Severity]]:
    return {(f.code, f.severity) for f in findings}


def only(findings: list[Finding], code: str) -> Finding:
    """The single finding with ``code`` (fails if there are none or several)."""
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, f"expected one {code}, got {findings}"
    return matching[0]


# ---------------------------------------------------------------------------------------------
# Shared samples
# ---------------------------------------------------------------------------------------------

# Exact rule findings per sample, as (code, severity), and why.
EXPECTED_RULES: dict[str, set[tuple[str, Severity]]] = {
    # VXP-delivered 2019 package: QCVN codes everywhere, extra hop 001.00.20.TT2 is a valid code.
    "axis-delivered/2019-852e179c.edxml": set(),
    # The 2025 axis test platform uses the VXP test systemId ``vxp.saas.03`` as From and To
    # OrganId: lowercase, no agency code in either form -> M. errors. Its TraceHeaders are the
    # axis's own: OrganId ``null`` (a Java placeholder) and a hop with only a Timestamp; those are
    # warnings only, the sender cannot be blamed for the axis's hops.
    "axis-delivered/2025-874e0f18.edxml": {
        ("M.MessageHeader.From.OrganId", E),
        ("M.MessageHeader.To.OrganId", E),
        ("M.TraceHeaderList.TraceHeader.OrganId", W),
        ("N.TraceHeaderList.TraceHeader.OrganId", W),
    },
    "axis-delivered/2025-9e272474.edxml": {
        ("M.MessageHeader.From.OrganId", E),
        ("M.MessageHeader.To.OrganId", E),
        ("M.TraceHeaderList.TraceHeader.OrganId", W),
        ("N.TraceHeaderList.TraceHeader.OrganId", W),
    },
    # Older VPCP sample: TraceHeader ``01.02.G22`` is a syntactically valid QĐ 20 code.
    "vpcp-sdk/edoc.edxml": set(),
    "vpcp-sdk/edoc_new.edxml": set(),
    "vpcp-sdk/edoc_replacement.edxml": set(),
    # VPCP's revocation sample (VNPT SDK) has no Bussiness/DocumentId: the revoked document is
    # named only by MessageHeader/DocumentId. Accepted, with a warning under the rule's code.
    "vpcp-sdk/edoc_revocation.edxml": {("N.TraceHeaderList.Bussiness.DocumentId", W)},
    "vpcp-sdk/edoc_update.edxml": set(),
    "vpcp-sdk/status_acceptance_03.edxml": set(),
    "vpcp-sdk/status_assignment_04.edxml": set(),
    # Code 13 is sent by the original sender (G22) to the receiver: From != ResponseFor still.
    "vpcp-sdk/status_cancellation_13.edxml": set(),
    "vpcp-sdk/status_change-acceptance_15.edxml": set(),
    "vpcp-sdk/status_change-rejection_16.edxml": set(),
    "vpcp-sdk/status_finish_06.edxml": set(),
    "vpcp-sdk/status_inbox_01.edxml": set(),
    "vpcp-sdk/status_processing_05.edxml": set(),
    "vpcp-sdk/status_rejection_02.edxml": set(),
}


def _sample_files() -> list[str]:
    return sample_names()


def _require_samples() -> None:
    require_samples()


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs", durable=False)


def test_samples_are_all_listed() -> None:
    _require_samples()
    assert _sample_files(), f"no *.edxml under {SAMPLES_DIR}"
    assert set(_sample_files()) == set(EXPECTED_RULES), "add new samples to EXPECTED_RULES"


@pytest.mark.parametrize("name", _sample_files() or ["<samples missing>"])
def test_sample_written_with_content_is_schema_valid(name: str, store: FileBlobStore) -> None:
    _require_samples()
    pkg = read_package(SAMPLES_DIR / name, store)
    kind = "status" if isinstance(pkg, StatusPackage) else "document"
    assert schema_findings(kind, package_bytes(pkg, store)) == []
    assert schema_findings(kind, package_bytes(pkg, None, with_content=False)) == []


@pytest.mark.parametrize("name", _sample_files() or ["<samples missing>"])
def test_sample_rule_findings(name: str, store: FileBlobStore) -> None:
    _require_samples()
    pkg = read_package(SAMPLES_DIR / name, store)
    found = rule_findings(pkg, today=TODAY)
    assert codes(found) == EXPECTED_RULES[name], found
    for finding in found:
        assert finding.path.startswith("/edXML/") and finding.message


@pytest.mark.parametrize("name", _sample_files() or ["<samples missing>"])
def test_sample_validate_combines_reading_schema_and_rules(name: str, store: FileBlobStore) -> None:
    _require_samples()
    pkg = read_package(SAMPLES_DIR / name, store)
    found = validate(pkg, today=TODAY)
    keys = [(f.code, f.path) for f in found]
    assert len(keys) == len(set(keys)), "same code and path reported twice"
    severities = [f.severity for f in found]
    assert severities == sorted(severities, key=lambda s: s is not E), "errors come first"
    expected = {(f.code, f.path) for f in pkg.findings} | {
        (f.code, f.path) for f in rule_findings(pkg, today=TODAY)
    }
    assert set(keys) == expected


# ---------------------------------------------------------------------------------------------
# Hand-built packages
# ---------------------------------------------------------------------------------------------

G22 = Organization(
    "000.00.00.G22",
    "Văn phòng Chính phủ",
    "Văn phòng Chính phủ",
    "Số 1 Hoàng Hoa Thám, Hà Nội",
    "vpcp@gov.vn",
    "080 43100",
    "",
    "vpcp.vn",
)
H41 = dataclasses.replace(G22, organ_id="000.00.00.H41", organ_name="UBND Tỉnh Nghệ An")
H36 = dataclasses.replace(G22, organ_id="H36.17", organ_name="Sở Nội vụ Lâm Đồng")  # QĐ 20 form

SIGNATURE_XMLDSIG = OpaqueXml(
    f'<Signature xmlns="{XMLDSIG}"><SignedInfo><CanonicalizationMethod '
    'Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"></CanonicalizationMethod>'
    "</SignedInfo><SignatureValue>AAAA</SignatureValue></Signature>".encode()
)


@pytest.fixture
def document(store: FileBlobStore) -> DocumentPackage:
    """A valid document: two recipients, one hop, one attachment, a signature, opaque ReplyFors."""
    content = store.put_bytes(b"%PDF-1.4\n% hello\n%%EOF\n")
    header = MessageHeader(
        from_=G22,
        to=(H41, H36),
        document_id="000.00.00.G22,2025/03/14,15/VPCP-TTĐT",
        code=Code("15", "VPCP-TTĐT"),
        promulgation_info=PromulgationInfo("Hà Nội", dt.date(2025, 3, 14)),
        document_type=DocumentType("1", "0", "Công văn"),
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        content="",
        signer_info=SignerInfo("KT. BỘ TRƯỞNG", "Thứ trưởng", "Nguyễn Văn A"),
        due_date=None,
        other_info=OtherInfo(
            priority=Priority.URGENT,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="TVC",
            promulgation_amount=2,
            page_amount=None,
            direction=False,
            appendixes=("Phụ lục I",),
            reply_fors=OpaqueXml(
                f'<ReplyFors xmlns="{QCVN}"><ReplyFor>x</ReplyFor></ReplyFors>'.encode()
            ),
        ),
        response_for=(
            ResponseFor("000.00.00.H41", "12/UBND-VX", dt.date(2025, 3, 1), "000.00.00.H41,x"),
        ),
        steering_type=SteeringType.NOT_DIRECTIVE,
        response_for_task=("T-1",),
        application_type="QLVB",
        to_places=("Như trên", "Lưu: VT"),
    )
    trace = TraceHeaderList(
        (TraceHeader("000.00.00.G22", dt.datetime(2025, 3, 14, 9, 30, 0)),),
        Business(
            doc_type=BusinessDocType.NEW,
            reason="Văn bản điện tử mới",
            paper="0",
            staff_info=StaffInfo("Văn thư", "Nguyễn Thị B", "0912000001", "vt@gov.vn"),
        ),
    )
    return DocumentPackage(
        header=header,
        trace=trace,
        signature=SIGNATURE_XMLDSIG,
        references=(
            ManifestReference(
                "a1",
                "application/pdf",
                "Tệp chính",
                "15-VPCP.pdf",
                xlink=(("href", "cid:a1"), ("type", "simple")),
            ),
        ),
        attachments=(
            Attachment(
                content_id="a1",
                name="15-VPCP.pdf",
                description="Tệp chính",
                content_type="application/pdf",
                encoded=content,
                file=content,
                file_kind="pdf",
            ),
        ),
    )


@pytest.fixture
def status() -> StatusPackage:
    """A valid STATUS 03: H41 accepted G22's document."""
    return StatusPackage(
        StatusHeader(
            from_=H41,
            response_for=ResponseFor(
                "000.00.00.G22", "15/VPCP-TTĐT", dt.date(2025, 3, 14), "000.00.00.G22,x"
            ),
            staff_info=StaffInfo("Văn thư", "Trần C", "0912000002", "vt@nghean.gov.vn"),
            status_code=StatusCode.ACCEPTED,
            description="Tiếp nhận, vào sổ văn bản đến",
            timestamp=dt.datetime(2025, 3, 15, 8, 0, 0),
        )
    )


def _header(pkg: DocumentPackage, **changes: object) -> DocumentPackage:
    return dataclasses.replace(pkg, header=dataclasses.replace(pkg.header, **changes))  # type: ignore[arg-type]


def _business(pkg: DocumentPackage, **changes: object) -> DocumentPackage:
    business = dataclasses.replace(pkg.trace.business, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(pkg, trace=dataclasses.replace(pkg.trace, business=business))


def _status_header(pkg: StatusPackage, **changes: object) -> StatusPackage:
    return dataclasses.replace(pkg, header=dataclasses.replace(pkg.header, **changes))  # type: ignore[arg-type]


def _kind(pkg: Package) -> str:
    return "status" if isinstance(pkg, StatusPackage) else "document"


@pytest.mark.parametrize("fixture", ["document", "status"])
def test_valid_packages_have_no_findings(
    fixture: str, request: pytest.FixtureRequest, store: FileBlobStore
) -> None:
    pkg = request.getfixturevalue(fixture)
    assert validate(pkg, today=TODAY) == []
    assert ensure_valid(pkg, today=TODAY) == []
    assert rule_findings(pkg, today=TODAY) == []
    assert schema_findings(_kind(pkg), package_bytes(pkg, store)) == []  # type: ignore[arg-type]


# Every rule: (name, mutation, code, path, severity). The mutation starts from a valid package.
DocMutation = Callable[[DocumentPackage], DocumentPackage]
BAD = "000.00.00.h41"  # lowercase level-1 code: not an agency code

DOCUMENT_RULES: list[tuple[str, DocMutation, str, str, Severity]] = [
    (
        "duplicate To",
        lambda d: _header(d, to=(H41, H36, H41)),
        "M.MessageHeader.To.Duplicate",
        f"{MH}/To[3]/OrganId",
        E,
    ),
    (
        "From agency code",
        lambda d: _header(d, from_=dataclasses.replace(G22, organ_id="vxp.saas.03")),
        "M.MessageHeader.From.OrganId",
        f"{MH}/From/OrganId",
        E,
    ),
    (
        "To agency code",
        lambda d: _header(d, to=(H41, dataclasses.replace(H36, organ_id="null"))),
        "M.MessageHeader.To.OrganId",
        f"{MH}/To[2]/OrganId",
        E,
    ),
    (
        "single To agency code (no position)",
        lambda d: _header(d, to=(dataclasses.replace(H36, organ_id="000.00.00,H41"),)),
        "M.MessageHeader.To.OrganId",
        f"{MH}/To/OrganId",
        E,
    ),
    (
        "missing PromulgationDate",
        lambda d: _header(d, promulgation_info=PromulgationInfo("Hà Nội", None)),
        "N.MessageHeader.PromulgationInfo.PromulgationDate",
        f"{MH}/PromulgationInfo/PromulgationDate",
        E,
    ),
    (
        "ResponseFor agency code",
        lambda d: _header(d, response_for=(ResponseFor(BAD, "1/X", None, "y"),)),
        "M.MessageHeader.ResponseFor.OrganId",
        f"{MH}/ResponseFor/OrganId",
        E,
    ),
    (
        "TraceHeader 'null' (axis hop)",
        lambda d: dataclasses.replace(
            d,
            trace=dataclasses.replace(
                d.trace, trace_headers=(*d.trace.trace_headers, TraceHeader("null", None))
            ),
        ),
        "M.TraceHeaderList.TraceHeader.OrganId",
        f"{TRACE}/TraceHeader[2]/OrganId",
        W,
    ),
    (
        "TraceHeader without OrganId (axis hop)",
        lambda d: dataclasses.replace(
            d,
            trace=dataclasses.replace(
                d.trace,
                trace_headers=(TraceHeader("", dt.datetime(2025, 3, 14, 9, 31)),),
            ),
        ),
        "N.TraceHeaderList.TraceHeader.OrganId",
        f"{TRACE}/TraceHeader/OrganId",
        W,
    ),
    (
        "revoke without any document id",
        lambda d: _business(_header(d, document_id=""), doc_type=BusinessDocType.REVOKE),
        "N.TraceHeaderList.Bussiness.DocumentId",
        f"{BUSINESS}/DocumentId",
        E,
    ),
    (
        "revoke naming the document only in MessageHeader (VPCP sample)",
        lambda d: _business(d, doc_type=BusinessDocType.REVOKE),
        "N.TraceHeaderList.Bussiness.DocumentId",
        f"{BUSINESS}/DocumentId",
        W,
    ),
    (
        "update without any document id",
        lambda d: _business(
            _header(d, document_id=""),
            doc_type=BusinessDocType.UPDATE,
            document_info=BusinessDocumentInfo("1", "0", ()),
        ),
        "N.TraceHeaderList.Bussiness.DocumentId",
        f"{BUSINESS}/DocumentId",
        E,
    ),
    (
        "update without BussinessDocumentInfo",
        lambda d: _business(d, doc_type=BusinessDocType.UPDATE, document_id="old-1"),
        "N.TraceHeaderList.Bussiness.BussinessDocumentInfo",
        f"{BUSINESS}/BussinessDocumentInfo",
        E,
    ),
    (
        "update receiver agency code",
        lambda d: _business(
            d,
            doc_type=BusinessDocType.UPDATE,
            document_id="old-1",
            document_info=BusinessDocumentInfo(
                "1",
                "1",
                (Receiver("000.00.00.H41", ReceiverType.REMOVED), Receiver(BAD)),
            ),
        ),
        "M.TraceHeaderList.Bussiness.BussinessDocumentInfo.ReceiverList.Receiver.OrganId",
        f"{BUSINESS}/BussinessDocumentInfo/ReceiverList/Receiver[2]/OrganId",
        E,
    ),
    (
        "replace without ReplacementInfo",
        lambda d: _business(d, doc_type=BusinessDocType.REPLACE),
        "N.TraceHeaderList.Bussiness.ReplacementInfoList",
        f"{BUSINESS}/ReplacementInfoList",
        E,
    ),
    (
        "replacement without DocumentId",
        lambda d: _business(
            d,
            doc_type=BusinessDocType.REPLACE,
            replacements=(ReplacementInfo("", ("000.00.00.H41",)),),
        ),
        "N.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.DocumentId",
        f"{BUSINESS}/ReplacementInfoList/ReplacementInfo/DocumentId",
        E,
    ),
    (
        "replacement agency code",
        lambda d: _business(
            d,
            doc_type=BusinessDocType.REPLACE,
            replacements=(
                ReplacementInfo("old-1", ("000.00.00.H41",)),
                ReplacementInfo("old-2", ("000.00.00.H41", BAD)),
            ),
        ),
        "M.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.OrganIdList.OrganId",
        f"{BUSINESS}/ReplacementInfoList/ReplacementInfo[2]/OrganIdList/OrganId[2]",
        E,
    ),
    (
        "Reference without Attachment",
        lambda d: dataclasses.replace(
            d, references=(*d.references, dataclasses.replace(d.references[0], content_id="b2"))
        ),
        "M.edXMLManifest.Reference.ContentId",
        f"{MANIFEST}/Reference[2]/ContentId",
        E,
    ),
    (
        "Attachment without Reference",
        lambda d: dataclasses.replace(
            d,
            attachments=(*d.attachments, dataclasses.replace(d.attachments[0], content_id="b2")),
        ),
        "M.Attachment.ContentId",
        "/edXML/AttachmentEncoded/Attachment[2]/ContentId",
        E,
    ),
    (
        "duplicate Reference content id",
        lambda d: dataclasses.replace(d, references=(d.references[0], d.references[0])),
        "M.edXMLManifest.Reference.ContentId",
        f"{MANIFEST}/Reference[2]/ContentId",
        E,
    ),
    (
        "duplicate Attachment content id",
        lambda d: dataclasses.replace(d, attachments=(d.attachments[0], d.attachments[0])),
        "M.Attachment.ContentId",
        "/edXML/AttachmentEncoded/Attachment[2]/ContentId",
        E,
    ),
]


@pytest.mark.parametrize(
    ("mutate", "code", "path", "severity"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in DOCUMENT_RULES],
)
def test_document_rule_fires(
    document: DocumentPackage, mutate: DocMutation, code: str, path: str, severity: Severity
) -> None:
    assert rule_findings(document, today=TODAY) == []
    found = rule_findings(mutate(document), today=TODAY)
    assert [(f.code, f.path, f.severity) for f in found] == [(code, path, severity)]
    assert found[0].message and not found[0].message.startswith("<")


def test_promulgation_date_in_the_future_uses_injected_today(document: DocumentPackage) -> None:
    day = document.header.promulgation_info.promulgation_date
    assert day == dt.date(2025, 3, 14)
    assert rule_findings(document, today=day) == []
    found = rule_findings(document, today=day - dt.timedelta(days=1))
    finding = only(found, "R.MessageHeader.PromulgationInfo.PromulgationDate")
    assert finding.path == f"{MH}/PromulgationInfo/PromulgationDate"
    assert "2025/03/14" in finding.message and "future" in finding.message
    invalid = validate(document, today=dt.date(2025, 3, 13))
    assert [f.code for f in invalid if f.is_error] == [
        "R.MessageHeader.PromulgationInfo.PromulgationDate"
    ]


def test_promulgation_date_default_today_is_ict(
    document: DocumentPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.edxml.validate as module

    monkeypatch.setattr(module, "now_ict", lambda: dt.datetime(2025, 3, 13, 23, 59, 59))
    assert codes(rule_findings(document)) == {
        ("R.MessageHeader.PromulgationInfo.PromulgationDate", E)
    }
    monkeypatch.setattr(module, "now_ict", lambda: dt.datetime(2025, 3, 14, 0, 0, 0))
    assert rule_findings(document) == []


def test_content_ids_match_after_normalisation(document: DocumentPackage) -> None:
    # The .NET SDK writes cid: only in the Reference; ids are compared without cid: and <>.
    ref = dataclasses.replace(document.references[0], content_id="cid:a1")
    att = dataclasses.replace(document.attachments[0], content_id="<a1>")
    assert rule_findings(dataclasses.replace(document, references=(ref,), attachments=(att,))) == []


def test_revoke_with_bussiness_document_id_is_valid(document: DocumentPackage) -> None:
    revoke = _business(document, doc_type=BusinessDocType.REVOKE, document_id="old-1")
    assert validate(revoke, today=TODAY) == []


StatusMutation = Callable[[StatusPackage], StatusPackage]

STATUS_RULES: list[tuple[str, StatusMutation, str, str]] = [
    (
        "no ResponseFor",
        lambda s: _status_header(s, response_for=None),
        "N.MessageHeader.ResponseFor",
        f"{MH}/ResponseFor",
    ),
    (
        "empty ResponseFor OrganId",
        lambda s: _status_header(
            s, response_for=dataclasses.replace(s.header.response_for or ResponseFor(), organ_id="")
        ),
        "N.MessageHeader.ResponseFor",
        f"{MH}/ResponseFor/OrganId",
    ),
    (
        "no Timestamp",
        lambda s: _status_header(s, timestamp=None),
        "N.MessageHeader.Timestamp",
        f"{MH}/Timestamp",
    ),
    (
        "sent to itself",
        lambda s: _status_header(s, from_=G22),
        "M.MessageHeader.ResponseFor.SameAsFrom",
        f"{MH}/ResponseFor/OrganId",
    ),
    (
        "From agency code",
        lambda s: _status_header(s, from_=dataclasses.replace(H41, organ_id=BAD)),
        "M.MessageHeader.From.OrganId",
        f"{MH}/From/OrganId",
    ),
    (
        "ResponseFor agency code",
        lambda s: _status_header(
            s,
            response_for=dataclasses.replace(s.header.response_for or ResponseFor(), organ_id=BAD),
        ),
        "M.MessageHeader.ResponseFor.OrganId",
        f"{MH}/ResponseFor/OrganId",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "code", "path"), [pytest.param(*rule[1:], id=rule[0]) for rule in STATUS_RULES]
)
def test_status_rule_fires(
    status: StatusPackage, mutate: StatusMutation, code: str, path: str
) -> None:
    assert rule_findings(status) == []
    found = rule_findings(mutate(status))
    assert [(f.code, f.path, f.severity) for f in found] == [(code, path, E)]
    # validate() reports it once even where the schema says the same (same code and path).
    assert [(f.code, f.path) for f in validate(mutate(status))].count((code, path)) == 1


# ---------------------------------------------------------------------------------------------
# Schema: writer output accepted, libxml2 errors mapped to codes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        SIGNATURE_XMLDSIG,
        OpaqueXml(f'<Signature xmlns="{QCVN}"><SignedInfo></SignedInfo></Signature>'.encode()),
        OpaqueXml(
            f'<edXML:DigitalSignature xmlns:edXML="{QCVN}"></edXML:DigitalSignature>'.encode()
        ),
        None,
    ],
    ids=["xmldsig", "qcvn-namespace", "empty-DigitalSignature", "none"],
)
def test_schema_accepts_every_signature_form(
    document: DocumentPackage, status: StatusPackage, signature: OpaqueXml | None
) -> None:
    doc = dataclasses.replace(document, signature=signature)
    stat = dataclasses.replace(status, signature=signature)
    assert schema_findings("document", package_bytes(doc, None, with_content=False)) == []
    assert schema_findings("status", package_bytes(stat, None, with_content=False)) == []


def test_schema_accepts_optional_parts_left_out(document: DocumentPackage) -> None:
    bare = dataclasses.replace(
        _header(
            document,
            document_id="",
            response_for=(),
            response_for_task=(),
            application_type="",
            to_places=(),
            document_type=DocumentType("1", "", "Công văn"),
            other_info=OtherInfo(),
        ),
        signature=None,
        references=(),
        attachments=(),
    )
    bare = _business(bare, staff_info=None)
    assert schema_findings("document", package_bytes(bare, None, with_content=False)) == []


def test_schema_accepts_update_and_replace_parts(document: DocumentPackage) -> None:
    update = _business(
        document,
        doc_type=BusinessDocType.UPDATE,
        document_id="old-1",
        document_info=BusinessDocumentInfo(
            "1", "1", (Receiver("000.00.00.H41", ReceiverType.REMOVED), Receiver("H36.17"))
        ),
        replacements=(ReplacementInfo("old-0", ("000.00.00.H41", "H36.17")),),
        staff_info=StaffInfo("VT", "A", "09", "a@b.vn", department_id="D1", staff_id="S1"),
    )
    assert validate(update, today=TODAY) == []


def _schema_codes(pkg: Package) -> list[tuple[str, str]]:
    found = schema_findings(_kind(pkg), package_bytes(pkg, None, with_content=False))  # type: ignore[arg-type]
    return [(f.code, f.path) for f in found]


def test_enumeration_violation_is_r(document: DocumentPackage) -> None:
    bad = _header(
        document,
        other_info=dataclasses.replace(document.header.other_info, priority=cast(Priority, 9)),
        steering_type=cast(SteeringType, 7),
    )
    found = schema_findings("document", package_bytes(bad, None, with_content=False))
    assert [(f.code, f.path) for f in found] == [
        ("R.MessageHeader.OtherInfo.Priority", f"{MH}/OtherInfo/Priority"),
        ("R.MessageHeader.SteeringType", f"{MH}/SteeringType"),
    ]
    assert found[0].message.startswith("Priority of OtherInfo is '9', not one of 0, 1, 2, 3, 4")


def test_receiver_type_enumeration_is_r(document: DocumentPackage) -> None:
    bad = _business(
        document,
        doc_type=BusinessDocType.UPDATE,
        document_id="old-1",
        document_info=BusinessDocumentInfo(
            "1", "1", (Receiver("000.00.00.H41"), Receiver("H36.17", cast(ReceiverType, 5)))
        ),
    )
    path = f"{BUSINESS}/BussinessDocumentInfo/ReceiverList/Receiver[2]/ReceiverType"
    code = "R.TraceHeaderList.Bussiness.BussinessDocumentInfo.ReceiverList.Receiver.ReceiverType"
    assert _schema_codes(bad) == [(code, path)]


def test_empty_required_value_is_n_with_positional_path(document: DocumentPackage) -> None:
    bad = _header(document, to=(H41, dataclasses.replace(H36, organ_id="")))
    found = schema_findings("document", package_bytes(bad, None, with_content=False))
    assert [(f.code, f.path, f.message) for f in found] == [
        ("N.MessageHeader.To.OrganId", f"{MH}/To[2]/OrganId", "OrganId of To[2] must not be empty")
    ]


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("subject", "N.MessageHeader.Subject"),
        ("code", "N.MessageHeader.Code.CodeNumber"),
        ("document_type", "N.MessageHeader.DocumentType.Type"),
    ],
)
def test_blank_required_values_are_n(document: DocumentPackage, field: str, code: str) -> None:
    blank: dict[str, object] = {
        "subject": "   ",
        "code": Code("", "VPCP-TTĐT"),
        "document_type": DocumentType("", "", "Công văn"),
    }
    assert [c for c, _p in _schema_codes(_header(document, **{field: blank[field]}))] == [code]


def test_missing_elements_are_n(document: DocumentPackage, status: StatusPackage) -> None:
    # No To at all: the writer writes none, the schema wants 1..n.
    assert _schema_codes(_header(document, to=())) == [("N.MessageHeader.To", f"{MH}/To")]
    # A status without ResponseFor: the writer leaves the element out.
    assert _schema_codes(_status_header(status, response_for=None)) == [
        ("N.MessageHeader.ResponseFor", f"{MH}/ResponseFor")
    ]


def test_missing_element_in_raw_bytes_is_n(document: DocumentPackage) -> None:
    xml = package_bytes(document, None, with_content=False)
    without = re.sub(rb"<edXML:OrganId>000\.00\.00\.G22</edXML:OrganId>\s*", b"", xml, count=1)
    found = schema_findings("document", without)
    assert [(f.code, f.path) for f in found] == [
        ("N.MessageHeader.From.OrganId", f"{MH}/From/OrganId")
    ]
    assert found[0].message.startswith("OrganId is missing in From")
    no_website = re.sub(rb"<edXML:Website>[^<]*</edXML:Website>", b"", xml, count=3)
    assert [(f.code, f.path) for f in schema_findings("document", no_website)] == [
        ("N.MessageHeader.From.Website", f"{MH}/From/Website"),
        ("N.MessageHeader.To.Website", f"{MH}/To[1]/Website"),
        ("N.MessageHeader.To.Website", f"{MH}/To[2]/Website"),
    ]


def test_pattern_and_type_errors_are_m(document: DocumentPackage) -> None:
    negative = _header(
        document,
        other_info=dataclasses.replace(document.header.other_info, promulgation_amount=-1),
    )
    assert _schema_codes(negative) == [
        ("M.MessageHeader.OtherInfo.PromulgationAmount", f"{MH}/OtherInfo/PromulgationAmount")
    ]
    xml = package_bytes(document, None, with_content=False)
    damaged = xml.replace(
        f'<edXML:ContentTransferEncoded xmlns:edXML="{QCVN}">'.encode(),
        f'<edXML:ContentTransferEncoded xmlns:edXML="{QCVN}">QUJ$'.encode(),
    )
    due = xml.replace(b"<edXML:DueDate/>", b"<edXML:DueDate>2025-03-14</edXML:DueDate>")
    assert due != xml
    found = schema_findings("document", damaged) + schema_findings("document", due)
    assert [(f.code, f.path) for f in found] == [
        (
            "M.Attachment.ContentTransferEncoded",
            "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded",
        ),
        ("M.MessageHeader.DueDate", f"{MH}/DueDate"),
    ]
    assert "yyyy/MM/dd" in found[1].message


def test_unknown_and_misplaced_elements_are_m(document: DocumentPackage) -> None:
    xml = package_bytes(document, None, with_content=False)
    junk = xml.replace(b"<edXML:Code>", b"<edXML:Junk/><edXML:Code>", 1)
    assert [(f.code, f.path) for f in schema_findings("document", junk)] == [
        ("M.MessageHeader.Junk", f"{MH}/Junk")
    ]
    status_root = schema_findings("status", xml)
    assert status_root and all(f.code.startswith(("M.", "N.")) for f in status_root)


def test_paths_have_no_prefixes_or_wildcards(document: DocumentPackage) -> None:
    xml = package_bytes(document, None, with_content=False)
    # Unprefixed AttachmentEncoded children get "/*/*[2]/..." paths from libxml2.
    bad = xml.replace(b"<ContentId>cid:a1</ContentId>", b"<ContentId>a1</ContentId>")
    found = schema_findings("document", bad)
    assert [(f.code, f.path) for f in found] == [
        ("M.Attachment.ContentId", "/edXML/AttachmentEncoded/Attachment/ContentId")
    ]
    assert "cid:" in found[0].message


def test_schema_findings_on_non_xml() -> None:
    found = schema_findings("document", b"<edXML")
    assert [f.code for f in found] == ["M.Xml"]


def test_validate_deduplicates_and_orders(status: StatusPackage) -> None:
    broken = _status_header(status, response_for=None, timestamp=None)
    found = validate(broken)
    keys = [(f.code, f.path) for f in found]
    assert keys == [
        ("N.MessageHeader.ResponseFor", f"{MH}/ResponseFor"),
        ("N.MessageHeader.Timestamp", f"{MH}/Timestamp"),
    ]
    with pytest.raises(InvalidPackage) as info:
        ensure_valid(broken)
    assert info.value.code == "N.MessageHeader.ResponseFor"
    assert [f.code for f in info.value.findings] == [k[0] for k in keys]


def test_ensure_valid_returns_warnings(document: DocumentPackage) -> None:
    hop = dataclasses.replace(
        document,
        trace=dataclasses.replace(
            document.trace,
            trace_headers=(*document.trace.trace_headers, TraceHeader("null", None)),
        ),
    )
    warnings = ensure_valid(hop, today=TODAY)
    assert [(f.code, f.severity) for f in warnings] == [
        ("M.TraceHeaderList.TraceHeader.OrganId", W)
    ]


def test_validate_accepts_already_written_bytes(
    document: DocumentPackage, store: FileBlobStore
) -> None:
    assert validate(document, today=TODAY, xml=package_bytes(document, store)) == []


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=_TEXT,
    subject=_TEXT.filter(lambda s: s.strip() != ""),
    place=_TEXT,
    appendixes=st.lists(_TEXT, max_size=3),
    amount=st.none() | st.integers(min_value=0, max_value=10**6),
)
def test_writer_output_of_any_text_is_schema_valid(
    document: DocumentPackage,
    name: str,
    subject: str,
    place: str,
    appendixes: list[str],
    amount: int | None,
) -> None:
    pkg = _header(
        document,
        from_=dataclasses.replace(G22, organ_name=name, organ_add=place),
        subject=subject,
        content=name,
        other_info=dataclasses.replace(
            document.header.other_info, appendixes=tuple(appendixes), page_amount=amount
        ),
        to_places=tuple(appendixes),
    )
    assert schema_findings("document", package_bytes(pkg, None, with_content=False)) == []


# ---------------------------------------------------------------------------------------------
# The schema files and their loading
# ---------------------------------------------------------------------------------------------


def test_schema_is_compiled_once() -> None:
    assert schema("document") is schema("document")
    assert schema("status") is schema("status")
    assert schema("document") is not schema("status")
    with pytest.raises(ValueError, match="unknown schema kind"):
        schema("edoc")  # type: ignore[arg-type]


def test_xsd_directory_holds_the_schemas() -> None:
    directory = xsd_directory()
    for name in ("edxml-common.xsd", "edxml-document.xsd", "edxml-status.xsd"):
        assert (directory / name).is_file()


@pytest.mark.parametrize("kind", ["document", "status"])
def test_xsd_loads_in_xmlschema_and_agrees(
    kind: str, document: DocumentPackage, status: StatusPackage
) -> None:
    path = Path(str(xsd_directory())) / f"edxml-{kind}.xsd"
    tooling = xmlschema.XMLSchema10(str(path))
    pkg: Package = document if kind == "document" else status
    xml = package_bytes(pkg, None, with_content=False)
    assert tooling.is_valid(xml.decode())
    assert schema(kind).validate(etree.fromstring(xml))  # type: ignore[arg-type]
    bad = (
        xml.replace(b">03<", b">07<")
        if kind == "status"
        else xml.replace(b"<edXML:Priority>1", b"<edXML:Priority>7")
    )
    assert bad != xml
    assert not tooling.is_valid(bad.decode())
