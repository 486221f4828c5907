"""What travels in VXP bodies: the response envelope, error codes, operation names and the JSON
records of the lists (reference §4.3–4.4). Shared by the client connector and the server layer so
both sides spell every field the same way."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from gateway.edxml.dates import ICT

OPERATIONS = (
    "sendEdoc",
    "getReceivedEdocList",
    "getEdoc",
    "updateStatus",
    "getSentEdocList",
    "getAgenciesList",
    "getAgenciesListQD20",
    "registerAgency",
    "deleteAgency",
)

MessageType = Literal["edoc", "status"]
MESSAGE_TYPES: tuple[MessageType, ...] = ("edoc", "status")
TransportStatus = Literal["initial", "processing", "done", "fail"]
ACK_STATUSES = ("processing", "done", "fail")
"""The values ``updateStatus`` accepts; ``initial`` is what a new delivery starts as."""

# Error codes. 0, 10, 15, 18, 19, 20, 21 are the axis's own (reference §4.4, LGSP table);
# 100 is downloadEdoc's "not found". 11 and 12 are this implementation's, for requests the
# reference does not cover (a missing or bad parameter; an agency this system may not change).
OK = "0"
INVALID_FILE = "10"
BAD_PARAMETER = "11"
NOT_OWNER = "12"
AUTH_FAILED = "15"
UNKNOWN_RECEIVER = "18"
SENDER_NOT_REGISTERED = "19"
SYSTEM_ERROR = "20"
FILE_ERROR = "21"
NOT_FOUND = "100"

RETRYABLE_CODES = frozenset({SYSTEM_ERROR})
"""FAIL codes that say "the axis is in trouble", not "your request is wrong"."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """``{status: "OK"|"FAIL", ErrorCode, ErrorDesc, data}``, the body of every answer."""

    status: Literal["OK", "FAIL"]
    error_code: str = OK
    error_desc: str = "Thanh cong"
    data: Any = None

    @classmethod
    def ok(cls, data: Any = None) -> Envelope:
        return cls("OK", OK, "Thanh cong", data)

    @classmethod
    def fail(cls, code: str, desc: str) -> Envelope:
        return cls("FAIL", code, desc, None)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ErrorCode": self.error_code,
            "ErrorDesc": self.error_desc,
            "data": self.data,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: Any) -> Envelope:
        """Read an envelope; raise ``ValueError`` when ``value`` is not one."""
        if not isinstance(value, dict) or "status" not in value:
            raise ValueError("not a VXP envelope: no status")
        status = str(value["status"]).upper()
        if status not in ("OK", "FAIL"):
            raise ValueError(f"not a VXP envelope: status {value['status']!r}")
        return cls(
            "OK" if status == "OK" else "FAIL",
            str(value.get("ErrorCode", OK if status == "OK" else "")),
            str(value.get("ErrorDesc", "")),
            value.get("data"),
        )


@dataclass(frozen=True, slots=True)
class ReceivedItem:
    """One knobstick of ``getReceivedEdocList``."""

    doc_id: str
    message_type: str
    from_code: str
    to_codes: tuple[str, ...]
    status: str
    status_desc: str = ""
    service_type: str = "eDoc"
    created_time: str = ""
    updated_time: str = ""
    content_sha256: str = ""
    content_length: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "docId": self.doc_id,
            "serviceType": self.service_type,
            "messageType": self.message_type,
            "created_time": self.created_time,
            "updated_time": self.updated_time,
            "from": self.from_code,
            "to": list(self.to_codes),
            "status": self.status,
            "status_desc": self.status_desc,
            "contentSha256": self.content_sha256,
            "contentLength": self.content_length,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ReceivedItem:
        doc_id = value.get("docId", value.get("docid", value.get("DocId")))
        if not doc_id:
            raise ValueError("received-list item without docId")
        return cls(
            doc_id=str(doc_id),
            message_type=str(value.get("messageType", value.get("messagetype", ""))),
            from_code=str(value.get("from", "")),
            to_codes=codes(value.get("to")),
            status=str(value.get("status", "")),
            status_desc=str(value.get("status_desc", "")),
            service_type=str(value.get("serviceType", "eDoc")),
            created_time=str(value.get("created_time", "")),
            updated_time=str(value.get("updated_time", "")),
            content_sha256=str(value.get("contentSha256", "")),
            content_length=int(value.get("contentLength") or 0),
        )


@dataclass(frozen=True, slots=True)
class SentItem:
    """One row of ``getSentEdocList``: a package as one recipient sees it."""

    sender_doc_id: str
    receiver_doc_id: str
    from_code: str
    to_code: str
    message_type: str
    sent_time: str
    received_time: str
    send_status: str
    send_status_desc: str
    receive_status: str
    receive_status_desc: str
    service_type: str = "eDoc"
    title: str = ""
    notation: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "serviceType": self.service_type,
            "senderDocId": self.sender_doc_id,
            "receiverDocId": self.receiver_doc_id,
            "fromCode": self.from_code,
            "toCode": self.to_code,
            "title": self.title,
            "notation": self.notation,
            "messageType": self.message_type,
            "sentTime": self.sent_time,
            "receivedTime": self.received_time,
            "sendStatus": self.send_status,
            "sendStatusDesc": self.send_status_desc,
            "receiveStatus": self.receive_status,
            "receiveStatusDesc": self.receive_status_desc,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SentItem:
        def text(name: str) -> str:
            return str(value.get(name) or "")

        return cls(
            sender_doc_id=text("senderDocId"),
            receiver_doc_id=text("receiverDocId"),
            from_code=text("fromCode"),
            to_code=text("toCode"),
            message_type=text("messageType"),
            sent_time=text("sentTime"),
            received_time=text("receivedTime"),
            send_status=text("sendStatus"),
            send_status_desc=text("sendStatusDesc"),
            receive_status=text("receiveStatus"),
            receive_status_desc=text("receiveStatusDesc"),
            service_type=text("serviceType") or "eDoc",
            title=text("title"),
            notation=text("notation"),
        )


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """An agency as both directory operations describe it: ``getAgenciesList`` gives the
    QCVN 102 ``code`` (and ``pid``), ``getAgenciesListQD20`` the QĐ 20 ``code`` plus ``code102``."""

    code: str
    """QCVN 102:2016 code."""
    name: str
    pcode: str = ""
    """The systemId or parent code it is registered under."""
    mail: str = ""
    mobile: str = ""
    fax: str = ""
    code_qd20: str = ""
    id: str = ""

    def to_list_json(self) -> dict[str, Any]:
        return {
            "id": self.id or self.code,
            "code": self.code,
            "name": self.name,
            "mail": self.mail,
            "pid": self.pcode,
            "oldCode": "",
        }

    def to_qd20_json(self) -> dict[str, Any]:
        return {
            "id": self.id or self.code,
            "code": self.code_qd20,
            "code102": self.code,
            "name": self.name,
            "mail": self.mail,
        }

    def to_register_json(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "pcode": self.pcode,
            "code": self.code,
            "name": self.name,
            "mail": self.mail,
            "mobile": self.mobile,
            "fax": self.fax,
        }
        if self.code_qd20:  # not in the SDK's form; the simulator keeps it for QD20 listings
            body["codeQD20"] = self.code_qd20
        return body


def codes(value: Any) -> tuple[str, ...]:
    """Agency codes from a ``to`` value: a JSON list, a JSON-encoded list, or ``a,b``/``a;b``."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError(f"'to' is not a JSON list: {text[:80]!r}") from None
        else:
            return tuple(c.strip() for c in text.replace(";", ",").split(",") if c.strip())
    if not isinstance(value, list):
        raise ValueError("'to' must be a list of agency codes")
    out: list[str] = []
    for item in value:
        code = item.get("code", item.get("OrganId")) if isinstance(item, dict) else item
        if not isinstance(code, str) or not code.strip():
            raise ValueError(f"'to' holds a non-code item {item!r}")
        out.append(code.strip())
    return tuple(out)


def axis_time(micros: int) -> str:
    """A time in the lists' ``yyyy-MM-dd HH:mm:ss`` form, in Vietnam's time (ICT); empty for 0."""
    if not micros:
        return ""
    moment = dt.datetime.fromtimestamp(micros / 1_000_000, dt.UTC).astimezone(ICT)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
