"""Relay throughput: 10 KB packages accepted by a real gateway (``serve``: gunicorn and its relay
process) until the national-axis simulator (its own process) holds each one and the outbox row
is ``sent``.

Each run measures two set-ups, each with a fresh gateway and simulator:

- end to end: clients send every package (concurrently, raw SOAP with UsernameToken digests)
  while the relay already works; packages / (last outbox row sent - first send started), plus
  the intake rate and the relay's drain rate after intake;
- alone: the relay is stopped while every package is accepted (intake alone), then a fresh
  ``relay run`` drains the preloaded outbox alone: packages / (last row sent - relay ready).

Run:  python benchmarks/bench_relay.py [--packages 2000] [--clients 8] [--runs 3] [--concurrency N]
      [--quick]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_soap import (  # noqa: E402
    SENDER,
    Server,
    _Buffer,
    _cli,
    _free_port,
    send_document_request,
)

from gateway.config import UpstreamSettings, load_settings  # noqa: E402
from gateway.edxml.model import DocumentPackage  # noqa: E402
from gateway.edxml.reader import read_package  # noqa: E402
from gateway.edxml.writer import write_package  # noqa: E402
from gateway.relay.connectors.vxp import VxpConnector  # noqa: E402
from gateway.store import open_store  # noqa: E402
from gateway.store.blobs import FileBlobStore  # noqa: E402
from gateway.vxp.wire import AgencyRecord  # noqa: E402

EXAMPLE = ROOT / "gateway" / "examples" / "quickstart-document.edxml"
PROVINCE, CENTRE, UPSTREAM = "00.53.W00", "00.41.W00", "000.00.00.H41"


def make_packages(count: int, attachment_bytes: int, workdir: Path) -> list[bytes]:
    """Distinct ~10 KB documents from SENDER to the upstream agency only (base64 for SOAP)."""
    store = FileBlobStore(workdir / "bench-src", durable=False)
    base = read_package(EXAMPLE, store)
    assert isinstance(base, DocumentPackage)
    to = (dataclasses.replace(base.header.to[0], organ_id=UPSTREAM),)
    out = []
    for i in range(count):
        ref = store.put_bytes(b"%PDF-1.4\n" + os.urandom(attachment_bytes))
        attachment = dataclasses.replace(base.attachments[0], encoded=ref, file=ref)
        header = dataclasses.replace(
            base.header, to=to, document_id=f"{SENDER},2026/11/02,{i}/RELAY"
        )
        pkg = dataclasses.replace(base, header=header, attachments=(attachment,))
        buffer = _Buffer()
        write_package(pkg, buffer, store)
        out.append(buffer.data())
    return out



class Simulator:
    def __init__(self, data: Path, delay_ms: int = 0) -> None:
        self.port = _free_port()
        latency = ["--faults", f"delay={delay_ms}:op=sendEdoc"] if delay_ms else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "simulate-axis", "--port", str(self.port),
             "--data-dir", str(data), "--agency", f"{PROVINCE}:province-secret",
             "--agency", f"{CENTRE}:centre-secret", *latency],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{self.port}/XrdAdapter/adapter"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_sim/faults", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the simulator did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _relay_pid(server: Server) -> int:
    """The ``relay run`` child that ``serve`` started (found among its children)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in server.worker_pids():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"relay" in command and b"run" in command:
                return pid
        time.sleep(0.1)
    raise RuntimeError("serve started no relay process")


def _stop_pid(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(
            f"/proc/{pid}/stat").exists() else "Z"
        if status == "Z":
            return
        time.sleep(0.05)


def _intake(server: Server, secret: str, bodies: list[bytes], clients: int) -> int:
    """Every package through SOAP SendDocument from ``clients`` threads; raises on a failure.

    A ``Server.Busy`` refusal is sent again after a short pause, as a client honouring the
    front door would (a worker process runs ``server_threads`` less one requests, and the
    kernel does not spread connections evenly over the workers). Returns how many there were.
    """
    errors: list[str] = []
    busy = [0]
    lock = threading.Lock()

    def send(body: bytes) -> None:
        for attempt in range(1, 101):
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}/soap/v1",
                data=send_document_request(body, secret),
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answer.read()
                return
            except urllib.error.HTTPError as refused:  # a SOAP fault: keep its text
                text = refused.read()
                if b"Server.Busy" not in text:
                    with lock:
                        errors.append(f"HTTP {refused.code}: {text[:600]!r}")
                    return
                with lock:
                    busy[0] += 1
                time.sleep(min(0.01 * attempt, 0.2))
            except OSError as failure:
                with lock:
                    errors.append(f"{type(failure).__name__}: {failure}")
                return
        with lock:
            errors.append("refused Server.Busy 100 times")

    def client(chunk: list[bytes]) -> None:
        for body in chunk:
            send(body)

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(bodies)} sends failed; first: {errors[0]}")
    return busy[0]


def _wait_sent(store: Any, count: int, start: float) -> float:
    """Wait until ``count`` outbox rows are ``sent``; the wall-clock time of the last one."""
    deadline = time.monotonic() + 600
    while store.outbox_counts().get("sent", 0) < count:
        counts = store.outbox_counts()
        if time.monotonic() > deadline or counts.get("dead", 0):
            raise RuntimeError(f"relay stalled: {counts}")
        time.sleep(0.02)
    last = max(item.updated_at for item in store.outbox_items("sent", limit=count + 10))
    return max(last / 1e6, start)


def _simulator_holds(data: Path) -> int:
    with sqlite3.connect(data / "simulator.sqlite3", timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM packages").fetchone()[0])


def one_run(
    packages: list[bytes],
    clients: int,
    workdir: Path,
    relay_alone: bool,
    concurrency: int,
    delay_ms: int = 0,
) -> dict[str, float]:
    """One fresh gateway + simulator. ``relay_alone``: the relay is stopped while every package
    is accepted (so intake runs alone), then a fresh ``relay run`` drains the outbox alone.
    Otherwise intake and relay run together (end to end). ``delay_ms``: the simulator waits this
    long before answering each sendEdoc (an upstream across a real network)."""
    sim = Simulator(workdir / "axis", delay_ms)
    centre = VxpConnector(UpstreamSettings(
        name="axis", protocol="vxp", endpoint=sim.endpoint, system_id=CENTRE,
        secret="centre-secret", timeout_seconds=10))
    centre.register_agency(AgencyRecord(UPSTREAM, "UBND tỉnh Nghệ An", pcode=CENTRE))
    centre.close()
    data = workdir / "gw"
    config = workdir / "province.toml"
    config.write_text(
        f'data_dir = "{data}"\ndefault_upstream = "national"\n'
        + (f"relay_concurrency = {concurrency}\n" if concurrency else "")
        + f'[[upstream]]\nname = "national"\nprotocol = "vxp"\nendpoint = "{sim.endpoint}"\n'
        f'system_id = "{PROVINCE}"\nsecret = "province-secret"\npoll_interval_seconds = 5\n'
    )
    os.environ["GATEWAY_CONFIG"] = str(config)
    _cli(data, "agencies", "add", SENDER, "Văn phòng UBND tỉnh Tây Ninh")
    secret = _cli(data, "agencies", "show-secret", SENDER).split()[-1]
    _cli(data, "directory", "register")
    server = Server(data, workers=2)
    settings = load_settings(str(config))
    store = open_store(settings)
    relay: subprocess.Popen[bytes] | None = None
    try:
        bodies = [base64.b64encode(p) for p in packages]
        n = len(packages)
        if not relay_alone:
            start = time.time()
            busy = _intake(server, secret, bodies, clients)
            accepted = time.time()
            sent_at_intake = store.outbox_counts().get("sent", 0)
            done = _wait_sent(store, n, accepted)
            if _simulator_holds(workdir / "axis") != n:
                raise RuntimeError("the simulator does not hold every package")
            return {
                "packages_per_s": n / (done - start),
                "intake_with_relay_packages_per_s": n / (accepted - start),
                "relay_drain_after_intake_packages_per_s": (n - sent_at_intake)
                / max(done - accepted, 1e-9),
                "sent_during_intake": float(sent_at_intake),
                "busy_refusals_retried": float(busy),
            }
        _stop_pid(_relay_pid(server))
        start = time.time()
        busy = _intake(server, secret, bodies, clients)
        accepted = time.time()
        if store.outbox_counts().get("queued", 0) != n:
            raise RuntimeError(f"the outbox is not preloaded: {store.outbox_counts()}")
        log = workdir / "relay.log"
        with log.open("wb") as sink:
            relay = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "relay", "run", "--config", str(config)],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=sink,
            )
        deadline = time.monotonic() + 60
        while b"running for" not in log.read_bytes():
            if time.monotonic() > deadline or relay.poll() is not None:
                raise RuntimeError("the relay did not start")
            time.sleep(0.005)
        relay_start = time.time()
        done = _wait_sent(store, n, relay_start)
        if _simulator_holds(workdir / "axis") != n:
            raise RuntimeError("the simulator does not hold every package")
        return {
            "intake_alone_packages_per_s": n / (accepted - start),
            "relay_alone_packages_per_s": n / (done - relay_start),
            "busy_refusals_retried": float(busy),
        }
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(30)
        store.close()
        server.stop()
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="relay_concurrency (0: the default)"
    )
    parser.add_argument(
        "--upstream-delay-ms", type=int, default=0,
        help="the simulator answers each sendEdoc this much later (network latency)",
    )
    parser.add_argument(
        "--alone-only", action="store_true", help="only the relay-alone set-up (no end to end)"
    )
    parser.add_argument("--quick", action="store_true", help="60 packages, one run")
    args = parser.parse_args()
    count, runs = (60, 1) if args.quick else (args.packages, args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        packages = make_packages(count, 3700, Path(tmp))
        end_to_end, alone = [], []
        for n in range(runs):
            if not args.alone_only:
                end_to_end.append(one_run(
                    packages, args.clients, Path(tmp) / f"e2e{n}", False, args.concurrency,
                    args.upstream_delay_ms,
                ))
            alone.append(one_run(
                packages, args.clients, Path(tmp) / f"alone{n}", True, args.concurrency,
                args.upstream_delay_ms,
            ))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    report = {
        "packages": count,
        "package_bytes": round(statistics.mean(len(p) for p in packages)),
        "relay_concurrency": args.concurrency or "default",
        "upstream_delay_ms": args.upstream_delay_ms,
        "end_to_end_runs": end_to_end,
        "alone_runs": alone,
        "packages_per_s_median": median(end_to_end, "packages_per_s") if end_to_end else None,
        "relay_alone_packages_per_s_median": median(alone, "relay_alone_packages_per_s"),
        "intake_alone_packages_per_s_median": median(alone, "intake_alone_packages_per_s"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
