"""What every part shares about the country it watches: the time zone, the calendar reporting periods
(kỳ báo cáo) and how Vietnamese text is compared.  One definition each, used by the collectors, the
indicator engine, the history, the snapshots and the simulator."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

#: Vietnam's time zone: periods start at local midnight, dates without a time are local
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: the calendar reporting periods the systems publish figures for
PERIODS = ("month", "quarter", "year")


def period_start(now: dt.datetime, period: str) -> dt.datetime:
    """Local midnight of the first day of the day, month, quarter or year containing ``now``."""
    local = now.astimezone(TZ)
    if period == "day":
        first = local
    elif period in PERIODS:
        month = {"month": local.month, "quarter": local.month - (local.month - 1) % 3, "year": 1}[period]
        first = local.replace(month=month, day=1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return first.replace(hour=0, minute=0, second=0, microsecond=0)


def norm_text(text: str) -> str:
    """Text compared the way people read it: NFC (some systems send decomposed Vietnamese), case-folded,
    whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def words(text: str) -> list[str]:
    """The words of ``text`` (normalised as :func:`norm_text`, punctuation dropped), e.g. to match menu
    entries as sets of words: "Bộ máy tổ chức" and "Tổ chức bộ máy" have the same words."""
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold())
