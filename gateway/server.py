"""Running the gateway: gunicorn sync workers on Linux, waitress in one process elsewhere.

Each gunicorn worker builds its own exchange after the fork (database connections are never
shared across processes). Sync workers hold one request each: in production put a buffering
proxy (nginx) in front so slow clients cannot tie them up; see README, "Production".
"""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.exchange import Exchange

WsgiApp = Callable[..., Any]

DEMO_AGENCIES = (
    ("000.00.01.H53", "Văn phòng UBND tỉnh Tây Ninh (demo)"),
    ("000.00.32.H53", "UBND huyện Châu Thành (demo)"),
    ("000.00.00.G22", "Văn phòng Chính phủ (demo)"),
)
"""The bundled example document goes from the first to the second."""


def build_app(settings: Settings) -> WsgiApp:
    """The gateway's WSGI application on a fresh exchange: every face, mounted by path prefix.

    The modern SOAP service answers every path no other face claims (its 404 names where it is).
    Each adapter adds one entry to ``mounts``; the composition root is the one place that knows
    them all (adapters depend on the core, never the reverse).
    """
    from gateway.soap.app import make_app
    from gateway.soap.streaming import large_request_handler, large_response_handler

    exchange = Exchange(settings)
    soap = make_app(
        exchange,
        settings,
        large_request_handler=large_request_handler(exchange),
        large_response_handler=large_response_handler(exchange),
    )
    from gateway.vxp.face import PREFIX as VXP_PREFIX
    from gateway.vxp.face import make_vxp_app
    from legacy_adapters.edoc_soap.app import PATH as LEGACY_PATH
    from legacy_adapters.edoc_soap.app import make_legacy_app

    mounts: list[tuple[str, WsgiApp]] = [
        (LEGACY_PATH, make_legacy_app(exchange, settings)),
        (VXP_PREFIX, make_vxp_app(exchange, settings)),
    ]
    return mount(mounts, default=soap)


def mount(mounts: list[tuple[str, WsgiApp]], *, default: WsgiApp) -> WsgiApp:
    """Dispatch on the longest matching path prefix; ``SCRIPT_NAME``/``PATH_INFO`` are left as
    they are, so each face sees the full path it documents."""
    ordered = sorted(mounts, key=lambda entry: len(entry[0]), reverse=True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", "")) or "/"
        for prefix, face in ordered:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return face(environ, start_response)
        return default(environ, start_response)

    return app


def seed_demo(settings: Settings) -> dict[str, str]:
    """Register the demo agencies (once) and return their secrets."""
    exchange = Exchange(settings)
    try:
        now = dt.datetime.now(dt.UTC)
        secrets = {}
        for code, name in DEMO_AGENCIES:
            if exchange.store.get_agency(code) is None:
                exchange.credentials.add_agency(code, name, "", now)
            secrets[code] = exchange.credentials.current_secret(code)
        return secrets
    finally:
        exchange.close()


def demo_instructions(settings: Settings, secrets: dict[str, str]) -> str:
    """What ``serve --demo`` prints: credentials and a ready-to-run call."""
    url = f"{settings.public_url.rstrip('/')}/soap/v1"
    (sender, sender_secret), (receiver, receiver_secret) = list(secrets.items())[:2]
    example = Path(__file__).parent / "examples" / "quickstart-document.edxml"
    lines = [f"  {code}  secret {secret}" for code, secret in secrets.items()]
    script = textwrap.dedent(
        f"""\
        # needs zeep: pip install 'edoc-gateway[client]' (the README's first command does)
        import zeep
        from zeep.wsse.username import UsernameToken
        def client(code, secret):
            return zeep.Client("{url}?wsdl", wsse=UsernameToken(code, secret, use_digest=True))
        sender = client("{sender}", "{sender_secret}")
        receipt = sender.service.SendDocument(open("{example}", "rb").read())
        print("sent", receipt.packageId, "duplicate:", receipt.duplicate)
        receiver = client("{receiver}", "{receiver_secret}")
        page = receiver.service.GetPending("document", 10, "")
        package = receiver.service.GetPackage(receipt.packageId)
        print("received:", package.summary.subject)
        receiver.service.ConfirmReceived(receipt.packageId, "ok", "")
        for trace in sender.service.GetTraces("", receipt.packageId, None) or []:
            print("status", trace.statusCode, trace.description)
        """
    )
    return "\n".join(
        [
            f"edoc-gateway demo at {url}  (WSDL: {url}?wsdl)",
            "Demo agencies (WS-Security UsernameToken, PasswordDigest):",
            *lines,
            "",
            "Send the bundled example and follow it, in another terminal:",
            "",
            textwrap.indent(script, "    "),
        ]
    )


def serve(settings: Settings, *, single_process: bool = False) -> None:
    """Run until interrupted."""
    if single_process or not sys.platform.startswith("linux"):
        _serve_waitress(settings)
    else:
        _serve_gunicorn(settings)


def _serve_waitress(settings: Settings) -> None:
    import waitress

    waitress.serve(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        threads=max(settings.workers * 2, 4),
        max_request_body_size=settings.max_request_bytes,
        ident="edoc-gateway",
    )


def _serve_gunicorn(settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    class _Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                "worker_class": "sync",
                "timeout": 600,  # a 500 MB upload on a slow link
                "graceful_timeout": 30,
                "accesslog": "-",
                "errorlog": "-",
                "proc_name": "edoc-gateway",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> WsgiApp:
            return build_app(settings)

    _Gateway().run()
