"""The README walkthrough, pasted as one block (issue 14 item 5): the ``sh`` block under
"Walkthrough" is taken from README.md and run by bash as one script, with real processes (the
simulator, ``serve`` with its relay, the example scripts). The documented ports 8080 and 8480
are replaced by free ones in the script and in a copy of ``examples/``, so the test runs beside
anything else; every process the script started is stopped afterwards (its process group)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def walkthrough_block(readme: str) -> str:
    """The first ``sh`` block after the Walkthrough heading."""
    section = readme.split("## Walkthrough", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md: no sh block under the Walkthrough heading"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop every process of the script's group (its shell may be gone, its jobs not)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(0.2)
                continue
            try:
                os.killpg(process.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.mark.slow
def test_the_readme_walkthrough_runs_pasted_as_one_block(tmp_path: Path) -> None:
    gateway_port, axis_port = _free_port(), _free_port()
    while axis_port == gateway_port:
        axis_port = _free_port()

    def ports(text: str) -> str:
        return text.replace("8480", str(axis_port)).replace("8080", str(gateway_port))

    script = ports(walkthrough_block((REPO / "README.md").read_text("utf-8")))
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    for path in (tmp_path / "examples").iterdir():
        if path.suffix in (".toml", ".py"):
            path.write_text(ports(path.read_text("utf-8")), "utf-8")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GATEWAY_CONFIG", None)
    # Files, not pipes: the background servers keep their output open after the script ends.
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        process = subprocess.Popen(
            ["bash", "-eu", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=out_file,
            stderr=err_file,
            text=True,
            start_new_session=True,
        )
        try:
            process.wait(timeout=420)
        finally:
            returncode = process.poll()
            _stop_group(process)
    out, err = out_path.read_text("utf-8"), err_path.read_text("utf-8")
    assert returncode == 0, f"the walkthrough failed:\n{out}\n{err[-6000:]}"
    assert "Traceback" not in err, err[-6000:]
    # What README.md says step 8 prints.
    assert "STATUS 01 from 000.00.00.H41: Đã đến" in out
    assert "STATUS 03 from 000.00.00.H41: Tiếp nhận, vào sổ văn bản đến" in out
    assert (
        "STATUS 01 from 000.00.32.H53: Đã đến: phần mềm QLVB đã nhận văn bản, văn thư chưa xử lý"
        in out
    )
    assert "queued: 0  sent: 1  dead: 0  cancelled: 0" in out
    assert re.search(
        r"^\s+1 sent\s+national\s+document attempts=1 .*-> 000\.00\.00\.H41$", out, re.M
    )
    # Step 4 registered the demo agencies (it would say so if there were none).
    assert "000.00.01.H53 registered at national under 00.53.W00" in out


def test_walkthrough_block_is_found() -> None:
    block = walkthrough_block((REPO / "README.md").read_text("utf-8"))
    assert "edoc-gateway serve --config examples/province.toml --demo &" in block
    assert block.count("edoc-gateway wait-ready") == 2
    assert "sleep" not in block  # readiness is waited for, never guessed
