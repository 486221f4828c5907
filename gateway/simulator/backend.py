"""The national axis's rules, as the simulator plays them (a :class:`VxpBackend`).

- Systems (``systemid`` + secret) are given at start. Agencies are registered under a system
  with ``registerAgency`` (``pcode``); a system may send as itself or as an agency registered
  under it, else ``Don vi gui ... khong dung voi ma da dang ky`` (reference §4.4).
- A package sent to ``to`` codes (or, without ``to``, the edXML's ``To``/``ResponseFor``
  OrganIds) gets one delivery, with its own receiver DocId, per system owning a recipient;
  unknown recipients refuse the whole send.
- A delivery is listed by ``getReceivedEdocList`` while ``initial`` or ``processing``;
  ``updateStatus`` ``done`` or ``fail`` ends it (repeating the same final status is accepted, so a
  client may re-acknowledge after a crash).
- Simulator behaviour, not documented for the real axis: a resend with the same
  (systemId, from, hash-file, messagetype) returns the original DocId and delivers nothing new.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import BinaryIO

from gateway.errors import VxpRefusal
from gateway.restface.server import Upload
from gateway.simulator.faults import FaultPlan
from gateway.simulator.store import SimulatorStore, now_micros
from gateway.vxp import wire
from gateway.vxp.peek import peek_header
from gateway.vxp.wire import AgencyRecord, MessageType, ReceivedItem, SentItem

_MAX_DEPTH = 8


def new_doc_id() -> str:
    """A Mongo-style 24-hex id, the shape the axis gives."""
    return secrets.token_hex(12)


class SimulatorBackend:
    def __init__(
        self, store: SimulatorStore, systems: Mapping[str, str], faults: FaultPlan
    ) -> None:
        self.store = store
        self.systems = dict(systems)
        self.faults = faults

    # -- identity and the registry ------------------------------------------------------

    def secret(self, system_id: str) -> str | None:
        return self.systems.get(system_id)

    def owner(self, code: str) -> str | None:
        """The system an agency code belongs to (itself, or up the pcode chain)."""
        for _ in range(_MAX_DEPTH):
            if code in self.systems:
                return code
            rows = self.store.query("SELECT pcode FROM agencies WHERE code = ?", (code,))
            if not rows:
                return None
            code = rows[0]["pcode"]
        return None

    def agencies(self) -> list[AgencyRecord]:
        records = [AgencyRecord(code=code, name=code) for code in self.systems]
        for row in self.store.query("SELECT * FROM agencies ORDER BY code"):
            records.append(
                AgencyRecord(
                    code=row["code"],
                    name=row["name"],
                    pcode=row["pcode"],
                    mail=row["mail"],
                    mobile=row["mobile"],
                    fax=row["fax"],
                    code_qd20=row["code_qd20"],
                    id=row["id"],
                )
            )
        return records

    def register_agency(self, caller: str, agency: AgencyRecord) -> None:
        if agency.code in self.systems:
            raise VxpRefusal(wire.NOT_OWNER, f"{agency.code} is a systemId, not an agency")
        if self.owner(agency.pcode) != caller:
            raise VxpRefusal(
                wire.NOT_OWNER, f"pcode {agency.pcode} is not {caller} or an agency under it"
            )
        current = self.owner(agency.code)
        if current is not None and current != caller:
            raise VxpRefusal(wire.NOT_OWNER, f"{agency.code} is registered by another system")
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO agencies VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agency.code,
                    agency.pcode,
                    agency.name,
                    agency.mail,
                    agency.mobile,
                    agency.fax,
                    agency.code_qd20,
                    agency.id or agency.code,
                ),
            )

    def delete_agency(self, caller: str, code: str) -> None:
        if not self.store.query("SELECT 1 FROM agencies WHERE code = ?", (code,)):
            raise VxpRefusal(wire.UNKNOWN_RECEIVER, f"Don vi {code} khong ton tai")
        if self.owner(code) != caller:
            raise VxpRefusal(wire.NOT_OWNER, f"{code} is not registered under {caller}")
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM agencies WHERE pcode = ?", (code,)).fetchone():
                raise VxpRefusal(wire.NOT_OWNER, f"{code} still has agencies registered under it")
            db.execute("DELETE FROM agencies WHERE code = ?", (code,))

    # -- packages -------------------------------------------------------------------------

    def send_edoc(self, caller: str, upload: Upload) -> str:
        if self.owner(upload.from_code) != caller:
            raise VxpRefusal(
                wire.SENDER_NOT_REGISTERED,
                f"Don vi gui {upload.from_code} khong dung voi ma da dang ky: {caller}",
            )
        named = peek_header(upload.path).recipients(upload.message_type)
        recipients = upload.to_codes or named
        if not recipients:
            raise VxpRefusal(wire.UNKNOWN_RECEIVER, "Khong co don vi nhan (no recipient)")
        by_system: dict[str, list[str]] = {}
        for code in dict.fromkeys(recipients):
            system = self.owner(code)
            if system is None:
                raise VxpRefusal(wire.UNKNOWN_RECEIVER, f"Don vi nhan {code} khong ton tai")
            by_system.setdefault(system, []).append(code)
        key = (caller, upload.from_code, upload.sha256, upload.message_type)
        previous = self.store.query(
            "SELECT doc_id FROM packages WHERE system_id = ? AND from_code = ? AND sha256 = ?"
            " AND message_type = ?",
            key,
        )
        if previous:
            return str(previous[0]["doc_id"])
        self.store.put_blob(upload.path, upload.sha256)
        duplicate = self.faults.take("sendEdoc", ("duplicate",)) is not None
        doc_id, now = new_doc_id(), now_micros()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO packages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    caller,
                    upload.from_code,
                    json.dumps(list(dict.fromkeys(recipients))),
                    upload.message_type,
                    upload.service_type,
                    upload.sha256,
                    upload.size,
                    now,
                ),
            )
            for system, codes in by_system.items():
                for _ in range(2 if duplicate else 1):
                    db.execute(
                        "INSERT INTO deliveries VALUES (?, ?, ?, ?, 'initial', '', ?, ?)",
                        (new_doc_id(), doc_id, system, json.dumps(codes), now, now),
                    )
        return doc_id

    def received_list(self, caller: str, message_type: MessageType) -> list[ReceivedItem]:
        rows = self.store.query(
            "SELECT d.*, p.from_code, p.message_type, p.service_type, p.sha256, p.size"
            " FROM deliveries d JOIN packages p ON p.doc_id = d.package_id"
            " WHERE d.system_id = ? AND p.message_type = ?"
            " AND d.status IN ('initial', 'processing') ORDER BY d.created, d.doc_id",
            (caller, message_type),
        )
        return [
            ReceivedItem(
                doc_id=row["doc_id"],
                message_type=row["message_type"],
                from_code=row["from_code"],
                to_codes=tuple(json.loads(row["to_codes"])),
                status=row["status"],
                status_desc=row["status_desc"],
                service_type=row["service_type"],
                created_time=wire.axis_time(row["created"]),
                updated_time=wire.axis_time(row["updated"]),
                content_sha256=row["sha256"],
                content_length=row["size"],
            )
            for row in rows
        ]

    def open_edoc(self, caller: str, doc_id: str) -> tuple[BinaryIO, int]:
        rows = self.store.query(
            "SELECT p.sha256, p.size FROM deliveries d JOIN packages p ON p.doc_id = d.package_id"
            " WHERE d.doc_id = ? AND d.system_id = ?",
            (doc_id, caller),
        )
        if not rows:
            raise VxpRefusal(wire.NOT_FOUND, f"Khong tim thay goi tin {doc_id} (not found)")
        return self.store.blob(rows[0]["sha256"]).open("rb"), int(rows[0]["size"])

    def update_status(self, caller: str, doc_id: str, status: str, description: str) -> None:
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT status FROM deliveries WHERE doc_id = ? AND system_id = ?",
                (doc_id, caller),
            ).fetchone()
            if row is None:
                raise VxpRefusal(wire.NOT_FOUND, f"Khong tim thay goi tin {doc_id} (not found)")
            current = row["status"]
            if current in ("done", "fail") and current != status:
                raise VxpRefusal(wire.BAD_PARAMETER, f"{doc_id} is already {current}")
            db.execute(
                "UPDATE deliveries SET status = ?, status_desc = ?, updated = ? WHERE doc_id = ?",
                (status, description, now_micros(), doc_id),
            )

    def sent_list(self, caller: str, message_type: MessageType, doc_id: str) -> list[SentItem]:
        sql = (
            "SELECT p.doc_id AS sender_doc_id, p.from_code, p.message_type, p.service_type,"
            " p.created AS sent, d.doc_id AS receiver_doc_id, d.to_codes, d.status,"
            " d.status_desc, d.updated FROM packages p JOIN deliveries d"
            " ON d.package_id = p.doc_id WHERE p.system_id = ? AND p.message_type = ?"
        )
        params: tuple[str, ...] = (caller, message_type)
        if doc_id:
            sql += " AND p.doc_id = ?"
            params += (doc_id,)
        items: list[SentItem] = []
        for row in self.store.query(sql + " ORDER BY p.created, d.doc_id", params):
            final = row["status"] in ("done", "fail")
            for code in json.loads(row["to_codes"]):
                items.append(
                    SentItem(
                        sender_doc_id=row["sender_doc_id"],
                        receiver_doc_id=row["receiver_doc_id"],
                        from_code=row["from_code"],
                        to_code=code,
                        message_type=row["message_type"],
                        sent_time=wire.axis_time(row["sent"]),
                        received_time=wire.axis_time(row["updated"]) if final else "",
                        send_status="done",
                        send_status_desc="Da chuyen den truc (delivered to the recipient's list)",
                        receive_status=row["status"],
                        receive_status_desc=row["status_desc"],
                        service_type=row["service_type"],
                    )
                )
        return items
