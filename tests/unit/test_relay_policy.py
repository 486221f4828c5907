"""Retry policy (backoff growth, jitter bounds, giving up) and the circuit breaker."""

from __future__ import annotations

import random

import pytest

from gateway.relay.outbox import SECOND, CircuitBreaker, CircuitState, RetryPolicy


def test_backoff_doubles_until_the_cap() -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=300, jitter=0.2)
    assert [policy.nominal_delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert policy.nominal_delay(10_000) == 300  # no overflow for absurd attempt counts


@pytest.mark.parametrize("attempt", [1, 3, 7, 12])
def test_jitter_stays_within_its_bounds_and_spreads(attempt: int) -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=900, jitter=0.2)
    nominal = policy.nominal_delay(attempt)
    rng = random.Random(attempt)
    delays = [policy.delay(attempt, rng.random) for _ in range(2000)]
    assert all(0.8 * nominal <= d <= 1.2 * nominal for d in delays)
    assert max(delays) - min(delays) > 0.3 * nominal  # really jittered, not constant
    assert policy.delay(attempt, lambda: 0.0) == pytest.approx(0.8 * nominal)
    assert policy.delay(attempt, lambda: 0.999999) == pytest.approx(1.2 * nominal, rel=1e-5)


def test_give_up_after_attempts_or_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=3600)
    assert policy.give_up(2, 0, 10 * SECOND) == ""
    assert "3 attempts" in policy.give_up(3, 0, 10 * SECOND)
    assert "hours" in policy.give_up(1, 0, 3600 * SECOND)


def test_circuit_opens_after_consecutive_failures_and_probes_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_seconds=60)
    now = 1_000 * SECOND
    assert breaker.allowance(now, 20) == 20
    breaker.failure(now)
    breaker.failure(now)
    breaker.success()  # not consecutive any more
    breaker.failure(now)
    breaker.failure(now)
    assert breaker.state(now) is CircuitState.CLOSED
    breaker.failure(now)
    assert breaker.state(now) is CircuitState.OPEN
    assert breaker.allowance(now + 59 * SECOND, 20) == 0
    assert breaker.allowance(now + 60 * SECOND, 20) == 1  # half-open: one probe
    assert breaker.state(now + 60 * SECOND) is CircuitState.HALF_OPEN
    breaker.failure(now + 61 * SECOND)  # the probe failed: open for another cool-down
    assert breaker.allowance(now + 100 * SECOND, 20) == 0
    assert breaker.allowance(now + 121 * SECOND, 20) == 1
    breaker.success()  # the probe succeeded: closed
    assert breaker.allowance(now + 122 * SECOND, 20) == 20
