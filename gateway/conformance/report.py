"""The run's report: a rich table for people, JUnit XML for CI.

Failures show their reason and the messages exchanged (request and response, clipped to their
head and tail), so a vendor can see what their endpoint answered without a packet capture.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.conformance.exchanges import SHOW_BYTES, Exchange, clip
from gateway.conformance.registry import Assertion
from gateway.conformance.runner import FAIL, NOT_APPLICABLE, PASS, SKIP, Outcome, RunResult

_STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow", NOT_APPLICABLE: "cyan"}
SHOW_EXCHANGES = 4
"""Failures show at most the last few exchanges (the ones closest to what went wrong)."""


def listing(items: list[Assertion], console: Console) -> None:
    table = Table(title="Conformance assertions", show_lines=False)
    for column in ("id", "M/O", "checks", "reference"):
        table.add_column(column)
    for item in items:
        table.add_row(item.id, "M" if item.mandatory else "O", item.title, item.section)
    console.print(table)
    mandatory = sum(a.mandatory for a in items)
    console.print(f"{len(items)} assertions, {mandatory} mandatory")


def render(result: RunResult, console: Console) -> None:
    config = result.config
    console.print(
        f"[bold]edoc-gateway conformance[/bold]: dialect {config.dialect}, endpoint "
        f"{config.endpoint}, agency {config.agency}"
        + (f", peer {config.peer_agency}" if config.peer_agency else ", no peer agency")
    )
    if result.setup_error:
        console.print(f"[bold red]could not run:[/bold red] {result.setup_error}")
        return
    table = Table(show_lines=False)
    for column in ("id", "M/O", "result", "checks", "reason"):
        table.add_column(column, overflow="fold")
    for o in result.outcomes:
        table.add_row(
            o.assertion.id,
            "M" if o.assertion.mandatory else "O",
            Text(o.status.upper(), style=_STYLE[o.status]),
            o.assertion.title,
            o.reason,
        )
    console.print(table)
    for o in result.outcomes:
        if o.status == FAIL:
            _failure(o, console)
    blocking = [o.assertion.id for o in result.outcomes if o.blocking]
    console.print(
        f"{result.count(PASS)} passed, {result.count(FAIL)} failed, {result.count(SKIP)} skipped, "
        f"{result.count(NOT_APPLICABLE)} not applicable, of {len(result.outcomes)}"
    )
    if result.ok:
        console.print("[bold green]CONFORMANT[/bold green]: every mandatory assertion passed")
    else:
        console.print(
            "[bold red]NOT CONFORMANT[/bold red]: mandatory assertions not passed: "
            + ", ".join(blocking)
        )


def _failure(outcome: Outcome, console: Console) -> None:
    a = outcome.assertion
    console.rule(f"[red]{a.id}[/red] {a.title}")
    console.print(f"reference: {a.section}")
    console.print(f"reason: {outcome.reason}", markup=False)
    shown = outcome.exchanges[-SHOW_EXCHANGES:]
    if len(outcome.exchanges) > len(shown):
        console.print(f"({len(outcome.exchanges) - len(shown)} earlier exchanges not shown)")
    for exchange in shown:
        console.print(exchange_text(exchange), markup=False, highlight=False)


def exchange_text(exchange: Exchange, limit: int = SHOW_BYTES) -> str:
    """One exchange as text: request line, body (clipped), status, response body (clipped)."""
    request = clip(exchange.request_body, limit).decode("utf-8", "replace")
    lines = [
        f">>> {exchange.method} {exchange.url} ({exchange.request_size} bytes)",
        request,
    ]
    if exchange.error:
        lines.append(f"<<< no response: {exchange.error}")
    else:
        lines.append(f"<<< HTTP {exchange.status} ({exchange.response_size} bytes)")
        lines.append(clip(exchange.response_body, limit).decode("utf-8", "replace"))
    return "\n".join(lines)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text an XML document can hold (binary bytes in an exchange would not be)."""
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def write_junit(result: RunResult, target: Path) -> None:
    """JUnit XML: one testsuite per run, one testcase per assertion (classname = group)."""
    suite = etree.Element(
        "testsuite",
        name=f"edoc-gateway conformance ({result.config.dialect})",
        tests=str(len(result.outcomes)),
        failures=str(result.count(FAIL)),
        errors="1" if result.setup_error else "0",
        skipped=str(result.count(SKIP) + result.count(NOT_APPLICABLE)),
        time=f"{sum(o.seconds for o in result.outcomes):.3f}",
    )
    properties = etree.SubElement(suite, "properties")
    for name, value in (
        ("endpoint", result.config.endpoint),
        ("dialect", result.config.dialect),
        ("agency", result.config.agency),
        ("peer_agency", result.config.peer_agency),
    ):
        etree.SubElement(properties, "property", name=name, value=value)
    if result.setup_error:
        case = etree.SubElement(suite, "testcase", classname="SETUP", name="connect")
        etree.SubElement(case, "error", message=result.setup_error)
    for o in result.outcomes:
        a = o.assertion
        case = etree.SubElement(
            suite,
            "testcase",
            classname=f"{result.config.dialect}.{a.group}",
            name=f"{a.id} {a.title}",
            time=f"{o.seconds:.3f}",
        )
        etree.SubElement(case, "properties").extend(
            [
                etree.Element("property", name="mandatory", value=str(a.mandatory).lower()),
                etree.Element("property", name="reference", value=a.section),
            ]
        )
        if o.status == FAIL:
            failure = etree.SubElement(case, "failure", message=_xml(o.reason), type="conformance")
            failure.text = _xml(
                "\n\n".join(exchange_text(e) for e in o.exchanges[-SHOW_EXCHANGES:])
            )
        elif o.status in (SKIP, NOT_APPLICABLE):
            etree.SubElement(case, "skipped", message=_xml(f"{o.status}: {o.reason}"))
    target.write_bytes(
        etree.tostring(suite, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
