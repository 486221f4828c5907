"""A run's shared state: its configuration, the agencies' drivers, fresh packages, scenarios.

Every package the kit sends is built with the project's own model and writer (``gateway.edxml``)
and numbered from a run tag, so two runs (or two vendors) never collide and every duplicate the
kit sees is one it made on purpose. Scenarios (a document sent, pulled and confirmed...) are
computed once, when the first assertion needs them; the assertions that share one check
different things about it. A scenario that fails makes each assertion needing it fail with the
scenario's reason.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from gateway.conformance.driver import Driver
from gateway.conformance.exchanges import Exchange, ExchangeLog
from gateway.conformance.registry import Failed, Skipped
from gateway.edxml.dates import ICT
from gateway.edxml.enums import BusinessDocType, Priority, StatusCode, SteeringType
from gateway.edxml.model import (
    Attachment,
    BlobRef,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.writer import package_bytes, write_package
from gateway.store.blobs import FileBlobStore

T = TypeVar("T")
NOTATION = "KTPH"
"""Code notation prefix of the kit's documents (kiểm thử phù hợp: conformance test)."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    endpoint: str
    agency: str
    secret: str
    peer_agency: str = ""
    peer_secret: str = ""
    dialect: str = "modern"
    only: tuple[str, ...] = ()
    """Assertion ids or groups to run (empty: all)."""
    skip: tuple[str, ...] = ()
    """Assertion ids or groups not to run."""
    timeout: float = 120.0
    """Per HTTP request."""
    large_bytes: int = 50 * 1000 * 1000
    """Size of the LARGE round-trip package."""
    max_oversize_bytes: int = 1 << 30
    """The oversized-body check is not applicable beyond this limit (it would send that much)."""


@dataclass(frozen=True, slots=True)
class Doc:
    """A document the kit built: its bytes and what identifies it."""

    package: bytes
    document_id: str
    code: Code
    promulgation_date: dt.date
    sender: str
    recipients: tuple[str, ...]
    attachment_sha256: str
    subject: str


@dataclass
class _Scenario:
    value: Any = None
    error: BaseException | None = None
    exchanges: list[Exchange] = field(default_factory=list)


class Session:
    """What assertions get: drivers for the agency and the peer, builders, scenarios."""

    def __init__(
        self,
        config: RunConfig,
        log: ExchangeLog,
        workdir: Path,
        driver: Driver,
        peer: Driver | None,
    ) -> None:
        self.config = config
        self.log = log
        self.workdir = workdir
        self.driver = driver
        self._peer = peer
        self.blobs = FileBlobStore(workdir / "blobs", durable=False)
        self.tag = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M") + secrets.token_hex(3).upper()
        self._counter = 0
        self._scenarios: dict[str, _Scenario] = {}
        self.used: list[Exchange] = []
        """Exchanges of scenarios the current assertion used (the runner resets it)."""

    # -- agencies --------------------------------------------------------------------------------
    @property
    def peer(self) -> Driver:
        if self._peer is None:
            raise Skipped("needs a second agency: pass --peer-agency and --peer-secret")
        return self._peer

    @property
    def has_peer(self) -> bool:
        return self._peer is not None

    # -- scenarios ---------------------------------------------------------------------------------
    def scenario(self, name: str, build: Callable[[], T]) -> T:
        """``build()`` once per run; its failure fails every assertion that needs it."""
        found = self._scenarios.get(name)
        if found is None:
            mark = self.log.mark()
            found = _Scenario()
            try:
                found.value = build()
            except (Failed, Skipped) as exc:
                found.error = exc
            except Exception as exc:
                found.error = Failed(f"scenario {name!r} failed: {type(exc).__name__}: {exc}")
            found.exchanges = self.log.since(mark)
            self._scenarios[name] = found
        self.used.extend(e for e in found.exchanges if e not in self.used)
        if found.error is not None:
            if isinstance(found.error, Skipped):
                raise found.error
            raise Failed(f"set-up failed ({name}): {found.error}")
        value: T = found.value
        return value

    # -- packages ----------------------------------------------------------------------------------
    def next_number(self) -> str:
        self._counter += 1
        return str(self._counter)

    def today(self) -> dt.date:
        """Yesterday in ICT: a PromulgationDate no clock skew can put in the future."""
        return (dt.datetime.now(ICT) - dt.timedelta(days=1)).date()

    @staticmethod
    def organization(code: str) -> Organization:
        return Organization(
            organ_id=code,
            organization_in_charge=f"Cơ quan {code}",
            organ_name=f"Cơ quan {code}",
            organ_add="Số 1, đường Thử nghiệm",
            email="vanthu@example.gov.vn",
            telephone="024 3800 0000",
            fax="024 3800 0001",
            website="example.gov.vn",
        )

    def document_package(
        self,
        sender: str,
        recipients: tuple[str, ...],
        *,
        content: bytes | None = None,
        business: Business | None = None,
        document_id: str | None = None,
        number: str | None = None,
        subject: str | None = None,
        **header_overrides: Any,
    ) -> tuple[DocumentPackage, Code, dt.date]:
        """A valid document package, freshly numbered, with one small PDF attachment."""
        number = number or self.next_number()
        code = Code(number, f"{NOTATION}-{self.tag}")
        date = self.today()
        ref = self.blobs.put_bytes(
            content or b"%PDF-1.4\n% edoc-gateway conformance " + code.code_number.encode() + b"\n"
        )
        return self.document_from_blob(
            sender,
            recipients,
            ref,
            code=code,
            date=date,
            business=business,
            document_id=document_id,
            subject=subject,
            **header_overrides,
        )

    def document_from_blob(
        self,
        sender: str,
        recipients: tuple[str, ...],
        ref: BlobRef,
        *,
        code: Code,
        date: dt.date,
        business: Business | None = None,
        document_id: str | None = None,
        subject: str | None = None,
        kind: str = "pdf",
        **header_overrides: Any,
    ) -> tuple[DocumentPackage, Code, dt.date]:
        name = f"KTPH {code.code_number}.pdf"
        attachment = Attachment(
            content_id=f"ktph{code.code_number}",
            name=name,
            description="Văn bản chính",
            content_type="application/pdf",
            encoded=ref,
            file=ref,
            file_kind=kind,
        )
        header = MessageHeader(
            from_=self.organization(sender),
            to=tuple(self.organization(r) for r in recipients),
            document_id=(
                document_id
                if document_id is not None
                else f"{sender},{date:%Y/%m/%d},{code.code_number}/{code.code_notation}"
            ),
            code=code,
            promulgation_info=PromulgationInfo("Hà Nội", date),
            document_type=DocumentType("1", "0", "Công văn"),
            subject=subject or f"V/v kiểm thử phù hợp {code.code_number}/{code.code_notation}",
            content="Văn bản kiểm thử của bộ kiểm tra phù hợp edoc-gateway",
            signer_info=SignerInfo("KT. GIÁM ĐỐC", "Phó Giám đốc", "Nguyễn Văn Kiểm"),
            due_date=date + dt.timedelta(days=30),
            other_info=OtherInfo(
                priority=Priority.NORMAL,
                sphere_of_promulgation="Lưu hành nội bộ",
                typer_notation="KT",
                promulgation_amount=1,
                page_amount=1,
            ),
            steering_type=SteeringType.NOT_DIRECTIVE,
            to_places=("Như trên",),
        )
        header = replace(header, **header_overrides)
        now = dt.datetime.now(ICT).replace(tzinfo=None, microsecond=0)
        pkg = DocumentPackage(
            header=header,
            trace=TraceHeaderList(
                (TraceHeader(sender, now),),
                business
                or Business(doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper="0"),
            ),
            references=(
                ManifestReference(attachment.content_id, "application/pdf", "Văn bản chính", name),
            ),
            attachments=(attachment,),
        )
        return pkg, code, date

    def document(self, sender: str, recipients: tuple[str, ...], **options: Any) -> Doc:
        """A fresh document as bytes, with what identifies it."""
        pkg, code, date = self.document_package(sender, recipients, **options)
        return Doc(
            package=package_bytes(pkg, self.blobs),
            document_id=pkg.header.document_id,
            code=code,
            promulgation_date=date,
            sender=sender,
            recipients=recipients,
            attachment_sha256=pkg.attachments[0].file.sha256,
            subject=pkg.header.subject,
        )

    def write_document(self, pkg: DocumentPackage, target: Path) -> None:
        """Write a (large) package to a file, streaming its attachment from the blob store."""
        with target.open("wb") as out:
            write_package(pkg, out, self.blobs)

    def business(
        self,
        doc_type: BusinessDocType,
        about: Doc,
        *,
        recipients: tuple[str, ...] = (),
    ) -> Business:
        """The Bussiness block of a revoke (1), update (2) or replace (3) of ``about``."""
        reasons = {
            BusinessDocType.REVOKE: "Thu hồi văn bản điện tử",
            BusinessDocType.UPDATE: "Cập nhật văn bản điện tử",
            BusinessDocType.REPLACE: "Thay thế văn bản điện tử",
        }
        if doc_type is BusinessDocType.REPLACE:
            return Business(
                doc_type=doc_type,
                reason=reasons[doc_type],
                paper="0",
                replacements=(ReplacementInfo(about.document_id, recipients),),
            )
        info = None
        if doc_type is BusinessDocType.UPDATE:
            info = BusinessDocumentInfo(document_info="1", document_receiver="0")
        return Business(
            document_id=about.document_id,
            doc_type=doc_type,
            reason=reasons[doc_type],
            paper="0",
            document_info=info,
        )

    def status(
        self,
        code: StatusCode | str,
        about: Doc,
        sender: str,
        *,
        to: str | None = None,
        description: str = "",
    ) -> bytes:
        """A STATUS package from ``sender`` about ``about`` (to its sender unless ``to``)."""
        status_code = code if isinstance(code, StatusCode) else StatusCode(code)
        pkg = StatusPackage(
            header=StatusHeader(
                from_=self.organization(sender),
                response_for=ResponseFor(
                    organ_id=to or about.sender,
                    code=f"{about.code.code_number}/{about.code.code_notation}",
                    promulgation_date=about.promulgation_date,
                    document_id=about.document_id,
                ),
                staff_info=StaffInfo("Văn thư", "Trần Thị Kiểm", "0912000001", "vt@example.gov.vn"),
                status_code=status_code,
                description=description or f"{status_code.vietnamese} (kiểm thử phù hợp)",
                timestamp=dt.datetime.now(ICT).replace(tzinfo=None, microsecond=0),
            )
        )
        return package_bytes(pkg, None)
