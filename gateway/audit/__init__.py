"""The tamper-evident audit log: hash-chained records, verification, offline export.

See ``gateway.audit.chain`` for the record and file formats; ``python -m gateway.audit FILE``
verifies an export without the gateway's database or configuration.
"""

from gateway.audit.chain import (
    GENESIS_HASH,
    AuditRecord,
    Chain,
    DetailValue,
    Problem,
    ProblemKind,
    VerifyReport,
    canonical_bytes,
    export,
    next_record,
    parse_anchor,
    read_export,
    verify,
)
from gateway.errors import ExportFormatError

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "Chain",
    "DetailValue",
    "ExportFormatError",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "canonical_bytes",
    "export",
    "next_record",
    "parse_anchor",
    "read_export",
    "verify",
]
