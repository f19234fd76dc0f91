"""The rule engine: scorecards applied to the samples the collectors produced.

``evaluate(scorecard, index, manual)`` is a pure function: it reads samples (by metric name), applies
each indicator's rule per key (e.g. per unit and period) and source, adds groups up, totals, ranks units
and measures the gap to target.  ``Evaluation.samples()`` turns the result into series named by the
scorecard's ``metrics:`` block.

Arithmetic follows the publisher so that computed scores equal published ones: the percentage is
``100 × numerator / denominator`` in binary floating point, rules are applied to it in the order
written below, and rounding is JavaScript's ``toFixed`` (see :mod:`exporter.scoring.rounding`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction

from exporter.plugin import MetricSpec, Sample
from exporter.scoring.rounding import ROUNDINGS, exact, percent
from exporter.scoring.scorecard import Group, Indicator, Scorecard
from exporter.scoring.selector import Index, Key, SampleIndex

# ----------------------------------------------------------------------------------- single rules


@dataclasses.dataclass(frozen=True)
class Scored:
    ratio: float | None  # None when the denominator is 0
    points: float | None  # None: unscored (counts 0 in the group) or informational


def score(ind: Indicator, numerator: float | None, denominator: float | None) -> Scored:
    """One indicator's ratio and points.  ``denominator`` None means ``numerator`` is a value (ratio)."""
    if denominator is not None and denominator == 0:
        points = {"zero": 0.0, "full": float(ind.max), "unscored": None}[ind.when_zero]
        return Scored(None, None if ind.informational else points)
    assert numerator is not None
    if denominator is None:
        ratio = float(numerator)
        pct = 100 * ratio
    else:
        ratio = numerator / denominator
        pct = 100 * numerator / denominator
    if ind.percent_round:
        pct = ROUNDINGS[ind.percent_round](pct)
    if ind.informational:
        return Scored(ratio, None)
    mx = float(ind.max)
    if ind.rule == "proportional":
        points = mx * pct / 100
    elif ind.rule == "threshold":
        points = min(mx, mx * pct / percent(ind.full_at))  # type: ignore[arg-type]
    elif ind.rule == "capped":
        points = min(float(ind.cap), float(ind.factor) * pct / 100)  # type: ignore[arg-type]
    elif ind.rule == "binary":
        points = mx if pct >= percent(ind.at_least if ind.at_least is not None else 1.0) else 0.0
    else:  # banded
        points = next((float(b.points) for b in ind.bands if pct >= percent(b.at_least)), 0.0)
    if ind.round:
        points = ROUNDINGS[ind.round](points)
    return Scored(ratio, points)


def target_ratio(ind: Indicator) -> float:
    """The ratio the gap is measured to: the indicator's gap target, else the full-points ratio."""
    if ind.gap is not None and ind.gap.target is not None:
        return ind.gap.target
    return ind.full_ratio()


def gap(
    ind: Indicator, numerator: float | None, denominator: float | None
) -> tuple[float | None, int | None]:
    """(ratio still missing, events still needed this period) to reach the target; None where it does not
    apply (no count, or a target that more events cannot reach)."""
    target = Fraction(exact(target_ratio(ind)))
    if denominator is None:  # a measured value, not a count
        if numerator is None:
            return None, None
        return float(max(Fraction(0), target - Fraction(numerator))), None
    if denominator == 0:
        if ind.when_zero == "full":
            return 0.0, 0
        both = ind.gap is None or ind.gap.adds_to == "both"
        return float(target), (1 if both else None)
    n, d = Fraction(numerator), Fraction(denominator)
    missing = max(Fraction(0), target - n / d)
    if missing == 0:
        return 0.0, 0
    if ind.gap is not None and ind.gap.adds_to == "numerator":
        return float(missing), max(0, math.ceil(target * d - n))
    if target >= 1:
        return float(missing), None  # every new event also adds to the denominator: 100 % is out of reach
    return float(missing), max(0, math.ceil((target * d - n) / (1 - target)))


# -------------------------------------------------------------------------------- the evaluation


@dataclasses.dataclass
class IndicatorResult:
    group: str
    indicator: str
    source: str
    key: Key
    numerator: float | None
    denominator: float | None
    ratio: float | None
    points: float | None
    gap_ratio: float | None = None
    events_needed: int | None = None
    #: "measured", "manual" or "fallback:<source>"
    origin: str = "measured"


@dataclasses.dataclass
class Manual:
    """A value set by a person for a criterion (``scoring.manual``)."""

    criterion: str
    value: float
    set_by: str
    set_at: float  # unix time
    note: str = ""


@dataclasses.dataclass
class Evaluation:
    card: Scorecard
    #: (source, key, group, indicator) -> result
    indicators: dict[tuple[str, Key, str, str], IndicatorResult]
    #: (source, key, group) -> score
    groups: dict[tuple[str, Key, str], float]
    #: (source, key) -> total (when every group has a score)
    totals: dict[tuple[str, Key], float]
    #: (source, key, group or None for the total) -> (rank, peers, level)
    ranks: dict[tuple[str, Key, str | None], tuple[int, int, str]]
    #: every key seen per source, for data availability
    keys: dict[str, set[Key]]
    manual: dict[str, Manual]

    @property
    def sources(self) -> list[str]:
        out = [s.name for s in self.card.sources]
        if self.card.published is not None:
            out.insert(0, self.card.published.source)
        return out

    def key_labels(self, key: Key) -> dict[str, str]:
        return dict(zip(self.card.by, key))

    # --------------------------------------------------------------------------- as series
    def samples(self) -> list[Sample]:
        card, names = self.card, self.card.metrics
        out: list[Sample] = []
        gl, sl = card.group_label, card.source_label

        def add(name: str | None, value: float | None, labels: dict[str, str]) -> None:
            if name and value is not None and math.isfinite(value):
                out.append(Sample(name, labels, float(value)))

        def src(source: str) -> dict[str, str]:
            return {sl: source} if sl else {}

        computed = {s.name for s in card.sources}
        for g in card.groups:
            add(names.max_score, g.max, {gl: g.code})
            add(
                names.info,
                1,
                {gl: g.code, "name": g.name, "verified": "true" if g.verified and card.verified else "false"},
            )
            if card.manual:
                m = self.manual.get(g.code)
                add(names.manual, 1 if m else 0, {gl: g.code})
                if m:
                    add(names.manual_timestamp, m.set_at, {gl: g.code, "set_by": m.set_by})
            for ind in g.indicators:
                if ind.informational:
                    continue
                add(names.indicator_max_points, ind.max, {gl: g.code, "indicator": ind.code})
                add(names.indicator_target_ratio, target_ratio(ind), {gl: g.code, "indicator": ind.code})
        add(names.total_max_score, card.total_max, {})
        add(names.groups, len(card.groups), {})
        for (source, key, group, code), r in sorted(self.indicators.items()):
            if r.origin.startswith("fallback:"):
                continue  # shown under the source it came from
            labels = {**self.key_labels(key), gl: group, "indicator": code, **src(source)}
            add(names.indicator_ratio, r.ratio, labels)
            add(names.indicator_points, r.points, labels)
            ind = _indicator(card, group, code)
            if ind.gap is not None:
                add(names.indicator_gap_ratio, r.gap_ratio, labels)
                add(names.indicator_events_needed, r.events_needed, labels)
        for (source, key, group), value in sorted(self.groups.items()):
            if source in computed:
                add(names.score, value, {**self.key_labels(key), gl: group, **src(source)})
        for source in self.sources:
            for key in sorted(self.keys.get(source, ())):
                have = [self.groups.get((source, key, g.code)) for g in card.groups]
                if source in computed:
                    for g, value in zip(card.groups, have):
                        add(
                            names.data_available,
                            0 if value is None else 1,
                            {**self.key_labels(key), gl: g.code, **src(source)},
                        )
                    at_max = sum(1 for g, v in zip(card.groups, have) if v is not None and v >= g.max - 1e-9)
                    add(names.groups_at_max, at_max, {**self.key_labels(key), **src(source)})
                if (source, key) in self.totals:
                    add(
                        names.total_score, self.totals[(source, key)], {**self.key_labels(key), **src(source)}
                    )
        peers: dict[tuple, int] = {}
        for (source, key, group), (rank, n, level) in sorted(self.ranks.items(), key=lambda kv: str(kv[0])):
            labels = {**self.key_labels(key), **src(source), "level": level}
            if group is None:
                add(names.total_rank, rank, labels)
            else:
                add(names.rank, rank, {**labels, gl: group})
            rest = {k: v for k, v in self.key_labels(key).items() if k != "unit"}
            peers[(group, tuple(sorted({**rest, **src(source), "level": level}.items())))] = n
        for (group, labels), n in sorted(peers.items(), key=str):
            if group is None:
                add(names.total_ranked_units, n, dict(labels))
            else:
                add(names.ranked_units, n, {**dict(labels), gl: group})
        return out

    def specs(self) -> tuple[MetricSpec, ...]:
        return metric_specs(self.card)


def _indicator(card: Scorecard, group: str, code: str) -> Indicator:
    g = card.group(group)
    assert g is not None
    return next(i for i in g.indicators if i.code == code)


def evaluate(card: Scorecard, index: Index, manual: Mapping[str, Manual] | None = None) -> Evaluation:
    by = tuple(card.by)
    manual = dict(manual or {}) if card.manual else {}
    indicators: dict[tuple[str, Key, str, str], IndicatorResult] = {}
    groups: dict[tuple[str, Key, str], float] = {}
    keys: dict[str, set[Key]] = {}
    ordered = sorted(card.sources, key=lambda s: s.fallback is not None)  # fallbacks are computed first
    levels = _levels(card, index)
    provinces = sorted(u for u, level in levels.items() if level == "province")
    for source in ordered:
        own: set[Key] = set() if by else {()}
        per_indicator: dict[tuple[str, str], dict[Key, IndicatorResult]] = {}
        rollup = provinces if source.rollup else []
        for g in card.groups:
            for ind in g.indicators:
                found = _measure(ind, g, source.name, index, by, manual.get(g.code), rollup)
                per_indicator[(g.code, ind.code)] = found
                own.update(found)
        keys[source.name] = own
        for g in card.groups:
            for ind in g.indicators:
                found = per_indicator[(g.code, ind.code)]
                if source.fallback and source.name not in ind.inputs and g.code not in manual:
                    for key in own:
                        other = indicators.get((source.fallback, key, g.code, ind.code))
                        if other is not None:
                            found[key] = dataclasses.replace(
                                other, source=source.name, origin=f"fallback:{source.fallback}"
                            )
                for key, r in found.items():
                    indicators[(source.name, key, g.code, ind.code)] = r
        for key in own:
            for g in card.groups:
                parts = [
                    (i, indicators.get((source.name, key, g.code, i.code)))
                    for i in g.indicators
                    if not i.informational
                ]
                if any(r is None and not i.optional for i, r in parts) or all(r is None for _i, r in parts):
                    continue
                total = sum((r.points or 0.0) for _i, r in parts if r is not None)
                groups[(source.name, key, g.code)] = ROUNDINGS[g.round](total) if g.round else total
    if card.published is not None:
        pub = card.published
        found = pub.score.evaluate(index, (*by, card.group_label))
        codes = {g.code for g in card.groups}
        keys[pub.source] = set()
        for full_key, value in found.items():
            key, group = full_key[:-1], full_key[-1]
            if group in codes:
                groups[(pub.source, key, group)] = value
                keys[pub.source].add(key)
    totals: dict[tuple[str, Key], float] = {}
    names = [s.name for s in card.sources] + ([card.published.source] if card.published else [])
    for source in names:
        for key in keys.get(source, ()):
            have = [groups.get((source, key, g.code)) for g in card.groups]
            if all(v is not None for v in have) or card.total_when_missing == "zero":
                total = sum(v or 0.0 for v in have)
                totals[(source, key)] = ROUNDINGS[card.round](total) if card.round else total
    ranks = _rank(card, index, groups, totals) if "unit" in by else {}
    return Evaluation(card, indicators, groups, totals, ranks, keys, manual)


def _rolled_up(values: dict[Key, float], by: tuple[str, ...], provinces: list[str]) -> dict[Key, float]:
    """``values`` plus, for each province not reported itself, the sum of every unit's value."""
    if not provinces:
        return values
    ui = by.index("unit")
    out = dict(values)
    for province in provinces:
        sums: dict[Key, float] = {}
        for key, value in values.items():
            if key[ui] != province:
                rkey = key[:ui] + (province,) + key[ui + 1 :]
                sums[rkey] = sums.get(rkey, 0.0) + value
        for rkey, value in sums.items():
            out.setdefault(rkey, value)
    return out


def _measure(
    ind: Indicator,
    g: Group,
    source: str,
    index: Index,
    by: tuple[str, ...],
    manual: Manual | None,
    rollup: list[str] = (),
) -> dict[Key, IndicatorResult]:  # type: ignore[assignment]
    """The indicator's results per key for one source (manual value first, then the inputs)."""
    out: dict[Key, IndicatorResult] = {}
    if manual is not None:
        s = score(ind, manual.value, None)
        gr, ev = gap(ind, manual.value, None) if ind.gap else (None, None)
        out[()] = IndicatorResult(
            g.code, ind.code, source, (), manual.value, None, s.ratio, s.points, gr, ev, origin="manual"
        )
        return out
    inputs = ind.inputs.get(source)
    if inputs is None:
        return out
    if inputs.value is not None:
        values = inputs.value.evaluate(index, by)
        for key, v in values.items():
            s = score(ind, v, None)
            gr, ev = gap(ind, v, None) if ind.gap else (None, None)
            out[key] = IndicatorResult(g.code, ind.code, source, key, v, None, s.ratio, s.points, gr, ev)
        return out
    assert inputs.numerator is not None and inputs.denominator is not None
    nums = _rolled_up(inputs.numerator.evaluate(index, by), by, list(rollup))
    dens = _rolled_up(inputs.denominator.evaluate(index, by), by, list(rollup))
    for key in nums.keys() & dens.keys():
        n, d = nums[key], dens[key]
        s = score(ind, n, d)
        gr, ev = gap(ind, n, d) if ind.gap else (None, None)
        out[key] = IndicatorResult(g.code, ind.code, source, key, n, d, s.ratio, s.points, gr, ev)
    return out


_DIGITS = re.compile(r"(\d+)")


def unit_order(code: str) -> tuple:
    """H44.9 before H44.10: digits compared as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(code))


def _levels(card: Scorecard, index: Index) -> dict[str, str]:
    ranking = card.ranking
    if ranking is None or ranking.info is None:
        return {}
    out: dict[str, str] = {}
    for labels, _value in index.get(ranking.info.name, ()):
        if ranking.info.matches(labels) and "unit" in labels:
            out.setdefault(labels["unit"], labels.get(ranking.level_label, ""))
    return out


def _rank(
    card: Scorecard,
    index: Index,
    groups: dict[tuple[str, Key, str], float],
    totals: dict[tuple[str, Key], float],
) -> dict[tuple[str, Key, str | None], tuple[int, int, str]]:
    """Rank units among their peers (same source, period and other key labels, same level), by score
    descending, then unit code: stable under ties."""
    levels = _levels(card, index)
    exclude = set(card.ranking.exclude_levels) if card.ranking else set()
    ranked = set(card.ranking.sources) if card.ranking and card.ranking.sources is not None else None
    ui = card.by.index("unit")
    boards: dict[tuple, list[tuple[float, str, Key]]] = {}
    for (source, key, group), value in groups.items():
        level = levels.get(key[ui], "")
        if level not in exclude and (ranked is None or source in ranked):
            boards.setdefault((source, key[:ui] + key[ui + 1 :], group, level), []).append(
                (value, key[ui], key)
            )
    for (source, key), value in totals.items():
        level = levels.get(key[ui], "")
        if level not in exclude and (ranked is None or source in ranked):
            boards.setdefault((source, key[:ui] + key[ui + 1 :], None, level), []).append(
                (value, key[ui], key)
            )
    out: dict[tuple[str, Key, str | None], tuple[int, int, str]] = {}
    for (source, _rest, group, level), rows in boards.items():
        rows.sort(key=lambda r: (-r[0], unit_order(r[1])))
        for i, (_v, _unit, key) in enumerate(rows):
            out[(source, key, group)] = (i + 1, len(rows), level)
    return out


# ------------------------------------------------------------------------------------ the specs

_ROLE_SPECS: dict[str, tuple[str, str, str]] = {
    # role: (help, labels kind, Vietnamese)
    "score": ("Score of the {g} computed by egov-exporter ({t}).", "key,group,source", "điểm"),
    "max_score": ("Maximum points of the {g} ({t}).", "group", "điểm tối đa"),
    "total_score": (
        "Total score ({t}): the sum of the {g} scores, present only when every group has a score.",
        "key,source",
        "tổng điểm",
    ),
    "total_max_score": ("Maximum total score ({t}).", "", "tổng điểm tối đa"),
    "rank": (
        "Rank of the unit among its peers (same level, period and source) by the {g} score, 1 = best; "
        "ties are ordered by unit code.",
        "key,group,source,level",
        "xếp hạng",
    ),
    "total_rank": (
        "Rank of the unit among its peers (same level, period and source) by total score, 1 = best; "
        "ties are ordered by unit code.",
        "key,source,level",
        "xếp hạng tổng",
    ),
    "ranked_units": (
        "Number of units ranked together by the {g} score (the peers behind a rank).",
        "rest,source,level,group",
        "số đơn vị được xếp hạng",
    ),
    "total_ranked_units": (
        "Number of units ranked together by total score (the peers behind a total rank).",
        "rest,source,level",
        "số đơn vị được xếp hạng tổng",
    ),
    "groups_at_max": (
        "Number of {g}s at their maximum points ({t}).",
        "key,source",
        "số tiêu chí đạt điểm tối đa",
    ),
    "groups": ("Number of {g}s in the scorecard ({t}).", "", "số tiêu chí"),
    "data_available": (
        "1 when the {g} could be scored (its metrics are present or a manual value is set), "
        "0 when it scores nothing for lack of data.",
        "key,group,source",
        "có dữ liệu",
    ),
    "manual": (
        "1 when the {g}'s value was set by a person (scoring.manual), not measured.",
        "group",
        "giá trị nhập thủ công",
    ),
    "manual_timestamp": (
        "When the {g}'s manual value was set (scoring.manual set_at), unix time.",
        "group,set_by",
        "thời điểm nhập",
    ),
    "info": (
        "Names of the {g}s; verified=false marks figures that are a reconstruction ({t}).",
        "group,name,verified",
        "thông tin tiêu chí",
    ),
    "indicator_ratio": (
        "Ratio (0-1) of an indicator's numerator to its denominator, as scored ({t}); absent when "
        "the denominator is 0.",
        "key,group,indicator,source",
        "tỷ lệ",
    ),
    "indicator_points": (
        "Points an indicator earns ({t}), rounded as the scorecard says.",
        "key,group,indicator,source",
        "điểm thành phần",
    ),
    "indicator_max_points": (
        "Maximum points of an indicator ({t}).",
        "group,indicator",
        "điểm thành phần tối đa",
    ),
    "indicator_target_ratio": (
        "Target ratio of an indicator: the ratio that earns full points, or the national "
        "target where the scorecard names one.",
        "group,indicator",
        "chỉ tiêu",
    ),
    "indicator_gap_ratio": (
        "How far the indicator's ratio is below its target ratio (0 when reached).",
        "key,group,indicator,source",
        "khoảng cách tới chỉ tiêu",
    ),
    "indicator_events_needed": (
        "How many more events (e.g. dossiers paid online) this period bring the indicator "
        "to its target ratio; absent when more events cannot reach it.",
        "key,group,indicator,source",
        "số hồ sơ cần thêm",
    ),
}


def metric_specs(card: Scorecard) -> tuple[MetricSpec, ...]:
    noun = {"group": "group", "criterion": "criterion"}.get(card.group_label, card.group_label)
    out = []
    for role, name in card.metrics.model_dump().items():
        if not name:
            continue
        text, kinds, vi = _ROLE_SPECS[role]
        labels: list[str] = []
        for kind in kinds.split(","):
            if kind == "key":
                labels += card.by
            elif kind == "rest":
                labels += [k for k in card.by if k != "unit"]
            elif kind == "group":
                labels.append(card.group_label)
            elif kind == "source":
                if card.source_label:
                    labels.append(card.source_label)
            elif kind:
                labels.append(kind)
        help_text = text.format(g=noun, t=card.title or card.scorecard)
        if role == "total_score" and card.total_when_missing == "zero":
            help_text = help_text.replace(
                "present only when every group has a score", f"a {noun} without data counts 0"
            )
        if "key" in kinds.split(",") and "period" in card.by:
            help_text += (
                " Period-to-date, for the current calendar period named by `period` (month, quarter, year "
                "in Asia/Ho_Chi_Minh)."
            )
        if "source" in kinds.split(",") and card.source_label:
            described = [f"{src.name} = {src.description}" for src in card.sources if src.description]
            if card.published is not None and not role.startswith("indicator_") and role != "data_available":
                described.insert(0, f"{card.published.source} = as published upstream")
            help_text += f" Label {card.source_label}: " + "; ".join(described) + "."
        out.append(MetricSpec(name, "gauge", help_text, tuple(labels), vi=vi))
    return tuple(out)


def build_index(samples: Iterable[tuple[str, dict[str, str], float]]) -> SampleIndex:
    index = SampleIndex()
    for name, labels, value in samples:
        index.setdefault(name, []).append((labels, value))
    return index
