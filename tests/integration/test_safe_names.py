"""AttachmentName is handed out as a file name: never a path, on every face (issue 16, item 6);
and the REST face refuses a zip bomb as the others do (item 3).

A sender names its file ``../../etc/x.pdf`` or ``/etc/x.pdf``; a receiver that saves it under
the name it is given must stay in its directory. The summaries keep the name as sent for display.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.edxml.model import DocumentPackage
from gateway.edxml.reader import read_package
from gateway.edxml.writer import package_bytes
from gateway.errors import PermanentRelayError
from gateway.store.blobs import FileBlobStore
from gateway.vxp.wire import AgencyRecord
from tests.fixtures.edxml_build import zip_of
from tests.fixtures.packages import build_document, kept_blobs
from tests.integration import test_legacy_edoc as legacy
from tests.integration import test_vxp_face as vxp
from tests.integration.test_cli import run_cli

EVIL = ("../../etc/x.pdf", "/etc/x.pdf", "C:\\Windows\\x.pdf")


@pytest.fixture
def vxp_server(store_settings: Settings) -> Iterator[vxp.Server]:
    running = vxp.Server(store_settings)
    yield running
    running.close()


@pytest.mark.parametrize("evil", EVIL)
def test_vxp_get_edoc_and_get_package_summary(
    vxp_server: vxp.Server, blob_store: FileBlobStore, evil: str
) -> None:
    """Sent over REST by PARENT for its CHILD, fetched by PEER: getEdoc and GetPackage hand out
    ``x.pdf``; GetPackage's summary keeps the original ``name`` beside ``file_name``."""
    data = package_bytes(build_document(blob_store, b"%PDF-1.4 x", name=evil), blob_store)
    parent = vxp_server.vxp(vxp.PARENT)
    try:
        parent.register_agency(AgencyRecord(vxp.CHILD, "Văn phòng Chính phủ", pcode=vxp.PARENT))
        doc_id = vxp._send(parent, vxp.CHILD, "edoc", data, (vxp.PEER,))
    finally:
        parent.close()
    peer = vxp_server.vxp(vxp.PEER)
    try:
        fetched = vxp._fetch(peer, doc_id, blob_store)
    finally:
        peer.close()
    assert isinstance(fetched, DocumentPackage)
    assert [a.name for a in fetched.attachments] == ["x.pdf"]
    assert [r.attachment_name for r in fetched.references] == ["x.pdf"]
    reply = vxp_server.soap(vxp.PEER).GetPackage(doc_id)
    summary = json.loads(reply.summary.summaryJson)
    assert [(a["name"], a["file_name"]) for a in summary["attachments"]] == [(evil, "x.pdf")]
    served = read_package(reply.package, blob_store)
    assert isinstance(served, DocumentPackage) and served.attachments[0].name == "x.pdf"


def test_legacy_get_document(store_settings: Settings) -> None:
    server = legacy.Server(store_settings)
    try:
        manifest = legacy.MANIFEST.replace("Công văn.pdf", "../../etc/x.pdf").replace(
            "Phụ lục.docx", "/etc/passwd"
        )
        parts = [
            ("file1", "application/pdf", legacy.PDF, "binary"),
            ("file2", "application/octet-stream", legacy.DOCX, "binary"),
        ]
        body = legacy.multipart(
            legacy.envelope(manifest, legacy.send_header(server, 90)), parts, "Bs"
        )
        _status, _type, reply = server.post(
            body, legacy.swa_type("Bs"), {"SOAPAction": "SendDocument"}
        )
        assert legacy.report(reply) == ("true", [])
        [document_id] = legacy.pending(server)
        get = legacy.credentials(
            server,
            legacy.RECEIVER,
            "GetDocumentRequest",
            f"<documentId>{document_id}</documentId>",
        )
        answer = legacy.call(server, "GetDocument", get)
        names = [
            e.text
            for e in legacy.soap_body(answer).iterfind(f".//{{{legacy.EDOC}}}AttachmentName")
        ]
        assert names == ["x.pdf", "passwd"]
    finally:
        server.close()


def test_edxml_extract_writes_inside_the_directory(
    tmp_path: Path, blob_store: FileBlobStore
) -> None:
    pkg = build_document(blob_store, b"%PDF-1.4 x", name="../../etc/x.pdf")
    source = tmp_path / "evil.edxml"
    source.write_bytes(package_bytes(pkg, blob_store))
    out = tmp_path / "deep" / "out"
    result = run_cli("edxml", "extract", str(source), "-d", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["x.pdf"]
    assert not (tmp_path / "etc").exists()
    assert (out / "x.pdf").read_bytes() == b"%PDF-1.4 x"


def test_vxp_send_edoc_refuses_a_zip_bomb_and_keeps_nothing(
    vxp_server: vxp.Server, blob_store: FileBlobStore
) -> None:
    """The REST face goes through the same intake: refused with the ratio's code, no blob."""
    bomb = zip_of({"a.pdf": bytes(30_000_000)})
    data = package_bytes(build_document(blob_store, bomb), blob_store)
    blobs = vxp_server.exchange.blobs
    before = kept_blobs(blobs)
    parent = vxp_server.vxp(vxp.PARENT)
    try:
        parent.register_agency(AgencyRecord(vxp.CHILD, "Văn phòng Chính phủ", pcode=vxp.PARENT))
        with pytest.raises(PermanentRelayError, match=r"R\.Attachment\.Ratio"):
            vxp._send(parent, vxp.CHILD, "edoc", data, (vxp.PEER,))
    finally:
        parent.close()
    assert vxp_server.package_count() == 0
    assert kept_blobs(blobs) == before
