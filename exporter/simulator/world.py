"""The simulated province: its units, a clock, and counters that grow through the working day.

Everything is deterministic for a given seed and simulated time, so tests can compute the exact values a
collector should see.  Counters are period-to-date totals (since the start of the month, quarter or year
in Asia/Ho_Chi_Minh) that grow with office hours on working days; ratios per unit are fixed fractions, so
numerators never exceed denominators and every count is monotonic within a period.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import time
import uuid
from collections.abc import Callable

from exporter.domain import TZ, period_start

PROVINCE_CODE = "H99"
PROVINCE_NAME = "UBND tỉnh Mô Phỏng"
ROOT_DEPARTMENT_ID = "019d2be3-0000-7000-8000-000000000099"

_DEPARTMENTS = [
    "Văn phòng UBND tỉnh",
    "Sở Tư pháp",
    "Sở Tài chính",
    "Sở Xây dựng",
    "Sở Công Thương",
    "Sở Nông nghiệp và Môi trường",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Nội vụ",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Dân tộc và Tôn giáo",
    "Ban Quản lý các khu công nghiệp",
    "Thanh tra tỉnh",
    "Công an tỉnh",
    "Sở Ngoại vụ",
]
_COMMUNE_WORDS = ["Hòa", "Bình", "An", "Phú", "Thịnh", "Long", "Hưng", "Tân", "Minh", "Đức", "Thanh", "Xuân"]


@dataclasses.dataclass(frozen=True)
class Unit:
    code: str  # H99, H99.3, H99.100
    name: str
    id: str  # a stable UUID, like the national portal's departmentId
    level: str  # PROVINCE, DEPARTMENT, COMMUNE

    @property
    def is_province(self) -> bool:
        return self.level == "PROVINCE"


def _hash01(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _day_fraction(local: dt.datetime) -> float:
    """Share of a working day's activity done by this time of day (07:30-17:00, smooth)."""
    hours = local.hour + local.minute / 60 + local.second / 3600
    x = (hours - 7.5) / 9.5
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    return (1 - math.cos(math.pi * x)) / 2


def _weekday_weight(day: dt.date) -> float:
    return 1.0 if day.weekday() < 5 else (0.15 if day.weekday() == 5 else 0.05)


def _full_day_weight(start: dt.date, end: dt.date) -> float:
    """Sum of weekday weights of the days in [start, end)."""
    days = (end - start).days
    if days <= 0:
        return 0.0
    weeks, rest = divmod(days, 7)
    total = weeks * (5 + 0.15 + 0.05)
    for i in range(rest):
        total += _weekday_weight(start + dt.timedelta(days=weeks * 7 + i))
    return total


class World:
    """The simulated province.  ``speed`` > 1 makes simulated time run faster than real time, from
    ``epoch`` (simulated start, default now).  ``province_code`` / ``province_name`` name the province unit
    (its children's codes extend it: H07 -> H07.1, H07.100), so several simulated provinces of one nation
    have distinct unit codes."""

    def __init__(
        self,
        units: int = 100,
        seed: int = 766,
        speed: float = 1.0,
        start: dt.datetime | None = None,
        clock: Callable[[], float] = time.time,
        province_code: str = PROVINCE_CODE,
        province_name: str = PROVINCE_NAME,
    ) -> None:
        self.seed = seed
        self.province_code = province_code
        self.province_name = province_name
        self.speed = speed
        self.clock = clock
        self._real0 = clock()
        self._sim0 = (start or dt.datetime.fromtimestamp(self._real0, TZ)).astimezone(TZ)
        self.units = self._make_units(max(2, units))
        self.by_code = {u.code: u for u in self.units}

    def _make_units(self, n: int) -> list[Unit]:
        def uid(code: str) -> str:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"egov-sim/{self.seed}/{code}"))

        units = [Unit(self.province_code, self.province_name, ROOT_DEPARTMENT_ID, "PROVINCE")]
        n_dept = min(len(_DEPARTMENTS), max(1, n // 6))
        for i in range(n_dept):
            code = f"{self.province_code}.{i + 1}"
            units.append(Unit(code, _DEPARTMENTS[i], uid(code), "DEPARTMENT"))
        for i in range(n - 1 - n_dept):
            a = _COMMUNE_WORDS[i % len(_COMMUNE_WORDS)]
            b = _COMMUNE_WORDS[(i // len(_COMMUNE_WORDS) + 3) % len(_COMMUNE_WORDS)]
            code = f"{self.province_code}.{100 + i}"
            units.append(
                Unit(
                    code, f"UBND xã {a} {b}" + (f" {i // 144 + 1}" if i >= 144 else ""), uid(code), "COMMUNE"
                )
            )
        return units

    @property
    def children(self) -> list[Unit]:
        return [u for u in self.units if not u.is_province]

    # time ----------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self._sim0 + dt.timedelta(seconds=(self.clock() - self._real0) * self.speed)

    # numbers -------------------------------------------------------------------------------
    def weight(self, unit: Unit, key: str) -> float:
        """A unit's size for ``key`` (departments and communes differ), stable for the seed."""
        base = 2.5 if unit.level == "DEPARTMENT" else 1.0
        return base * (0.3 + 1.4 * _hash01(self.seed, key, unit.code))

    def share(self, unit: Unit, key: str, low: float, high: float) -> float:
        """A unit's fixed ratio for ``key`` in [low, high]."""
        return low + (high - low) * _hash01(self.seed, "share", key, unit.code)

    def count(
        self, unit: Unit, key: str, per_day: float, period: str = "month", at: dt.datetime | None = None
    ) -> int:
        """Period-to-date count for a unit (the province: the sum of its children)."""
        if unit.is_province:
            return sum(self.count(u, key, per_day, period, at) for u in self.children)
        now = (at or self.now()).astimezone(TZ)
        start = period_start(now, period)
        full = _full_day_weight(start.date(), now.date())
        today = _weekday_weight(now.date()) * _day_fraction(now)
        return int(per_day * self.weight(unit, key) * (full + today))

    def part(self, total: int, unit: Unit, key: str, low: float, high: float) -> int:
        """A monotonic part of a total: floor(total x the unit's share for key)."""
        return int(total * self.share(unit, key, low, high))
