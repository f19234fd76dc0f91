"""``qd766``: the Decision 766 evaluation API of the national public-service portal (dichvucong.gov.vn).

For one province (``root_department_id``) and the current calendar periods (month, quarter, year in
Asia/Ho_Chi_Minh) it POSTs the six evaluation endpoints and exposes, for the province and each unit, the
published group scores and maxima, the numerators, denominators and points of the metrics-shaped
endpoints, and the raw counts of the tree-shaped ones, under one scheme the scoring engine selects on:

* ``egov_qd766_score{unit, group, period, source="published"}``, ``egov_qd766_max_score``;
* ``egov_qd766_metric_numerator|denominator|score{unit, group, period, metric}`` (metrics shape);
* ``egov_qd766_figure{unit, group, period, field}`` (tree shape: received, on_time, paid_online, ...).

``unit`` is the portal's ``departmentCode`` (H44, H44.100).  transparency and handling-satisfaction give
only ``departmentId``; it is joined to the code the tree endpoints gave (polled first in each round; the
mapping is kept between rounds).  What to ask and which fields to read is the profile's business
(``collectors/profiles/qd766-dvcqg.yaml``).

Each round also reads the **national ranking** of all 34 provinces from the portal's report service
(``POST <url>/jsp/rest.jsp``, form field ``params`` = ``report_tinh_766_service`` for every province), once
per period, unless ``province_ranking: false``: ``egov_qd766_province_score{province, group, period}`` (the
six group scores and ``group="total"``, as published), ``egov_qd766_province_rank{province, period}`` and
``egov_qd766_province_info{province, name}``, ``province`` being the portal's ``MA_COQUAN``.  A ranking
answer that cannot be read turns the target degraded (the evaluation figures are still exposed).

Politeness: requests are sequential with a pause between them; a 403/429 or a WAF page ends the round at
once (reason ``blocked``, raised by the HTTP client) and the scheduler backs off.  Expected fields that
disappear are counted per endpoint (``egov_qd766_schema_drift``) and in the skipped counter; they never
fail the target unless no endpoint gave anything usable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any, Literal

from pydantic import Field, field_validator

from collectors.extract import parse_number
from collectors.http import HTTP_METRICS, HttpCollector, HttpConfig
from collectors.periodic import clock_vars, period_vars
from collectors.profiles import load_profile
from exporter.config import Duration, Strict
from exporter.domain import TZ
from exporter.fetch import Response
from exporter.plugin import Collected, CollectError, MetricSpec, Sample

GROUPS = ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH")
#: the ranking's name in egov_qd766_schema_drift{endpoint} and in the request durations
RANKING = "ranking"
PERIODS = ("month", "quarter", "year")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: units kept in the departmentId -> departmentCode mapping between rounds (a province has ~100-200)
MAX_UNITS = 5000

_PERIOD_NOTE = (
    " Figure for the current calendar period named by `period` (month, quarter or year, "
    "Asia/Ho_Chi_Minh), period-to-date as the national portal publishes it at the last poll: a gauge, "
    "not a counter (it restarts at each period)."
)

QD766_METRICS = (
    MetricSpec(
        "egov_qd766_score",
        "gauge",
        "Decision 766 group score of a unit (group: CKMB, TDGQ, CLGQ, TTTT, MDHL, MDSH). "
        'source="published": totalScore as the national portal publishes it; source="computed": '
        "recomputed by egov-exporter from the portal's raw counts (indicators/qd766.yaml); "
        'source="provincial": scored from the province\'s own statistics.' + _PERIOD_NOTE,
        ("unit", "group", "period", "source"),
        vi="điểm nhóm chỉ số QĐ 766",
    ),
    MetricSpec(
        "egov_qd766_max_score",
        "gauge",
        "Maximum of a unit's group score as published (totalMaxScore)." + _PERIOD_NOTE,
        ("unit", "group", "period"),
        vi="điểm tối đa",
    ),
    MetricSpec(
        "egov_qd766_metric_numerator",
        "gauge",
        "Numerator of a metric of a metrics-shaped endpoint (transparency, dossier-digitized, "
        "handling-satisfaction) as published; absent when the portal publishes null." + _PERIOD_NOTE,
        ("unit", "group", "period", "metric"),
        vi="tử số",
    ),
    MetricSpec(
        "egov_qd766_metric_denominator",
        "gauge",
        "Denominator of a metric of a metrics-shaped endpoint as published; absent when null." + _PERIOD_NOTE,
        ("unit", "group", "period", "metric"),
        vi="mẫu số",
    ),
    MetricSpec(
        "egov_qd766_metric_score",
        "gauge",
        "Points of a metric as published; absent when the portal publishes null (zero denominator, "
        "or an informational metric)." + _PERIOD_NOTE,
        ("unit", "group", "period", "metric"),
        vi="điểm chỉ số thành phần",
    ),
    MetricSpec(
        "egov_qd766_metric_max_score",
        "gauge",
        "Maximum points of a metric as published (maxScore).",
        ("group", "metric"),
        vi="điểm tối đa chỉ số thành phần",
    ),
    MetricSpec(
        "egov_qd766_metric_ratio",
        "gauge",
        "Ratio (0-1) the portal publishes for a metric that has no numerator and denominator "
        "(e.g. ELECTRONIC_CERTIFIED_COPY); elsewhere divide numerator by denominator." + _PERIOD_NOTE,
        ("unit", "group", "period", "metric"),
        vi="tỷ lệ công bố",
    ),
    MetricSpec(
        "egov_qd766_metric_info",
        "gauge",
        "Vietnamese name of each metric code.",
        ("group", "metric", "name"),
        vi="tên chỉ số",
    ),
    MetricSpec(
        "egov_qd766_figure",
        "gauge",
        "Raw count behind a tree-shaped group score, as published. TDGQ: received, on_time, completed "
        "(province), overdue (units); TTTT: with_fee, paid_online, fee_procedures, fee_procedures_distinct, "
        "fee_procedures_paid_online, fee_procedures_with_dossiers; CLGQ (province only): "
        "procedures_authority, procedures_full_online, procedures_partial_online, online_services, "
        "online_services_used, dossiers_online, dossiers_direct, dossiers_postal, online_dossiers_on_time, "
        "online_dossiers_overdue." + _PERIOD_NOTE,
        ("unit", "group", "period", "field"),
        vi="số liệu gốc",
    ),
    MetricSpec(
        "egov_qd766_unit_info",
        "gauge",
        "A unit of the province on the national portal: code (departmentCode), name and level "
        "(province, department, commune).",
        ("unit", "unit_name", "level"),
        vi="đơn vị",
    ),
    MetricSpec(
        "egov_qd766_schema_drift",
        "gauge",
        "Expected fields missing from the endpoint's answers in the last poll (0: the layout is as "
        "expected); the metrics they carried are skipped.",
        ("endpoint",),
        vi="sai lệch cấu trúc dữ liệu",
    ),
    MetricSpec(
        "egov_qd766_period_start_timestamp_seconds",
        "gauge",
        "Start of the calendar period the figures labelled with this period refer to (unix time).",
        ("period",),
        vi="thời điểm bắt đầu kỳ báo cáo",
    ),
    MetricSpec(
        "egov_qd766_province_score",
        "gauge",
        "A province's Decision 766 score in the national ranking of the 34 provinces (the portal's report "
        'service report_tinh_766_service), by group (CKMB, TDGQ, CLGQ, TTTT, MDHL, MDSH, and "total" = '
        "TONG_SCORE), exactly as published; province is its MA_COQUAN." + _PERIOD_NOTE,
        ("province", "group", "period"),
        vi="điểm QĐ 766 của các tỉnh (xếp hạng toàn quốc)",
    ),
    MetricSpec(
        "egov_qd766_province_rank",
        "gauge",
        "A province's rank among the 34 provinces (ROW_STT, 1 = best) in the national ranking."
        + _PERIOD_NOTE,
        ("province", "period"),
        vi="thứ hạng của tỉnh trên toàn quốc",
    ),
    MetricSpec(
        "egov_qd766_province_info",
        "gauge",
        "A province of the national ranking: its code (MA_COQUAN) and name (TEN) as the portal writes them "
        "(value 1).",
        ("province", "name"),
        vi="tỉnh, thành phố",
    ),
    MetricSpec(
        "egov_qd766_request_duration_seconds",
        "gauge",
        "Time the endpoint took to answer for the period in the last poll (all pages), in seconds.",
        ("endpoint", "period"),
        vi="thời gian phản hồi của API",
    ),
)

# --------------------------------------------------------------------------------------- profile


class NodeFields(Strict):
    """Fields of one tree node (parent or child) or of one metrics row."""

    score: str = "totalScore"
    max_score: str = "totalMaxScore"
    #: label value of ``field`` -> upstream field name
    counts: dict[str, str] = {}

    @field_validator("counts")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not re.match(r"^[a-z][a-z0-9_]*$", key):
                raise ValueError(f"count names are lower-case snake_case, got {key!r}")
        return v


class Endpoint(Strict):
    name: str
    group: Literal["CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH"]
    shape: Literal["tree", "metrics"]
    page_size: int = Field(default=200, ge=1, le=1000)
    #: the period is sent as fromDate/toDate (first and last day) instead of timeType/year/month
    dates: bool = False
    formality_key: str = "formalityId"
    #: rows carry departmentCode (false: departmentId only, joined to the code another endpoint gave)
    codes: bool = True
    parent: NodeFields = NodeFields()
    child: NodeFields = NodeFields()
    row: NodeFields = NodeFields()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9-]*$", v):
            raise ValueError(f"endpoint names are lower-case path segments, got {v!r}")
        return v


class Ranking(Strict):
    """The national ranking of the provinces: one form POST per period to the portal's report service."""

    #: relative to the target URL
    path: str = "jsp/rest.jsp"
    #: name of the form field that carries the request's JSON
    field: str = "params"
    #: that JSON; a string that is exactly one placeholder ({year}, {period_month}, {period_quarter}) takes
    #: the value itself (a number), others are filled as text
    params: dict[str, Any]
    headers: dict[str, str] = {}
    #: fields of a row
    province: str = "MA_COQUAN"
    name: str = "TEN"
    rank: str = "ROW_STT"
    #: label value of ``group`` -> the field holding that score
    scores: dict[str, str]
    #: rows read at most (the portal answers one page)
    max_rows: int = Field(default=100, ge=1, le=1000)

    @field_validator("params")
    @classmethod
    def _placeholders(cls, v: dict[str, Any]) -> dict[str, Any]:
        sample = {"year": 2026, "period_month": 8, "period_quarter": 0}
        for key, value in v.items():
            if isinstance(value, str):
                try:
                    value.format(**sample)
                except (KeyError, IndexError, ValueError) as exc:
                    known = ", ".join("{" + k + "}" for k in sample)
                    raise ValueError(f"{key}: bad template {value!r} ({exc}); known: {known}") from None
        return v

    def body(self, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, str):
                whole = re.fullmatch(r"\{(\w+)\}", value)
                value = values[whole.group(1)] if whole else value.format(**values)
            out[key] = value
        return out


class Qd766Profile(Strict):
    description: str = ""
    api_path: str = "/api/v1/reporting/evaluation/"
    #: the national ranking of the provinces (none: not read)
    ranking: Ranking | None = None
    #: upstream departmentType / level -> label ``level``
    levels: dict[str, str] = {}
    #: a tree child's ``level`` -> label ``level``
    tree_child_levels: dict[str, str] = {}
    endpoints: list[Endpoint] = Field(min_length=1)

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, v: list[Endpoint]) -> list[Endpoint]:
        names = [e.name for e in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"endpoint {dup} is listed twice")
        return v


# --------------------------------------------------------------------------------- configuration


class Qd766Config(HttpConfig):
    kind: Literal["qd766"] = "qd766"  # type: ignore[assignment]
    method: Literal["POST"] = "POST"  # type: ignore[assignment]
    #: statistics are slow and change slowly: poll hourly, allow a long answer
    interval: Duration = 3600.0
    timeout: Duration = 120.0
    #: the province's departmentId on the national portal
    root_department_id: str
    #: current calendar periods to ask for (Asia/Ho_Chi_Minh)
    periods: list[Literal["month", "quarter", "year"]] = Field(
        default=["month", "quarter", "year"], min_length=1
    )
    #: endpoints to poll (default: all of the profile's)
    endpoints: list[str] = []
    #: restrict the evaluation to one administrative procedure (formalityId)
    formality_id: str | None = None
    #: page size of every request (default: what the profile says the portal's own pages send)
    page_size: int | None = Field(default=None, ge=1, le=1000)
    #: pages read per endpoint and period at most (metrics-shaped endpoints are paged)
    max_pages: int = Field(default=10, ge=1, le=100)
    #: pause between two requests (politeness: requests are sequential)
    pause: Duration = 1.0
    profile: str = "dvcqg"
    profile_file: str | None = None
    #: also read the national ranking of all provinces (the profile's ranking source), once per period
    province_ranking: bool = True

    @field_validator("root_department_id", "formality_id")
    @classmethod
    def _uuid(cls, v: str | None) -> str | None:
        if v is not None and not _UUID.match(v):
            raise ValueError(f"must be a UUID like 019d2be3-6a88-732b-8b17-b68020c8553a, got {v!r}")
        return v

    @field_validator("periods")
    @classmethod
    def _periods(cls, v: list[str]) -> list[str]:
        dup = next((p for p in v if v.count(p) > 1), None)
        if dup:
            raise ValueError(f"period {dup} is listed twice")
        return v

    def load_profile(self) -> Qd766Profile:
        """The target's profile, read now, checked against the endpoints the target asks for."""
        profile = load_profile("qd766", Qd766Profile, self.profile, self.profile_file)
        known = [e.name for e in profile.endpoints]
        unknown = [e for e in self.endpoints if e not in known]
        if unknown:
            raise ValueError(f"unknown endpoint {unknown[0]!r}; the profile has {', '.join(known)}")
        if self.province_ranking and profile.ranking is None and self.profile_file is not None:
            raise ValueError(
                f"province_ranking: {self.profile_file} has no ranking source (set province_ranking: false)"
            )
        chosen = [e for e in profile.endpoints if e.name in (self.endpoints or known)]
        if not any(e.codes for e in chosen):
            with_codes = ", ".join(e.name for e in profile.endpoints if e.codes)
            raise ValueError(
                f"{', '.join(e.name for e in chosen)} name units by departmentId only: also poll one of "
                f"{with_codes}, which give the departmentCode"
            )
        return profile


# -------------------------------------------------------------------------------------- periods


def period_request(now: dt.datetime, period: str) -> tuple[dict[str, Any], dict[str, str], dt.datetime]:
    """(calendar fields, date-range fields, start) of the period containing ``now`` (local time)."""
    local = now.astimezone(TZ)
    y, m = local.year, local.month
    if period == "month":
        first, months, fields = (y, m), 1, {"timeType": "month", "year": y, "month": m}
    elif period == "quarter":
        q = (m - 1) // 3 + 1
        first, months, fields = (y, 3 * q - 2), 3, {"timeType": "quarter", "year": y, "quarter": q}
    else:
        first, months, fields = (y, 1), 12, {"timeType": "year", "year": y}
    start = dt.datetime(first[0], first[1], 1, tzinfo=TZ)
    end_month = first[1] + months
    next_start = dt.date(first[0] + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    last = next_start - dt.timedelta(days=1)
    return fields, {"fromDate": start.date().isoformat(), "toDate": last.isoformat()}, start


# ------------------------------------------------------------------------------------ collector


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return parse_number(value, "en")


class _Round:
    """What one poll gathers: samples (deduplicated), units, missing fields."""

    def __init__(self, endpoints: list[Endpoint], ranking: bool = False) -> None:
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.units: dict[str, tuple[str, str]] = {}  # code -> (name, level)
        # endpoint -> field -> rows
        self.missing: dict[str, dict[str, int]] = {e.name: {} for e in endpoints}
        if ranking:
            self.missing[RANKING] = {}
        self.provinces: dict[str, str] = {}  # MA_COQUAN -> TEN
        self.problems: list[str] = []  # ranking answers that could not be read
        self.unresolved: dict[tuple[str, str], int] = {}
        self.rows = 0
        self.metric_max: dict[tuple[str, str], float] = {}
        self.metric_names: dict[tuple[str, str], str] = {}

    def add(self, name: str, value: Any, /, **labels: str) -> None:
        number = _number(value)
        if number is not None:
            self.values[(name, tuple(sorted(labels.items())))] = number

    def miss(self, endpoint: str, field: str) -> None:
        table = self.missing[endpoint]
        table[field] = table.get(field, 0) + 1

    def get(self, endpoint: str, node: dict, field: str, where: str) -> Any:
        if field not in node:
            self.miss(endpoint, f"{where}.{field}")
            return None
        return node[field]


class Qd766Collector(HttpCollector):
    kind = "qd766"
    summary = (
        "Decision 766 scores, ratios and raw counts of a province and its units from the national portal"
    )
    Config = Qd766Config
    default_system = "national"
    metrics = HTTP_METRICS + QD766_METRICS
    target: Qd766Config

    def __init__(self, target: Qd766Config, ctx: Any) -> None:
        super().__init__(target, ctx)
        self.profile = target.load_profile()
        wanted = target.endpoints or [e.name for e in self.profile.endpoints]
        #: in the profile's order (trees first), whatever order the config lists them in
        self.endpoints = [e for e in self.profile.endpoints if e.name in wanted]
        #: departmentId -> departmentCode, from the tree endpoints (kept between rounds)
        self.codes: dict[str, str] = {}

    # ------------------------------------------------------------------------------ one round
    def collect(self) -> Collected:
        t = self.target
        now = dt.datetime.fromtimestamp(self.ctx.clock(), TZ)
        ranking = self.profile.ranking if t.province_ranking else None
        rnd = _Round(self.endpoints, ranking is not None)
        base = t.url.rstrip("/") + "/" + self.profile.api_path.strip("/") + "/"
        slowest: Response | None = None
        requests_sent = 0
        starts: dict[str, float] = {}
        for period in t.periods:
            calendar, dates, start = period_request(now, period)
            starts[period] = start.timestamp()
            for ep in self.endpoints:
                elapsed = 0.0
                page, pages = 1, 1
                while page <= pages:
                    if requests_sent and t.pause > 0:
                        time.sleep(t.pause)
                    body: dict[str, Any] = {
                        "rootDepartmentId": t.root_department_id,
                        "currentPage": page,
                        "pageSize": t.page_size or ep.page_size,
                        **(dates if ep.dates else calendar),
                    }
                    if t.formality_id:
                        body[ep.formality_key] = t.formality_id
                    resp = self.fetch("POST", base + ep.name, json=body, what=f"{ep.name} ({period})")
                    requests_sent += 1
                    elapsed += resp.elapsed
                    if slowest is None or resp.elapsed > slowest.elapsed:
                        slowest = resp
                    data = self._data(resp, ep, rnd)
                    if data is None:
                        break
                    if ep.shape == "tree":
                        self._tree(ep, period, data, rnd)
                        break
                    total_pages = self._metrics(ep, period, data, rnd, first_page=page == 1)
                    if page == 1 and total_pages > t.max_pages:
                        rnd.miss(ep.name, f"pages {t.max_pages + 1}-{total_pages} (max_pages)")
                    pages = min(total_pages, t.max_pages)
                    page += 1
                rnd.add("egov_qd766_request_duration_seconds", elapsed, endpoint=ep.name, period=period)
            if ranking is not None:
                if requests_sent and t.pause > 0:
                    time.sleep(t.pause)
                requests_sent += 1
                self._ranking(ranking, now, period, rnd)
        out = Collected()
        assert slowest is not None
        self.checked(slowest, out)
        if rnd.rows == 0:
            missing = [f"{ep} {', '.join(fields)}" for ep, fields in rnd.missing.items() if fields]
            raise CollectError(
                "parse",
                "no evaluation data in any answer"
                + (f" (missing: {'; '.join(missing)})" if missing else " (no rows)"),
            )
        self._finish(rnd, starts, out)
        return out

    def inputs(self) -> object:
        return self.profile

    def _finish(self, rnd: _Round, starts: dict[str, float], out: Collected) -> None:
        for code, (name, level) in rnd.units.items():
            rnd.add("egov_qd766_unit_info", 1, unit=code, unit_name=name, level=level)
        for (group, metric), value in rnd.metric_max.items():
            rnd.add("egov_qd766_metric_max_score", value, group=group, metric=metric)
        for (group, metric), name in rnd.metric_names.items():
            rnd.add("egov_qd766_metric_info", 1, group=group, metric=metric, name=name)
        for period, ts in starts.items():
            rnd.add("egov_qd766_period_start_timestamp_seconds", ts, period=period)
        for code, name in rnd.provinces.items():
            rnd.add("egov_qd766_province_info", 1, province=code, name=name)
        if rnd.problems:
            out.state = "degraded"
            out.message = "; ".join(rnd.problems)
        for endpoint, fields in rnd.missing.items():
            rnd.add("egov_qd766_schema_drift", len(fields), endpoint=endpoint)
            for field, rows in fields.items():
                out.skipped.append(f"{endpoint}: {field} missing" + (f" in {rows} rows" if rows > 1 else ""))
        for (endpoint, period), rows in rnd.unresolved.items():
            out.skipped.append(
                f"{endpoint} ({period}): {rows} units have no departmentCode and are unknown to "
                "the tree endpoints"
            )
        out.samples.extend(Sample(name, dict(labels), value) for (name, labels), value in rnd.values.items())

    # ------------------------------------------------------------------------------ ranking
    def _ranking(self, ranking: Ranking, now: dt.datetime, period: str, rnd: _Round) -> None:
        """One period of the national ranking; a failure (but a refusal, which ends the round) is noted and
        turns the target degraded."""
        values = {**clock_vars(now), **period_vars(now, period)}
        url = self.target.url.rstrip("/") + "/" + ranking.path.strip("/")
        form = {ranking.field: json.dumps(ranking.body(values), separators=(",", ":"))}
        try:
            resp = self.fetch(
                "POST", url, data=form, headers=dict(ranking.headers), what=f"{RANKING} ({period})"
            )
            data = resp.json()  # a JSP may call its JSON text/html: the body decides
        except CollectError as exc:
            if exc.reason == "blocked":
                raise
            rnd.problems.append(f"{RANKING} ({period}): {exc.reason}: {exc.message}")
            return
        rnd.add("egov_qd766_request_duration_seconds", resp.elapsed, endpoint=RANKING, period=period)
        rows = data.get("data") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            rnd.problems.append(
                f'{RANKING} ({period}): expected a list of provinces or {{"data": [...]}}, got '
                f"{type(data).__name__}"
            )
            return
        for row in rows[: ranking.max_rows]:
            if not isinstance(row, dict):
                continue
            code = rnd.get(RANKING, row, ranking.province, "rows[]")
            if not isinstance(code, (str, int)) or str(code).strip() == "":
                continue
            code = str(code).strip()
            name = row.get(ranking.name)
            if name is None:
                rnd.miss(RANKING, f"rows[].{ranking.name}")
            rnd.provinces.setdefault(code, str(name).strip() if name is not None else code)
            rnd.add(
                "egov_qd766_province_rank",
                rnd.get(RANKING, row, ranking.rank, "rows[]"),
                province=code,
                period=period,
            )
            for group, field in ranking.scores.items():
                rnd.add(
                    "egov_qd766_province_score",
                    rnd.get(RANKING, row, field, "rows[]"),
                    province=code,
                    group=group,
                    period=period,
                )

    # ------------------------------------------------------------------------------ answers
    def _data(self, resp: Response, ep: Endpoint, rnd: _Round) -> dict | None:
        if "html" in resp.content_type:
            raise CollectError("parse", f"{ep.name}: expected JSON, got {resp.content_type}")
        payload = resp.json()
        if not isinstance(payload, dict):
            raise CollectError("parse", f"{ep.name}: expected a JSON object, got {type(payload).__name__}")
        code = payload.get("code")
        if code is not None and code != "OK":
            message = str(payload.get("message") or "")[:200]
            raise CollectError("parse", f"{ep.name}: the portal answered code {str(code)[:40]!r}: {message}")
        data = payload.get("data")
        if not isinstance(data, dict):
            rnd.miss(ep.name, "data")
            return None
        return data

    def _unit(self, rnd: _Round, node: dict, code: Any, level: str) -> str | None:
        if not isinstance(code, str) or not code:
            return None
        name = node.get("departmentName")
        rnd.units.setdefault(code, (str(name) if name else code, level))
        unit_id = node.get("departmentId")
        if isinstance(unit_id, str) and (unit_id in self.codes or len(self.codes) < MAX_UNITS):
            self.codes[unit_id] = code
        return code

    def _tree(self, ep: Endpoint, period: str, data: dict, rnd: _Round) -> None:
        nodes: list[tuple[dict, NodeFields, str]] = []
        parent = data.get("parent")
        if isinstance(parent, dict):
            nodes.append((parent, ep.parent, "parent"))
        else:
            rnd.miss(ep.name, "parent")
        children = data.get("children")
        if isinstance(children, list):
            nodes.extend((c, ep.child, "children[]") for c in children if isinstance(c, dict))
        else:
            rnd.miss(ep.name, "children")
        for node, fields, where in nodes:
            raw_level = node.get("level")
            level = (
                "province"
                if where == "parent"
                else self.profile.tree_child_levels.get(
                    str(raw_level), str(raw_level or "").lower() or "unknown"
                )
            )
            unit = self._unit(rnd, node, rnd.get(ep.name, node, "departmentCode", where), level)
            if unit is None:
                continue
            rnd.rows += 1
            labels = {"unit": unit, "group": ep.group, "period": period}
            rnd.add(
                "egov_qd766_score", rnd.get(ep.name, node, fields.score, where), **labels, source="published"
            )
            rnd.add("egov_qd766_max_score", rnd.get(ep.name, node, fields.max_score, where), **labels)
            for label, field in fields.counts.items():
                rnd.add("egov_qd766_figure", rnd.get(ep.name, node, field, where), **labels, field=label)

    def _metrics(self, ep: Endpoint, period: str, data: dict, rnd: _Round, first_page: bool) -> int:
        """Read one page; return the number of pages the portal says there are."""
        rows: list[tuple[dict, str]] = []
        overview = data.get("overview")
        if first_page:
            if isinstance(overview, dict):
                rows.append((overview, "overview"))
            else:
                rnd.miss(ep.name, "overview")
        evaluation = data.get("evaluation")
        if isinstance(evaluation, list):
            rows.extend((r, "evaluation[]") for r in evaluation if isinstance(r, dict))
        else:
            rnd.miss(ep.name, "evaluation")
        root = self.target.root_department_id
        for row, where in rows:
            unit_id = rnd.get(ep.name, row, "departmentId", where)
            is_root = unit_id == root
            code = row.get("departmentCode") or self.codes.get(str(unit_id))
            dtype = row.get("departmentType")
            level = (
                "province"
                if is_root
                else self.profile.levels.get(str(dtype), str(dtype or "").lower() or "unknown")
            )
            unit = self._unit(rnd, row, code, level)
            if unit is None:
                key = (ep.name, period)
                rnd.unresolved[key] = rnd.unresolved.get(key, 0) + 1
                continue
            rnd.rows += 1
            labels = {"unit": unit, "group": ep.group, "period": period}
            rnd.add(
                "egov_qd766_score", rnd.get(ep.name, row, ep.row.score, where), **labels, source="published"
            )
            rnd.add("egov_qd766_max_score", rnd.get(ep.name, row, ep.row.max_score, where), **labels)
            metrics = rnd.get(ep.name, row, "metrics", where)
            for m in metrics if isinstance(metrics, list) else ():
                if not isinstance(m, dict):
                    continue
                metric = rnd.get(ep.name, m, "code", f"{where}.metrics[]")
                if not isinstance(metric, str) or not metric:
                    continue
                ml = {**labels, "metric": metric}
                here = f"{where}.metrics[]"
                numerator = rnd.get(ep.name, m, "numerator", here)
                denominator = rnd.get(ep.name, m, "denominator", here)
                rnd.add("egov_qd766_metric_numerator", numerator, **ml)
                rnd.add("egov_qd766_metric_denominator", denominator, **ml)
                rnd.add("egov_qd766_metric_score", rnd.get(ep.name, m, "score", here), **ml)
                ratio = _number(rnd.get(ep.name, m, "ratio", here))
                if ratio is not None and (numerator is None or denominator is None):
                    rnd.add("egov_qd766_metric_ratio", ratio / 100, **ml)
                top = _number(rnd.get(ep.name, m, "maxScore", here))
                if top is not None:
                    rnd.metric_max.setdefault((ep.group, metric), top)
                if m.get("name"):
                    rnd.metric_names.setdefault((ep.group, metric), str(m["name"]))
        pagination = data.get("pagination")
        if not isinstance(pagination, dict):
            if first_page:
                rnd.miss(ep.name, "pagination")
            return 1
        pages = _number(pagination.get("totalPages"))
        if pages is None:
            if first_page:
                rnd.miss(ep.name, "pagination.totalPages")
            return 1
        return max(1, int(pages))
