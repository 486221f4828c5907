"""``edoc-gateway wsdl export``: write the service's WSDL, as served, to a file.

The committed ``wsdl/edoc-gateway.wsdl`` is this command's output with the default settings, and
``wsdl/edoc-gateway-soap11.wsdl`` its output with ``--soap11`` (the ``?wsdl11`` description); a
test fails when they and the WSDLs a running server serves drift apart.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.config import Settings, load_settings
from gateway.soap.wsdl import build_wsdl, build_wsdl11, service_address

DEFAULT_PATH = Path("wsdl") / "edoc-gateway.wsdl"
DEFAULT_SOAP11_PATH = Path("wsdl") / "edoc-gateway-soap11.wsdl"


def export_wsdl(
    settings: Settings, path: str | os.PathLike[str], *, soap11_only: bool = False
) -> Path:
    """Write the WSDL (address: ``settings.public_url`` + ``/soap/v1``) atomically; with
    ``soap11_only`` the ``?wsdl11`` description."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    build = build_wsdl11 if soap11_only else build_wsdl
    data = build(service_address(settings))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # a published contract, not a private temporary file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def cmd_wsdl_export(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    soap11_only = bool(args.soap11)
    output = args.output or str(DEFAULT_SOAP11_PATH if soap11_only else DEFAULT_PATH)
    target = export_wsdl(settings, output, soap11_only=soap11_only)
    print(f"wrote {target} (address {service_address(settings)})")
    return 0


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add ``wsdl export [-o FILE]`` to the CLI's subcommands (``gateway.cli`` calls this).

    ``parents`` are shared option parsers (the CLI's ``--config``); without one, settings come
    from ``GATEWAY_CONFIG`` and the ``GATEWAY_*`` environment.
    """
    wsdl = subparsers.add_parser("wsdl", help="the SOAP service's WSDL contract")
    commands = wsdl.add_subparsers(dest="wsdl_command", required=True)
    export = commands.add_parser(
        "export",
        parents=list(parents),
        help=f"write the WSDL the server serves (default {DEFAULT_PATH})",
    )
    export.add_argument("-o", "--output", default="", metavar="FILE")
    export.add_argument(
        "--soap11",
        action="store_true",
        help=f"the SOAP 1.1-only description served at ?wsdl11 (default {DEFAULT_SOAP11_PATH})",
    )
    export.set_defaults(handler=cmd_wsdl_export)
