"""``edoc-gateway conformance run``: the kit from the command line.

Exit codes: 0 every selected mandatory assertion passed, 1 one did not, 2 the run could not start
(endpoint unreachable, WSDL not served, unknown dialect).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

EXIT_CONFORMANT, EXIT_NOT_CONFORMANT, EXIT_NOT_RUN = 0, 1, 2


def register(commands: Any) -> None:
    """Add ``conformance run`` to the ``edoc-gateway`` parser (zeep is imported only when run)."""
    conformance = commands.add_parser(
        "conformance", help="run the conformance kit against an endpoint"
    )
    sub = conformance.add_subparsers(dest="conformance_command", required=True)
    run = sub.add_parser("run", help="run the named assertions; exit 0 only if all mandatory pass")
    run.add_argument(
        "--endpoint", required=True, help="the service URL, e.g. http://host:8080/soap/v1"
    )
    run.add_argument("--agency", required=True, help="agency code of the credentials")
    run.add_argument(
        "--secret",
        default=os.environ.get("EDGW_SECRET", ""),
        help="that agency's secret (or EDGW_SECRET); write --secret=VALUE when it starts with '-'",
    )
    run.add_argument("--peer-agency", default="", help="a second agency (needed by most flows)")
    run.add_argument(
        "--peer-secret",
        default=os.environ.get("EDGW_PEER_SECRET", ""),
        help="the second agency's secret (or EDGW_PEER_SECRET); --peer-secret=VALUE form too",
    )
    run.add_argument("--dialect", default="modern", help="modern (default) or legacy")
    run.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    run.add_argument("--only", nargs="+", default=[], metavar="ID", help="assertion ids or groups")
    run.add_argument("--skip", nargs="+", default=[], metavar="ID", help="assertion ids or groups")
    run.add_argument("--list", action="store_true", help="list the assertions and exit")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    run.add_argument("--large-mb", type=float, default=50.0, help="size of the LARGE package (MB)")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gateway.conformance import report, runner
    from gateway.conformance.dialects import DIALECTS
    from gateway.conformance.session import RunConfig

    console = Console()
    if args.dialect not in DIALECTS:
        console.print(f"unknown dialect {args.dialect!r}; known: {', '.join(DIALECTS)}")
        return EXIT_NOT_RUN
    config = RunConfig(
        endpoint=args.endpoint,
        agency=args.agency,
        secret=args.secret,
        peer_agency=args.peer_agency,
        peer_secret=args.peer_secret,
        dialect=args.dialect,
        only=tuple(args.only),
        skip=tuple(args.skip),
        timeout=args.timeout,
        large_bytes=int(args.large_mb * 1000 * 1000),
    )
    if args.list:
        report.listing(runner.select(runner.assertions(args.dialect), config), console)
        return EXIT_CONFORMANT
    if not args.secret:
        console.print("give the agency's secret: --secret=VALUE or EDGW_SECRET")
        return EXIT_NOT_RUN
    if args.peer_agency and not args.peer_secret:
        console.print("--peer-agency needs --peer-secret")
        return EXIT_NOT_RUN
    with console.status("running conformance assertions...") as status:

        def progress(outcome: runner.Outcome) -> None:
            status.update(f"{outcome.assertion.id}: {outcome.status}")

        result = runner.run(config, on_outcome=progress)
    report.render(result, console)
    if args.junit:
        report.write_junit(result, Path(args.junit))
    if result.setup_error:
        return EXIT_NOT_RUN
    return EXIT_CONFORMANT if result.ok else EXIT_NOT_CONFORMANT
