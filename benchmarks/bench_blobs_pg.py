"""Benchmark of the PostgreSQL blob backend (issue 12 item 5): a 1 GB attachment in and out.

Each run, in a fresh child process, streams a blob of ``--size-mb`` MiB into
:class:`gateway.store.blobs_pg.PostgresBlobStore` (1 MiB writes, as the edXML reader does, then
``commit``) and reads it back through ``open()`` (1 MiB reads), checking the SHA-256. The child's
RSS is sampled every 5 ms; its peak is compared with its RSS before the work. Targets: peak RSS
growth <= 64 MB, >= 100 MB/s each way. The blob's bytes are a random 1 MiB block with a counter
stamped in each copy, so no two chunks are equal (the column is stored uncompressed anyway).

Run:  python benchmarks/bench_blobs_pg.py [--runs 3] [--size-mb 1024] [--dsn DSN] [--quick]
DSN defaults to $GATEWAY_TEST_POSTGRES_DSN; each run uses a schema of its own, dropped after.
Prints JSON (per run and medians). Timings never gate tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_edxml import _current_rss, _RssSampler  # noqa: E402  (the same RSS sampling)

MiB = 1 << 20


def _child(dsn: str, size_mb: int, scratch: str) -> None:
    from gateway.config import Settings
    from gateway.store import open_store
    from gateway.store.blobs_pg import PostgresBlobStore

    open_store(Settings(data_dir=Path(scratch) / "data", database_dsn=dsn)).close()
    blobs = PostgresBlobStore(dsn, Path(scratch) / "scratch")
    blobs.contains("0" * 64)  # connect before the baseline
    block = bytearray(os.urandom(MiB))
    expected = hashlib.sha256()
    baseline = _current_rss()
    sampler = _RssSampler()
    sampler.start()
    started = time.perf_counter()
    with blobs.writer() as writer:
        for i in range(size_mb):
            block[:8] = i.to_bytes(8, "big")
            piece = bytes(block)
            expected.update(piece)
            writer.write(piece)
        ref = writer.commit()
    written = time.perf_counter()
    got = hashlib.sha256()
    with blobs.open(ref) as stream:
        while piece := stream.read(MiB):
            got.update(piece)
    read = time.perf_counter()
    peak = sampler.stop()
    assert got.hexdigest() == expected.hexdigest() == ref.sha256
    blobs.delete(ref)
    blobs.close()
    size = size_mb * MiB
    print(
        json.dumps(
            {
                "bytes": size,
                "write_s": written - started,
                "read_s": read - written,
                "write_mb_s": size / MiB / (written - started),
                "read_mb_s": size / MiB / (read - written),
                "rss_growth_peak_mb": (peak - baseline) / MiB,
            }
        )
    )


def _schema(dsn: str) -> tuple[str, str]:
    import psycopg

    schema = f"edoc_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in dsn else "?"
    return schema, f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"


def _drop(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--dsn", default=os.environ.get("GATEWAY_TEST_POSTGRES_DSN", ""))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--quick", action="store_true", help="16 MiB, one run")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    if not args.dsn:
        print("error: give --dsn or set GATEWAY_TEST_POSTGRES_DSN", file=sys.stderr)
        return 2
    runs, size_mb = (1, 16) if args.quick else (args.runs, args.size_mb)
    results = []
    for _ in range(runs):
        schema, scoped = _schema(args.dsn)
        try:
            with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", scoped, str(size_mb), scratch],
                    capture_output=True, text=True, check=True,
                ).stdout
            results.append(json.loads(out))
        finally:
            _drop(args.dsn, schema)

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in results)

    print(
        json.dumps(
            {
                "size_mb": size_mb,
                "runs": results,
                "write_mb_s_median": median("write_mb_s"),
                "read_mb_s_median": median("read_mb_s"),
                "rss_growth_peak_mb_median": median("rss_growth_peak_mb"),
                "rss_growth_peak_mb_max": max(float(r["rss_growth_peak_mb"]) for r in results),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
