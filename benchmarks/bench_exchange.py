"""Benchmark of the exchange in process: the legacy SendDocument path and a duplicate resend.

Measures, on a fresh SQLite file and a durable blob store (file and directory fsync) on disk:

1. Legacy eDoc SendDocument (a multipart request with two small files, as the Lâm Đồng client
   of reference §5.3 sends it) through the legacy WSGI app, in process (no HTTP): ms per request.
2. A 10 KB SendDocument that is new: ms per call.
3. The same package sent again (a duplicate): ms per call, and the blob files it wrote.

Run:  python benchmarks/bench_exchange.py [--requests 200] [--runs 5]
Comparing two checkouts: run the same file with ``--tree DIR`` set to the other checkout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load(tree: Path) -> Any:
    sys.path.insert(0, str(tree))
    import gateway.exchange as exchange_module
    from gateway.config import Settings
    from gateway.edxml.writer import package_bytes
    from legacy_adapters.edoc_soap.app import make_legacy_app
    from tests.fixtures.packages import build_document
    from tests.integration import test_legacy_edoc as legacy

    assert Path(exchange_module.__file__).is_relative_to(tree), exchange_module.__file__
    return exchange_module, Settings, package_bytes, make_legacy_app, build_document, legacy


def _files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts)


def run(tree: Path, requests: int) -> dict[str, float]:
    exchange_module, Settings, package_bytes, make_legacy_app, build_document, legacy = _load(tree)
    with tempfile.TemporaryDirectory() as work:
        settings = Settings(data_dir=Path(work) / "data")
        exchange = exchange_module.Exchange(settings)
        now = dt.datetime.now(dt.UTC)
        tokens = {}
        for code in (legacy.SENDER, legacy.RECEIVER):
            _record, tokens[code] = exchange.credentials.add_agency(code, code, "", now)
        app = make_legacy_app(exchange, settings)
        parts = [
            ("file1", "application/pdf", legacy.PDF, "binary"),
            ("file2", "application/octet-stream", legacy.DOCX, "binary"),
        ]
        bodies = [
            legacy.multipart(
                legacy.envelope(
                    legacy.MANIFEST, legacy.send_header(None, n, token=tokens[legacy.SENDER])
                ),
                parts,
                "MIMEBoundaryB",
            )
            for n in range(1000, 1000 + requests)
        ]
        statuses: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            statuses.append(status)

        started = time.perf_counter()
        for body in bodies:
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/legacy/edoc",
                "CONTENT_TYPE": legacy.swa_type("MIMEBoundaryB"),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_SOAPACTION": "SendDocument",
                "wsgi.input": io.BytesIO(body),
            }
            reply = b"".join(app(environ, start_response))
            assert b"<edXML:IsSuccess>true" in reply or b"IsSuccess>true<" in reply, reply[:400]
        legacy_ms = (time.perf_counter() - started) * 1000 / requests

        sender, receiver = "000.00.00.G22", "000.00.00.H41"
        for code in (sender, receiver):
            exchange.credentials.add_agency(code, code, "", now)
        packages = [
            package_bytes(
                build_document(exchange.blobs, b"%PDF-1.4 " + bytes(9000) + str(n).encode()),
                exchange.blobs,
            )
            for n in range(requests)
        ]
        started = time.perf_counter()
        for data in packages:
            assert not exchange.send_document(sender, data).duplicate
        fresh_ms = (time.perf_counter() - started) * 1000 / requests
        before = _files(settings.blob_dir)
        started = time.perf_counter()
        for data in packages:
            assert exchange.send_document(sender, data).duplicate
        duplicate_ms = (time.perf_counter() - started) * 1000 / requests
        written = (_files(settings.blob_dir) - before) / requests
        exchange.close()
    return {
        "legacy_send_ms": legacy_ms,
        "fresh_send_ms": fresh_ms,
        "duplicate_ms": duplicate_ms,
        "duplicate_blob_files": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    args = parser.parse_args()
    results = [run(args.tree.resolve(), args.requests) for _ in range(args.runs)]
    for key in results[0]:
        values = [r[key] for r in results]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{key}: median {statistics.median(values):.2f} ({shown})")


if __name__ == "__main__":
    main()
