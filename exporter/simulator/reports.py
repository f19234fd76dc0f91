"""Helpers of the simulated statistics APIs (``documents``, ``services``): the reporting period a request
asks for, and numbers written the Vietnamese way.

Statistics APIs take a date range (``fromDate``/``toDate``, ``tuNgay``/``denNgay``).  The exporter asks
for [first day of the month, quarter or year, today]; the simulator answers that **reporting period** to
the simulated now (``World.count(..., period)``), so with ``--speed`` > 1 the figures keep moving and reset
when the simulated period starts, instead of freezing at the end of the exporter's today.
"""

from __future__ import annotations

import datetime as dt

from exporter.simulator.world import TZ, period_start

PERIODS = ("month", "quarter", "year")


def parse_day(text: str | None) -> dt.date | None:
    """``2026-11-01``, ``2026-11-01T00:00:00+07:00`` or ``01/11/2026``; None when it is neither."""
    if not text:
        return None
    text = text.strip()
    for fmt, size in (("%Y-%m-%d", 10), ("%d/%m/%Y", 10)):
        try:
            return dt.datetime.strptime(text[:size], fmt).date()
        except ValueError:
            continue
    return None


def reporting_period(first: str | None, last: str | None, now: dt.datetime) -> str | None:
    """The period (month, quarter, year) the range [first, last] asks for, or None when it is not one.

    ``first`` must be the first day of a month, quarter or year and ``last`` (default: the simulated
    today) in the same period.  A range that starts where one of the simulated now's periods starts is
    that period; otherwise (the exporter's clock differs from the accelerated simulated one) the
    shortest period shape that fits."""
    start = parse_day(first)
    end = parse_day(last) if last else now.astimezone(TZ).date()
    if start is None or end is None or start.day != 1 or end < start:
        return None
    for period in PERIODS:
        if period_start(now, period).date() == start:
            return period
    if (end.year, end.month) == (start.year, start.month):
        return "month"
    if start.month in (1, 4, 7, 10) and end.year == start.year and end.month - start.month < 3:
        return "quarter"
    if start.month == 1 and end.year == start.year:
        return "year"
    return None


def vi_number(n: int) -> str:
    """``1234567`` -> ``1.234.567`` (thousands separated by dots, as Vietnamese tables print them)."""
    return f"{n:,}".replace(",", ".")
