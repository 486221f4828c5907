"""Benchmark of the audit log (issue 7, item 4): build, export and verify a hash-chained log.

1. ``build``: append N records with ``Chain.append`` (canonical JSON + SHA-256 each), streaming
   them into an export file in a temporary directory.
2. ``verify``: ``verify(read_export(file))`` over that file, i.e. what the offline verifier
   does: parse and check every line, re-hash every record, check every link and the anchor.
   Target: N = 1,000,000 in <= 60 s on 2 cores.
3. The two halves of that time: ``read_export`` alone, and ``verify`` over records already in
   memory (what a verification straight from the database costs above fetching the rows), the
   latter on at most 100,000 records to keep memory small.

Run:  python benchmarks/bench_audit.py [--records 1000000] [--runs 3] [--workdir DIR] [--quick]
Prints a JSON report (medians over the runs). Timings never gate tests.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.audit import AuditRecord, Chain, export, read_export, verify  # noqa: E402

START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
IN_MEMORY_MAX = 100_000


def _records(count: int, spent: list[float], anchor: list[str]) -> Iterator[AuditRecord]:
    """A log with the gateway's event mix; adds the time spent building to ``spent[0]`` and
    leaves the last record's ``seq:hash`` in ``anchor``."""
    chain = Chain()
    for i in range(count):
        package = f"{i:024x}"
        kind = i % 5
        started = time.perf_counter()
        if kind == 0:
            record = chain.append(
                at=START_US + i * 1000,
                event="package.accepted",
                actor="000.00.01.H31",
                subject=package,
                details={
                    "document_id": f"{i}/QĐ-UBND",
                    "subject": "Về việc triển khai liên thông văn bản điện tử năm 2026",
                    "sha256": f"{i:064x}",
                    "signature": "valid",
                    "bytes": 48_213 + i,
                },
            )
        elif kind == 1:
            record = chain.append(
                at=START_US + i * 1000,
                event="relay.attempt",
                actor="gateway",
                subject=package,
                details={"upstream": "vpcp", "attempt": 1 + i % 3, "ok": i % 7 != 0},
            )
        elif kind == 2:
            record = chain.append(
                at=START_US + i * 1000,
                event="delivery.confirmed",
                actor="000.00.12.H31",
                subject=package,
                details={"receiver": "000.00.12.H31"},
            )
        elif kind == 3:
            record = chain.append(
                at=START_US + i * 1000,
                event="status.accepted",
                actor="000.00.12.H31",
                subject=package,
                details={"status": "03", "description": "Đã phân công xử lý", "staff": None},
            )
        else:
            record = chain.append(
                at=START_US + i * 1000,
                event="admin.agency.added",
                actor="operator",
                subject=f"000.{i % 100:02d}.{i % 50:02d}.H31",
                details={"name": "Sở Thông tin và Truyền thông Hải Phòng", "local": True},
            )
        spent[0] += time.perf_counter() - started
        yield record
    anchor[:] = [f"{record.seq}:{record.hash}"]


def _run_times(runs: int, task: Callable[[], object]) -> list[float]:
    """Seconds each of ``runs`` calls of ``task`` took."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        task()
        times.append(time.perf_counter() - started)
    return times


def _machine() -> dict[str, object]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works")
    args = parser.parse_args()
    if args.quick:
        args.records, args.runs = 2_000, 1
    with tempfile.TemporaryDirectory(prefix="edoc-bench-audit-", dir=args.workdir) as tmp:
        path = Path(tmp) / "audit.jsonl"
        spent = [0.0]
        anchor: list[str] = []
        started = time.perf_counter()
        with path.open("wb") as out:
            export(_records(args.records, spent, anchor), out)
        build_and_write = time.perf_counter() - started

        def read_and_verify() -> None:
            with path.open("rb") as stream:
                report = verify(read_export(stream), anchor=anchor[0])
            assert report.ok and report.count == args.records, report.problems[:3]

        verify_times = _run_times(args.runs, read_and_verify)

        def read_only() -> None:
            with path.open("rb") as stream:
                collections.deque(read_export(stream), maxlen=0)

        read_times = _run_times(args.runs, read_only)

        sample = args.records if args.records <= IN_MEMORY_MAX else IN_MEMORY_MAX
        with path.open("rb") as stream:
            records = list(itertools.islice(read_export(stream), sample))
        memory_times = _run_times(args.runs, lambda: verify(records))

        verify_s = statistics.median(verify_times)
        report = {
            "machine": _machine(),
            "records": args.records,
            "runs": args.runs,
            "file_bytes": path.stat().st_size,
            "build_records_per_s": round(args.records / spent[0]),
            "build_and_export_records_per_s": round(args.records / build_and_write),
            "verify_file_s_median": round(verify_s, 2),
            "verify_file_s_runs": [round(t, 2) for t in verify_times],
            "verify_file_records_per_s": round(args.records / verify_s),
            "read_export_only_s_median": round(statistics.median(read_times), 2),
            "verify_in_memory_records": sample,
            "verify_in_memory_records_per_s": round(sample / statistics.median(memory_times)),
            "target": "1,000,000 records in <= 60 s on 2 cores",
            "projected_1m_verify_s": round(verify_s * 1_000_000 / args.records, 1),
            "anchor": anchor[0],
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
