"""The store's interfaces: the SQL store implements every one of them (same names, same
parameters), rows are read by column name on both engines, a unit of work commits several
calls together or none of them, and the relay runs on any object that implements the store."""

from __future__ import annotations

import inspect
from typing import Any, cast

import pytest

from gateway.config import Settings
from gateway.exchange import Exchange
from gateway.relay.service import RelayService
from gateway.store import base as interfaces
from gateway.store import open_store
from gateway.store.base import (
    AgencyStore,
    AuditLog,
    DelegationStore,
    DirectoryStore,
    LeaseStore,
    LegacyIdStore,
    MailboxStore,
    OutboxStore,
    PackageStore,
    RelayStore,
    RoutingStore,
    SchemaStore,
    Store,
    UnitOfWork,
)
from gateway.store.records import AgencyRecord, NewOutbound, NewPackage
from gateway.store.sql import SqlStore

_INTERFACES = (
    SchemaStore,
    UnitOfWork,
    AgencyStore,
    AuditLog,
    PackageStore,
    MailboxStore,
    DelegationStore,
    LegacyIdStore,
    DirectoryStore,
    OutboxStore,
    LeaseStore,
    RoutingStore,
    RelayStore,
    Store,
)
PARENT = "000.00.01.H53"
CHILD = "000.00.02.H53"


def _members(interface: type) -> list[str]:
    return sorted(
        name
        for klass in interface.__mro__
        if klass.__module__ == interfaces.__name__
        for name, value in vars(klass).items()
        if callable(value) and not name.startswith("_")
    )


@pytest.mark.parametrize("interface", _INTERFACES, ids=lambda i: i.__name__)
def test_sql_store_implements_each_interface(interface: type) -> None:
    members = _members(interface)
    assert members, interface
    for name in members:
        wanted = inspect.signature(getattr(interface, name))
        found = inspect.signature(getattr(SqlStore, name))
        assert list(found.parameters) == list(wanted.parameters), f"{interface.__name__}.{name}"
        for parameter in wanted.parameters.values():
            assert found.parameters[parameter.name].kind == parameter.kind, name
            assert found.parameters[parameter.name].default == parameter.default, name


def test_the_whole_store_covers_every_concern() -> None:
    whole = set(_members(Store))
    for interface in _INTERFACES:
        assert set(_members(interface)) <= whole, interface.__name__
    assert {"claim_outbox", "acquire_lease", "sent_by", "legacy_id", "transaction"} <= whole


def _package(package_id: str, **more: Any) -> NewPackage:
    return NewPackage(
        package_id=package_id,
        kind="document",
        sender=PARENT,
        document_id=f"{PARENT},2024/03/05,{package_id}",
        dedupe_key=f"key-{package_id}",
        content_sha256="c" * 64,
        blob_sha256="b" * 64,
        size=10,
        received_at=1_000_000,
        summary_json="{}",
        warnings_json="[]",
        recipients=(CHILD,),
        **more,
    )


def _store(settings: Settings) -> SqlStore:
    store = open_store(settings)
    assert isinstance(store, SqlStore)
    for code, parent in ((PARENT, ""), (CHILD, PARENT)):
        store.add_agency(AgencyRecord(code=code, name=code, parent=parent, created_at=1))
    return store


def test_rows_are_read_by_column_name(store_settings: Settings) -> None:
    store = _store(store_settings)
    try:
        with store._tx("read") as q:
            row = q.one("SELECT code, parent AS boss FROM agencies WHERE code = ?", (CHILD,))
        assert row == {"code": CHILD, "boss": PARENT}
        store.accept(
            _package("p-1", outbound=(NewOutbound("national", ("X",), "k", "b" * 64, 10),))
        )
        # deliveries and packages both have ``kind``; the join names them apart
        [(delivery, package)] = store.pending_in([CHILD], "document", 10)
        assert (delivery.package_id, delivery.recipient) == ("p-1", CHILD)
        assert (delivery.kind, delivery.state) == ("document", "pending")
        assert (package.package_id, package.sender, package.size) == ("p-1", PARENT, 10)
        [pending] = store.pending(CHILD, "document", 10, 0)
        assert pending.seq == delivery.seq and pending.package == package
        rows = store.sent_by([PARENT], "document", "", 10)
        assert {(r.recipient, r.route, r.state) for r in rows} == {
            (CHILD, "local", "pending"),
            ("X", "national", "queued"),
        }
        assert store.outbox_counts() == {"queued": 1}
    finally:
        store.close()


def test_a_unit_of_work_commits_all_or_nothing(store_settings: Settings) -> None:
    store = _store(store_settings)
    try:
        with store.transaction():
            store.accept(_package("p-1"))
            with store.transaction():  # a nested block joins the outer one
                store.accept(_package("p-2"))
            assert store.remember_nonce(PARENT, "n-1", 10, 0)
        assert store.get_package("p-1") is not None and store.get_package("p-2") is not None

        with pytest.raises(RuntimeError), store.transaction():
            store.accept(_package("p-3"))
            store.record_event(20, "test.event", "tester", "p-3", {})
            assert store.get_package("p-3") is not None  # visible inside the block
            raise RuntimeError("crash before the end of the block")
        assert store.get_package("p-3") is None
        assert not [r for r in store.audit_records(0, 1000) if r.event == "test.event"]
        assert store.remember_nonce(PARENT, "n-2", 30, 0)  # the store works on afterwards
        assert not store.remember_nonce(PARENT, "n-1", 30, 0)
    finally:
        store.close()


class _Wrapped:
    """A store that is not a :class:`SqlStore`: it forwards every call to one."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.inner, name)


def test_the_relay_runs_on_any_store(store_settings: Settings) -> None:
    wrapped = _Wrapped(_store(store_settings))
    exchange = Exchange(store_settings, store=cast(Store, wrapped))
    try:
        service = RelayService(store_settings, exchange=exchange, connectors={})
        assert service.store is wrapped
        service.worker.run_once()
        assert "expire_outbox" in wrapped.calls
    finally:
        exchange.close()
