"""The generic kinds ``http``, ``json`` and ``html``: conditions, degraded state, extraction by JSONPath and
CSS selector, Vietnamese number formats, and what a missing field does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from httpstub import GET, HttpStub, matchers

from collectors.extract import parse_number
from collectors.html import HtmlCollector
from collectors.http import HttpCollector
from collectors.json import JsonCollector
from exporter.fetch import HttpClient, Response
from exporter.plugin import CollectContext, CollectError

BODIES = Path(__file__).parent / "fixtures" / "http" / "generic"
URL = "https://dichvucong.example.vn/thong-ke"
T0 = 1_800_000_000.0


def body(name: str) -> bytes:
    return (BODIES / name).read_bytes()


def make(stub, cls, trace: list | None = None, clock=lambda: T0, **kw):
    cfg = cls.Config.model_validate(
        {"name": "t", "kind": cls.kind, "system": "services", "url": URL, "retries": 0, **kw}
    )
    return cls(cfg, CollectContext(http=HttpClient(cfg, stub, clock=clock), clock=clock, trace=trace))


def samples(collected) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in collected.samples}


def reason_of(collector) -> str:
    with pytest.raises(CollectError) as info:
        collector.collect()
    return info.value.reason


@pytest.fixture()
def rsps():
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r


# ------------------------------------------------------------------------------------------- http


def test_http_up_with_series(rsps):
    page = body("portal-home.html")
    rsps.get(URL, body=page, content_type="text/html; charset=utf-8")
    out = make(rsps, HttpCollector).collect()
    got = samples(out)
    assert out.state == "up" and out.message == ""
    assert got[("egov_target_http_status_code", ())] == 200
    assert got[("egov_target_http_content_length_bytes", ())] == len(page)
    assert got[("egov_target_http_redirects", ())] == 0
    assert got[("egov_target_http_response_seconds", ())] >= 0
    assert ("egov_target_tls_cert_expiry_timestamp_seconds", ()) not in got


@pytest.mark.parametrize(
    "status,codes,outcome",
    [
        (200, [], "up"),
        (204, [], "up"),
        (500, [], "http_status"),
        (404, [], "http_status"),
        (404, [200, 404], "up"),
        (200, [204], "http_status"),
        (503, [200], "http_status"),
    ],
)
def test_http_status_conditions(rsps, status, codes, outcome):
    rsps.get(URL, status=status, body="")
    collector = make(rsps, HttpCollector, valid_status_codes=codes)
    if outcome == "up":
        out = collector.collect()
        assert out.state == "up" and samples(out)[("egov_target_http_status_code", ())] == status
    else:
        assert reason_of(collector) == outcome


@pytest.mark.parametrize(
    "must,must_not,outcome",
    [
        (["Cổng thông tin điện tử"], [], "up"),
        (["Cổng thông tin điện tử", "Liên hệ"], ["Bảo trì|bảo trì"], "up"),
        (["Hỏi đáp công dân"], [], "condition"),
        ([], ["Thủ tục hành chính"], "condition"),
    ],
)
def test_http_body_conditions(rsps, must, must_not, outcome):
    rsps.get(URL, body=body("portal-home.html"), content_type="text/html; charset=utf-8")
    collector = make(rsps, HttpCollector, body_must_match=must, body_must_not_match=must_not)
    if outcome == "up":
        assert collector.collect().state == "up"
    else:
        assert reason_of(collector) == outcome


def _slow(request):
    time.sleep(0.05)
    return 200, {}, "ok"


@pytest.mark.parametrize("after,state", [("10ms", "degraded"), ("30s", "up")])
def test_http_degraded_after(rsps, after, state):
    rsps.add_callback(GET, URL, callback=_slow)
    out = make(rsps, HttpCollector, degraded_after=after).collect()
    assert out.state == state
    assert ("response time" in out.message) == (state == "degraded")


def test_http_post_body_sent(rsps):
    rsps.post(URL, body="ok", match=[matchers.body_matcher('{"q": 1}')])
    assert make(rsps, HttpCollector, method="POST", body='{"q": 1}').collect().state == "up"


@pytest.mark.parametrize("days_left,state", [(3, "degraded"), (40, "up")])
def test_tls_expiry_warning(rsps, days_left, state):
    collector = make(rsps, HttpCollector)
    resp = Response(
        url=URL, status=200, headers={}, body=b"ok", elapsed=0.1, tls_not_after=T0 + days_left * 86400
    )
    from exporter.plugin import Collected

    out = Collected()
    collector.checked(resp, out)
    assert out.state == state
    assert samples(out)[("egov_target_tls_cert_expiry_timestamp_seconds", ())] == T0 + days_left * 86400
    if state == "degraded":
        assert out.message == "TLS certificate expires in 3.0 days"


def test_trace_records_what_was_fetched(rsps):
    rsps.get(URL, body=body("portal-home.html"), content_type="text/html")
    trace: list = []
    make(rsps, HttpCollector, trace=trace).collect()
    assert len(trace) == 1
    assert trace[0]["request"] == f"GET {URL}" and trace[0]["status"] == 200
    assert "Cổng thông tin điện tử tỉnh" in trace[0]["body"]


def test_trace_records_errors(rsps):
    rsps.get(URL, status=500)
    trace: list = []
    assert reason_of(make(rsps, HttpCollector, trace=trace)) == "http_status"
    assert trace == [{"request": f"GET {URL}", "error": f"http_status: {URL}: HTTP 500"}]


# ------------------------------------------------------------------------------------------- json

JSON_METRICS = [
    {"name": "egov_lgsp_up", "path": "$.status", "value_map": {"UP": 1, "DOWN": 0}},
    {
        "name": "egov_lgsp_api_calls_total",
        "type": "counter",
        "path": "$.apis[*]",
        "value": "@.calls",
        "labels": {"api": "@.name", "source": "lgsp"},
    },
    {
        "name": "egov_lgsp_api_published",
        "path": "$.apis[*]",
        "value": "@.state",
        "value_map": {"PUBLISHED": 1, "DEPRECATED": 0},
        "labels": {"api": "@.name"},
    },
    {
        "name": "egov_lgsp_api_latency_seconds",
        "path": "$.apis[?(@.state == 'PUBLISHED')]",
        "value": "@.latencyMs",
        "scale": 0.001,
        "labels": {"api": "@.name"},
    },
    {
        "name": "egov_services_dossiers_received",
        "path": "$.units[*]",
        "value": "@.received",
        "labels": {"unit": "@.code"},
    },
    {
        "name": "egov_services_on_time_ratio",
        "path": "$.units[*]",
        "value": "@.onTimeRatio",
        "scale": 0.01,
        "labels": {"unit": "@.code"},
    },
]


def test_json_extraction(rsps):
    rsps.get(URL, body=body("stats.json"), content_type="application/json")
    out = make(rsps, JsonCollector, metrics=JSON_METRICS).collect()
    got = {k: v for k, v in samples(out).items() if not k[0].startswith("egov_target_http")}
    assert out.state == "up" and out.skipped == []
    assert got == {
        ("egov_lgsp_up", ()): 1.0,
        ("egov_lgsp_api_calls_total", (("api", "dvc-hoso"), ("source", "lgsp"))): 15230.0,
        ("egov_lgsp_api_calls_total", (("api", "dancu-tracuu"), ("source", "lgsp"))): 8841.0,
        ("egov_lgsp_api_calls_total", (("api", "dat-dai"), ("source", "lgsp"))): 77.0,
        ("egov_lgsp_api_published", (("api", "dvc-hoso"),)): 1.0,
        ("egov_lgsp_api_published", (("api", "dancu-tracuu"),)): 1.0,
        ("egov_lgsp_api_published", (("api", "dat-dai"),)): 0.0,
        ("egov_lgsp_api_latency_seconds", (("api", "dvc-hoso"),)): pytest.approx(0.245),
        ("egov_lgsp_api_latency_seconds", (("api", "dancu-tracuu"),)): pytest.approx(1.21),
        ("egov_services_dossiers_received", (("unit", "H44"),)): 1234.0,
        ("egov_services_dossiers_received", (("unit", "H44.100"),)): 56.0,
        ("egov_services_dossiers_received", (("unit", "H44.101"),)): 12345.5,
        ("egov_services_on_time_ratio", (("unit", "H44"),)): pytest.approx(0.975),
        ("egov_services_on_time_ratio", (("unit", "H44.100"),)): pytest.approx(1.0),
        ("egov_services_on_time_ratio", (("unit", "H44.101"),)): pytest.approx(0.8825),
    }


def test_plain_jsonpaths_find_what_jsonpath_ng_finds():
    """``$.a.b`` and ``@.value`` are walked without jsonpath-ng's match objects: the same values (the same
    objects), the same nothing, on every kind of JSON value; other paths are jsonpath-ng's own."""
    import random

    from collectors.extract import _finder, compile_jsonpath

    exprs = [
        "$",
        "@",
        "$.received",
        "@.value",
        "$.a.b",
        "$.a.b.c",
        '$."a b"',
        "@.a.b",
        "$.units[*]",
        "$.*",
        "$..a",
        "$.a,b",
    ]
    rng = random.Random(3)

    def value(depth: int = 0):
        pick = rng.random()
        if depth > 3 or pick < 0.3:
            return rng.choice([None, 0, 1.5, "x", "", True, [], {}])
        if pick < 0.6:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            rng.choice(["a", "b", "a b", "received", "value"]): value(depth + 1)
            for _ in range(rng.randint(0, 4))
        }

    for _ in range(3000):
        data = value()
        for expr in exprs:
            mine, theirs = _finder(expr)(data), [m.value for m in compile_jsonpath(expr).find(data)]
            assert mine == theirs and all(a is b for a, b in zip(mine, theirs)), (expr, data)
    assert _finder("$.a.b").__name__ == "find" and _finder("$.units[*]").__name__ == "<lambda>"


def test_json_post_body(rsps):
    rsps.post(
        URL,
        json={"data": {"total": 5}},
        match=[matchers.json_params_matcher({"timeType": "month", "year": 2026})],
    )
    out = make(
        rsps,
        JsonCollector,
        method="POST",
        json_body={"timeType": "month", "year": 2026},
        metrics=[{"name": "egov_x", "path": "$.data.total"}],
    ).collect()
    assert samples(out)[("egov_x", ())] == 5


def test_json_missing_field_is_skipped_and_counted(rsps):
    rsps.get(URL, body=body("stats.json"), content_type="application/json")
    metrics = JSON_METRICS[:1] + [
        {"name": "egov_lgsp_apps", "path": "$.applications"},
        {
            "name": "egov_lgsp_api_owner",
            "path": "$.apis[*]",
            "value": "@.calls",
            "labels": {"owner": "@.owner"},
        },
        {"name": "egov_lgsp_optional", "path": "$.maybe", "optional": True},
    ]
    out = make(rsps, JsonCollector, metrics=metrics).collect()
    assert out.state == "up"
    assert samples(out)[("egov_lgsp_up", ())] == 1
    assert out.skipped == [
        "egov_lgsp_apps: nothing at $.applications",
        "egov_lgsp_api_owner: label owner missing at @.owner",
        "egov_lgsp_api_owner: label owner missing at @.owner",
        "egov_lgsp_api_owner: label owner missing at @.owner",
    ]


def test_json_unmapped_string_is_skipped(rsps):
    rsps.get(URL, json={"status": "MAINTENANCE", "n": 2})
    out = make(
        rsps,
        JsonCollector,
        metrics=[
            {"name": "egov_lgsp_up", "path": "$.status", "value_map": {"UP": 1}},
            {"name": "egov_n", "path": "$.n"},
        ],
    ).collect()
    assert samples(out)[("egov_n", ())] == 2 and ("egov_lgsp_up", ()) not in samples(out)
    assert out.skipped == ["egov_lgsp_up: no number at @ (got 'MAINTENANCE')"]


def test_json_all_missing_is_parse(rsps):
    rsps.get(URL, body=body("stats-changed.json"), content_type="application/json")
    assert reason_of(make(rsps, JsonCollector, metrics=JSON_METRICS)) == "parse"


@pytest.mark.parametrize(
    "content,ctype",
    [
        (body("malformed.json"), "application/json"),
        (body("portal-home.html"), "text/html"),
    ],
)
def test_json_bad_body_is_parse(rsps, content, ctype):
    rsps.get(URL, body=content, content_type=ctype)
    assert reason_of(make(rsps, JsonCollector, metrics=JSON_METRICS)) == "parse"


def test_json_waf_page_is_blocked(rsps):
    rsps.get(URL, body=body("waf-request-rejected.html"), content_type="text/html")
    assert reason_of(make(rsps, JsonCollector, metrics=JSON_METRICS)) == "blocked"


@pytest.mark.parametrize(
    "raw,fmt,value",
    [
        ("1.234,5", "vi", 1234.5),
        ("1.234.567", "vi", 1234567),
        ("12,5", "vi", 12.5),
        ("97,5%", "vi", 97.5),
        ("1 234", "vi", 1234),
        ("1\xa0234,75", "vi", 1234.75),
        ("-3", "vi", -3),
        ("1,234.5", "en", 1234.5),
        ("12.5", "en", 12.5),
        ("1,234,567", "en", 1234567),
        (42, "vi", 42),
        (0.5, "vi", 0.5),
        (True, "vi", 1),
        ("", "vi", None),
        ("không có", "vi", None),
        (None, "vi", None),
        ([1], "vi", None),
    ],
)
def test_parse_number(raw, fmt, value):
    assert parse_number(raw, fmt) == (pytest.approx(value) if value is not None else None)


def test_json_number_format_en(rsps):
    rsps.get(URL, json={"total": "1,234.5"})
    out = make(
        rsps, JsonCollector, number_format="en", metrics=[{"name": "egov_amount", "path": "$.total"}]
    ).collect()
    assert samples(out)[("egov_amount", ())] == 1234.5


# ------------------------------------------------------------------------------------------- html

HTML_PORTAL = [
    {"name": "egov_portal_sections", "select": "a.section", "value": "count"},
    {"name": "egov_portal_visits", "select": "#counter b"},
    {"name": "egov_portal_articles", "select": "meta[name=article-count]", "value": "attr:content"},
    {
        "name": "egov_portal_article_views",
        "select": "li.article",
        "value": "css:.views",
        "regex": r"([\d.]+)",
        "labels": {"published": "attr:data-published"},
    },
]


def test_html_extraction(rsps):
    rsps.get(URL, body=body("portal-home.html"), content_type="text/html; charset=utf-8")
    out = make(rsps, HtmlCollector, metrics=HTML_PORTAL).collect()
    got = {k: v for k, v in samples(out).items() if not k[0].startswith("egov_target_http")}
    assert out.state == "up" and out.skipped == []
    assert got == {
        ("egov_portal_sections", ()): 4.0,
        ("egov_portal_visits", ()): 12345678.0,
        ("egov_portal_articles", ()): 1532.0,
        ("egov_portal_article_views", (("published", "2026-08-30"),)): 1204.0,
        ("egov_portal_article_views", (("published", "2026-08-28"),)): 87.0,
        ("egov_portal_article_views", (("published", "2026-08-21"),)): 2310.0,
    }


def test_html_table_rows_with_labels_and_regex(rsps):
    rsps.get(URL, body=body("services-table.html"), content_type="text/html")
    metrics = [
        {
            "name": "egov_services_dossiers",
            "select": "#ket-qua tr.row",
            "value": "css:td.total",
            "labels": {"level": "attr:data-level", "name": "css:td.level"},
        },
        {"name": "egov_services_dossiers_late", "select": "#ket-qua tr.row td.late"},
        {
            "name": "egov_services_on_time_ratio",
            "select": "p.updated",
            "regex": r"đúng hạn ([\d.,]+)%",
            "scale": 0.01,
        },
    ]
    out = make(rsps, HtmlCollector, metrics=metrics).collect()
    got = [(s.name, s.labels, s.value) for s in out.samples if not s.name.startswith("egov_target_http")]
    assert got == [
        ("egov_services_dossiers", {"level": "toan-trinh", "name": "Toàn trình"}, 1520.0),
        ("egov_services_dossiers", {"level": "mot-phan", "name": "Một phần"}, 3204.0),
        ("egov_services_dossiers_late", {}, 18.0),
        ("egov_services_dossiers_late", {}, 50.0),
        ("egov_services_on_time_ratio", {}, pytest.approx(0.975)),
    ]


def test_html_missing_selector_skipped_count_still_reported(rsps):
    rsps.get(URL, body=body("portal-home.html"), content_type="text/html")
    metrics = [
        {"name": "egov_portal_visits", "select": "#counter b"},
        {"name": "egov_portal_faq", "select": "#hoi-dap .count"},
        {"name": "egov_portal_banners", "select": ".banner", "value": "count"},
        {"name": "egov_portal_regex_miss", "select": "#counter", "regex": r"khách: (\d+)"},
    ]
    out = make(rsps, HtmlCollector, metrics=metrics).collect()
    got = samples(out)
    assert out.state == "up"
    assert got[("egov_portal_visits", ())] == 12345678 and got[("egov_portal_banners", ())] == 0
    assert out.skipped == [
        "egov_portal_faq: nothing matches '#hoi-dap .count'",
        "egov_portal_regex_miss: no number in '#counter' (got 'None')",
    ]


def test_html_all_missing_is_parse(rsps):
    rsps.get(URL, body=body("services-table.html"), content_type="text/html")
    metrics = [
        {"name": "egov_portal_visits", "select": "#counter b"},
        {"name": "egov_portal_sections", "select": "a.section", "value": "count"},
    ]
    assert reason_of(make(rsps, HtmlCollector, metrics=metrics)) == "parse"


def test_html_wrong_content_type_is_parse(rsps):
    rsps.get(URL, body=body("stats.json"), content_type="application/json")
    assert reason_of(make(rsps, HtmlCollector, metrics=HTML_PORTAL)) == "parse"


def test_html_waf_page_is_blocked(rsps):
    rsps.get(URL, body=body("waf-request-rejected.html"), content_type="text/html")
    assert reason_of(make(rsps, HtmlCollector, metrics=HTML_PORTAL)) == "blocked"
