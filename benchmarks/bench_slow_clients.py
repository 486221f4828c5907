"""Slow clients against the default server (issue 16 item 1).

Starts ``edoc-gateway serve --demo`` (gunicorn, 2 workers, waitress inside each) and, for the
comparison, the same app under gunicorn's sync workers (``--server sync``). Then, for
``--seconds``, attackers hold the door while one authenticated client calls GetAgencies
(a fresh WS-Security digest each time, one call every 100 ms, 5 s timeout):

- ``--header-tricklers`` (200) connections send a request's headers one byte every second;
- ``--body-tricklers`` (20) send complete headers for a ``--body-mb`` (100) MB body, then
  trickle it at ``--body-rate`` (1 KiB/s);
- an attacker whose connection is closed connects again at once (a persistent attacker).

Reported: the normal client's calls answered (%) and p50/p99 latency, and how many times the
server closed an attacker's connection. ``--runs`` repeats each server; the medians are kept.

Run:  python benchmarks/bench_slow_clients.py [--runs 3] [--seconds 60] [--server both]
      python benchmarks/bench_slow_clients.py --quick   # seconds; checks the script works
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _frontdoor import call, gateway, percentile


async def _header_trickler(port: int, stop: float, closed: list[int]) -> None:
    head = b"POST /soap/v1 HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/xml\r\nX-Slow: "
    while time.monotonic() < stop:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            for byte in head + b"a" * 100_000:
                if time.monotonic() >= stop:
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
        except OSError:
            closed[0] += 1
        finally:
            writer.close()


async def _body_trickler(port: int, stop: float, closed: list[int], size: int, rate: int) -> None:
    head = (
        "POST /soap/v1 HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    piece = b"x" * max(1, rate // 4)
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            writer.write(head)
            sent = 0
            while sent < size and time.monotonic() < stop:
                if reader.at_eof():
                    raise ConnectionResetError
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
                await asyncio.sleep(0.25)
        except OSError:
            closed[0] += 1
        finally:
            writer.close()


def _attack(port: int, args: argparse.Namespace, stop: float) -> dict[str, int]:
    closed_headers, closed_bodies = [0], [0]

    async def main() -> None:
        tasks = [_header_trickler(port, stop, closed_headers) for _ in range(args.header_tricklers)]
        tasks += [
            _body_trickler(port, stop, closed_bodies, args.body_mb << 20, args.body_rate)
            for _ in range(args.body_tricklers)
        ]
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return {"header_tricklers_closed": closed_headers[0], "body_tricklers_closed": closed_bodies[0]}


def one_run(server: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with gateway(workdir / "data", sync=server == "sync", workers=2) as gw:
        code, secret = gw.agency
        assert call(gw.port, code, secret, 10)[0] == "ok", "the gateway does not answer"
        stop = time.monotonic() + args.seconds
        result: dict[str, int] = {}
        attackers = threading.Thread(target=lambda: result.update(_attack(gw.port, args, stop)))
        attackers.start()
        time.sleep(min(5.0, args.seconds / 4))  # let every attacker connect first
        outcomes: list[tuple[str, float]] = []
        while time.monotonic() < stop:
            outcomes.append(call(gw.port, code, secret, 5.0))
            time.sleep(0.1)
        attackers.join()
    answered = [seconds for outcome, seconds in outcomes if outcome == "ok"]
    return {
        "server": server,
        "calls": len(outcomes),
        "answered_pct": round(100.0 * len(answered) / max(1, len(outcomes)), 1),
        "p50_ms": round(1000 * percentile(answered, 0.50), 1) if answered else None,
        "p99_ms": round(1000 * percentile(answered, 0.99), 1) if answered else None,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--header-tricklers", type=int, default=200)
    parser.add_argument("--body-tricklers", type=int, default=20)
    parser.add_argument("--body-mb", type=int, default=100)
    parser.add_argument("--body-rate", type=int, default=1024)
    parser.add_argument("--server", choices=("default", "sync", "both"), default="both")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds, args.header_tricklers, args.body_tricklers = 1, 8.0, 10, 2
        args.server = "default"
    servers = ["default", "sync"] if args.server == "both" else [args.server]
    report: dict[str, Any] = {}
    for server in servers:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
                runs.append(one_run(server, args, Path(tmp)))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        answered = [r["answered_pct"] for r in runs]
        p99 = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
        report[server] = {
            "answered_pct_median": statistics.median(answered),
            "p99_ms_median": statistics.median(p99) if p99 else None,
            "runs": runs,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
