"""Overload refused, not queued (issue 16 item 2).

Starts ``edoc-gateway serve --demo`` (gunicorn, 2 workers with waitress, ``--in-flight``
requests in flight per node), then measures authenticated GetAgencies calls (a fresh
WS-Security digest each, one connection per call):

1. unloaded: one client, ``--calls`` calls in a row: accepted p50/p99;
2. saturated: ``--clients`` concurrent clients calling without pause for ``--seconds`` (or,
   with ``--rate``, paced to offer that many calls a second in all: the node's bound saturated
   without the clients' flood also taking every CPU cycle): how many
   calls were accepted and refused (``Server.Busy``), the accepted p99 against the unloaded one
   (target within 2x), and how fast a refusal comes back (target <= 50 ms);
3. refusal cost: with every slot held by this script (as requests in flight elsewhere on the
   node would hold them), ``--refusals`` refused calls in a row, and the server's CPU time per
   refusal (user + system of the workers, from /proc: a figure the machine's load hardly moves).

The clients share the cores with the server, so latencies include the load generator's own
scheduling: a floor, not a ceiling. ``--pin`` keeps the server on the first CPU and every
client on the second, as if the clients were another host's (on a 2-core machine: a 1-core
server). The saturating clients run in ``--client-processes``
processes, so that one interpreter's GIL does not queue them. ``--runs`` repeats it; medians
are kept.

Run:  python benchmarks/bench_overload.py [--runs 3] [--clients 64] [--seconds 30]
      [--client-processes 8]
      python benchmarks/bench_overload.py --quick   # seconds; checks the script works
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _frontdoor import call, gateway, percentile
from bench_accept import _cpu_seconds


def _saturate(
    port: int,
    code: str,
    secret: str,
    threads: int,
    seconds: float,
    results: Any,
    cpus: set[int] | None,
    interval: float,
) -> None:
    """One client process: ``threads`` clients calling for ``seconds``, each without pause
    (``interval`` 0) or starting a call every ``interval`` seconds. Clients are spread over
    processes so that their own GIL does not queue them (64 threads in one interpreter
    measured the client's scheduling as much as the server's answer)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    began = time.monotonic()
    stop = began + seconds
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def client(offset: float) -> None:
        due = began + offset
        while time.monotonic() < stop:
            if interval:
                time.sleep(max(0.0, due - time.monotonic()))
                due = max(due + interval, time.monotonic())  # a late call is not made up for
            result = call(port, code, secret, 10.0)
            with lock:
                outcomes.append(result)

    pool = [
        threading.Thread(target=client, args=(interval * n / threads,)) for n in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(outcomes)


def one_run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server_cpus, client_cpus = ({0}, {1}) if args.pin else (None, None)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    with gateway(
        workdir / "data", cpus=server_cpus, workers=2, max_in_flight=args.in_flight
    ) as gw:
        code, secret = gw.agency
        unloaded = []
        for _ in range(args.calls):
            outcome, seconds = call(gw.port, code, secret, 10.0)
            assert outcome == "ok", outcome
            unloaded.append(seconds)
        processes = max(1, min(args.client_processes, args.clients))
        per, extra = divmod(args.clients, processes)
        shares = [per + (n < extra) for n in range(processes)]
        interval = args.clients / args.rate if args.rate else 0.0  # per client
        context = multiprocessing.get_context("fork")
        results: Any = context.Queue()
        workers = [
            context.Process(
                target=_saturate,
                args=(
                    gw.port, code, secret, threads, args.seconds, results, client_cpus, interval
                ),
            )
            for threads in shares
        ]
        for worker in workers:
            worker.start()
        outcomes: list[tuple[str, float]] = []
        for _ in workers:
            outcomes.extend(results.get(timeout=args.seconds + 120))
        for worker in workers:
            worker.join(30)
        refusal_cpu_ms = _refusal_cost(gw, workdir / "data", args)
    accepted = [s for o, s in outcomes if o == "ok"]
    busy = [s for o, s in outcomes if o == "busy"]

    def ms(values: list[float], share: float) -> float | None:
        return round(1000 * percentile(values, share), 1) if values else None

    return {
        "unloaded_p50_ms": ms(unloaded, 0.5),
        "unloaded_p99_ms": ms(unloaded, 0.99),
        "accepted": len(accepted),
        "busy": len(busy),
        "other": len(outcomes) - len(accepted) - len(busy),
        "accepted_p50_ms": ms(accepted, 0.5),
        "accepted_p99_ms": ms(accepted, 0.99),
        "busy_p50_ms": ms(busy, 0.5),
        "busy_p99_ms": ms(busy, 0.99),
        "refusal_cpu_ms": refusal_cpu_ms,
    }


def _refusal_cost(gw: Any, data_dir: Path, args: argparse.Namespace) -> float:
    """Server CPU milliseconds per refused call, every slot held by this process."""
    from gateway.web.admission import SlotPool

    code, secret = gw.agency
    pool = SlotPool(data_dir / "run" / "inflight", args.in_flight)
    held = [pool.acquire() for _ in range(args.in_flight)]
    assert None not in held, "a slot was still taken after the saturated phase"
    children = Path(f"/proc/{gw.process.pid}/task/{gw.process.pid}/children")
    workers = [int(p) for p in children.read_text().split()]
    try:
        before = _cpu_seconds(workers)
        for _ in range(args.refusals):
            outcome, _seconds = call(gw.port, code, secret, 10.0)
            assert outcome == "busy", outcome
        # /proc counts in clock ticks (10 ms): thousands of calls make the figure exact enough
        return round(1000 * (_cpu_seconds(workers) - before) / args.refusals, 3)
    finally:
        for slot in held:
            if slot is not None:
                pool.release(slot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--refusals", type=int, default=3000)
    parser.add_argument(
        "--client-processes", type=int, default=8,
        help="processes the saturating clients are spread over (1: all threads in one)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="calls per second offered by all clients together (0: each calls without pause)",
    )
    parser.add_argument(
        "--pin", action="store_true", help="server on CPU 0, clients on CPU 1 (needs 2 CPUs)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.clients, args.seconds, args.calls, args.refusals = 1, 8, 3.0, 10, 50
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
            runs.append(one_run(args, Path(tmp)))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    keys = [k for k in runs[0] if all(r[k] is not None for r in runs)]
    report = {
        "median": {key: statistics.median(r[key] for r in runs) for key in keys},
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
