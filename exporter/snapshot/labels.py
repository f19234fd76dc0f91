"""Bilingual headings and number formatting shared by the snapshot outputs."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from exporter import words
from exporter.snapshot.periods import TZ

HEADINGS: dict[str, tuple[str, str]] = {
    "section": ("Lĩnh vực", "Area"),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "id": ("Mã chỉ tiêu", "Indicator id"),
    "value": ("Giá trị", "Value"),
    "previous": ("Kỳ trước", "Previous period"),
    "delta": ("Thay đổi", "Change"),
    "target": ("Mục tiêu", "Target"),
    "met": ("Đạt mục tiêu", "Target met"),
    "numerator": ("Tử số", "Numerator"),
    "denominator": ("Mẫu số", "Denominator"),
    "key": ("Đơn vị / nhóm", "Unit / row"),
    "unit": ("Mã đơn vị", "Unit code"),
    "unit_name": ("Tên đơn vị", "Unit name"),
    "level": ("Cấp", "Level"),
    "rank": ("Hạng", "Rank"),
    "previous_rank": ("Hạng kỳ trước", "Previous rank"),
    "rank_change": ("Thay đổi hạng", "Rank change"),
    "total": ("Tổng điểm", "Total score"),
    "system": ("Hệ thống", "System"),
    "monitored": ("Đối tượng giám sát", "Monitored target"),
    "availability": ("Tỷ lệ sẵn sàng", "Availability"),
    "observations": ("Số lần đo", "Observations"),
    "poll_duration": ("Thời gian thu thập TB (giây)", "Mean poll (s)"),
    "definition": ("Cách tính", "How it is computed"),
    "selectors": ("Chuỗi truy vấn", "Series selectors"),
    "note": ("Ghi chú", "Note"),
    "province": ("Toàn tỉnh", "Province"),
    "figure": ("Số liệu", "Figure"),
    "criterion": ("Tiêu chí", "Criterion"),
    "code": ("Mã", "Code"),
    "criterion_name": ("Nội dung tiêu chí", "Criterion"),
    "points": ("Điểm", "Points"),
    "maximum": ("Điểm tối đa", "Max"),
    "at_max": ("Tối đa", "At max"),
    "input": ("Nguồn số liệu", "Input"),
    "province_code": ("Mã tỉnh", "Province code"),
    "province_name": ("Tỉnh, thành phố", "Province"),
}

#: a national ranking section without data says so
NO_RANKING = (
    "Chưa có dữ liệu xếp hạng các tỉnh trong kỳ (egov_qd766_province_*): bật thu thập bảng xếp hạng của "
    "Cổng DVC quốc gia (collector qd766) / no national ranking data for the period: the qd766 collector "
    "records it when its ranking endpoints are enabled"
)

#: what an unverified scorecard (PAR 7's defaults) says wherever its criteria are shown
UNVERIFIED = (
    "* Bộ tiêu chí mặc định chưa được kiểm chứng với hướng dẫn chấm điểm hiện hành (indicators/par7.yaml) / "
    "* unverified defaults: criteria and points are a reconstruction, not the official assessment guide"
)

LEVELS: dict[str, tuple[str, str]] = {**words.LEVELS, "": ("Đơn vị", "Units")}


def head(key: str, sep: str = " / ") -> str:
    vi, en = HEADINGS[key]
    return f"{vi}{sep}{en}"


def both(pair: tuple[str, str], sep: str = " / ") -> str:
    return pair[0] if pair[0] == pair[1] else f"{pair[0]}{sep}{pair[1]}"


def system_name(system: str) -> str:
    return words.both(words.SYSTEMS, system)


def level_name(level: str) -> str:
    return both(LEVELS.get(level.lower(), (level, level)))


def local_time(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, TZ)


def local_text(iso_time: str | None) -> str:
    """An ISO time of the snapshot as people read it: 2026-09-30 20:00 (local time), or —."""
    if not iso_time:
        return "—"
    return f"{dt.datetime.fromisoformat(iso_time).astimezone(TZ):%Y-%m-%d %H:%M}"


def vn_number(x: float, decimals: int = 0) -> str:
    """Vietnamese style: 12.345,67"""
    text = f"{abs(x):,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return ("-" if x < 0 and float(text.replace(".", "").replace(",", ".")) != 0 else "") + text


def fmt_value(value: Any, display: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if display == "ratio":
        return vn_number(100 * value, 2) + " %"
    if display == "points":
        return vn_number(value, 2)
    if display == "timestamp":
        return f"{local_time(value):%d/%m/%Y %H:%M}"
    if display == "seconds":
        return vn_number(value, 3) + " s"
    return vn_number(value, 0 if float(value).is_integer() else 2)


def fmt_delta(delta: Any, display: str) -> str:
    """A change with its sign; one that rounds to zero is shown as ±0."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return "—"
    if display == "ratio":
        text, unit = vn_number(abs(100 * delta), 2), " điểm % / pp"
    elif display == "timestamp":
        text, unit = vn_number(abs(delta) / 86400, 1), " ngày / days"
    elif display == "points":
        text, unit = vn_number(abs(delta), 2), ""
    else:
        text, unit = vn_number(abs(delta), 0 if float(delta).is_integer() else 2), ""
    zero = not any(c in "123456789" for c in text)
    sign = "±" if zero else ("+" if delta > 0 else "−")
    return f"{sign}{text}{unit}"


def met(value: Any, target: Any) -> bool | None:
    if value is None or target is None:
        return None
    return value >= target - 1e-12


def missing_text(missing: dict[str, list[str]]) -> str:
    """``computed: CLGQ; provincial: CLGQ, TTTT``: the groups without a score, why a total is empty."""
    return "; ".join(f"{source}: {', '.join(groups)}" for source, groups in missing.items())


def missing_note(missing: dict[str, list[str]]) -> str:
    """Why a unit has no total, for people."""
    return f"Không tính tổng, thiếu nhóm / no total, groups missing: {missing_text(missing)}"


def below_text(band: dict[str, Any]) -> str:
    """``Communes under 80 points: 12 / 83``"""
    vi, en = LEVELS.get(band["level"].lower(), (band["level"], band["level"]))
    prev = "" if band["previous_count"] is None else f" (kỳ trước / previous {band['previous_count']})"
    return (
        f"{vi} dưới {band['below']:g} điểm / {en} under {band['below']:g} points: "
        f"{band['count']} / {band['of']}{prev}"
    )


def input_text(r: dict[str, Any]) -> str:
    """How a criterion was scored: measured, or entered by a person (who, when), or no data."""
    if r["input"] == "manual":
        when = f", {r['set_at'][:10]}" if r["set_at"] else ""
        return f"Nhập tay / manual: {r['set_by'] or '—'}{when}"
    if r["input"] == "measured":
        return "Đo / measured"
    return "Không có dữ liệu / no data"


def file_base(doc: dict[str, Any]) -> str:
    return "egov-snapshot-" + doc["period"]["label"].replace("..", "_to_").replace(":", "")
