"""CLI commands of the console: ``operators add|list|disable|enable|passwd`` and
``agencies import`` (``gateway.cli`` registers them)."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.admin.agency_import import import_agencies
from gateway.admin.operators import Operators, parse_role
from gateway.config import load_settings
from gateway.errors import BadRequest
from gateway.security.credentials import Credentials, load_master_key
from gateway.store import open_store
from gateway.store.base import from_micros, to_micros

EXIT_OK = 0
EXIT_REFUSED = 1
"""``agencies import``: some lines were refused (the others were imported)."""
EXIT_UNUSABLE = 2
CLI_ACTOR = "cli"
"""The audit log's actor for a change made with the command line (the console's is the
signed-in operator)."""


def _password(args: argparse.Namespace) -> str:
    """From stdin with ``--password-stdin`` (scripts), else asked twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu · password: ")
    if getpass.getpass("Nhập lại · again: ") != first:
        raise BadRequest("R.Operator.Password", "the two passwords differ (mật khẩu không khớp)")
    return first


def cmd_operators(args: argparse.Namespace) -> int:
    store = open_store(load_settings(getattr(args, "config", None)))
    try:
        operators = Operators(store.console_tables())
        now = to_micros(dt.datetime.now(dt.UTC))
        command = args.operators_command
        if command == "add":
            role = parse_role(args.role)
            record = operators.add(args.name, role, _password(args), now, CLI_ACTOR)
            print(f"added operator {record.name} ({record.role})")
        elif command == "list":
            for o in operators.tables.list_operators():
                state = "enabled " if o.enabled else "disabled"
                changed = from_micros(o.updated_at).strftime("%Y-%m-%d %H:%M")
                print(f"{o.name:<24} {o.role:<9} {state} changed {changed}")
        elif command in ("disable", "enable"):
            record = operators.set_enabled(args.name, command == "enable", now, CLI_ACTOR)
            print(f"{record.name} is now {'enabled' if record.enabled else 'disabled'}"
                  + ("" if record.enabled else "; its sessions are ended"))
        elif command == "passwd":
            record = operators.set_password(args.name, _password(args), now, CLI_ACTOR)
            print(f"new password set for {record.name}; its sessions are ended")
    finally:
        store.close()
    return EXIT_OK


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    operators = commands.add_parser("operators", help="operator accounts of the web console")
    sub = operators.add_subparsers(dest="operators_command", required=True)
    add = sub.add_parser("add", parents=list(parents), help="create an operator account")
    add.add_argument("name", help="sign-in name: lower-case letters, digits, . _ -")
    add.add_argument(
        "--role", default="viewer", help="viewer (reads), operator (also retries and cancels "
        "sends) or admin (also agencies, audit, downloads); default viewer"
    )
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", parents=list(parents), help="list operators")
    for name, text in (
        ("disable", "refuse the operator's sign-in and end its sessions"),
        ("enable", "allow the operator to sign in again"),
        ("passwd", "set a new password (ends the operator's sessions)"),
    ):
        command = sub.add_parser(name, parents=list(parents), help=text)
        command.add_argument("name")
        if name == "passwd":
            command.add_argument("--password-stdin", action="store_true")
    operators.set_defaults(handler=cmd_operators)


def cmd_agencies_import(args: argparse.Namespace) -> int:
    """``agencies import FILE.csv [--dry-run]``: exit 0 every line imported or already there,
    1 some lines refused, 2 the file cannot be used at all."""
    settings = load_settings(getattr(args, "config", None))
    try:
        text = Path(args.file).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest("M.Agency.Import", f"cannot read {args.file}: {exc}") from None
    store = open_store(settings)
    try:
        credentials = Credentials(
            store,
            load_master_key(settings.key_file),
            replay_window=dt.timedelta(seconds=settings.replay_window_seconds),
            password_text_allowed=settings.password_text_allowed,
        )
        now = dt.datetime.now(dt.UTC)
        report = import_agencies(credentials, text, now, dry_run=args.dry_run)
        if not args.dry_run and not report.problem:
            store.record_event(
                to_micros(now), "admin.agencies.imported", CLI_ACTOR, Path(args.file).name,
                {"added": report.count("added"), "exists": report.count("exists"),
                 "refused": report.count("refused")},
            )
    finally:
        store.close()
    for line in report.render():
        print(line)
    if report.problem:
        return EXIT_UNUSABLE
    if report.count("added"):
        print("secrets: `edoc-gateway agencies show-secret CODE` prints each new agency's")
    return EXIT_OK if report.ok else EXIT_REFUSED


def register_agency_import(
    agency_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    command = agency_commands.add_parser(
        "import", parents=list(parents),
        help="register agencies from a CSV file (code,name[,email,parent]); idempotent, "
        "with a report per line (exit 1 if a line was refused)",
    )
    command.add_argument("file", metavar="FILE.csv")
    command.add_argument("--dry-run", action="store_true", help="check every line, write nothing")
    command.set_defaults(handler=cmd_agencies_import)
