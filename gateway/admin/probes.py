"""``/healthz`` and ``/readyz``: what a load balancer, systemd or Kubernetes asks.

``/healthz`` says the process answers HTTP (it touches nothing else, so a slow database never
makes a supervisor restart a healthy worker). ``/readyz`` runs the checks of
``edoc-gateway health`` (:func:`gateway.health.check`) and answers 200 or 503 with every check
named in JSON; its verdict is kept for a few seconds, so a probe every second costs one check.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from gateway import __version__
from gateway.config import Settings
from gateway.health import Health, check

HEALTHZ, READYZ = "/healthz", "/readyz"
CACHE_SECONDS = 5.0

StartResponse = Callable[..., Any]


class _Readiness:
    """The last verdict, shared by the threads of one worker."""

    def __init__(self, settings: Settings, ttl: float) -> None:
        self.settings = settings
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = -1e9
        self._health: Health | None = None

    def current(self) -> Health:
        with self._lock:
            if self._health is None or time.monotonic() - self._at >= self.ttl:
                self._health = check(self.settings)
                self._at = time.monotonic()
            return self._health


def make_probes(settings: Settings, *, cache_seconds: float = CACHE_SECONDS) -> Callable[..., Any]:
    readiness = _Readiness(settings, cache_seconds)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method not in ("GET", "HEAD"):
            return _json(start_response, HTTPStatus.METHOD_NOT_ALLOWED, {"error": "GET only"})
        if path == HEALTHZ:
            return _json(start_response, HTTPStatus.OK, {"status": "alive", "version": __version__})
        if path == READYZ:
            health = readiness.current()
            body = health.as_dict()
            body["failing"] = [f"{c.name}: {c.detail}" for c in health.checks if not c.ok]
            status = HTTPStatus.OK if health.ok else HTTPStatus.SERVICE_UNAVAILABLE
            return _json(start_response, status, body)
        return _json(start_response, HTTPStatus.NOT_FOUND, {"error": f"try {HEALTHZ} or {READYZ}"})

    return app


def _json(start_response: StartResponse, status: HTTPStatus, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False, indent=1).encode() + b"\n"
    start_response(
        f"{status.value} {status.phrase}",
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]
