"""The ``edoc-gateway`` command line.

Exit codes for the ``edxml`` commands, stable for scripts: 0 every package is valid, 1 a package
is invalid (its findings are printed), 2 an input is unusable (not an edXML package, unreadable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from gateway import __version__
from gateway.edxml.model import DocumentPackage, Package
from gateway.edxml.reader import read_package
from gateway.edxml.summary import summarize
from gateway.edxml.validate import validate
from gateway.edxml.writer import write_package
from gateway.errors import Finding, GatewayError
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
        summary["validation"] = [f.as_dict() for f in result.findings]
        if args.json:
            json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
            print()
        else:
            _print_summary(summary, result)
        return result.exit_code


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


_UNSAFE_NAME = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def safe_file_name(name: str, fallback: str) -> str:
    """A file name that cannot leave the target directory or break common filesystems."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip().strip(".")
    return cleaned[:200] or fallback


def cmd_extract(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    with _scratch_store() as store:
        result = _read_or_report(args.file, store)
        pkg = result.package
        if pkg is None:
            return EXIT_UNUSABLE
        if not isinstance(pkg, DocumentPackage):
            print(f"{args.file} is a status package: it has no attachments", file=sys.stderr)
            return result.exit_code
        if (
            any(
                f.is_error and f.code.startswith(("M.Attachment", "N.Attachment"))
                for f in pkg.errors
            )
            and not args.force
        ):
            _print_result(result, sys.stderr, quiet=True)
            print("nothing extracted: attachment content is damaged (use --force)", file=sys.stderr)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
