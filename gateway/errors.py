"""One exception hierarchy, with the stable error codes the field already uses.

Codes follow the Bkav/VPCP convention: ``N.`` a required value is missing, ``R.`` a value is out
of range, ``M.`` malformed input or a broken rule, ``T.`` a wrong type. Repairs made while reading
lenient input are ``W.`` warnings. Every finding carries a location path and a human sentence, so
a SOAP fault or a CLI line can be built from it without extra context.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.Enum):
    """How bad a finding is: an error makes the package invalid, a warning records a repair."""

    ERROR = "error"
    WARNING = "warning"


class FaultSide(enum.Enum):
    """Whose fault a failure is, as SOAP names it (``Client`` vs ``Server``)."""

    CLIENT = "Client"
    SERVER = "Server"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem or repair, located in the package.

    ``path`` is an XPath-like location such as
    ``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]``, or ``line 3, column 7`` when only
    the parser's position is known.
    """

    code: str
    path: str
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.severity.value} {self.code}{where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "severity": self.severity.value,
        }


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    side: FaultSide = FaultSide.SERVER

    def __init__(
        self, code: str, message: str, path: str = "", findings: Iterable[Finding] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.findings: tuple[Finding, ...] = tuple(findings)

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code}{where}: {self.message}"


class UnusableInput(GatewayError):
    """The input cannot be read as an edXML package at all (not XML, wrong namespace, hostile)."""

    side = FaultSide.CLIENT


class InvalidPackage(GatewayError):
    """The package was read but breaks the schema or a QCVN 102 rule; ``findings`` lists why."""

    side = FaultSide.CLIENT

    def __init__(self, findings: Iterable[Finding]) -> None:
        errors = tuple(f for f in findings if f.is_error)
        first = errors[0] if errors else Finding("M.Package", "", "the package is invalid")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.code, first.message + more, first.path, errors)


class InvalidAgencyCode(GatewayError):
    """An agency code (mã định danh) matches neither the QCVN 102 nor the QĐ 20/2020 form."""

    side = FaultSide.CLIENT


class LimitExceeded(GatewayError):
    """Input is larger, deeper or more numerous than the configured limits allow."""

    side = FaultSide.CLIENT


class StorageError(GatewayError):
    """The blob store or the database could not keep what it was given."""

    side = FaultSide.SERVER


class BadRequest(GatewayError):
    """A request the caller got wrong (a bad argument), answered as a client fault."""

    side = FaultSide.CLIENT


class NotFound(GatewayError):
    """No such package, delivery or agency visible to the caller (existence is not revealed)."""

    side = FaultSide.CLIENT


class PermissionDenied(GatewayError):
    """The caller is authenticated but may not do this (send as another agency, read its mail)."""

    side = FaultSide.CLIENT
