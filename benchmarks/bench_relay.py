"""End-to-end relay throughput: 10 KB packages accepted by a real gateway (``serve``: gunicorn
and its relay process) until the national-axis simulator (its own process) holds each one and
the outbox row is ``sent``.

Clients send every package first (concurrently, raw SOAP with UsernameToken digests), while the
relay already works; the figure is packages / (last outbox row sent - first send started).
The intake rate alone and the relay's drain rate after intake are reported too.

Run:  python benchmarks/bench_relay.py [--packages 2000] [--clients 8] [--runs 3] [--quick]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

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

from gateway.config import load_settings  # noqa: E402
from gateway.edxml.model import DocumentPackage  # noqa: E402
from gateway.edxml.reader import read_package  # noqa: E402
from gateway.edxml.writer import write_package  # noqa: E402
from gateway.relay.connector import UpstreamSettings  # noqa: E402
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
    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "simulate-axis", "--port", str(self.port),
             "--data-dir", str(data), "--agency", f"{PROVINCE}:province-secret",
             "--agency", f"{CENTRE}:centre-secret"],
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


def one_run(packages: list[bytes], clients: int, workdir: Path) -> dict[str, float]:
    sim = Simulator(workdir / "axis")
    centre = VxpConnector(UpstreamSettings(
        name="axis", protocol="vxp", endpoint=sim.endpoint, system_id=CENTRE,
        secret="centre-secret", timeout_seconds=10))
    centre.register_agency(AgencyRecord(UPSTREAM, "UBND tỉnh Nghệ An", pcode=CENTRE))
    centre.close()
    data = workdir / "gw"
    config = workdir / "province.toml"
    config.write_text(
        f'data_dir = "{data}"\ndefault_upstream = "national"\n'
        f'[[upstream]]\nname = "national"\nprotocol = "vxp"\nendpoint = "{sim.endpoint}"\n'
        f'system_id = "{PROVINCE}"\nsecret = "province-secret"\npoll_interval_seconds = 5\n'
    )
    os.environ["GATEWAY_CONFIG"] = str(config)
    _cli(data, "agencies", "add", SENDER, "Văn phòng UBND tỉnh Tây Ninh")
    secret = _cli(data, "agencies", "show-secret", SENDER).split()[-1]
    _cli(data, "directory", "register")
    server = Server(data, workers=2)
    settings = load_settings(str(config))
    store = open_store(settings)
    try:
        bodies = [base64.b64encode(p) for p in packages]
        lock = threading.Lock()
        errors: list[str] = []

        def client(chunk: list[bytes]) -> None:
            for body in chunk:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{server.port}/soap/v1",
                    data=send_document_request(body, secret),
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                )
                with urllib.request.urlopen(request, timeout=60) as answer:
                    if answer.status != 200:
                        with lock:
                            errors.append(str(answer.status))

        start = time.perf_counter()
        threads = [
            threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = time.perf_counter()
        sent_at_intake = store.outbox_counts().get("sent", 0)
        deadline = accepted + 600
        while store.outbox_counts().get("sent", 0) < len(packages):
            if time.perf_counter() > deadline or store.outbox_counts().get("dead", 0):
                raise RuntimeError(f"relay stalled: {store.outbox_counts()}")
            time.sleep(0.05)
        done = time.perf_counter()
        if errors:
            raise RuntimeError(f"{len(errors)} sends failed")
        return {
            "packages_per_s": len(packages) / (done - start),
            "intake_packages_per_s": len(packages) / (accepted - start),
            "relay_drain_packages_per_s": (len(packages) - sent_at_intake)
            / max(done - accepted, 1e-9),
            "sent_during_intake": float(sent_at_intake),
        }
    finally:
        store.close()
        server.stop()
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="60 packages, one run")
    args = parser.parse_args()
    count, runs = (60, 1) if args.quick else (args.packages, args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        packages = make_packages(count, 3700, Path(tmp))
        results = []
        for n in range(runs):
            results.append(one_run(packages, args.clients, Path(tmp) / f"run{n}"))
    report = {
        "packages": count,
        "package_bytes": round(statistics.mean(len(p) for p in packages)),
        "runs": results,
        "packages_per_s_median": statistics.median(r["packages_per_s"] for r in results),
        "relay_drain_packages_per_s_median": statistics.median(
            r["relay_drain_packages_per_s"] for r in results
        ),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
