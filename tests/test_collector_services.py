"""The ``services`` kind on stored bodies: the example-json template (a JSON API behind a Keycloak token,
Spring pages, periods), the public "Kết quả giải quyết TTHC" table, unhappy answers as table rows, a second vendor's
profile written as configuration only, config mistakes, and a full exposition linted by promtool.

Expected values are read from the fixtures with plain ``json`` (the table fixture shows the same month as
the API pages, so the API pages are its expected values)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from configs import checked_config
from httpstub import HttpStub, matchers
from prometheus_client.parser import text_string_to_metric_families

from collectors.profiles import PROFILE_DIR
from collectors.services import ServicesCollector
from exporter.config import ConfigError
from exporter.exposition import MetricsCache, all_specs, build_registry
from exporter.fetch import HttpClient, TransportError, _OAuth2Token
from exporter.plugin import CollectContext, CollectError
from exporter.registry import load_kinds
from exporter.results import ResultStore, TargetResult

BODIES = Path(__file__).parent / "fixtures" / "http" / "services"
URL = "https://dichvucong.phutho.gov.vn/dvc"
API = URL + "/pa/dossier-statistic/--by-agency"
TABLE = URL + "/thong-ke/ket-qua-giai-quyet"
TOKEN_URL = "https://sso.phutho.gov.vn/realms/igate/protocol/openid-connect/token"
NOW = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))
T0 = NOW.timestamp()
AUTH = {
    "type": "oauth2",
    "token_url": TOKEN_URL,
    "client_id": "egov-exporter",
    "client_secret": "s3cr3t-igate",
}
#: the reporting periods of NOW and their first days as the two profiles write them
STARTS = {"month": dt.date(2026, 11, 1), "quarter": dt.date(2026, 10, 1), "year": dt.date(2026, 1, 1)}


def load(name: str):
    return json.loads((BODIES / name).read_text(encoding="utf-8"))


def body(name: str) -> bytes:
    return (BODIES / name).read_bytes()


def make(stub, trace: list | None = None, **kw) -> ServicesCollector:
    cfg = ServicesCollector.Config.model_validate(
        {"name": "dvc", "kind": "services", "system": "services", "url": URL, "retries": 0, **kw}
    )
    return ServicesCollector(
        cfg, CollectContext(http=HttpClient(cfg, stub, clock=lambda: T0), clock=lambda: T0, trace=trace)
    )


def api(stub, **kw) -> ServicesCollector:
    return make(stub, **{"profile": "example-json", "auth": AUTH, "page_size": 3, **kw})


def table(stub, **kw) -> ServicesCollector:
    return make(
        stub, **{"periods": ["month"], **({} if "profile_file" in kw else {"profile": "html-table"}), **kw}
    )


def data_samples(collected) -> dict[tuple, float]:
    """The collector's samples without the egov_target_http_* series of the first answer."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in collected.samples
        if s.name.startswith("egov_services_") and s.name != "egov_services_source_up"
    }


def key(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted(labels.items())))


def expected_from_api(pages: dict[str, list[str]], table_only: bool = False) -> dict[tuple, float]:
    """The series the API pages describe (periods in ask order: pending from the first period's answer).
    ``table_only``: what the public table shows (no fees, payments, digitization)."""
    out: dict[tuple, float] = {}
    for n, (period, files) in enumerate(pages.items()):
        for file in files:
            for item in load(file)["content"]:
                unit = item["agency"]["code"]
                out[key("egov_services_unit_info", unit=unit, unit_name=item["agency"]["name"])] = 1
                for channel in ("online", "direct", "postal"):
                    out[
                        key(
                            "egov_services_dossiers_received_total", unit=unit, period=period, channel=channel
                        )
                    ] = item["received"][channel]
                for field, timeliness in (("early", "early"), ("onTime", "on_time"), ("late", "late")):
                    out[
                        key(
                            "egov_services_dossiers_completed_total",
                            unit=unit,
                            period=period,
                            timeliness=timeliness,
                        )
                    ] = item["resolved"][field]
                out[key("egov_services_dossiers_full_online_total", unit=unit, period=period)] = item[
                    "fullOnline"
                ]
                if not table_only:
                    for field, name in (
                        ("feeRequired", "with_fee"),
                        ("paidOnline", "paid_online"),
                        ("digitized", "digitized"),
                    ):
                        out[key(f"egov_services_dossiers_{name}_total", unit=unit, period=period)] = item[
                            field
                        ]
                if n == 0:
                    for field, timeliness in (("inTime", "in_time"), ("overdue", "overdue")):
                        out[key("egov_services_dossiers_pending", unit=unit, timeliness=timeliness)] = item[
                            "processing"
                        ][field]
    return out


@pytest.fixture()
def rsps():
    _OAuth2Token.clear()
    with HttpStub(assert_all_requests_are_fired=True) as r:
        yield r
    _OAuth2Token.clear()


def stub_token(rsps, times: int = 1) -> str:
    token = load("token.json")["access_token"]
    for _ in range(times):
        rsps.post(
            TOKEN_URL,
            json=load("token.json"),
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "client_credentials",
                        "client_id": "egov-exporter",
                        "client_secret": "s3cr3t-igate",
                    }
                )
            ],
        )
    return token


def stub_page(rsps, token: str, period: str, page: int, size: int = 3, **kw) -> None:
    params = {
        "fromDate": STARTS[period].isoformat(),
        "toDate": "2026-11-27",
        "page": str(page),
        "size": str(size),
    }
    if "body" not in kw and "json" not in kw:
        kw["body"] = body(f"example-{period}-page{page}.json")
        kw.setdefault("content_type", "application/json")
    rsps.get(
        API,
        match=[
            matchers.query_param_matcher(params),
            matchers.header_matcher({"Authorization": f"Bearer {token}"}),
        ],
        **kw,
    )


# ------------------------------------------------------------------------------- JSON API (example-json)


def test_api_pages_and_periods_happy_path(rsps):
    token = stub_token(rsps)
    for period in ("month", "quarter"):
        for page in (0, 1):
            stub_page(rsps, token, period, page)
    trace: list = []
    out = api(rsps, periods=["month", "quarter"], trace=trace).collect()
    assert out.state == "up" and out.skipped == []
    pages = {
        "month": ["example-month-page0.json", "example-month-page1.json"],
        "quarter": ["example-quarter-page0.json", "example-quarter-page1.json"],
    }
    assert data_samples(out) == expected_from_api(pages)
    # the HTTP series describe the poll's first answer, once
    http = [s for s in out.samples if s.name == "egov_target_http_status_code"]
    assert [s.value for s in http] == [200]
    assert [e["request"].split("?")[0] for e in trace] == [f"GET {API}"] * 4


def test_api_counts_are_consistent_ratios(rsps):
    """Numerators never exceed their denominators in what the collector exposes."""
    token = stub_token(rsps)
    stub_page(rsps, token, "month", 0)
    stub_page(rsps, token, "month", 1)
    got = data_samples(api(rsps, periods=["month"]).collect())
    units = {dict(k[1])["unit"] for k in got if k[0] == "egov_services_dossiers_with_fee_total"}
    assert len(units) == 5
    for unit in units:

        def v(name, unit=unit, **labels):
            return got[key(f"egov_services_dossiers_{name}", unit=unit, **labels)]

        received = sum(v("received_total", period="month", channel=c) for c in ("online", "direct", "postal"))
        assert v("paid_online_total", period="month") <= v("with_fee_total", period="month") <= received
        assert v("full_online_total", period="month") <= v("received_total", period="month", channel="online")
        assert v("digitized_total", period="month") <= received


def test_api_missing_fields_skip_only_those_metrics(rsps):
    token = stub_token(rsps)
    stub_page(
        rsps,
        token,
        "month",
        0,
        size=50,
        body=body("example-month-missing-fields.json"),
        content_type="application/json",
    )
    out = api(rsps, periods=["month"], page_size=None).collect()
    assert out.state == "up"
    want = expected_from_api({"month": ["example-month-page0.json", "example-month-page1.json"]})
    # H44.42 has no paidOnline, H44.100 no processing, H44.104's agency no code (nothing of it is usable)
    del want[key("egov_services_dossiers_paid_online_total", unit="H44.42", period="month")]
    for timeliness in ("in_time", "overdue"):
        del want[key("egov_services_dossiers_pending", unit="H44.100", timeliness=timeliness)]
    want = {k: v for k, v in want.items() if dict(k[1]).get("unit") != "H44.104"}
    assert data_samples(out) == want
    no_code = "label unit missing at @.agency.code"
    assert sorted(out.skipped) == sorted(
        [
            "egov_services_dossiers_paid_online_total: no number at @.paidOnline (got 'None')",
            "egov_services_dossiers_pending: no number at @.processing.inTime (got 'None')",
            "egov_services_dossiers_pending: no number at @.processing.overdue (got 'None')",
            # every rule of the profile, once for the unit without a code
            *(
                f"egov_services_dossiers_{name}: {no_code}"
                for name in (
                    "received_total",
                    "received_total",
                    "received_total",
                    "full_online_total",
                    "with_fee_total",
                    "paid_online_total",
                    "digitized_total",
                    "completed_total",
                    "completed_total",
                    "completed_total",
                    "pending",
                    "pending",
                )
            ),
        ]
    )


def test_api_without_page_count_reads_one_page_and_says_so(rsps):
    token = stub_token(rsps)
    page = load("example-month-page0.json")
    del page["totalPages"]
    stub_page(rsps, token, "month", 0, json=page)
    out = api(rsps, periods=["month"]).collect()
    assert out.skipped == ["dossier-statistics: no page count at $.totalPages; read the first page only"]
    assert {dict(k[1])["unit"] for k in data_samples(out)} == {i["agency"]["code"] for i in page["content"]}


def test_api_pages_beyond_max_pages_degrade_the_target(rsps):
    token = stub_token(rsps)
    stub_page(rsps, token, "month", 0)
    out = api(rsps, periods=["month"], max_pages=1).collect()
    assert out.state == "degraded"
    assert out.message == "dossier-statistics: read 1 of 2 pages (max_pages)"
    assert {dict(k[1])["unit"] for k in data_samples(out)} == {"H44.07", "H44.42", "H44.45"}


def test_api_units_beyond_max_units_are_dropped_and_degrade(rsps):
    token = stub_token(rsps)
    stub_page(rsps, token, "month", 0)
    stub_page(rsps, token, "month", 1)
    out = api(rsps, periods=["month"], max_units=2).collect()
    assert out.state == "degraded"
    kept = {dict(k[1])["unit"] for k in data_samples(out)}
    assert kept == {i["agency"]["code"] for i in load("example-month-page0.json")["content"][:2]}
    per_unit = len([k for k in data_samples(out) if dict(k[1])["unit"] == "H44.07"])
    assert out.message == f"more than max_units (2) units: {3 * (per_unit - 1)} samples dropped"


def test_api_token_is_fetched_once_and_reused(rsps):
    token = stub_token(rsps, times=1)
    for _ in range(2):
        stub_page(rsps, token, "month", 0)
        stub_page(rsps, token, "month", 1)
    collector = api(rsps, periods=["month"])
    first, second = collector.collect(), collector.collect()
    assert data_samples(first) == data_samples(second)
    assert collector.ctx.http.stats["token_requests"] == 1


def _api_row(rsps, **kw):
    token = stub_token(rsps)
    stub_page(rsps, token, "month", 0, **kw)


def _token_refused(rsps):
    rsps.post(
        TOKEN_URL,
        status=401,
        json={
            "error": "unauthorized_client",
            "error_description": "Invalid client or Invalid client credentials",
        },
    )


API_FAILURES = {
    "5xx": (
        lambda r: _api_row(
            r,
            status=500,
            body="<html><body><h1>500 Internal Server Error</h1></body></html>",
            content_type="text/html",
        ),
        "http_status",
    ),
    "timeout": (lambda r: _api_row(r, body=TransportError("timeout")), "timeout"),
    "WAF page": (lambda r: _api_row(r, body=body("waf.html"), content_type="text/html"), "blocked"),
    "429": (
        lambda r: _api_row(
            r, status=429, body="Too Many Requests", content_type="text/plain", headers={"Retry-After": "60"}
        ),
        "blocked",
    ),
    "malformed body": (
        lambda r: _api_row(r, body=body("example-malformed.json"), content_type="application/json"),
        "parse",
    ),
    "changed layout": (
        lambda r: _api_row(r, body=body("example-changed-layout.json"), content_type="application/json"),
        "parse",
    ),
    "HTML instead of JSON": (
        lambda r: _api_row(r, body=body("ket-qua-month.html"), content_type="text/html"),
        "parse",
    ),
    "token refused": (_token_refused, "auth"),
}


@pytest.mark.parametrize("case", API_FAILURES)
def test_api_unusable_answers_fail_with_reason(rsps, case):
    stub, reason = API_FAILURES[case]
    stub(rsps)
    with pytest.raises(CollectError) as info:
        api(rsps, periods=["month"]).collect()
    assert info.value.reason == reason, info.value.message


def test_api_changed_layout_message_names_the_source(rsps):
    _api_row(rsps, body=body("example-changed-layout.json"), content_type="application/json")
    with pytest.raises(CollectError) as info:
        api(rsps, periods=["month"]).collect()
    assert info.value.message == (
        "dossier-statistics: no configured metric found in the answer: "
        "egov_services_dossiers_received_total: nothing at $.content[*]"
    )


# --------------------------------------------------------------------------- public table (html-table)

TABLE_MONTH = {"tuNgay": "01/11/2026", "denNgay": "27/11/2026"}


def stub_table(rsps, name: str, **kw) -> None:
    rsps.get(
        TABLE,
        match=[matchers.query_param_matcher(TABLE_MONTH)],
        body=body(name),
        content_type=kw.pop("content_type", "text/html; charset=utf-8"),
        **kw,
    )


@pytest.mark.parametrize("fixture", ["ket-qua-month.html", "ket-qua-reordered.html"])
def test_table_gives_the_api_figures(rsps, fixture):
    """Columns are found by header text: the vendor's reordered release (extra column, unit repeated per row
    instead of merged, no <thead>) reads the same."""
    stub_table(rsps, fixture)
    out = table(rsps).collect()
    assert out.state == "up" and out.skipped == []
    want = expected_from_api(
        {"month": ["example-month-page0.json", "example-month-page1.json"]}, table_only=True
    )
    assert data_samples(out) == want


def test_table_units_by_name_from_the_config(rsps, tmp_path):
    """A table whose unit names carry no link, read with a profile of the operator's that takes the name
    only: codes come from the target's units map; an unmapped name is skipped and counted, never turned
    into a label."""
    profile = yaml.safe_load((PROFILE_DIR / "services-html-table.yaml").read_text(encoding="utf-8"))
    for rule in profile["sources"][0]["tables"]:
        rule["label_columns"] = {"unit_name": "Đơn vị"}
        rule.setdefault("where", {})["Đơn vị"] = "^(?!tổng cộng$)"  # the totals row is not a unit
    (tmp_path / "no-links.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    stub_table(rsps, "ket-qua-no-links.html")
    page = load("example-month-page0.json")["content"] + load("example-month-page1.json")["content"]
    # the operator writes the names as people do: case and spacing differ from the page
    units = {
        "  " + i["agency"]["name"].upper().replace(" ", "  "): i["agency"]["code"]
        for i in page
        if i["agency"]["code"] != "H44.104"
    }
    out = table(rsps, profile_file=str(tmp_path / "no-links.yaml"), units=units).collect()
    want = expected_from_api(
        {"month": ["example-month-page0.json", "example-month-page1.json"]}, table_only=True
    )
    want = {k: v for k, v in want.items() if dict(k[1]).get("unit") != "H44.104"}
    assert data_samples(out) == want
    assert out.skipped == [
        "unit 'UBND xã Hy Cương': no code for this name in units (nor in the poll's other answers)"
    ]


TABLE_FAILURES = {
    "5xx": (dict(name="ket-qua-month.html", status=502), "http_status"),
    "WAF page": (dict(name="waf.html"), "blocked"),
    "changed layout": (dict(name="ket-qua-changed-layout.html"), "parse"),
    "truncated body": (dict(name="ket-qua-truncated.html"), "parse"),
    "JSON instead of HTML": (dict(name="example-month-page0.json", content_type="application/json"), "parse"),
}


@pytest.mark.parametrize("case", TABLE_FAILURES)
def test_table_unusable_answers_fail_with_reason(rsps, case):
    kw, reason = TABLE_FAILURES[case]
    stub_table(rsps, **kw)
    with pytest.raises(CollectError) as info:
        table(rsps).collect()
    assert info.value.reason == reason, info.value.message


def test_table_timeout(rsps):
    rsps.get(TABLE, body=TransportError("timeout"))
    with pytest.raises(CollectError) as info:
        table(rsps).collect()
    assert info.value.reason == "timeout"


def test_table_truncated_message(rsps):
    stub_table(rsps, "ket-qua-truncated.html")
    with pytest.raises(CollectError) as info:
        table(rsps).collect()
    assert info.value.message == "public-table: answer cut short (no '</html>' at its end)"


# ------------------------------------------------------------- a second vendor: configuration only

SECOND_VENDOR = """
description: another vendor's report API (POST, Vietnamese field names, no paging, names and codes)
sources:
  - name: bao-cao
    request:
      method: POST
      path: /api/bao-cao/ho-so
      json_body: {tuNgay: "{start:%d/%m/%Y}", denNgay: "{now:%d/%m/%Y}", ky: "{period}"}
    metrics:
      - {name: egov_services_dossiers_received_total, type: counter, path: "$.data.items[*]",
         value: "@.tiepNhan.trucTuyen", labels: {unit: "@.donVi.ma", unit_name: "@.donVi.ten", channel: online}}
      - {name: egov_services_dossiers_received_total, type: counter, path: "$.data.items[*]",
         value: "@.tiepNhan.trucTiep", labels: {unit: "@.donVi.ma", channel: direct}}
      - {name: egov_services_dossiers_received_total, type: counter, path: "$.data.items[*]",
         value: "@.tiepNhan.bcci", labels: {unit: "@.donVi.ma", channel: postal}}
      - {name: egov_services_dossiers_full_online_total, type: counter, path: "$.data.items[*]",
         value: "@.toanTrinh", labels: {unit: "@.donVi.ma"}}
      - {name: egov_services_dossiers_with_fee_total, type: counter, path: "$.data.items[*]",
         value: "@.coPhi", labels: {unit: "@.donVi.ma"}}
      - {name: egov_services_dossiers_paid_online_total, type: counter, path: "$.data.items[*]",
         value: "@.ttTrucTuyen", labels: {unit: "@.donVi.ma"}}
      - {name: egov_services_dossiers_digitized_total, type: counter, path: "$.data.items[*]",
         value: "@.soHoa", labels: {unit: "@.donVi.ma"}}
"""


def test_second_vendor_profile_by_configuration_alone(rsps, tmp_path):
    """The answer the example-json profile cannot read (example-changed-layout.json) is another vendor's API:
    a profile file in the configuration reads it, no code changes."""
    (tmp_path / "vendor2.yaml").write_text(SECOND_VENDOR, encoding="utf-8")
    config = checked_config(
        {
            "targets": [
                {
                    "name": "dvc2",
                    "kind": "services",
                    "url": URL,
                    "retries": 0,
                    "profile_file": str(tmp_path / "vendor2.yaml"),
                    "periods": ["month"],
                }
            ]
        },
        kinds=load_kinds(),
        env={},
    )
    target = config.targets[0]
    rsps.post(
        "https://dichvucong.phutho.gov.vn/api/bao-cao/ho-so",
        body=body("example-changed-layout.json"),
        content_type="application/json",
        match=[
            matchers.json_params_matcher({"tuNgay": "01/11/2026", "denNgay": "27/11/2026", "ky": "month"})
        ],
    )
    collector = ServicesCollector(
        target, CollectContext(http=HttpClient(target, rsps, clock=lambda: T0), clock=lambda: T0)
    )
    out = collector.collect()
    assert out.skipped == []
    want = {
        k: v
        for k, v in expected_from_api(
            {"month": ["example-month-page0.json", "example-month-page1.json"]}
        ).items()
        if k[0] not in ("egov_services_dossiers_completed_total", "egov_services_dossiers_pending")
    }
    assert data_samples(out) == want


# --------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"profile": "vnpt"},
            "targets[0]: unknown profile 'vnpt' for kind services; shipped: example-json, html-table, igate, "
            "opencps",
        ),
        (
            {"profile": "example-json", "profile_file": "x.yaml"},
            "targets[0]: set profile or profile_file, not both",
        ),
        ({"periods": ["month", "month"]}, "targets[0].periods: periods must not repeat"),
        (
            {"periods": ["week"]},
            "targets[0].periods[0]: must be one of 'month', 'quarter' or 'year', got \"week\"",
        ),
        ({"page_size": 0}, "targets[0].page_size: input should be greater than or equal to 1, got 0"),
    ],
)
def test_config_mistakes_have_exact_messages(extra, message):
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "s", "kind": "services", "url": URL, **extra}]}, kinds=load_kinds(), env={}
        )
    assert info.value.messages == [message]


@pytest.mark.parametrize(
    "profile, message",
    [
        (
            "sources: [{name: a, request: {path: x}, metrics: [{name: egov_lgsp_x, path: $}]}]",
            "profile {path}: metric egov_lgsp_x must start with egov_services_",
        ),
        (
            "sources: [{name: a, request: {path: 'x', params: {d: '{today}'}}, metrics: [{name: egov_services_x, path: $}]}]",
            "{path}: sources[0]: source a: unknown placeholder {today} in '{today}'; known: {now}, {year}, {month}, "
            "{quarter}, {period}, {start}, {period_month}, {period_quarter}",
        ),
        (
            "sources: [{name: a, per_period: false, request: {path: '{start:%Y}'}, metrics: [{name: egov_services_x}]}]",
            "{path}: sources[0]: source a: unknown placeholder {start} in '{start:%Y}'; known: {now}, {year}, {month}, "
            "{quarter}",
        ),
        (
            "sources: [{name: a, format: html, request: {path: x}, metrics: [{name: egov_services_x}]}]",
            "{path}: sources[0]: source a: an html source needs tables (and no metrics or paging)",
        ),
    ],
)
def test_profile_file_mistakes_have_exact_messages(tmp_path, profile, message):
    path = tmp_path / "p.yaml"
    path.write_text(profile, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        checked_config(
            {"targets": [{"name": "s", "kind": "services", "url": URL, "profile_file": str(path)}]},
            kinds=load_kinds(),
            env={},
        )
    assert info.value.messages == ["targets[0]: " + message.replace("{path}", str(path))]


def test_system_defaults_to_services_and_default_profile_is_igate():
    cfg = checked_config(
        {
            "targets": [
                {
                    "name": "s",
                    "kind": "services",
                    "url": URL,
                    "profile_settings": {"agency_id": "65f0a1b2c3d4e5f6a7b8c9d0"},
                }
            ]
        },
        kinds=load_kinds(),
        env={},
    )
    target = cfg.targets[0]
    assert target.system == "services"
    assert target.load_profile().sources[0].request.path == "{statistic_path}"
    assert target.settings_of(target.load_profile())["statistic_path"] == (
        "pa/dossier-statistic/--statistic-agency-kgg"
    )


# ------------------------------------------------------------------------------------ exposition


def test_full_exposition_passes_promtool(rsps):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found on PATH: install the Debian package 'prometheus' (CI does)"
    token = stub_token(rsps)
    for period in ("month", "quarter"):
        for page in (0, 1):
            stub_page(rsps, token, period, page)
    stub_table(rsps, "ket-qua-month.html")
    store = ResultStore()
    for name, collector in (
        ("services-api", api(rsps, periods=["month", "quarter"])),
        ("services-table", table(rsps)),
    ):
        out = collector.collect()
        result = TargetResult(
            target=name,
            system="services",
            kind="services",
            labels={"province": "H44"},
            url=URL,
            state=out.state,
            started=T0,
            duration=0.4,
            samples=out.samples,
            skipped=out.skipped,
        )
        store.register(result)
        store.record(result)
    registry, self_metrics = build_registry(store, lambda: all_specs(load_kinds()), clock=lambda: T0)
    text = MetricsCache(registry, store, self_metrics).get().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    received = families["egov_services_dossiers_received"]
    assert received.type == "counter"
    assert "resets to 0 when that period starts" in received.documentation
    sample = next(
        s
        for s in received.samples
        if s.labels["target"] == "services-table"
        and s.labels["unit"] == "H44.45"
        and s.labels["channel"] == "online"
    )
    item = next(i for i in load("example-month-page0.json")["content"] if i["agency"]["code"] == "H44.45")
    assert sample.value == item["received"]["online"] and sample.labels["period"] == "month"
    assert families["egov_services_dossiers_pending"].type == "gauge"
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    report = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and report.strip() == "", report
