"""A package's timeline for the console: everything that happened to it, in time order.

Built from what the exchange already keeps (the package row, its deliveries, its outbox items,
the audit records about it and the statuses about its document), so it shows the same truth as
the SOAP faces' traces and the audit log, never a second bookkeeping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.store.base import Delivery, Store, StoredPackage
from gateway.store.console_sql import ConsoleTables, IndexedPackage
from gateway.store.relay_sql import OutboxItem

STATUS_MEANINGS: dict[str, tuple[str, str]] = {
    "01": ("Đã đến", "received"),
    "02": ("Từ chối tiếp nhận", "refused"),
    "03": ("Đã phân công", "assigned"),
    "04": ("Đang xử lý", "being processed"),
    "05": ("Trả lại", "returned"),
    "06": ("Đã hoàn thành", "completed"),
    "13": ("Lấy lại", "recalled"),
    "15": ("Đồng ý cập nhật/thu hồi", "update or revoke agreed"),
    "16": ("Từ chối cập nhật/thu hồi", "update or revoke refused"),
}
"""The edXML status codes (QCVN 102:2016) a timeline names."""

_AUDIT_EVENTS: dict[str, tuple[str, str]] = {
    "relay.sent": ("Đã gửi lên trục", "sent upstream"),
    "relay.retry": ("Gửi lỗi, sẽ gửi lại", "send failed, will retry"),
    "relay.dead": ("Gửi thất bại (thư chết)", "send failed for good (dead letter)"),
    "admin.outbox.retry": ("Người vận hành cho gửi lại", "an operator queued it again"),
    "admin.outbox.cancel": ("Người vận hành hủy gửi", "an operator cancelled the send"),
    "delivery.confirmed": ("Đơn vị nhận đã xác nhận", "the recipient confirmed it"),
    "delivery.failed": ("Đơn vị nhận báo lỗi", "the recipient reported a failure"),
    "document.duplicate": ("Gửi trùng (đã có)", "sent again (a duplicate)"),
    "status.duplicate": ("Gửi trùng (đã có)", "sent again (a duplicate)"),
    "package.reverified": ("Kiểm tra lại chữ ký", "signature checked again"),
    "document.read": ("Đơn vị nhận đã tải về", "fetched by a recipient"),
}


@dataclass(frozen=True, slots=True)
class Event:
    at: int
    vi: str
    en: str
    detail: str = ""
    tone: str = ""
    """``bad`` for a failure, ``good`` for a completion, '' otherwise (the page's colour)."""


@dataclass
class Timeline:
    package: StoredPackage
    indexed: IndexedPackage | None
    summary: dict[str, Any]
    signature: dict[str, Any]
    deliveries: list[Delivery]
    outbox: list[OutboxItem]
    recipients: list[str]
    events: list[Event] = field(default_factory=list)


def build_timeline(store: Store, tables: ConsoleTables, package_id: str) -> Timeline | None:
    stored = store.get_package(package_id)
    if stored is None:
        return None
    summary = _json(stored.summary_json)
    timeline = Timeline(
        package=stored,
        indexed=tables.indexed(package_id),
        summary=summary,
        signature=_json(stored.signature_json),
        deliveries=store.deliveries_of(package_id),
        outbox=_outbox_of(tables, package_id),
        recipients=tables.recipients_of(package_id),
    )
    events = timeline.events
    audit = tables.audit_about(package_id)
    accepted = next((r for r in audit if r.event.endswith(".accepted")), None)
    facts = [
        f"origin {stored.origin or '-'}",
        f"{stored.size} bytes",
        f"signature {timeline.signature.get('status', '-')}",
        f"receipt {stored.receipt_sha256[:16] or '-'}",
    ]
    if accepted is not None:
        for key in ("from_upstream", "sent_by"):
            if accepted.details.get(key):
                facts.append(f"{key.replace('_', ' ')} {accepted.details[key]}")
    events.append(Event(stored.received_at, "Đã tiếp nhận", "received", "; ".join(facts)))
    for d in timeline.deliveries:
        events.append(
            Event(d.created_at, "Vào hộp thư", "placed in the mailbox", f"→ {d.recipient}")
        )
        if d.progress:
            events.append(
                Event(d.created_at, "Đang xử lý", "being processed", f"{d.recipient}: "
                      f"{d.progress_note}")
            )
    for item in timeline.outbox:
        events.append(
            Event(
                item.created_at,
                "Xếp hàng gửi lên trục",
                "queued for an upstream",
                f"{item.upstream} → {', '.join(item.recipients)} (#{item.id})",
            )
        )
    for record in audit:
        names = _AUDIT_EVENTS.get(record.event)
        if names is None:
            continue
        details = record.details
        parts = [f"{k} {details[k]}" for k in ("upstream", "attempt", "error_code", "error",
                                                "reason", "state") if details.get(k)]
        tone = "bad" if record.event in ("relay.dead", "relay.retry", "delivery.failed") else (
            "good" if record.event in ("relay.sent", "delivery.confirmed") else ""
        )
        who = record.actor if record.event.startswith(("admin.", "delivery.")) else ""
        detail = "; ".join(([who] if who else []) + parts)
        events.append(Event(record.at, names[0], names[1], detail, tone))
    document_id = stored.document_id
    for row in tables.statuses_about(document_id, package_id):
        if row["kind"] == "transport":
            good = row["outcome"] == "delivered"
            events.append(
                Event(
                    int(row["recorded_at"]),
                    "Báo cáo chuyển phát" + (" (đã gửi được)" if good else " (thất bại)"),
                    "transport report" + (" (delivered)" if good else " (failed)"),
                    f"{row['upstream']}: {row['error_code']} {row['description']}".strip(),
                    "good" if good else "bad",
                )
            )
            continue
        code = str(row["status_code"])
        vi, en = STATUS_MEANINGS.get(code, ("Trạng thái", "status"))
        written = f" (written {row['status_time']})" if row["status_time"] else ""
        events.append(
            Event(
                int(row["recorded_at"]),
                f"Trạng thái {code}: {vi}",
                f"status {code}: {en}",
                f"{row['from_agency']} → {row['to_agency']}{written}"
                + (f"; {row['description']}" if row["description"] else ""),
                "bad" if code in ("02", "05", "16") else ("good" if code == "06" else ""),
            )
        )
    events.sort(key=lambda e: e.at)
    return timeline


def _outbox_of(tables: ConsoleTables, package_id: str) -> list[OutboxItem]:
    items: list[OutboxItem] = tables.store.outbox_items("", "", package_id, 100)
    return items


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
