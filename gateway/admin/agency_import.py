"""Bulk registration of agencies from a CSV file (``agencies import``, the console's upload).

A province has hundreds to thousands of agencies: one file, one command, one report. The file
has a header row naming its columns: ``code`` and ``name`` are required, ``email`` and
``parent`` optional (UTF-8, a BOM allowed, comma or semicolon separated as spreadsheets write
them). Each line is checked as ``agencies add`` checks it; a line that fails is refused with
its code and reason and the others go on. An agency already registered is left as it is, so
running the same file twice changes nothing (``exists``). A parent may come later in the file
than the agencies under it. ``dry_run`` checks everything and writes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.edxml.agency import check_registrable
from gateway.errors import BadRequest, GatewayError
from gateway.security.credentials import Credentials, valid_email

COLUMNS = ("code", "name", "email", "parent")
MAX_LINES = 100_000


@dataclass(frozen=True, slots=True)
class LineOutcome:
    line: int
    code: str
    outcome: str
    """``added`` (or ``would add`` on a dry run), ``exists`` or ``refused``."""
    reason: str = ""
    error_code: str = ""


@dataclass(frozen=True, slots=True)
class ImportReport:
    lines: tuple[LineOutcome, ...]
    dry_run: bool
    problem: str = ""
    """A problem with the file as a whole (no header, a missing column): nothing was done."""

    def count(self, outcome: str) -> int:
        return sum(line.outcome == outcome for line in self.lines)

    @property
    def ok(self) -> bool:
        return not self.problem and self.count("refused") == 0

    def render(self) -> Iterable[str]:
        if self.problem:
            yield f"refused: {self.problem}"
            return
        for line in self.lines:
            why = f"  {line.error_code}: {line.reason}" if line.outcome == "refused" else ""
            yield f"line {line.line:>5}  {line.outcome:<9} {line.code}{why}"
        added = "would add" if self.dry_run else "added"
        yield (
            f"{self.count('added') + self.count('would add')} {added}, {self.count('exists')} "
            f"already registered, {self.count('refused')} refused"
            + (" (dry run: nothing written)" if self.dry_run else "")
        )


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    code: str
    name: str
    email: str
    parent: str


def read_rows(text: str) -> tuple[list[_Row], str]:
    """The file's rows, or a problem with the file as a whole."""
    text = text.removeprefix("\ufeff")
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], "the file is empty (tệp rỗng): a header row code,name[,email,parent] is needed"
    except csv.Error as exc:
        return [], f"the file is not CSV: {exc}"
    missing = [c for c in ("code", "name") if c not in header]
    if missing:
        return [], (
            f"the header row has no {' and no '.join(missing)} column (thiếu cột): "
            f"columns are {', '.join(COLUMNS)}"
        )
    index = {name: header.index(name) for name in COLUMNS if name in header}
    rows: list[_Row] = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_LINES:
                return [], f"more than {MAX_LINES} lines: split the file"

            def cell(column: str, cells: list[str] = cells) -> str:
                at = index.get(column)
                return cells[at].strip() if at is not None and at < len(cells) else ""

            rows.append(_Row(number, cell("code"), cell("name"), cell("email"), cell("parent")))
    except csv.Error as exc:
        return [], f"line {reader.line_num}: not CSV: {exc}"
    return rows, ""


def import_agencies(
    credentials: Credentials, text: str, now: dt.datetime, *, dry_run: bool
) -> ImportReport:
    rows, problem = read_rows(text)
    if problem:
        return ImportReport((), dry_run, problem)
    store = credentials.store
    outcomes: dict[int, LineOutcome] = {}
    known = {a.code for a in store.list_agencies()}
    pending: list[_Row] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            code = check_registrable(row.code, path=f"line {row.line} code")
            if not row.name:
                raise BadRequest("N.Agency.Name", "the agency's name (tên đơn vị) is empty")
            valid_email(row.email)
        except GatewayError as exc:
            outcomes[row.line] = LineOutcome(row.line, row.code, "refused", exc.message, exc.code)
            continue
        if code in seen:
            outcomes[row.line] = LineOutcome(
                row.line, code, "refused", f"the same code is on line {seen[code]}",
                "M.Agency.Duplicate",
            )
            continue
        seen[code] = row.line
        if code in known:
            outcomes[row.line] = LineOutcome(row.line, code, "exists")
            continue
        pending.append(_Row(row.line, code, row.name, row.email, row.parent))
    # Parents first: a row waits until its parent is registered (or would be, on a dry run).
    while pending:
        ready = [r for r in pending if not r.parent or r.parent in known]
        if not ready:
            for row in pending:
                in_file = row.parent in seen
                outcomes[row.line] = LineOutcome(
                    row.line, row.code, "refused",
                    f"the parent {row.parent} is refused on its line or forms a cycle"
                    if in_file else f"no agency {row.parent} is registered (đơn vị cấp trên)",
                    "N.Agency",
                )
            break
        for row in ready:
            pending.remove(row)
            if dry_run:
                outcomes[row.line] = LineOutcome(row.line, row.code, "would add")
                known.add(row.code)
                continue
            try:
                credentials.add_agency(row.code, row.name, row.email, now, parent=row.parent)
            except GatewayError as exc:
                outcomes[row.line] = LineOutcome(
                    row.line, row.code, "refused", exc.message, exc.code
                )
                continue
            outcomes[row.line] = LineOutcome(row.line, row.code, "added")
            known.add(row.code)
    return ImportReport(tuple(outcomes[n] for n in sorted(outcomes)), dry_run)
