"""What one accepted package costs: the gateway's SendDocument against a thin peer (issue 12).

Both servers run under gunicorn with the same number of sync workers on loopback ports, and
the same clients send them the same distinct ~10 KB packages (keep-alive, a fresh WS-Security
digest per request); the runs alternate gateway, peer, gateway, peer... in one process, so
both see the same machine. The peer (``benchmarks/thin_peer.py``) is one spyne operation that
parses the package with lxml, writes one fsync'd file and one SQLite row (``synchronous=FULL``).

For each server: requests/s, p50/p99 latency, and server CPU per package (user + system time
of the gunicorn workers, from /proc, over the load). Then a counted pass per server: the
workers run under ``strace -f -c`` for a fixed number of requests, giving fsync/fdatasync
calls per package (the gateway's twice: from 2 clients, and from ``--clients`` at once);
and the gateway's SQL transactions per package are counted in-process
(the same WSGI app, counted where the store opens each transaction).

Run:  python benchmarks/bench_accept.py [--runs 3] [--seconds 15] [--clients 8] [--quick]
      add --postgres DSN to measure the gateway on PostgreSQL instead of SQLite;
      --profile N: only CPU per package in process, one request at a time, and its profile.
The load generator shares the cores with the servers: figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import thin_peer  # noqa: E402
from bench_soap import (  # noqa: E402
    RECEIVER,
    SENDER,
    Server,
    make_packages,
    run_load,
    send_document_request,
)

ATTACHMENT_BYTES = 3700
"""With the envelope and base64, a package of about 10 KB (as bench_soap.py)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(data: Path, dsn: str) -> dict[str, str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    if dsn:
        env["GATEWAY_DATABASE_DSN"] = dsn
    return env


def _gateway_data(workdir: Path, label: str, dsn: str) -> tuple[Path, str, str]:
    """A fresh data directory (and PostgreSQL schema) with the two agencies; the secret."""
    data = workdir / label
    scoped = ""
    if dsn:
        scoped = _fresh_schema(dsn, f"bench_accept_{uuid.uuid4().hex[:10]}")
    env = _environment(data, scoped)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    cli("agencies", "add", SENDER, "Sender")
    cli("agencies", "add", RECEIVER, "Receiver")
    return data, cli("agencies", "show-secret", SENDER).strip(), scoped


def _fresh_schema(dsn: str, schema: str) -> str:
    from urllib.parse import quote

    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"


class GatewayServer(Server):
    """``edoc-gateway serve`` (bench_soap's), optionally on PostgreSQL, optionally the code of
    another checkout (``tree``: started there, ``python -m`` puts its sources first)."""

    def __init__(self, data: Path, workers: int, dsn: str, tree: Path | None = None) -> None:
        saved, here = dict(os.environ), Path.cwd()
        if dsn:
            os.environ["GATEWAY_DATABASE_DSN"] = dsn
        os.chdir(tree or ROOT)
        try:
            super().__init__(data, workers)
        finally:
            os.chdir(here)
            os.environ.clear()
            os.environ.update(saved)


class PeerServer:
    """The thin peer under gunicorn, stopped on exit."""

    def __init__(self, data: Path, workers: int) -> None:
        thin_peer.prepare(data)
        self.port = _free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "--chdir",
                str(ROOT / "benchmarks"),
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "thin_peer:application",
            ],
            env={**os.environ, "THIN_PEER_DIR": str(data)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for(self.port, self.stop)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _wait_for(port: int, stop: Callable[[], None]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    stop()
    raise RuntimeError(f"the server on port {port} did not start")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system time of the processes (and their reaped children), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def _load(
    server: GatewayServer | PeerServer,
    secret: str,
    packages: list[bytes],
    clients: int,
    seconds: float,
) -> dict[str, float]:
    # one warm-up request per worker so imports and first connections are not measured
    run_load(server.port, secret, packages[: 2 * clients], clients, seconds)
    pids = server.worker_pids()
    before = _cpu_seconds(pids)
    figures = run_load(server.port, secret, packages[2 * clients :], clients, seconds)
    figures["cpu_ms_per_package"] = (_cpu_seconds(pids) - before) * 1000 / figures["requests"]
    return figures


def _fsyncs_per_package(
    server: GatewayServer | PeerServer,
    secret: str,
    packages: list[bytes],
    workdir: Path,
    clients: int = 2,
) -> float:
    """fsync + fdatasync calls of the workers over ``len(packages)`` requests (strace -c), sent
    by ``clients`` at once (with more, SQLite's group commit shares fsyncs)."""
    run_load(server.port, secret, packages[:4], 2, 60)  # warm both workers first
    out = workdir / f"strace-{uuid.uuid4().hex}.txt"
    command = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(out)]
    for pid in server.worker_pids():
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches
    done = run_load(server.port, secret, packages[4:], clients, 600)
    time.sleep(0.3)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    calls = 0
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync"):
            calls += int(parts[3])  # % time, seconds, usecs/call, calls, [errors], name
    return calls / done["requests"]


def _transactions_per_package(
    workdir: Path, count: int, setup: tuple[Path, str, str]
) -> dict[str, float]:
    """The gateway's WSGI app in a child process, its dialect's transactions counted by mode."""
    data, secret, scoped = setup
    env = _environment(data, scoped)
    command = [sys.executable, __file__, "--count-transactions", str(count)]
    child = subprocess.run(
        [*command, f"--secret={secret}", f"--workdir={workdir}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def _in_process_sender(secret: str) -> Callable[[bytes], None]:
    """(In a child process, with the gateway's environment.) SendDocument through the
    gateway's WSGI app, without a socket: what the server spends, less the HTTP server."""
    import wsgiref.util

    from gateway.config import load_settings
    from gateway.server import build_app

    app = build_app(load_settings())

    def call(package: bytes) -> None:
        body = send_document_request(package, secret)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/soap/v1",
            "CONTENT_TYPE": "text/xml; charset=utf-8",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_SOAPACTION": '"SendDocument"',
            "wsgi.input": io.BytesIO(body),
        }
        wsgiref.util.setup_testing_defaults(environ)
        status: list[str] = []
        answer = b"".join(app(environ, lambda s, h, e=None: status.append(s)))  # type: ignore[arg-type]
        if not status[0].startswith("200") or b"packageId" not in answer:
            raise RuntimeError(f"SendDocument failed: {status[0]} {answer[:300]!r}")

    return call


def _profile_in_child(count: int, dsn: str, workdir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="edoc-bench-profile-", dir=workdir) as tmp:
        data, secret, scoped = _gateway_data(Path(tmp), "gateway-profiled", dsn)
        command = [sys.executable, __file__, "--profile-child", str(count)]
        subprocess.run(
            [*command, f"--secret={secret}", f"--workdir={tmp}"],
            env=_environment(data, scoped),
            check=True,
            timeout=1800,
        )


def _count_transactions(count: int, secret: str, workdir: Path) -> None:
    """(In a child process.) Count the store's transactions per accepted SendDocument, by
    mode, over ``count`` requests."""
    from gateway.store.engine import Mode, SqlDatabase

    counts: Counter[str] = Counter()
    cursor = SqlDatabase._cursor

    def counting(self: SqlDatabase, mode: Mode) -> Any:
        counts[mode] += 1
        return cursor(self, mode)

    SqlDatabase._cursor = counting  # type: ignore[method-assign]
    call = _in_process_sender(secret)
    packages = make_packages(count + 2, ATTACHMENT_BYTES, workdir / "count-src")
    for package in packages[:2]:  # warm-up: first connections, caches
        call(package)
    counts.clear()
    for package in packages[2:]:
        call(package)
    result = {mode: n / count for mode, n in counts.items()}
    result["total"] = sum(counts.values()) / count
    print(json.dumps(result))


def _profile(count: int, secret: str, workdir: Path) -> None:
    """(In a child process.) CPU per package over ``count`` requests one at a time, then the
    same requests again under cProfile: the functions that take the most of it."""
    import cProfile
    import pstats

    call = _in_process_sender(secret)
    packages = make_packages(2 * count + 2, ATTACHMENT_BYTES, workdir / "profile-src")
    for package in packages[:2]:
        call(package)
    started, wall = time.process_time(), time.perf_counter()
    for package in packages[2 : count + 2]:
        call(package)
    cpu_ms = (time.process_time() - started) * 1000 / count
    wall_ms = (time.perf_counter() - wall) * 1000 / count
    print(f"CPU {cpu_ms:.2f} ms, wall {wall_ms:.2f} ms per package ({count} in a row)")
    profiler = cProfile.Profile()
    profiler.enable()
    for package in packages[count + 2 :]:
        call(package)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counted", type=int, default=200, help="requests in a counted pass")
    parser.add_argument("--postgres", default="", metavar="DSN")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--counts-only", action="store_true", help="only the counted passes")
    parser.add_argument(
        "--before", type=Path, default=None, help="another checkout's gateway, run interleaved"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="only profile N packages in process"
    )
    parser.add_argument("--count-transactions", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--secret", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_transactions:
        _count_transactions(args.count_transactions, args.secret, args.workdir)
        return
    if args.profile_child:
        _profile(args.profile_child, args.secret, args.workdir)
        return
    if args.profile:
        _profile_in_child(args.profile, args.postgres, args.workdir)
        return
    if args.quick:
        args.runs, args.seconds, args.counted = 1, 2, 20
    if args.counts_only:
        args.runs = 0
    per_run = 3000 if not args.quick else 200
    report: dict[str, Any] = {"engine": "postgres" if args.postgres else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="edoc-bench-accept-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        gateway_runs: list[dict[str, float]] = []
        before_runs: list[dict[str, float]] = []
        peer_runs: list[dict[str, float]] = []
        everyone = ("gateway", "peer", "before") if args.before else ("gateway", "peer")
        for run in range(args.runs):
            packages = make_packages(per_run, ATTACHMENT_BYTES, workdir / f"src-{run}")
            shift = run % len(everyone)
            for who in everyone[shift:] + everyone[:shift]:
                if who in ("gateway", "before"):
                    data, secret, scoped = _gateway_data(workdir, f"{who}-{run}", args.postgres)
                    tree = args.before if who == "before" else None
                    gateway = GatewayServer(data, args.workers, scoped, tree)
                    try:
                        figures = _load(gateway, secret, packages, args.clients, args.seconds)
                    finally:
                        gateway.stop()
                    (before_runs if who == "before" else gateway_runs).append(figures)
                else:
                    peer = PeerServer(workdir / f"peer-{run}", args.workers)
                    try:
                        peer_runs.append(_load(peer, "", packages, args.clients, args.seconds))
                    finally:
                        peer.stop()
            shutil.rmtree(workdir / f"src-{run}", ignore_errors=True)

        counted = make_packages(args.counted + 4, ATTACHMENT_BYTES, workdir / "src-counted")
        setup = _gateway_data(workdir, "gateway-counted", args.postgres)
        gateway = GatewayServer(setup[0], args.workers, setup[2])
        try:
            gateway_fsyncs = _fsyncs_per_package(gateway, setup[1], counted, workdir)
        finally:
            gateway.stop()
        setup = _gateway_data(workdir, "gateway-counted-many", args.postgres)
        gateway = GatewayServer(setup[0], args.workers, setup[2])
        try:
            gateway_fsyncs_many = _fsyncs_per_package(
                gateway, setup[1], counted, workdir, args.clients
            )
        finally:
            gateway.stop()
        peer = PeerServer(workdir / "peer-counted", args.workers)
        try:
            peer_fsyncs = _fsyncs_per_package(peer, "", counted, workdir)
        finally:
            peer.stop()
        fresh = _gateway_data(workdir, "gateway-transactions", args.postgres)
        transactions = _transactions_per_package(workdir, args.counted, fresh)
    for label, runs, fsyncs in (
        ("gateway", gateway_runs, gateway_fsyncs),
        ("peer", peer_runs, peer_fsyncs),
        ("before", before_runs, None),
    ):
        if label == "before" and not runs:
            continue
        report[label] = {"fsyncs_per_package": fsyncs, "runs": runs}
        if runs:
            for key in ("per_s", "cpu_ms_per_package", "p50_ms", "p99_ms"):
                report[label][f"{key}_median"] = _median(runs, key)
    report["gateway"][f"fsyncs_per_package_{args.clients}_clients"] = gateway_fsyncs_many
    report["gateway"]["transactions_per_package"] = transactions
    report["peer"]["transactions_per_package"] = {"write": 1.0, "total": 1.0}
    if gateway_runs:
        ratio = report["gateway"]["per_s_median"] / report["peer"]["per_s_median"]
        report["throughput_ratio"] = ratio
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
