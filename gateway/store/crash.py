"""Crash points: where the crash-safety tests SIGKILL the process at an exact moment.

``GATEWAY_CRASH_POINT=<name>:<n>`` kills the process (SIGKILL, nothing flushed or cleaned) the
n-th time it passes the point ``<name>``; unset, a point costs one dictionary lookup. The points
sit where a crash is the most harmful: between two purge batches, between staging a blob for
collection and deleting it.
"""

from __future__ import annotations

import os
import signal

_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    wanted = os.environ.get("GATEWAY_CRASH_POINT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] >= int(count or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
