"""Dates and timestamps as edXML writes them, and the other forms real traffic carries (§2.3).

QCVN 102 writes ``yyyy/MM/dd`` and ``yyyy/MM/dd HH:mm:ss``; the legacy eDoc dialect writes
``dd/MM/yyyy HH:mm:ss``; some producers write ISO 8601. No form carries a timezone: all are ICT.
"""

from __future__ import annotations

import datetime as dt
import re

from gateway.errors import DateFormatError

ICT = dt.timezone(dt.timedelta(hours=7), "ICT")

_DATE = re.compile(
    r"^\s*(?:(?P<y1>\d{4})[/-](?P<m1>\d{1,2})[/-](?P<d1>\d{1,2})"
    r"|(?P<d2>\d{1,2})[/-](?P<m2>\d{1,2})[/-](?P<y2>\d{4}))"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?\s*$"
)


def _parse(text: str) -> tuple[dt.datetime, bool, bool]:
    """Return (value, had_time, was_canonical_order)."""
    m = _DATE.match(text)
    if not m:
        raise DateFormatError(f"{text!r} is not a date in yyyy/MM/dd form")
    canonical = m.group("y1") is not None
    if canonical:
        y, mo, d = m.group("y1"), m.group("m1"), m.group("d1")
    else:
        y, mo, d = m.group("y2"), m.group("m2"), m.group("d2")
    had_time = m.group("H") is not None
    try:
        value = dt.datetime(
            int(y),
            int(mo),
            int(d),
            int(m.group("H") or 0),
            int(m.group("M") or 0),
            int(m.group("S") or 0),
        )
    except ValueError as exc:
        raise DateFormatError(f"{text!r} is not a real calendar date: {exc}") from None
    return value, had_time, canonical


def parse_date(text: str) -> tuple[dt.date, bool]:
    """Parse a date; the flag says whether the text was already in the canonical form."""
    value, had_time, canonical = _parse(text)
    exact = canonical and not had_time and re.fullmatch(r"\d{4}/\d{2}/\d{2}", text) is not None
    return value.date(), exact


def parse_timestamp(text: str) -> tuple[dt.datetime, bool]:
    """Parse a timestamp (a bare date means midnight); the flag says whether it was canonical."""
    value, _had_time, _canonical = _parse(text)
    exact = re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}", text) is not None
    return value, exact


def format_date(value: dt.date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: dt.datetime) -> str:
    return f"{format_date(value)} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"


def format_legacy_timestamp(value: dt.datetime) -> str:
    """``dd/MM/yyyy HH:mm:ss``, as the legacy eDoc SOAP dialect writes trace timestamps."""
    return (
        f"{value.day:02d}/{value.month:02d}/{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def now_ict() -> dt.datetime:
    """The current wall-clock time in ICT, naive, as edXML carries it."""
    return dt.datetime.now(ICT).replace(tzinfo=None, microsecond=0)
