"""Agency records remembered for the length of one request.

A SendDocument asks for the sender's record while authenticating, again while checking the
package's From, and for each recipient while routing: each a read transaction of its own.
Inside :func:`agencies_remembered` (the server opens one per request) the first answer is
kept and reused. Nothing outlives the request, so disabling an agency or rotating its secret
applies to the next request on every node, as before; a change made during the request
forgets the record it changed.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

from gateway.store.records import AgencyRecord

_SEEN: contextvars.ContextVar[dict[tuple[int, str], AgencyRecord | None] | None] = (
    contextvars.ContextVar("agencies_seen", default=None)
)
"""By store (its ``id``: one process may hold several, as the tests do) and agency code."""


@contextlib.contextmanager
def agencies_remembered() -> Iterator[None]:
    """Reuse agency look-ups until the block ends (one request)."""
    token = _SEEN.set({})
    try:
        yield
    finally:
        _SEEN.reset(token)


def recalled(
    store: object, code: str, look_up: Callable[[str], AgencyRecord | None]
) -> AgencyRecord | None:
    """``store``'s record of ``code``: remembered in this request, else looked up (and kept)."""
    seen = _SEEN.get()
    if seen is None:
        return look_up(code)
    key = (id(store), code)
    if key not in seen:
        seen[key] = look_up(code)
    return seen[key]


def forget(store: object, code: str) -> None:
    """A change to ``code``'s record: the next look-up in this request reads it again."""
    seen = _SEEN.get()
    if seen is not None:
        seen.pop((id(store), code), None)
