"""Benchmark of the edXML core (issue 2 targets).

1. ``small``: parse + validate + write of ~10 KB document packages, one core, one process.
   Each package is distinct (own attachment bytes), so blob writes are real, not deduplicated.
   Target: >= 2,000 packages/s.
2. ``large``: a package with a 1 GB attachment read (streamed into the blob store) and written
   back (streamed out of it), in a child process whose peak RSS is compared with its RSS before
   the work. Targets: peak RSS growth <= 64 MB, >= 150 MB/s.

Run:  python benchmarks/bench_edxml.py [--runs 5] [--size-mb 1024] [--workdir DIR] [--quick]
Prints a Markdown table to paste into BENCHMARKS.md. Timings never gate tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.edxml.model import Attachment, DocumentPackage, ManifestReference  # noqa: E402
from gateway.edxml.reader import read_package  # noqa: E402
from gateway.edxml.validate import validate  # noqa: E402
from gateway.edxml.writer import package_bytes, write_package  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402

EXAMPLE = ROOT / "gateway" / "examples" / "quickstart-document.edxml"


def _ten_kb_packages(count: int, store: FileBlobStore) -> list[bytes]:
    """Distinct ~10 KB packages: the bundled example with a fresh 3.7 KB PDF-like attachment."""
    base = read_package(EXAMPLE, store)
    assert isinstance(base, DocumentPackage)
    packages = []
    for i in range(count):
        ref = store.put_bytes(b"%PDF-1.4\n" + os.urandom(3700))
        attachment = dataclasses.replace(
            base.attachments[0], content_id=f"att-{i}", encoded=ref, file=ref, file_kind="pdf"
        )
        reference = dataclasses.replace(base.references[0], content_id=f"att-{i}")
        pkg = dataclasses.replace(base, attachments=(attachment,), references=(reference,))
        packages.append(package_bytes(pkg, store))
    return packages


def bench_small(runs: int, count: int, workdir: Path, durable: bool) -> dict[str, object]:
    rates, sizes = [], []
    stages: dict[str, list[float]] = {"read_us": [], "validate_us": [], "write_us": []}
    for run in range(runs):
        store = FileBlobStore(workdir / f"small-{run}-{durable}", durable=durable)
        packages = _ten_kb_packages(count, store)
        sizes.append(statistics.mean(len(p) for p in packages))
        spent = dict.fromkeys(stages, 0.0)
        started = time.perf_counter()
        for data in packages:
            t0 = time.perf_counter()
            pkg = read_package(data, store)
            t1 = time.perf_counter()
            findings = validate(pkg)
            t2 = time.perf_counter()
            package_bytes(pkg, store)
            t3 = time.perf_counter()
            spent["read_us"] += t1 - t0
            spent["validate_us"] += t2 - t1
            spent["write_us"] += t3 - t2
            assert not any(f.is_error for f in findings), findings
        elapsed = time.perf_counter() - started
        rates.append(count / elapsed)
        for key, total in spent.items():
            stages[key].append(total / count * 1e6)
    return {
        "packages_per_s_median": statistics.median(rates),
        "runs": [round(r) for r in rates],
        "package_bytes": round(statistics.mean(sizes)),
        "durable": durable,
        **{key: round(statistics.median(values)) for key, values in stages.items()},
    }


def _make_large_file(path: Path, size: int, workdir: Path) -> None:
    store = FileBlobStore(workdir / "large-src", durable=False)
    writer = store.writer()
    writer.write(b"%PDF-1.7\n")
    remaining = size - 9
    block = os.urandom(1 << 20)
    while remaining > 0:
        piece = block[: min(remaining, len(block))]
        writer.write(piece)
        remaining -= len(piece)
    ref = writer.commit()
    base = read_package(EXAMPLE, store)
    assert isinstance(base, DocumentPackage)
    attachment: Attachment = dataclasses.replace(base.attachments[0], encoded=ref, file=ref)
    reference: ManifestReference = base.references[0]
    pkg = dataclasses.replace(base, attachments=(attachment,), references=(reference,))
    with path.open("wb") as out:
        write_package(pkg, out, store)
    store.delete(ref)


def _current_rss() -> int:
    """Resident set size now, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class _RssSampler(threading.Thread):
    """Samples the current RSS every 5 ms; ``peak`` is the highest value seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _current_rss()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _current_rss())
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, _current_rss())


def _child_large(path: str, workdir: str) -> None:
    """Runs in a child process: read then write, report times and RSS growth over a baseline."""
    store = FileBlobStore(Path(workdir) / "large-dst", durable=False)
    read_package(EXAMPLE, store)  # warm imports and caches before the baseline
    baseline = _current_rss()
    sampler = _RssSampler()
    sampler.start()
    started = time.perf_counter()
    pkg = read_package(path, store)
    read_s = time.perf_counter() - started
    after_read_peak = sampler.peak
    assert isinstance(pkg, DocumentPackage) and not pkg.errors, pkg.errors
    size = pkg.attachments[0].file.size
    out_path = Path(workdir) / "large-rewritten.edxml"
    started = time.perf_counter()
    with out_path.open("wb") as out:
        write_package(pkg, out, store)
    write_s = time.perf_counter() - started
    peak = sampler.stop()
    store.delete(pkg.attachments[0].encoded)
    out_path.unlink()
    print(
        json.dumps(
            {
                "attachment_bytes": size,
                "read_s": read_s,
                "write_s": write_s,
                "read_mb_s": size / read_s / 1e6,
                "write_mb_s": size / write_s / 1e6,
                "rss_baseline_mb": baseline / 2**20,
                "rss_growth_read_mb": (after_read_peak - baseline) / 2**20,
                "rss_growth_peak_mb": (peak - baseline) / 2**20,
                "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def bench_large(runs: int, size_mb: int, workdir: Path) -> dict[str, object]:
    source = workdir / "large.edxml"
    _make_large_file(source, size_mb * 1024 * 1024, workdir)
    results = []
    for _ in range(runs):
        child = subprocess.run(
            [sys.executable, __file__, "--child-large", str(source), str(workdir)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    source.unlink()

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in results)

    return {
        "attachment_bytes": results[0]["attachment_bytes"],
        "read_mb_s_median": median("read_mb_s"),
        "write_mb_s_median": median("write_mb_s"),
        "rss_growth_peak_mb_median": median("rss_growth_peak_mb"),
        "rss_growth_peak_mb_max": max(float(r["rss_growth_peak_mb"]) for r in results),
        "runs": results,
    }


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works")
    parser.add_argument("--only", choices=["small", "large"], default=None)
    parser.add_argument(
        "--child-large", nargs=2, metavar=("FILE", "WORKDIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child_large:
        _child_large(*args.child_large)
        return
    if args.quick:
        args.runs, args.packages, args.size_mb = 1, 20, 2
    with tempfile.TemporaryDirectory(prefix="edoc-bench-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        report: dict[str, object] = {"machine": _machine()}
        if args.only in (None, "small"):
            shm = Path("/dev/shm")
            if shm.is_dir() and os.access(shm, os.W_OK):
                with tempfile.TemporaryDirectory(prefix="edoc-bench-", dir=shm) as ram:
                    report["small_tmpfs_blobs"] = bench_small(
                        args.runs, args.packages, Path(ram), False
                    )
            report["small_disk_blobs"] = bench_small(args.runs, args.packages, workdir, False)
            report["small_disk_blobs_fsync"] = bench_small(
                args.runs, max(args.packages // 4, 10), workdir, True
            )
        if args.only in (None, "large"):
            report["large"] = bench_large(args.runs, args.size_mb, workdir)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
