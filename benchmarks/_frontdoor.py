"""What the front-door benchmarks share: a gateway in its own process group (the default
server, or gunicorn sync workers for the comparison), the demo agencies' secrets, and one
authenticated SOAP call (GetAgencies with a fresh WS-Security PasswordDigest).

``python benchmarks/_frontdoor.py sync-server`` is the comparison server: the gateway's app
under gunicorn's sync workers, the default before issue 16 (settings from ``GATEWAY_*``)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TNS = "urn:edoc-gateway:soap:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


@dataclass
class Gateway:
    port: int
    process: subprocess.Popen[bytes]
    secrets: dict[str, str]

    @property
    def agency(self) -> tuple[str, str]:
        return next(iter(self.secrets.items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gateway(
    data_dir: Path, *, sync: bool = False, cpus: set[int] | None = None, **settings: Any
) -> Iterator[Gateway]:
    """A demo gateway on a free port with ``settings`` as ``GATEWAY_*`` variables, its
    processes kept on ``cpus`` when given."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATEWAY_DATA_DIR": str(data_dir)}
    env.update({f"GATEWAY_{k.upper()}": str(v) for k, v in settings.items()})
    env["GATEWAY_PORT"] = str(port)
    if sync:
        command = [sys.executable, str(Path(__file__).resolve()), "sync-server"]
    else:
        command = [sys.executable, "-m", "gateway.cli", "serve", "--demo", "--port", str(port)]
    log = (data_dir.parent / f"server-{port}.log").open("w+b")
    process = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                break
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: see {log.name}")
            time.sleep(0.2)
        time.sleep(2)  # let every worker finish booting
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
        secrets = dict(re.findall(r"^\s+(\S+)\s+secret (\S+)$", text, re.MULTILINE))
        yield Gateway(port, process, secrets)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def authenticated_envelope(code: str, secret: str) -> bytes:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + secret.encode()).digest())
    return (
        f'<s:Envelope xmlns:s="{SOAP11}"><s:Header>'
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{code}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        f'</s:Header><s:Body><GetAgencies xmlns="{TNS}"/></s:Body></s:Envelope>'
    ).encode()


def call(port: int, code: str, secret: str, timeout: float) -> tuple[str, float]:
    """One authenticated GetAgencies: ``ok``, ``busy``, ``fault`` or ``error``, and seconds."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "POST",
            "/soap/v1",
            authenticated_envelope(code, secret),
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )
        response = connection.getresponse()
        body = response.read()
    except OSError:
        return "error", time.perf_counter() - started
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    if response.status == 200 and b"GetAgenciesResponse" in body:
        return "ok", elapsed
    if b"Server.Busy" in body:
        return "busy", elapsed
    return "fault", elapsed


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _sync_server() -> None:
    """The gateway's app under gunicorn sync workers (the comparison)."""
    from gunicorn.app.base import BaseApplication

    from gateway.config import load_settings
    from gateway.server import build_app, demo_instructions, seed_demo
    from gateway.store import open_store

    settings = load_settings()
    open_store(settings).close()
    print(demo_instructions(settings, seed_demo(settings)), flush=True)

    class _Sync(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("timeout", 600)

        def load(self) -> Any:
            return build_app(settings)

    _Sync().run()


if __name__ == "__main__" and sys.argv[1:] == ["sync-server"]:
    _sync_server()
