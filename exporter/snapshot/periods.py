"""Reporting periods (kỳ báo cáo): calendar quarter, month, year, or a range, in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from exporter.domain import TZ

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class PeriodError(ValueError):
    """An invalid period on the command line (one line, for the user)."""


@dataclasses.dataclass(frozen=True)
class Period:
    #: quarter, month, year or range
    kind: str
    #: 2026Q3, 2026-08, 2026, 2026-07-15..2026-08-14
    label: str
    start: dt.datetime
    #: exclusive
    end: dt.datetime

    @property
    def counter_period(self) -> str | None:
        """The ``period`` label of the period-to-date counters that hold this period's totals: the period's
        own kind, or for a range that starts where a calendar month (quarter, year) starts and ends within
        it, that period's (its counters at the range's end count from the range's start: exact, whenever
        the history began).  None: a range read as the increase of the year's counters."""
        if self.kind in ("quarter", "month", "year"):
            return self.kind
        for candidate in _calendar_candidates(self.start):
            if candidate.start == self.start and self.end <= candidate.end:
                return candidate.kind
        return None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(seconds=1)).date()

    def title(self, lang: str) -> str:
        s, e = self.start, self.last_day
        if self.kind == "quarter":
            q = (s.month - 1) // 3 + 1
            return f"Quý {q}/{s.year}" if lang == "vi" else f"Q{q} {s.year}"
        if self.kind == "month":
            return f"Tháng {s.month}/{s.year}" if lang == "vi" else f"{_MONTHS_EN[s.month - 1]} {s.year}"
        if self.kind == "year":
            return f"Năm {s.year}" if lang == "vi" else f"Year {s.year}"
        if lang == "vi":
            return f"Từ {s:%d/%m/%Y} đến {e:%d/%m/%Y}"
        return f"{s:%d %b %Y} to {e:%d %b %Y}"

    def previous(self) -> Period:
        s = self.start
        if self.kind == "quarter":
            return quarter(s.year - (s.month == 1), (s.month - 1) // 3 or 4)
        if self.kind == "month":
            return month(s.year - (s.month == 1), s.month - 1 or 12)
        if self.kind == "year":
            return year(s.year - 1)
        length = self.end - self.start
        return _range(self.start - length, self.start)

    def describe(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": "Asia/Ho_Chi_Minh",
            "title_vi": self.title("vi"),
            "title_en": self.title("en"),
            "counter_period": self.counter_period,
        }


def _local(y: int, m: int, d: int = 1) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=TZ)


def quarter(y: int, q: int) -> Period:
    start = _local(y, 3 * (q - 1) + 1)
    end = _local(y + 1, 1) if q == 4 else _local(y, 3 * q + 1)
    return Period("quarter", f"{y}Q{q}", start, end)


def month(y: int, m: int) -> Period:
    end = _local(y + 1, 1) if m == 12 else _local(y, m + 1)
    return Period("month", f"{y}-{m:02d}", _local(y, m), end)


def year(y: int) -> Period:
    return Period("year", str(y), _local(y, 1), _local(y + 1, 1))


def _range(start: dt.datetime, end: dt.datetime) -> Period:
    for candidate in _calendar_candidates(start):
        if candidate.start == start and candidate.end == end:
            return candidate
    last = end - dt.timedelta(seconds=1)
    whole_days = start.time() == dt.time(0) and end.time() == dt.time(0)
    label = (
        f"{start:%Y-%m-%d}..{last:%Y-%m-%d}"
        if whole_days
        else f"{start:%Y-%m-%dT%H:%M}..{end:%Y-%m-%dT%H:%M}"
    )
    return Period("range", label, start, end)


def _calendar_candidates(start: dt.datetime) -> list[Period]:
    """The calendar periods of ``start``'s month, quarter and year (shortest first)."""
    return [month(start.year, start.month), quarter(start.year, (start.month - 1) // 3 + 1), year(start.year)]


_YEAR = r"(\d{4})"


def _check_year(y: int, flag: str, text: str, example: str) -> int:
    if not 1970 <= y <= 9999:
        raise PeriodError(f"{flag} {text!r}: the year must be between 1970 and 9999 (e.g. {example})")
    return y


def parse_quarter(text: str) -> Period:
    m = re.fullmatch(_YEAR + r"-?[Qq]([0-9]+)", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 4:
        raise PeriodError(f"--quarter must be a year and a quarter 1-4 like 2026Q3, got {text!r}")
    return quarter(_check_year(int(m.group(1)), "--quarter", text, "2026Q3"), int(m.group(2)))


def parse_month(text: str) -> Period:
    m = re.fullmatch(_YEAR + r"-([0-9]{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"--month must be a year and a month 01-12 like 2026-08, got {text!r}")
    return month(_check_year(int(m.group(1)), "--month", text, "2026-08"), int(m.group(2)))


def parse_year(text: str) -> Period:
    m = re.fullmatch(_YEAR, text.strip())
    if not m:
        raise PeriodError(f"--year must be a year like 2026, got {text!r}")
    return year(_check_year(int(m.group(1)), "--year", text, "2026"))


def _parse_when(text: str, flag: str, inclusive_day: bool) -> dt.datetime:
    t = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = dt.date.fromisoformat(t)
            day = dt.datetime(d.year, d.month, d.day, tzinfo=TZ)
            return day + dt.timedelta(days=1) if inclusive_day else day
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?", t):
            when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
            return when.replace(tzinfo=TZ) if when.tzinfo is None else when.astimezone(TZ)
    except ValueError:
        pass
    raise PeriodError(f"{flag} must be a date like 2026-07-01 or a time like 2026-07-01T08:00, got {text!r}")


def parse_range(start: str, end: str) -> Period:
    """``--from``/``--to``: dates are whole days (``--to`` inclusive), times are exact (``--to``
    exclusive)."""
    s = _parse_when(start, "--from", inclusive_day=False)
    e = _parse_when(end, "--to", inclusive_day=True)
    if e <= s:
        raise PeriodError(f"--to ({end}) must be after --from ({start})")
    return _range(s, e)


def period_from_args(
    quarter_: str | None, month_: str | None, year_: str | None, start: str | None, end: str | None
) -> Period:
    given = [f for f, v in (("--quarter", quarter_), ("--month", month_), ("--year", year_)) if v is not None]
    ranged = start is not None or end is not None
    if len(given) + ranged != 1:
        raise PeriodError(
            "give exactly one period: --quarter 2026Q3, --month 2026-08, --year 2026 or "
            "--from 2026-07-01 --to 2026-09-30"
            + (f" (got {', '.join(given + ['--from/--to'] * ranged)})" if given or ranged else "")
        )
    if quarter_ is not None:
        return parse_quarter(quarter_)
    if month_ is not None:
        return parse_month(month_)
    if year_ is not None:
        return parse_year(year_)
    if start is None or end is None:
        raise PeriodError("--from and --to go together (e.g. --from 2026-07-01 --to 2026-09-30)")
    return parse_range(start, end)
