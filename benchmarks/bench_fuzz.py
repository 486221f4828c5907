"""Benchmark of the fuzz run (issue 16, item 5): how long the slowest case of each target takes.

Runs ``tests/fuzz`` under pytest with ``GATEWAY_FUZZ_SCALE`` and a timings directory, several
times, and reports per target the number of cases and the slowest case's time (median over the
runs, and the worst). Goal: no case over 1 s. The whole run's wall time is reported too (CI's
budget is about 4 minutes per Python version on 2 cores).

Run:  python benchmarks/bench_fuzz.py [--scale 1] [--runs 3] [--workers 2] [--quick]
Prints a JSON report. Timings never gate tests: the fuzz tests' own watchdog only catches hangs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(scale: float, workers: int) -> tuple[float, dict[str, dict[str, float]]]:
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as folder:
        env = {
            **os.environ,
            "GATEWAY_FUZZ_SCALE": str(scale),
            "GATEWAY_FUZZ_TIMINGS": folder,
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz"]
        if workers > 1:
            command += ["-n", str(workers)]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
            raise SystemExit(f"the fuzz run failed (exit {result.returncode})")
        targets = {}
        for path in sorted(Path(folder).glob("*.json")):
            record = json.loads(path.read_text())
            targets[record["target"]] = {
                "cases": record["cases"],
                "slowest_seconds": record["slowest_seconds"],
            }
        return wall, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one tiny run (checks the script)")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.runs, args.workers = 0.002, 1, 1
    walls: list[float] = []
    runs: list[dict[str, dict[str, float]]] = []
    for _ in range(args.runs):
        wall, targets = one_run(args.scale, args.workers)
        walls.append(wall)
        runs.append(targets)
    report: dict[str, object] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "scale": args.scale,
        "runs": args.runs,
        "wall_seconds_median": round(statistics.median(walls), 1),
        "wall_seconds": [round(w, 1) for w in walls],
        "targets": {
            name: {
                "cases": runs[0][name]["cases"],
                "slowest_seconds_median": round(
                    statistics.median(r[name]["slowest_seconds"] for r in runs), 3
                ),
                "slowest_seconds_worst": round(max(r[name]["slowest_seconds"] for r in runs), 3),
            }
            for name in sorted(runs[0])
        },
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
