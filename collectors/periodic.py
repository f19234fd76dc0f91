"""Period-to-date statistics from a vendor's reporting API or page: the shared part of the ``documents`` and
``services`` kinds.

Upstream statistics answer "so far this month / quarter / year".  For every configured period the collector
asks each source of the target's **profile** (shipped as data in ``collectors/profiles/<kind>-<name>.yaml``,
or the target's own ``profile_file``) for the range [start of the period, now] in Asia/Ho_Chi_Minh, follows
Spring-style pages up to ``max_pages``, and extracts the answer declaratively (JSONPath rules, or HTML
tables by header text).  Each count becomes a counter with a ``period`` label that resets when its calendar
period starts.  Units come from the payload (a code) or from the target's ``units`` map of names to codes;
unit names go to ``egov_<kind>_unit_info``.  A missing field skips that one metric (counted); an answer of
the wrong type, a WAF page or a malformed body fails the poll with reason ``parse`` or ``blocked``.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from collectors.extract import HtmlTable, JsonMetric, extract_json, extract_tables, jsonpath_values, norm_text
from collectors.html import parse_html
from collectors.http import HttpCollector, HttpConfig
from collectors.profiles import load_profile, resolve
from exporter.config import Strict
from exporter.fetch import Response
from exporter.plugin import Collected, CollectError, MetricSpec, Sample

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
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


def period_start(now: dt.datetime, period: str) -> dt.datetime:
    """Local midnight of the first day of the month, quarter or year containing ``now``."""
    local = now.astimezone(TZ)
    first_month = {"month": local.month, "quarter": local.month - (local.month - 1) % 3, "year": 1}[period]
    return local.replace(month=first_month, day=1, hour=0, minute=0, second=0, microsecond=0)


# ------------------------------------------------------------------------------------------ profile

_SAMPLE_NOW = dt.datetime(2026, 8, 15, 10, 30, tzinfo=TZ)
_TEMPLATE_VARS: dict[str, Any] = {"now": _SAMPLE_NOW, "year": 2026, "month": 8, "quarter": 3}
_PERIOD_VARS: dict[str, Any] = {"period": "month", "start": period_start(_SAMPLE_NOW, "month")}
_PAGE_VARS: dict[str, Any] = {"page": 0, "size": 50}


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``str.format`` applied to every string of a template (strings, lists, mappings)."""
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def _check_template(template: Any, known: dict[str, Any]) -> None:
    texts = (
        [template]
        if isinstance(template, str)
        else list(template.values())
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
    """One request.  Strings may use {now}, {year}, {month}, {quarter}; per-period sources also {period}
    and {start} (the period's first day); paged sources {page} and {size}.  Dates take a strftime format:
    ``{start:%d/%m/%Y}``."""

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
        known = {
            **_TEMPLATE_VARS,
            **(_PERIOD_VARS if self.per_period else {}),
            **(_PAGE_VARS if self.paging else {}),
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
        return self

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
    #: how numbers written as text are read: vi (1.234,5) or en (1,234.5)
    number_format: Literal["vi", "en"] = "vi"
    #: raw label values mapped to the exporter's (e.g. level: {TINH: province}); others are kept as they are
    label_values: dict[str, dict[str, str]] = {}
    sources: list[Source] = Field(min_length=1)

    def names(self) -> set[str]:
        return {n for s in self.sources for n in [*s.names(), *s.when_unreachable]}


# ------------------------------------------------------------------------------------------- config


class PeriodicConfig(HttpConfig):
    """Keys shared by the period-to-date statistics kinds."""

    #: shipped profile used when neither profile nor profile_file is set
    default_profile: ClassVar[str] = ""

    #: a shipped profile (collectors/profiles/<kind>-<name>.yaml)
    profile: str | None = None
    #: a profile of your own (absolute path, or relative to the working directory)
    profile_file: str | None = None
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

    def load_profile(self) -> Profile:
        """The target's profile, read now; its metric names must be this kind's."""
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
        return profile


# ---------------------------------------------------------------------------------------- collector


class PeriodicCollector(HttpCollector):
    """Base of the period-to-date statistics kinds (not a kind itself)."""

    target: PeriodicConfig

    def __init__(self, target: PeriodicConfig, ctx: Any) -> None:
        super().__init__(target, ctx)
        self.profile = target.load_profile()

    def inputs(self) -> object:
        return self.profile

    def collect(self) -> Collected:
        profile = self.profile
        now = dt.datetime.fromtimestamp(self.ctx.clock(), TZ)
        out = Collected()
        raw = Collected()
        for source in profile.sources:
            got = Collected()
            try:
                self._read_source(source, now, got, out)
            except CollectError as exc:
                if not source.when_unreachable:
                    raise
                self.ctx.note(source=source.name, unreachable=f"{exc.reason}: {exc.message}")
                got = Collected()
                for name, value in source.when_unreachable.items():
                    got.add(name, value)
            if got.skipped and not got.samples and not source.when_unreachable:
                raise CollectError(
                    "parse", f"{source.name}: no configured metric found in the answer: " + got.skipped[0]
                )
            raw.samples += got.samples
            raw.skipped += got.skipped
        self._finish(raw, out)
        return out

    # requests ------------------------------------------------------------------------------
    def _read_source(self, source: Source, now: dt.datetime, got: Collected, out: Collected) -> None:
        t = self.target
        periods: list[str | None] = list(t.periods) if source.per_period else [None]
        base_vars = {"now": now, "year": now.year, "month": now.month, "quarter": (now.month - 1) // 3 + 1}
        for i, period in enumerate(periods):
            values = dict(base_vars)
            if period is not None:
                values.update(period=period, start=period_start(now, period))
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
            params = fill(req.params, values)
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
        """Map label values, resolve unit names to codes, bound the units, drop repeats (a unit met twice
        while pages shifted), and describe the units in ``egov_<kind>_unit_info``."""
        t = self.target
        maps = self.profile.label_values
        codes = {norm_text(name): code for name, code in t.units.items()}
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
        out.skipped += [f"unit {n!r}: no code for this name in units" for n in unmapped]
        if over:
            _degrade(out, f"more than max_units ({t.max_units}) units: {over} samples dropped")


def _degrade(out: Collected, why: str) -> None:
    """Turn the poll degraded, keeping what made it so already (e.g. a slow answer)."""
    out.state = "degraded"
    out.message = f"{out.message}; {why}" if out.message else why
