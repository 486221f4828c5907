"""The benchmark script keeps working (tiny sizes; no timing is asserted, only that it runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_edxml_quick_mode_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_edxml.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["small_disk_blobs"]["packages_per_s_median"] > 0
    assert 9_000 < report["small_disk_blobs"]["package_bytes"] < 11_500
    large = report["large"]
    assert large["attachment_bytes"] == 2 * 1024 * 1024
    assert large["rss_growth_peak_mb_max"] >= 0


@pytest.mark.slow
def test_bench_relay_quick_mode_relays_every_package(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_relay.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["packages"] == 60 and 9_000 < report["package_bytes"] < 11_500
    assert report["packages_per_s_median"] > 0
