"""Benchmark of the retention purge (issue 12 item 5): purging a large store while intake runs.

A fresh PostgreSQL schema gets ``--packages`` confirmed document packages (rows made in bulk with
``generate_series``: package, confirmed delivery, three ``package_blobs`` rows each), all past
retention. Then, in one process:

1. intake alone: a thread accepts packages (``SqlStore.accept``: package, delivery, audit
   record, one transaction) for ``--seconds`` and records each accept's latency;
2. intake during the purge: the same thread runs while the main thread purges every package
   (``run_retention``, batches of 500), until the purge ends.

Reported: purge time and rate, the purge process's peak RSS growth (sampled every 5 ms), intake
p50/p99 alone and during the purge. Targets: bounded memory, intake p99 during <= 2x alone.

Run:  python benchmarks/bench_purge.py [--packages 1000000] [--seconds 20] [--dsn DSN]
      python benchmarks/bench_purge.py --quick   # 2,000 packages: checks the script works
Prints JSON. Timings never gate tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.store import open_store  # noqa: E402
from gateway.store.base import NewPackage  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402
from gateway.store.retention import run_retention  # noqa: E402

MiB = 1 << 20
RECEIVED = 1_700_000_000_000_000  # Nov 2023: long past any retention


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _fill(dsn: str, count: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(
            "INSERT INTO packages (id, kind, sender, document_id, dedupe_key, content_sha256,"
            " blob_sha256, size, received_at, summary_json, warnings_json, receipt_sha256)"
            " SELECT 'bench-' || g, 'document', '000.00.00.G22', 'doc-' || g, 'key-' || g,"
            " md5(g::text) || md5(g::text), md5(g::text) || md5('b' || g), 10000,"
            " %s + g, '{}', '[]', md5('r' || g) || md5('r' || g)"
            " FROM generate_series(1, %s) g",
            (RECEIVED, count),
        )
        c.execute(
            "INSERT INTO deliveries (package_id, recipient, kind, state, created_at, done_at)"
            " SELECT 'bench-' || g, '000.00.00.H41', 'document', 'confirmed', %s, %s"
            " FROM generate_series(1, %s) g",
            (RECEIVED, RECEIVED, count),
        )
        c.execute(
            "INSERT INTO package_blobs (package_id, blob_sha256)"
            " SELECT p.id, x.b FROM packages p CROSS JOIN LATERAL (VALUES (p.blob_sha256),"
            " (p.receipt_sha256), (md5(p.id) || md5('a' || p.id))) AS x(b)"
            " WHERE p.id LIKE 'bench-%%'"
        )
        c.execute("ANALYZE")


def _intake(store: object, stop: threading.Event, latencies: list[float]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        pid = f"intake-{uuid.uuid4().hex}"
        package = NewPackage(
            package_id=pid, kind="document", sender="000.00.00.G22", document_id=pid,
            dedupe_key=pid, content_sha256="c" * 64, blob_sha256="d" * 64, size=10_000,
            received_at=time.time_ns() // 1000, summary_json="{}", warnings_json="[]",
            recipients=("000.00.00.H41",),
        )
        started = time.perf_counter()
        store.accept(package)  # type: ignore[attr-defined]
        latencies.append(time.perf_counter() - started)
        time.sleep(0.005)  # a steady trickle, not a flood


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--dsn", default=os.environ.get("GATEWAY_TEST_POSTGRES_DSN", ""))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not args.dsn:
        print("error: give --dsn or set GATEWAY_TEST_POSTGRES_DSN", file=sys.stderr)
        return 2
    count, seconds = (2000, 2.0) if args.quick else (args.packages, args.seconds)
    import psycopg

    schema = f"edoc_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in args.dsn else "?"
    dsn = f"{args.dsn}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            settings = Settings(
                data_dir=Path(scratch), database_dsn=dsn, retention_document_days=30
            )
            store = open_store(settings)
            started = time.perf_counter()
            _fill(dsn, count)
            fill_s = time.perf_counter() - started
            blobs = FileBlobStore(Path(scratch) / "blobs", durable=False)

            alone: list[float] = []
            stop = threading.Event()
            intake = threading.Thread(target=_intake, args=(store, stop, alone))
            intake.start()
            time.sleep(seconds)
            stop.set()
            intake.join()

            during: list[float] = []
            stop = threading.Event()
            baseline, peak = _rss(), _rss()
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _rss())
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            intake = threading.Thread(target=_intake, args=(store, stop, during))
            intake.start()
            started = time.perf_counter()
            now = time.time_ns() // 1000
            report = run_retention(store, blobs, settings, now, collect=False)
            purge_s = time.perf_counter() - started
            stop.set()
            intake.join()
            done.set()
            sampler.join()
            store.close()
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(
        json.dumps(
            {
                "packages": count,
                "fill_s": fill_s,
                "purged": report.purged["document"],
                "purge_s": purge_s,
                "purge_per_s": report.purged["document"] / purge_s,
                "rss_growth_peak_mb": (peak - baseline) / MiB,
                "intake_alone": {
                    "n": len(alone),
                    "p50_ms": statistics.median(alone) * 1000,
                    "p99_ms": _percentile(alone, 0.99),
                },
                "intake_during_purge": {
                    "n": len(during),
                    "p50_ms": statistics.median(during) * 1000,
                    "p99_ms": _percentile(during, 0.99),
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
