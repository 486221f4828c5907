"""The SOAP service's XML Schema types (spyne models), in the service's own namespace.

Names follow WS-I Basic Profile habits: PascalCase types, camelCase elements, lists wrapped in
an element whose items are ``item``-like singulars, required elements ``minOccurs=1`` and not
nillable, so generated clients (JAX-WS, .NET, zeep) get plain, non-optional fields.
"""

from __future__ import annotations

from typing import Any

from spyne import Array, Boolean, ByteArray, ComplexModel, Date, DateTime, Fault, Int, Long, Unicode

from gateway.errors import GatewayError

TNS = "urn:edoc-gateway:soap:v1"


def required(model: Any) -> Any:
    """A model that must be present and not nil."""
    return _named(model, min_occurs=1, nillable=False)


def optional(model: Any) -> Any:
    """A model that may be left out; an empty element (``<cursor/>``) counts as left out."""
    return _named(model, min_occurs=0)


def _named(model: Any, **options: Any) -> Any:
    if getattr(model.Attributes, "_explicit_type_name", False):
        # spyne turns a customised named simple type into an anonymous copy unless told its name.
        options.update(type_name=model.get_type_name(), __namespace__=model.get_namespace())
    return model.customize(**options)


def listing(item: Any, member: str, type_name: str) -> Any:
    """A wrapped list: ``<wrapper><member/>...</wrapper>``, the wrapper itself optional."""
    return optional(Array(item.customize(nillable=False), member_name=member, type_name=type_name))


def enumeration(type_name: str, *values: str) -> Any:
    """A named string enumeration in the service's namespace."""
    return Unicode(values=list(values), type_name=type_name, __namespace__=TNS)


ORGAN_IDS = Array(Unicode(nillable=False), member_name="organId", type_name="OrganIdList")
SEVERITY = enumeration("Severity", "error", "warning")
PACKAGE_KIND = enumeration("PackageKind", "document", "status")
CONFIRM_OUTCOME = enumeration("ConfirmOutcome", "ok", "relayed", "failed")


class Finding(ComplexModel):  # type: ignore[misc]
    """One problem (error) or repair (warning) located in a package."""

    __namespace__ = TNS
    _type_info = (
        ("code", required(Unicode)),
        ("path", required(Unicode)),
        ("message", required(Unicode)),
        ("severity", required(SEVERITY)),
    )


class GatewayFault(Fault):  # type: ignore[misc]
    """The detail of every fault: the gateway's error code, where, why, and each finding."""

    __namespace__ = TNS
    __type_name__ = "GatewayFault"
    _type_info = (
        ("code", required(Unicode)),
        ("path", required(Unicode)),
        ("message", required(Unicode)),
        ("finding", Finding.customize(min_occurs=0, max_occurs="unbounded", nillable=False)),
    )

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.side.value, f"{error.code}: {error.message}")
        self.error = error


class Receipt(ComplexModel):  # type: ignore[misc]
    """What an accepted package got: its id, when it was committed, what was repaired, the
    verdict on its own XML signature, and the gateway's signed receipt (an XML-DSig document,
    namespace urn:edoc-gateway:receipt:v1, checkable offline against the gateway's certificate)."""

    __namespace__ = TNS
    _type_info = (
        ("packageId", required(Unicode)),
        ("kind", required(PACKAGE_KIND)),
        ("receivedAt", required(DateTime)),
        ("duplicate", required(Boolean)),
        ("warnings", listing(Finding, "warning", "FindingList")),
        ("signatureStatus", required(Unicode)),
        ("signatureReason", required(Unicode)),
        ("signedReceipt", required(ByteArray)),
    )


class AttachmentInput(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS
    _type_info = (
        ("name", required(Unicode)),
        ("contentType", required(Unicode)),
        ("description", optional(Unicode)),
        ("data", required(ByteArray)),
    )


class DocumentFields(ComplexModel):  # type: ignore[misc]
    """A document described field by field; the gateway builds the edXML package."""

    __namespace__ = TNS
    _type_info = (
        ("to", required(ORGAN_IDS)),
        ("subject", required(Unicode)),
        ("codeNumber", required(Unicode)),
        ("codeNotation", required(Unicode)),
        ("promulgationDate", required(Date)),
        ("place", optional(Unicode)),
        ("type", optional(Unicode)),
        ("typeName", optional(Unicode)),
        ("content", optional(Unicode)),
        ("signerCompetence", optional(Unicode)),
        ("signerPosition", optional(Unicode)),
        ("signerFullName", optional(Unicode)),
        ("priority", optional(Int)),
        ("dueDate", optional(Date)),
        ("documentId", optional(Unicode)),
        ("steeringType", optional(Int)),
        ("attachments", listing(AttachmentInput, "attachment", "AttachmentInputList")),
    )


class StatusFields(ComplexModel):  # type: ignore[misc]
    """A processing status (01..06, 13, 15, 16) about a received document, field by field."""

    __namespace__ = TNS
    _type_info = (
        ("responseForOrganId", required(Unicode)),
        ("responseForDocumentId", required(Unicode)),
        ("statusCode", required(Unicode)),
        ("description", optional(Unicode)),
        ("responseForCode", optional(Unicode)),
        ("responseForPromulgationDate", optional(Date)),
        ("staffDepartment", optional(Unicode)),
        ("staffName", optional(Unicode)),
        ("staffMobile", optional(Unicode)),
        ("staffEmail", optional(Unicode)),
        ("timestamp", optional(DateTime)),
    )


class PendingItem(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS
    _type_info = (
        ("packageId", required(Unicode)),
        ("kind", required(PACKAGE_KIND)),
        ("sender", required(Unicode)),
        ("documentId", required(Unicode)),
        ("subject", required(Unicode)),
        ("receivedAt", required(DateTime)),
        ("size", required(Long)),
    )


class AttachmentSummary(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS
    _type_info = (
        ("name", required(Unicode)),
        ("contentType", required(Unicode)),
        ("fileKind", required(Unicode)),
        ("size", required(Long)),
        ("sha256", required(Unicode)),
    )


class PackageSummary(ComplexModel):  # type: ignore[misc]
    """The parsed package's key facts; ``summaryJson`` carries all of them (and findings)."""

    __namespace__ = TNS
    _type_info = (
        ("kind", required(PACKAGE_KIND)),
        ("fromOrganId", required(Unicode)),
        ("fromName", required(Unicode)),
        ("documentId", optional(Unicode)),
        ("code", optional(Unicode)),
        ("subject", optional(Unicode)),
        ("documentType", optional(Unicode)),
        ("to", optional(ORGAN_IDS)),
        ("promulgationDate", optional(Date)),
        ("dueDate", optional(Date)),
        ("priority", optional(Int)),
        ("attachments", listing(AttachmentSummary, "attachment", "AttachmentSummaryList")),
        ("statusCode", optional(Unicode)),
        ("statusMeaning", optional(Unicode)),
        ("description", optional(Unicode)),
        ("timestamp", optional(DateTime)),
        ("responseForOrganId", optional(Unicode)),
        ("responseForDocumentId", optional(Unicode)),
        ("responseForCode", optional(Unicode)),
        ("summaryJson", required(Unicode)),
    )


class TraceEntry(ComplexModel):  # type: ignore[misc]
    """One entry in a document's history: a status a receiver reported (kind ``status``), or
    the gateway's own report on relaying a package (kind ``transport``: ``statusCode`` empty,
    ``fromAgency`` the gateway, ``statusPackageId`` the package relayed, ``outcome`` failed or
    delivered, ``errorCode`` the upstream's code)."""

    __namespace__ = TNS
    _type_info = (
        ("statusPackageId", required(Unicode)),
        ("fromAgency", required(Unicode)),
        ("toAgency", required(Unicode)),
        ("statusCode", required(Unicode)),
        ("description", required(Unicode)),
        ("statusTime", optional(DateTime)),
        ("recordedAt", required(DateTime)),
        ("kind", optional(Unicode)),
        ("outcome", optional(Unicode)),
        ("errorCode", optional(Unicode)),
        ("recipients", optional(Unicode)),
        ("upstream", optional(Unicode)),
    )


class Agency(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS
    _type_info = (
        ("code", required(Unicode)),
        ("name", required(Unicode)),
        ("email", required(Unicode)),
        ("enabled", required(Boolean)),
    )


class ServiceInfo(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS
    _type_info = (
        ("version", required(Unicode)),
        ("role", required(Unicode)),
        ("maxRequestBytes", required(Long)),
        ("streamThresholdBytes", required(Long)),
        ("replayWindowSeconds", required(Int)),
        ("passwordTextAllowed", required(Boolean)),
    )
