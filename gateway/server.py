"""Running the gateway: gunicorn on Linux with waitress inside each worker process, waitress
in one process elsewhere.

Each gunicorn worker builds its own exchange after the fork (database connections are never
shared across processes). waitress buffers each request whole before a thread runs it, and
closes connections that trickle their headers or body (``header_timeout_seconds``,
``body_min_rate_bytes``, ``idle_timeout_seconds``): slow clients cannot starve the node, with or
without a proxy in front (:mod:`gateway.web.gunicorn_worker`).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import instruments, logs
from gateway.config import Settings
from gateway.exchange import Exchange
from gateway.store.memo import agencies_remembered
from gateway.web import RequestLog
from gateway.web.admission import Admission, Gate, SlotPool, TokenBuckets

WsgiApp = Callable[..., Any]

DEMO_AGENCIES = (
    ("000.00.01.H53", "Văn phòng UBND tỉnh Tây Ninh (demo)"),
    ("000.00.32.H53", "UBND huyện Châu Thành (demo)"),
    ("000.00.00.G22", "Văn phòng Chính phủ (demo)"),
)
"""The bundled example document goes from the first to the second."""


def build_app(settings: Settings) -> WsgiApp:
    """The gateway's WSGI application on a fresh exchange: every face, mounted by path prefix,
    behind the request-id and access-log middleware of :mod:`gateway.web`.

    The modern SOAP service answers every path no other face claims (its 404 names where it is).
    Each adapter adds one entry to ``mounts``; the composition root is the one place that knows
    them all (adapters depend on the core, never the reverse).
    """
    from gateway.soap.app import make_app
    from gateway.soap.streaming import large_response_handler, package_request_handler

    exchange = Exchange(settings)
    soap = make_app(
        exchange,
        settings,
        package_request_handler=package_request_handler(exchange),
        large_response_handler=large_response_handler(exchange),
    )
    from gateway.admin.console import PREFIX as CONSOLE_PREFIX
    from gateway.admin.console import make_console_app
    from gateway.admin.metrics import PATH as METRICS_PATH
    from gateway.admin.metrics import make_metrics_app
    from gateway.admin.probes import HEALTHZ, READYZ, make_probes
    from gateway.restface.face import PREFIX as VXP_PREFIX
    from gateway.restface.face import make_vxp_app
    from legacy_adapters.edoc_soap.app import PATH as LEGACY_PATH
    from legacy_adapters.edoc_soap.app import make_legacy_app

    probes = make_probes(settings)
    mounts: list[tuple[str, str, WsgiApp]] = [
        (LEGACY_PATH, "legacy", make_legacy_app(exchange, settings)),
        (VXP_PREFIX, "vxp", make_vxp_app(exchange, settings)),
        (HEALTHZ, "health", probes),
        (READYZ, "health", probes),
        (CONSOLE_PREFIX, "console", make_console_app(exchange, settings)),
        (METRICS_PATH, "metrics", make_metrics_app(settings)),
    ]
    exempt = (CONSOLE_PREFIX, HEALTHZ, READYZ, METRICS_PATH)
    return RequestLog(Admission(mount(mounts, default=("soap", soap)), gate(settings, exempt)))


def gate(settings: Settings, exempt: tuple[str, ...] = ()) -> Gate:
    """The node's admission policy (``max_in_flight`` slots shared by its processes under
    ``data_dir``, the agencies' token buckets when ``agency_rate_per_minute`` is set); the
    faces under ``exempt`` are outside the in-flight bound."""
    buckets = (
        TokenBuckets(settings.agency_rate_per_minute, settings.agency_burst)
        if settings.agency_rate_per_minute
        else None
    )
    slots = SlotPool(settings.data_dir / "run" / "inflight", settings.max_in_flight)
    return Gate(slots, buckets, settings.busy_retry_after_seconds, exempt)


def mount(
    mounts: list[tuple[str, str, WsgiApp]], *, default: tuple[str, WsgiApp]
) -> WsgiApp:
    """Dispatch on the longest matching path prefix, binding the face's name for the request's
    log line and metrics; ``SCRIPT_NAME``/``PATH_INFO`` are left as they are, so each face sees
    the full path it documents."""
    ordered = sorted(mounts, key=lambda entry: len(entry[0]), reverse=True)
    default_name, default_face = default

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", "")) or "/"
        name, face = next(
            (
                (name, face)
                for prefix, name, face in ordered
                if path == prefix or path.startswith(prefix.rstrip("/") + "/")
            ),
            (default_name, default_face),
        )
        logs.bind(face=name)
        with agencies_remembered():  # one request's look-ups of the same agency read it once
            return face(environ, start_response)

    return app


def seed_demo(settings: Settings) -> dict[str, str]:
    """Register the demo agencies (once) and return their secrets."""
    exchange = Exchange(settings)
    try:
        return {code: exchange.ensure_agency(code, name) for code, name in DEMO_AGENCIES}
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
    """One process: the same guarded waitress server a gunicorn worker runs, on its own
    listening socket."""
    import socket

    from waitress import wasyncore

    from gateway.web.gunicorn_worker import serve_sockets

    logs.configure(settings.log_format, settings.log_level)
    listener = socket.create_server((settings.host, settings.port), backlog=1024)
    socket_map, dispatcher = serve_sockets(build_app(settings), settings, [listener])
    try:
        wasyncore.loop(timeout=1.0, map=socket_map, use_poll=True)
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.shutdown()
        listener.close()


def control_socket(settings: Settings) -> str | None:
    """Where gunicorn's control socket goes: one per instance under ``data_dir`` by default,
    None when it is ``off``."""
    if settings.control_socket.strip().lower() == "off":
        return None
    if settings.control_socket.strip():
        return settings.control_socket.strip()
    return str((settings.data_dir / "gunicorn.ctl").resolve())


def _worker_exited(_server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit``: a dead worker's live metric files are let go."""
    instruments.process_exited(int(worker.pid))


def _serve_gunicorn(settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    from gateway.web.gunicorn_worker import worker_class

    class _Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                # waitress in each worker: requests are buffered whole before a thread runs
                # them, so slow clients cannot hold the workers (gateway.web.gunicorn_worker).
                "worker_class": worker_class(settings),
                "timeout": 60,  # a worker's event loop reports every second, however slow
                "graceful_timeout": 30,
                "accesslog": None,  # gateway.web's middleware writes the access log
                "errorlog": "-",
                "loglevel": str(settings.log_level).lower(),
                "logconfig_dict": logs.gunicorn_logconfig(settings.log_format, settings.log_level),
                "proc_name": "edoc-gateway",
                "child_exit": _worker_exited,
            }
            where = control_socket(settings)
            if "control_socket" in self.cfg.settings:  # gunicorn >= 25.1
                if where is None:
                    options["control_socket_disable"] = True
                else:
                    options["control_socket"] = where
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> WsgiApp:
            return build_app(settings)

    _Gateway().run()
