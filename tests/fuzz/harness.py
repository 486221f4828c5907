"""What every fuzz test shares: the scale, the seeds, the mutations, the watchdog, the verdict.

A case is a seed (a real package or request) and a few mutations chosen by hypothesis: a byte
flipped, a span cut or doubled, a hostile token inserted (a DOCTYPE, an entity, padding, an
undeclared prefix, a MIME boundary...), the input truncated. Positions favour the structure
(``<``, ``>``, ``=``, line ends) so most cases reach past the first byte. The verdict is the same
everywhere: the reader either accepts the input or refuses it with a client-side
:class:`~gateway.errors.GatewayError`; anything else, or a case outliving the watchdog, fails.

``GATEWAY_FUZZ_SCALE`` multiplies every case count (CI sets 1 on Python 3.11, where the full
counts run; a local run defaults to a tenth). ``GATEWAY_FUZZ_TIMINGS`` names a directory the
slowest case of each target is written to (``benchmarks/bench_fuzz.py`` reads it).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from gateway.errors import FaultSide, GatewayError
from tests.fixtures.samples import REPO_ROOT, require_samples

SCALE_VARIABLE = "GATEWAY_FUZZ_SCALE"
TIMINGS_VARIABLE = "GATEWAY_FUZZ_TIMINGS"
WATCHDOG_SECONDS = 20.0
"""A case slower than this is a hang (the goal is under a second; this is generous for a
loaded two-core CI machine)."""
CONFORMANCE = REPO_ROOT / "conformance" / "samples"


def scale() -> float:
    raw = os.environ.get(SCALE_VARIABLE, "")
    try:
        value = float(raw) if raw else 0.1
    except ValueError:
        raise ValueError(f"{SCALE_VARIABLE}={raw!r} is not a number") from None
    return max(value, 0.0)


def cases(full: int) -> int:
    """How many cases a target runs: ``full`` at scale 1, at least 20."""
    return max(20, int(full * scale()))


def fuzz_settings(full: int) -> settings:
    """Hypothesis settings of a fuzz target: many cases, no deadline (the watchdog times
    them), no example database (CI starts clean), shrinking kept to show a minimal case."""
    return settings(
        max_examples=cases(full),
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )


# -- mutations -----------------------------------------------------------------------------------

TOKENS: tuple[bytes, ...] = (
    b"<",
    b">",
    b"</",
    b"/>",
    b"=",
    b"==",
    b"===",
    b"A===",
    b"&xxe;",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
    b"<![CDATA[",
    b"]]>",
    b"<?xml version='1.0' encoding='latin-1'?>",
    b"<?pi x?>",
    b"<!-- -->",
    b" xmlns:a='urn:a'",
    b" xmlns=''",
    b"<a:b/>",
    b" a:c='1'",
    b"<x>" * 64,
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xed\xa0\x80",
    b"cid:",
    b"PK\x03\x04",
    b"PK\x05\x06" + bytes(18),
    b"%PDF-1.4",
    b"--",
    b"\r\n",
    b"\r\n\r\n",
    b"Content-Type: multipart/related; boundary=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-ID: <file1>\r\n",
    b'Content-Disposition: form-data; name="file_doc"\r\n',
    b"9" * 40,
    b"-1",
    b"2024/13/45",
    b"00:00:00",
    b"\xe1\xba\xa1" * 100,
)
_STRUCTURE = re.compile(rb"[<>=\n]")
_MAX_STRUCTURE = 4096


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    data: bytes
    anchors: tuple[int, ...] = field(default=())
    """Offsets of structural bytes, where mutations are aimed half of the time."""

    @classmethod
    def of(cls, name: str, data: bytes) -> Seed:
        anchors = tuple(m.start() for m in _STRUCTURE.finditer(data, 0, 1 << 16))
        return cls(name, data, anchors[:_MAX_STRUCTURE])


Mutation = tuple[str, int, int, bytes]


def mutations(max_size: int = 6) -> st.SearchStrategy[list[Mutation]]:
    """A short list of (operation, where, how much, token)."""
    operation = st.sampled_from(("flip", "cut", "insert", "insert", "dup", "truncate", "replace"))
    return st.lists(
        st.tuples(
            operation,
            st.integers(min_value=0, max_value=1 << 30),
            st.integers(min_value=1, max_value=512),
            st.sampled_from(TOKENS),
        ),
        min_size=0,
        max_size=max_size,
    )


def mutate(seed: Seed, ops: list[Mutation]) -> bytes:
    data = bytearray(seed.data)
    for op, where, amount, token in ops:
        size = len(data)
        if size == 0:
            data += token
            continue
        if where % 2 and seed.anchors:
            at = seed.anchors[(where // 2) % len(seed.anchors)] % size
        else:
            at = (where // 2) % size
        if op == "flip":
            data[at] = (data[at] + amount) % 256
        elif op == "cut":
            del data[at : at + amount]
        elif op == "insert":
            data[at:at] = token
        elif op == "replace":
            data[at : at + len(token)] = token
        elif op == "dup":
            data[at:at] = data[at : at + amount]
        else:
            del data[at:]
    return bytes(data)


# -- seeds ---------------------------------------------------------------------------------------

_CONTENT = re.compile(rb"(<(?:\w+:)?ContentTransferEncoded[^>]*>)([^<]{0,2048})[^<]*")


def trimmed(data: bytes) -> bytes:
    """A real package with its attachment text cut to 2 KB: the structure of the real thing at
    a hundredth of the reading time (the untrimmed packages stay in the corpus too)."""
    return _CONTENT.sub(lambda m: m.group(1) + m.group(2)[: len(m.group(2)) // 4 * 4], data)


def sample_packages() -> list[Seed]:
    """The real packages of the shared samples (required: skipped locally without them, a
    failure on CI), trimmed, plus the untrimmed ones and the bundled example."""
    root = require_samples()
    seeds: list[Seed] = []
    for path in sorted(root.glob("*/*.edxml")):
        data = path.read_bytes()
        seeds.append(Seed.of(path.name, trimmed(data)))
        if len(data) > 64 << 10:
            seeds.append(Seed.of(path.name + " (whole)", data))
    example = REPO_ROOT / "gateway" / "examples" / "quickstart-document.edxml"
    seeds.append(Seed.of(example.name, example.read_bytes()))
    return seeds


def conformance_requests(kind: str) -> list[tuple[str, str]]:
    """The conformance kit's sample requests of ``kind`` (``soap11``, ``soap12``,
    ``legacy/soap11``...): (name, template text with ``{{PLACEHOLDERS}}``)."""
    folder = CONFORMANCE / kind
    return [(p.stem, p.read_text("utf-8")) for p in sorted(folder.glob("*.xml"))]


def fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    return re.sub(r"\{\{[A-Z_]+\}\}", "", template)


# -- the verdict ---------------------------------------------------------------------------------


class Hang(Exception):
    """A case outlived the watchdog."""


@contextlib.contextmanager
def watchdog(seconds: float = WATCHDOG_SECONDS) -> Iterator[None]:
    """Fail a case that runs past ``seconds``: a Python-level loop gets :class:`Hang`; a hang
    inside C (libxml2) is dumped and the process ends (faulthandler), so CI never waits."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = None
    if in_main:

        def expire(signum: int, frame: FrameType | None) -> None:
            raise Hang(f"the case ran longer than {seconds} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        if in_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def client_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is how a reader refuses bad input: a client-side GatewayError."""
    return isinstance(exc, GatewayError) and exc.side is FaultSide.CLIENT


class Timings:
    """The slowest case of each target, written where ``GATEWAY_FUZZ_TIMINGS`` says."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.slowest = 0.0
        self.count = 0

    @contextlib.contextmanager
    def case(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with watchdog():
                yield
        finally:
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.count += 1

    def save(self) -> None:
        """One file per target in the ``GATEWAY_FUZZ_TIMINGS`` directory (pytest-xdist workers
        write at the same time)."""
        folder = os.environ.get(TIMINGS_VARIABLE)
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        record = {"target": self.target, "cases": self.count, "slowest_seconds": self.slowest}
        name = re.sub(r"[^a-z0-9]+", "-", self.target.lower()).strip("-")
        (Path(folder) / f"{name}.json").write_text(json.dumps(record))
