"""Response helpers shared by the faces: whole bodies with their length, plain-text answers, and
the plain-HTTP form of a refusal (its status, and ``Retry-After`` when the caller may retry)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from gateway.errors import HttpRefusal

StartResponse = Callable[..., Any]


def status_line(status: int) -> str:
    """``413 Request Entity Too Large`` for ``413``: the reason phrase HTTP gives the code."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


def send_bytes(
    respond: StartResponse,
    status: int,
    content_type: str,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Answer ``body`` whole, with its Content-Type and Content-Length."""
    respond(
        status_line(status),
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


def send_text(
    respond: StartResponse,
    status: int,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """A one-line plain-text answer (for HTTP-level mistakes, before any dialect is known)."""
    body = (message.rstrip("\n") + "\n").encode()
    return send_bytes(respond, status, "text/plain; charset=utf-8", body, headers)


def refusal_headers(refusal: HttpRefusal) -> list[tuple[str, str]]:
    """The headers a refusal carries whatever its body: ``Retry-After`` for a busy one."""
    if refusal.retry_after is None:
        return []
    return [("Retry-After", str(refusal.retry_after))]


def send_refusal(respond: StartResponse, refusal: HttpRefusal) -> list[bytes]:
    """A refusal as plain HTTP: its status, its code and sentence as text."""
    return send_text(
        respond, refusal.status, f"{refusal.code}: {refusal.message}", refusal_headers(refusal)
    )


__all__ = [
    "StartResponse",
    "refusal_headers",
    "send_bytes",
    "send_refusal",
    "send_text",
    "status_line",
]
