"""One logging set-up for every process: serve workers, ``relay run``, the poller, the simulator.

Each module logs to ``logging.getLogger(__name__)``; only an entry point calls
:func:`configure` (or hands :func:`gunicorn_logconfig` to gunicorn), so every line of every
process has one shape: ``text`` (an ISO-8601 UTC timestamp, the level, the logger, the message,
then ``key=value`` context) or ``json`` (one object per line, for a log shipper).

Context travels with the work, not with the call: a request's middleware opens
:func:`request_scope` (request id, face), the layers below :func:`bind` what they learn
(operation, agency, package id), and every line logged meanwhile carries those fields;
:func:`log_request` writes the one line per request at the end. The relay binds a package id
around each send the same way; the same call counts the request for ``/metrics``. This module
imports nothing of the gateway but its instruments, so every room may use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import logging
import secrets
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TextIO

from gateway import instruments

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CONTEXT_FIELDS = ("request_id", "face", "operation", "agency", "package_id", "upstream")
"""The fields a request or a relay step binds, in the order text lines show them."""
QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "zeep": logging.WARNING,
    "spyne": logging.WARNING,
}
"""Third-party loggers whose INFO is chatter (httpx: a line per HTTP call, every poll; spyne: a
line per service at each worker's start): warnings only."""
ACCESS_LOGGER = "gateway.access"
"""The logger of the one line per request."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "gateway_log_context", default=_EMPTY
)
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def new_request_id() -> str:
    """A short random id for a request that did not bring one (``X-Request-Id``)."""
    return secrets.token_hex(8)


def context() -> dict[str, Any]:
    """The fields bound in the current request or step."""
    return dict(_context.get())


def bind(**fields: Any) -> None:
    """Add fields to the current context (empty values are ignored): the operation once the
    face knows it, the agency once authenticated, the package id once accepted. Outside a
    :func:`request_scope` it does nothing, so no request's fields outlive it in a worker."""
    if _context.get() is _EMPTY:
        return
    current = dict(_context.get())
    current.update({k: v for k, v in fields.items() if v not in (None, "")})
    _context.set(current)


@contextlib.contextmanager
def request_scope(**fields: Any) -> Iterator[dict[str, Any]]:
    """A fresh context for one request or relay step, restored afterwards (so a worker thread
    never carries one request's agency into the next)."""
    token = _context.set({k: v for k, v in fields.items() if v not in (None, "")})
    try:
        yield dict(_context.get())
    finally:
        _context.reset(token)


def log_request(
    status: int | str,
    duration_seconds: float,
    *,
    fields: Mapping[str, Any] | None = None,
    **more: Any,
) -> None:
    """The one line per request: the bound context (or ``fields``, a :func:`context` captured
    while the request ran, for a middleware that logs once the answer has been sent), the
    outcome and the duration; it also counts the request for ``/metrics``."""
    code = int(status) if str(status).isdigit() else 0
    bound = _context.get() if fields is None else fields
    face, operation = str(bound.get("face", "")), str(bound.get("operation", ""))
    error_code = str(more.pop("code", "") or bound.get("code") or "")
    outcome = str(more.pop("outcome", "") or bound.get("outcome") or _outcome(code, error_code))
    level = logging.ERROR if outcome == "error" else logging.INFO
    instruments.REQUESTS.labels(face, operation, outcome, error_code).inc()
    instruments.REQUEST_SECONDS.labels(face, operation).observe(duration_seconds)
    if error_code:
        more["code"] = error_code
    logging.getLogger(ACCESS_LOGGER).log(
        level,
        "%s %s",
        status,
        outcome,
        extra={
            **({"context": dict(fields)} if fields is not None else {}),
            "status": code,
            "outcome": outcome,
            "duration_ms": round(duration_seconds * 1000, 1),
            **more,
        },
    )


SERVER_SIDE_CODES = frozenset({"Server.Internal", "M.Server"})
"""Fault codes that mean the gateway failed (the rest are the caller's or overload)."""


def _outcome(status: int, code: str) -> str:
    """ok, refused (the caller's mistake, or overload) or error (the gateway failed).

    SOAP 1.1 answers every fault with HTTP 500, so a fault's code decides, not its status."""
    if code:
        return "error" if code in SERVER_SIDE_CODES else "refused"
    if 0 < status < 400:
        return "ok"
    return "refused" if 0 < status < 500 else "error"


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (``record.context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = dict(_context.get())
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, "context", {}) or {})
    for key, value in record.__dict__.items():
        if key not in _RESERVED and key != "context" and not key.startswith("_"):
            fields[key] = value
    return fields


@functools.lru_cache(maxsize=4)
def _second(whole_seconds: int) -> str:
    """``2026-01-02T03:04:05.`` for one second, formatted once: a busy gateway writes hundreds
    of lines within each second (2.6 µs a timestamp before, 0.7 after)."""
    return dt.datetime.fromtimestamp(whole_seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def _timestamp(record: logging.LogRecord) -> str:
    whole, microseconds = divmod(round(record.created * 1_000_000), 1_000_000)
    return f"{_second(whole)}{microseconds // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO gateway.relay.worker message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields = _extras(record)
        ordered = [k for k in CONTEXT_FIELDS if k in fields] + sorted(
            k for k in fields if k not in CONTEXT_FIELDS
        )
        tail = " ".join(f"{k}={_shown(fields[k])}" for k in ordered)
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
            + (f" {tail}" if tail else "")
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _shown(value: Any) -> str:
    text = str(value)
    plain = text and not any(c in text for c in ' "=\n')
    return text if plain else json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, the context, extras and
    ``exc`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if str(fmt) == "json" else TextFormatter()


def configure(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger of this process to one handler on ``stream`` (stderr) in ``fmt``.

    Idempotent: a second call replaces the handler (tests, ``serve`` then its relay child).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ContextFilter())
    handler.set_name("edoc-gateway")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(str(level).upper())
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
    for name in ("gunicorn.error", "gunicorn.access", "waitress"):
        child = logging.getLogger(name)
        child.handlers.clear()
        child.propagate = True
    logging.captureWarnings(True)


def gunicorn_logconfig(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its master, its workers and the application share the
    format :func:`configure` sets (gunicorn would otherwise install its own)."""
    factory = f"{__name__}.{'JsonFormatter' if str(fmt) == 'json' else 'TextFormatter'}"
    level = str(level).upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": factory}},
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": True},
            **{
                name: {"level": logging.getLevelName(max(quiet, logging.getLevelName(level)))}
                for name, quiet in QUIET.items()
            },
        },
    }
