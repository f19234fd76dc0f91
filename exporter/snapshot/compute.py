"""Building a snapshot: every figure of the report definition for a period and for the one before it,
read from one source (history or Prometheus), as one JSON-able document that every output renders.

How a figure is read (the same for both sources, see :mod:`exporter.snapshot.sources`):

* **period-to-date counters** (``read: counter``) of a calendar period: each series' last sample before the
  period ends, with ``period="<quarter|month|year>"``, within ``lookback`` (1 day) of the end, or anywhere
  in the period when nothing was sampled in that last day.  For a ``--from/--to`` range: the increase of the
  ``period="year"`` counters over the range (resets at the year's start counted as resets).
* **gauges**: the last sample before the period ends, the same way.
* **rows**: series are added up per value of the breakdown label (``unit``); where several targets report
  the same row (one system read two ways), the one reporting the most is kept (``combine_targets``); for a
  ratio, the one with the largest denominator among those reporting the numerator too.  The province figure
  is the upstream's own aggregate row when there is one (the province unit, by its level or because other unit
  codes extend it: H44 -> H44.100), else the rows' sum; a ratio's province figure is the ratio of sums.
* **trends**: the same figure at the end of each day (``step``) of the period.
* **availability**: the mean of the target's ``egov_target_up`` samples over the period (means are
  rounded to 12 decimals, below any figure shown, so that the sources' summation order does not show).
* **ranks**: units ranked on the total of their group scores (highest first, then unit code), within
  their level when it is known; the province row is not ranked.

All sums use ``math.fsum`` (exact, independent of the order series arrive in).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO

from exporter import __version__
from exporter.snapshot.notes import build_notes
from exporter.snapshot.periods import TZ, Period
from exporter.snapshot.selectors import Selector, parse_selector
from exporter.snapshot.sources import Series, iso
from exporter.snapshot.spec import Criteria, Indicator, NationalRanking, ReportSpec, Scorecard

EPS = 0.001  # evaluate "before the end": samples at the end instant belong to the next period
SCHEMA = "egov-exporter/snapshot/v1"
Row = tuple[float | None, float | None, float | None]  # value, numerator, denominator


class NoDataError(Exception):
    """Nothing to report for the period (one line for the user)."""


class Progress:
    """``snapshot: [3/40] ...`` lines on stderr while a long pull runs."""

    def __init__(self, stream: TextIO | None = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled and stream is not None
        self.total = 0
        self.done = 0

    def __call__(self, what: str) -> None:
        self.done += 1
        if self.enabled:
            print(f"snapshot: [{self.done}/{self.total}] {what}", file=self.stream, flush=True)


def natural_key(code: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", code))


def r2(x: float) -> float:
    """Two decimals, ties away from zero (how published scores are shown)."""
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _ratio(n: float | None, d: float | None) -> float | None:
    return n / d if n is not None and d else None


def _delta(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


# ------------------------------------------------------------------------------------------ rows


def _grouped(series: list[Series], by: str) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for labels, v in series:
        key = labels.get(by, "") if by else ""
        out.setdefault(key, {}).setdefault(labels.get("target", ""), []).append(v)
    return out


def _pick(by_target: dict[str, float], combine: str) -> tuple[str | None, float]:
    if combine == "sum":
        return None, math.fsum(by_target.values())
    target = min(by_target, key=lambda t: (-by_target[t], t))
    return target, by_target[target]


Grouped = dict[str, dict[str, list[float]]]  # row key -> target -> values


def figure_rows(ind: Indicator, values: dict[str, list[Series]]) -> dict[str, Row]:
    """One row per value of the breakdown label: (value, numerator, denominator)."""
    return grouped_rows(ind, {role: _grouped(series, ind.by) for role, series in values.items()})


def grouped_rows(ind: Indicator, grouped: dict[str, Grouped]) -> dict[str, Row]:
    if ind.is_ratio:
        num = {k: {t: math.fsum(v) for t, v in ts.items()} for k, ts in grouped.get("numerator", {}).items()}
        den = {
            k: {t: math.fsum(v) for t, v in ts.items()} for k, ts in grouped.get("denominator", {}).items()
        }
        rows: dict[str, Row] = {}
        for key, by_target in den.items():
            nums = num.get(key, {})
            # a target that reports the denominator without the numerator is only used when none has both
            both = {t: v for t, v in by_target.items() if t in nums} or by_target
            target, d = _pick(both if ind.combine_targets == "largest" else by_target, ind.combine_targets)
            if ind.combine_targets == "sum":
                n = math.fsum(nums.values()) if nums else None
            else:
                n = nums.get(target)  # type: ignore[arg-type]
            rows[key] = (_ratio(n, d), n, d)
        return rows
    return {
        k: (_pick({t: math.fsum(v) for t, v in ts.items()}, ind.combine_targets)[1], None, None)
        for k, ts in grouped.get("value", {}).items()
    }


def aggregate_keys(keys: list[str], levels: dict[str, str], aggregate_levels: list[str]) -> set[str]:
    """Rows that are the province itself: by level, or a unit code that other codes extend (H44, H44.1)."""
    wanted = {level.lower() for level in aggregate_levels}
    out = {k for k in keys if levels.get(k, "").lower() in wanted}
    prefixes = {k[:i] for k in keys for i, c in enumerate(k) if c == "."}
    return out | (prefixes & set(keys))


def figure_total(ind: Indicator, rows: dict[str, Row], aggregates: set[str]) -> Row:
    if not rows:
        return (None, None, None)
    agg = sorted(k for k in rows if k in aggregates) if ind.by == "unit" else []
    if agg:
        return rows[agg[0]]
    parts = [r for k, r in rows.items() if k not in aggregates]
    if ind.is_ratio:
        both = [r for r in parts if r[1] is not None and r[2] is not None]
        if not both:
            return (None, None, None)
        n, d = math.fsum(r[1] for r in both), math.fsum(r[2] for r in both)
        return (_ratio(n, d), n, d)
    vals = [r[0] for r in parts if r[0] is not None]
    if not vals:
        return (None, None, None)
    fn: Callable[[list[float]], float] = {"sum": math.fsum, "max": max, "min": min}[ind.aggregate]
    return (fn(vals), None, None)


def _increase(points: list[tuple[float, float]], start: float) -> list[tuple[float, float]]:
    """Cumulative increase since ``start`` at each sample in [start, ...), a drop counting as a reset;
    the base is the last sample before ``start`` (or the first one after it, when there is none)."""
    before = [v for t, v in points if t < start]
    inside = [(t, v) for t, v in points if t >= start]
    prev = before[-1] if before else (inside[0][1] if inside else 0.0)
    total, out = 0.0, []
    for t, v in inside:
        total += v - prev if v >= prev else v
        prev = v
        out.append((t, total))
    return out


def _below(thresholds: list[float], units: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[dict]:
    """Per level and threshold: how many ranked units have a total below it (and how many had, the period
    before); ``units`` lists those from the previous threshold up to this one (lowest first), so that each
    unit is listed once."""
    out = []
    for level in dict.fromkeys(r["level"] for r in units):
        members = sorted(
            (r for r in units if r["level"] == level), key=lambda r: (r["total"], natural_key(r["unit"]))
        )
        previous = [r for r in before if r["level"] == level]
        low = None
        for threshold in sorted(thresholds):
            out.append(
                {
                    "level": level,
                    "below": threshold,
                    "from": low,
                    "count": sum(r["total"] < threshold for r in members),
                    "of": len(members),
                    "previous_count": sum(r["total"] < threshold for r in previous) if previous else None,
                    "units": [
                        r["unit"]
                        for r in members
                        if r["total"] < threshold and (low is None or r["total"] >= low)
                    ],
                }
            )
            low = threshold
    return out


# ------------------------------------------------------------------------------------------ builder


class Builder:
    def __init__(
        self,
        source: Any,
        spec: ReportSpec,
        period: Period,
        *,
        lookback: float = 86400.0,
        step: float = 86400.0,
        progress: Progress | None = None,
        now: float | None = None,
    ) -> None:
        self.source = source
        self.spec = spec
        self.period = period
        self.lookback = lookback
        self.step = step
        self.progress = progress or Progress(enabled=False)
        #: when the snapshot is taken (unix time): a period ending later is not over
        self.now = time.time() if now is None else now
        self.warnings: list[str] = []
        self.levels: dict[str, str] = {}
        self.names: dict[str, str] = {}

    # reading -------------------------------------------------------------------------------
    def _windows(self, p: Period) -> list[float]:
        return [self.lookback, p.seconds] if self.lookback < p.seconds else [p.seconds]

    def _last(self, sel: Selector, p: Period) -> list[Series]:
        t = p.end.timestamp() - EPS
        for window in self._windows(p):
            found = self.source.last_over(sel, t, window)
            if found:
                return found
        return []

    def _counter(self, sel: Selector, p: Period) -> Selector:
        return sel.with_labels(period=p.counter_period or "year")

    def _indicator_values(self, ind: Indicator, p: Period) -> dict[str, list[Series]]:
        out = {}
        for role, sel in ind.selectors().items():
            if ind.read == "gauge":
                out[role] = self._last(
                    sel.with_labels(period=p.counter_period or "month") if ind.period_label else sel, p
                )
            elif p.counter_period:
                out[role] = self._last(self._counter(sel, p), p)
            else:
                start = p.start.timestamp()
                raw = self.source.samples_over(
                    self._counter(sel, p), p.end.timestamp() - EPS, p.seconds + self.lookback
                )
                out[role] = [(labels, inc[-1][1]) for labels, pts in raw if (inc := _increase(pts, start))]
        return out

    def _indicator_trend(self, ind: Indicator, p: Period) -> list[tuple[float, float]]:
        start, end = p.start.timestamp(), p.end.timestamp()
        first, last = start + self.step - EPS, end - EPS
        # (point, role, row key, target) -> values, one dict operation per sample
        flat: dict[tuple[float, str, str, str], list[float]] = {}
        rounded: dict[float, float] = {}

        def place(role: str, labels: dict[str, str], points: list[tuple[float, float]]) -> None:
            key, target = labels.get(ind.by, "") if ind.by else "", labels.get("target", "")
            for t, v in points:
                rt = rounded.get(t)
                if rt is None:
                    rt = rounded[t] = round(t, 3)
                cell = flat.get((rt, role, key, target))
                if cell is None:
                    flat[(rt, role, key, target)] = [v]
                else:
                    cell.append(v)

        for role, sel in ind.selectors().items():
            if ind.read == "counter" and not p.counter_period:
                raw = self.source.samples_over(self._counter(sel, p), last, p.seconds + self.lookback)
                points = [first + i * self.step for i in range(int((last - first) // self.step) + 1)]
                for labels, pts in raw:
                    inc, j, at = _increase(pts, start), 0, []
                    for point in points:
                        while j < len(inc) and inc[j][0] <= point:
                            j += 1
                        if j and inc[j - 1][0] > point - self.step:
                            at.append((point, inc[j - 1][1]))
                    place(role, labels, at)
                continue
            if ind.read == "counter":
                sel = self._counter(sel, p)
            elif ind.period_label:
                sel = sel.with_labels(period=p.counter_period or "month")
            for labels, pts in self.source.last_over_range(sel, first, last, self.step):
                place(role, labels, pts)
        by_point: dict[float, dict[str, Grouped]] = {}
        for (t, role, key, target), values in flat.items():
            by_point.setdefault(t, {}).setdefault(role, {}).setdefault(key, {})[target] = values
        out = []
        for t in sorted(by_point):
            rows = grouped_rows(ind, by_point[t])
            total = figure_total(ind, rows, self._aggregates(ind, list(rows)))[0]
            if total is not None:
                out.append((t, total))
        return out

    def _aggregates(self, ind: Indicator, keys: list[str]) -> set[str]:
        if ind.by != "unit":
            return set()
        return aggregate_keys(keys, self.levels, self.spec.unit_names.aggregate_levels)

    # unit names ----------------------------------------------------------------------------
    def _read_names(self, p: Period) -> None:
        un = self.spec.unit_names
        for text in un.metrics:
            for labels, _v in sorted(self._last(parse_selector(text), p), key=lambda s: sorted(s[0].items())):
                unit = labels.get("unit")
                if not unit:
                    continue
                if labels.get(un.name_label):
                    self.names.setdefault(unit, labels[un.name_label])
                if labels.get(un.level_label):
                    self.levels.setdefault(unit, labels[un.level_label])

    # figures -------------------------------------------------------------------------------
    def indicator(self, ind: Indicator, p: Period) -> tuple[Row, dict[str, Row]]:
        rows = figure_rows(ind, self._indicator_values(ind, p))
        return figure_total(ind, rows, self._aggregates(ind, list(rows))), rows

    def scorecard(self, sc: Scorecard, p: Period) -> dict[str, Any]:
        sel = parse_selector(sc.metric).with_labels(period=p.counter_period or "month")
        data: dict[str, dict[str, dict[str, float]]] = {}
        for labels, v in sorted(self._last(sel, p), key=lambda s: sorted(s[0].items())):
            unit, group = labels.get("unit", ""), labels.get(sc.group_label, "")
            source = labels.get(sc.source_label, "")
            if unit and source in sc.sources:
                data.setdefault(source, {}).setdefault(unit, {}).setdefault(group, v)
        units = sorted({u for by_unit in data.values() for u in by_unit}, key=natural_key)
        primary = next((s for s in sc.sources if s in data), None)
        aggregates = aggregate_keys(units, self.levels, self.spec.unit_names.aggregate_levels)
        group_codes = [g.code for g in sc.groups]

        def entry(unit: str) -> dict[str, Any]:
            # a total needs every group (as egov_qd766_total_score): else it is empty, and the groups
            # missing say why
            totals: dict[str, float | None] = {}
            missing: dict[str, list[str]] = {}
            for source in sc.sources:
                groups = data.get(source, {}).get(unit)
                if groups:
                    lacking = [g for g in group_codes if g not in groups]
                    totals[source] = None if lacking else r2(math.fsum(groups[g] for g in group_codes))
                    if lacking:
                        missing[source] = lacking
            groups = data.get(primary, {}).get(unit, {}) if primary else {}
            return {
                "unit": unit,
                "name": self.names.get(unit, ""),
                "level": self.levels.get(unit, ""),
                "total": totals.get(primary) if primary else None,
                "totals": totals,
                "missing_groups": missing,
                "groups": {g: groups.get(g) for g in group_codes},
            }

        rows = [entry(u) for u in units]
        ranked = [r for r in rows if r["unit"] not in aggregates and r["total"] is not None]
        unranked = [r for r in rows if r["unit"] not in aggregates and r["total"] is None]
        by_level: dict[str, list[dict[str, Any]]] = {}
        for r in ranked:
            by_level.setdefault(r["level"] if sc.rank_within_level else "", []).append(r)
        for members in by_level.values():
            members.sort(key=lambda r: (-r["total"], natural_key(r["unit"])))
            for i, r in enumerate(members):
                r["rank"] = i + 1
                r["ranked_among"] = len(members)
        return {
            "source": primary,
            "province": [r for r in rows if r["unit"] in aggregates],
            "units": sorted(ranked, key=lambda r: (r["level"], r["rank"], natural_key(r["unit"]))),
            "unranked": sorted(unranked, key=lambda r: (r["level"], natural_key(r["unit"]))),
        }

    def scorecard_trend(self, sc: Scorecard, p: Period, current: dict[str, Any]) -> list[tuple[float, float]]:
        if not current["province"] or not current["source"]:
            return []
        unit = current["province"][0]["unit"]
        sel = parse_selector(sc.metric).with_labels(period=p.counter_period or "month", unit=unit)
        sel = sel.with_labels(**{sc.source_label: current["source"]})
        first, last = p.start.timestamp() + self.step - EPS, p.end.timestamp() - EPS
        by_point: dict[float, dict[str, float]] = {}
        codes = {g.code for g in sc.groups}
        for labels, pts in sorted(
            self.source.last_over_range(sel, first, last, self.step), key=lambda s: sorted(s[0].items())
        ):
            group = labels.get(sc.group_label, "")
            if group in codes:
                for t, v in pts:
                    by_point.setdefault(round(t, 3), {}).setdefault(group, v)
        return [(t, r2(math.fsum(g.values()))) for t, g in sorted(by_point.items()) if len(g) == len(codes)]

    def national(self, nr: NationalRanking, p: Period) -> dict[str, Any]:
        """Every province's published scores and rank for the period (national ranking)."""
        period = p.counter_period or "month"

        def read(text: str) -> list[Series]:
            sel = parse_selector(text).with_labels(period=period)
            return sorted(self._last(sel, p), key=lambda s: sorted(s[0].items()))

        provinces: dict[str, dict[str, Any]] = {}

        def row(code: str) -> dict[str, Any]:
            return provinces.setdefault(
                code, {"province": code, "name": "", "rank": None, "total": None, "groups": {}}
            )

        for labels, v in read(nr.score):
            code, group = labels.get(nr.province_label, ""), labels.get(nr.group_label, "")
            if code:
                if group == nr.total_group:
                    row(code)["total"] = v
                else:
                    row(code)["groups"].setdefault(group, v)
        for labels, v in read(nr.rank):
            if labels.get(nr.province_label):
                row(labels[nr.province_label])["rank"] = int(v)
        for labels, _v in sorted(self._last(parse_selector(nr.info), p), key=lambda s: sorted(s[0].items())):
            code = labels.get(nr.province_label, "")
            if code in provinces and labels.get(nr.name_label):
                provinces[code]["name"] = provinces[code]["name"] or labels[nr.name_label]
        return {
            r["province"]: r
            for r in sorted(
                provinces.values(),
                key=lambda r: (r["rank"] is None, r["rank"] or 0, natural_key(r["province"])),
            )
        }

    def _own_province(self, nr: NationalRanking, results: dict[str, Any]) -> set[str]:
        """The codes the province may have on the national ranking: as configured, else its unit code on the
        scorecard and the ``province`` label of its targets."""
        if nr.province:
            return {nr.province}
        own = {r["unit"] for r in results["current"]["scorecards"][nr.scorecard]["province"]}
        sel = parse_selector(self.spec.availability.metric)
        end = self.period.end.timestamp() - EPS
        own |= {
            labels[nr.province_label]
            for labels, _v in self.source.last_over(sel, end, self.period.seconds)
            if labels.get(nr.province_label)
        }
        return own

    def _national_doc(self, nr: NationalRanking, results: dict[str, Any]) -> dict[str, Any]:
        cur, prev = results["current"]["national"], results["previous"]["national"]
        own = self._own_province(nr, results)
        sc = next(s for s in self.spec.scorecards if s.id == nr.scorecard)
        rows = []
        for code, r in cur.items():
            p = prev.get(code, {})
            rows.append(
                {
                    **r,
                    "own": code in own,
                    "previous_rank": p.get("rank"),
                    "rank_change": p["rank"] - r["rank"] if p.get("rank") and r["rank"] else None,
                    "previous_total": p.get("total"),
                    "delta": _delta(r["total"], p.get("total")),
                }
            )
        mine = next((r for r in rows if r["own"]), None)
        return {
            "vi": nr.vi,
            "en": nr.en,
            "scorecard": nr.scorecard,
            "groups": [g.model_dump() for g in sc.groups],
            "max_total": sc.max_total,
            "provinces": rows,
            "ranked": sum(r["rank"] is not None for r in rows),
            "own": mine["province"] if mine else None,
        }

    def criteria(self, c: Criteria, p: Period) -> dict[str, Any]:
        """Each criterion's points, maximum, name, how its value came (measured or by whom, when)."""

        def by_criterion(text: str | None) -> dict[str, tuple[dict[str, str], float]]:
            if not text:
                return {}
            out: dict[str, tuple[dict[str, str], float]] = {}
            for labels, v in sorted(self._last(parse_selector(text), p), key=lambda s: sorted(s[0].items())):
                out.setdefault(labels.get(c.label, ""), (labels, v))
            return out

        scores, maxima, info = by_criterion(c.score), by_criterion(c.max_score), by_criterion(c.info)
        manual, manual_at = by_criterion(c.manual), by_criterion(c.manual_timestamp)
        total = [v for _labels, v in self._last(parse_selector(c.total), p)]
        total_max = [v for _labels, v in self._last(parse_selector(c.total_max), p)]
        rows = []
        for code in sorted(set(maxima) | set(scores) | set(info), key=natural_key):
            score = scores[code][1] if code in scores else None
            most = maxima[code][1] if code in maxima else None
            is_manual = code in manual and manual[code][1] == 1
            set_labels, set_at = manual_at.get(code, ({}, None))
            rows.append(
                {
                    "criterion": code,
                    "name": info[code][0].get("name", "") if code in info else "",
                    "verified": info[code][0].get("verified") != "false" if code in info else None,
                    "score": score,
                    "max": most,
                    "at_max": score is not None and most is not None and score >= most - 1e-9,
                    "input": "manual" if is_manual else "measured" if score is not None else "no data",
                    "set_by": set_labels.get("set_by") if is_manual else None,
                    "set_at": iso(set_at) if is_manual and set_at is not None else None,
                }
            )
        return {
            "total": total[0] if total else None,
            "total_max": total_max[0] if total_max else None,
            "rows": rows,
        }

    def availability(self, p: Period) -> dict[str, Any]:
        spec = self.spec.availability
        t, window = p.end.timestamp() - EPS, p.seconds
        up_sel, dur_sel = parse_selector(spec.metric), parse_selector(spec.duration_metric)

        def by_target(series: list[Series]) -> dict[str, tuple[str, float]]:
            out: dict[str, tuple[str, float]] = {}
            for labels, v in sorted(series, key=lambda s: sorted(s[0].items())):
                out.setdefault(labels.get("target", ""), (labels.get("system", ""), v))
            return out

        # means are rounded to 12 decimals: sources add samples up in different orders (last-bit noise)
        avg = {
            k: (s, round(v, 12)) for k, (s, v) in by_target(self.source.avg_over(up_sel, t, window)).items()
        }
        count = by_target(self.source.count_over(up_sel, t, window))
        dur = {
            k: (s, round(v, 12)) for k, (s, v) in by_target(self.source.avg_over(dur_sel, t, window)).items()
        }
        targets = [
            {
                "target": name,
                "system": system,
                "availability": value,
                "observations": int(count[name][1]) if name in count else 0,
                "mean_poll_duration_seconds": dur[name][1] if name in dur else None,
            }
            for name, (system, value) in sorted(avg.items())
        ]
        systems: dict[str, list[float]] = {}
        for row in targets:
            systems.setdefault(row["system"], []).append(row["availability"])
        return {
            "targets": targets,
            "systems": [
                {"system": s, "availability": math.fsum(v) / len(v), "targets": len(v)}
                for s, v in sorted(systems.items())
            ],
            "overall": math.fsum(r["availability"] for r in targets) / len(targets) if targets else None,
        }

    def coverage(self, p: Period) -> dict[str, Any]:
        """What the history (or Prometheus) holds of the period, from the availability series: the first and
        last sample in it, the days (trend steps) with data, and whether a sample precedes the start (the
        base a range's counter increase is measured from)."""
        sel = parse_selector(self.spec.availability.metric)
        start, end = p.start.timestamp(), p.end.timestamp()
        points: set[float] = set()
        for _labels, pts in self.source.last_over_range(sel, start + self.step - EPS, end - EPS, self.step):
            points.update(round(t, 3) for t, _ in pts)
        out: dict[str, Any] = {
            "first_sample": None,
            "last_sample": None,
            "days_with_data": len(points),
            "days": round(p.seconds / self.step),
            "sample_before_start": bool(self.source.last_over(sel, start - EPS, self.lookback)),
        }
        if points:
            # the exact sample times, from the raw samples of the first and the last day with data
            first = [t for _l, pts in self.source.samples_over(sel, min(points), self.step) for t, _ in pts]
            last = [t for _l, pts in self.source.samples_over(sel, max(points), self.step) for t, _ in pts]
            first = [t for t in first if t >= start]
            if first and last:
                out["first_sample"], out["last_sample"] = iso(min(first)), iso(max(last))
        return out

    # the document --------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        spec, cur, prev = self.spec, self.period, self.period.previous()
        n_ind, n_sc, n_crit = len(spec.indicators), len(spec.scorecards), len(spec.criteria)
        n_nat = 1 if spec.national_ranking else 0
        self.progress.total = 2 * (1 + n_ind + n_sc + n_crit + n_nat + 1) + (n_ind + n_sc) * 2 + 2
        results: dict[str, dict[str, Any]] = {}
        for label, p in (("current", cur), ("previous", prev)):
            self.progress(f"{p.label}: unit names")
            self._read_names(p)
            ind_out = {}
            for ind in spec.indicators:
                self.progress(f"{p.label}: {ind.id}")
                ind_out[ind.id] = self.indicator(ind, p)
            sc_out = {}
            for sc in spec.scorecards:
                self.progress(f"{p.label}: {sc.id} scores")
                sc_out[sc.id] = self.scorecard(sc, p)
            crit_out = {}
            for c in spec.criteria:
                self.progress(f"{p.label}: {c.id} criteria")
                crit_out[c.id] = self.criteria(c, p)
            national = {}
            if spec.national_ranking:
                self.progress(f"{p.label}: national ranking")
                national = self.national(spec.national_ranking, p)
            self.progress(f"{p.label}: availability")
            results[label] = {
                "indicators": ind_out,
                "scorecards": sc_out,
                "criteria": crit_out,
                "national": national,
                "availability": self.availability(p),
            }
        c = results["current"]
        empty = (
            not c["availability"]["targets"]
            and all(v[0][0] is None and not v[1] for v in c["indicators"].values())
            and all(not s["units"] and not s["province"] for s in c["scorecards"].values())
        )
        if empty:
            raise NoDataError(
                f"no data for {cur.label} ({cur.start:%Y-%m-%d} to {cur.last_day:%Y-%m-%d}, "
                f"Asia/Ho_Chi_Minh): {self.source.holds()}"
            )
        self.progress(f"{cur.label}: coverage")
        coverage = {"current": self.coverage(cur)}
        self.progress(f"{prev.label}: coverage")
        coverage["previous"] = self.coverage(prev)
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "generator": f"egov-exporter {__version__}",
            "generated_at": dt.datetime.fromtimestamp(self.now, TZ).isoformat(timespec="seconds"),
            "title_vi": spec.title_vi,
            "title_en": spec.title_en,
            "period": cur.describe(),
            "previous_period": prev.describe(),
            "data_from": coverage["current"]["first_sample"],
            "data_until": coverage["current"]["last_sample"],
            "days_with_data": coverage["current"]["days_with_data"],
            "days_in_period": coverage["current"]["days"],
            "coverage": coverage,
            "source": self.source.description,
            "method": {
                "report_definition": spec.source,
                "evaluated_at": iso(cur.end.timestamp() - EPS),
                "lookback_seconds": self.lookback,
                "trend_step_seconds": self.step,
                "counters": (
                    "last value before the period end of the period-to-date counters with "
                    f'period="{cur.counter_period}"'
                )
                if cur.counter_period
                else 'increase over the range of the period-to-date counters with period="year"',
                "gauges": "last value before the period end",
                "window": "the last lookback_seconds before the end, or the whole period when that is empty",
                "availability": "mean of the egov_target_up samples in the period",
            },
            "sections": [s.model_dump() for s in spec.sections],
            "indicators": [self._indicator_doc(ind, results) for ind in spec.indicators],
            "scorecards": [self._scorecard_doc(sc, results) for sc in spec.scorecards],
            "criteria": [self._criteria_doc(c, results) for c in spec.criteria],
            "national_ranking": self._national_doc(spec.national_ranking, results)
            if spec.national_ranking
            else None,
            "availability": self._availability_doc(results),
        }
        for ind in doc["indicators"]:
            self.progress(f"{cur.label}: trend of {ind['id']}")
            spec_ind = next(i for i in spec.indicators if i.id == ind["id"])
            ind["trend"] = [[iso(t), v] for t, v in self._indicator_trend(spec_ind, cur)]
            self.progress(f"{prev.label}: trend of {ind['id']}")
            ind["previous_trend"] = [[iso(t), v] for t, v in self._indicator_trend(spec_ind, prev)]
        for sc_doc, sc in zip(doc["scorecards"], spec.scorecards, strict=True):
            self.progress(f"{cur.label}: trend of {sc.id}")
            sc_doc["trend"] = [
                [iso(t), v] for t, v in self.scorecard_trend(sc, cur, results["current"]["scorecards"][sc.id])
            ]
            self.progress(f"{prev.label}: trend of {sc.id}")
            sc_doc["previous_trend"] = [
                [iso(t), v]
                for t, v in self.scorecard_trend(sc, prev, results["previous"]["scorecards"][sc.id])
            ]
        for ind in doc["indicators"]:
            if ind["value"] is None and not ind["rows"]:
                self.warnings.append(f"no data for {ind['id']} ({', '.join(ind['selectors'].values())})")
        doc["warnings"] = self.warnings
        pr = results["previous"]
        previous_has_data = (
            bool(pr["availability"]["targets"])
            or any(v[0][0] is not None or v[1] for v in pr["indicators"].values())
            or any(s["units"] or s["province"] for s in pr["scorecards"].values())
        )
        doc["notes"] = build_notes(doc, self.now, self.step, previous_has_data)
        doc["queries"] = self.source.queries
        return doc

    def _indicator_doc(self, ind: Indicator, results: dict[str, Any]) -> dict[str, Any]:
        (value, num, den), rows = results["current"]["indicators"][ind.id]
        (pvalue, pnum, pden), prows = results["previous"]["indicators"][ind.id]
        aggregates = self._aggregates(ind, list(rows) + list(prows))
        keys = sorted(set(rows) | set(prows), key=natural_key)
        target = self.spec.target(ind)
        return {
            "id": ind.id,
            "section": ind.section,
            "vi": ind.vi,
            "en": ind.en,
            "read": ind.read,
            "display": ind.display,
            "by": ind.by,
            "aggregate": ind.aggregate,
            "combine_targets": ind.combine_targets,
            "target": target.ratio if target else None,
            "target_key": ind.target,
            "target_note": target.source if target else "",
            "target_verified": target.verified if target else None,
            "maximum": ind.maximum,
            "selectors": {role: sel.promql() for role, sel in ind.selectors().items()},
            "value": value,
            "numerator": num,
            "denominator": den,
            "previous": {"value": pvalue, "numerator": pnum, "denominator": pden},
            "delta": _delta(value, pvalue),
            "rows": [
                {
                    "key": k,
                    "name": self.names.get(k, "") if ind.by == "unit" else "",
                    "aggregate": k in aggregates,
                    "value": rows.get(k, (None,))[0],
                    "numerator": rows.get(k, (None, None))[1],
                    "denominator": rows.get(k, (None, None, None))[2],
                    "previous_value": prows.get(k, (None,))[0],
                    "delta": _delta(rows.get(k, (None,))[0], prows.get(k, (None,))[0]),
                }
                for k in keys
                if ind.by
            ],
        }

    def _scorecard_doc(self, sc: Scorecard, results: dict[str, Any]) -> dict[str, Any]:
        cur, prev = results["current"]["scorecards"][sc.id], results["previous"]["scorecards"][sc.id]
        prev_units = {r["unit"]: r for r in prev["units"] + prev["unranked"]}
        prev_prov = {r["unit"]: r for r in prev["province"]}

        def unit(r: dict[str, Any]) -> dict[str, Any]:
            p = prev_units.get(r["unit"], {})
            return {
                **r,
                "previous_total": p.get("total"),
                "delta": _delta(r["total"], p.get("total")),
                "previous_rank": p.get("rank"),
                "rank_change": p["rank"] - r["rank"] if p.get("rank") and r.get("rank") else None,
            }

        units = [unit(r) for r in cur["units"]]
        province = []
        for r in cur["province"]:
            p = prev_prov.get(r["unit"], {})
            province.append(
                {
                    **r,
                    "previous_total": p.get("total"),
                    "delta": _delta(r["total"], p.get("total")),
                    "previous_groups": p.get("groups"),
                }
            )
        return {
            "id": sc.id,
            "vi": sc.vi,
            "en": sc.en,
            "metric": sc.metric,
            "source": cur["source"],
            "max_total": sc.max_total,
            "groups": [g.model_dump() for g in sc.groups],
            "province": province,
            "units": units,
            "unranked": [unit(r) for r in cur["unranked"]],
            "thresholds": _below(sc.thresholds, units, prev["units"]),
        }

    def _criteria_doc(self, c: Criteria, results: dict[str, Any]) -> dict[str, Any]:
        cur, prev = results["current"]["criteria"][c.id], results["previous"]["criteria"][c.id]
        before = {r["criterion"]: r for r in prev["rows"]}
        return {
            "id": c.id,
            "section": c.section,
            "vi": c.vi,
            "en": c.en,
            "total": cur["total"],
            "total_max": cur["total_max"],
            "previous_total": prev["total"],
            "delta": _delta(cur["total"], prev["total"]),
            "at_max": sum(r["at_max"] for r in cur["rows"]),
            "unverified": [r["criterion"] for r in cur["rows"] if r["verified"] is False],
            "rows": [
                {
                    **r,
                    "previous_score": before.get(r["criterion"], {}).get("score"),
                    "delta": _delta(r["score"], before.get(r["criterion"], {}).get("score")),
                }
                for r in cur["rows"]
            ],
        }

    def _availability_doc(self, results: dict[str, Any]) -> dict[str, Any]:
        cur, prev = results["current"]["availability"], results["previous"]["availability"]
        pt = {r["target"]: r for r in prev["targets"]}
        ps = {r["system"]: r for r in prev["systems"]}
        return {
            "objective": self.spec.availability.objective,
            "overall": cur["overall"],
            "previous_overall": prev["overall"],
            "delta": _delta(cur["overall"], prev["overall"]),
            "targets": [
                {
                    **r,
                    "previous_availability": pt.get(r["target"], {}).get("availability"),
                    "delta": _delta(r["availability"], pt.get(r["target"], {}).get("availability")),
                }
                for r in cur["targets"]
            ],
            "systems": [
                {
                    **r,
                    "previous_availability": ps.get(r["system"], {}).get("availability"),
                    "delta": _delta(r["availability"], ps.get(r["system"], {}).get("availability")),
                }
                for r in cur["systems"]
            ],
        }


def build_snapshot(source: Any, spec: ReportSpec, period: Period, **options: Any) -> dict[str, Any]:
    return Builder(source, spec, period, **options).build()
