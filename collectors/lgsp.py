"""``lgsp``: the provincial data integration and sharing platform (Nền tảng tích hợp, chia sẻ dữ liệu, LGSP),
WSO2 API Manager 4.x by default.

One poll asks, through the target's client (OAuth2 client credentials for WSO2):

* the **version** endpoint (Carbon's ``GET /services/Version`` SOAP answer): the node's health, so the
  target's up state is the node's, and ``egov_lgsp_gateway_info{version}``;
* the gateway's **startup health check** (``/api/am/gateway/v2/server-startup-healthcheck``: 2xx once every
  API is deployed): ``egov_lgsp_gateway_ready``;
* the **APIs** and the **applications** (paged JSON lists, WSO2 publisher / admin REST APIs v4): those
  published / approved, and every lifecycle state / status counted apart (CREATED and REJECTED applications
  are not connected ones);
* the **per-API traffic**, once per period, only when the target names where its analytics are
  (``analytics:``): WSO2 4.x has no statistics REST API, it publishes analytics events to Choreo, ELK or
  Moesif; the shipped profile queries the ELK indices (``apim_event_response``, ``apim_event_faulty``)
  through Elasticsearch's ``_search`` with the analytics store's own credentials;
* the **shared-data applications**: the province's applications that must share data through the LGSP
  (configured list, matched against the gateway's connected applications), or two counts from a payload;
* the **national platform** (NDXP) through the gateway: a configured health/API URL, up or not.

Where each of these lives and how its answer is read is the vendor profile's business
(``collectors/profiles/lgsp-<name>.yaml``); a target can move one endpoint with ``endpoints:``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field, field_validator

from collectors.extract import compile_jsonpath, jsonpath_values, parse_number
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from collectors.profiles import load_profile, resolve
from exporter.config import TLS, Auth, HttpUrl, Strict
from exporter.domain import TZ, norm_text
from exporter.fetch import HttpClient
from exporter.plugin import Collected, CollectError, MetricSpec

PERIODS = ("month", "quarter", "year")
OTHER = "other"

# ------------------------------------------------------------------------------------- profile


def _jsonpath(v: str) -> str:
    compile_jsonpath(v)
    return v


JsonPath = Annotated[str, AfterValidator(_jsonpath)]


def _present(items: str, data: Any) -> bool:
    """Whether the list ``items`` selects from is in the answer at all (an empty list is)."""
    return bool(compile_jsonpath(items.removesuffix("[*]")).find(data))


class _Source(Strict):
    #: path relative to the target URL, or an absolute URL
    path: str


class VersionSource(_Source):
    #: the first group is the version (from the SOAP/XML or JSON text)
    regex: str

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            if re.compile(v).groups < 1:
                raise ValueError("needs a group ( ) around the version")
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class ListSource(_Source):
    """A paged JSON list with ``{limit}`` and ``{offset}`` in its path (WSO2: count, list, pagination)."""

    page_size: int = Field(default=25, ge=1, le=1000)
    max_pages: int = Field(default=50, ge=1, le=1000)
    #: JSONPath of the items of one page
    items: JsonPath = "$.list[*]"
    #: JSONPath of the total number of items over all pages (none: read until a short page)
    total: JsonPath | None = "$.pagination.total"
    #: JSONPath (in an item) of its name
    name: JsonPath = "$.name"
    #: JSONPath (in an item) of its state, and the states that count (none: every item counts)
    status: JsonPath | None = None
    counted: list[str] = []


class GatewayHealthSource(_Source):
    """The gateway's readiness check: any 2xx is ready."""


class StatisticsSource(_Source):
    """Per-API traffic since a period's start, from where the deployment sends its analytics (relative to
    the target's ``analytics.url``).  The path and the body's strings may hold ``{period}`` (month, quarter,
    year), ``{from}``/``{to}`` (ISO 8601, +07:00) and ``{from_ms}``/``{to_ms}`` (unix milliseconds)."""

    method: Literal["GET", "POST"] = "GET"
    #: a JSON body (e.g. an Elasticsearch query)
    body: dict[str, Any] | None = None
    items: JsonPath = "$.list[*]"
    api: JsonPath = "$.apiName"
    requests: JsonPath
    faults: JsonPath
    #: average response time of the API's requests over the period (optional)
    latency: JsonPath | None = None
    #: multiply the latency into seconds (0.001 for milliseconds)
    latency_scale: float = 0.001


class SharedDataSource(_Source):
    """A payload that counts shared-data applications itself (instead of a configured list)."""

    #: JSONPath of the applications connected through the LGSP
    connected: JsonPath
    #: JSONPath of the applications that should be
    expected: JsonPath


class NationalPlatformRead(Strict):
    """How the national platform's health answer is read: any 2xx is up, unless ``status`` is set."""

    #: JSONPath of a status field, and the values meaning up
    status: JsonPath | None = None
    up_values: list[str] = ["UP"]


class LgspProfile(Strict):
    description: str = ""
    version: VersionSource
    gateway_health: GatewayHealthSource | None = None
    apis: ListSource | None = None
    applications: ListSource | None = None
    statistics: StatisticsSource | None = None
    shared_data: SharedDataSource | None = None
    national_platform: NationalPlatformRead = NationalPlatformRead()


SOURCES = ("version", "gateway_health", "apis", "applications", "statistics", "shared_data")


class Analytics(Strict):
    """Where the deployment's API analytics are stored (WSO2 4.x: an Elasticsearch of its ELK analytics), with
    that store's own credentials and TLS settings."""

    url: HttpUrl
    auth: Auth | None = None
    tls: TLS | None = None


# ---------------------------------------------------------------------------------------- config


class LgspConfig(HttpConfig):
    kind: Literal["lgsp"] = "lgsp"  # type: ignore[assignment]
    #: a shipped profile (collectors/profiles/lgsp-<name>.yaml)
    profile: str = "wso2"
    #: or a profile file of your own (overrides ``profile``)
    profile_file: str | None = None
    #: move a profile's endpoint: {version|apis|applications|statistics|shared_data: path or URL}
    endpoints: dict[str, str] = {}
    #: calendar periods of the per-API traffic counters
    periods: list[Literal["month", "quarter", "year"]] = Field(default=list(PERIODS), min_length=1)
    #: at most this many APIs are named in the api label; the rest are summed into api="other"
    max_apis: int = Field(default=200, ge=1, le=5000)
    #: the province's applications that share data and must connect through the LGSP (names as the
    #: gateway lists them); unset: the profile's shared_data payload, if any
    shared_data_applications: list[str] | None = None
    #: the national platform (NDXP) health/API URL through the gateway (relative to the target URL or
    #: absolute); unset: not checked
    national_platform_url: str | None = None
    #: where the per-API traffic is read (the profile's statistics source, relative to this URL); unset:
    #: per-API traffic is not polled (WSO2 4.x has no statistics REST API of its own)
    analytics: Analytics | None = None

    @field_validator("periods")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("periods must be distinct")
        return v

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key not in SOURCES:
                raise ValueError(f"unknown endpoint {key!r}; endpoints: {', '.join(SOURCES)}")
        return v

    def load_profile(self) -> LgspProfile:
        """The target's profile, read now, checked against the endpoints the target moves."""
        profile = load_profile("lgsp", LgspProfile, self.profile, self.profile_file)
        for key in self.endpoints:
            if getattr(profile, key) is None:
                raise ValueError(f"endpoints.{key}: the profile has no {key} source to move")
        if self.analytics is not None and profile.statistics is None:
            raise ValueError("analytics: the profile has no statistics source to read them with")
        return profile


# --------------------------------------------------------------------------------------- metrics

_PERIOD_NOTE = (
    " Counted since the start of the calendar period (label period: month, quarter, year; "
    "Asia/Ho_Chi_Minh) and reset to 0 at the period's start, so rate()/increase() work (a reset "
    'is a counter reset) and a quarter\'s total is the last value of period="quarter" before '
    "the reset."
)
_API_NOTE = (
    " At most max_apis APIs (the busiest over the longest period) are named; the rest are summed "
    'into api="other".'
)

LGSP_METRICS = (
    MetricSpec(
        "egov_lgsp_gateway_info",
        "gauge",
        "The LGSP gateway's product and version as its version endpoint reports it (value 1).",
        ("version",),
        vi="phiên bản nền tảng LGSP",
    ),
    MetricSpec(
        "egov_lgsp_gateway_ready",
        "gauge",
        "1 when the gateway's startup health check answered 2xx (WSO2 4.x: every API deployed), 0 when it "
        "answered otherwise or not at all.",
        vi="cổng API sẵn sàng (đã triển khai đủ API)",
    ),
    MetricSpec(
        "egov_lgsp_apis",
        "gauge",
        "APIs on the LGSP by lifecycle state as the publisher lists them (PUBLISHED, CREATED, DEPRECATED, "
        "PROTOTYPED, ...).",
        ("status",),
        vi="số API theo trạng thái",
    ),
    MetricSpec(
        "egov_lgsp_applications",
        "gauge",
        "Applications registered on the LGSP by status (APPROVED, CREATED = waiting for approval, REJECTED, "
        "...); only APPROVED ones are connected.",
        ("status",),
        vi="số ứng dụng theo trạng thái",
    ),
    MetricSpec(
        "egov_lgsp_api_requests_total",
        "counter",
        "Requests to the API through the LGSP gateway." + _PERIOD_NOTE + _API_NOTE,
        ("api", "period"),
        vi="số lượt gọi API",
    ),
    MetricSpec(
        "egov_lgsp_api_faults_total",
        "counter",
        "Requests to the API that failed (faults, errors)." + _PERIOD_NOTE + _API_NOTE,
        ("api", "period"),
        vi="số lượt gọi API lỗi",
    ),
    MetricSpec(
        "egov_lgsp_api_latency_seconds",
        "gauge",
        "Average response time of the API's requests since the start of the calendar period (label "
        "period), in seconds; absent while the API has no request in the period." + _API_NOTE,
        ("api", "period"),
        vi="thời gian phản hồi trung bình của API",
    ),
    MetricSpec(
        "egov_lgsp_apis_published",
        "gauge",
        "APIs published on the LGSP (lifecycle state published).",
        vi="số API đã công bố",
    ),
    MetricSpec(
        "egov_lgsp_applications_connected",
        "gauge",
        "Applications connected to the LGSP (registered and approved on the gateway).",
        vi="số ứng dụng đã kết nối LGSP",
    ),
    MetricSpec(
        "egov_lgsp_shared_data_applications_connected",
        "gauge",
        "The province's applications with shared data that are connected through the LGSP "
        "(numerator of the PAR Index ratio).",
        vi="số ứng dụng có dữ liệu chia sẻ đã kết nối qua LGSP",
    ),
    MetricSpec(
        "egov_lgsp_shared_data_applications",
        "gauge",
        "The province's applications with shared data that should connect through the LGSP "
        "(denominator of the PAR Index ratio).",
        vi="số ứng dụng có dữ liệu chia sẻ cần kết nối",
    ),
    MetricSpec(
        "egov_lgsp_shared_data_application_connected",
        "gauge",
        "1 when the configured shared-data application is connected through the LGSP, else 0.",
        ("application",),
        vi="ứng dụng đã kết nối qua LGSP",
    ),
    MetricSpec(
        "egov_lgsp_national_platform_up",
        "gauge",
        "1 when the national data sharing platform (NDXP) answered through the gateway as up, else 0.",
        vi="kết nối nền tảng chia sẻ dữ liệu quốc gia (NDXP)",
    ),
    MetricSpec(
        "egov_lgsp_national_platform_response_seconds",
        "gauge",
        "Time of the last call to the national platform (NDXP) through the gateway, in seconds.",
        vi="thời gian phản hồi NDXP",
    ),
)


def period_bounds(now: float, period: str) -> tuple[dt.datetime, dt.datetime]:
    """Start of the calendar month / quarter / year containing ``now`` (local midnight) and ``now``."""
    local = dt.datetime.fromtimestamp(now, TZ)
    month = {"month": local.month, "quarter": 3 * ((local.month - 1) // 3) + 1, "year": 1}[period]
    return local.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0), local


def app_key(name: str) -> str:
    """Application names compared case-, accent-composition- and spacing-insensitively."""
    return norm_text(name)


_STATS_VARS = re.compile(r"\{(period|from|to|from_ms|to_ms)\}")


def _fill(template: Any, values: dict[str, str], escape: bool) -> Any:
    """The statistics placeholders filled in every string of a path or a JSON body (URL-quoted in a path)."""
    if isinstance(template, str):
        return _STATS_VARS.sub(
            lambda m: quote(values[m.group(1)], safe="") if escape else values[m.group(1)], template
        )
    if isinstance(template, dict):
        return {k: _fill(v, values, escape) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, escape) for v in template]
    return template


def _first(expr: str | None, data: Any) -> Any:
    if expr is None:
        return None
    found = jsonpath_values(expr, data)
    return found[0] if found else None


class _Traffic:
    __slots__ = ("faults", "latency_sum", "latency_weight", "requests")

    def __init__(self) -> None:
        self.requests = self.faults = self.latency_sum = self.latency_weight = 0.0

    def add(self, requests: float, faults: float | None, latency: float | None) -> None:
        self.requests += requests
        self.faults += faults or 0.0
        if latency is not None and requests > 0:
            self.latency_sum += latency * requests
            self.latency_weight += requests

    def merge(self, other: _Traffic) -> None:
        self.requests += other.requests
        self.faults += other.faults
        self.latency_sum += other.latency_sum
        self.latency_weight += other.latency_weight


class LgspCollector(HttpCollector):
    kind = "lgsp"
    summary = (
        "data sharing platform (WSO2 API Manager by default): gateway version, per-API traffic, "
        "published APIs, connected and shared-data applications, national platform link"
    )
    Config = LgspConfig
    default_system = "lgsp"
    metrics = HTTP_METRICS + LGSP_METRICS
    target: LgspConfig

    def __init__(self, target: LgspConfig, ctx: Any) -> None:
        super().__init__(target, ctx)
        self.profile = target.load_profile()
        #: the client of the analytics store: its URL, credentials and TLS, the target's timeouts and retries
        self.analytics: HttpClient | None = None
        a = target.analytics
        if a is not None:
            store = target.model_copy(
                update={"url": a.url, "auth": a.auth, "headers": {}, "tls": a.tls or target.tls}
            )
            self.analytics = HttpClient(store, getattr(ctx.http, "sessions", None), clock=ctx.clock)

    def inputs(self) -> object:
        return self.profile

    def path(self, source: str, src: _Source) -> str:
        """The source's path (or URL) template: the target's ``endpoints`` entry, else the profile's."""
        return self.target.endpoints.get(source, src.path)

    def get_json(
        self, path: str, what: str, method: str = "GET", body: Any = None, client: HttpClient | None = None
    ) -> Any:
        """A JSON answer (an HTML page where JSON is expected is a parse failure); ``path`` is relative to
        the target URL, or to the client's own (the analytics store's)."""
        base = client.target.url if client is not None else self.target.url
        resp = self.fetch(method, resolve(base, path), json=body, what=what, client=client)
        if "html" in resp.content_type:
            raise CollectError("parse", f"{what}: expected JSON, got {resp.content_type}")
        return resp.json()

    # ------------------------------------------------------------------------------------ poll
    def collect(self) -> Collected:
        p = self.profile
        out = Collected()
        self.read_version(p.version, out)
        if p.gateway_health is not None:
            self.read_gateway_health(p.gateway_health, out)
        if p.apis is not None:
            items = self.read_list("apis", p.apis, out, "egov_lgsp_apis_published", "egov_lgsp_apis")
            if items is not None:
                out.add("egov_lgsp_apis_published", len(items))
        connected: list[str] | None = None
        if p.applications is not None:
            connected = self.read_list(
                "applications",
                p.applications,
                out,
                "egov_lgsp_applications_connected",
                "egov_lgsp_applications",
            )
            if connected is not None:
                out.add("egov_lgsp_applications_connected", len(connected))
        self.read_shared_data(connected, out)
        if p.statistics is not None and self.analytics is not None:
            self.read_statistics(p.statistics, out)
        if self.target.national_platform_url:
            self.read_national_platform(out)
        # every figure missing (the gateway's readiness and the national platform's state are measurements of
        # their own, read from the status alone): not an LGSP answer
        figures = [
            s
            for s in out.samples
            if s.name.startswith("egov_lgsp_")
            and not s.name.startswith(("egov_lgsp_national_platform", "egov_lgsp_gateway_ready"))
        ]
        if out.skipped and not figures:
            raise CollectError("parse", "no LGSP figure found in the answers: " + out.skipped[0])
        return out

    def read_version(self, src: VersionSource, out: Collected) -> None:
        resp = self.fetch("GET", resolve(self.target.url, self.path("version", src)), what="version")
        self.checked(resp, out)
        m = re.search(src.regex, resp.text())
        version = m.group(1).strip() if m else ""
        if not version:
            out.skipped.append(f"egov_lgsp_gateway_info: no version matches {src.regex!r}")
            return
        out.add("egov_lgsp_gateway_info", 1, version=version[:100])

    def read_gateway_health(self, src: GatewayHealthSource, out: Collected) -> None:
        """Ready on a 2xx answer; any other answer, or none, is not ready (a refusal still ends the poll)."""
        url = resolve(self.target.url, self.path("gateway_health", src))
        try:
            self.fetch("GET", url, what="gateway health")
        except CollectError as exc:
            if exc.reason == "blocked":
                raise
            out.add("egov_lgsp_gateway_ready", 0)
            return
        out.add("egov_lgsp_gateway_ready", 1)

    def read_list(
        self, source: str, src: ListSource, out: Collected, metric: str, by_status: str
    ) -> list[str] | None:
        """Names of the counted items over all pages (and, when the profile reads a status, the items per
        status in ``by_status``); None (and a skip) when the list is not in the answer."""
        names: list[str] = []
        statuses: dict[str, int] = {}
        offset = 0
        previous: list[Any] | None = None
        template = self.path(source, src)
        paged = "{offset}" in template
        for page in range(src.max_pages if paged else 1):
            path = template.replace("{limit}", str(src.page_size)).replace("{offset}", str(offset))
            data = self.get_json(path, f"{source} page {page + 1}")
            if page == 0 and not _present(src.items, data):
                out.skipped.append(f"{metric}: nothing at {src.items}")
                return None
            items = jsonpath_values(src.items, data)
            if items and items == previous:  # a server that ignores the offset: counted once
                break
            previous = items
            for item in items:
                status = _first(src.status, item)
                if src.status is not None:
                    label = str(status)[:40] if status is not None else "unknown"
                    statuses[label] = statuses.get(label, 0) + 1
                if src.status is None or not src.counted or str(status) in src.counted:
                    name = _first(src.name, item)
                    names.append(str(name) if name is not None else "")
            offset += len(items)
            total = parse_number(_first(src.total, data)) if src.total else None
            if not items or len(items) < src.page_size or (total is not None and offset >= total):
                break
        for status, count in sorted(statuses.items()):
            out.add(by_status, count, status=status)
        return names

    def read_shared_data(self, connected: list[str] | None, out: Collected) -> None:
        wanted = self.target.shared_data_applications
        if wanted is not None:
            if connected is None:
                out.skipped.append("egov_lgsp_shared_data_applications_connected: no application list")
                return
            have = {app_key(n) for n in connected}
            names = list(dict.fromkeys(wanted))
            hits = 0
            for name in names:
                ok = app_key(name) in have
                hits += ok
                out.add("egov_lgsp_shared_data_application_connected", int(ok), application=name)
            out.add("egov_lgsp_shared_data_applications_connected", hits)
            out.add("egov_lgsp_shared_data_applications", len(names))
            return
        src = self.profile.shared_data
        if src is None:
            return
        data = self.get_json(self.path("shared_data", src), "shared data")
        for name, expr in (
            ("egov_lgsp_shared_data_applications_connected", src.connected),
            ("egov_lgsp_shared_data_applications", src.expected),
        ):
            value = parse_number(_first(expr, data))
            if value is None:
                out.skipped.append(f"{name}: no number at {expr}")
            out.add(name, value)

    def read_statistics(self, src: StatisticsSource, out: Collected) -> None:
        now = self.ctx.clock()
        by_period: dict[str, dict[str, _Traffic]] = {}
        problems: dict[str, str] = {}
        for period in self.target.periods:
            start, end = period_bounds(now, period)
            values = {
                "period": period,
                "from": start.isoformat(timespec="seconds"),
                "to": end.isoformat(timespec="seconds"),
                "from_ms": str(int(start.timestamp() * 1000)),
                "to_ms": str(int(end.timestamp() * 1000)),
            }
            path = _fill(self.path("statistics", src), values, escape=True)
            body = _fill(src.body, values, escape=False)
            data = self.get_json(path, f"statistics {period}", src.method, body, self.analytics)
            if not _present(src.items, data):
                problems.setdefault("egov_lgsp_api_requests_total", f"nothing at {src.items} ({period})")
                continue
            apis = by_period[period] = {}
            for item in jsonpath_values(src.items, data):
                api = _first(src.api, item)
                requests = parse_number(_first(src.requests, item))
                if api is None or requests is None:
                    problems.setdefault(
                        "egov_lgsp_api_requests_total",
                        f"an item without {src.api if api is None else src.requests}",
                    )
                    continue
                faults = parse_number(_first(src.faults, item))
                if faults is None:
                    problems.setdefault("egov_lgsp_api_faults_total", f"an item without {src.faults}")
                # a null average (an API whose every call failed: no latency) is no missing field
                found = jsonpath_values(src.latency, item) if src.latency else []
                latency = parse_number(found[0]) if found else None
                if src.latency and not found and requests > 0:
                    problems.setdefault("egov_lgsp_api_latency_seconds", f"an item without {src.latency}")
                apis.setdefault(str(api), _Traffic()).add(
                    requests, faults, None if latency is None else latency * src.latency_scale
                )
        out.skipped += [f"{name}: {why}" for name, why in problems.items()]
        if not by_period:
            return
        # the named APIs: all when they fit, else the busiest over the longest period (one set for all)
        named = {api for apis in by_period.values() for api in apis}
        if len(named) > self.target.max_apis:
            longest = max(by_period, key=PERIODS.index)
            ranked = sorted(by_period[longest].items(), key=lambda kv: (-kv[1].requests, kv[0]))
            named = {api for api, _ in ranked[: self.target.max_apis]}
        for period, apis in by_period.items():
            shown: dict[str, _Traffic] = {}
            for api, traffic in apis.items():
                shown.setdefault(api if api in named else OTHER, _Traffic()).merge(traffic)
            for api, t in sorted(shown.items()):
                out.add("egov_lgsp_api_requests_total", t.requests, api=api, period=period)
                if "egov_lgsp_api_faults_total" not in problems:
                    out.add("egov_lgsp_api_faults_total", t.faults, api=api, period=period)
                if t.latency_weight > 0:
                    out.add(
                        "egov_lgsp_api_latency_seconds",
                        t.latency_sum / t.latency_weight,
                        api=api,
                        period=period,
                    )

    def read_national_platform(self, out: Collected) -> None:
        read = self.profile.national_platform
        url = resolve(self.target.url, self.target.national_platform_url or "")
        try:
            resp = self.fetch("GET", url, what="national platform")
        except CollectError:
            out.add("egov_lgsp_national_platform_up", 0)  # the link is down: that is the measurement
            return
        out.add("egov_lgsp_national_platform_response_seconds", resp.elapsed)
        up = True
        if read.status is not None:
            try:
                status = _first(read.status, resp.json()) if "json" in resp.content_type else None
            except CollectError:
                status = None
            up = status is not None and str(status) in read.up_values
        out.add("egov_lgsp_national_platform_up", int(up))
