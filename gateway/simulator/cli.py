"""``edoc-gateway simulate-axis``: run the national-axis simulator in the foreground."""

from __future__ import annotations

import argparse
import os
import ssl
from pathlib import Path
from typing import Any

from gateway import logs
from gateway.simulator.faults import FaultRule


def _agency(text: str) -> tuple[str, str]:
    code, sep, secret = text.partition(":")
    if not sep or not code.strip() or not secret:
        raise argparse.ArgumentTypeError(f"{text!r}: expected CODE:SECRET")
    return code.strip(), secret


def _fault(text: str) -> FaultRule:
    try:
        return FaultRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(commands: Any) -> None:
    """Add the ``simulate-axis`` subcommand to the main parser's subcommands."""
    sim = commands.add_parser(
        "simulate-axis", help="run a national-axis (VXP) simulator for tests and demos"
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8480, help="0 picks a free port")
    sim.add_argument("--data-dir", default="./axis-sim", help="its own SQLite file and blobs")
    sim.add_argument(
        "--agency",
        action="append",
        type=_agency,
        default=[],
        metavar="CODE:SECRET",
        help="a system (systemid and HMAC secret) allowed to connect; repeatable",
    )
    sim.add_argument(
        "--faults",
        action="append",
        type=_fault,
        default=[],
        metavar="RULE",
        help="e.g. reset:op=sendEdoc:count=2, delay=1500:p=0.2, error=503, drop, duplicate",
    )
    sim.add_argument("--tls-cert", help="PEM certificate (with --tls-key): serve HTTPS")
    sim.add_argument("--tls-key")
    sim.add_argument("--client-ca", help="PEM CA bundle: require client certificates from it")
    sim.add_argument("--seed", type=int, help="random seed for probabilistic faults")
    sim.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=os.environ.get("GATEWAY_LOG_FORMAT", "text"),
        help="text or json, like the gateway's log_format (default: $GATEWAY_LOG_FORMAT or text)",
    )
    sim.add_argument(
        "--log-level",
        choices=logs.LEVELS,
        type=str.upper,
        default=os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        help="like the gateway's log_level (default: $GATEWAY_LOG_LEVEL or INFO)",
    )
    sim.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gateway.simulator.httpd import ADMIN_PATH, Simulator

    logs.configure(args.log_format, args.log_level)
    systems = dict(args.agency)
    if not systems:
        print("warning: no --agency CODE:SECRET given; every request will be refused")
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            tls.load_verify_locations(args.client_ca)
            tls.verify_mode = ssl.CERT_REQUIRED
    sim = Simulator.create(
        Path(args.data_dir), systems, host=args.host, port=args.port, faults=args.faults,
        seed=args.seed, tls=tls,
    )
    print(f"national-axis simulator listening on {sim.url}", flush=True)
    print(f"systems: {', '.join(systems) or '(none)'}; data: {Path(args.data_dir).resolve()}")
    print(f"faults: GET/POST/DELETE {sim.url}{ADMIN_PATH}", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0
