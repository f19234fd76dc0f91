"""What a snapshot reports: the indicators, scorecards and availability, as data (``report.yaml``).

Each figure names the metric families it reads by Prometheus selectors; the same selectors are read
from the embedded history or from Prometheus.  A province whose collectors differ (another metric name,
another label) passes its own file with ``--report.file``; nothing here is hard-coded in the snapshot code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PrivateAttr, ValidationError, field_validator, model_validator

from exporter.config import ConfigError, Strict, _errors_of
from exporter.snapshot.selectors import Selector, SelectorError, parse_selector
from exporter.targets import Target, load_targets, read_yaml, targets_file, unknown_target

DEFAULT_REPORT = Path(__file__).with_name("report.yaml")


def _selector(v: str | None) -> str | None:
    if v is not None:
        try:
            parse_selector(v)
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
    return v


class Section(Strict):
    id: str
    vi: str
    en: str


class Indicator(Strict):
    """One figure: a period-to-date count, a ratio of two, or a gauge (or ratio of gauges) at period end."""

    id: str
    section: str
    vi: str
    en: str
    #: counter: period-to-date counters (label period); gauge: the value at the end of the period
    read: Literal["counter", "gauge"] = "counter"
    metric: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    #: a gauge that carries the period label too (published scores per period)
    period_label: bool = False
    #: breakdown label (unit, target, level, criterion, ...); "" for one figure only
    by: str = "unit"
    #: the province figure from the rows: their sum, max or min (an aggregate row such as the province's
    #: own unit, when the upstream reports one, is used as it is)
    aggregate: Literal["sum", "max", "min"] = "sum"
    #: several targets reporting the same row (the same system read two ways): keep the one reporting
    #: the most (largest), or add them up (sum: they count different things)
    combine_targets: Literal["largest", "sum"] = "largest"
    display: Literal["count", "ratio", "points", "timestamp", "seconds"] = "count"
    #: the national target shown beside the figure: a key of the targets file (indicators/targets.yaml)
    target: str | None = None
    #: the most the figure can be (points), shown beside it where there is no target
    maximum: float | None = None

    _sel = field_validator("metric", "numerator", "denominator")(lambda cls, v: _selector(v))

    @model_validator(mode="after")
    def _shape(self) -> Indicator:
        ratio = self.numerator is not None or self.denominator is not None
        if ratio and (self.numerator is None or self.denominator is None):
            raise ValueError("a ratio needs both numerator and denominator")
        if ratio == (self.metric is not None):
            raise ValueError("set either metric, or numerator and denominator")
        return self

    @property
    def is_ratio(self) -> bool:
        return self.numerator is not None

    def selectors(self) -> dict[str, Selector]:
        if self.is_ratio:
            return {
                "numerator": parse_selector(self.numerator),
                "denominator": parse_selector(self.denominator),
            }
        return {"value": parse_selector(self.metric)}


class Group(Strict):
    code: str
    vi: str
    en: str
    max: float


class Scorecard(Strict):
    """Scores per unit and group (Decision 766): units ranked on the total of their group scores."""

    id: str
    vi: str
    en: str
    metric: str
    group_label: str = "group"
    source_label: str = "source"
    #: values of source_label, in order of preference: ranks use the first one that has data
    sources: list[str]
    groups: list[Group]
    #: ranks are given within each value of the unit's level (departments, communes), when known
    rank_within_level: bool = True
    #: totals the report counts the units below, per level (e.g. communes under 80 and 90 points)
    thresholds: list[float] = []

    _sel = field_validator("metric")(lambda cls, v: _selector(v))

    @property
    def max_total(self) -> float:
        return sum(g.max for g in self.groups)


class Criteria(Strict):
    """A scorecard without units shown criterion by criterion (PAR Index component 7): each criterion's
    points and maximum, whether its value was measured or entered by a person (who, when), and whether
    the criterion is verified (the scoring engine's series, read at the period's end)."""

    id: str
    section: str
    vi: str
    en: str
    #: the label naming the criterion on every series below
    label: str = "criterion"
    score: str
    max_score: str
    #: labels name and verified ("false": an unverified reconstruction)
    info: str
    #: 1 when the value was set by a person; its set time carries the label set_by
    manual: str | None = None
    manual_timestamp: str | None = None
    total: str
    total_max: str

    _sel = field_validator("score", "max_score", "info", "manual", "manual_timestamp", "total", "total_max")(
        lambda cls, v: _selector(v)
    )


class NationalRanking(Strict):
    """Every province's scores and rank as the national portal publishes them (Decision 766), with the
    province's own row marked: the province is found by its code (``province``, default: the scorecard's
    province unit and the ``province`` label of the targets)."""

    vi: str
    en: str
    #: the scorecard whose groups (codes, names, maxima) the scores have
    scorecard: str
    #: scores per province, group and period; the group ``total_group`` holds the total
    score: str
    #: the national rank (1 = best) per province and period
    rank: str
    #: labels province and name
    info: str
    province_label: str = "province"
    name_label: str = "name"
    group_label: str = "group"
    total_group: str = "total"
    #: the province's own code on the national ranking (default: found as above)
    province: str = ""

    _sel = field_validator("score", "rank", "info")(lambda cls, v: _selector(v))


class UnitNames(Strict):
    #: info gauges with labels unit and unit_name (and level, when known)
    metrics: list[str]
    name_label: str = "unit_name"
    level_label: str = "level"
    #: level values (any case) that mean the province itself (an aggregate row, not ranked)
    aggregate_levels: list[str] = ["province"]

    @field_validator("metrics")
    @classmethod
    def _sels(cls, v: list[str]) -> list[str]:
        for s in v:
            _selector(s)
        return v


class Availability(Strict):
    metric: str = "egov_target_up"
    duration_metric: str = "egov_target_poll_duration_seconds"
    #: drawn as a line on the availability chart (an objective, not a legal figure)
    objective: float = 0.99


class ReportSpec(Strict):
    title_vi: str
    title_en: str
    sections: list[Section]
    indicators: list[Indicator]
    scorecards: list[Scorecard] = []
    criteria: list[Criteria] = []
    national_ranking: NationalRanking | None = None
    unit_names: UnitNames
    availability: Availability = Availability()
    #: the targets file: relative to this file; default targets.yaml beside it, else the shipped one
    targets: str | None = None
    source: str = ""
    _targets: dict[str, Target] = PrivateAttr(default_factory=dict)

    def target(self, ind: Indicator) -> Target | None:
        return self._targets[ind.target] if ind.target else None

    @model_validator(mode="after")
    def _refs(self) -> ReportSpec:
        known = {s.id for s in self.sections}
        ids: set[str] = set()
        for ind in self.indicators:
            if ind.section not in known:
                raise ValueError(
                    f"indicator {ind.id}: unknown section {ind.section!r} "
                    f"(sections: {', '.join(sorted(known))})"
                )
            if ind.id in ids:
                raise ValueError(f"indicator id {ind.id!r} is used twice")
            ids.add(ind.id)
        if self.national_ranking and self.national_ranking.scorecard not in {s.id for s in self.scorecards}:
            raise ValueError(
                f"national_ranking: unknown scorecard {self.national_ranking.scorecard!r} "
                f"(scorecards: {', '.join(s.id for s in self.scorecards)})"
            )
        for c in self.criteria:
            if c.section not in known:
                raise ValueError(
                    f"criteria {c.id}: unknown section {c.section!r} (sections: {', '.join(sorted(known))})"
                )
        return self


def load_report(path: str | Path | None = None) -> ReportSpec:
    """Read and validate a report definition; raise ConfigError with one line per problem."""
    p = Path(path) if path else DEFAULT_REPORT
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError([f"{p}: the top level must be a mapping"])
    try:
        spec = ReportSpec.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        raise ConfigError([f"{p}: {line}" for line in _errors_of(exc, (), ReportSpec)]) from None
    where = p.parent / spec.targets if spec.targets else targets_file(p)
    targets = load_targets(where)
    errors = [
        f"{p}: indicators[{i}].target: {unknown_target(ind.target, targets, where)}"
        for i, ind in enumerate(spec.indicators)
        if ind.target and ind.target not in targets
    ]
    if errors:
        raise ConfigError(errors)
    spec._targets = targets
    return spec
