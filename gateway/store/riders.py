"""Small writes that ride with a request's own durable transaction.

Recording a WS-Security nonce is a write of its own: for a SendDocument it was one of the two
write transactions per request (and, on SQLite, a sync level switched twice). Inside
:func:`riders_aboard` (the SOAP face opens one around an operation that writes), the store
holds such a write instead of running it; the next durable transaction of the same store in
that request runs it first, so a replay rolls the whole accept back and nothing of it is kept.

A held write is done only once its transaction commits. One that no transaction carried
(the operation wrote nothing, or its transaction rolled back) runs alone in :func:`settle`,
which the face calls before it answers, as the write would have run before.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store.engine import Query


@dataclass
class Rider:
    """One held write: what a carrying transaction runs, and the same write on its own."""

    store: object
    within: Callable[[Query], None]
    alone: Callable[[], None]
    done: bool = False


_ABOARD: contextvars.ContextVar[list[Rider] | None] = contextvars.ContextVar(
    "riders_aboard", default=None
)


@contextlib.contextmanager
def riders_aboard() -> Iterator[None]:
    """Hold riders until the block ends; what is still held then runs alone (settle first
    where the outcome must reach the caller)."""
    held: list[Rider] = []
    token = _ABOARD.set(held)
    try:
        yield
    finally:
        _ABOARD.reset(token)
        _run_alone(held)


def board(rider: Rider) -> bool:
    """Hold ``rider`` for its store's next durable transaction; False outside a block (the
    caller writes it now, as it always did)."""
    held = _ABOARD.get()
    if held is None:
        return False
    held.append(rider)
    return True


def waiting(store: object) -> list[Rider]:
    """The riders a durable transaction of ``store`` starting now carries (run them first;
    :func:`arrived` once it commits)."""
    held = _ABOARD.get()
    if not held:
        return []
    return [rider for rider in held if rider.store is store and not rider.done]


def arrived(riders: list[Rider]) -> None:
    """The transaction that carried ``riders`` committed: they are written."""
    for rider in riders:
        rider.done = True


def settle() -> None:
    """Run alone every rider no transaction carried; an error a rider raises (a replay) is
    the request's answer."""
    _run_alone(_ABOARD.get() or [])


def _run_alone(held: list[Rider]) -> None:
    for rider in held:
        if not rider.done:
            rider.done = True
            rider.alone()
