"""The newcomer's path: `serve --demo` prints a script that sends and follows a document."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("single_process", [False, True], ids=["gunicorn", "waitress"])
def test_demo_script_runs_against_serve_demo(tmp_path: Path, single_process: bool) -> None:
    port = _free_port()
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--demo", "--port", str(port)]
    command += ["--workers", "1"] + (["--single-process"] if single_process else [])
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert server.poll() is None, Path(log.name).read_text()
                time.sleep(0.2)
        printed = Path(log.name).read_text()
        assert "000.00.01.H53  secret " in printed
        script_lines = printed.split("follow it, in another terminal:\n\n", 1)[1].splitlines()
        script = "\n".join(
            line[4:] for line in script_lines if line.startswith("    ") or not line.strip()
        )
        (tmp_path / "example.py").write_text(script)
        run = subprocess.run(
            [sys.executable, str(tmp_path / "example.py")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr + "\n" + Path(log.name).read_text()
        assert "duplicate: False" in run.stdout
        assert "received: V/v thử nghiệm liên thông" in run.stdout
        assert "status 01" in run.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
