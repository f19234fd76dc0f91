"""The ``lgsp`` kind on stored WSO2 API Manager 4.x answers (tests/fixtures/http/lgsp/README.md names their
sources): gateway version and readiness, APIs and applications by status, shared-data applications, per-API
traffic per period from the ELK analytics indices through Elasticsearch's ``_search`` (with the max_apis cap;
only when the target names its analytics store), the national platform link, OAuth2 client credentials with
the scopes WSO2 checks, and what missing fields, a changed layout, 5xx, a timeout, a WAF page and a malformed
body do."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
import yaml
from configs import checked_config
from httpstub import HttpStub, matchers
from prometheus_client.parser import text_string_to_metric_families

from collectors.lgsp import LgspCollector, app_key
from exporter.config import ConfigError
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.fetch import HttpClient, TransportError, _OAuth2Token
from exporter.plugin import CollectContext, CollectError
from exporter.registry import load_kinds
from exporter.results import ResultStore, TargetResult

BODIES = Path(__file__).parent / "fixtures" / "http" / "lgsp"
GW = "https://lgsp.ninhbinh.gov.vn/"
TOKEN_URL = GW + "oauth2/token"
ES = "https://elk.ninhbinh.gov.vn:9200/"
SEARCH = ES + "apim_event_response,apim_event_faulty/_search"
ANALYTICS = {"url": ES, "auth": {"type": "basic", "username": "egov-exporter", "password": "es-p4ss"}}
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
T0 = NOW.timestamp()
PERIOD_START = {
    "month": "2026-11-01T00:00:00+07:00",
    "quarter": "2026-10-01T00:00:00+07:00",
    "year": "2026-01-01T00:00:00+07:00",
}
TOKEN = json.loads((BODIES / "token.json").read_text())["access_token"]
AUTH = {
    "type": "oauth2",
    "token_url": TOKEN_URL,
    "client_id": "egov-exporter",
    "client_secret": "s3cr3t-lgsp",
    "scopes": ["apim:api_view", "apim:app_import_export"],
}
SHARED = ["HeThongThongTinGiaiQuyetTTHC", "quản lý   VĂN BẢN điều hành", "YTeDienTu", "QuanLyTaiNguyenNuoc"]


def body(name: str) -> bytes:
    return (BODIES / name).read_bytes()


def fixture(name: str):
    return json.loads(body(name))


def only(tmp_path: Path, *sources: str) -> str:
    """A profile file holding only these sources of the shipped WSO2 profile (so a test serves only those)."""
    shipped = yaml.safe_load(
        (Path(__file__).parents[1] / "collectors" / "profiles" / "lgsp-wso2.yaml").read_text("utf-8")
    )
    path = tmp_path / "profile.yaml"
    path.write_text(
        yaml.safe_dump({k: v for k, v in shipped.items() if k in ("version", "national_platform", *sources)}),
        "utf-8",
    )
    return str(path)


def make(stub, trace: list | None = None, **kw) -> LgspCollector:
    cfg = LgspCollector.Config.model_validate(
        {"name": "lgsp", "kind": "lgsp", "system": "lgsp", "url": GW, "retries": 0, "auth": AUTH}
        | ({} if "profile_file" in kw else {"analytics": ANALYTICS})
        | kw
    )
    return LgspCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0, trace=trace)
    )


def samples(collected) -> dict[tuple, float]:
    got: dict[tuple, float] = {}
    for s in collected.samples:
        k = (s.name, tuple(sorted(s.labels.items())))
        assert k not in got, f"duplicate series {k}"
        got[k] = s.value
    return got


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


@pytest.fixture()
def rsps():
    _OAuth2Token.clear()
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r
    _OAuth2Token.clear()


def serve_token(rsps) -> None:
    rsps.post(TOKEN_URL, body=body("token.json"), content_type="application/json")


def serve_version(rsps, name: str = "version.xml") -> None:
    rsps.get(GW + "services/Version", body=body(name), content_type="application/xml; charset=UTF-8")


def serve_json(rsps, path: str, name: str, query: dict | None = None, status: int = 200) -> None:
    rsps.get(
        GW + path,
        body=body(name),
        status=status,
        content_type="application/json",
        match=[
            matchers.query_param_matcher(query or {}),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
    )


def serve_apis(rsps, first: str = "apis-page1.json", second: str | None = "apis-page2.json") -> None:
    serve_json(rsps, "api/am/publisher/v4/apis", first, {"limit": "20", "offset": "0"})
    if second:
        serve_json(rsps, "api/am/publisher/v4/apis", second, {"limit": "20", "offset": "20"})


def serve_applications(rsps, name: str = "applications.json") -> None:
    serve_json(rsps, "api/am/admin/v4/applications", name, {"limit": "50", "offset": "0"})


def es_query(period: str) -> dict:
    """The shipped profile's Elasticsearch query for a period (its body, with the period's range)."""
    shipped = yaml.safe_load(
        (Path(__file__).parents[1] / "collectors" / "profiles" / "lgsp-wso2.yaml").read_text("utf-8")
    )
    query = json.loads(json.dumps(shipped["statistics"]["body"]))
    query["query"]["range"]["requestTimestamp"] = {"gte": PERIOD_START[period], "lte": NOW.isoformat()}
    return query


def serve_usage(rsps, periods=("month", "quarter", "year"), names: dict | None = None) -> None:
    """The analytics store's answers: with its own credentials (not the gateway's token)."""
    for period in periods:
        rsps.post(
            SEARCH,
            body=body((names or {}).get(period, f"es-search-{period}.json")),
            content_type="application/json",
            match=[
                matchers.json_params_matcher(es_query(period)),
                matchers.header_matcher({"Authorization": "Basic ZWdvdi1leHBvcnRlcjplcy1wNHNz"}),
            ],
        )


def serve_health(rsps, status: int = 200) -> None:
    rsps.get(GW + "api/am/gateway/v2/server-startup-healthcheck", status=status, json={})


def serve_all(rsps, ndxp: str | None = "ndxp-up.json") -> None:
    serve_token(rsps)
    serve_version(rsps)
    serve_health(rsps)
    serve_apis(rsps)
    serve_applications(rsps)
    serve_usage(rsps)
    if ndxp:
        serve_json(rsps, "ndxp/1.0/health", ndxp)


# ------------------------------------------------------------------------ independent figures


def published() -> int:
    items = fixture("apis-page1.json")["list"] + fixture("apis-page2.json")["list"]
    return sum(1 for a in items if a["lifeCycleStatus"] == "PUBLISHED")


def approved() -> list[str]:
    return [a["name"] for a in fixture("applications.json")["list"] if a["status"] == "APPROVED"]


def traffic(period: str) -> dict[str, tuple[int, int, float | None]]:
    """requests, faults and the average latency (s) per API name, from the Elasticsearch answer."""
    buckets = fixture(f"es-search-{period}.json")["aggregations"]["apis"]["buckets"]
    return {
        b["key"]: (
            b["doc_count"],
            b["faults"]["doc_count"],
            None if b["latency"]["value"] is None else b["latency"]["value"] / 1000,
        )
        for b in buckets
    }


# ----------------------------------------------------------------------------------- happy path


def test_happy_path_exact_values(rsps):
    serve_all(rsps)
    trace: list = []
    out = make(
        rsps, trace, shared_data_applications=SHARED, national_platform_url="ndxp/1.0/health"
    ).collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    assert got[key("egov_lgsp_gateway_info", version="WSO2 API Manager-4.2.0")] == 1
    assert got[key("egov_lgsp_apis_published")] == published() == 19
    assert got[key("egov_lgsp_applications_connected")] == len(approved()) == 7
    assert got[key("egov_lgsp_gateway_ready")] == 1
    # every status counted apart: waiting (CREATED) and refused (REJECTED) applications are not connected
    statuses: dict[str, int] = {}
    for a in fixture("applications.json")["list"]:
        statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "egov_lgsp_applications"} == statuses
    assert {"APPROVED", "CREATED", "REJECTED"} <= set(statuses)
    lifecycle: dict[str, int] = {}
    for a in fixture("apis-page1.json")["list"] + fixture("apis-page2.json")["list"]:
        lifecycle[a["lifeCycleStatus"]] = lifecycle.get(a["lifeCycleStatus"], 0) + 1
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "egov_lgsp_apis"} == lifecycle
    # shared data: matched to the approved applications by name, ignoring case and spacing
    have = {app_key(n) for n in approved()}
    for name in SHARED:
        assert got[key("egov_lgsp_shared_data_application_connected", application=name)] == int(
            app_key(name) in have
        )
    assert got[key("egov_lgsp_shared_data_applications_connected")] == 2  # YTeDienTu waits for approval
    assert got[key("egov_lgsp_shared_data_applications")] == len(SHARED)
    # per-API traffic of each period (Elasticsearch sums the versions of one API: HoTichDienTu 1.0.0 + 2.0.0)
    for period in ("month", "quarter", "year"):
        expected = traffic(period)
        assert {
            k[1][0][1] for k in got if k[0] == "egov_lgsp_api_requests_total" and k[1][1][1] == period
        } == set(expected)
        for api, (req, faults, latency) in expected.items():
            assert got[key("egov_lgsp_api_requests_total", api=api, period=period)] == req
            assert got[key("egov_lgsp_api_faults_total", api=api, period=period)] == faults
            if latency is None:  # no request this period: no average
                assert key("egov_lgsp_api_latency_seconds", api=api, period=period) not in got
            else:
                assert got[key("egov_lgsp_api_latency_seconds", api=api, period=period)] == pytest.approx(
                    latency
                )
    assert got[key("egov_lgsp_api_requests_total", api="HoTichDienTu", period="month")] == 20511 + 4100
    assert got[key("egov_lgsp_national_platform_up")] == 1
    assert got[key("egov_target_http_status_code")] == 200  # of the version endpoint
    # one token for the whole poll, asked with the client credentials
    token_calls = [c for c in rsps.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1
    form = parse_qs(token_calls[0].request.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["egov-exporter"],
        "client_secret": ["s3cr3t-lgsp"],
        "scope": ["apim:api_view apim:app_import_export"],
    }
    assert len(trace) == 1 + 1 + 2 + 1 + 3 + 1  # version, health, API pages, applications, 3 periods, NDXP
    searches = [c for c in rsps.calls if c.request.url == SEARCH]
    assert len(searches) == 3 and all(
        "Bearer" not in (c.request.headers.get("Authorization") or "") for c in searches
    )


def test_without_an_analytics_store_no_traffic_is_asked_for(rsps):
    serve_token(rsps)
    serve_version(rsps)
    serve_health(rsps)
    serve_apis(rsps)
    serve_applications(rsps)
    out = make(rsps, analytics=None).collect()
    got = samples(out)
    assert out.state == "up" and out.skipped == []
    assert not any(k[0].startswith("egov_lgsp_api_") for k in got)  # and no request went to Elasticsearch


@pytest.mark.parametrize("status", [503, 500, 404])
def test_a_gateway_not_ready_is_a_figure_not_an_outage(rsps, tmp_path, status):
    serve_token(rsps)
    serve_version(rsps)
    serve_health(rsps, status)
    out = make(rsps, profile_file=only(tmp_path, "gateway_health")).collect()
    assert out.state == "up" and samples(out)[key("egov_lgsp_gateway_ready")] == 0


def test_max_apis_aggregates_the_rest_into_other(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps)
    serve_usage(rsps)
    got = samples(
        make(rsps, max_apis=3, profile_file=only(tmp_path, "statistics"), analytics=ANALYTICS).collect()
    )
    year = traffic("year")
    named = sorted(year, key=lambda a: -year[a][0])[:3]
    assert named == ["CSDLQuocGiaVeDanCu", "DichVuCongQuocGia", "HoTichDienTu"]
    for period in ("month", "quarter", "year"):
        t = traffic(period)
        apis = {k[1][0][1] for k in got if k[0] == "egov_lgsp_api_requests_total" and k[1][1][1] == period}
        assert apis == {*named, "other"}
        rest = [a for a in t if a not in named]
        assert got[key("egov_lgsp_api_requests_total", api="other", period=period)] == sum(
            t[a][0] for a in rest
        )
        assert got[key("egov_lgsp_api_faults_total", api="other", period=period)] == sum(
            t[a][1] for a in rest
        )
        weight = sum(t[a][0] for a in rest if t[a][2] is not None)
        assert got[key("egov_lgsp_api_latency_seconds", api="other", period=period)] == pytest.approx(
            sum(t[a][0] * t[a][2] for a in rest if t[a][2] is not None) / weight
        )


def test_shared_data_counted_by_a_report_payload(rsps):
    serve_token(rsps)
    serve_version(rsps)
    serve_json(rsps, "api/lgsp/v1/bao-cao/ung-dung-chia-se", "shared-report.json")
    got = samples(make(rsps, profile_file=str(BODIES / "profile-report.yaml")).collect())
    data = fixture("shared-report.json")["data"]
    assert got[key("egov_lgsp_shared_data_applications_connected")] == data["soUngDungDaKetNoi"] == 12
    assert got[key("egov_lgsp_shared_data_applications")] == data["tongSoUngDungCanKetNoi"] == 14
    assert not any(k[0] == "egov_lgsp_shared_data_application_connected" for k in got)


def test_periods_and_endpoints_are_configurable(rsps):
    """One period only, and the publisher API on the management port of another host."""
    serve_token(rsps)
    serve_version(rsps)
    mgmt = "https://apim-mgmt.ninhbinh.gov.vn:9443/api/am/publisher/v4/apis"
    rsps.get(
        mgmt,
        body=body("apis-page1.json"),
        content_type="application/json",
        match=[matchers.query_param_matcher({"limit": "20", "offset": "0"})],
    )
    rsps.get(
        mgmt,
        body=body("apis-page2.json"),
        content_type="application/json",
        match=[matchers.query_param_matcher({"limit": "20", "offset": "20"})],
    )
    serve_applications(rsps)
    serve_usage(rsps, periods=("quarter",))
    got = samples(
        make(rsps, periods=["quarter"], endpoints={"apis": mgmt + "?limit={limit}&offset={offset}"}).collect()
    )
    assert got[key("egov_lgsp_apis_published")] == published()
    assert {k[1][1][1] for k in got if k[0] == "egov_lgsp_api_requests_total"} == {"quarter"}


def test_a_server_ignoring_the_offset_is_counted_once(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps)
    serve_json(rsps, "api/am/publisher/v4/apis", "apis-page1.json", {"limit": "20", "offset": "0"})
    serve_json(rsps, "api/am/publisher/v4/apis", "apis-page1.json", {"limit": "20", "offset": "20"})
    got = samples(make(rsps, profile_file=only(tmp_path, "apis")).collect())
    assert got[key("egov_lgsp_apis_published")] == sum(
        1 for a in fixture("apis-page1.json")["list"] if a["lifeCycleStatus"] == "PUBLISHED"
    )


@pytest.mark.parametrize(
    "answer,up",
    [
        ("ndxp-up.json", 1),
        ("ndxp-down.json", 0),
        ("5xx", 0),
        ("timeout", 0),
        ("waf", 0),
    ],
)
def test_national_platform_link(rsps, answer, up):
    serve_token(rsps)
    serve_version(rsps)
    url = GW + "ndxp/1.0/health"
    if answer == "5xx":
        rsps.get(url, status=503, body="Service Unavailable")
    elif answer == "timeout":
        rsps.get(url, body=TransportError("timeout"))
    elif answer == "waf":
        rsps.get(url, body=body("waf.html"), content_type="text/html")
    else:
        serve_json(rsps, "ndxp/1.0/health", answer)
    out = make(
        rsps, profile_file=str(BODIES / "profile-gateway.yaml"), national_platform_url="ndxp/1.0/health"
    )
    got = samples(out.collect())
    assert got[key("egov_lgsp_national_platform_up")] == up
    assert (key("egov_lgsp_national_platform_response_seconds") in got) == (answer.endswith(".json"))
    assert got[key("egov_lgsp_gateway_info", version="WSO2 API Manager-4.2.0")] == 1  # the target stays up


# -------------------------------------------------------------------------------- unhappy paths


def test_missing_fields_skip_that_metric_only(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps)
    serve_usage(rsps, names={"month": "es-search-month-no-faults.json"})
    out = make(rsps, profile_file=only(tmp_path, "statistics"), analytics=ANALYTICS).collect()
    got = samples(out)
    assert out.skipped == ["egov_lgsp_api_faults_total: an item without $.faults.doc_count"]
    assert not any(k[0] == "egov_lgsp_api_faults_total" for k in got)  # a partial sum would mislead
    assert (
        got[key("egov_lgsp_api_requests_total", api="DatDai", period="month")]
        == traffic("month")["DatDai"][0]
    )


def test_changed_layout_skips_the_list(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps)
    serve_apis(rsps, first="apis-changed.json", second=None)
    serve_applications(rsps)
    out = make(rsps, profile_file=only(tmp_path, "apis", "applications")).collect()
    got = samples(out)
    assert out.state == "up"
    assert out.skipped == ["egov_lgsp_apis_published: nothing at $.list[*]"]
    assert key("egov_lgsp_apis_published") not in got
    assert got[key("egov_lgsp_applications_connected")] == len(approved())


def test_version_without_a_version_is_skipped(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps, "version-empty.xml")
    serve_applications(rsps)
    out = make(rsps, profile_file=only(tmp_path, "applications")).collect()
    assert out.skipped[0].startswith("egov_lgsp_gateway_info: no version matches")
    assert samples(out)[key("egov_lgsp_applications_connected")] == len(approved())


def test_nothing_found_anywhere_is_parse(rsps, tmp_path):
    serve_token(rsps)
    serve_version(rsps, "version-empty.xml")
    serve_apis(rsps, first="apis-changed.json", second=None)
    with pytest.raises(CollectError) as info:
        make(rsps, profile_file=only(tmp_path, "apis")).collect()
    assert info.value.reason == "parse"
    assert info.value.message.startswith("no LGSP figure found in the answers: egov_lgsp_gateway_info")


def _fail(rsps, where: str, answer: str) -> None:
    """Serve the calls before ``where`` normally and ``answer`` at ``where`` (the poll stops there)."""
    serve_token(rsps)
    if where != "version":
        serve_version(rsps)
    if where != "version":
        serve_health(rsps)
    if where == "statistics":
        serve_apis(rsps)
        serve_applications(rsps)
    url = {
        "version": GW + "services/Version",
        "apis": GW + "api/am/publisher/v4/apis?limit=20&offset=0",
        "statistics": SEARCH,
    }[where]
    method = "POST" if where == "statistics" else "GET"
    if answer == "5xx":
        rsps.add(method, url, status=500, body=body("version-fault.xml"), content_type="text/xml")
    elif answer == "timeout":
        rsps.add(method, url, body=TransportError("timeout"))
    elif answer == "waf":
        rsps.add(method, url, body=body("waf.html"), content_type="text/html")
    elif answer == "malformed":
        rsps.add(method, url, body=body("malformed.json"), content_type="application/json")
    elif answer == "html":
        rsps.add(
            method,
            url,
            body="<!doctype html><html><body><h1>Bảo trì hệ thống</h1></body></html>",
            content_type="text/html",
        )
    elif answer == "401":  # the cached token was revoked: one new token, then still refused
        rsps.get(url, status=401, body=body("invalid-credentials.json"), content_type="application/json")
        serve_token(rsps)


@pytest.mark.parametrize(
    "where,answer,reason",
    [
        ("version", "5xx", "http_status"),
        ("version", "timeout", "timeout"),
        ("version", "waf", "blocked"),
        ("apis", "5xx", "http_status"),
        ("apis", "timeout", "timeout"),
        ("apis", "waf", "blocked"),
        ("apis", "malformed", "parse"),
        ("apis", "html", "parse"),
        ("apis", "401", "auth"),
        ("statistics", "5xx", "http_status"),
        ("statistics", "waf", "blocked"),
        ("statistics", "malformed", "parse"),
    ],
)
def test_failures_fail_the_target_with_their_reason(rsps, where, answer, reason):
    _fail(rsps, where, answer)
    with pytest.raises(CollectError) as info:
        make(rsps, periods=["month"]).collect()
    assert info.value.reason == reason, info.value.message


@pytest.mark.parametrize("status,reason", [(401, "auth"), (400, "auth"), (503, "http_status")])
def test_token_endpoint_refusal(rsps, status, reason):
    rsps.post(TOKEN_URL, status=status, json={"error": "invalid_client"})  # asked before the first call
    with pytest.raises(CollectError) as info:
        make(rsps).collect()
    assert info.value.reason == reason


# -------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"profile": "nope"}, "targets[0]: unknown profile 'nope' for kind lgsp; shipped: wso2"),
        (
            {"endpoints": {"stats": "x"}},
            "targets[0].endpoints: unknown endpoint 'stats'; endpoints: version, gateway_health, apis, applications, "
            "statistics, shared_data",
        ),
        (
            {"analytics": {"url": "https://elk:9200/"}, "profile_file": str(BODIES / "profile-gateway.yaml")},
            "targets[0]: analytics: the profile has no statistics source to read them with",
        ),
        (
            {"analytics": {"url": "elk:9200"}},
            'targets[0].analytics.url: must be an http:// or https:// URL, got "elk:9200"',
        ),
        (
            {"endpoints": {"shared_data": "x"}},
            "targets[0]: endpoints.shared_data: the profile has no shared_data source to move",
        ),
        ({"periods": ["month", "month"]}, "targets[0].periods: periods must be distinct"),
        (
            {"periods": ["week"]},
            "targets[0].periods[0]: must be one of 'month', 'quarter' or 'year', got \"week\"",
        ),
        (
            {"periods": []},
            "targets[0].periods: list should have at least 1 item after validation, not 0, got []",
        ),
        ({"max_apis": 0}, "targets[0].max_apis: input should be greater than or equal to 1, got 0"),
    ],
)
def test_config_mistakes_have_exact_messages(extra, message):
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "g", "kind": "lgsp", "url": GW, **extra}]}, kinds=load_kinds(), env={}
        )
    assert info.value.messages == [message]


def test_shipped_profile_and_defaults():
    cfg = checked_config({"targets": [{"name": "g", "kind": "lgsp", "url": GW}]}, kinds=load_kinds(), env={})
    t = cfg.targets[0]
    assert (t.system, t.profile, t.periods, t.max_apis) == ("lgsp", "wso2", ["month", "quarter", "year"], 200)


# ----------------------------------------------------------------------------------- exposition


def test_full_exposition_passes_promtool(rsps):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    serve_all(rsps)
    out = make(rsps, shared_data_applications=SHARED, national_platform_url="ndxp/1.0/health").collect()
    store = ResultStore()
    result = TargetResult(
        target="lgsp",
        system="lgsp",
        kind="lgsp",
        labels={},
        url=GW,
        state="up",
        started=T0,
        duration=1.2,
        last_success=T0,
        samples=out.samples,
    )
    store.register(result)
    store.record(result)
    registry, self_metrics = build_registry(store, lambda: all_specs(load_kinds()), clock=lambda: T0)
    self_metrics.reload_ok.set(1)
    text = MetricsCache(registry, store, self_metrics).get().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["egov_lgsp_api_requests"].type == "counter"
    assert (
        'a quarter\'s total is the last value of period="quarter"'
        in families["egov_lgsp_api_requests"].documentation
    )
    sample = next(
        s
        for s in families["egov_lgsp_api_requests"].samples
        if s.labels.get("api") == "DatDai" and s.labels.get("period") == "year"
    )
    assert sample.value == traffic("year")["DatDai"][0] and sample.labels["target"] == "lgsp"
    assert "s3cr3t-lgsp" not in text and TOKEN not in text
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30, check=False
    )
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report


def test_analytics_store_credentials_come_from_a_file_and_are_secrets(tmp_path):
    secret = tmp_path / "es-password"
    secret.write_text("es-p4ss-from-file\n", encoding="utf-8")
    target = {
        "name": "g",
        "kind": "lgsp",
        "url": GW,
        "analytics": {"url": ES, "auth": {"type": "basic", "username": "ro", "password_file": str(secret)}},
    }
    cfg = checked_config({"targets": [target]}, kinds=load_kinds(), env={})
    assert cfg.targets[0].analytics.auth.password.reveal() == "es-p4ss-from-file"
    assert "es-p4ss-from-file" in cfg.secrets()
    assert "es-p4ss-from-file" not in repr(cfg.targets[0])
