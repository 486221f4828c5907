"""What operations costs on a store with many packages: one ``health`` check, one ``/metrics``
scrape (the store's gauges), and ``backup`` / ``restore`` (time, archive size).

    python benchmarks/bench_ops.py --packages 20000 --runs 5 --workdir /work/bench-tmp
    python benchmarks/bench_ops.py --quick

Rows go straight into the store (each package with its own 4 KB blob, a local delivery, every
tenth one queued for an upstream), so the figures are about the operations, not about intake.
Prints JSON: medians of ``--runs`` runs, and every run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.admin.backup import backup, restore  # noqa: E402
from gateway.admin.metrics import StoreCollector, exposition  # noqa: E402
from gateway.config import Settings, UpstreamSettings  # noqa: E402
from gateway.exchange import Exchange  # noqa: E402
from gateway.health import check  # noqa: E402
from gateway.store import open_blobs, open_store  # noqa: E402
from gateway.store.base import NewOutbound, NewPackage, to_micros  # noqa: E402


def _fill(settings: Settings, count: int) -> None:
    Exchange(settings).close()  # keys, signing pair, schema
    store, blobs = open_store(settings), open_blobs(settings)
    now = to_micros(dt.datetime.now(dt.UTC))
    try:
        for number in range(count):
            data = hashlib.sha256(str(number).encode()).digest() * 128  # 4 KB, distinct
            ref = blobs.put_bytes(data)
            store.accept(
                NewPackage(
                    package_id=f"p-{number}",
                    kind="document",
                    sender="000.00.01.H53",
                    document_id=f"000.00.01.H53,2024/03/05,{number}/UBND-VP",
                    dedupe_key=f"key-{number}",
                    content_sha256=ref.sha256,
                    blob_sha256=ref.sha256,
                    size=len(data),
                    received_at=now - (count - number) * 1000,
                    summary_json="{}",
                    warnings_json="[]",
                    recipients=("000.00.32.H53",),
                    outbound=(
                        NewOutbound("national", ("000.00.99.H99",), f"d-{number}", ref.sha256, 10),
                    )
                    if number % 10 == 0
                    else (),
                )
            )
    finally:
        store.close()


def _timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.packages, args.runs = 200, 2
    root = Path(tempfile.mkdtemp(prefix="bench-ops-", dir=args.workdir))
    try:
        upstream = UpstreamSettings(name="national", protocol="vxp", endpoint="http://127.0.0.1:9")
        settings = Settings(data_dir=root / "data", upstreams=(upstream,))
        fill = _timed(lambda: _fill(settings, args.packages))
        health, scrape, backups, restores = [], [], [], []
        collector = StoreCollector(settings)
        exposition(collector)  # certificates read once (then every 5 min)
        size = 0
        for run in range(args.runs):
            health.append(_timed(lambda: check(settings)))
            scrape.append(_timed(lambda: exposition(collector)))
            archive = root / f"backup-{run}.tar"
            backups.append(_timed(lambda archive=archive: backup(settings, archive)))
            size = archive.stat().st_size
            target = replace_dir(settings, root / f"restored-{run}")
            restores.append(_timed(lambda archive=archive, target=target: restore(archive, target)))
            archive.unlink()
            shutil.rmtree(target.data_dir)
        collector.close()
        report = {
            "packages": args.packages,
            "fill_seconds": round(fill, 2),
            "health_ms_median": round(statistics.median(health) * 1000, 1),
            "scrape_ms_median": round(statistics.median(scrape) * 1000, 1),
            "backup_s_median": round(statistics.median(backups), 2),
            "restore_s_median": round(statistics.median(restores), 2),
            "archive_mb": round(size / 1e6, 1),
            "runs": {
                "health_ms": [round(x * 1000, 1) for x in health],
                "scrape_ms": [round(x * 1000, 1) for x in scrape],
                "backup_s": [round(x, 2) for x in backups],
                "restore_s": [round(x, 2) for x in restores],
            },
        }
        print(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def replace_dir(settings: Settings, data_dir: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, data_dir=data_dir, upstreams=())


if __name__ == "__main__":
    sys.exit(main())
