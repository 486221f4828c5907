"""One exception hierarchy, with the stable error codes the field already uses.

Codes follow the Bkav/VPCP convention: ``N.`` a required value is missing, ``R.`` a value is out
of range, ``M.`` malformed input or a broken rule, ``T.`` a value of the wrong type (a setting or
an argument that is not a string, a list, a date). Repairs made while reading lenient input are
``W.`` warnings. ``Server.`` is the one code of an unexpected failure. Every finding carries a
location path and a human sentence, so a SOAP fault or a CLI line can be built from it without
extra context; what each code means, in English and Vietnamese, is in :mod:`gateway.catalogue`.

Every exception class the gateway raises on purpose is defined here, whatever room raises it
(the modules that raised them first re-export them, so older imports keep working).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


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


class UnzipLimit(Exception):
    """A zip entry inflated past the bound it was copied under; the reader turns it into the
    :class:`LimitExceeded` of the limit that set the bound (never reaches a caller)."""

    def __init__(self, inflated: int) -> None:
        super().__init__(f"more than {inflated - 1} bytes inflated")
        self.inflated = inflated


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


# --- configuration --------------------------------------------------------------------------


class ConfigError(GatewayError):
    """A setting is missing, malformed or contradicts another; ``findings`` lists every one."""

    @classmethod
    def of(cls, problems: Sequence[Finding]) -> ConfigError:
        """One error for every problem found (code and location of the first)."""
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        text = f"{first.path}: {first.message}" if first.path else first.message
        return cls(first.code, text + more, first.path, problems)


class ProfileError(ConfigError):
    """A legacy client profile file is missing, unreadable or sets something it may not."""


# --- input ------------------------------------------------------------------------------------


class DateFormatError(ValueError):
    """Text that is no date in any form edXML traffic uses."""


class SoapFormatError(GatewayError):
    """The request is not a SOAP envelope this service can read."""

    side = FaultSide.CLIENT


class ExportFormatError(UnusableInput):
    """An audit export file that cannot be read as one: not the format, or a damaged line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__("M.AuditExport", message, f"line {line}")
        self.line = line


# --- storage ----------------------------------------------------------------------------------


class AlreadyExists(GatewayError):
    """A record with that key is already stored."""


# --- security ---------------------------------------------------------------------------------


class AuthenticationFailed(GatewayError):
    """The caller could not be identified as an enabled agency."""

    side = FaultSide.CLIENT

    def __init__(self, message: str) -> None:
        super().__init__("M.Security.Authentication", message, "/Envelope/Header/Security")


class ReplayedNonce(AuthenticationFailed):
    """A UsernameToken nonce seen before: whichever write finds it (the authentication's own,
    or the accept that carried it, see ``gateway.store.riders``) refuses the request."""

    def __init__(self) -> None:
        super().__init__("this Nonce was already used: the request is a replay")


class SignInRefused(GatewayError):
    """A console sign-in did not succeed: a wrong name or password (never said which), or too
    many recent failures (``throttled``: refused without checking the password)."""

    side = FaultSide.CLIENT

    def __init__(self, *, throttled: bool) -> None:
        if throttled:
            super().__init__("R.Console.Throttled", "too many failed sign-ins: try again later")
        else:
            super().__init__("M.Console.SignIn", "wrong name or password")
        self.throttled = throttled


class MasterKeyError(GatewayError):
    """The master key is missing, unreadable or not the one the secrets were made with."""

    side = FaultSide.SERVER


class CertificateError(GatewayError):
    """Bytes that are not a certificate, or a certificate file that cannot be read."""

    side = FaultSide.CLIENT


class UnknownTrustDomain(GatewayError):
    """A trust domain name that the configuration does not define."""

    side = FaultSide.SERVER


class SignatureVerdict(Protocol):
    """What :class:`SignatureRejected` needs of a signature check's result."""

    @property
    def reason(self) -> str: ...


class SignatureRejected(GatewayError):
    """A sender's policy refuses the package because of its signature (chữ ký số)."""

    side = FaultSide.CLIENT

    def __init__(self, result: SignatureVerdict) -> None:
        super().__init__(
            "M.Signature",
            f"the package's digital signature (chữ ký số) is not accepted: {result.reason}",
            "/edXML/edXMLEnvelope/edXMLHeader/Signature",
        )
        self.result = result


class SigningKeyError(GatewayError):
    """The gateway's signing key or certificate cannot be used (a configuration mistake)."""

    side = FaultSide.SERVER


class ReceiptInvalid(GatewayError):
    """A receipt that is not one this gateway issued, or was changed since (biên nhận)."""

    side = FaultSide.CLIENT

    def __init__(self, message: str) -> None:
        super().__init__("M.Receipt", message, "/Receipt")


class VxpSignatureError(ValueError):
    """A VXP request's ``XroadVnpt-*`` headers do not prove the caller knows its secret."""


# --- relay ------------------------------------------------------------------------------------


class RelayError(GatewayError):
    """An upstream call failed; see the two subclasses for what the relay does about it."""


class TransientRelayError(RelayError):
    """Worth retrying later: network errors, timeouts, HTTP 5xx, an upstream that is down."""


class PermanentRelayError(RelayError):
    """The upstream refused the package itself; retrying the same bytes cannot succeed."""


# --- faces ------------------------------------------------------------------------------------


class InternalError(GatewayError):
    """An unexpected failure: the client learns only the request id to quote."""

    side = FaultSide.SERVER

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "Server.Internal",
            f"the gateway failed to process the request; quote request id {request_id} "
            "to its operator",
        )
        self.request_id = request_id


class VxpRefusal(Exception):
    """A VXP backend's "no": answered as ``{status: FAIL, ErrorCode: code, ErrorDesc: desc}``."""

    def __init__(self, code: str, desc: str) -> None:
        super().__init__(f"{code}: {desc}")
        self.code = code
        self.desc = desc


class HttpRefusal(GatewayError):
    """A request refused by the HTTP layer (:mod:`gateway.web`) before a face reads it.

    ``status`` is what plain HTTP answers; a SOAP face answers a fault instead, with the status
    its SOAP version gives faults (clients parse faults only there). ``retry_after`` (seconds)
    tells a busy refusal's caller when to come back.
    """

    side = FaultSide.CLIENT
    status = 400
    retry_after: int | None = None


class BodyTooLarge(HttpRefusal):
    """The request body is larger than ``max_request_bytes``."""

    status = 413

    def __init__(self, message: str) -> None:
        super().__init__("R.Request.Size", message)


class MalformedBody(HttpRefusal):
    """The request body's framing is broken: a bad Content-Length, a malformed chunk, cut short."""

    def __init__(self, message: str) -> None:
        super().__init__("M.Http.Body", message)


class LengthRequired(HttpRefusal):
    """A request that needs a body came with neither a Content-Length nor chunked framing."""

    status = 411

    def __init__(self, message: str) -> None:
        super().__init__("N.Http.ContentLength", message)


class Busy(HttpRefusal):
    """The node is at its limit (requests in flight, or the agency's rate): retry later."""

    side = FaultSide.SERVER
    status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("Server.Busy", message)
        self.retry_after = retry_after
