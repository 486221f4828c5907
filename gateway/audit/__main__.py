"""Offline verifier of an audit export: ``python -m gateway.audit FILE [--anchor SEQ:HASH]``.

Needs nothing but the file (no database, no configuration), so an auditor can run it on their
own machine. Exit codes, stable for scripts: 0 the log verifies, 1 problems were found (each
is printed), 2 the file (or the anchor) cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.audit.chain import parse_anchor, read_export, verify
from gateway.errors import ExportFormatError

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.audit",
        description="Verify an edoc-gateway audit log export (hash chain, order, completeness).",
    )
    parser.add_argument("file", help="the export file (JSON Lines)")
    parser.add_argument(
        "--anchor",
        metavar="SEQ:HASH",
        help="a record known to be in the log (from a signed checkpoint or an earlier "
        "verification): catches truncation and rewrites of the end of the log",
    )
    args = parser.parse_args(argv)
    if args.anchor is not None:
        try:
            parse_anchor(args.anchor)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    try:
        with open(args.file, "rb") as stream:
            report = verify(read_export(stream), anchor=args.anchor)
    except ExportFormatError as exc:
        print(f"unreadable: {args.file}: {exc.path}: {exc.message}", file=sys.stderr)
        return EXIT_UNREADABLE
    except OSError as exc:
        print(f"unreadable: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if report.ok:
        print(f"OK: {report.count} records, last hash {report.last_hash}")
        print(f"anchor for the next verification: {report.anchor}")
        return EXIT_OK
    for problem in report.problems:
        print(problem)
    hidden = report.problem_count - len(report.problems)
    if hidden:
        print(f"... and {hidden} more problems")
    plural = "" if report.problem_count == 1 else "s"
    print(f"FAILED: {report.problem_count} problem{plural} in {report.count} records")
    return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
