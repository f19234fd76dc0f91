"""The shared domain helpers: periods in Vietnam's time zone, and Vietnamese text compared as people read it."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from exporter.domain import TZ, norm_text, period_start, words

UTC = dt.UTC


@pytest.mark.parametrize(
    "now, period, start",
    [
        # 2026-09-30 20:00 UTC is already 1 October in Vietnam: the new month and quarter have begun
        (dt.datetime(2026, 9, 30, 20, 0, tzinfo=UTC), "month", dt.datetime(2026, 10, 1, tzinfo=TZ)),
        (dt.datetime(2026, 9, 30, 20, 0, tzinfo=UTC), "quarter", dt.datetime(2026, 10, 1, tzinfo=TZ)),
        (dt.datetime(2026, 9, 30, 16, 59, tzinfo=UTC), "quarter", dt.datetime(2026, 7, 1, tzinfo=TZ)),
        (dt.datetime(2026, 12, 3, 8, 0, tzinfo=TZ), "year", dt.datetime(2026, 1, 1, tzinfo=TZ)),
        (dt.datetime(2026, 12, 3, 8, 0, tzinfo=TZ), "day", dt.datetime(2026, 12, 3, tzinfo=TZ)),
        (dt.datetime(2026, 5, 31, 23, 59, tzinfo=TZ), "quarter", dt.datetime(2026, 4, 1, tzinfo=TZ)),
    ],
)
def test_period_start_is_local_midnight(now, period, start):
    assert period_start(now, period) == start


def test_unknown_period_is_refused():
    with pytest.raises(ValueError, match="unknown period 'week'"):
        period_start(dt.datetime(2026, 1, 1, tzinfo=TZ), "week")


def test_text_compared_as_read():
    decomposed = unicodedata.normalize("NFD", "Tổ chức  Bộ máy")
    assert norm_text(decomposed) == norm_text("tổ chức bộ máy") == "tổ chức bộ máy"
    assert sorted(words("Bộ máy tổ chức")) == sorted(words("Tổ chức - bộ máy"))
    assert words("Tin tức - Sự kiện") == ["tin", "tức", "sự", "kiện"]
