"""Benchmark of the SOAP service end to end (issue 3 targets).

Starts ``edoc-gateway serve`` (gunicorn, 2 sync workers, SQLite with WAL + synchronous=FULL, so
every receipt follows a durable commit) on a free loopback port with a fresh data directory,
registers a sending and a receiving agency, then measures:

1. SendDocument of distinct ~10 KB packages from 8 concurrent clients (keep-alive connections,
   a fresh WS-Security PasswordDigest per request): packages/s and latency percentiles.
   Targets: >= 500 packages/s, p99 <= 20 ms.
2. The same with ~1 MB packages. Target: >= 100 packages/s.
3. One 200 MB package (the streaming path): peak RSS growth of the worker that served it.
   Target: <= 150 MB.

Run:  python benchmarks/bench_soap.py [--seconds 20] [--clients 8] [--quick]
The load generator shares the 2 cores with the server: figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.edxml.model import DocumentPackage  # noqa: E402
from gateway.edxml.reader import read_package  # noqa: E402
from gateway.edxml.writer import write_package  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402

EXAMPLE = ROOT / "gateway" / "examples" / "quickstart-document.edxml"
SENDER, RECEIVER = "000.00.01.H53", "000.00.32.H53"
NAMESPACE = "urn:edoc-gateway:soap:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(data: Path, *args: str) -> str:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


class Server:
    """``edoc-gateway serve`` in a child process group, stopped on exit."""

    def __init__(self, data: Path, workers: int) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "GATEWAY_DATA_DIR": str(data),
            "PYTHONPATH": str(ROOT),
            "GATEWAY_MAX_REQUEST_BYTES": str(400 << 20),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _rss(pid: int) -> int:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _security(username: str, secret: str) -> str:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    digest = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + secret.encode()).digest()
    ).decode()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{DIGEST}">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def send_document_request(package_b64: bytes, secret: str) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Header>%s</soap:Header><soap:Body>"
        b'<tns:SendDocument xmlns:tns="%s"><tns:package>%s</tns:package></tns:SendDocument>'
        b"</soap:Body></soap:Envelope>"
    ) % (_security(SENDER, secret).encode(), NAMESPACE.encode(), package_b64)


def make_packages(count: int, attachment_bytes: int, workdir: Path) -> list[bytes]:
    """Distinct packages (own attachment bytes), already base64-encoded for the SOAP body."""
    store = FileBlobStore(workdir / "bench-src", durable=False)
    base = read_package(EXAMPLE, store)
    assert isinstance(base, DocumentPackage)
    out = []
    for i in range(count):
        ref = store.put_bytes(b"%PDF-1.4\n" + os.urandom(attachment_bytes))
        attachment = dataclasses.replace(base.attachments[0], encoded=ref, file=ref)
        header = dataclasses.replace(base.header, document_id=f"{SENDER},2026/11/02,{i}/BENCH")
        pkg = dataclasses.replace(base, header=header, attachments=(attachment,))
        buffer = _Buffer()
        write_package(pkg, buffer, store)
        out.append(base64.b64encode(buffer.data()))
    return out


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    def data(self) -> bytes:
        return b"".join(self.parts)


def run_load(
    port: int, secret: str, packages: list[bytes], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_index = [0]
    stop_at = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop_at:
            with lock:
                if next_index[0] >= len(packages):
                    return
                package = packages[next_index[0]]
                next_index[0] += 1
            body = send_document_request(package, secret)
            started = time.perf_counter()
            connection.request(
                "POST",
                "/soap/v1",
                body,
                {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"SendDocument"'},
            )
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                if response.status == 200 and b"packageId" in payload:
                    latencies.append(elapsed)
                else:
                    errors.append(f"{response.status}: {payload[:300]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "requests": len(ordered),
        "per_s": len(ordered) / wall,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": ordered[-1] * 1000,
    }


def run_large(server: Server, secret: str, size_mb: int, workdir: Path) -> dict[str, float]:
    """One streamed request; the serving worker's RSS sampled every 5 ms."""
    package = make_packages(1, size_mb << 20, workdir)[0]
    body = send_document_request(package, secret)
    del package
    baseline = {pid: _rss(pid) for pid in server.worker_pids()}
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in baseline:
                with contextlib.suppress(OSError):  # a worker may be recycled
                    peak[pid] = max(peak[pid], _rss(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    started = time.perf_counter()
    connection.request("POST", "/soap/v1", body, {"Content-Type": "text/xml; charset=utf-8"})
    response = connection.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if response.status != 200:
        raise RuntimeError(f"large request failed: {response.status} {payload[:300]!r}")
    growth = max(peak[pid] - baseline[pid] for pid in baseline)
    return {
        "package_mb": size_mb,
        "request_mb": len(body) / 2**20,
        "seconds": elapsed,
        "worker_rss_growth_mb": growth / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-mb", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs, args.large_mb = 2, 1, 5
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="edoc-bench-soap-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        small = make_packages(12000 if not args.quick else 300, 3700, workdir)
        large = make_packages(400 if not args.quick else 20, 750_000, workdir)
        for label, packages in (("10kb", small), ("1mb", large)):
            runs = []
            for run in range(args.runs):
                data = workdir / f"data-{label}-{run}"
                _cli(data, "agencies", "add", SENDER, "Sender")
                _cli(data, "agencies", "add", RECEIVER, "Receiver")
                secret = _cli(data, "agencies", "show-secret", SENDER).strip()
                server = Server(data, args.workers)
                try:
                    runs.append(run_load(server.port, secret, packages, args.clients, args.seconds))
                finally:
                    server.stop()
            report[label] = {
                "per_s_median": statistics.median(r["per_s"] for r in runs),
                "p99_ms_median": statistics.median(r["p99_ms"] for r in runs),
                "runs": runs,
            }
        data = workdir / "data-large"
        _cli(data, "agencies", "add", SENDER, "Sender")
        _cli(data, "agencies", "add", RECEIVER, "Receiver")
        secret = _cli(data, "agencies", "show-secret", SENDER).strip()
        server = Server(data, args.workers)
        try:
            report["large"] = run_large(server, secret, args.large_mb, workdir)
        finally:
            server.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
