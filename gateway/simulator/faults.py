"""Faults the simulator injects on request, so tests can prove the relay survives a bad axis.

A rule names a kind, optionally one operation, and fires either with a probability or a number of
times (both: the first ``count`` requests that also win the draw). Kinds:

- ``drop``: read the request, then close without answering;
- ``delay=MS``: wait MS milliseconds, then process normally (a client timeout still lets it land);
- ``error=STATUS``: answer HTTP STATUS (default 503) with a plain-text body, processing nothing;
- ``reset``: abort the connection with a TCP RST before answering, processing nothing;
- ``duplicate``: a sendEdoc is delivered twice, under two receiver DocIds.

Text form (``--faults``): ``KIND[=ARG][:op=OPERATION][:p=PROBABILITY][:count=N]``, e.g.
``reset:op=sendEdoc:count=2`` or ``delay=1500:p=0.2``. JSON form (the admin endpoint): objects
with ``kind``, ``arg``, ``operation``, ``probability``, ``count``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["drop", "delay", "error", "reset", "duplicate"]
KINDS: tuple[FaultKind, ...] = ("drop", "delay", "error", "reset", "duplicate")
CONNECTION_KINDS: tuple[FaultKind, ...] = ("drop", "delay", "error", "reset")
"""Kinds applied by the HTTP layer before the request reaches the protocol."""


@dataclass
class FaultRule:
    kind: FaultKind
    arg: int = 0
    """delay: milliseconds; error: the HTTP status."""
    operation: str = ""
    """Only this operation (empty: every operation)."""
    probability: float = 1.0
    count: int | None = None
    """Fire at most this many times (None: unlimited)."""
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability {self.probability} is not between 0 and 1")
        if self.count is not None and self.count < 0:
            raise ValueError("count must not be negative")
        if self.kind == "error" and not self.arg:
            self.arg = 503
        if self.kind == "error" and not 500 <= self.arg <= 599:
            raise ValueError(f"error status {self.arg} is not a 5xx")
        if self.kind == "delay" and self.arg <= 0:
            raise ValueError("delay needs milliseconds, e.g. delay=1500")

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        head, *options = text.strip().split(":")
        kind, _, arg = head.partition("=")
        values: dict[str, str] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in ("op", "p", "count"):
                raise ValueError(f"fault option {option!r}: expected op=, p= or count=")
            values[key] = value
        try:
            return cls(
                kind=kind.strip(),  # type: ignore[arg-type]
                arg=int(arg) if arg else 0,
                operation=values.get("op", ""),
                probability=float(values.get("p", "1")),
                count=int(values["count"]) if "count" in values else None,
            )
        except ValueError as exc:
            raise ValueError(f"fault {text!r}: {exc}") from None

    @classmethod
    def from_json(cls, value: Any) -> FaultRule:
        if not isinstance(value, dict):
            raise ValueError("a fault rule is a JSON object")
        count = value.get("count")
        return cls(
            kind=str(value.get("kind", "")),  # type: ignore[arg-type]
            arg=int(value.get("arg", 0)),
            operation=str(value.get("operation", "")),
            probability=float(value.get("probability", 1.0)),
            count=None if count is None else int(count),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """The rules in force, shared by the HTTP layer and the backend; safe across threads."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._rules = list(rules or [])
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [FaultRule(**asdict(rule)) for rule in self._rules]

    def take(self, operation: str, kinds: tuple[FaultKind, ...]) -> FaultRule | None:
        """The first rule of one of ``kinds`` that fires for this request (counted)."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or (rule.operation and rule.operation != operation):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return FaultRule(**asdict(rule))
        return None
