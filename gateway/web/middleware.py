"""The middleware applied where the faces are mounted: every request gets an id (kept in the
environ for the faces' own log lines and faults, and answered as ``X-Request-Id``) and one
access-log line, with its face, operation, agency, package and outcome, when its answer has been
sent (:func:`gateway.logs.log_request`, which also counts it for ``/metrics``)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway import logs

REQUEST_ID_KEY = "gateway.request_id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_id(environ: dict[str, Any]) -> str:
    """This request's id: the one the middleware gave it, else a new one (kept in ``environ``).

    A caller's own ``X-Request-Id`` is kept when it looks like an id (so a proxy's id carries
    through); anything else is replaced, so log lines cannot be forged through it.
    """
    known = environ.get(REQUEST_ID_KEY)
    if isinstance(known, str) and known:
        return known
    offered = str(environ.get("HTTP_X_REQUEST_ID", ""))
    value = offered if _CLIENT_ID.match(offered) else uuid.uuid4().hex[:16]
    environ[REQUEST_ID_KEY] = value
    return value


class RequestLog:
    """Give each request an id, answer it as ``X-Request-Id``, and write its one access line.

    The request runs in a :func:`gateway.logs.request_scope` holding its id; the mount binds the
    face, the face binds what it learns (operation, agency, the fault's code) and the exchange
    the package id, so every face's line carries them. The line is written once the answer has
    been sent, with what was bound while the face ran."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        rid = request_id(environ)
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": "", "bytes": 0, "fields": {}}

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, [*headers, ("X-Request-Id", rid)], exc_info)

        def finish() -> None:
            logs.log_request(
                seen["status"] or 0,
                time.perf_counter() - started,
                fields=seen["fields"],
                method=str(environ.get("REQUEST_METHOD", "-")),
                path=str(environ.get("PATH_INFO", "") or "/"),
                remote=str(environ.get("REMOTE_ADDR", "-")),
                bytes=seen["bytes"],
            )

        with logs.request_scope(request_id=rid):
            try:
                result = self.app(environ, respond)
            except BaseException:
                seen["status"] = seen["status"] or "500"
                seen["fields"] = logs.context()
                finish()
                raise
            seen["fields"] = logs.context()
        return _Logged(result, seen, finish)


class _Logged:
    """The face's answer, counted as it is sent; the log line is written when it is closed
    (WSGI servers close every answer, also one cut short by a vanished client)."""

    def __init__(self, inner: Iterable[bytes], seen: dict[str, Any], finish: Callable[[], None]):
        self.inner, self.seen, self.finish = inner, seen, finish

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            self.seen["bytes"] += len(piece)
            yield piece

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self.finish()


__all__ = ["REQUEST_ID_KEY", "RequestLog", "WsgiApp", "request_id"]
