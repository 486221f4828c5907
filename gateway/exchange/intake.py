"""Intake: a package a client or an upstream sends, read, validated and judged before it is kept.

Every way in ends in an :class:`~gateway.exchange.types.Admission` handed to the keeper
(:mod:`gateway.exchange.keeper`): edXML bytes, a file or a stream from a face; a package built
from fields; a package a face translated from its own dialect (with the bytes it received);
a package an upstream delivered. What is checked, in order: the caller is an enabled agency, the
package is valid, its sender is the caller or an agency the caller acts for, every recipient is
reachable, and its XML signature satisfies the sender's policy. Nothing is stored for a package
that is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from gateway.edxml.dates import ICT, format_timestamp
from gateway.edxml.enums import BusinessDocType, StatusCode
from gateway.edxml.model import DocumentPackage, Package, StatusPackage
from gateway.edxml.reader import read_package
from gateway.edxml.validate import validate
from gateway.errors import Finding, GatewayError, InvalidPackage, PermissionDenied, Severity
from gateway.exchange.delegation import Delegation
from gateway.exchange.fields import PackageBuilder
from gateway.exchange.keeper import Keeper
from gateway.exchange.parts import Parts
from gateway.exchange.types import (
    Admission,
    DocumentFields,
    Receipt,
    Received,
    Source,
    StatusFields,
)
from gateway.routing.router import Route
from gateway.security.signatures import (
    SignatureResult,
    SignatureStatus,
    VerifyPolicy,
    enforce,
    verify_package,
)
from gateway.store.base import AgencyRecord, NewPackage, NewTrace, StoredPackage
from gateway.store.blobs import StagedBlobs, staged

log = logging.getLogger(__name__)
P = TypeVar("P", DocumentPackage, StatusPackage)

TO_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To"
RESPONSE_FOR_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor"
FROM_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId"

UNDELIVERABLE = frozenset(
    {
        "N.edXMLEnvelope",
        "N.MessageHeader",
        "N.MessageHeader.ResponseFor",
        "N.MessageHeader.StatusCode",
        "R.MessageHeader.StatusCode",
        "M.Attachment.ContentTransferEncoded",
        "N.Attachment.ContentTransferEncoded",
    }
)
"""Validation errors that stop a package from upstream: no readable content, or a status that
names no document or no code. Every other error is a warning there (lenient in)."""

_CHANGE_ARRIVED = {
    int(BusinessDocType.REVOKE): " (văn bản thu hồi)",
    int(BusinessDocType.UPDATE): " (văn bản cập nhật)",
    int(BusinessDocType.REPLACE): " (văn bản thay thế)",
}
"""What the automatic 01 adds for a change package, so it differs from the original's 01."""


class Intake:
    def __init__(
        self, parts: Parts, delegation: Delegation, builder: PackageBuilder, keeper: Keeper
    ) -> None:
        self._parts = parts
        self._delegation = delegation
        self._builder = builder
        self._keeper = keeper

    # -- the ways in ----------------------------------------------------------------------------
    def send_document(self, agency: str, source: Source) -> Receipt:
        with (
            _refusals_logged("document", agency),
            self._as_received(source) as received,
            staged(self._parts.blobs) as stage,
        ):
            pkg = self._read_as(received, DocumentPackage, "SendStatus", stage)
            return self._accept(agency, pkg, received, stage)

    def send_status(self, agency: str, source: Source) -> Receipt:
        with (
            _refusals_logged("status", agency),
            self._as_received(source) as received,
            staged(self._parts.blobs) as stage,
        ):
            pkg = self._read_as(received, StatusPackage, "SendDocument", stage)
            return self._accept(agency, pkg, received, stage)

    def send_document_fields(self, agency: str, fields: DocumentFields) -> Receipt:
        with _refusals_logged("document", agency):
            return self._accept(agency, self._builder.document(agency, fields))

    def send_status_fields(self, agency: str, fields: StatusFields) -> Receipt:
        with _refusals_logged("status", agency):
            return self._accept(agency, self._builder.status(agency, fields))

    def send_translated(
        self, agency: str, pkg: Package, received: bytes, stage: StagedBlobs | None = None
    ) -> Receipt:
        """Accept a package a face translated from its own dialect's tree, with the bytes of
        the request it came in (their SHA-256 is attested; they are not kept: they carry the
        agency's secret). ``stage`` holds the blobs the face wrote for it, published only if
        the package is accepted."""
        arrival = Received(None, hashlib.sha256(received).hexdigest())
        with _refusals_logged(pkg.kind, agency):
            return self._accept(agency, pkg, arrival, stage)

    def accept_from_upstream(self, upstream: str, source: Source) -> Receipt:
        """Accept a package an upstream delivered (the inbound poller calls this).

        The sender is an agency beyond the upstream, never a local one. A document is delivered
        to the recipients that have a mailbox here (``To`` also names the other agencies the
        sender addressed; reference §5.6); a status goes to the local original sender. A
        package fetched again is recognised by its duplicate key and stored once.
        """
        parts = self._parts
        with (
            _refusals_logged("package", f"upstream {upstream}"),
            self._as_received(source) as received,
            staged(parts.blobs) as stage,
        ):
            assert received.raw is not None
            pkg = read_package(received.raw, stage, parts.read_options)
            findings = self._lenient(pkg, upstream)
            sender = pkg.header.from_.organ_id
            codes, path = _addressed(pkg)
            if parts.store.get_agency(sender) is not None:
                finding = Finding(
                    "R.MessageHeader.From.OrganId",
                    FROM_PATH,
                    f"{sender} has a mailbox here, yet this package from it arrived from "
                    f"upstream {upstream}",
                    Severity.WARNING,
                )
                if parts.store.relayed_from_here(sender, _about(pkg)):
                    # Our own send, reflected back by the upstream: delivering it would hand
                    # the local recipients a second copy.
                    raise InvalidPackage(
                        [
                            dataclasses.replace(
                                finding,
                                message=f"{finding.message}: it is this gateway's own send "
                                "of the same document, reflected back",
                                severity=Severity.ERROR,
                            )
                        ]
                    )
                findings.append(finding)
            local = [code for code in dict.fromkeys(codes) if self._is_local(code)]
            if not local:
                raise InvalidPackage(
                    [
                        Finding(
                            "R.MessageHeader.To.OrganId",
                            path,
                            f"none of {', '.join(codes) or 'the recipients'} has a mailbox here",
                        )
                    ]
                )
            signature = self._signature(sender, received)
            if sender:
                parts.store.learn_directory(sender, upstream, parts.now_micros())
            admission = _admission(sender, pkg, local, findings, signature, received)
            return self._keeper.accept(
                dataclasses.replace(admission, upstream_source=upstream), stage
            )

    def automatic_status(self, receiver: AgencyRecord, document: StoredPackage) -> NewPackage:
        """STATUS 01 "Đã đến" to the sender, as Decree 30/2020 Art. 21 asks the same day: its
        blobs filed, ready to commit with the confirmation that caused it."""
        summary = json.loads(document.summary_json)
        promulgated = summary.get("promulgation_date")
        status = self._builder.status(
            receiver.code,
            StatusFields(
                response_for_organ_id=document.sender,
                response_for_document_id=document.document_id,
                response_for_code=str(summary.get("code", "")),
                response_for_promulgation_date=(
                    dt.datetime.strptime(promulgated, "%Y/%m/%d").date() if promulgated else None
                ),
                status_code=StatusCode.RECEIVED.value,
                description="Đã đến: phần mềm QLVB đã nhận văn bản, văn thư chưa xử lý"
                + _CHANGE_ARRIVED.get(int(summary.get("business", {}).get("doc_type", 0)), ""),
            ),
        )
        destination = self._parts.router.resolve(document.sender)
        sender_here = destination is not None and destination.local
        upstreams = (
            ((destination.upstream, (document.sender,)),)
            if destination is not None and not destination.local
            else ()
        )
        trace = NewTrace(
            document_id=document.document_id,
            from_agency=receiver.code,
            to_agency=document.sender,
            status_code=StatusCode.RECEIVED.value,
            description=status.header.description,
            status_time=format_timestamp(status.header.timestamp)
            if status.header.timestamp
            else "",
        )
        return self._keeper.prepare(
            Admission(
                status,
                receiver.code,
                document.document_id,
                # A revoke, update or replace usually repeats the DocumentId it is about: its
                # 01 is still a status of its own, not a duplicate of the original's.
                f"status|{receiver.code}|{document.document_id}|01|auto|{document.package_id}",
                [document.sender] if sender_here else [],
                [],
                self._signature(receiver.code, None),
                trace=trace,
                upstreams=upstreams,
                document_key=document.document_id,
            )
        )

    # -- signatures -----------------------------------------------------------------------------
    def verify_signature(self, agency: str, raw: bytes | Path) -> SignatureResult:
        """Judge a package's signature as ``agency``'s: its SHA-1 allowance, its trust domain.

        Never refuses (see :meth:`_signature`); re-verification calls this on kept bytes.
        """
        return verify_package(
            raw, self._policy(agency), check_certificate=self._parts.trust.checker(agency)
        )

    def _policy(self, agency: str) -> VerifyPolicy:
        s = self._parts.settings
        return VerifyPolicy(
            allow_sha1=agency in s.signature_sha1_allowed_for
            or "*" in s.signature_sha1_allowed_for,
            require_valid=agency in s.signature_required_for or "*" in s.signature_required_for,
        )

    def _signature(self, agency: str, received: Received | None) -> SignatureResult:
        """The package's own XML signature, judged by the sender's policy (may refuse)."""
        if received is None:
            return SignatureResult(
                SignatureStatus.ABSENT,
                "the gateway built this package from fields; it carries no signature",
                self._parts.clock(),
            )
        if received.raw is None:
            result = SignatureResult(
                SignatureStatus.ABSENT,
                "translated from the legacy eDoc dialect, which carries no XML signature",
                self._parts.clock(),
            )
        else:
            result = self.verify_signature(agency, received.raw)
        enforce(result, self._policy(agency))
        return result

    # -- reading and checking -------------------------------------------------------------------
    @contextlib.contextmanager
    def _as_received(self, source: Source) -> Iterator[Received]:
        """The bytes exactly as received, with their SHA-256 (what the receipt attests).

        A stream, or a file that is not the gateway's own spool, is spooled to a file in the
        blob store's scratch directory first (hashing as it goes), so the reader, the signature
        check, the receipt and the kept raw copy all see the same bytes, and a large package is
        kept by linking that file into the blob store rather than copying it.
        """
        tmp_dir = self._parts.blobs.tmp_dir
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            yield Received(data, hashlib.sha256(data).hexdigest())
            return
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if path.resolve().parent == tmp_dir.resolve():
                # The gateway's own spool (the streaming SOAP handler writes it here): no copy.
                digest = hashlib.sha256()
                with path.open("rb") as stream:
                    while chunk := stream.read(1 << 20):
                        digest.update(chunk)
                yield Received(path, digest.hexdigest())
                return
            with path.open("rb") as stream, self._as_received(stream) as received:
                yield received
            return
        with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="received-") as spool:
            digest = hashlib.sha256()
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
            spool.flush()
            yield Received(Path(spool.name), digest.hexdigest())

    def _read_as(
        self, received: Received, kind: type[P], other_operation: str, stage: StagedBlobs
    ) -> P:
        """Read a package, refusing the other kind with a pointer to the right operation."""
        assert received.raw is not None
        pkg = read_package(received.raw, stage, self._parts.read_options)
        if not isinstance(pkg, kind):
            message = f"this is a {pkg.kind} package: use {other_operation}"
            raise InvalidPackage([Finding("M.Package.Kind", "/edXML", message)])
        return pkg

    def _check_valid(self, pkg: Package) -> list[Finding]:
        findings = validate(pkg, today=self._parts.clock().astimezone(ICT).date())
        if any(f.is_error for f in findings):
            raise InvalidPackage(findings)
        return findings

    def _lenient(self, pkg: Package, upstream: str) -> list[Finding]:
        """Findings of a package an upstream delivered: what the upstream already accepted is
        taken with warnings (a sender code in a form this gateway would refuse from a local
        client, such as a VXP systemId, a date, an unknown element); only what makes delivery
        impossible (unreadable attachment content, a status that names no document or code)
        refuses it. Local clients stay strict (:meth:`_check_valid`)."""
        findings = validate(pkg, today=self._parts.clock().astimezone(ICT).date())
        blocking = [f for f in findings if f.is_error and f.code in UNDELIVERABLE]
        if blocking:
            raise InvalidPackage(blocking)
        return [
            dataclasses.replace(
                f,
                severity=Severity.WARNING,
                message=f"{f.message} (accepted as delivered by upstream {upstream})",
            )
            if f.is_error
            else f
            for f in findings
        ]

    def _check_sender(self, agency: str, claimed: str) -> str:
        """The package's sender: the authenticated agency, or an agency it acts for."""
        if claimed != agency and not (claimed and self._delegation.acts_for(agency, claimed)):
            raise PermissionDenied(
                "M.MessageHeader.From.OrganId",
                f"agency {agency} cannot send as {claimed or 'nobody'}: "
                "From/OrganId must be the authenticated agency or one registered under it",
                FROM_PATH,
            )
        return claimed

    def _is_local(self, code: str) -> bool:
        record = self._parts.store.get_agency(code)
        return record is not None and record.enabled

    def _accept(
        self,
        agency: str,
        pkg: Package,
        received: Received | None = None,
        stage: StagedBlobs | None = None,
    ) -> Receipt:
        self._parts.agency(agency)
        findings = self._check_valid(pkg)
        sender = self._check_sender(agency, pkg.header.from_.organ_id)
        route = self._parts.router.route(*_addressed(pkg))
        signature = self._signature(sender, received)
        admission = _admission(sender, pkg, list(route.local), findings, signature, received, route)
        # Judged acceptable: the keeper makes the staged attachments blobs.
        return self._keeper.accept(_delegated(admission, agency), stage)


@contextlib.contextmanager
def _refusals_logged(kind: str, caller: str) -> Iterator[None]:
    try:
        yield
    except GatewayError as exc:
        log.info(
            "%s from %s refused: %s %s",
            kind,
            caller,
            exc.code,
            exc.message,
            extra={"agency": caller, "error_code": exc.code},
        )
        raise


def _delegated(admission: Admission, agency: str) -> Admission:
    """Note the parent that sent for its child (the audit record names it)."""
    if admission.sender == agency:
        return admission
    return dataclasses.replace(admission, delegate=agency)


def _addressed(pkg: Package) -> tuple[list[str], str]:
    """Whom a package is addressed to, and where the package says so."""
    if isinstance(pkg, DocumentPackage):
        return [t.organ_id for t in pkg.header.to], TO_PATH
    rf = pkg.header.response_for
    assert rf is not None, "validation refuses a status without ResponseFor"
    return [rf.organ_id], RESPONSE_FOR_PATH


def _about(pkg: Package) -> str:
    """The document a package is about: its own, or the one a status answers."""
    if isinstance(pkg, DocumentPackage):
        return pkg.header.document_id
    rf = pkg.header.response_for
    assert rf is not None, "_lenient refuses a status without ResponseFor"
    return rf.document_id


def _admission(
    sender: str,
    pkg: Package,
    recipients: list[str],
    findings: list[Finding],
    signature: SignatureResult,
    received: Received | None,
    route: Route | None = None,
) -> Admission:
    upstreams = tuple(route.upstreams.items()) if route else ()
    if isinstance(pkg, DocumentPackage):
        business = pkg.trace.business
        return Admission(
            pkg,
            sender,
            pkg.header.document_id,
            f"document|{sender}|{pkg.header.document_id}|{int(business.doc_type)}",
            recipients,
            findings,
            signature,
            received,
            tuple(sha for a in pkg.attachments for sha in (a.encoded.sha256, a.file.sha256)),
            upstreams=upstreams,
            # A revoke, update or replace is about the document it names.
            document_key=(
                business.document_id
                if business.doc_type != BusinessDocType.NEW and business.document_id
                else pkg.header.document_id
            ),
        )
    rf = pkg.header.response_for
    assert rf is not None, "validation refuses a status without ResponseFor"
    trace = NewTrace(
        document_id=rf.document_id,
        from_agency=sender,
        to_agency=rf.organ_id,
        status_code=pkg.header.status_code.value,
        description=pkg.header.description,
        status_time=format_timestamp(pkg.header.timestamp) if pkg.header.timestamp else "",
    )
    return Admission(
        pkg,
        sender,
        rf.document_id,
        f"status|{sender}|{rf.document_id}|{pkg.header.status_code.value}",
        recipients,
        findings,
        signature,
        received,
        trace=trace,
        upstreams=upstreams,
        document_key=rf.document_id,
    )
