"""The Prometheus instruments the rooms update as work happens (counters and histograms).

Gauges that describe the store (backlog, outbox depth, the oldest undelivered package, dead
letters, certificate expiry) are not kept here: ``gateway.admin.metrics`` reads them from the
database at scrape time, so every node and worker reports the same truth.

Several processes (gunicorn workers, the relay child) share one set of numbers through
prometheus_client's multiprocess mode: :func:`use_directory` points it at a directory before any
value exists (every instrument has labels, so no value is created at import time), and the
``/metrics`` handler merges the files of every process. Names and meanings are a contract,
listed in ``docs/metrics.md`` and checked by a test.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import Counter, Histogram, values

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

REQUESTS = Counter(
    "gateway_requests",
    "Requests answered, by face, operation, outcome (ok, refused, error) and error code",
    ["face", "operation", "outcome", "code"],
)
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds",
    "Time to answer a request, by face and operation",
    ["face", "operation"],
    buckets=_LATENCY_BUCKETS,
)
PACKAGES_ACCEPTED = Counter(
    "gateway_packages_accepted",
    "Packages accepted and stored (duplicates excluded), by kind and origin (client or upstream)",
    ["kind", "origin"],
)
SIGNATURE_VERDICTS = Counter(
    "gateway_signature_verdicts",
    "Signature verdicts on accepted packages, by result (valid, invalid, absent, ...)",
    ["result"],
)
RELAY_ATTEMPTS = Counter(
    "gateway_relay_attempts",
    "Outbox send attempts, by upstream and outcome (sent, retry, dead, lost)",
    ["upstream", "outcome"],
)
POLLED = Counter(
    "gateway_poller_items",
    "Items the inbound poller handled, by upstream and outcome "
    "(accepted, duplicate, refused, deferred)",
    ["upstream", "outcome"],
)
STORE_COMMIT_SECONDS = Histogram(
    "gateway_store_commit_seconds",
    "Time of a durable write transaction in the store, by engine",
    ["engine"],
    buckets=_COMMIT_BUCKETS,
)


def use_directory(directory: Path) -> Path:
    """Share values through ``directory`` (this process and the ones it starts): call it before
    anything is counted; the files of a previous run there are removed.

    ``PROMETHEUS_MULTIPROC_DIR``, when set, wins and is left as it is: its owner (systemd's
    ``RuntimeDirectory``, emptied at boot) may share it with a relay that is running already.
    """
    given = os.environ.get(MULTIPROC_VARIABLE)
    chosen = Path(given or directory)
    chosen.mkdir(parents=True, exist_ok=True)
    if not given:
        for stale in chosen.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROC_VARIABLE] = str(chosen)
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        process_identifier=_process_id
    )
    return chosen


_pid = os.getpid()


def _remember_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_remember_pid)


def _process_id() -> int:
    """This process's id, kept since the last fork: prometheus_client asks for it on every
    update (to notice a fork), and ``os.getpid`` is a system call, several per request."""
    return _pid


def multiprocess_directory() -> Path | None:
    found = os.environ.get(MULTIPROC_VARIABLE)
    return Path(found) if found else None


def process_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's ``child_exit``); its counts stay."""
    if multiprocess_directory() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
