"""The HTTP messages a run exchanges, kept so a failure can show what was sent and answered."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

SHOW_BYTES = 2000
"""How much of a request or response a report shows (head and tail) when it is longer."""


@dataclass(slots=True)
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    """At most the first and last part of a large body (see :func:`clip`)."""
    request_size: int
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    response_size: int = 0
    error: str = ""
    """A transport error (refused, reset, timeout) instead of a response."""
    response_full: bytes = field(default=b"", repr=False)
    """The whole response, for the caller only: the log keeps a clipped copy without it."""


def clip(data: bytes, limit: int = SHOW_BYTES) -> bytes:
    """Head and tail of ``data`` with the number of bytes left out between them."""
    if len(data) <= limit:
        return data
    half = limit // 2
    return data[:half] + b"\n... [%d bytes left out] ...\n" % (len(data) - limit) + data[-half:]


class ExchangeLog:
    """Every exchange of a run, in order; the runner slices it per assertion."""

    def __init__(self, keep: int = 64 * SHOW_BYTES) -> None:
        self.items: list[Exchange] = []
        self.keep = keep

    def record(self, exchange: Exchange) -> Exchange:
        """Keep a clipped copy; the caller goes on using ``exchange`` itself."""
        self.items.append(
            replace(
                exchange,
                request_body=clip(exchange.request_body, self.keep),
                response_body=clip(exchange.response_body, self.keep),
                response_full=b"",
            )
        )
        return exchange

    def mark(self) -> int:
        return len(self.items)

    def since(self, mark: int) -> list[Exchange]:
        return self.items[mark:]
