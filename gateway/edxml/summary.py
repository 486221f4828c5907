"""A short, JSON-ready summary of a package: what a clerk or an operator wants to see first.

Used by ``edoc-gateway edxml show`` and by services that return a parsed summary with a package.
"""

from __future__ import annotations

from typing import Any

from gateway.edxml.dates import format_date, format_timestamp
from gateway.edxml.model import DocumentPackage, Organization, Package, StatusPackage
from gateway.edxml.names import safe_file_name


def _org(org: Organization) -> dict[str, str]:
    return {"organ_id": org.organ_id, "name": org.organ_name or org.organization_in_charge}


def summarize(pkg: Package) -> dict[str, Any]:
    """Key facts of a package, with its read findings; values are JSON types only."""
    result: dict[str, Any]
    if isinstance(pkg, StatusPackage):
        h = pkg.header
        rf = h.response_for
        result = {
            "kind": "status",
            "from": _org(h.from_),
            "status_code": h.status_code.value,
            "status_meaning": h.status_code.vietnamese,
            "description": h.description,
            "timestamp": format_timestamp(h.timestamp) if h.timestamp else None,
            "response_for": None
            if rf is None
            else {
                "organ_id": rf.organ_id,
                "code": rf.code,
                "document_id": rf.document_id,
                "promulgation_date": format_date(rf.promulgation_date)
                if rf.promulgation_date
                else None,
            },
            "staff": h.staff_info.staff,
        }
    else:
        result = _document_summary(pkg)
    result["signature"] = pkg.signature.local_name if pkg.signature is not None else None
    result["warnings"] = [f.as_dict() for f in pkg.warnings]
    result["errors"] = [f.as_dict() for f in pkg.errors]
    return result


def _document_summary(pkg: DocumentPackage) -> dict[str, Any]:
    h = pkg.header
    date = h.promulgation_info.promulgation_date
    business = pkg.trace.business
    return {
        "kind": "document",
        "document_id": h.document_id,
        "code": "/".join(p for p in (h.code.code_number, h.code.code_notation) if p),
        "subject": h.subject,
        "document_type": h.document_type.type_name,
        "from": _org(h.from_),
        "to": [_org(t) for t in h.to],
        "promulgation_date": format_date(date) if date else None,
        "due_date": format_date(h.due_date) if h.due_date else None,
        "priority": int(h.other_info.priority),
        "steering_type": int(h.steering_type),
        "business": {
            "doc_type": int(business.doc_type),
            "doc_type_name": business.doc_type.name.lower(),
            "document_id": business.document_id,
            "reason": business.reason,
        },
        "response_for": [rf.document_id or rf.code for rf in h.response_for],
        "trace": [
            {
                "organ_id": t.organ_id,
                "timestamp": format_timestamp(t.timestamp) if t.timestamp else None,
            }
            for t in pkg.trace.trace_headers
        ],
        "attachments": [
            {
                "content_id": a.content_id,
                "name": a.name,
                "file_name": safe_file_name(a.name, f"attachment-{i}"),
                "declared_type": a.content_type,
                "kind": a.file_kind,
                "size": a.file.size,
                "sha256": a.file.sha256,
                "unwrapped_from_zip": a.unwrapped_from_zip,
            }
            for i, a in enumerate(pkg.attachments, start=1)
        ],
    }


def with_file_names(summary: dict[str, Any]) -> dict[str, Any]:
    """A stored summary with ``file_name`` beside every attachment's ``name`` (as sent, for
    display): summaries kept before the field existed get it on the way out too."""
    for i, item in enumerate(summary.get("attachments") or (), start=1):
        if isinstance(item, dict):
            item["file_name"] = safe_file_name(str(item.get("name") or ""), f"attachment-{i}")
    return summary
