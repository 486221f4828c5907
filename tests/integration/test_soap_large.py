"""Requests past the stream threshold take the streaming path, and answer as spyne would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import zeep.exceptions

from gateway.config import Settings
from gateway.edxml.reader import read_package
from gateway.soap.streaming import large_request_handler, large_response_handler
from tests.integration.test_soap_service import (
    BINDINGS,
    RECEIVER,
    SENDER,
    Gateway,
    expect_fault,
    pending_ids,
)

THRESHOLD = 64 << 10


@pytest.fixture
def streaming_gateway(store_settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    settings = replace(store_settings, stream_threshold_bytes=THRESHOLD)
    holder: dict[str, Gateway] = {}

    def requests(request: object, respond: object) -> object:
        return large_request_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    def responses(request: object, respond: object) -> object:
        return large_response_handler(holder["gateway"].exchange)(request, respond)  # type: ignore[arg-type]

    gateway = Gateway(
        settings, tmp_path, large_request_handler=requests, large_response_handler=responses
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
