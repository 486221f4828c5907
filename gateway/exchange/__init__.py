"""The exchange: what the gateway does with packages, whatever protocol brought them.

Adapters (the modern SOAP service, the legacy eDoc dialect, the national-axis connector) call
the operations of :class:`Exchange` with an authenticated agency code. Every accepting
operation reads, validates and judges the package (:mod:`~gateway.exchange.intake`), looks for
a duplicate, then stores the package's blobs and commits the package, its mailbox deliveries
and its trace in one transaction (:mod:`~gateway.exchange.keeper`); only then is a receipt
returned. Nothing is stored for a package that is refused. Reads
(:mod:`~gateway.exchange.mailbox`) never change state: a client that crashes mid-read can read
again.

The rooms: :mod:`~gateway.exchange.types` (the data), :mod:`~gateway.exchange.intake`,
:mod:`~gateway.exchange.keeper`, :mod:`~gateway.exchange.mailbox`,
:mod:`~gateway.exchange.delegation`, :mod:`~gateway.exchange.fields` (packages built from
fields), :mod:`~gateway.exchange.directory`, over :mod:`~gateway.exchange.parts`, composed by
the façade :mod:`~gateway.exchange.facade`.
"""

from __future__ import annotations

from gateway.exchange.facade import Exchange
from gateway.exchange.types import (
    MAX_DELEGATION_DEPTH,
    MAX_MAILBOXES,
    MAX_PENDING_PAGE,
    AgencyInfo,
    AttachmentInput,
    ConfirmResult,
    DocumentFields,
    PackageContent,
    PendingItem,
    PendingPage,
    Receipt,
    ServiceInfo,
    Source,
    StatusFields,
    TraceEntry,
)

__all__ = [
    "MAX_DELEGATION_DEPTH",
    "MAX_MAILBOXES",
    "MAX_PENDING_PAGE",
    "AgencyInfo",
    "AttachmentInput",
    "ConfirmResult",
    "DocumentFields",
    "Exchange",
    "PackageContent",
    "PendingItem",
    "PendingPage",
    "Receipt",
    "ServiceInfo",
    "Source",
    "StatusFields",
    "TraceEntry",
]
