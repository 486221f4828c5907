"""The benchmark script keeps working (tiny sizes; no timing is asserted, only that it runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _report(tmp_path: Path, script: str, *arguments: str, timeout: float = 300) -> Any:
    """Run ``benchmarks/script`` with ``arguments`` in ``tmp_path``; its JSON report."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_bench_edxml_quick_mode_reports_every_figure(tmp_path: Path) -> None:
    report = _report(tmp_path, "bench_edxml.py", "--quick")
    assert report["small_disk_blobs"]["packages_per_s_median"] > 0
    assert 9_000 < report["small_disk_blobs"]["package_bytes"] < 11_500
    large = report["large"]
    assert large["attachment_bytes"] == 2 * 1024 * 1024
    assert large["rss_growth_peak_mb_max"] >= 0


@pytest.mark.slow
def test_bench_relay_quick_mode_relays_every_package(tmp_path: Path) -> None:
    report = _report(tmp_path, "bench_relay.py", "--quick")
    assert report["packages"] == 60 and 9_000 < report["package_bytes"] < 11_500
    assert report["packages_per_s_median"] > 0


def _quick(tmp_path: Path, script: str) -> dict[str, object]:
    from tests.conftest import _postgres_dsn

    return _report(tmp_path, script, "--quick", "--dsn", _postgres_dsn(), timeout=600)


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_blobs_pg_quick_mode_round_trips_the_blob(tmp_path: Path) -> None:
    report = _quick(tmp_path, "bench_blobs_pg.py")
    [run] = report["runs"]  # type: ignore[misc]
    assert run["bytes"] == 16 * 1024 * 1024 and run["rss_growth_peak_mb"] >= 0


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_purge_quick_mode_purges_every_package(tmp_path: Path) -> None:
    report = _quick(tmp_path, "bench_purge.py")
    assert report["packages"] == report["purged"] == 2000
    assert report["intake_during_purge"]["n"] > 0  # type: ignore[index]


def test_bench_hot_path_compares_each_old_variant_with_the_current_one(tmp_path: Path) -> None:
    """A few blocks only: the script checks that old and new give the same output before it
    times them, so it fails when the two ways drift apart."""
    report = _report(tmp_path, "bench_hot_path.py", "--blocks", "2", "--calls", "5")
    assert set(report) == {"sign_receipt", "log_timestamp", "counter_inc"}
    for figures in report.values():
        assert figures["old_us"] > 0 and figures["new_us"] > 0
