"""Per-call cost of small pieces of SendDocument's path, the old way and the current way,
interleaved in one process (issue 12 item 5: "say what each change bought").

A change worth 1-3 % of a request is below what ``bench_accept.py`` can resolve on a VM whose
speed drifts by 20 % within minutes. Here the two variants alternate in blocks of calls, so
both see the same machine, and the median block gives the cost per call:

- the receipt's signature: signxml building ``KeyInfo`` from the certificate chain on every
  call (``cert=``), against the ``KeyInfo`` a :class:`SigningKey` builds once (``key_info=``);
- a log line's timestamp: a ``datetime`` formatted in full, against the per-second prefix;
- a Prometheus counter increment in multiprocess mode: ``os.getpid`` on every update, against
  the process id kept since the last fork.

Run:  python benchmarks/bench_hot_path.py [--blocks 15] [--calls 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ab(
    old: Callable[[], object], new: Callable[[], object], blocks: int, calls: int
) -> dict[str, float]:
    """Median microseconds per call of each variant, blocks alternating (order flips each
    time so neither always runs second)."""
    times: dict[str, list[float]] = {"old": [], "new": []}
    for block in range(blocks):
        pair = [("old", old), ("new", new)]
        for label, variant in pair if block % 2 == 0 else pair[::-1]:
            started = time.perf_counter()
            for _ in range(calls):
                variant()
            times[label].append((time.perf_counter() - started) * 1e6 / calls)
    old_us, new_us = statistics.median(times["old"]), statistics.median(times["new"])
    return {
        "old_us": round(old_us, 2),
        "new_us": round(new_us, 2),
        "saved_us": round(old_us - new_us, 2),
    }


def _signing(workdir: Path, blocks: int, calls: int) -> dict[str, float]:
    from lxml import etree
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    from gateway.security.keys import _generate
    from gateway.security.receipts import build_receipt
    from gateway.security.signatures import PLACEHOLDER, SigningKey, _Signer, sign_enveloped

    _generate("bench", workdir / "key.pem", workdir / "cert.pem")
    key = SigningKey.from_files(workdir / "key.pem", workdir / "cert.pem")
    receipt = build_receipt(
        "8f6f3f1e-0000-4000-8000-000000000000",
        "000.00.00.G01",
        "000.00.00.G01,2026/12/04,1/VPCP",
        "0" * 64,
        dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC),
        "gateway-bench",
    )

    def staged() -> etree._Element:
        root = etree.fromstring(receipt)
        root.append(etree.fromstring(PLACEHOLDER))
        return root

    def old() -> object:
        return _Signer(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        ).sign(staged(), key=key.private_key, cert=list(key.certificates))

    def new() -> object:
        return sign_enveloped(staged(), key)

    if etree.tostring(old()) != etree.tostring(new()[0]):  # type: ignore[arg-type,index]
        raise RuntimeError("the two signing paths no longer give the same receipt")
    return _ab(old, new, blocks, calls)


def _timestamp(blocks: int, calls: int) -> dict[str, float]:
    from gateway import logs

    record = logging.makeLogRecord({"created": time.time()})

    def old() -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    if old() != logs._timestamp(record):
        raise RuntimeError("the cached timestamp differs from the full formatting")
    return _ab(old, lambda: logs._timestamp(record), blocks, calls * 20)


def _counter(workdir: Path, blocks: int, calls: int) -> dict[str, float]:
    from prometheus_client import Counter, values

    from gateway import instruments

    instruments.use_directory(workdir / "metrics")
    cached = Counter("bench_cached", "current", ["face"]).labels("soap")
    values.ValueClass = values.MultiProcessValue(process_identifier=os.getpid)  # type: ignore[no-untyped-call]
    plain = Counter("bench_getpid", "old", ["face"]).labels("soap")
    return _ab(lambda: plain.inc(), lambda: cached.inc(), blocks, calls * 20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edoc-bench-hot-") as tmp:
        report = {
            "sign_receipt": _signing(Path(tmp), args.blocks, args.calls),
            "log_timestamp": _timestamp(args.blocks, args.calls),
            "counter_inc": _counter(Path(tmp), args.blocks, args.calls),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
