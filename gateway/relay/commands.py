"""CLI commands of the relay: ``relay run``, ``queue list|show|retry|cancel`` and
``directory sync|list|add`` (``gateway.cli`` registers them)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from gateway import logs
from gateway.config import Settings, UpstreamProtocol, load_settings
from gateway.errors import BadRequest, NotFound
from gateway.relay.connectors import connect
from gateway.relay.directory import DirectoryEntry, add_entry, sync_directory
from gateway.store import open_store
from gateway.store.base import from_micros, to_micros
from gateway.store.records import OUTBOX_STATES, OutboxItem

EXIT_OK = 0
EXIT_FAILED = 1
"""``relay run --once``: something was tried and nothing succeeded (every send or poll failed)."""


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _when(micros: int) -> str:
    return from_micros(micros).strftime("%Y-%m-%d %H:%M:%S") if micros else "-"


def cmd_relay_run(args: argparse.Namespace) -> int:
    from gateway.relay.service import RelayService

    settings = _settings(args)
    logs.configure(settings.log_format, settings.log_level)
    if not settings.upstreams and not settings.retention_enabled:
        # (with a retention policy the loop still has work: the periodic purge)
        raise BadRequest("N.Config.upstream", "no [[upstream]] is configured: nothing to relay")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    service = RelayService(settings)
    if args.once:
        try:
            step = service.run_once()
        finally:
            service.close()
        w = step.worker
        print(f"sent {w.sent}, retried {w.retried}, dead {w.dead}, expired {w.expired}")
        for name, poll in step.polls.items():
            print(
                f"{name}: accepted {poll.accepted}, duplicates {poll.duplicates}, "
                f"refused {poll.refused}, deferred {poll.deferred}"
            )
        failed = w.retried + w.dead + w.lost + w.expired
        failed += sum(p.deferred + p.refused for p in step.polls.values())
        succeeded = w.sent + sum(p.accepted + p.duplicates for p in step.polls.values())
        if failed and not succeeded:
            print(
                f"relay: nothing succeeded ({failed} failure(s)); see the log above",
                file=sys.stderr,
            )
            return EXIT_FAILED
        return EXIT_OK
    service.run(stop, idle_seconds=args.idle)
    return EXIT_OK


def start_relay_process(config: str | None) -> subprocess.Popen[bytes]:
    """``relay run`` as a child process (``serve`` uses it when upstreams are configured)."""
    command = [sys.executable, "-m", "gateway.cli", "relay", "run"]
    if config:
        command += ["--config", config]
    return subprocess.Popen(command, env=dict(os.environ))


def stop_relay_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _print_item(item: OutboxItem, long: bool) -> None:
    if not long:
        print(
            f"{item.id:>8} {item.state:<9} {item.upstream:<12} {item.kind:<8} "
            f"attempts={item.attempts:<3} next={_when(item.next_attempt_at)} {item.package_id} "
            f"-> {','.join(item.recipients)}"
            + (
                f"  [{item.last_error_code + ': ' if item.last_error_code else ''}"
                f"{item.last_error}]"
                if item.last_error
                else ""
            )
        )
        return
    for name in OutboxItem.__slots__:
        value: Any = getattr(item, name)
        if name.endswith("_at") and isinstance(value, int):
            value = f"{_when(value)} ({value})"
        elif isinstance(value, tuple):
            value = ",".join(value)
        print(f"{name:<17} {value}")


def cmd_queue(args: argparse.Namespace) -> int:
    store = open_store(_settings(args))
    now = to_micros(dt.datetime.now(dt.UTC))
    try:
        if args.queue_command == "list":
            counts = store.outbox_counts()
            print("  ".join(f"{state}: {counts.get(state, 0)}" for state in OUTBOX_STATES))
            for item in store.outbox_items(args.state, args.upstream, "", args.limit):
                _print_item(item, False)
        elif args.queue_command == "show":
            found = store.outbox_item(args.id)
            if found is None:
                raise BadRequest("N.Outbox", f"no outbox item {args.id}")
            _print_item(found, True)
        elif args.queue_command == "retry":
            item = store.retry_outbox(args.id, now, args.actor)
            print(f"outbox item {item.id} queued again for {item.upstream}")
        elif args.queue_command == "cancel":
            item = store.cancel_outbox(args.id, now, args.actor, args.reason)
            print(f"outbox item {item.id} cancelled ({item.last_error})")
    finally:
        store.close()
    return EXIT_OK


def cmd_directory(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = open_store(settings)
    now = to_micros(dt.datetime.now(dt.UTC))
    try:
        if args.directory_command == "list":
            for a in store.list_agencies():
                print(f"{a.code:<20} {'':<16} local    {'-':<12} {'manual':<7} {a.name}")
            for e in store.list_directory():
                print(
                    f"{e.code:<20} {e.code_qd20:<16} {e.kind:<8} {e.upstream:<12} "
                    f"{e.source:<7} {e.name}"
                )
        elif args.directory_command == "add":
            names = {u.name for u in settings.upstreams}
            if args.upstream not in names:
                raise BadRequest(
                    "R.Directory.Upstream",
                    f"no [[upstream]] is named {args.upstream!r} "
                    f"(configured: {', '.join(sorted(names)) or 'none'})",
                )
            add_entry(
                store,
                DirectoryEntry(
                    code=args.code,
                    upstream=args.upstream,
                    name=args.name,
                    code_qd20=args.qd20,
                    kind=args.kind,
                    source="manual",
                ),
                now,
            )
            print(f"{args.code} is reached through {args.upstream}")
        elif args.directory_command == "register":
            _register_locals(settings, store, args.upstream)
        elif args.directory_command == "sync":
            chosen = [u for u in settings.upstreams if not args.upstream or u.name == args.upstream]
            if not chosen:
                raise BadRequest("N.Config.upstream", "no matching [[upstream]] is configured")
            for upstream in chosen:
                connector = connect(upstream)
                try:
                    result = sync_directory(store, connector, upstream.name, now)
                finally:
                    connector.close()
                print(
                    f"{upstream.name}: {result.listed} listed, {result.added} added, "
                    f"{result.updated} updated, {len(result.skipped)} skipped"
                )
                for code in result.skipped:
                    print(f"  skipped (not a valid agency code): {code}")
    finally:
        store.close()
    return EXIT_OK


def _register_locals(settings: Settings, store: Any, name: str) -> None:
    """registerAgency for every enabled local agency under this gateway's VXP system, so the
    axis accepts packages sent on their behalf and delivers theirs here (reference §4.5)."""
    from gateway.relay.connectors.vxp import VxpConnector
    from gateway.vxp.wire import AgencyRecord

    chosen = [
        u for u in settings.upstreams if u.protocol == UpstreamProtocol.VXP and name in ("", u.name)
    ]
    if not chosen:
        raise BadRequest("N.Config.upstream", "no matching [[upstream]] of protocol vxp")
    agencies = [a for a in store.list_agencies() if a.enabled]
    if not agencies:
        raise NotFound(
            "N.Directory.Register",
            "no enabled local agency to register: add them first (`edoc-gateway agencies "
            "add`, or `serve --demo` for the demo agencies)",
        )
    for upstream in chosen:
        connector = VxpConnector(upstream)
        try:
            for agency in agencies:
                connector.register_agency(
                    AgencyRecord(
                        agency.code, agency.name, pcode=upstream.system_id, mail=agency.email
                    )
                )
                print(f"{agency.code} registered at {upstream.name} under {upstream.system_id}")
        finally:
            connector.close()
        print(f"{len(agencies)} agency(ies) registered at {upstream.name}")


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add ``relay``, ``queue`` and ``directory`` to the CLI's subcommands."""
    relay = subparsers.add_parser("relay", help="store-and-forward to upstreams")
    relay_commands = relay.add_subparsers(dest="relay_command", required=True)
    run = relay_commands.add_parser(
        "run", parents=list(parents), help="relay worker, inbound pollers, directory sync"
    )
    run.add_argument("--once", action="store_true", help="one step, then exit")
    run.add_argument("--idle", type=float, default=1.0, help="pause when idle (seconds)")
    relay.set_defaults(handler=cmd_relay_run)

    queue = subparsers.add_parser("queue", help="the relay outbox")
    queue_commands = queue.add_subparsers(dest="queue_command", required=True)
    ls = queue_commands.add_parser("list", parents=list(parents), help="list outbox items")
    ls.add_argument("--state", choices=OUTBOX_STATES, default="")
    ls.add_argument("--upstream", default="")
    ls.add_argument("--limit", type=int, default=100)
    show = queue_commands.add_parser("show", parents=list(parents), help="one item in full")
    show.add_argument("id", type=int)
    retry = queue_commands.add_parser(
        "retry", parents=list(parents), help="queue an item again now (dead letters too)"
    )
    retry.add_argument("id", type=int)
    retry.add_argument("--actor", default="operator", help="who, for the audit log")
    cancel = queue_commands.add_parser(
        "cancel", parents=list(parents), help="stop relaying an item"
    )
    cancel.add_argument("id", type=int)
    cancel.add_argument("--reason", default="")
    cancel.add_argument("--actor", default="operator", help="who, for the audit log")
    queue.set_defaults(handler=cmd_queue)

    directory = subparsers.add_parser("directory", help="agencies reached through upstreams")
    directory_commands = directory.add_subparsers(dest="directory_command", required=True)
    directory_commands.add_parser("list", parents=list(parents), help="local and remote agencies")
    sync = directory_commands.add_parser(
        "sync", parents=list(parents), help="import the upstreams' agency lists"
    )
    sync.add_argument("--upstream", default="", help="only this upstream")
    reg = directory_commands.add_parser(
        "register", parents=list(parents),
        help="register the local agencies at the national axis (registerAgency)",
    )
    reg.add_argument("--upstream", default="", help="only this upstream")
    add = directory_commands.add_parser(
        "add", parents=list(parents), help="an agency or peer gateway reached through an upstream"
    )
    add.add_argument("code", help="QCVN 102 code (or the QĐ 20 code if it has no other)")
    add.add_argument("upstream", help="the [[upstream]] name that reaches it")
    add.add_argument("--name", default="")
    add.add_argument("--qd20", default="", help="its QĐ 20/2020 code")
    add.add_argument("--kind", choices=("upstream", "peer"), default="upstream")
    directory.set_defaults(handler=cmd_directory)
