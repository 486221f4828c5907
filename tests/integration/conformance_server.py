"""A `serve --demo`-equivalent gateway in this process, for the conformance kit's tests.

The real composition (``gateway.server.build_app``) and the demo agencies (``seed_demo``) under
a threaded wsgiref server on 127.0.0.1 and an ephemeral port; ``wrap`` puts a deliberately
broken layer around the real application.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from gateway.config import Settings
from gateway.server import build_app, seed_demo

App = Callable[..., Iterable[bytes]]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The gateway logs each request itself."""


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class DemoGateway:
    """The gateway on a fresh data directory, with the demo agencies and their secrets."""

    def __init__(self, settings: Settings, wrap: Callable[[App], App] | None = None) -> None:
        self.server = make_server(
            "127.0.0.1", 0, _unset, server_class=_Threaded, handler_class=_Quiet
        )
        port = self.server.server_address[1]
        self.settings = replace(settings, public_url=f"http://127.0.0.1:{port}")
        self.secrets = seed_demo(self.settings)
        app = build_app(self.settings)
        self.server.set_app(wrap(app) if wrap else app)
        self.url = f"{self.settings.public_url}/soap/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def _unset(environ: Any, start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("the application is set before the server starts")
