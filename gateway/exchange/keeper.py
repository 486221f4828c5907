"""Keeping an admitted package: the duplicate check, then every write of one accept in one place.

The order is the point. The normalised package is written to scratch (hashing as it goes) and
its duplicate key looked up first: a resend writes no blob and signs nothing, it gets the
original's receipt back. Only a new package is filed: its normalised blob, the bytes as
received, the signed receipt and the copies for each upstream, then its rows, its mailbox
deliveries, its trace and its outbox entries in one store transaction (:meth:`Keeper._commit`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import uuid

from gateway import instruments, logs
from gateway.edxml.model import BlobRef, DocumentPackage
from gateway.edxml.names import with_safe_names
from gateway.edxml.summary import summarize
from gateway.edxml.writer import package_bytes, write_package
from gateway.errors import Finding, Severity, StorageError
from gateway.exchange.parts import Parts
from gateway.exchange.types import Admission, Receipt, Received
from gateway.security.receipts import build_receipt, sign_receipt
from gateway.security.signatures import sign_package
from gateway.store.base import NewOutbound, NewPackage, StoredPackage, from_micros, to_micros
from gateway.store.blobs import BlobWriting, StagedBlobs
from gateway.store.blobs_inline import held_for_commit

log = logging.getLogger(__name__)


class Keeper:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def accept(self, admission: Admission, stage: StagedBlobs | None = None) -> Receipt:
        """Store a new package, or answer a resend with the original's receipt. ``stage``
        holds the attachments its reader wrote: they become blobs with it.

        Small blobs (``inline_blob_bytes``) are held in memory until the package's own
        transaction inserts them (:func:`held_for_commit`): an accept is one durable commit."""
        with held_for_commit() as held:
            if stage is not None:
                stage.publish()
            content = self._normalised(admission)
            content_sha256 = content.digest().sha256
            try:
                dedupe_key = _dedupe_key(admission, content_sha256)
                original = self._parts.store.package_by_dedupe_key(dedupe_key)
            except BaseException:
                content.abort()
                raise
            if original is not None:
                content.abort()
                self._parts.store.record_event(
                    self._parts.now_micros(),
                    f"{admission.pkg.kind}.duplicate",
                    admission.sender,
                    original.package_id,
                    {"sha256": content_sha256},
                )
                return self._duplicate(original)
            return self._commit(admission, content, dedupe_key, held)

    def prepare(self, admission: Admission) -> NewPackage:
        """File a package's blobs and describe it for a store transaction of someone else's
        (the automatic STATUS 01 commits with the confirmation that caused it); its small
        blobs travel in the description and are inserted by that transaction."""
        with held_for_commit() as held:
            content = self._normalised(admission)
            try:
                dedupe_key = _dedupe_key(admission, content.digest().sha256)
            except BaseException:
                content.abort()
                raise
            package, _receipt = self._file(admission, content, dedupe_key, held)
        return package

    def receipt_of(self, stored: StoredPackage, duplicate: bool) -> Receipt:
        """The receipt of a stored package, as it was given when the package was accepted."""
        warnings = tuple(
            Finding(w["code"], w["path"], w["message"], Severity(w["severity"]))
            for w in json.loads(stored.warnings_json)
        )
        signature = json.loads(stored.signature_json)
        blobs = self._parts.blobs
        return Receipt(
            package_id=stored.package_id,
            kind=stored.kind,
            received_at=from_micros(stored.received_at),
            duplicate=duplicate,
            warnings=warnings,
            signed_receipt=blobs.read_bytes(stored.receipt_sha256)
            if stored.receipt_sha256
            else b"",
            signature_status=str(signature.get("status", "")),
            signature_reason=str(signature.get("reason", "")),
        )

    # -- the writes ---------------------------------------------------------------------------
    def _commit(
        self, admission: Admission, content: BlobWriting, dedupe_key: str, held: dict[str, bytes]
    ) -> Receipt:
        """Every write of one accept, here and nowhere else: the blobs, then the rows."""
        package, signed_receipt = self._file(admission, content, dedupe_key, held)
        stored, duplicate = self._parts.store.accept(package)
        if duplicate:  # the same package, accepted meanwhile by another request
            return self._duplicate(stored)
        logs.bind(package_id=package.package_id, agency=package.sender)
        origin = "upstream" if admission.upstream_source else "client"
        instruments.PACKAGES_ACCEPTED.labels(package.kind, origin).inc()
        instruments.SIGNATURE_VERDICTS.labels(admission.signature.status.value).inc()
        log.info(
            "%s %s accepted from %s: %d local recipient(s), %d upstream send(s)%s",
            package.kind,
            package.package_id,
            package.sender,
            len(package.recipients),
            len(package.outbound),
            f" (from upstream {admission.upstream_source})" if admission.upstream_source else "",
            extra={"package_id": package.package_id, "agency": package.sender},
        )
        return Receipt(
            package_id=package.package_id,
            kind=package.kind,
            received_at=from_micros(package.received_at),
            duplicate=False,
            warnings=_warnings(admission),
            signed_receipt=signed_receipt,
            signature_status=admission.signature.status.value,
            signature_reason=admission.signature.reason,
        )

    def _duplicate(self, original: StoredPackage) -> Receipt:
        logs.bind(package_id=original.package_id, agency=original.sender)
        log.info(
            "%s %s received again from %s: the original receipt is returned",
            original.kind,
            original.package_id,
            original.sender,
            extra={"package_id": original.package_id, "agency": original.sender},
        )
        return self.receipt_of(original, duplicate=True)

    def _normalised(self, admission: Admission) -> BlobWriting:
        """The normalised package written to scratch, hashed, not yet filed as a blob."""
        writer = self._parts.blobs.writer()
        try:
            write_package(with_safe_names(admission.pkg), writer, self._parts.blobs)
        except BaseException:
            writer.abort()
            raise
        return writer

    def _file(
        self, admission: Admission, content: BlobWriting, dedupe_key: str, held: dict[str, bytes]
    ) -> tuple[NewPackage, bytes]:
        """File the blobs of a new package and describe it for the database (with the small
        blobs ``held`` for its transaction); the signed receipt is returned too, so the answer
        needs no read back."""
        blobs = self._parts.blobs
        blob = content.commit()
        raw_sha256 = self._keep_raw(admission.received, blob)
        package_id = str(uuid.uuid4())
        received_at = self._parts.clock()
        attested = admission.received_sha256 or blob.sha256
        receipt = sign_receipt(
            build_receipt(
                package_id,
                admission.sender,
                admission.document_id,
                attested,
                received_at,
                self._parts.settings.gateway_id,
            ),
            self._parts.signing_key,
        )
        receipt_blob = blobs.put_bytes(receipt)
        outbound = self._outbound(admission, blob)
        package = NewPackage(
            package_id=package_id,
            kind=admission.pkg.kind,
            sender=admission.sender,
            document_id=admission.document_id,
            dedupe_key=dedupe_key,
            content_sha256=blob.sha256,
            blob_sha256=blob.sha256,
            size=blob.size,
            received_at=to_micros(received_at),
            summary_json=json.dumps(summarize(admission.pkg), ensure_ascii=False),
            warnings_json=json.dumps(
                [f.as_dict() for f in _warnings(admission)], ensure_ascii=False
            ),
            recipients=tuple(admission.recipients),
            attachment_blobs=(
                *admission.attachment_blobs,
                receipt_blob.sha256,
                *(o.blob_sha256 for o in outbound),
                *((raw_sha256,) if raw_sha256 else ()),
            ),
            trace=admission.trace,
            signature_json=json.dumps(admission.signature.as_dict(), ensure_ascii=False),
            receipt_sha256=receipt_blob.sha256,
            raw_sha256=raw_sha256,
            origin=_origin(admission.received),
            audit_details=_audit_details(admission, attested),
            outbound=outbound,
            inline_blobs=tuple(held.items()),
        )
        return package, receipt

    def _keep_raw(self, received: Received | None, normalised: BlobRef) -> str:
        """Keep the bytes as received in the blob store (the receipt attests their SHA-256).

        When they are the normalised package byte for byte (a client that writes the strict
        layout), the blob just filed is they: no second copy, no second pair of fsyncs."""
        if received is None or received.raw is None:
            return ""
        if received.sha256 == normalised.sha256:
            return normalised.sha256
        blobs = self._parts.blobs
        if isinstance(received.raw, bytes):
            kept = blobs.put_bytes(received.raw).sha256
        else:
            kept = blobs.adopt(received.raw, received.sha256).sha256
        if kept != received.sha256:
            raise StorageError("M.Blob.Changed", "the received package changed while it was kept")
        return kept

    def _outbound(self, admission: Admission, blob: BlobRef) -> tuple[NewOutbound, ...]:
        """What each upstream is sent: the package with ``To`` = only that upstream's recipients
        (reference §5.6), written in the strict layout and signed by the gateway (up to the
        stream threshold, as GetPackage does)."""
        blobs, signing_key = self._parts.blobs, self._parts.signing_key
        sends = []
        small = blob.size <= self._parts.settings.stream_threshold_bytes
        for upstream, codes in admission.upstreams:
            pkg = admission.pkg
            if isinstance(pkg, DocumentPackage):
                header = dataclasses.replace(
                    pkg.header, to=tuple(t for t in pkg.header.to if t.organ_id in codes)
                )
                pkg = dataclasses.replace(with_safe_names(pkg), header=header)
            if small:
                # Only the signed form is kept: one blob (and its fsyncs) per send, not two.
                content = (
                    package_bytes(pkg, blobs)
                    if pkg is not admission.pkg
                    else blobs.read_bytes(blob.sha256)
                )
                ref = blobs.put_bytes(sign_package(content, signing_key))
            elif pkg is not admission.pkg:
                writer = blobs.writer()
                try:
                    write_package(pkg, writer, blobs)
                except BaseException:
                    writer.abort()
                    raise
                ref = writer.commit()
            else:
                ref = blob
            sends.append(NewOutbound(upstream, codes, admission.document_key, ref.sha256, ref.size))
        return tuple(sends)


def _dedupe_key(admission: Admission, content_sha256: str) -> str:
    """The sender, the business identity and the SHA-256 of the normalised package: a resend
    of the same content is recognised however it was formatted."""
    return hashlib.sha256(f"{admission.identity}|{content_sha256}".encode()).hexdigest()


def _warnings(admission: Admission) -> tuple[Finding, ...]:
    return tuple(f for f in admission.findings if f.severity is Severity.WARNING)


def _origin(received: Received | None) -> str:
    if received is None:
        return "built"
    return "translated" if received.translated else "received"


def _audit_details(
    admission: Admission, attested: str
) -> tuple[tuple[str, str | int | bool | None], ...]:
    details: list[tuple[str, str | int | bool | None]] = [
        ("signature", admission.signature.status.value),
        ("received_sha256", attested),
    ]
    if admission.upstream_source:
        details.append(("from_upstream", admission.upstream_source))
    if admission.delegate:
        details.append(("sent_by", admission.delegate))
    if admission.upstreams:
        sends = ";".join(f"{name}={','.join(codes)}" for name, codes in admission.upstreams)
        details.append(("upstream_sends", sends))
    return tuple(details)
