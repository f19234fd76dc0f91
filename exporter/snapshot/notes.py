"""What a reader must know before reading a snapshot's figures, in Vietnamese and English: the period is not
over, the history does not cover the whole period (and what that means for each kind of figure), there is
nothing (or only part of a period) to compare with.

Every output shows these notes first (the JSON's ``notes``, the CSV ``-notes.csv``, the XLSX summary, the
HTML report's cover).  Each note is ``{"code", "vi", "en"}``; the codes are stable for scripts:

* ``period_not_over``   the period ends after the snapshot was taken;
* ``history_partial``   the samples of the period start late or stop early (or, for a range read as an
  increase, nothing precedes its start);
* ``no_previous``       no data at all for the previous period;
* ``previous_partial``  the previous period is covered in part only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exporter.snapshot.periods import TZ


def _when(text: str, lang: str) -> str:
    t = dt.datetime.fromisoformat(text).astimezone(TZ)
    return f"{t:%H:%M %d/%m/%Y}" if lang == "vi" else f"{t:%d %b %Y %H:%M}"


def _day(text: str, lang: str) -> str:
    t = dt.datetime.fromisoformat(text).astimezone(TZ) - dt.timedelta(seconds=1)
    return f"{t:%d/%m/%Y}" if lang == "vi" else f"{t:%d %b %Y}"


def _ts(text: str | None) -> float | None:
    return None if text is None else dt.datetime.fromisoformat(text).timestamp()


def _gaps(period: dict[str, Any], cov: dict[str, Any], now: float, step: float) -> tuple[bool, bool, bool]:
    """(starts late, stops early, counts are a partial increase) for a period and what the data cover."""
    start, end = _ts(period["start"]), _ts(period["end"])
    first, last = _ts(cov["first_sample"]), _ts(cov["last_sample"])
    assert start is not None and end is not None
    if first is None or last is None:
        return True, True, period["counter_period"] is None
    late = first - start > step
    early = last < min(end, now) - step
    increase = period["counter_period"] is None and not cov["sample_before_start"]
    return late, early, increase


def _partial(cov: dict[str, Any], late: bool, early: bool, increase: bool, lang: str) -> str:
    """What a partial cover means for each kind of figure."""
    first, last = _when(cov["first_sample"], lang), _when(cov["last_sample"], lang)
    vi = lang == "vi"
    parts = []
    if increase:
        parts.append(
            f"số lượng và tỷ lệ chỉ là phần tăng từ {first} đến {last}, không phải của cả khoảng thời gian"
            if vi
            else f"counts and ratios are only the increase from {first} to {last}, not over the whole range"
        )
    elif early:
        parts.append(
            f"số lượng và tỷ lệ là số lũy kế của kỳ đến {last}"
            if vi
            else f"counts and ratios are the period-to-date figures as of {last}"
        )
    elif late:
        parts.append(
            "số lượng và tỷ lệ vẫn đủ cả kỳ (bộ đếm lũy kế của hệ thống tính từ đầu kỳ)"
            if vi
            else "counts and ratios still cover the whole period (the systems' period-to-date counters "
            "count from its start)"
        )
    if early:
        parts.append(
            f"điểm và các giá trị khác là giá trị lúc {last}"
            if vi
            else f"scores and other values are those at {last}"
        )
    days = f"{cov['days_with_data']}/{cov['days']}"
    parts.append(
        f"tỷ lệ sẵn sàng và diễn biến chỉ tính trên {days} ngày có dữ liệu"
        if vi
        else f"availability and trends cover only the {days} days with data"
    )
    return "; ".join(parts)


def _note(code: str, vi: str, en: str) -> dict[str, str]:
    return {"code": code, "vi": vi, "en": en}


def build_notes(
    doc: dict[str, Any], now: float, step: float, previous_has_data: bool
) -> list[dict[str, str]]:
    period, prev, cov = doc["period"], doc["previous_period"], doc["coverage"]
    cur, pcov = cov["current"], cov["previous"]
    notes: list[dict[str, str]] = []
    end, start = _ts(period["end"]), _ts(period["start"])
    assert end is not None and start is not None
    if now < end:
        last = cur["last_sample"]
        day = int(((_ts(last) or now) - start) // 86400) + 1
        of = f"{day}/{cur['days']}"
        notes.append(
            _note(
                "period_not_over",
                f"Kỳ báo cáo chưa kết thúc (đến hết ngày {_day(period['end'], 'vi')}): số liệu tính đến "
                f"{_when(last, 'vi') if last else '—'}, ngày thứ {of} của kỳ. Số lượng, tỷ lệ và điểm là "
                f"số lũy kế đến thời điểm đó và còn thay đổi; cột Thay đổi so sánh {day} ngày này với cả "
                "kỳ trước.",
                f"The period is not over (it ends with {_day(period['end'], 'en')}): figures are as of "
                f"{_when(last, 'en') if last else '—'}, day {of}. Counts, ratios and scores are "
                f"period-to-date and will still change; the Change column compares these {day} days with the "
                "whole previous period.",
            )
        )
    late, early, increase = _gaps(period, cur, now, step)
    if cur["first_sample"] and (late or early or increase):
        first, last = cur["first_sample"], cur["last_sample"]
        notes.append(
            _note(
                "history_partial",
                f"Dữ liệu chỉ có từ {_when(first, 'vi')} đến {_when(last, 'vi')}, không đủ cả kỳ: "
                + _partial(cur, late, early, increase, "vi")
                + ".",
                f"The data cover {_when(first, 'en')} to {_when(last, 'en')} only, not the whole period: "
                + _partial(cur, late, early, increase, "en")
                + ".",
            )
        )
    if not previous_has_data:
        notes.append(
            _note(
                "no_previous",
                f"Không có dữ liệu của kỳ trước ({prev['title_vi']}) để so sánh: cột Kỳ trước và Thay đổi "
                "để trống.",
                f"There are no data for the previous period ({prev['title_en']}) to compare with: the "
                "Previous and Change columns are empty.",
            )
        )
    elif pcov["first_sample"]:
        late, early, increase = _gaps(prev, pcov, now, step)
        first, last = pcov["first_sample"], pcov["last_sample"]
        if late or early or increase:
            notes.append(
                _note(
                    "previous_partial",
                    f"Kỳ trước ({prev['title_vi']}) chỉ có dữ liệu từ {_when(first, 'vi')} đến "
                    f"{_when(last, 'vi')}: " + _partial(pcov, late, early, increase, "vi") + ".",
                    f"The previous period ({prev['title_en']}) has data from {_when(first, 'en')} to "
                    f"{_when(last, 'en')} only: " + _partial(pcov, late, early, increase, "en") + ".",
                )
            )
    return notes
