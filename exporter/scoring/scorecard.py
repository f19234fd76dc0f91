"""Scorecards: what a score is made of, as data (``indicators/*.yaml``), validated at load.

A scorecard has **groups** (the six groups of Decision 766, the fourteen criteria of PAR 7), each the sum
of its **indicators'** points (weighted parts: each indicator's maximum is its weight).  An indicator names
its inputs per **source** (metric selectors: a numerator and a denominator, or a value), its rule
(proportional, threshold, capped, binary, banded), what a zero denominator scores, and its rounding.
Everything the published figures depend on is in the file; the engine has no special cases.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from exporter.config import Strict
from exporter.scoring.rounding import exact
from exporter.scoring.selector import Selector, parse_selector

SelectorField = Annotated[
    Selector, BeforeValidator(lambda v: v if isinstance(v, Selector) else parse_selector(v))
]
RULES = ("proportional", "threshold", "capped", "binary", "banded")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_METRIC = re.compile(r"^egov_[a-z0-9_]+$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


#: the official totals of the scorecards the province is judged by: a file with these ids must add up to them
OFFICIAL_TOTALS = {
    "qd766": (Decimal(100), "Decision 766/QĐ-TTg"),
    "par7": (Decimal("13.5"), "PAR Index component 7"),
}


class ScorecardError(Exception):
    """A scorecard file is unusable; ``messages`` holds one line per problem (``<file>: <place>: <what>``)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def _fmt(x: Decimal | float) -> str:
    return format(Decimal(str(x)).normalize(), "f")


class Inputs(Strict):
    """Where one source finds an indicator's figures: a numerator and a denominator, or a value."""

    numerator: SelectorField | None = None
    denominator: SelectorField | None = None
    #: a ratio or a 0/1 state measured directly (binary and banded criteria)
    value: SelectorField | None = None

    @model_validator(mode="after")
    def _complete(self) -> Inputs:
        pair = (self.numerator is not None, self.denominator is not None)
        if self.value is not None and any(pair):
            raise ValueError("give numerator and denominator, or value, not both")
        if self.value is None and pair != (True, True):
            missing = "denominator" if pair[0] else "numerator"
            raise ValueError(
                f"needs numerator and denominator, or value (missing {missing})"
                if any(pair)
                else "needs numerator and denominator, or value"
            )
        return self


class Band(Strict):
    at_least: float = Field(ge=0)
    points: float = Field(ge=0)


class Gap(Strict):
    """Distance to target shown for this indicator: the ratio still missing and, for counts, how many
    more events this period reach ``target`` (default: the ratio that earns full points)."""

    #: a ratio, or in the file a key of the national targets (indicators/targets.yaml), read at load
    target: float | None = Field(default=None, gt=0, le=1)
    #: the key the target was read from (set at load from ``target: <key>``)
    target_key: str | None = None
    #: what one more event adds to: the numerator only (digitizing a dossier already received) or both
    #: numerator and denominator (one more dossier paid online is also one more dossier with a fee)
    adds_to: Literal["numerator", "both"] = "both"
    #: what the events are, for the landing page ("online payments")
    events: str = "events"


class Indicator(Strict):
    code: str
    name: str = ""
    max: float = Field(ge=0)
    rule: Literal["proportional", "threshold", "capped", "binary", "banded"]
    #: threshold: the ratio that earns full points (points = min(max, max × ratio / full_at))
    full_at: float | None = Field(default=None, gt=0, le=1)
    #: capped: points = min(cap, factor × ratio)
    cap: float | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, gt=0)
    #: binary: full points when the ratio (or value) is at least this
    at_least: float | None = Field(default=None, ge=0)
    #: banded: the first band whose at_least the ratio reaches gives its points (highest band first)
    bands: list[Band] = []
    #: round the percentage (100 × numerator / denominator) before it is scored
    percent_round: Literal["r2"] | None = None
    #: round the indicator's points
    round: Literal["r2"] | None = None
    #: what a zero denominator scores: nothing (0), full points, or unscored (no points; 0 in the group)
    when_zero: Literal["zero", "full", "unscored"] = "zero"
    #: shown but worth no points (max 0)
    informational: bool = False
    #: may be absent altogether (the upstream leaves it out in some scopes): the group is then scored
    #: without it, instead of not at all
    optional: bool = False
    inputs: dict[str, Inputs] = {}
    #: no system measures it: only a manual value (scoring.manual) scores it
    manual_only: bool = False
    gap: Gap | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _CODE.match(v):
            raise ValueError(f"must be letters, digits, '_', '.' or '-', got {v!r}")
        return v

    @model_validator(mode="after")
    def _rule_settings(self) -> Indicator:
        need = {"threshold": ("full_at",), "capped": ("cap", "factor")}.get(self.rule, ())
        missing = [k for k in need if getattr(self, k) is None]
        if self.rule == "banded" and not self.bands:
            missing.append("bands")
        if missing:
            raise ValueError(f"rule {self.rule} needs {', '.join(missing)}")
        extra = [
            k
            for k in ("full_at", "cap", "factor", "at_least")
            if getattr(self, k) is not None
            and k not in need
            and not (k == "at_least" and self.rule == "binary")
        ]
        if self.bands and self.rule != "banded":
            extra.append("bands")
        if extra:
            raise ValueError(f"rule {self.rule} does not use {', '.join(extra)}")
        if self.rule == "capped" and self.cap is not None and exact(self.cap) > exact(self.max):
            raise ValueError(f"cap {_fmt(self.cap)} exceeds max {_fmt(self.max)}")
        for band in self.bands:
            if exact(band.points) > exact(self.max):
                raise ValueError(f"band points {_fmt(band.points)} exceed max {_fmt(self.max)}")
        if [b.at_least for b in self.bands] != sorted((b.at_least for b in self.bands), reverse=True):
            raise ValueError("bands must be listed from the highest at_least down")
        if not self.inputs and not self.manual_only:
            raise ValueError(
                "needs inputs (numerator and denominator, or value, per source), or manual_only: true"
            )
        if self.inputs and self.manual_only:
            raise ValueError("a manual_only indicator has no inputs")
        if self.informational and self.max != 0:
            raise ValueError("an informational indicator has max 0")
        if not self.informational and self.max == 0:
            raise ValueError("max must be above 0 (or mark the indicator informational)")
        return self

    def full_ratio(self) -> float:
        """The ratio from which the indicator earns full points."""
        if self.rule == "threshold":
            return float(self.full_at)  # type: ignore[arg-type]
        if self.rule == "capped":
            return float(exact(self.cap) / exact(self.factor))  # type: ignore[arg-type]
        if self.rule == "binary":
            return self.at_least if self.at_least is not None else 1.0
        if self.rule == "banded":
            top = [b for b in self.bands if exact(b.points) == exact(self.max)]
            return top[-1].at_least if top else self.bands[0].at_least
        return 1.0


class Group(Strict):
    code: str
    name: str = ""
    max: float = Field(gt=0)
    #: rounding of the group's score (the sum of its indicators' points)
    round: Literal["r2"] | None = None
    #: a figure whose official value is not public (PAR 7 defaults): shown as unverified
    verified: bool = True
    note: str = ""
    indicators: list[Indicator] = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return Indicator._code(v)

    @model_validator(mode="after")
    def _sum(self) -> Group:
        codes = [i.code for i in self.indicators]
        dup = next((c for c in codes if codes.count(c) > 1), None)
        if dup:
            raise ValueError(f"indicator code {dup} is used twice")
        total = sum((exact(i.max) for i in self.indicators), Decimal(0))
        if total != exact(self.max):
            raise ValueError(
                f"indicators' maxima add up to {_fmt(total)}, expected the group's max {_fmt(self.max)}"
            )
        return self


class Source(Strict):
    name: str
    description: str = ""
    #: indicators this source has no inputs for take the result of that source (same key)
    fallback: str | None = None
    #: also score the province (the unit whose level is ``province`` in ranking.info) from the sum of its
    #: units' numerators and denominators, when the source reports units only
    rollup: bool = False


class Published(Strict):
    """Scores published upstream, totalled and ranked beside the computed ones."""

    #: group scores; the group is the sample's ``group_label`` label
    score: SelectorField
    source: str = "published"


class Ranking(Strict):
    """Units ranked within the province: peers share the period, the source, the group and the level."""

    #: unit metadata whose ``level_label`` gives each unit's level (joined on ``unit``)
    info: SelectorField | None = None
    level_label: str = "level"
    #: levels not ranked (the province itself)
    exclude_levels: list[str] = []
    #: the sources whose scores are ranked (default: every source, published included)
    sources: list[str] | None = None


def _metric_name(v: str | None) -> str | None:
    if v is not None and not _METRIC.match(v):
        raise ValueError(f"metric name must match egov_[a-z0-9_]+, got {v!r}")
    return v


MetricName = Annotated[str | None, BeforeValidator(_metric_name)]


class MetricNames(Strict):
    """Names of the series the engine publishes for this scorecard (leave one out to not publish it)."""

    score: MetricName
    max_score: MetricName = None
    total_score: MetricName = None
    total_max_score: MetricName = None
    rank: MetricName = None
    total_rank: MetricName = None
    ranked_units: MetricName = None
    total_ranked_units: MetricName = None
    groups_at_max: MetricName = None
    groups: MetricName = None
    data_available: MetricName = None
    manual: MetricName = None
    manual_timestamp: MetricName = None
    info: MetricName = None
    indicator_ratio: MetricName = None
    indicator_points: MetricName = None
    indicator_max_points: MetricName = None
    indicator_target_ratio: MetricName = None
    indicator_gap_ratio: MetricName = None
    indicator_events_needed: MetricName = None

    @model_validator(mode="after")
    def _unique(self) -> MetricNames:
        names = [v for v in self.model_dump().values() if v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"metric name {dup} is used twice")
        return self


class Scorecard(Strict):
    scorecard: str
    title: str = ""
    #: False when the figures are a reconstruction (PAR 7): shown as unverified
    verified: bool = True
    note: str = ""
    total_max: float = Field(gt=0)
    #: key labels: scores are computed per distinct combination (``sum by (...)``); [] = one overall score
    by: list[str] = []
    group_label: str = "group"
    #: label naming the source of a score (null: no such label, for single-source scorecards)
    source_label: str | None = "source"
    sources: list[Source] = Field(min_length=1)
    published: Published | None = None
    #: criteria accept ``scoring.manual`` values (group codes)
    manual: bool = False
    ranking: Ranking | None = None
    round: Literal["r2"] | None = None
    #: a group without a score makes the total absent ("absent"), or counts 0 in it ("zero")
    total_when_missing: Literal["absent", "zero"] = "absent"
    metrics: MetricNames
    groups: list[Group] = Field(min_length=1)

    @field_validator("by")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not _LABEL.match(label):
                raise ValueError(f"{label!r} is not a label name")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        official = OFFICIAL_TOTALS.get(self.scorecard)
        if official is not None and exact(self.total_max) != official[0]:
            raise ValueError(
                f"scorecard {self.scorecard} must total {_fmt(official[0])} points ({official[1]}), "
                f"got total_max {_fmt(self.total_max)}"
            )
        total = sum((exact(g.max) for g in self.groups), Decimal(0))
        if total != exact(self.total_max):
            raise ValueError(
                f"groups' maxima add up to {_fmt(total)}, expected total_max {_fmt(self.total_max)}"
            )
        codes = [g.code for g in self.groups]
        dup = next((c for c in codes if codes.count(c) > 1), None)
        if dup:
            raise ValueError(f"group code {dup} is used twice")
        names = [s.name for s in self.sources]
        if self.published is not None:
            names.append(self.published.source)
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"source {dup} is declared twice")
        computed = {s.name: s for s in self.sources}
        for s in self.sources:
            if s.fallback is not None and (
                s.fallback not in computed
                or s.fallback == s.name
                or computed[s.fallback].fallback is not None
            ):
                raise ValueError(
                    f"source {s.name}: fallback {s.fallback!r} must name another computed source "
                    "that has no fallback itself"
                )
        for gi, g in enumerate(self.groups):
            for ii, ind in enumerate(g.indicators):
                for src in ind.inputs:
                    if src not in [s.name for s in self.sources]:
                        raise ValueError(
                            f"groups[{gi}].indicators[{ii}].inputs: unknown source {src!r} "
                            f"(sources: {', '.join(s.name for s in self.sources)})"
                        )
        if not self.manual and any(i.manual_only for g in self.groups for i in g.indicators):
            raise ValueError("manual_only indicators need manual: true")
        if self.ranking is not None and self.ranking.sources is not None:
            unknown = [s for s in self.ranking.sources if s not in names]
            if unknown:
                raise ValueError(
                    f"ranking.sources: unknown source {unknown[0]!r} (sources: {', '.join(names)})"
                )
        if any(s.rollup for s in self.sources) and (self.ranking is None or self.ranking.info is None):
            raise ValueError("rollup needs ranking.info to know which unit is the province")
        if (self.ranking is not None or self.metrics.rank) and "unit" not in self.by:
            raise ValueError("ranking needs 'unit' among the key labels (by)")
        if len(self.sources) + (self.published is not None) > 1 and not self.source_label:
            raise ValueError("several sources need a source_label")
        if self.manual and self.by:
            raise ValueError("manual values apply to scorecards without key labels (by: [])")
        return self

    # lookups ---------------------------------------------------------------------------------
    def group(self, code: str) -> Group | None:
        return next((g for g in self.groups if g.code == code), None)


def _loc_text(err: dict[str, Any]) -> str:
    out = ""
    for p in err["loc"]:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parse_scorecard(data: Any, label: str) -> Scorecard:
    """Validate a parsed scorecard; ScorecardError with every problem, each prefixed by ``label``."""
    from exporter.config import _errors_of

    if not isinstance(data, dict):
        raise ScorecardError([f"{label}: a scorecard is a mapping of keys, got {type(data).__name__}"])
    try:
        return Scorecard.model_validate(data)
    except ValidationError as exc:
        lines = _errors_of(exc, (), Scorecard)
        raise ScorecardError([f"{label}: " + line.removeprefix("(top level): ") for line in lines]) from None


def load_scorecard(path: str | Path, label: str | None = None) -> Scorecard:
    label = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScorecardError([f"{label}: cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        raise ScorecardError([f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    _national_targets(data, Path(path), label)
    return parse_scorecard(data, label)


def _national_targets(data: Any, path: Path, label: str) -> None:
    """``gap: {target: online_payment}``: the ratio of that key in the targets file (beside the scorecard,
    else the shipped indicators/targets.yaml), so the landing page shows the target the report shows."""
    from exporter.config import ConfigError
    from exporter.targets import load_targets, targets_file, unknown_target  # imports exporter.config

    gaps = [
        (f"groups[{i}].indicators[{j}].gap.target", ind["gap"])
        for i, g in enumerate(data.get("groups") or [] if isinstance(data, dict) else [])
        if isinstance(g, dict)
        for j, ind in enumerate(g.get("indicators") or [])
        if isinstance(ind, dict) and isinstance(ind.get("gap"), dict)
        if isinstance(ind["gap"].get("target"), str)
    ]
    if not gaps:
        return
    where = targets_file(path)
    try:
        targets = load_targets(where)
    except ConfigError as exc:
        raise ScorecardError([f"{label}: {line}" for line in exc.messages]) from None
    errors = []
    for place, gap in gaps:
        key = gap["target"]
        if key not in targets:
            errors.append(f"{label}: {place}: {unknown_target(key, targets, where)}")
            continue
        gap["target"], gap["target_key"] = targets[key].ratio, key
    if errors:
        raise ScorecardError(errors)


#: where shipped scorecards live (``indicators/`` beside the packages)
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


def resolve(path: str, base_dir: Path) -> Path:
    """A scorecard path: absolute, else relative to the config file's folder, else to the package's."""
    p = Path(path)
    if p.is_absolute():
        return p
    for root in (base_dir, PACKAGE_ROOT):
        if (root / p).is_file():
            return root / p
    return base_dir / p
