"""Retry policy and circuit breaker: the decisions the relay worker makes about failures.

Pure logic with an injected clock and random source, so every rule is testable without waiting.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import Settings

SECOND = 1_000_000
"""Microseconds: store times are integers in microseconds (gateway.store.base.to_micros)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, and when to give up.

    Attempt ``n`` (1-based) failed transiently: wait ``min(max, base * 2**(n-1))`` scaled by a
    random factor in ``[1 - jitter, 1 + jitter]`` (so many items failing together do not all
    come back at once). After ``max_attempts`` attempts, or ``max_age_seconds`` after the item
    was queued, it becomes a dead letter.
    """

    base_seconds: float = 5.0
    max_seconds: float = 900.0
    jitter: float = 0.2
    max_attempts: int = 20
    max_age_seconds: float = 72 * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_seconds=float(settings.relay_backoff_base_seconds),
            max_seconds=float(settings.relay_backoff_max_seconds),
            max_attempts=settings.relay_max_attempts,
            max_age_seconds=settings.relay_max_age_hours * 3600.0,
        )

    def nominal_delay(self, attempt: int) -> float:
        """The delay before jitter after ``attempt`` failed attempts (seconds)."""
        exponent = min(max(attempt - 1, 0), 62)
        return min(self.max_seconds, self.base_seconds * 2.0**exponent)

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        """The jittered delay; ``rand`` returns a float in ``[0, 1)``."""
        factor = 1.0 - self.jitter + 2.0 * self.jitter * rand()
        return self.nominal_delay(attempt) * factor

    def give_up(self, attempts: int, queued_at: int, now: int) -> str:
        """Why an item should stop being retried, or empty to keep trying."""
        if attempts >= self.max_attempts:
            return f"gave up after {attempts} attempts (relay_max_attempts)"
        age = (now - queued_at) / SECOND
        if age >= self.max_age_seconds:
            return f"gave up after {age / 3600:.1f} hours in the outbox (relay_max_age_hours)"
        return ""


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Stops sending to an upstream that keeps failing, and probes it again after a cool-down.

    Closed: sends flow; ``threshold`` consecutive transient failures open it. Open: nothing is
    sent until ``cooldown_seconds`` have passed; then it is half-open and lets one probe through.
    The probe's success closes it; its failure opens it again for another cool-down.
    A permanent refusal counts as success here: the upstream answered.
    """

    def __init__(self, threshold: int, cooldown_seconds: float) -> None:
        self.threshold = threshold
        self.cooldown = int(cooldown_seconds * SECOND)
        self.failures = 0
        self.opened_at = 0
        self._state = CircuitState.CLOSED

    def state(self, now: int) -> CircuitState:
        if self._state is CircuitState.OPEN and now - self.opened_at >= self.cooldown:
            self._state = CircuitState.HALF_OPEN
        return self._state

    def allowance(self, now: int, batch: int) -> int:
        """How many sends may be tried now: ``batch`` closed, 1 half-open, 0 open."""
        state = self.state(now)
        if state is CircuitState.OPEN:
            return 0
        return 1 if state is CircuitState.HALF_OPEN else batch

    def success(self) -> None:
        self.failures = 0
        self._state = CircuitState.CLOSED

    def failure(self, now: int) -> None:
        self.failures += 1
        if self._state is CircuitState.HALF_OPEN or self.failures >= self.threshold:
            self._state = CircuitState.OPEN
            self.opened_at = now
