"""The ``edoc-gateway`` command line.

Exit codes for the ``edxml`` commands, stable for scripts: 0 every package is valid, 1 a package
is invalid (its findings are printed), 2 an input is unusable (not an edXML package, unreadable).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from gateway import __version__, instruments, logs
from gateway.admin.commands import register as register_admin
from gateway.admin.commands import register_agency_import
from gateway.audit.chain import AuditRecord
from gateway.audit.chain import export as export_audit
from gateway.audit.chain import verify as verify_audit
from gateway.config import Settings, describe, load_settings
from gateway.conformance.cli import register as register_conformance
from gateway.edxml.model import DocumentPackage, Package
from gateway.edxml.names import safe_file_name
from gateway.edxml.reader import read_package
from gateway.edxml.summary import summarize
from gateway.edxml.validate import validate
from gateway.edxml.writer import write_package
from gateway.errors import ConfigError, Finding, GatewayError
from gateway.relay.commands import register as register_relay
from gateway.relay.commands import start_relay_process, stop_relay_process
from gateway.security.credentials import Credentials, master_key_of
from gateway.soap.wsdl_export import register as register_wsdl
from gateway.store import Store, open_blobs, open_store
from gateway.store.blobs import FileBlobStore

EXIT_OK, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2
_PROGRESS_MIN_FILES = 5


@dataclass
class _Result:
    """The outcome of reading and validating one file."""

    path: str
    package: Package | None = None
    findings: list[Finding] = field(default_factory=list)
    unusable: GatewayError | None = None

    @property
    def exit_code(self) -> int:
        if self.unusable is not None:
            return EXIT_UNUSABLE
        return EXIT_INVALID if any(f.is_error for f in self.findings) else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        status = {EXIT_OK: "valid", EXIT_INVALID: "invalid", EXIT_UNUSABLE: "unusable"}
        out: dict[str, Any] = {"file": self.path, "result": status[self.exit_code]}
        if self.unusable is not None:
            out["error"] = {
                "code": self.unusable.code,
                "path": self.unusable.path,
                "message": self.unusable.message,
            }
        else:
            assert self.package is not None
            out["kind"] = self.package.kind
            out["findings"] = [f.as_dict() for f in self.findings]
        return out


@contextlib.contextmanager
def _scratch_store() -> Iterator[FileBlobStore]:
    """A throw-away blob store: inspection commands keep nothing."""
    with tempfile.TemporaryDirectory(prefix="edoc-gateway-") as root:
        yield FileBlobStore(root, durable=False)


def _check(path: str, store: FileBlobStore) -> _Result:
    try:
        pkg = read_package(path, store)
    except GatewayError as exc:
        return _Result(path, unusable=exc)
    return _Result(path, pkg, validate(pkg))


def _print_result(result: _Result, out: TextIO, *, quiet: bool) -> None:
    if result.unusable is not None:
        where = f" at {result.unusable.path}" if result.unusable.path else ""
        print(
            f"UNUSABLE {result.path}: {result.unusable.code}{where}: {result.unusable.message}",
            file=out,
        )
        return
    assert result.package is not None
    errors = [f for f in result.findings if f.is_error]
    warnings = [f for f in result.findings if not f.is_error]
    label = "INVALID " if errors else "OK      "
    print(
        f"{label}{result.path} ({result.package.kind}, {len(errors)} error(s), "
        f"{len(warnings)} warning(s))",
        file=out,
    )
    for finding in errors + ([] if quiet else warnings):
        print(f"    {finding}", file=out)


def cmd_validate(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    results: list[_Result] = []
    show_progress = (
        not args.no_progress and len(files) >= _PROGRESS_MIN_FILES and sys.stderr.isatty()
    )
    with _scratch_store() as store:
        if show_progress:
            from rich.progress import Progress

            with Progress(transient=True) as progress:
                task = progress.add_task("Validating", total=len(files))
                for path in files:
                    results.append(_check(path, store))
                    progress.advance(task)
        else:
            results = [_check(path, store) for path in files]
    if args.json:
        json.dump([r.as_dict() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for result in results:
            _print_result(result, sys.stdout, quiet=args.quiet)
        if len(results) > 1:
            counts = [sum(r.exit_code == code for r in results) for code in (0, 1, 2)]
            print(f"{counts[0]} valid, {counts[1]} invalid, {counts[2]} unusable")
    return max((r.exit_code for r in results), default=EXIT_OK)


def _read_or_report(path: str, store: FileBlobStore) -> _Result:
    result = _check(path, store)
    if result.unusable is not None:
        _print_result(result, sys.stderr, quiet=False)
    return result


def cmd_show(args: argparse.Namespace) -> int:
    with _scratch_store() as store:
        result = _read_or_report(args.file, store)
        if result.package is None:
            return EXIT_UNUSABLE
        summary = summarize(result.package)
        summary["signature"] = _signature_verdict(args.file)
        summary["validation"] = [f.as_dict() for f in result.findings]
        if args.json:
            json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
            print()
        else:
            _print_summary(summary, result)
        return result.exit_code


def _signature_verdict(path: str) -> dict[str, str]:
    """The envelope signature's verdict on the file's bytes as they are (no trust store here:
    a signature that verifies says so, and that its certificate was not judged)."""
    from gateway.security.signatures import SignatureStatus, verify_package

    result = verify_package(path)
    verdict = {"status": result.status.value, "reason": result.reason}
    if result.status is SignatureStatus.VALID:
        verdict["reason"] += (
            "; the signer's certificate was not checked against a trust store "
            "(the gateway does that on arrival)"
        )
    if result.certificate_subject:
        verdict["signer"] = result.certificate_subject
    return verdict


def _print_summary(summary: dict[str, Any], result: _Result) -> None:
    skip = {"warnings", "errors", "validation"}
    for key, value in summary.items():
        if key in skip:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{key}:")
            for item in value:
                print("  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        elif isinstance(value, dict):
            print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            print(f"{key}: {value}")
    if result.findings:
        print("findings:")
        for finding in result.findings:
            print(f"  {finding}")


def _atomic_write_package(pkg: Package, target: Path, store: FileBlobStore) -> None:
    """Write next to the target and rename, so a failure never leaves a partial file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_package(pkg, out, store)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cmd_normalize(args: argparse.Namespace) -> int:
    target = Path(args.output)
    if target.exists() and not args.force:
        print(f"error: {target} exists (use --force to replace it)", file=sys.stderr)
        return EXIT_UNUSABLE
    with _scratch_store() as store:
        result = _read_or_report(args.file, store)
        if result.package is None:
            return EXIT_UNUSABLE
        if result.exit_code != EXIT_OK and not args.force:
            _print_result(result, sys.stderr, quiet=False)
            print(
                "nothing written: the package is invalid (use --force to write it anyway)",
                file=sys.stderr,
            )
            return result.exit_code
        _atomic_write_package(result.package, target, store)
        print(f"wrote {target} ({len(result.package.warnings)} repair(s) applied)")
        return result.exit_code


def cmd_extract(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    with _scratch_store() as store:
        result = _read_or_report(args.file, store)
        pkg = result.package
        if pkg is None:
            return EXIT_UNUSABLE
        if not isinstance(pkg, DocumentPackage):
            print(
                f"{args.file} is a status package: it has no attachments (exit "
                f"{EXIT_INVALID}: nothing to extract)",
                file=sys.stderr,
            )
            return EXIT_INVALID
        if (
            any(
                f.is_error and f.code.startswith(("M.Attachment", "N.Attachment"))
                for f in pkg.errors
            )
            and not args.force
        ):
            _print_result(result, sys.stderr, quiet=True)
            print(
                f"exit {EXIT_INVALID}: nothing extracted: attachment content is damaged "
                "(use --force to extract it anyway)",
                file=sys.stderr,
            )
            return EXIT_INVALID
        directory.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for index, attachment in enumerate(pkg.attachments, start=1):
            name = safe_file_name(attachment.name, f"attachment-{index}")
            stem, dot, ext = name.rpartition(".")
            candidate, n = name, 1
            taken = (directory / candidate).exists() and not args.force
            while candidate.lower() in used or taken:
                n += 1
                candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
                taken = (directory / candidate).exists() and not args.force
            used.add(candidate.lower())
            with store.open(attachment.file) as src, open(directory / candidate, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            note = " (unwrapped from zip)" if attachment.unwrapped_from_zip else ""
            size, kind = attachment.file.size, attachment.file_kind
            print(f"{directory / candidate}  {size} bytes  {kind}{note}")
        if not pkg.attachments:
            print(f"{args.file} has no attachments: nothing extracted", file=sys.stderr)
        if result.exit_code != EXIT_OK:
            errors = [f for f in result.findings if f.is_error]
            print(
                f"exit {result.exit_code}: {len(pkg.attachments)} attachment(s) extracted, but "
                f"the package is invalid ({len(errors)} error(s)):",
                file=sys.stderr,
            )
            for finding in errors:
                print(f"    {finding}", file=sys.stderr)
        return result.exit_code


def cmd_quickstart(args: argparse.Namespace) -> int:
    """The main job until the SOAP service exists: check and summarise the bundled example."""
    example = resources.files("gateway.examples") / "quickstart-document.edxml"
    with resources.as_file(example) as path:
        print(f"edoc-gateway {__version__}: reading the bundled example package {path.name}\n")
        namespace = argparse.Namespace(file=str(path), json=False)
        code = cmd_show(namespace)
    print(
        "\nThe package was read, validated against xsd/ and the QCVN 102:2016 rules, and "
        "summarised.\nTry: edoc-gateway edxml validate FILE...  |  edxml show FILE --json  |  "
        "edxml normalize FILE -o OUT  |  edxml extract FILE -d DIR"
    )
    return code


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def cmd_config_check(args: argparse.Namespace) -> int:
    from gateway.configcheck import check_configuration, render

    report = check_configuration(getattr(args, "config", None), offline=args.offline)
    if not report.ok:
        for problem in report.problems:
            print(f"error: {render(problem)}", file=sys.stderr)
        count = len(report.problems)
        print(f"{count} problem{'s' if count > 1 else ''} in the configuration", file=sys.stderr)
        return EXIT_UNUSABLE
    for name, value in describe(report.settings).items():
        print(f"{name} = {value}")
    checked = "files" if args.offline else "files, database and upstreams"
    print(f"configuration OK ({checked} checked)")
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database and prepare the data directory (master key, signing key, blob
    store): the one command that creates state, so ``health`` never has to."""
    from gateway.security.keys import signing_material
    from gateway.store import open_blobs

    settings = _settings(args)
    store = open_store(settings)  # migrates
    try:
        engine = "PostgreSQL" if settings.uses_postgres else f"SQLite at {settings.sqlite_path}"
        print(f"database schema at version {store.schema_version()} ({engine})")
    finally:
        store.close()
    master_key_of(settings)  # a key file is made when no master_key is configured
    key_file, _certificate = signing_material(settings)
    blobs = open_blobs(settings)
    key = "master_key (configured)" if settings.master_key else str(settings.key_file)
    print(f"master key {key}; signing key {key_file}; blobs in {blobs.location}")
    return EXIT_OK


def cmd_db_migrate_blobs(args: argparse.Namespace) -> int:
    """Copy every blob into the backend ``--to`` names (resumable: run it again after a stop)."""
    from gateway.store.blobmove import MoveReport, move_blobs
    from gateway.store.blobs_pg import PostgresBlobStore

    settings = _settings(args)
    if not settings.uses_postgres:
        print(
            "error: N.Config.database_dsn: db migrate-blobs moves blobs between files and "
            "PostgreSQL: set database_dsn (a postgresql:// URL) first",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    open_store(settings).close()  # migrates: the blob tables exist
    files = FileBlobStore(settings.blob_dir, durable=True)
    database = PostgresBlobStore(settings.database_dsn, settings.scratch_dir)
    source, target = (files, database) if args.to == "postgres" else (database, files)

    def progress(report: MoveReport) -> None:
        if report.copied % 1000 == 0:
            print(f"... {report.copied} copied ({report.bytes_copied} bytes)", flush=True)

    try:
        report = move_blobs(source, target, source.digests(), progress)
    finally:
        database.close()
    print(
        f"{report.copied} blob(s) copied ({report.bytes_copied} bytes), "
        f"{report.already_there} already in {target.location}; "
        f'now set blob_backend = "{args.to}" (the blobs in {source.location} are untouched)'
    )
    return EXIT_OK


def cmd_config_new_master_key(args: argparse.Namespace) -> int:
    """Print a fresh master key: give the same one to every node (``master_key``)."""
    from gateway.security.credentials import new_master_key

    print(new_master_key())
    return EXIT_OK


def _credentials(settings: Settings) -> tuple[Credentials, Store]:
    store = open_store(settings)
    return (
        Credentials(
            store,
            master_key_of(settings),
            replay_window=dt.timedelta(seconds=settings.replay_window_seconds),
            password_text_allowed=settings.password_text_allowed,
        ),
        store,
    )


def cmd_agencies(args: argparse.Namespace) -> int:
    settings = _settings(args)
    credentials, store = _credentials(settings)
    now = dt.datetime.now(dt.UTC)
    try:
        if args.agencies_command == "add":
            record, secret = credentials.add_agency(
                args.code, args.name, args.email, now, parent=args.parent, system=args.system
            )
            print(f"added {'system ' if args.system else ''}{record.code} ({record.name})")
            if record.parent:
                print(f"registered under {record.parent}, which may act for it")
            print(f"secret: {secret}")
            print("Give it to the agency over a trusted channel; it is not stored here, but")
            print(f"`edoc-gateway agencies show-secret {record.code}` derives it again.")
        elif args.agencies_command == "list":
            for a in store.list_agencies():
                state = "enabled " if a.enabled else "disabled"
                under = f"  (under {a.parent})" if a.parent else ""
                print(f"{a.code:<20} {state} v{a.secret_version:<3} {a.name}{under}")
        elif args.agencies_command in ("disable", "enable"):
            record = credentials.set_enabled(args.code, args.agencies_command == "enable", now)
            print(f"{record.code} is now {'enabled' if record.enabled else 'disabled'}")
        elif args.agencies_command == "rotate-secret":
            record, secret = credentials.rotate(args.code, now)
            print(f"{record.code}: new secret (version {record.secret_version}): {secret}")
            print("The previous secret no longer works.")
        elif args.agencies_command == "show-secret":
            print(credentials.current_secret(args.code))
    finally:
        store.close()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gateway.server import demo_instructions, seed_demo, serve

    settings = _settings(args)
    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    settings = replace(settings, **overrides)
    if settings.public_url == Settings().public_url:  # not configured: where we listen
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        settings = replace(settings, public_url=f"http://{host}:{settings.port}")
    _check_port_free(settings.host, settings.port)  # before the banner and its credentials
    # Before anything is counted: workers and the relay child share one metrics directory.
    instruments.use_directory(settings.data_dir / "metrics")
    logs.configure(settings.log_format, settings.log_level)
    open_store(settings).close()  # migrate once, before workers start
    if args.demo:
        print(demo_instructions(settings, seed_demo(settings)), flush=True)
    # One command runs everything: the relay is its own process (its loop never blocks a worker).
    relay = (
        start_relay_process(args.config)
        if (settings.upstreams or settings.retention_enabled) and not args.no_relay
        else None
    )
    try:
        serve(settings, single_process=args.single_process)
    finally:
        if relay is not None:
            stop_relay_process(relay)
    return EXIT_OK


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start when something already listens on ``host:port`` (the same test the
    server's own bind makes, with SO_REUSEADDR as gunicorn and waitress set it)."""
    import socket

    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError("R.Config.host", f"host {host!r} cannot be resolved: {exc}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                "R.Config.port",
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): another program "
                "(another gateway?) uses that port; stop it or choose --port",
            ) from None


def cmd_wait_ready(args: argparse.Namespace) -> int:
    """Wait until every URL answers HTTP (any status below 500), for scripts that start a
    server in the background (``serve &``, ``simulate-axis &``) and then use it."""
    import time

    import httpx

    deadline = time.monotonic() + args.timeout
    for url in args.urls:
        last = "no answer yet"
        while True:
            try:
                answer = httpx.get(url, timeout=5.0)
                if answer.status_code < 500:
                    break
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                print(
                    f"error: {url} is not ready after {args.timeout:g} s ({last})", file=sys.stderr
                )
                return EXIT_INVALID
            time.sleep(0.2)
        if not args.quiet:
            print(f"ready: {url}")
    return EXIT_OK


def _audit_log(store: Store) -> Iterator[AuditRecord]:
    """The whole audit log in order, read a page at a time."""
    after = 0
    while page := store.audit_records(after, 5000):
        yield from page
        after = page[-1].seq


def cmd_audit(args: argparse.Namespace) -> int:
    store = open_store(_settings(args))
    try:
        if args.audit_command == "export":
            target = Path(args.output)
            with target.open("wb") as out:
                count = export_audit(_audit_log(store), out)
            print(f"wrote {count} audit records to {target}")
            print(f"check it offline: python -m gateway.audit {target}")
            return EXIT_OK
        report = verify_audit(_audit_log(store), anchor=args.anchor)
    finally:
        store.close()
    for problem in report.problems:
        print(problem)
    if report.ok:
        print(f"OK: {report.count} records; anchor {report.anchor} (keep it for the next check)")
        return EXIT_OK
    print(f"TAMPERED: {report.problem_count} problem(s) in {report.count} records")
    return EXIT_INVALID


def cmd_health(args: argparse.Namespace) -> int:
    from gateway.health import check

    health = check(_settings(args))
    if args.json:
        json.dump(health.as_dict(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for item in health.checks:
            print(f"{'ok  ' if item.ok else 'FAIL'} {item.name}: {item.detail}")
        for warning in health.warnings:
            print(f"warn {warning}")
        print(f"edoc-gateway {health.version}: {'healthy' if health.ok else 'NOT healthy'}")
    return EXIT_OK if health.ok else EXIT_INVALID


def cmd_backup(args: argparse.Namespace) -> int:
    from gateway.admin.backup import backup

    manifest = backup(_settings(args), Path(args.output))
    blobs = sum(1 for name in manifest.files if name.startswith("blobs/"))
    print(
        f"wrote {args.output}: {manifest.packages} package(s), {blobs} blob(s), "
        f"{manifest.audit_records} audit record(s), schema {manifest.schema_version}"
    )
    print(f"audit anchor {manifest.audit_anchor or '-'}")
    print("the file holds the master key: keep it where only operators can read it")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from gateway.admin.backup import restore

    settings = _settings(args)
    report = restore(Path(args.archive), settings)
    manifest = report.manifest
    print(
        f"restored into {settings.data_dir}: {manifest.packages} package(s), {report.blobs} "
        f"blob(s), {report.audit_records} audit record(s) verified (backup of "
        f"{manifest.created_at}, schema {manifest.schema_version})"
    )
    print("run `edoc-gateway db upgrade` if this release is newer than the backup's")
    return EXIT_OK


def _since(text: str) -> dt.datetime:
    """``2024-03-05`` or ``2024-03-05T10:00:00+07:00``; without an offset, UTC."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def cmd_packages_purge(args: argparse.Namespace) -> int:
    """``packages purge [--dry-run]``: the retention policy applied once, now."""
    from gateway.store.retention import now_micros, run_retention

    settings = _settings(args)
    if not settings.retention_enabled:
        print(
            "nothing to purge: set retention_document_days or retention_status_days "
            "(unreferenced blobs are still collected)"
        )
    # No lease: a run beside a node's periodic job is safe (each batch re-checks its packages
    # under lock, the collectors put back what they find staged), only redundant.
    store = open_store(settings)
    blobs = open_blobs(settings)
    try:
        report = run_retention(
            store, blobs, settings, now_micros(), dry_run=args.dry_run, actor="operator"
        )
    finally:
        store.close()
        blobs.close()
    print(report.describe())
    return EXIT_OK


def cmd_packages(args: argparse.Namespace) -> int:
    """``packages reverify``: exit 0, or 1 when a verdict changed to invalid, or 2 when a
    package's kept bytes are missing."""
    from gateway.exchange import Exchange
    from gateway.reverify import reverify, select

    if not (args.package_ids or args.all or args.since):
        print("error: name a PACKAGE_ID, or use --all or --since", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.package_ids and (args.all or args.since):
        print("error: PACKAGE_ID cannot be combined with --all or --since", file=sys.stderr)
        return EXIT_UNUSABLE
    exchange = Exchange(_settings(args))
    try:
        results = list(reverify(exchange, select(exchange, args.package_ids, args.since)))
    finally:
        exchange.close()
    if args.json:
        json.dump([r.as_dict() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(f"{'PACKAGE':<36}  {'SENDER':<16} {'DOMAIN':<10} {'ORIGINAL':<12} {'NOW':<24} NOTE")
        for r in results:
            if r.checked:
                now = f"{r.previous}->{r.status}" if r.changed else r.status
            else:
                now = "not checked"
            print(
                f"{r.package_id:<36}  {r.sender:<16} {r.trust_domain or '-':<10} "
                f"{r.original:<12} {now:<24} {r.note}"
            )
        checked = sum(r.checked for r in results)
        changed = sum(r.changed for r in results)
        invalid = sum(r.became_invalid for r in results)
        print(
            f"{len(results)} package(s): {checked} re-verified, {changed} verdict(s) changed, "
            f"{invalid} now invalid, {len(results) - checked} without kept bytes"
        )
    if any(r.became_invalid for r in results):
        return EXIT_INVALID
    if any(r.raw == "missing" for r in results):
        return EXIT_UNUSABLE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edoc-gateway",
        description="edXML (QCVN 102:2016) document-exchange gateway.",
    )
    parser.add_argument("--version", action="version", version=f"edoc-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser("quickstart", help="read, validate and summarise a bundled example")
    quick.set_defaults(handler=cmd_quickstart)

    edxml = commands.add_parser("edxml", help="inspect and convert edXML packages")
    edxml_commands = edxml.add_subparsers(dest="edxml_command", required=True)

    v = edxml_commands.add_parser(
        "validate", help="validate packages (exit 0 valid, 1 invalid, 2 unusable)"
    )
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--json", action="store_true", help="machine-readable results")
    v.add_argument("--quiet", "-q", action="store_true", help="print errors only, no warnings")
    v.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    v.set_defaults(handler=cmd_validate)

    s = edxml_commands.add_parser("show", help="summarise one package")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_show)

    n = edxml_commands.add_parser("normalize", help="rewrite a package in the strict layout")
    n.add_argument("file", metavar="FILE")
    n.add_argument("-o", "--output", required=True, metavar="OUT")
    n.add_argument("--force", action="store_true", help="overwrite OUT; write even if invalid")
    n.set_defaults(handler=cmd_normalize)

    x = edxml_commands.add_parser("extract", help="write a package's attachments to a directory")
    x.add_argument("file", metavar="FILE")
    x.add_argument("-d", "--directory", required=True, metavar="DIR")
    x.add_argument("--force", action="store_true", help="overwrite files; extract damaged content")
    x.set_defaults(handler=cmd_extract)

    config_parent = argparse.ArgumentParser(add_help=False)
    config_parent.add_argument(
        "--config", metavar="FILE", help="TOML settings file (default: $GATEWAY_CONFIG)"
    )

    config = commands.add_parser("config", help="check the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    c = config_commands.add_parser(
        "check",
        parents=[config_parent],
        help="list every mistake (with line numbers) or print the effective settings",
    )
    c.add_argument(
        "--offline",
        action="store_true",
        help="skip the connection attempts to database_dsn and the upstream endpoints",
    )
    c.set_defaults(handler=cmd_config_check)
    k = config_commands.add_parser(
        "new-master-key",
        help="print a fresh master key (for master_key or master_key_file, the same on every node)",
    )
    k.set_defaults(handler=cmd_config_new_master_key)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    u = db_commands.add_parser(
        "upgrade", parents=[config_parent], help="apply migrations, prepare keys and blob store"
    )
    u.set_defaults(handler=cmd_db_upgrade)
    mb = db_commands.add_parser(
        "migrate-blobs",
        parents=[config_parent],
        help="copy every blob into PostgreSQL or back into files (resumable)",
    )
    mb.add_argument("--to", required=True, choices=("postgres", "file"), help="the target backend")
    mb.set_defaults(handler=cmd_db_migrate_blobs)

    agencies = commands.add_parser("agencies", help="agencies with a mailbox here")
    agency_commands = agencies.add_subparsers(dest="agencies_command", required=True)
    add = agency_commands.add_parser("add", parents=[config_parent], help="register an agency")
    add.add_argument("code", help="agency code, e.g. 000.00.01.H53")
    add.add_argument("name")
    add.add_argument("--email", default="", help="the agency's address (syntax checked)")
    add.add_argument(
        "--system",
        action="store_true",
        help="CODE is a system's id (a VXP systemId such as vxp.saas.03), not an agency code",
    )
    add.add_argument(
        "--parent",
        default="",
        help="a registered agency that may act for this one (send as it, read its mailbox)",
    )
    agency_commands.add_parser("list", parents=[config_parent], help="list agencies")
    for name, text in (
        ("disable", "refuse the agency's requests"),
        ("enable", "accept the agency's requests again"),
        ("rotate-secret", "issue a new secret; the old one stops working"),
        ("show-secret", "print the secret in force"),
    ):
        sub = agency_commands.add_parser(name, parents=[config_parent], help=text)
        sub.add_argument("code")
    register_agency_import(agency_commands, [config_parent])
    agencies.set_defaults(handler=cmd_agencies)

    register_wsdl(commands, [config_parent])
    register_admin(commands, [config_parent])
    register_relay(commands, [config_parent])
    register_conformance(commands)

    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", parents=[config_parent], help="check the hash chain; name any changed record"
    )
    verify.add_argument("--anchor", help="seq:hash of a previous check (detects truncation)")
    export = audit_commands.add_parser(
        "export", parents=[config_parent], help="write the log for offline verification"
    )
    export.add_argument("-o", "--output", required=True, metavar="FILE")
    audit.set_defaults(handler=cmd_audit)

    packages = commands.add_parser("packages", help="accepted packages")
    package_commands = packages.add_subparsers(dest="packages_command", required=True)
    rv = package_commands.add_parser(
        "reverify",
        parents=[config_parent],
        help="check signatures again on the kept received bytes with today's trust settings "
        "(exit 1 if a verdict became invalid)",
    )
    rv.add_argument("package_ids", nargs="*", metavar="PACKAGE_ID")
    rv.add_argument("--all", action="store_true", help="every package (narrowed by --since)")
    rv.add_argument(
        "--since", type=_since, metavar="WHEN", help="packages received since (ISO 8601; UTC)"
    )
    rv.add_argument("--json", action="store_true")
    rv.set_defaults(handler=cmd_packages)
    pu = package_commands.add_parser(
        "purge",
        parents=[config_parent],
        help="apply the retention policy now: purge content, forget identities, collect blobs",
    )
    pu.add_argument("--dry-run", action="store_true", help="count what would go, change nothing")
    pu.set_defaults(handler=cmd_packages_purge)

    health = commands.add_parser(
        "health", parents=[config_parent], help="check the database, blobs and certificates"
    )
    health.add_argument("--json", action="store_true")
    health.set_defaults(handler=cmd_health)

    b = commands.add_parser(
        "backup",
        parents=[config_parent],
        help="a consistent snapshot of database, blobs and keys in one file (SQLite)",
    )
    b.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write")
    b.set_defaults(handler=cmd_backup)
    r = commands.add_parser(
        "restore", parents=[config_parent], help="restore a backup into an empty data_dir"
    )
    r.add_argument("archive", metavar="FILE")
    r.set_defaults(handler=cmd_restore)

    s = commands.add_parser("serve", parents=[config_parent], help="run the SOAP service")
    s.add_argument("--demo", action="store_true", help="seed demo agencies, print a ready call")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, help="gunicorn sync workers (default: settings)")
    s.add_argument(
        "--single-process", action="store_true", help="waitress in one process (not Linux, dev)"
    )
    s.add_argument(
        "--no-relay",
        action="store_true",
        help="do not start `relay run` (it runs in its own service, see deploy/)",
    )
    s.set_defaults(handler=cmd_serve)

    w = commands.add_parser(
        "wait-ready",
        help="wait until servers answer HTTP (exit 1 after --timeout): for scripts",
    )
    w.add_argument("urls", nargs="+", metavar="URL", help="e.g. http://127.0.0.1:8080/healthz")
    w.add_argument("--timeout", type=float, default=60.0, help="seconds in all (default 60)")
    w.add_argument("--quiet", "-q", action="store_true")
    w.set_defaults(handler=cmd_wait_ready)

    from gateway.simulator.cli import register as register_simulator

    register_simulator(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    return code


EXIT_CLOSED_PIPE = 141
"""128 + SIGPIPE, as a shell reports a command whose reader went away (``... | head``)."""


def _closed_pipe() -> int:
    """The reader of stdout went away: stop quietly. Later writes (the interpreter's final
    flush included) go to /dev/null, so no BrokenPipeError traceback is printed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
