"""The process id prometheus_client files values under is cached, and follows a fork."""

from __future__ import annotations

import os

from gateway import instruments


def test_process_id_is_the_current_process_before_and_after_a_fork() -> None:
    assert instruments._process_id() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write, str(instruments._process_id()).encode())
        finally:
            os._exit(0)
    os.close(write)
    reported = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(child, 0)
    assert int(reported) == child
    assert instruments._process_id() == os.getpid()
