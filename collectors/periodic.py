"""Period-to-date statistics from a vendor's reporting API or page: the shared part of the ``documents`` and
``services`` kinds.

Upstream statistics answer "so far this month / quarter / year".  For every configured period the collector
asks each source of the target's **profile** (shipped as data in ``collectors/profiles/<kind>-<name>.yaml``,
or the target's own ``profile_file``) for the range [start of the period, now] in Asia/Ho_Chi_Minh, follows
Spring-style pages up to ``max_pages``, and extracts the answer declaratively (JSONPath rules, or HTML
tables by header text).  Each count becomes a counter with a ``period`` label that resets when its calendar
period starts.  Units come from the payload (a code), from the target's ``units`` map of names to codes, or
from another answer of the same poll that gives both a unit's code and its name (an iGate report that names
agencies only is joined to the one that gives their codes); unit names go to ``egov_<kind>_unit_info``.

A profile's ``settings`` are the values a deployment differs by (a province prefix, an agency id), given per
target in ``profile_settings`` and used as template variables.  Each source's failure is its own: a
source that fails (an HTTP error, an unreadable answer) turns the target degraded with
``egov_<kind>_source_up{source}`` 0 while the others are read; only when every source fails is the target
down, and a refusal (403/429/WAF: reason ``blocked``), a timeout, a connection, TLS or credentials failure
ends the poll at once (the other sources are on the same host and would fail the same way).  A missing
field skips that one metric (counted).
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import Field, field_validator, model_validator

from collectors.extract import HtmlTable, JsonMetric, extract_json, extract_tables, jsonpath_values, norm_text
from collectors.html import parse_html
from collectors.http import HttpCollector, HttpConfig
from collectors.profiles import (
    Setting,
    SettingValues,
    check_setting_names,
    load_profile,
    resolve,
    resolve_settings,
    sample_settings,
)
from exporter.config import Strict
from exporter.domain import TZ, period_start
from exporter.fetch import Response
from exporter.plugin import Collected, CollectError, MetricSpec, Sample

Period = Literal["month", "quarter", "year"]

#: appended to the HELP of every period-to-date counter
PERIOD_HELP = (
    " Period-to-date: the count since the start of the calendar period in label period (month, "
    "quarter or year, Asia/Ho_Chi_Minh) as the upstream reports it; it resets to 0 when that period "
    "starts (a counter reset), so rate()/increase() work and a period's total is its last value "
    "before the reset."
)


def period_counter(kind: str, name: str, what: str, vi: str, labels: tuple[str, ...]) -> MetricSpec:
    """The spec of a period-to-date counter ``egov_<kind>_<name>_total``; its HELP states the semantics."""
    return MetricSpec(f"egov_{kind}_{name}_total", "counter", what + PERIOD_HELP, labels, vi=vi)


def clock_vars(now: dt.datetime) -> dict[str, Any]:
    """Template variables of a poll: ``{now}``, ``{year}``, ``{month}``, ``{quarter}`` (local time)."""
    local = now.astimezone(TZ)
    return {"now": local, "year": local.year, "month": local.month, "quarter": (local.month - 1) // 3 + 1}


def period_vars(now: dt.datetime, period: str) -> dict[str, Any]:
    """Template variables of one period: ``{period}``, ``{start}`` (its first day, local midnight), and
    ``{period_month}`` / ``{period_quarter}``: the month (quarter) number when the period is a month
    (quarter), else 0 -- the way report APIs that take ``month=0`` for "the whole year" are asked."""
    local = now.astimezone(TZ)
    return {
        "period": period,
        "start": period_start(now, period),
        "period_month": local.month if period == "month" else 0,
        "period_quarter": (local.month - 1) // 3 + 1 if period == "quarter" else 0,
    }


# ------------------------------------------------------------------------------------------ profile

_SAMPLE_NOW = dt.datetime(2026, 8, 15, 10, 30, tzinfo=TZ)
_TEMPLATE_VARS: dict[str, Any] = clock_vars(_SAMPLE_NOW)
_PERIOD_VARS: dict[str, Any] = period_vars(_SAMPLE_NOW, "month")
_PAGE_VARS: dict[str, Any] = {"page": 0, "size": 50}
#: names a setting may not take
BUILTIN_VARS: tuple[str, ...] = (*_TEMPLATE_VARS, *_PERIOD_VARS, *_PAGE_VARS)


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``str.format`` applied to every string of a template (strings, lists, mappings and their keys)."""
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def _check_template(template: Any, known: dict[str, Any]) -> None:
    texts = (
        [template]
        if isinstance(template, str)
        else [*template, *template.values()]
        if isinstance(template, dict)
        else list(template or [])
    )
    for text in texts:
        if not isinstance(text, str):
            _check_template(text, known)
            continue
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise ValueError(f"bad template {text!r}: {exc}") from None
        for field in fields:
            root = field.split(".")[0].split("[")[0]
            if root not in known:
                raise ValueError(
                    f"unknown placeholder {{{root}}} in {text!r}; known: "
                    + ", ".join("{" + k + "}" for k in known)
                )
        try:
            text.format(**known)
        except (ValueError, AttributeError, IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"bad template {text!r}: {exc}") from None


class RequestSpec(Strict):
    """One request.  Strings may use {now}, {year}, {month}, {quarter}; per-period sources also {period},
    {start} (the period's first day), {period_month} and {period_quarter}; paged sources {page} and {size};
    every source the profile's settings (``{prefix}``).  Dates take a strftime format: ``{start:%d/%m/%Y}``.
    A query parameter whose value comes out empty (an optional setting left unset) is not sent."""

    method: Literal["GET", "POST"] = "GET"
    #: relative to the target URL (taken as a folder); a leading / starts at the host's root
    path: str = ""
    params: dict[str, str] = {}
    json_body: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = {}


class Paging(Strict):
    """Spring-style pages (``content``, ``totalPages``, ``number``, ``size``)."""

    #: number of the first page (Spring counts from 0)
    first: int = Field(default=0, ge=0, le=1)
    size: int = Field(default=100, ge=1, le=10000)
    #: JSONPath of the number of pages in the answer
    total_pages: str = "$.totalPages"

    @field_validator("total_pages")
    @classmethod
    def _path(cls, v: str) -> str:
        return JsonMetric._path(v)


class Source(Strict):
    """A request (repeated per period and page) and how to read its answers."""

    name: str
    format: Literal["json", "html"] = "json"
    #: asked once per configured period (the answers' samples get the label period)
    per_period: bool = True
    request: RequestSpec
    paging: Paging | None = None
    #: rules of a JSON source
    metrics: list[JsonMetric] = []
    #: tables of an HTML source
    tables: list[HtmlTable] = []
    #: metrics of a per-period source that are not period-to-date (a backlog "now"): read from the first
    #: period's answer only, without the period label
    period_free: list[str] = []
    #: (html) text the end of a complete answer contains, e.g. ``</html>``; without it the answer was cut
    #: short and fails the poll (reason parse) rather than silently losing the rows after the cut
    complete_marker: str | None = None
    #: samples emitted when this source fails (it then does not fail the target), e.g. a link check
    when_unreachable: dict[str, float] = {}
    #: the periods this source can answer (none: all); it is not asked for the others
    periods: list[Period] | None = None
    #: a setting that turns this source on: it is asked only when the target's value is not empty
    when: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Source:
        if self.format == "json" and (not self.metrics or self.tables):
            raise ValueError(f"source {self.name}: a json source needs metrics (and no tables)")
        if self.format == "html" and (not self.tables or self.metrics or self.paging):
            raise ValueError(f"source {self.name}: an html source needs tables (and no metrics or paging)")
        unknown = [n for n in self.period_free if n not in self.names()]
        if unknown:
            raise ValueError(f"source {self.name}: period_free names {unknown[0]}, which it does not extract")
        if self.period_free and not self.per_period:
            raise ValueError(f"source {self.name}: period_free needs a per-period source")
        if self.periods is not None and not self.per_period:
            raise ValueError(f"source {self.name}: periods needs a per-period source")
        return self  # the request's templates are checked by the profile, which knows its settings

    def check_templates(self, settings: dict[str, str]) -> None:
        """Every placeholder of the request is a variable this source has (ValueError naming it)."""
        known = {
            **_TEMPLATE_VARS,
            **(_PERIOD_VARS if self.per_period else {}),
            **(_PAGE_VARS if self.paging else {}),
            **settings,
        }
        try:
            for part in (
                self.request.path,
                self.request.params,
                self.request.json_body,
                self.request.headers,
            ):
                _check_template(part, known)
        except ValueError as exc:
            raise ValueError(f"source {self.name}: {exc}") from None

    def names(self) -> list[str]:
        return [r.name for r in self.metrics] + [v.name for t in self.tables for v in t.values]

    def rules(self, with_period_free: bool) -> tuple[list[JsonMetric], list[HtmlTable]]:
        """The rules to apply to one answer (without the period-free ones after the first period)."""
        if with_period_free or not self.period_free:
            return self.metrics, self.tables
        drop = set(self.period_free)
        tables = [
            t.model_copy(update={"values": [v for v in t.values if v.name not in drop]}) for t in self.tables
        ]
        return [r for r in self.metrics if r.name not in drop], [t for t in tables if t.values]


class Profile(Strict):
    description: str = ""
    #: values a deployment differs by, given per target in ``profile_settings`` (template variables)
    settings: dict[str, Setting] = {}
    #: how numbers written as text are read: vi (1.234,5) or en (1,234.5)
    number_format: Literal["vi", "en"] = "vi"
    #: raw label values mapped to the exporter's (e.g. level: {TINH: province}); others are kept as they are
    label_values: dict[str, dict[str, str]] = {}
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _templates(self) -> Profile:
        check_setting_names(self.settings, BUILTIN_VARS)
        names = [s.name for s in self.sources]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"source {dup} is listed twice")
        sample = sample_settings(self.settings)
        for i, source in enumerate(self.sources):
            if source.when is not None and source.when not in self.settings:
                raise ValueError(
                    f"sources[{i}]: source {source.name}: when names no setting: {source.when!r}"
                )
            try:
                source.check_templates(sample)
            except ValueError as exc:
                raise ValueError(f"sources[{i}]: {exc}") from None
        return self

    def names(self) -> set[str]:
        return {n for s in self.sources for n in [*s.names(), *s.when_unreachable]}

    def periods(self) -> set[str] | None:
        """The periods some per-period source answers (None: all, or no source is asked per period)."""
        found: set[str] = set()
        per_period = [s for s in self.sources if s.per_period]
        for source in per_period:
            if source.periods is None:
                return None
            found |= set(source.periods)
        return found if per_period else None


# ------------------------------------------------------------------------------------------- config


class PeriodicConfig(HttpConfig):
    """Keys shared by the period-to-date statistics kinds."""

    #: shipped profile used when neither profile nor profile_file is set
    default_profile: ClassVar[str] = ""

    #: a shipped profile (collectors/profiles/<kind>-<name>.yaml)
    profile: str | None = None
    #: a profile of your own (absolute path, or relative to the working directory)
    profile_file: str | None = None
    #: values of the profile's settings (e.g. {prefix: kgg, agency_id: ...}), its template variables
    profile_settings: SettingValues = {}
    #: reporting periods asked for and exposed (label period)
    periods: list[Period] = Field(default=["month", "quarter", "year"], min_length=1)
    #: unit name as the upstream writes it -> unit code, for answers that name units without a code
    units: dict[str, str] = {}
    #: items per page asked for, instead of the profile's (servers cap it; smaller pages answer sooner)
    page_size: int | None = Field(default=None, ge=1, le=10000)
    #: pages followed per period at most (the target turns degraded when there are more)
    max_pages: int = Field(default=20, ge=1, le=1000)
    #: distinct units kept at most (label cardinality guard; the target turns degraded beyond it)
    max_units: int = Field(default=1000, ge=1, le=100000)

    @field_validator("periods")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("periods must not repeat")
        return v

    @model_validator(mode="after")
    def _one_profile(self) -> PeriodicConfig:
        if self.profile is not None and self.profile_file is not None:
            raise ValueError("set profile or profile_file, not both")
        return self

    def profile_label(self) -> str:
        return self.profile_file or f"profile {self.profile or self.default_profile!r}"

    def load_profile(self) -> Profile:
        """The target's profile, read now: its metric names must be this kind's, the target's
        ``profile_settings`` its settings, and each of the target's periods answered by some source."""
        if self.profile_file is None and not (self.profile or self.default_profile):
            raise ValueError(
                f"profile: the {self.kind} kind has no default profile: name a shipped one "
                f"(profile: example-json is a documented template) or write your own (profile_file:)"
            )
        profile = load_profile(
            self.kind, Profile, name=self.profile or self.default_profile, path=self.profile_file
        )
        prefix = f"egov_{self.kind}_"
        wrong = sorted(n for n in profile.names() if not n.startswith(prefix))
        if wrong:
            raise ValueError(
                f"profile {self.profile_file or self.profile or self.default_profile}: metric "
                f"{wrong[0]} must start with {prefix}"
            )
        self.settings_of(profile)
        answered = profile.periods()
        if answered is not None:
            missing = [p for p in self.periods if p not in answered]
            if missing:
                raise ValueError(
                    f"periods: {self.profile_label()} cannot answer {', '.join(missing)} (it answers "
                    f"{', '.join(p for p in ('month', 'quarter', 'year') if p in answered)}): leave "
                    f"{'it' if len(missing) == 1 else 'them'} out of periods"
                )
        return profile

    def settings_of(self, profile: Profile) -> dict[str, str]:
        """The profile's settings with this target's values (ValueError naming the key)."""
        return resolve_settings(self.profile_label(), profile.settings, self.profile_settings)


# ---------------------------------------------------------------------------------------- collector


#: failures that end a poll at once: the host refuses, is unreachable or rejects the credentials, so the other
#: sources (on the same host, with the same credentials) would fail the same way
ROUND_ENDING = frozenset({"blocked", "timeout", "connect", "tls", "auth"})


def source_up_spec(kind: str) -> MetricSpec:
    return MetricSpec(
        f"egov_{kind}_source_up",
        "gauge",
        "1 when the profile's source (one request per period, e.g. iGate's online-dossier report) answered "
        "in the last poll, 0 when it failed; the target is degraded while some source fails and down when "
        "all do.",
        ("source",),
        vi="nguồn số liệu trả lời được",
    )


class PeriodicCollector(HttpCollector):
    """Base of the period-to-date statistics kinds (not a kind itself)."""

    target: PeriodicConfig

    def __init__(self, target: PeriodicConfig, ctx: Any) -> None:
        super().__init__(target, ctx)
        self.profile = target.load_profile()
        self.settings = target.settings_of(self.profile)

    def inputs(self) -> object:
        return self.profile

    def collect(self) -> Collected:
        profile = self.profile
        now = dt.datetime.fromtimestamp(self.ctx.clock(), TZ)
        out = Collected()
        raw = Collected()
        failed: list[tuple[str, CollectError]] = []
        required = [
            s for s in profile.sources if not s.when_unreachable and (s.when is None or self.settings[s.when])
        ]
        for source in profile.sources:
            if source.when is not None and not self.settings[source.when]:
                continue  # turned off by the target's profile_settings
            got = Collected()
            try:
                self._read_source(source, now, got, out)
                if got.skipped and not got.samples and not source.when_unreachable:
                    raise CollectError(
                        "parse", f"{source.name}: no configured metric found in the answer: " + got.skipped[0]
                    )
            except CollectError as exc:
                if source.when_unreachable:
                    self.ctx.note(source=source.name, unreachable=f"{exc.reason}: {exc.message}")
                    for name, value in source.when_unreachable.items():
                        raw.add(name, value)
                    out.add(f"egov_{self.kind}_source_up", 0, source=source.name)
                    continue
                if exc.reason in ROUND_ENDING or len(required) == 1:
                    raise
                else:
                    self.ctx.note(source=source.name, failed=f"{exc.reason}: {exc.message}")
                    failed.append((source.name, exc))
                    out.add(f"egov_{self.kind}_source_up", 0, source=source.name)
                    continue
            out.add(f"egov_{self.kind}_source_up", 1, source=source.name)
            raw.samples += got.samples
            raw.skipped += got.skipped
        if failed and len(failed) == len(required):
            first = failed[0][1]
            raise CollectError(
                first.reason,
                "every source failed: " + "; ".join(f"{n}: {e.message}" for n, e in failed),
                retry_after=first.retry_after,
            )
        self._finish(raw, out)
        for name, exc in failed:
            _degrade(out, f"source {name} failed ({exc.reason}): {exc.message}")
        return out

    # requests ------------------------------------------------------------------------------
    def _read_source(self, source: Source, now: dt.datetime, got: Collected, out: Collected) -> None:
        t = self.target
        periods: list[str | None] = (
            [p for p in t.periods if source.periods is None or p in source.periods]
            if source.per_period
            else [None]
        )
        base_vars = {**clock_vars(now), **self.settings}
        for i, period in enumerate(periods):
            values = dict(base_vars)
            if period is not None:
                values.update(period_vars(now, period))
            metrics, tables = source.rules(with_period_free=i == 0)
            page = source.paging.first if source.paging else 0
            for read in range(t.max_pages):
                if source.paging:
                    values.update(page=page, size=t.page_size or source.paging.size)
                resp = self._request(source, values, period, out)
                answer = Collected()
                base = {"period": period} if period is not None else {}
                if source.format == "json":
                    data = self._json(source, resp)
                    extract_json(metrics, data, answer, base, self.profile.number_format)
                else:
                    self._expect_html(source, resp)
                    extract_tables(tables, parse_html(resp.body), answer, base, self.profile.number_format)
                for s in answer.samples:
                    if s.name in source.period_free:
                        s.labels.pop("period", None)
                got.samples += answer.samples
                got.skipped += answer.skipped
                if not source.paging:
                    break
                total = jsonpath_values(source.paging.total_pages, data)
                pages = total[0] if total and type(total[0]) is int else None
                if pages is None:
                    got.skipped.append(
                        f"{source.name}: no page count at {source.paging.total_pages}; "
                        "read the first page only"
                    )
                    break
                if page + 1 - source.paging.first >= pages:
                    break
                if read + 1 == t.max_pages:
                    _degrade(out, f"{source.name}: read {t.max_pages} of {pages} pages (max_pages)")
                    break
                page += 1

    def _request(
        self, source: Source, values: dict[str, Any], period: str | None, out: Collected
    ) -> Response:
        req = source.request
        try:
            url = resolve(self.target.url, fill(req.path, values))
            params = {k: v for k, v in fill(req.params, values).items() if v != ""}
            body = fill(req.json_body, values)
            headers = fill(req.headers, values)
        except (ValueError, KeyError, AttributeError, IndexError) as exc:  # guarded at load; never fatal here
            raise CollectError("other", f"{source.name}: cannot build the request: {exc}") from None
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        resp = self.fetch(
            req.method,
            url,
            json=body,
            headers=headers or None,
            what=f"{source.name}" + (f" ({period})" if period else ""),
        )
        if not any(s.name == "egov_target_http_status_code" for s in out.samples):
            self.checked(resp, out)  # the HTTP series and conditions describe the poll's first answer
        return resp

    @staticmethod
    def _json(source: Source, resp: Response) -> Any:
        if "html" in resp.content_type or "xml" in resp.content_type:
            raise CollectError("parse", f"{source.name}: expected JSON, got {resp.content_type}")
        return resp.json()

    @staticmethod
    def _expect_html(source: Source, resp: Response) -> None:
        if resp.content_type and "html" not in resp.content_type and "xml" not in resp.content_type:
            raise CollectError("parse", f"{source.name}: expected HTML, got {resp.content_type}")
        marker = source.complete_marker
        if marker and marker.lower().encode() not in resp.body[-4096:].lower():
            raise CollectError("parse", f"{source.name}: answer cut short (no {marker!r} at its end)")

    # results -------------------------------------------------------------------------------
    def _finish(self, raw: Collected, out: Collected) -> None:
        """Map label values, resolve unit names to codes (the target's ``units`` first, then the pairs of
        code and name the poll's answers gave), bound the units, drop repeats (a unit met twice while
        pages shifted), and describe the units in ``egov_<kind>_unit_info``."""
        t = self.target
        maps = self.profile.label_values
        codes: dict[str, str] = {}
        for s in raw.samples:  # a code and a name side by side in an answer: that name has that code
            unit, name = s.labels.get("unit"), s.labels.get("unit_name")
            if unit and name:
                codes.setdefault(norm_text(name), unit)
        codes.update({norm_text(name): code for name, code in t.units.items()})
        names: dict[str, str] = {}
        unmapped: list[str] = []
        units: set[str] = set()
        over = 0
        seen: set[tuple] = set()
        for s in raw.samples:
            labels = {k: maps.get(k, {}).get(v, v) for k, v in s.labels.items()}
            name = labels.pop("unit_name", None)
            unit = labels.get("unit")
            if not unit and name is not None:
                unit = codes.get(norm_text(name))
                if unit is None:
                    if name not in unmapped:
                        unmapped.append(name)
                    continue
                labels["unit"] = unit
            if unit:
                if unit not in units and len(units) >= t.max_units:
                    over += 1
                    continue
                units.add(unit)
                if name:
                    names.setdefault(unit, name)
            key = (s.name, tuple(sorted(labels.items())))
            if key not in seen:
                seen.add(key)
                out.samples.append(Sample(s.name, labels, s.value))
        for unit, name in sorted(names.items()):
            out.add(f"egov_{t.kind}_unit_info", 1, unit=unit, unit_name=name)
        out.skipped += raw.skipped
        out.skipped += [
            f"unit {n!r}: no code for this name in units (nor in the poll's other answers)" for n in unmapped
        ]
        if over:
            _degrade(out, f"more than max_units ({t.max_units}) units: {over} samples dropped")


def _degrade(out: Collected, why: str) -> None:
    """Turn the poll degraded, keeping what made it so already (e.g. a slow answer)."""
    out.state = "degraded"
    out.message = f"{out.message}; {why}" if out.message else why
