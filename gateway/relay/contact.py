"""Contact outcomes with each upstream, written for health checks without a write per call.

The worker (every send) and the poller (every listing and fetch) report here; a row is written
when an upstream's outcome flips (up to down or back) and otherwise at most every
``every_seconds``, so a poll every two seconds against a dead upstream costs one write a
quarter-minute, and ``health`` still sees how long it has been down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.errors import PermanentRelayError, RelayError
from gateway.store.base import OperationsStore

log = logging.getLogger(__name__)
SECOND = 1_000_000


class ContactRecorder:
    def __init__(
        self, store: OperationsStore, clock: Callable[[], int], *, every_seconds: float = 15.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.every = int(every_seconds * SECOND)
        self._last: dict[tuple[str, bool], tuple[bool, int]] = {}
        self._up: dict[str, bool] = {}
        """Each upstream's last outcome (a flip is written and logged at once)."""
        self._lock = threading.Lock()

    def ok(self, upstream: str, *, polled: bool = False) -> None:
        self._record(upstream, True, "", polled)

    def failed(self, upstream: str, error: str) -> None:
        self._record(upstream, False, error, False)

    def answered(self, upstream: str, exc: RelayError) -> None:
        """A failed call: a permanent refusal is an answer (the upstream is up), the rest is
        a failed contact."""
        if isinstance(exc, PermanentRelayError):
            self.ok(upstream)
        else:
            self.failed(upstream, f"{exc.code}: {exc}")

    def _record(self, upstream: str, ok: bool, error: str, polled: bool) -> None:
        now = self.clock()
        key = (upstream, polled)  # a busy worker never starves the poller's last_poll_at
        with self._lock:
            was = self._up.get(upstream)
            previous = self._last.get(key)
            if (
                was == ok
                and previous is not None
                and previous[0] == ok
                and now - previous[1] < self.every
            ):
                return
            self._last[key] = (ok, now)
            self._up[upstream] = ok
        if was is not None and was != ok:
            if ok:
                log.info("upstream %s answers again", upstream, extra={"upstream": upstream})
            else:
                log.warning(
                    "upstream %s stopped answering: %s",
                    upstream,
                    error,
                    extra={"upstream": upstream},
                )
        try:
            self.store.record_upstream_contact(upstream, ok, now, error, polled=polled)
        except Exception:  # health bookkeeping must never stop a send or a poll
            log.warning("could not record contact with %s", upstream, exc_info=True)
            with self._lock:
                self._last.pop(key, None)
