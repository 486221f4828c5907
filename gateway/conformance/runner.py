"""Run a dialect's assertions in order and collect an outcome for each."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.conformance.dialects import DIALECTS
from gateway.conformance.exchanges import Exchange, ExchangeLog
from gateway.conformance.registry import REGISTRY, Assertion, Failed, NotApplicable, Skipped
from gateway.conformance.session import RunConfig

PASS, FAIL, SKIP, NOT_APPLICABLE = "pass", "fail", "skip", "n/a"


@dataclass(slots=True)
class Outcome:
    assertion: Assertion
    status: str
    reason: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blocking(self) -> bool:
        """A mandatory assertion that did not pass (not-applicable ones do not block)."""
        return self.assertion.mandatory and self.status in (FAIL, SKIP)


@dataclass(slots=True)
class RunResult:
    config: RunConfig
    outcomes: list[Outcome]
    setup_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.setup_error and not any(o.blocking for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def failed_ids(self) -> list[str]:
        return [o.assertion.id for o in self.outcomes if o.status == FAIL]


def assertions(dialect: str) -> list[Assertion]:
    """The dialect's assertions, in running order (their modules are imported here)."""
    DIALECTS[dialect].load()
    return REGISTRY.for_dialect(dialect)


def _matches(item: Assertion, selectors: tuple[str, ...]) -> bool:
    wanted = {s.upper().removeprefix("EDGW-") for s in selectors}
    short = item.id.removeprefix("EDGW-")
    return short in wanted or short.removeprefix("LEG-") in wanted or item.group in wanted


def select(items: list[Assertion], config: RunConfig) -> list[Assertion]:
    chosen = [a for a in items if not config.only or _matches(a, config.only)]
    return [a for a in chosen if not _matches(a, config.skip)]


def run(
    config: RunConfig,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    workdir: Path | None = None,
) -> RunResult:
    """Connect, then run every selected assertion; nothing an assertion raises stops the run."""
    dialect = DIALECTS.get(config.dialect)
    if dialect is None:
        known = ", ".join(DIALECTS)
        return RunResult(config, [], f"unknown dialect {config.dialect!r} (known: {known})")
    connect = dialect.load()
    chosen = select(REGISTRY.for_dialect(config.dialect), config)
    log = ExchangeLog()
    with tempfile.TemporaryDirectory(prefix="edoc-conformance-", dir=workdir) as scratch:
        try:
            session = connect(config, log, Path(scratch))
        except Exception as exc:
            return RunResult(config, [], f"could not connect: {type(exc).__name__}: {exc}")
        outcomes = []
        for item in chosen:
            outcome = _run_one(item, session, log)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return RunResult(config, outcomes)


def _run_one(item: Assertion, session: object, log: ExchangeLog) -> Outcome:
    mark = log.mark()
    used: list[Exchange] = getattr(session, "used", [])
    used.clear()
    started = time.perf_counter()
    status, reason = PASS, ""
    try:
        item.check(session)
    except NotApplicable as exc:
        status, reason = NOT_APPLICABLE, str(exc)
    except Skipped as exc:
        status, reason = SKIP, str(exc)
    except Failed as exc:
        status, reason = FAIL, str(exc)
    except Exception as exc:
        status, reason = FAIL, f"unexpected {type(exc).__name__}: {exc}"
    exchanges = [*used, *log.since(mark)] if status == FAIL else []
    return Outcome(item, status, reason, exchanges, time.perf_counter() - started)
