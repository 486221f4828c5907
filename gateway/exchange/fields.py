"""Building packages from fields, for clients that cannot build edXML: a document (its files
stored as blobs) or a status, with the sender's organisation as registered here."""

from __future__ import annotations

from gateway.edxml.attachments import sniff_kind
from gateway.edxml.dates import ICT, format_date
from gateway.edxml.enums import BusinessDocType, Priority, StatusCode, SteeringType
from gateway.edxml.model import (
    Attachment,
    Business,
    Code,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from gateway.errors import Finding, InvalidPackage
from gateway.exchange.parts import Parts
from gateway.exchange.types import DocumentFields, StatusFields


class PackageBuilder:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def organization(self, code: str) -> Organization:
        record = self._parts.store.get_agency(code)
        if record is None:
            return Organization(organ_id=code)
        return Organization(
            organ_id=record.code,
            organization_in_charge=record.name,
            organ_name=record.name,
            email=record.email,
        )

    def document(self, agency: str, f: DocumentFields) -> DocumentPackage:
        now_ict = self._parts.clock().astimezone(ICT).replace(tzinfo=None, microsecond=0)
        document_id = f.document_id or (
            f"{agency},{format_date(f.promulgation_date)},{f.code_number}/{f.code_notation}"
        )
        attachments: list[Attachment] = []
        references: list[ManifestReference] = []
        for index, item in enumerate(f.attachments, start=1):
            ref = self._parts.blobs.put_bytes(item.data)
            content_id = f"{index}-{ref.sha256[:16]}"
            attachments.append(
                Attachment(
                    content_id=content_id,
                    name=item.name,
                    description=item.description,
                    content_type=item.content_type,
                    encoded=ref,
                    file=ref,
                    file_kind=sniff_kind(item.data[:16]),
                )
            )
            references.append(
                ManifestReference(content_id, item.content_type, item.description, item.name)
            )
        try:
            priority = Priority(f.priority)
            steering = SteeringType(f.steering_type)
        except ValueError as exc:
            raise InvalidPackage([Finding("R.DocumentFields", "", str(exc))]) from None
        return DocumentPackage(
            header=MessageHeader(
                from_=self.organization(agency),
                to=tuple(self.organization(code.strip()) for code in f.to),
                document_id=document_id,
                code=Code(f.code_number, f.code_notation),
                promulgation_info=PromulgationInfo(f.place, f.promulgation_date),
                document_type=DocumentType(f.type, "", f.type_name),
                subject=f.subject,
                content=f.content,
                signer_info=SignerInfo(f.signer_competence, f.signer_position, f.signer_full_name),
                due_date=f.due_date,
                other_info=OtherInfo(priority=priority),
                steering_type=steering,
            ),
            trace=TraceHeaderList(
                (TraceHeader(agency, now_ict),),
                Business(doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper="0"),
            ),
            references=tuple(references),
            attachments=tuple(attachments),
        )

    def status(self, agency: str, f: StatusFields) -> StatusPackage:
        raw = f.status_code.strip()
        try:
            code = StatusCode(raw.zfill(2) if raw.isdigit() else raw)
        except ValueError:
            allowed = ", ".join(c.value for c in StatusCode)
            raise InvalidPackage(
                [
                    Finding(
                        "R.StatusFields.StatusCode",
                        "",
                        f"status code {raw!r} is not one of {allowed}",
                    )
                ]
            ) from None
        moment = f.timestamp or self._parts.clock()
        if moment.tzinfo is not None:
            moment = moment.astimezone(ICT).replace(tzinfo=None)
        return StatusPackage(
            header=StatusHeader(
                from_=self.organization(agency),
                response_for=ResponseFor(
                    f.response_for_organ_id.strip(),
                    f.response_for_code,
                    f.response_for_promulgation_date,
                    f.response_for_document_id,
                ),
                staff_info=StaffInfo(
                    f.staff_department, f.staff_name, f.staff_mobile, f.staff_email
                ),
                status_code=code,
                description=f.description or code.vietnamese,
                timestamp=moment.replace(microsecond=0),
            )
        )
