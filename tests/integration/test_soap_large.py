"""Requests past the stream threshold take the streaming path, and answer as spyne would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import zeep.exceptions
from lxml import etree

from gateway.config import Settings
from gateway.edxml.reader import read_package
from gateway.soap.streaming import large_response_handler, package_request_handler
from tests.integration.test_soap_service import (
    BINDINGS,
    RECEIVER,
    SENDER,
    SOAP11,
    SOAP12,
    TNS,
    Gateway,
    expect_fault,
    numbered_document,
    pending_ids,
    security,
    send_envelope,
)

THRESHOLD = 64 << 10


@pytest.fixture
def streaming_gateway(store_settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    settings = replace(store_settings, stream_threshold_bytes=THRESHOLD)
    holder: dict[str, Gateway] = {}

    def requests(request: object, respond: object) -> object:
        return package_request_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    def responses(request: object, respond: object) -> object:
        return large_response_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    gateway = Gateway(
        settings, tmp_path, package_request_handler=requests, large_response_handler=responses
    )
    holder["gateway"] = gateway
    yield gateway
    gateway.close()


def _large_document(gateway: Gateway, size: int) -> bytes:
    return gateway.document(b"%PDF-1.4 " + os.urandom(size))


@pytest.mark.parametrize("binding", BINDINGS)
def test_large_document_round_trip(streaming_gateway: Gateway, binding: str) -> None:
    package = _large_document(streaming_gateway, 300_000)
    assert len(package) > THRESHOLD
    sender = streaming_gateway.zeep(SENDER, binding)
    receipt = sender.SendDocument(package)
    assert receipt.duplicate is False and receipt.packageId
    again = sender.SendDocument(package)
    assert again.duplicate is True and again.packageId == receipt.packageId
    receiver = streaming_gateway.zeep(RECEIVER, binding)
    assert pending_ids(receiver) == [receipt.packageId]
    fetched = receiver.GetPackage(receipt.packageId)  # > threshold: streamed from the blob
    exchange = streaming_gateway.exchange
    assert read_package(fetched.package, exchange.blobs) == read_package(package, exchange.blobs)
    assert fetched.size == len(fetched.package)
    assert fetched.summary.kind == "document" and fetched.sender == SENDER
    small = streaming_gateway.document(b"%PDF-1.4 small")
    small_id = sender.SendDocument(small).packageId
    assert receiver.GetPackage(small_id).summary.kind == "document"  # small: through spyne


def test_invalid_large_package_is_a_client_fault_and_stores_nothing(
    streaming_gateway: Gateway,
) -> None:
    package = streaming_gateway.document(b"%PDF-1.4 " + os.urandom(100_000), subject="")
    sender = streaming_gateway.zeep(SENDER)
    detail = expect_fault(
        BINDINGS[0], lambda: sender.SendDocument(package), "N.MessageHeader.Subject", "Client"
    )
    assert detail["findings"]
    with streaming_gateway.exchange.store._tx() as q:  # type: ignore[attr-defined]
        assert q.one("SELECT COUNT(*) AS n FROM packages")["n"] == 0
    assert pending_ids(streaming_gateway.zeep(RECEIVER)) == []


def test_only_send_operations_may_be_large(streaming_gateway: Gateway) -> None:
    sender = streaming_gateway.zeep(SENDER)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        sender.GetPackage("x" * (THRESHOLD + 10))
    assert caught.value.message.startswith("R.Soap.Size: ")


_PER_ANSWER = ("packageId", "receivedAt", "signedReceipt")
"""What differs between two accepts of the same package: its id, instant and signed receipt."""


def _shape(reply: bytes) -> list[tuple[str, dict[str, str], str]]:
    """A response as (element, attributes, text) in document order, prefixes ignored and the
    per-answer values blanked."""
    shape: list[tuple[str, dict[str, str], str]] = []
    for element in etree.fromstring(reply).iter():
        if not isinstance(element.tag, str):
            continue
        text = (element.text or "").strip()
        name = etree.QName(element).localname
        if name in _PER_ANSWER:
            text = "*"
        elif name in ("faultcode", "Value"):  # a QName: its prefix is the envelope's own
            prefix, _, local = text.rpartition(":")
            text = f"{{{element.nsmap.get(prefix or None)}}}{local}"
        attributes = {str(k): str(v) for k, v in element.attrib.items()}
        shape.append((element.tag, attributes, text))
    return shape


@pytest.mark.parametrize(
    ("version", "media_type"),
    [(SOAP11, "text/xml; charset=utf-8"), (SOAP12, "application/soap+xml; charset=utf-8")],
    ids=["soap11", "soap12"],
)
def test_a_small_send_answers_as_spyne_does(
    streaming_gateway: Gateway, tmp_path: Path, version: str, media_type: str
) -> None:
    """A small SendDocument goes to the package handler, not to spyne (its machinery is the
    larger part of a small send's CPU); the answers, receipts and faults are spyne's own."""
    (tmp_path / "spyne").mkdir()
    spyne_only = Gateway(Settings(data_dir=tmp_path / "spyne" / "data"), tmp_path / "spyne")
    answers: list[list[tuple[int, str, list[tuple[str, dict[str, str], str]]]]] = []
    envelopes: list[str | None] = []
    for server in (streaming_gateway, spyne_only):  # the package handler, then spyne alone
        package, broken = numbered_document(server, 7), server.document(subject="")
        accepted, resent, refused = (
            server.post(send_envelope(sent, security(server, SENDER), version), media_type)
            for sent in (package, package, broken)
        )
        envelopes.append(etree.fromstring(accepted[2]).prefix)
        answers.append(
            [
                (status, headers["Content-Type"], _shape(reply))
                for status, headers, reply in (accepted, resent, refused)
            ]
        )
    spyne_only.close()
    assert envelopes[0] == "soap" and envelopes[1] != "soap"  # spyne writes soap11env, soap12env
    assert answers[0] == answers[1]
    accepted, resent, refused = answers[0]
    (accepted_status, _, accepted_shape), (_, _, resent_shape) = accepted, resent
    refused_status, _, refused_shape = refused
    duplicate = f"{{{TNS}}}duplicate"
    assert accepted_status == 200 and (duplicate, {}, "false") in accepted_shape
    assert (duplicate, {}, "true") in resent_shape
    assert refused_status in (400, 500)
    assert any("N.MessageHeader.Subject" in text for *_, text in refused_shape)
